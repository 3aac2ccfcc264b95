"""What a failure means: whether it is worth another try, how long to wait, what the
user is told (without secrets), and the CRC-64 integrity check."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import redaction
from ..exceptions import OSSAccessDenied, OSSError, OSSFileExists, OSSFileNotFound

#: Delays between retries of a request: RETRY_BASE doubling up to RETRY_CAP, jittered.
RETRY_BASE = 0.1
RETRY_CAP = 5.0
TOKEN_ERRORS = frozenset({"SecurityTokenExpired", "InvalidSecurityToken"})
_AUTH_ACTION = re.compile(rb"<AuthAction>([^<]+)</AuthAction>")
URL_QUERY = re.compile(r"(https?://[^\s'\"?]+)\?[^\s'\"]*")
"""A URL with its query string (which may hold a signature or a token)."""
CRC_HEADER = "x-oss-hash-crc64ecma"


def is_transient(error: Exception) -> bool:
    """Network errors, throttling and server-side failures are worth another try."""
    status = getattr(error, "status", None)
    if status is None:
        return False
    # -2: no HTTP answer (connection refused/reset, timeout); -3: CRC mismatch in transit.
    return status in (-2, -3, 429) or status >= 500


def translate(error: Exception, operation: str, key: str = "") -> OSSError:
    """Turn an oss2 exception into the library's exception, without secrets."""
    status = getattr(error, "status", 0)
    code = getattr(error, "code", "") or ""
    request_id = getattr(error, "request_id", "") or ""
    what = f"OSS {operation}" + (f" of {key!r}" if key else "")
    if status == -2:
        cause = getattr(error, "exception", error)
        detail = URL_QUERY.sub(r"\1", str(cause))
        return OSSError(redaction.redact(f"{what} failed: network error: {detail}"),
                        status=status, operation=operation, key=key)
    if status == -3:  # our CRC-64 check (check_crc)
        detail = str(getattr(error, "body", "")).removeprefix("InconsistentError: ")
        return OSSError(f"{what} failed: data corrupted in transit: {detail}", status=status,
                        code="InconsistentError", operation=operation, key=key)
    oss_message = getattr(error, "message", "") or ""
    body = getattr(error, "body", b"") or b""
    match = _AUTH_ACTION.search(body if isinstance(body, bytes) else body.encode())
    auth_action = match.group(1).decode() if match else ""
    text = f"{what} failed: {status} {code or 'error'}"
    if oss_message:
        text += f": {oss_message}"
    if auth_action:
        text += f" (the credentials lack permission {auth_action})"
    if request_id:
        text += f" [request id {request_id}]"
    text = redaction.redact(text)
    kwargs: dict[str, Any] = dict(status=status, code=code, request_id=request_id,
                                  operation=operation, key=key, auth_action=auth_action)
    if status == 404 and code in ("NoSuchKey", ""):
        return OSSFileNotFound(text, **kwargs)
    if status == 409 and code == "FileAlreadyExists":
        return OSSFileExists(text, **kwargs)
    if status == 403:
        return OSSAccessDenied(text, **kwargs)
    return OSSError(text, **kwargs)


def header_crc(headers: Mapping[str, str]) -> int | None:
    """The ``x-oss-hash-crc64ecma`` header as a number (None when absent or malformed)."""
    value = headers.get(CRC_HEADER)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def check_crc(what: str, ours: int, theirs: int | None, request_id: str = "") -> None:
    """Raise oss2's InconsistentError (transient: :meth:`OSSClient.call` retries the
    request when it may) when the server's CRC-64 differs from ours; no server CRC, no
    check."""
    if theirs is not None and ours != theirs:
        import oss2

        raise oss2.exceptions.InconsistentError(
            f"CRC-64 of {what}: computed {ours}, the server says {theirs}", request_id)


