"""Credentials for OSS: RRSA first, static keys as fallback, every other source, cached.

``build_provider(options)`` turns resolved options into a :class:`CredentialsProvider`
(no network call). ``provider.get_credentials()`` returns an
``oss2.credentials.Credentials``, so ``oss2.ProviderAuthV4(provider)`` can sign with it;
it is the hot path (oss2 calls it for every request and every ``sign_url``) and costs
one attribute read and one clock call while the cached credentials are fresh.

Resolution rule:

1. ``credentials_provider`` set: ``"rrsa"``, ``"static"``, ``"ram_role_arn"``,
   ``"ecs_ram_role"``, ``"default_chain"``, a dotted path to a callable, a callable, or a
   ready :class:`CredentialsProvider`. Anything else is ``ImproperlyConfigured``.
2. Otherwise, ``access_key_id`` and ``access_key_secret`` both empty or the literal
   ``rrsa`` (any case): RRSA (AssumeRoleWithOIDC with the projected token file). Role
   ARN, OIDC provider ARN and token file come from the options, else
   ``ALIBABA_CLOUD_ROLE_ARN`` / ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN`` /
   ``ALIBABA_CLOUD_OIDC_TOKEN_FILE``, else the ``ALICLOUD_*`` spellings.
3. If RRSA cannot be had (environment incomplete or token file unreadable, decided when
   the provider is built; STS refusing the first AssumeRoleWithOIDC, decided at first
   use) and ``rrsa_fallback`` is true (the default): static keys from
   ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (+
   ``ALIBABA_CLOUD_SECURITY_TOKEN``), announced once by a WARNING on the
   ``django_alioss`` logger. Without those, or with ``rrsa_fallback=False``,
   :class:`CredentialsUnavailable` is raised at first use.
4. Otherwise: the configured static keys (+ ``security_token``).

Refreshable sources sit behind one cache: refresh ahead once less than
``max(300 s, lifetime / 4)`` remains, one fetch per refresh across threads (other threads
keep the still-valid credentials meanwhile), the last good credentials are kept through
failed refreshes until they expire (minus ``EXPIRY_SKEW``), retries back off
exponentially with jitter (1 s doubling to 60 s), and ``invalidate(snapshot)`` forces a
refresh after OSS rejected a token. A fresh SDK provider is built for every refresh, so
the SDK's own cache (stale at 15 minutes before expiry, strict on failure) never
answers instead of STS, and the token file is re-read every time. Credentials without
an expiration are kept for good when they carry no token, and re-fetched every
``UNKNOWN_EXPIRY_REFRESH`` seconds when they do (custom sources, CLI profiles).

SDK use: alibabacloud-credentials is imported only when a source first fetches, and
its import-time logging setup is undone then (:func:`ensure_sdk_logging_quiet`). Each
fetch builds a fresh SDK provider from explicit arguments (never from the environment
the SDK captured at import) and runs its refresh callable once. ``ecs_ram_role`` uses
the SDK's EcsRamRoleCredentialsProvider with ``async_update_enabled=False``: no
background thread, the cache here schedules refreshes. ``default_chain`` follows the
SDK's order (environment keys, OIDC, CLI profile, credentials file, ECS metadata,
credentials URI) but reads ``environ`` instead of the import-time environment.

Time: the cache uses ``clock`` (keyword of :func:`build_provider`, default
``time.time``). Tests that move the emulator's clock pass a clock that moves with it.

Sharing: with ``shared=True`` (the default) identical configurations in one process get
the same provider object (one STS call per refresh for the whole process); the registry
is keyed on a salted hash of the configuration, never on raw secrets.

Secrets: no secret key, security token or OIDC token appears in ``repr``/``str``,
exception messages or log records (``ensure_sdk_logging_quiet`` also redacts token
query parameters that urllib3 and the SDK log). Pickling a provider keeps only its
non-secret options: unpickling in the same process returns the live shared provider;
elsewhere the provider is rebuilt from those options and ``os.environ``. Secrets that were
given directly in the options are never pickled (a ``credentials_provider`` callable
is pickled by reference, so it must be a module-level name); they are recovered from
``ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET`` when that environment names the same AccessKey id,
otherwise the unpickled provider raises :class:`CredentialsUnavailable` on use.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib
import json
import logging
import math
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from django.core.exceptions import ImproperlyConfigured

from . import redaction
from .redaction import mask_key_id
from .retry import backoff

if TYPE_CHECKING:
    import oss2.credentials

logger = logging.getLogger("django_alioss")

__all__ = [
    "CredentialsProvider",
    "CredentialsUnavailable",
    "Snapshot",
    "build_provider",
    "ensure_sdk_logging_quiet",
]

Clock = Callable[[], float]

#: Refresh ahead when less than max(REFRESH_MARGIN_MIN, lifetime * REFRESH_FRACTION) remains.
REFRESH_MARGIN_MIN = 300.0
REFRESH_FRACTION = 0.25
#: Credentials are served until this many seconds before their expiration.
EXPIRY_SKEW = 10.0
#: Retry delays after failed refreshes: BACKOFF_BASE doubling up to BACKOFF_CAP, jittered.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
#: Re-fetch interval for credentials that carry a token but no expiration.
UNKNOWN_EXPIRY_REFRESH = 600.0

MIN_DURATION = 900
MAX_DURATION = 43200
DEFAULT_DURATION = 3600
SESSION_NAME_PREFIX = "django-alioss-"

SOURCES = ("rrsa", "static", "ram_role_arn", "ecs_ram_role", "default_chain")

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"
_RRSA_ENV = {
    "role_arn": ("ALIBABA_CLOUD_ROLE_ARN", "ALICLOUD_ROLE_ARN"),
    "oidc_provider_arn": ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALICLOUD_OIDC_PROVIDER_ARN"),
    "oidc_token_file": ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALICLOUD_OIDC_TOKEN_FILE"),
}
_SECRET_OPTIONS = ("access_key_secret", "security_token")
_SESSION_NAME_RE = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")

_INF = math.inf


class CredentialsUnavailable(RuntimeError):
    """No usable credentials: the message says what was tried; it never holds a secret."""


def scrub(text: str, known: tuple[str | None, ...] = ()) -> str:
    """``text`` with the ``known`` secret values and any token, signature or JWT masked."""
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, redaction.MASK)
    return redaction.redact(text)


_SDK_LOGGERS = ("credentials", "alibabacloud-tea")
_LOGGING_LOCK = threading.Lock()


def ensure_sdk_logging_quiet() -> None:
    """Undo alibabacloud-credentials' import-time logging setup (idempotent).

    The SDK attaches StreamHandlers to the ``credentials`` and ``alibabacloud-tea``
    loggers and sets their levels (INFO, DEBUG) at import. Those handlers are removed, a
    NullHandler is added, the level is reset to NOTSET and propagation enabled, so the
    project's logging configuration decides. The redacting filter of
    :mod:`django_alioss.redaction` is installed on the SDK loggers and on
    ``urllib3.connectionpool``.
    """
    import sys

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


def _sdk() -> Any:
    """Import alibabacloud_credentials' providers (lazily) with its logging neutralised."""
    from alibabacloud_credentials import provider as sdk_provider

    ensure_sdk_logging_quiet()
    return sdk_provider


