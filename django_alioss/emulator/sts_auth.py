"""Who signed an STS request, checked the two ways STS accepts: the RPC signature
(HMAC-SHA1 over the sorted query, ``Signature``/``SignatureNonce``/``Timestamp``
parameters, as alibabacloud-credentials sends it) and OpenAPI signature V3
(``Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`` with
``x-acs-date``, ``x-acs-signature-nonce`` and the action in ``x-acs-action``, as the
``alibabacloud_sts20150401`` SDK sends AssumeRole). Timestamps, nonces and security
tokens are checked against the emulator clock.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from .controls import Clock
from .httpserver import Request
from .iam import IAM, Session, User

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIMESTAMP_TOLERANCE = 15 * 60
ACS3 = "ACS3-HMAC-SHA256"


class STSError(Exception):
    """An error STS answers with: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def missing(name: str) -> STSError:
    return STSError(400, f"Missing{name}", f"{name} is mandatory for this action.")


def require(params: Mapping[str, str], *names: str) -> None:
    for name in names:
        if name not in params:
            raise missing(name)


def _pop_encode(value: str) -> str:
    """RFC 3986 percent-encoding, as both signature specifications define it."""
    return quote(value, safe="-_.~")


# --- RPC (HMAC-SHA1) ------------------------------------------------------------------------
def string_to_sign(method: str, params: Mapping[str, str],
                   encode: Callable[[str], str] = _pop_encode) -> str:
    """The RPC StringToSign: ``METHOD&%2F&<encoded sorted canonical query>``."""
    canonical = "&".join(f"{encode(k)}={encode(params[k])}" for k in sorted(params))
    return f"{method}&{encode('/')}&{encode(canonical)}"


