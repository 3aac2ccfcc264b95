"""The adapter to alibabacloud-credentials: the only module that touches the SDK.

The SDK is imported on first fetch, never at import (it costs ~0.45 s and configures
logging as a side effect, which :func:`ensure_sdk_logging_quiet` undoes). Every fetch
builds a fresh SDK provider from explicit arguments and runs it once
(:func:`fetch_once`), so the SDK's own cache (stale 15 minutes before expiry, strict on
failure) never answers in place of ours. SDK errors arrive raw;
:func:`describe_error` boils them down to one line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from typing import Any

from .. import redaction

_SDK_LOGGERS = ("credentials", "alibabacloud-tea")
_LOGGING_LOCK = threading.Lock()

Timeouts = tuple[float, float]


def ensure_sdk_logging_quiet() -> None:
    """Undo alibabacloud-credentials' import-time logging setup (idempotent).

    The SDK attaches StreamHandlers to the ``credentials`` and ``alibabacloud-tea``
    loggers and sets their levels (INFO, DEBUG) at import. Those handlers are removed, a
    NullHandler is added, the level is reset to NOTSET and propagation enabled, so the
    project's logging configuration decides. The redacting filter of
    :mod:`django_alioss.redaction` is installed on the SDK loggers and on
    ``urllib3.connectionpool``.
    """
    with _LOGGING_LOCK:
        sdk_handlers = []
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(("alibabacloud_credentials", "Tea")):
                continue
            handler = getattr(module, "ch", None)
            if isinstance(handler, logging.Handler):
                sdk_handlers.append(handler)
        for name in _SDK_LOGGERS:
            sdk_logger = logging.getLogger(name)
            for handler in list(sdk_logger.handlers):
                if any(handler is h for h in sdk_handlers):
                    sdk_logger.removeHandler(handler)
            if not any(isinstance(h, logging.NullHandler) for h in sdk_logger.handlers):
                sdk_logger.addHandler(logging.NullHandler())
            sdk_logger.setLevel(logging.NOTSET)
            sdk_logger.propagate = True
        redaction.install()


def sdk_providers() -> Any:
    """``alibabacloud_credentials.provider`` (imported lazily), its logging neutralised."""
    from alibabacloud_credentials import provider as sdk_provider

    ensure_sdk_logging_quiet()
    return sdk_provider


def http_options(timeouts: Timeouts) -> Any:
    """The SDK's HttpOptions for (connect, read) timeouts in seconds."""
    from alibabacloud_credentials.http import HttpOptions

    connect, read = timeouts
    return HttpOptions(connect_timeout=int(connect * 1000), read_timeout=int(read * 1000))


def fetch_once(provider: Any) -> Any:
    """One real fetch by a freshly built SDK provider.

    The provider's refresh callable is used when it has one: it performs exactly the
    call ``get_credentials()`` would, without the SDK's cache wrapper, whose logging
    (a WARNING per refresh for lifetimes of 15 minutes or less, an ERROR traceback per
    failure) would duplicate ours. Other providers are asked through ``get_credentials``.
    """
    refresh = getattr(provider, "_refresh_credentials", None)
    if not callable(refresh):
        return provider.get_credentials()
    result = refresh()
    value = getattr(result, "value", None)
    return value() if callable(value) else result


_STS_ERROR = re.compile(r"http_code: (\d+), result: (\{.*\})\s*$", re.DOTALL)


def describe_error(exc: BaseException) -> str:
    """A one-line account of a fetch failure (STS JSON errors boiled down to their code).

    Not yet scrubbed: callers pass it through :func:`~.errors.scrub`.
    """
    text = str(exc)
    match = _STS_ERROR.search(text)
    if match:
        try:
            body = json.loads(match.group(2))
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("Code"):
            return (f"HTTP {match.group(1)} {body['Code']}: {body.get('Message', '')} "
                    f"(RequestId {body.get('RequestId', '?')})")
    return f"{type(exc).__name__}: {text}"