def _sdk_fetch(provider: Any) -> Any:
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


def _describe_error(exc: BaseException) -> str:
    """A one-line account of a fetch failure (STS JSON errors boiled down to their code)."""
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


def _http_options(timeouts: tuple[float | None, float | None]) -> Any:
    from alibabacloud_credentials.http import HttpOptions

    connect, read = timeouts
    return HttpOptions(
        connect_timeout=int(connect * 1000) if connect else None,
        read_timeout=int(read * 1000) if read else None,
    )


# --- snapshots -----------------------------------------------------------------------------
_OSS2_CLASS: type | None = None


def _oss2_credentials(ak: str, sk: str, token: str | None) -> oss2.credentials.Credentials:
    """An ``oss2.credentials.Credentials`` whose repr shows no secret (oss2 imported lazily)."""
    global _OSS2_CLASS
    if _OSS2_CLASS is None:
        from oss2.credentials import Credentials

        class _Credentials(Credentials):  # type: ignore[misc]
            def __repr__(self) -> str:
                return (f"<oss2 Credentials {mask_key_id(self.access_key_id)}"
                        f"{' +token' if self.security_token else ''}>")

            __str__ = __repr__

            def __reduce__(self) -> Any:
                raise TypeError("credentials hold secrets and are not picklable")

        _OSS2_CLASS = _Credentials
    return _OSS2_CLASS(ak, sk, token or "")


@dataclass(frozen=True, repr=False, eq=False)
class Snapshot:
    """One set of credentials as served at a point in time (immutable).

    ``security_token`` is None for plain AccessKeys; ``expiration`` is an epoch float or
    None (never expires). ``repr`` shows no secret; snapshots cannot be pickled.
    """

    access_key_id: str
    access_key_secret: str
    security_token: str | None
    expiration: float | None
    source: str

    def __repr__(self) -> str:
        return (f"Snapshot(access_key_id={mask_key_id(self.access_key_id)!r}, "
                f"security_token={'<set>' if self.security_token else None}, "
                f"expiration={_iso(self.expiration)!r}, source={self.source!r})")

    def __reduce__(self) -> Any:
        raise TypeError("Snapshot holds secrets and is not picklable")

    def __copy__(self) -> Snapshot:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Snapshot:
        return self


def _iso(epoch: float | None) -> str | None:
    if epoch is None or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_expiration(value: Any) -> float | None:
    """Epoch seconds from an int/float, aware/naive-UTC datetime or ISO-8601 string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("expiration must be a number, datetime or ISO-8601 string")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        return _parse_expiration(datetime.fromisoformat(text))
    raise TypeError(f"unsupported expiration type {type(value).__name__}")


def _field(obj: Any, name: str) -> Any:
    """``obj.name``, ``obj.get_name()`` or ``obj[name]``, whichever exists."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    getter = getattr(obj, f"get_{name}", None)
    if callable(getter):
        return getter()
    return getattr(obj, name, None)


def _snapshot_from(obj: Any, source: str) -> Snapshot:
    """Normalise what a source returned (oss2/SDK Credentials, any object or mapping)."""
    if isinstance(obj, Snapshot):
        return Snapshot(obj.access_key_id, obj.access_key_secret, obj.security_token,
                        obj.expiration, source)
    ak, sk = _field(obj, "access_key_id"), _field(obj, "access_key_secret")
    if not ak or not sk:
        raise CredentialsUnavailable(
            f"{source}: the credentials returned have no access_key_id or access_key_secret")
    return Snapshot(str(ak), str(sk), _field(obj, "security_token") or None,
                    _parse_expiration(_field(obj, "expiration")), source)


# --- sources that fetch (and re-fetch) credentials ---------------------------------------------
class _Source:
    """A refreshable origin of credentials; ``fetch()`` performs one real call."""

    name = "custom"

    def fetch(self) -> Snapshot:
        raise NotImplementedError

    def details(self) -> dict[str, Any]:
        """Non-secret configuration for ``describe()``."""
        return {}

    def secrets(self) -> tuple[str | None, ...]:
        """Secret values this source knows, to blank them out of error messages."""
        return ()


@dataclass(frozen=True)
class _StsSettings:
    role_session_name: str
    duration: int
    policy: str | None
    sts_endpoint: str
    timeouts: tuple[float | None, float | None]

    def sdk_arguments(self) -> dict[str, Any]:
        """Keyword arguments every SDK STS provider takes alike."""
        return {
            "role_session_name": self.role_session_name,
            "duration_seconds": self.duration,
            "policy": self.policy,
            "sts_endpoint": self.sts_endpoint,
            "http_options": _http_options(self.timeouts),
        }

    def details(self) -> dict[str, Any]:
        return {"role_session_name": self.role_session_name, "sts_endpoint": self.sts_endpoint,
                "duration": self.duration}