def rpc_signature(string: str, secret: str) -> str:
    """Base64 HMAC-SHA1 of ``string`` keyed with ``secret + "&"``."""
    digest = hmac.new((secret + "&").encode("utf-8"), string.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


# --- OpenAPI V3 (ACS3-HMAC-SHA256) -------------------------------------------------------------
@dataclass(frozen=True)
class ACS3Authorization:
    """The parts of an ``ACS3-HMAC-SHA256`` Authorization header."""

    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_acs3(header: str) -> ACS3Authorization:
    """``ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex`` (any order)."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ACS3:
        raise STSError(400, "InvalidSignatureMethod",
                       "Specified signature method or version is not supported.")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    if not all(fields.get(name) for name in ("Credential", "SignedHeaders", "Signature")):
        raise STSError(400, "IncompleteSignature",
                       "The Authorization header must name Credential, SignedHeaders and "
                       "Signature.")
    return ACS3Authorization(fields["Credential"],
                             tuple(fields["SignedHeaders"].lower().split(";")),
                             fields["Signature"].lower())


def acs3_canonical_request(request: Request, signed_headers: tuple[str, ...],
                           body: bytes) -> str:
    """The V3 CanonicalRequest: method, path, sorted encoded query, signed headers (values
    trimmed, repeated ones joined by ``,``), their names, and the body's SHA-256."""
    params = request.params
    query = "&".join(f"{_pop_encode(k)}={_pop_encode(params[k])}" for k in sorted(params))
    headers = ""
    for name in signed_headers:
        values = sorted(v.strip() for v in request.headers.get_all(name) or [])
        headers += f"{name}:{','.join(values)}\n"
    return (f"{request.method}\n{request.raw_path or '/'}\n{query}\n{headers}\n"
            f"{';'.join(signed_headers)}\n{hashlib.sha256(body).hexdigest()}")


def acs3_signature(canonical_request: str, secret: str) -> str:
    """Hex HMAC-SHA256 of ``ACS3-HMAC-SHA256\\n<hex SHA-256 of the canonical request>``."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return hmac.new(secret.encode("utf-8"), f"{ACS3}\n{digest}".encode(),
                    hashlib.sha256).hexdigest()


# --- the caller -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    """What a signed request says about its signer, before the clock and nonce checks."""

    access_key_id: str
    timestamp: str
    nonce: str
    security_token: str | None


class CallerAuthenticator:
    """Checks signed STS requests and returns their principal (a user or an STS session of
    the ``iam`` given); remembers the nonces used."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._nonces: dict[tuple[str, str], float] = {}
        self._nonce_lock = threading.Lock()

    def authenticate(self, iam: IAM, request: Request, params: Mapping[str, str],
                     body: bytes) -> User | Session:
        """Signature (V3 when an Authorization header is present, else RPC), timestamp,
        nonce and, for STS credentials, the security token."""
        authorization = request.header("Authorization")
        if authorization:
            caller, claim = self._acs3(iam, request, authorization, body)
        else:
            caller, claim = self._rpc(iam, request, params)
        now = self.clock.now()
        try:
            stamp = calendar.timegm(time.strptime(claim.timestamp, ISO_FORMAT))
        except ValueError:
            raise STSError(400, "InvalidTimeStamp.Format",
                           "Specified time stamp or date value is not well formatted.") from None
        if abs(now - stamp) > TIMESTAMP_TOLERANCE:
            raise STSError(400, "InvalidTimeStamp.Expired",
                           "Specified time stamp or date value is expired.")
        self._use_nonce(claim.access_key_id, claim.nonce, now)
        if isinstance(caller, Session):
            self._check_security_token(caller, claim.security_token, now)
        return caller

    @staticmethod
    def _principal(iam: IAM, request: Request, access_key_id: str) -> User | Session:
        request.access_key_id = access_key_id
        caller = iam.principal_for(access_key_id)
        if caller is None:
            raise STSError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        return caller

    def _rpc(self, iam: IAM, request: Request,
             params: Mapping[str, str]) -> tuple[User | Session, Claim]:
        require(params, "AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce",
                "Timestamp")
        if params["SignatureMethod"] != "HMAC-SHA1" or \
                params.get("SignatureVersion", "1.0") != "1.0":
            raise STSError(400, "InvalidSignatureMethod",
                           "Specified signature method or version is not supported.")
        caller = self._principal(iam, request, params["AccessKeyId"])
        signed = {k: v for k, v in params.items() if k != "Signature"}
        expected = string_to_sign(request.method, signed)
        # alibabacloud-credentials encodes with quote_plus (space -> "+"): accept that too.
        candidates = (expected, string_to_sign(request.method, signed, lambda s: quote_plus(s)))
        if not any(hmac.compare_digest(rpc_signature(s, caller.access_key_secret),
                                       params["Signature"]) for s in candidates):
            raise STSError(400, "SignatureDoesNotMatch",
                           "Specified signature is not matched with our calculation. "
                           f"server string to sign is:{expected}")
        return caller, Claim(params["AccessKeyId"], params["Timestamp"],
                             params["SignatureNonce"], params.get("SecurityToken"))

    def _acs3(self, iam: IAM, request: Request, authorization: str,
              body: bytes) -> tuple[User | Session, Claim]:
        parsed = parse_acs3(authorization)
        for name in ("x-acs-date", "x-acs-signature-nonce"):
            if not request.header(name):
                raise STSError(400, f"Missing{name}", f"The header {name} is mandatory.")
        unsigned = sorted(name.lower() for name in request.headers
                          if name.lower().startswith("x-acs-")
                          and name.lower() not in parsed.signed_headers)
        if unsigned or "host" not in parsed.signed_headers:
            raise STSError(400, "IncompleteSignature",
                           f"The headers {', '.join(['host', *unsigned])} must be signed.")
        caller = self._principal(iam, request, parsed.access_key_id)
        canonical = acs3_canonical_request(request, parsed.signed_headers, body)
        if not hmac.compare_digest(acs3_signature(canonical, caller.access_key_secret),
                                   parsed.signature):
            raise STSError(400, "SignatureDoesNotMatch",
                           "The request signature does not conform to Aliyun standards. "
                           f"server CanonicalRequest is:{canonical}")
        return caller, Claim(parsed.access_key_id, request.header("x-acs-date") or "",
                             request.header("x-acs-signature-nonce") or "",
                             request.header("x-acs-security-token"))

    def _use_nonce(self, access_key_id: str, nonce: str, now: float) -> None:
        key = (access_key_id, nonce)
        with self._nonce_lock:
            if len(self._nonces) > 10_000:
                self._nonces = {k: t for k, t in self._nonces.items() if t > now}
            expiry = self._nonces.get(key)
            if expiry is not None and expiry > now:
                raise STSError(400, "SignatureNonceUsed",
                               "Specified signature nonce was used already.")
            self._nonces[key] = now + TIMESTAMP_TOLERANCE

    @staticmethod
    def _check_security_token(session: Session, token: str | None, now: float) -> None:
        if not token:
            raise missing("SecurityToken")
        if not hmac.compare_digest(token, session.security_token):
            raise STSError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                           "Specified SecurityToken mismatch with the AccessKey.")
        if now >= session.expiration:
            raise STSError(400, "InvalidSecurityToken.Expired",
                           "Specified SecurityToken is expired.")
