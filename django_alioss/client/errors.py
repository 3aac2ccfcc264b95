"""What a failure means: whether it is worth another try, how long to wait, what the
user is told (without secrets, with the fix: :data:`HINTS`, the one hint table that
``alioss_check`` uses too), and the CRC-64 integrity check."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


KEY_ERRORS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch"})
HEAD_OPERATIONS = frozenset({"HeadObject", "GetObjectMeta"})
_WRONG_REGION = ("signing region", "must be addressed using the specified endpoint")


@dataclass(frozen=True)
class Target:
    """Where requests go (named in every error message) and who signs them:
    ``credentials`` returns the provider's ``describe()`` (for the RAM policy hint)."""

    endpoint: str
    bucket: str
    region: str | None = None
    credentials: Callable[[], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Failure:
    """What failed, as the hint table reads it."""

    status: int
    code: str
    message: str
    operation: str
    auth_action: str = ""


def grantee(info: Mapping[str, Any], *, role_policy: bool = False,
            ecs_role_name: str | None = None) -> str:
    """Where permissions of the credentials ``info`` (``provider.describe()``) are
    granted, in words."""
    source, role = info.get("source"), info.get("role_arn")
    if source in ("rrsa", "ram_role_arn") and role:
        where = f"a RAM policy attached to role {role}"
        if role_policy:
            where += " (and the session policy in the role_policy option, which narrows it)"
        return where
    if source == "ecs_ram_role":
        return f"a RAM policy attached to the worker RAM role {ecs_role_name or '(auto-detected)'}"
    key = info.get("access_key_id")
    owner = (f"the RAM user that owns AccessKey {key}" if key
             else "the RAM user or role whose keys are used")
    if source == "static-fallback":
        owner += " (the static fallback: RRSA was not used, see the credentials step)"
    return f"a RAM policy attached to {owner}"


Hint = Callable[[Failure, Target, str], str]  # (failure, target, grantee) -> the fix

#: The hint table, in order: the first matching rule names the fix.
HINTS: tuple[tuple[Callable[[Failure], bool], Hint], ...] = (
    (lambda f: f.status == -2, lambda f, t, g: (
        f"cannot reach {t.endpoint}: check the endpoint option (ALIOSS_ENDPOINT), DNS and "
        "the network path (-internal endpoints only answer inside the region's VPC)")),
    (lambda f: f.code == "RequestTimeTooSkewed", lambda f, t, g: (
        "this host's clock is more than 15 minutes off: synchronise it (NTP)")),
    (lambda f: f.code in KEY_ERRORS, lambda f, t, g: (
        "check the AccessKey id and secret (access_key_id/access_key_secret, "
        "ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET) and that the endpoint belongs to the same cloud")),
    (lambda f: f.code in TOKEN_ERRORS, lambda f, t, g: (
        "OSS rejected the STS token: check this host's clock and that the STS endpoint "
        "issues tokens for this account")),
    (lambda f: f.code == "NoSuchBucket", lambda f, t, g: (
        f"bucket {t.bucket} does not exist at {t.endpoint}: check bucket_name and the "
        "endpoint's region")),
    (lambda f: any(text in f.message for text in _WRONG_REGION), lambda f, t, g: (
        f"bucket {t.bucket} is not in region {t.region or '(unset)'} of {t.endpoint}: set "
        "the region option (ALIOSS_REGION) and the endpoint to the bucket's region")),
    (lambda f: bool(f.auth_action), lambda f, t, g: (
        f"the credentials lack {f.auth_action}: allow {f.auth_action} on "
        f"acs:oss:*:*:{t.bucket}/* in {g}")),
    (lambda f: f.status == 403 and f.operation in HEAD_OPERATIONS, lambda f, t, g: (
        "a HEAD answer carries no detail; the credentials probably lack oss:GetObject: allow "
        f"it on acs:oss:*:*:{t.bucket}/* in {g}")),
    (lambda f: f.status == 403, lambda f, t, g: (
        "OSS refused without naming a RAM action: the request was anonymous (unsigned URLs, "
        "from querystring_auth=False or custom_domain, need public-read objects: set "
        "default_acl='public-read' or make the bucket public-read) or a bucket policy "
        "denies it")),
)


def hint_for(failure: Failure, target: Target, grantee_text: str = "") -> str:
    """The one-line fix for ``failure`` ("" when the table has none)."""
    where = grantee_text or "the RAM policy of the credentials"
    for matches, hint in HINTS:
        if matches(failure):
            return hint(failure, target, where)
    return ""


def _target_grantee(target: Target | None) -> str:
    if target is None or target.credentials is None:
        return ""
    try:
        return grantee(target.credentials())
    except Exception:  # the provider cannot even be described: name no one
        return ""


def _chain(error: BaseException) -> list[BaseException]:
    """``error``, its ``reason`` (urllib3) and causes, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (
            current.__cause__ or current.__context__)
    return seen


def network_words(error: BaseException) -> str:
    """What went wrong on the network, in words (no library classes, no URLs)."""
    chain = _chain(getattr(error, "exception", error))
    names = {type(e).__name__ for e in chain}
    # urllib3: a connection error's ``conn``, MaxRetryError's ``pool`` (an attribute there).
    places: list[Any] = [place for e in chain
                         for place in (getattr(e, "conn", None), vars(e).get("pool"))
                         if getattr(place, "host", None) and getattr(place, "port", None)]
    host = f"{places[0].host}:{places[0].port}" if places else "the endpoint"
    checks = (
        ({"NameResolutionError", "gaierror"}, f"the name of {host} does not resolve (DNS)"),
        ({"ConnectionRefusedError"}, f"{host} refused the connection (nothing listens there)"),
        ({"ConnectTimeoutError", "ConnectTimeout"},
         f"connecting to {host} timed out (connect_timeout)"),
        ({"ReadTimeoutError", "ReadTimeout", "TimeoutError", "timeout"},
         f"{host} did not answer in time (read_timeout)"),
        ({"SSLError", "SSLCertVerificationError"}, f"the TLS handshake with {host} failed"),
        ({"ConnectionResetError", "RemoteDisconnected", "ProtocolError",
          "ChunkedEncodingError", "IncompleteRead"},
         f"the connection to {host} was cut mid-request"),
    )
    for kinds, words in checks:
        if names & kinds:
            return words
    detail = URL_QUERY.sub(r"\1", str(chain[-1]))
    return f"no answer from {host} ({detail})"


def failure_words(error: Exception) -> str:
    """A failure in words, for retry logs: the network cause, a corrupted transfer, or
    OSS's status and code."""
    status = getattr(error, "status", 0)
    if status == -2:
        return network_words(error)
    if status == -3:
        return "the data was corrupted in transit (CRC-64 mismatch)"
    return f"{status} {getattr(error, 'code', '') or 'error'}"


def translate(error: Exception, operation: str, key: str = "",
              target: Target | None = None) -> OSSError:
    """Turn an oss2 exception into the library's exception, without secrets: what
    failed, where (bucket and endpoint) and, when the hint table knows, the fix."""
    status = getattr(error, "status", 0)
    code = getattr(error, "code", "") or ""
    request_id = getattr(error, "request_id", "") or ""
    what = f"OSS {operation}" + (f" of {key!r}" if key else "")
    if target is not None:
        what += f" in bucket {target.bucket!r} at {target.endpoint}"
    oss_message = getattr(error, "message", "") or ""
    body = getattr(error, "body", b"") or b""
    match = _AUTH_ACTION.search(body if isinstance(body, bytes) else body.encode())
    auth_action = match.group(1).decode() if match else ""
    kwargs: dict[str, Any] = dict(status=status, code=code, request_id=request_id,
                                  operation=operation, key=key, auth_action=auth_action)
    if status == -2:
        text = f"{what} failed: {network_words(error)}"
    elif status == -3:  # our CRC-64 check (check_crc)
        detail = str(getattr(error, "body", "")).removeprefix("InconsistentError: ")
        text = f"{what} failed: data corrupted in transit: {detail}"
        kwargs["code"] = "InconsistentError"
    else:
        text = f"{what} failed: {status} {code or 'error'}"
        text += f": {oss_message}" if oss_message else ""
        text += f" (the credentials lack permission {auth_action})" if auth_action else ""
        text += f" [request id {request_id}]" if request_id else ""
    hint = ""
    if target is not None:
        failure = Failure(status, code, oss_message, operation, auth_action)
        hint = hint_for(failure, target, _target_grantee(target))
    text = redaction.redact(text + (f" -> {hint}" if hint else ""))
    if status == 404 and code in ("NoSuchKey", ""):
        return OSSFileNotFound(text, hint=hint, **kwargs)
    if status == 409 and code == "FileAlreadyExists":
        return OSSFileExists(text, hint=hint, **kwargs)
    if status == 403:
        return OSSAccessDenied(text, hint=hint, **kwargs)
    return OSSError(text, hint=hint, **kwargs)


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