class _OIDCSource(_Source):
    """RRSA: AssumeRoleWithOIDC with the (re-read) projected token file, via the SDK."""

    name = "rrsa"

    def __init__(self, role_arn: str, oidc_provider_arn: str, oidc_token_file: str,
                 sts: _StsSettings) -> None:
        self.role_arn = role_arn
        self.oidc_provider_arn = oidc_provider_arn
        self.oidc_token_file = oidc_token_file
        self.sts = sts

    def fetch(self) -> Snapshot:
        sdk = _sdk()
        provider = sdk.OIDCRoleArnCredentialsProvider(
            role_arn=self.role_arn,
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_token_file_path=self.oidc_token_file,
            **self.sts.sdk_arguments(),
        )
        return _snapshot_from(_sdk_fetch(provider), self.name)

    def details(self) -> dict[str, Any]:
        return {
            "role_arn": self.role_arn,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_token_file": self.oidc_token_file,
            **self.sts.details(),
        }


class _AssumeRoleSource(_Source):
    """``ram_role_arn``: AssumeRole signed with an AccessKey, via the SDK."""

    name = "ram_role_arn"

    def __init__(self, access_key_id: str, access_key_secret: str, security_token: str | None,
                 role_arn: str, sts: _StsSettings) -> None:
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self._token = security_token
        self.role_arn = role_arn
        self.sts = sts

    def fetch(self) -> Snapshot:
        sdk = _sdk()
        provider = sdk.RamRoleArnCredentialsProvider(
            access_key_id=self.access_key_id,
            access_key_secret=self._secret,
            security_token=self._token,
            role_arn=self.role_arn,
            **self.sts.sdk_arguments(),
        )
        return _snapshot_from(_sdk_fetch(provider), self.name)

    def details(self) -> dict[str, Any]:
        return {
            "role_arn": self.role_arn,
            **self.sts.details(),
            "signing_access_key_id": mask_key_id(self.access_key_id),
        }

    def secrets(self) -> tuple[str | None, ...]:
        return (self._secret, self._token)


class _EcsRoleSource(_Source):
    """``ecs_ram_role``: the worker's RAM role from the instance metadata service."""

    name = "ecs_ram_role"

    def __init__(self, role_name: str | None, disable_imds_v1: bool,
                 timeouts: tuple[float | None, float | None]) -> None:
        self.role_name = role_name
        self.disable_imds_v1 = disable_imds_v1
        self.timeouts = timeouts

    def fetch(self) -> Snapshot:
        sdk = _sdk()
        # "" (not None) makes the SDK discover the role name instead of reading the
        # environment variable it captured at import time.
        provider = sdk.EcsRamRoleCredentialsProvider(
            role_name=self.role_name or "",
            disable_imds_v1=self.disable_imds_v1,
            http_options=_http_options(self.timeouts),
            async_update_enabled=False,
        )
        return _snapshot_from(_sdk_fetch(provider), self.name)

    def details(self) -> dict[str, Any]:
        return {"ecs_role_name": self.role_name or "(discovered from metadata)"}


class _CallableSource(_Source):
    """A user callable (or an object's ``get_credentials``) called at every refresh."""

    name = "custom"

    def __init__(self, func: Callable[[], Any], label: str) -> None:
        self.func = func
        self.label = label

    def fetch(self) -> Snapshot:
        return _snapshot_from(self.func(), self.name)

    def details(self) -> dict[str, Any]:
        return {"callable": self.label}


class _ChainSource(_Source):
    """The SDK's default chain (minus the env-key link, decided at build time), built
    from ``environ`` at call time rather than from what the SDK captured at import.

    Links in order: OIDC (if the three RRSA variables are set), CLI profile
    (``~/.aliyun/config.json``), credentials file, ECS metadata (unless
    ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true``), credentials URI. The link that
    answered last is tried first on the next refresh.
    """

    name = "default_chain"

    def __init__(self, environ: Mapping[str, str], oidc: _OIDCSource | None,
                 timeouts: tuple[float | None, float | None]) -> None:
        home = environ.get("HOME") or os.path.expanduser("~")
        self._links: list[tuple[str, Callable[[], Any]]] = []
        if oidc is not None:
            self._links.append(("oidc", oidc.fetch))
        if environ.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").lower() != "true":
            cli_file = os.path.join(home, ".aliyun", "config.json")
            profile = environ.get("ALIBABA_CLOUD_PROFILE") or None
            self._links.append(("cli_profile", lambda: _sdk().CLIProfileCredentialsProvider(
                profile_name=profile, profile_file=cli_file).get_credentials()))
        ini_file = environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE") or os.path.join(
            home, ".alibabacloud", "credentials.ini")
        ini_profile = environ.get("ALIBABA_CLOUD_PROFILE") or "default"
        self._links.append(("credentials_file", lambda: _sdk().ProfileCredentialsProvider(
            profile_file=ini_file, profile_name=ini_profile).get_credentials()))
        if environ.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "").lower() != "true":
            ecs = _EcsRoleSource(
                environ.get("ALIBABA_CLOUD_ECS_METADATA") or None,
                environ.get("ALIBABA_CLOUD_IMDSV1_DISABLED", "").lower() == "true",
                timeouts)
            self._links.append(("ecs_ram_role", ecs.fetch))
        uri = environ.get("ALIBABA_CLOUD_CREDENTIALS_URI")
        if uri:
            self._links.append(("credentials_uri", lambda: _sdk_fetch(_sdk().URLCredentialsProvider(
                uri=uri, http_options=_http_options(timeouts)))))
        self._oidc = oidc
        self.last_link: str | None = None

    def fetch(self) -> Snapshot:
        links = sorted(self._links, key=lambda link: link[0] != self.last_link)
        errors = []
        for label, fetch in links:
            try:
                result = _snapshot_from(fetch(), self.name)
            except Exception as exc:
                errors.append(f"{label}: {_describe_error(exc)}")
                continue
            self.last_link = label
            return result
        raise CredentialsUnavailable(
            "no link of the default chain gave credentials (" + "; ".join(errors) + ")")

    def details(self) -> dict[str, Any]:
        info: dict[str, Any] = {"chain": [label for label, _ in self._links],
                                "chain_link": self.last_link}
        if self._oidc is not None:
            info.update(self._oidc.details())
        return info


# --- providers ---------------------------------------------------------------------------------
class CredentialsProvider:
    """What the storage holds: ``get_credentials()`` for oss2, plus diagnostics.

    Subclasses: static keys (:class:`StaticProvider`), refreshable sources
    (:class:`RefreshingProvider`), and a provider that cannot serve
    (:class:`UnavailableProvider`).
    """

    source = "custom"

    def __init__(self, *, why: str, details: Mapping[str, Any] | None = None,
                 restore: Mapping[str, Any] | None = None) -> None:
        self.why = why
        self._details = dict(details or {})
        self._restore: dict[str, Any] = dict(restore or {})

    def get_credentials(self) -> oss2.credentials.Credentials:
        """Current credentials as ``oss2.credentials.Credentials`` (the oss2 seam)."""
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        """Current credentials as a :class:`Snapshot` (same freshness rules)."""
        raise NotImplementedError

    def invalidate(self, snap: Snapshot | oss2.credentials.Credentials) -> None:
        """OSS rejected ``snap`` (expired/invalid token): refresh before the next use."""

    def describe(self) -> dict[str, Any]:
        """Diagnostics without secrets."""
        info: dict[str, Any] = {
            "source": self.source, "why": self.why,
            "role_arn": None, "role_session_name": None, "oidc_token_file": None,
            "sts_endpoint": None, "expiration": None, "last_refresh": None,
            "sts_calls": 0, "refresh_failures": 0, "access_key_id": None,
            "config_id": self._restore.get("config_id"),
        }
        info.update(self._details)
        return info

    def __repr__(self) -> str:
        info = self.describe()
        return (f"<{type(self).__name__} source={info['source']!r} "
                f"access_key_id={info['access_key_id']!r} expiration={info['expiration']!r}>")

    __str__ = __repr__

    # Providers are shared, config-immutable objects: copies are the object itself, and
    # pickles carry only the non-secret options (see the module docstring).
    def __copy__(self) -> CredentialsProvider:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> CredentialsProvider:
        return self

    def __reduce__(self) -> Any:
        return (_restore_provider, (copy.copy(self._restore),))


class StaticProvider(CredentialsProvider):
    """Fixed credentials: no expiry, no refresh, no lock."""

    def __init__(self, snap: Snapshot, *, why: str, details: Mapping[str, Any] | None = None,
                 restore: Mapping[str, Any] | None = None) -> None:
        super().__init__(why=why, details=details, restore=restore)
        self.source = snap.source
        self._snap = snap
        self._creds = _oss2_credentials(snap.access_key_id, snap.access_key_secret,
                                        snap.security_token)

    def get_credentials(self) -> oss2.credentials.Credentials:
        return self._creds

    def snapshot(self) -> Snapshot:
        return self._snap

    def invalidate(self, snap: Snapshot | oss2.credentials.Credentials) -> None:
        logger.debug("credentials %s were rejected; static credentials cannot be refreshed",
                     mask_key_id(self._snap.access_key_id))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["access_key_id"] = mask_key_id(self._snap.access_key_id)
        info["expiration"] = _iso(self._snap.expiration)
        info["security_token"] = "set" if self._snap.security_token else None
        return info


class UnavailableProvider(CredentialsProvider):
    """A configuration that cannot give credentials: every use raises the stored reason."""

    def __init__(self, source: str, *, why: str, details: Mapping[str, Any] | None = None,
                 restore: Mapping[str, Any] | None = None) -> None:
        super().__init__(why=why, details=details, restore=restore)
        self.source = source

    def get_credentials(self) -> oss2.credentials.Credentials:
        raise CredentialsUnavailable(self.why)

    def snapshot(self) -> Snapshot:
        raise CredentialsUnavailable(self.why)


class _State(NamedTuple):
    snap: Snapshot
    creds: Any  # oss2.credentials.Credentials
    refresh_at: float  # refresh ahead from this moment
    usable_until: float  # serve until this moment


class RefreshingProvider(CredentialsProvider):
    """Cache in front of a refreshable :class:`_Source` (see the module docstring).

    ``fallback`` (RRSA only): static credentials to switch to, permanently, if the very
    first fetch fails; ``fallback_missing`` explains why there are none (then the first
    failure raises listing both attempts). ``fallback=None`` and
    ``fallback_missing=None`` mean no fallback at all (``rrsa_fallback=False``).
    """

    def __init__(self, source: _Source, *, clock: Clock, why: str,
                 fallback: Snapshot | None = None, fallback_missing: str | None = None,
                 restore: Mapping[str, Any] | None = None) -> None:
        super().__init__(why=why, restore=restore)
        self.source = source.name
        self._source = source
        self._clock = clock
        self._fallback = fallback
        self._fallback_missing = fallback_missing
        self._fallback_reason: str | None = None
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._ever_succeeded = False
        self._next_attempt = -_INF
        self._failures = 0
        self._total_failures = 0
        self._calls = 0
        self._last_error: str | None = None
        self._last_refresh: float | None = None

    # -- hot path ------------------------------------------------------------------------------
    def get_credentials(self) -> oss2.credentials.Credentials:
        state = self._state
        if state is not None and self._clock() < state.refresh_at:
            return state.creds
        return self._current().creds

    def snapshot(self) -> Snapshot:
        state = self._state
        if state is not None and self._clock() < state.refresh_at:
            return state.snap
        return self._current().snap

    # -- slow path -----------------------------------------------------------------------------
    def _current(self) -> _State:
        now = self._clock()
        state = self._state
        if state is not None and now < state.usable_until:
            # Still valid, refresh ahead: one thread refreshes, the others carry on.
            if now >= self._next_attempt and self._lock.acquire(blocking=False):
                try:
                    if self._state is state:
                        error = self._attempt()
                        if error is not None:
                            self._log_failure(error, state)
                finally:
                    self._lock.release()
            newest = self._state
            if newest is not None and self._clock() < newest.usable_until:
                return newest
        # Nothing valid (expired, invalidated or never fetched): wait for whoever
        # refreshes, or refresh ourselves.
        with self._lock:
            now = self._clock()
            state = self._state
            if state is not None and now < state.usable_until:
                return state
            if now < self._next_attempt:
                raise self._unavailable(now)
            error = self._attempt()
            if error is None:
                assert self._state is not None
                return self._state
            if not self._ever_succeeded:
                return self._first_failure(error)
            raise self._unavailable(self._clock())

    def _attempt(self) -> str | None:
        """One fetch (lock held). Installs the result, or records and returns the error."""
        self._calls += 1
        started = self._clock()
        try:
            snap = self._source.fetch()
            if snap.expiration is not None and snap.expiration - EXPIRY_SKEW <= self._clock():
                raise CredentialsUnavailable(
                    f"the credentials received expire at {_iso(snap.expiration)}, which is "
                    f"already past on this host's clock ({_iso(self._clock())}): clock skew?")
        except Exception as exc:
            self._failures += 1
            self._total_failures += 1
            self._last_error = self._scrub(_describe_error(exc))
            self._next_attempt = self._clock() + backoff(
                self._failures, base=BACKOFF_BASE, cap=BACKOFF_CAP)
            return self._last_error
        self._install(snap, started)
        self._failures = 0
        self._next_attempt = -_INF
        self._ever_succeeded = True
        self._last_refresh = started
        logger.debug("credentials refreshed from %s: %s, expiring %s", self.source,
                     mask_key_id(snap.access_key_id), _iso(snap.expiration))
        return None

    def _install(self, snap: Snapshot, started: float) -> None:
        creds = _oss2_credentials(snap.access_key_id, snap.access_key_secret,
                                  snap.security_token)
        if snap.expiration is None:
            refresh_at = started + UNKNOWN_EXPIRY_REFRESH if snap.security_token else _INF
            self._state = _State(snap, creds, refresh_at, _INF)
            return
        lifetime = snap.expiration - started
        margin = max(REFRESH_MARGIN_MIN, lifetime * REFRESH_FRACTION)
        usable_until = snap.expiration - EXPIRY_SKEW
        # Never plan the next refresh sooner than half the remaining time: credentials
        # shorter-lived than the margin must not turn every request into an STS call.
        refresh_at = max(snap.expiration - margin, started + (usable_until - started) / 2)
        self._state = _State(snap, creds, refresh_at, usable_until)

    def _first_failure(self, error: str) -> _State:
        """The first fetch failed (lock held): fall back to static keys, or raise."""
        if self._fallback is not None:
            role = self._source.details().get("role_arn")
            self._fallback_reason = f"{self.source} failed at first use: {error}"
            logger.warning(
                "django-alioss: %s credentials for role %s unavailable (%s); falling back to "
                "static AccessKey %s from %s", self.source.upper(), role, error,
                mask_key_id(self._fallback.access_key_id), ENV_ACCESS_KEY_ID)
            self.source = "static-fallback"
            creds = _oss2_credentials(self._fallback.access_key_id,
                                      self._fallback.access_key_secret,
                                      self._fallback.security_token)
            self._state = _State(self._fallback, creds, _INF, _INF)
            self._next_attempt = -_INF
            return self._state
        message = f"{self._summary()}: {error}"
        if self._fallback_missing is not None:
            message += f"; static fallback: {self._fallback_missing}"
        raise CredentialsUnavailable(message + self._retry_note(self._clock()))

    def _unavailable(self, now: float) -> CredentialsUnavailable:
        state = self._state
        if state is not None and state.usable_until == -_INF:
            detail = f"credentials {mask_key_id(state.snap.access_key_id)} were rejected " \
                     "(invalidated)"
        elif state is not None and state.snap.expiration is not None:
            detail = f"credentials {mask_key_id(state.snap.access_key_id)} expired at " \
                     f"{_iso(state.snap.expiration)}"
        else:
            detail = "no credentials obtained yet"
        message = f"{self._summary()}: {detail}; last error: {self._last_error}"
        if self._fallback_missing is not None and not self._ever_succeeded:
            message += f"; static fallback: {self._fallback_missing}"
        return CredentialsUnavailable(message + self._retry_note(now))

    def _summary(self) -> str:
        role = self._source.details().get("role_arn")
        return f"no usable credentials from {self._source.name}" + (
            f" (role {role})" if role else "")

    def _retry_note(self, now: float) -> str:
        wait = max(0.0, self._next_attempt - now)
        return f"; {self._failures} consecutive failure(s), next attempt in {wait:.1f}s"

    def _log_failure(self, error: str, state: _State | None) -> None:
        until = _iso(state.snap.expiration) if state is not None else None
        logger.warning(
            "django-alioss: refreshing %s credentials failed (%d consecutive): %s; "
            "current credentials stay in use until %s; next attempt in %.1fs",
            self.source, self._failures, error, until,
            max(0.0, self._next_attempt - self._clock()))

    def _scrub(self, text: str) -> str:
        known: list[str | None] = list(self._source.secrets())
        state = self._state
        if state is not None:
            known += [state.snap.access_key_secret, state.snap.security_token]
        if self._fallback is not None:
            known += [self._fallback.access_key_secret, self._fallback.security_token]
        return scrub(text, tuple(known))

    # -- invalidation & diagnostics --------------------------------------------------------------
    def invalidate(self, snap: Snapshot | oss2.credentials.Credentials) -> None:
        state = self._state
        if state is None or (snap is not state.snap and snap is not state.creds):
            return  # already replaced (or never served)
        if self.source == "static-fallback":
            logger.debug("static fallback credentials were rejected; nothing to refresh")
            return
        with self._lock:
            if self._state is state:
                self._state = state._replace(refresh_at=-_INF, usable_until=-_INF)
                self._next_attempt = -_INF
                logger.info("django-alioss: credentials %s were rejected by OSS; "
                            "refreshing before next use", mask_key_id(state.snap.access_key_id))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(self._source.details())
        state = self._state
        info.update({
            "why": self.why if self._fallback_reason is None
            else f"{self.why}; {self._fallback_reason}",
            "sts_calls": self._calls,
            "refresh_failures": self._total_failures,
            "consecutive_failures": self._failures,
            "last_error": self._last_error,
            "last_refresh": _iso(self._last_refresh),
            "next_attempt": _iso(self._next_attempt),
        })
        if state is not None:
            info["access_key_id"] = mask_key_id(state.snap.access_key_id)
            info["expiration"] = _iso(state.snap.expiration)
            info["refresh_at"] = _iso(state.refresh_at)
            info["security_token"] = "set" if state.snap.security_token else None
        return info


# --- configuration resolution -------------------------------------------------------------------
_SALT = secrets.token_bytes(16)
_REGISTRY: weakref.WeakValueDictionary[str, CredentialsProvider] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


def _digest(*values: Any) -> str:
    """A salted (per process) hash: stands for secrets in registry keys and pickles."""
    return hmac.new(_SALT, repr(values).encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _is_rrsa_marker(value: Any) -> bool:
    text = _text(value)
    return text == "" or text.lower() == "rrsa"


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class _Resolver:
    """Turns options (+ environ) into a provider factory and a registry key; no I/O
    beyond reading the environment and checking the token file exists."""

    def __init__(self, options: Mapping[str, Any], clock: Clock) -> None:
        self.options = options
        environ = options.get("environ")
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.clock = clock
        self.timeouts = (self._float("connect_timeout"), self._float("read_timeout"))
        # What a pickle keeps: no secrets, no environ; callables travel by reference.
        self.restore = {k: v for k, v in options.items()
                        if k not in (*_SECRET_OPTIONS, "environ")
                        and not isinstance(v, CredentialsProvider)}
        self.restore_meta = {"secrets_in_options": any(
            _text(options.get(k)) and not _is_rrsa_marker(options.get(k))
            for k in _SECRET_OPTIONS)}

    # -- small helpers -------------------------------------------------------------------------
    def _opt(self, name: str) -> str:
        return _text(self.options.get(name))

    def _raw(self, name: str, default: Any = None) -> Any:
        """An option's value; None and "" count as unset."""
        value = self.options.get(name)
        return default if value is None or value == "" else value

    def _float(self, name: str) -> float | None:
        value = self.options.get(name)
        if value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ImproperlyConfigured(f"{name} must be a number of seconds") from None

    def _env(self, *names: str) -> tuple[str, str | None]:
        for name in names:
            value = _text(self.environ.get(name))
            if value:
                return value, name
        return "", None

    def sts_settings(self) -> _StsSettings:
        raw = self.options.get("role_duration")
        try:
            duration = DEFAULT_DURATION if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            raise ImproperlyConfigured("role_duration must be an integer (seconds)") from None
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise ImproperlyConfigured(
                f"role_duration must be within {MIN_DURATION}..{MAX_DURATION} seconds, "
                f"got {duration}")
        return _StsSettings(self.session_name(), duration, self.policy(), self.sts_endpoint(),
                            self.timeouts)

    def session_name(self) -> str:
        name = self._opt("role_session_name")
        origin = "role_session_name"
        if not name:
            name, env_name = self._env("ALIBABA_CLOUD_ROLE_SESSION_NAME")
            origin = env_name or origin
        if not name:
            host = _text(self.environ.get("HOSTNAME")) or socket.gethostname() or "host"
            host = re.sub(r"[^A-Za-z0-9.@_-]", "-", host)
            return (SESSION_NAME_PREFIX + host)[:64]
        if not _SESSION_NAME_RE.match(name):
            raise ImproperlyConfigured(
                f"{origin} must be 2..64 characters of A-Z a-z 0-9 . @ _ -, got {name!r}")
        return name

    def policy(self) -> str | None:
        value = self.options.get("role_policy")
        if value in (None, ""):
            return None
        if isinstance(value, Mapping):
            return json.dumps(value, separators=(",", ":"))
        try:
            parsed = json.loads(str(value))
        except ValueError:
            raise ImproperlyConfigured("role_policy is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise ImproperlyConfigured("role_policy must be a JSON object")
        return str(value)

    def sts_endpoint(self) -> str:
        endpoint = self._opt("sts_endpoint")
        if endpoint:
            return endpoint.rstrip("/")
        region = self._opt("sts_region") or self._env("ALIBABA_CLOUD_STS_REGION")[0]
        vpc_opt = self._raw("sts_vpc_endpoint")
        vpc = _truthy(vpc_opt) if vpc_opt is not None else _truthy(
            self.environ.get("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", ""))
        prefix = "sts-vpc" if vpc else "sts"
        return f"{prefix}.{region}.aliyuncs.com" if region else "sts.aliyuncs.com"

    def env_static(self) -> tuple[Snapshot | None, str | None]:
        """Static keys from the environment, or why there are none."""
        ak, sk = self._env(ENV_ACCESS_KEY_ID)[0], self._env(ENV_ACCESS_KEY_SECRET)[0]
        missing = [n for n, v in ((ENV_ACCESS_KEY_ID, ak), (ENV_ACCESS_KEY_SECRET, sk)) if not v]
        if missing:
            return None, f"{' and '.join(missing)} not set"
        token = self._env(ENV_SECURITY_TOKEN)[0] or None
        return Snapshot(ak, sk, token, None, "static-fallback"), None

    def secret_digest(self, snap: Snapshot | None) -> str | None:
        if snap is None:
            return None
        return _digest(snap.access_key_id, snap.access_key_secret, snap.security_token)

    # -- the rule ------------------------------------------------------------------------------
    def plan(self) -> tuple[tuple[Any, ...], Callable[[dict[str, Any]], CredentialsProvider]]:
        """(registry key parts, factory taking the restore state)."""
        choice = self._raw("credentials_provider")
        if isinstance(choice, CredentialsProvider):
            return ("instance", id(choice)), lambda restore: choice
        if choice is not None:
            return self.explicit(choice)
        ak, sk = self.options.get("access_key_id"), self.options.get("access_key_secret")
        if _is_rrsa_marker(ak) and _is_rrsa_marker(sk):
            if _text(self.options.get("security_token")):
                raise ImproperlyConfigured(
                    "security_token is set but access_key_id/access_key_secret are not")
            keys = "empty" if not (_text(ak) or _text(sk)) else "set to 'rrsa'"
            return self.rrsa(f"access_key_id/access_key_secret {keys}: RRSA",
                             fallback_allowed=_truthy(self._raw("rrsa_fallback", True)))
        return self.static_from_options()

    def explicit(self, choice: Any) -> tuple[tuple[Any, ...], Callable[..., CredentialsProvider]]:
        why = f"credentials_provider={choice!r}" if isinstance(choice, str) else \
            f"credentials_provider={_label(choice)}"
        if isinstance(choice, str) and choice.strip().lower() in SOURCES:
            kind = choice.strip().lower()
            if kind == "rrsa":
                return self.rrsa(why, fallback_allowed=_truthy(
                    self._raw("rrsa_fallback", True)))
            if kind == "static":
                return self.static_from_options(why=why, allow_env=True)
            if kind == "ram_role_arn":
                return self.ram_role_arn(why)
            if kind == "ecs_ram_role":
                return self.ecs_ram_role(why)
            return self.default_chain(why)
        func = choice
        if isinstance(choice, str):
            func = _import_callable(choice.strip())
        target = None if isinstance(func, type) else getattr(func, "get_credentials", None)
        fetch = target if callable(target) else func
        if not callable(fetch):
            raise ImproperlyConfigured(_unknown_source_message(choice))
        source = _CallableSource(fetch, _label(choice))
        key = ("custom", _identity(func), _identity(self.clock))
        return key, lambda restore: RefreshingProvider(
            source, clock=self.clock, why=why, restore=restore)

    def static_from_options(self, why: str | None = None, allow_env: bool = False
                            ) -> tuple[tuple[Any, ...], Callable[..., CredentialsProvider]]:
        ak, sk = self._opt("access_key_id"), self._opt("access_key_secret")
        token = self._opt("security_token") or None
        if _is_rrsa_marker(ak) != _is_rrsa_marker(sk) and "rrsa" in (ak.lower(), sk.lower()):
            raise ImproperlyConfigured(
                "access_key_id/access_key_secret: either both are 'rrsa' (or empty) for RRSA, "
                "or both hold an AccessKey")
        if bool(ak) != bool(sk):
            missing = "access_key_secret" if ak else "access_key_id"
            raise ImproperlyConfigured(f"{missing} is missing: static keys need both "
                                       "access_key_id and access_key_secret")
        if not ak and allow_env:
            snap, missing_env = self.env_static()
            if snap is None:
                raise ImproperlyConfigured(
                    f"credentials_provider='static' needs access_key_id/access_key_secret "
                    f"(options) or {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} "
                    f"({missing_env})")
            snap = Snapshot(snap.access_key_id, snap.access_key_secret, snap.security_token,
                            None, "static")
            why = f"{why}: keys from {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET}"
        else:
            snap = Snapshot(ak, sk, token, None, "static")
            why = why or "access_key_id/access_key_secret configured"
        key = ("static", snap.access_key_id, self.secret_digest(snap))
        return key, lambda restore: StaticProvider(snap, why=why, restore=restore)

    def rrsa_parts(self) -> tuple[dict[str, str], list[str]]:
        values: dict[str, str] = {}
        missing: list[str] = []
        for option, env_names in _RRSA_ENV.items():
            value = self._opt(option) or self._env(*env_names)[0]
            if value:
                values[option] = value
            else:
                missing.append(f"{env_names[0]} (or option {option})")
        return values, missing

    def rrsa(self, why: str, *, fallback_allowed: bool
             ) -> tuple[tuple[Any, ...], Callable[..., CredentialsProvider]]:
        values, missing = self.rrsa_parts()
        sts = self.sts_settings()
        fallback, fallback_missing = self.env_static() if fallback_allowed else (None, None)
        problem = None
        if missing:
            problem = f"RRSA environment incomplete: missing {', '.join(missing)}"
        elif not (os.path.isfile(values["oidc_token_file"])
                  and os.access(values["oidc_token_file"], os.R_OK)):
            problem = f"OIDC token file {values['oidc_token_file']} is not readable"
        details = {"role_arn": values.get("role_arn"),
                   "oidc_provider_arn": values.get("oidc_provider_arn"),
                   "oidc_token_file": values.get("oidc_token_file"),
                   "role_session_name": sts.role_session_name,
                   "sts_endpoint": sts.sts_endpoint}
        key = ("rrsa", tuple(sorted(values.items())), sts, fallback_allowed,
               self.secret_digest(fallback), fallback_missing, problem, _identity(self.clock))
        if problem is not None:
            def build_without_rrsa(restore: dict[str, Any]) -> CredentialsProvider:
                if fallback is not None:
                    logger.warning(
                        "django-alioss: %s; falling back to static AccessKey %s from %s",
                        problem, mask_key_id(fallback.access_key_id), ENV_ACCESS_KEY_ID)
                    return StaticProvider(fallback, why=f"{why}; {problem}", details=details,
                                          restore=restore)
                reason = f"no usable credentials: {problem}"
                if fallback_allowed:
                    reason += f"; static fallback: {fallback_missing}"
                return UnavailableProvider("rrsa", why=reason, details=details, restore=restore)
            return key, build_without_rrsa
        source = _OIDCSource(values["role_arn"], values["oidc_provider_arn"],
                             values["oidc_token_file"], sts)
        return key, lambda restore: RefreshingProvider(
            source, clock=self.clock, why=why, fallback=fallback,
            fallback_missing=fallback_missing, restore=restore)

    def ram_role_arn(self, why: str) -> tuple[tuple[Any, ...], Callable[..., CredentialsProvider]]:
        ak, sk = self._opt("access_key_id"), self._opt("access_key_secret")
        token = self._opt("security_token") or None
        if not (ak and sk):
            snap, _ = self.env_static()
            if snap is not None and not (ak or sk):
                ak, sk, token = snap.access_key_id, snap.access_key_secret, snap.security_token
        role_arn = self._opt("role_arn") or self._env(*_RRSA_ENV["role_arn"])[0]
        if not (ak and sk and role_arn):
            raise ImproperlyConfigured(
                "credentials_provider='ram_role_arn' needs role_arn and an AccessKey "
                "(access_key_id/access_key_secret, or "
                f"{ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET})")
        sts = self.sts_settings()
        source = _AssumeRoleSource(ak, sk, token, role_arn, sts)
        key = ("ram_role_arn", ak, _digest(ak, sk, token), role_arn, sts, _identity(self.clock))
        return key, lambda restore: RefreshingProvider(
            source, clock=self.clock, why=why, restore=restore)

    def ecs_ram_role(self, why: str) -> tuple[tuple[Any, ...], Callable[..., CredentialsProvider]]:
        role_name = self._opt("ecs_role_name") or self._env("ALIBABA_CLOUD_ECS_METADATA")[0]
        disable_v1 = _truthy(self.environ.get("ALIBABA_CLOUD_IMDSV1_DISABLED", ""))
        source = _EcsRoleSource(role_name or None, disable_v1, self.timeouts)
        key = ("ecs_ram_role", role_name, disable_v1, self.timeouts, _identity(self.clock))
        return key, lambda restore: RefreshingProvider(
            source, clock=self.clock, why=why, restore=restore)

    def default_chain(self, why: str) -> tuple[tuple[Any, ...], Callable[..., CredentialsProvider]]:
        snap, _ = self.env_static()
        if snap is not None:
            snap = Snapshot(snap.access_key_id, snap.access_key_secret, snap.security_token,
                            None, "default_chain")
            chain_why = f"{why}: {ENV_ACCESS_KEY_ID}/{ENV_ACCESS_KEY_SECRET} set"
            key = ("default_chain", "env", snap.access_key_id, self.secret_digest(snap))
            return key, lambda restore: StaticProvider(
                snap, why=chain_why, details={"chain_link": "environment"}, restore=restore)
        values, missing = self.rrsa_parts()
        oidc = None
        if not missing:
            oidc = _OIDCSource(values["role_arn"], values["oidc_provider_arn"],
                               values["oidc_token_file"], self.sts_settings())
        chain_env = tuple(sorted((k, v) for k, v in self.environ.items()
                                 if k.startswith("ALIBABA_CLOUD_") and k not in
                                 (ENV_ACCESS_KEY_SECRET, ENV_SECURITY_TOKEN)))
        oidc_key = tuple(sorted(oidc.details().items())) if oidc is not None else None
        key = ("default_chain", chain_env, oidc_key, self.timeouts,
               _text(self.environ.get("HOME")), _identity(self.clock))
        source = _ChainSource(self.environ, oidc, self.timeouts)
        return key, lambda restore: RefreshingProvider(source, clock=self.clock, why=why,
                                                       restore=restore)


def _identity(obj: Any) -> str:
    """Identifies a callable in a registry key (its provider keeps it alive, so the id
    cannot be reused while the key is in use)."""
    if obj is time.time:
        return "time.time"
    owner = getattr(obj, "__self__", None)
    if owner is not None and hasattr(obj, "__func__"):  # bound method: new object per lookup
        return f"{_label(obj)}@{id(owner):x}"
    return f"{_label(obj)}@{id(obj):x}"


def _label(value: Any) -> str:
    if isinstance(value, str):
        return value
    module = getattr(value, "__module__", None) or type(value).__module__
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    return f"{module}.{name}"


def _unknown_source_message(choice: Any) -> str:
    return (f"credentials_provider={_label(choice)!r} is not valid: use one of "
            f"{', '.join(repr(s) for s in SOURCES)}, a dotted path to a callable, or a "
            "callable returning credentials")


def _import_callable(path: str) -> Any:
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ImproperlyConfigured(_unknown_source_message(path))
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(
            f"{_unknown_source_message(path)} (import failed: {exc})") from None


def build_provider(options: Mapping[str, Any], *, clock: Clock = time.time,
                   shared: bool = True) -> CredentialsProvider:
    """The credentials provider for ``options`` (see the module docstring). No network.

    ``clock`` is the time source of the cache (tests move it with the emulator's clock).
    ``shared=True`` returns the live provider already built for an identical
    configuration in this process, if any. Raises ``ImproperlyConfigured`` for invalid
    options; unavailable credentials surface as :class:`CredentialsUnavailable` at first
    use, not here.
    """
    resolver = _Resolver(options, clock)
    key_parts, factory = resolver.plan()
    config_id = _digest(key_parts)
    restore = {"options": resolver.restore, "config_id": config_id,
               "clock": clock if clock is time.time else None, **resolver.restore_meta}
    if not shared:
        return factory(restore)
    with _REGISTRY_LOCK:
        provider = _REGISTRY.get(config_id)
        if provider is None:
            provider = factory(restore)
            _REGISTRY[config_id] = provider
        return provider


def _restore_provider(state: Mapping[str, Any]) -> CredentialsProvider:
    """Unpickle: the live provider of this configuration, else one rebuilt from the
    non-secret options and ``os.environ`` (see the module docstring)."""
    live = _REGISTRY.get(state.get("config_id") or "")
    if live is not None:
        return live
    options = dict(state.get("options") or {})
    if state.get("secrets_in_options"):
        ak = _text(options.get("access_key_id"))
        env_ak = _text(os.environ.get(ENV_ACCESS_KEY_ID))
        env_sk = _text(os.environ.get(ENV_ACCESS_KEY_SECRET))
        if not (ak and ak == env_ak and env_sk):
            return UnavailableProvider(
                "static", restore=state,
                why=f"unpickled provider for AccessKey {mask_key_id(ak)}: secrets given in "
                    "the options are never pickled; rebuild it with build_provider(options) "
                    "in this process")
        options["access_key_secret"] = env_sk
        options["security_token"] = _text(os.environ.get(ENV_SECURITY_TOKEN)) or None
    try:
        return build_provider(options, clock=state.get("clock") or time.time)
    except ImproperlyConfigured as exc:
        return UnavailableProvider(
            "custom", restore=state,
            why=f"unpickled provider could not be rebuilt from its non-secret options: {exc}")
