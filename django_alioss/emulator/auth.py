"""Server-side verification of OSS request signatures: V1 and V4, headers and URLs.

This is the emulator's own reading of the OSS signing rules, written from the
protocol description. It deliberately imports nothing from ``django_alioss.signing``
or oss2: the SDK signs in the tests, this module checks, so a bug on either side
shows up as a failing request instead of cancelling out.

:meth:`Verifier.authenticate` returns who signed (an :class:`Identity`) or raises
:class:`AuthError` carrying the OSS error code, message and extra XML fields.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from base64 import b64encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote

from .controls import Clock
from .httpserver import Request
from .iam import IAM, Principal, Session

MAX_SKEW_SECONDS = 15 * 60
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_TERMINATOR = "aliyun_v4_request"
V4_MAX_EXPIRES = 604800
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

#: Query parameters that V1 signs as sub-resources (everything else is unsigned).
_SUBRESOURCE_NAMES = """
    acl uploads uploadId partNumber delete location bucketInfo objectInfo objectMeta
    append position security-token continuation-token versionId versions versioning
    tagging symlink restore x-oss-process x-oss-async-process x-oss-traffic-limit
    response-content-type response-content-language response-cache-control
    response-content-disposition response-content-encoding response-expires
    logging group link website cors lifecycle qos qosInfo referer stat live comp status
    vod startTime endTime callback callback-var encryption policy requestPayment
    x-oss-request-payer asyncFetch sequential inventory inventoryId worm wormId
    wormExtend replication replicationLocation replicationProgress transferAcceleration
    cname metaQuery x-oss-ac-source-ip x-oss-ac-subnet-mask x-oss-ac-vpc-id
    x-oss-ac-forward-allow resourceGroup style styleName regionList
    x-oss-write-get-object-response bucketArchiveDirectRead httpsConfig
    redundancyTransition x-oss-target-redundancy-type x-oss-redundancy-transition-taskid
    accessPoint accessPointPolicy publicAccessBlock x-oss-access-point-name
    requesterQosInfo qosRequester resourcePoolInfo resourcePool resourcePoolBuckets
"""
SUBRESOURCES = frozenset(_SUBRESOURCE_NAMES.split())

_V1_URL_PARAMS = ("OSSAccessKeyId", "Expires", "Signature")
_V4_URL_PARAMS = ("x-oss-signature-version", "x-oss-credential", "x-oss-date",
                  "x-oss-expires", "x-oss-signature")
_V4_ALWAYS_SIGNED = ("content-type", "content-md5")
#: Form fields (lowercased) of a signed PostObject form, V1 and V4.
_V1_FORM_FIELDS = ("ossaccesskeyid", "signature")
_V4_FORM_FIELDS = ("x-oss-signature-version", "x-oss-credential", "x-oss-date",
                   "x-oss-signature")


class AuthError(Exception):
    """An authentication failure, as OSS reports it (``details`` become XML elements)."""

    def __init__(self, status: int, code: str, message: str,
                 details: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, str] = dict(details or {})


def _require_query(params: Mapping[str, str], names: Iterable[str]) -> None:
    """403 AccessDenied, as OSS answers, when a presigned URL lacks one of ``names``."""
    missing = [name for name in names if not params.get(name)]
    if missing:
        raise AuthError(403, "AccessDenied", f"Missing {', '.join(missing)} in the query string.")


@dataclass(frozen=True)
class Identity:
    """Who made a request: ``principal`` is ``None`` for an anonymous request.

    ``scheme`` is ``anonymous``, ``v1``, ``v1-url``, ``v1-form``, ``v4``, ``v4-url`` or
    ``v4-form``.
    """

    access_key_id: str | None = None
    principal: Principal | None = field(default=None, repr=False)
    scheme: str = "anonymous"


ANONYMOUS = Identity()


def _as_bytes(value: str) -> bytes:
    # Header values reach us decoded as ISO-8859-1: encoding back restores the octets.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _uri_encode(text: str, keep_slash: bool) -> str:
    """V4 encoding: unreserved ``A-Za-z0-9-_.~`` kept, everything else ``%XX``."""
    return quote(text, safe="/-_.~" if keep_slash else "-_.~")


@lru_cache(maxsize=256)
def _v4_signing_key(secret: str, day: str, region: str, product: str) -> bytes:
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (day, region, product, V4_TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def _iso_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


class Verifier:
    """Checks signatures against the IAM registry and the emulator clock.

    ``region`` is the service region a V4 scope must name.
    """

    def __init__(self, iam: IAM, clock: Clock, region: str, product: str = "oss") -> None:
        self.iam = iam
        self.clock = clock
        self.region = region
        self.product = product

    # --- entry point ----------------------------------------------------------------------
    def authenticate(self, request: Request, bucket: str, key: str) -> Identity:
        """Identify and verify the signer of ``request`` addressed to ``bucket``/``key``
        (``""`` for service / bucket operations)."""
        authorization = request.header("Authorization")
        params = request.params
        has_v1_url = any(p in params for p in _V1_URL_PARAMS)
        has_v4_url = any(p in params for p in _V4_URL_PARAMS)
        if sum(map(bool, (authorization, has_v1_url, has_v4_url))) > 1:
            raise AuthError(400, "InvalidArgument",
                            "Only one auth mechanism allowed; only the Signature query "
                            "parameter or the Authorization header should be specified.")
        if authorization:
            if authorization.startswith("OSS "):
                return self._v1_header(request, bucket, key, authorization[4:])
            if authorization.startswith(V4_ALGORITHM + " "):
                return self._v4_header(request, bucket, key, authorization[len(V4_ALGORITHM) + 1:])
            raise AuthError(400, "InvalidArgument", "Authorization header is invalid.",
                            {"ArgumentName": "Authorization", "ArgumentValue": authorization})
        if has_v1_url:
            return self._v1_url(request, bucket, key)
        if has_v4_url:
            return self._v4_url(request, bucket, key)
        return ANONYMOUS

    # --- credentials --------------------------------------------------------------------
    def _principal(self, access_key_id: str, token: str | None) -> tuple[Principal, str]:
        """The principal an AccessKey id (and STS token) names, plus its secret."""
        principal = self.iam.principal_for(access_key_id)
        known_session = self.iam.session_for_token(token) if token else None
        if principal is None:
            if access_key_id.startswith("STS."):
                if known_session is not None:
                    raise AuthError(403, "AccessKeyIdAndSecurityTokenNotMatch",
                                    "The AccessKeyId and the SecurityToken do not match.",
                                    {"OSSAccessKeyId": access_key_id})
                raise AuthError(403, "InvalidSecurityToken",
                                "The security token you provided is invalid.",
                                {"OSSAccessKeyId": access_key_id})
            raise AuthError(403, "InvalidAccessKeyId",
                            "The OSS Access Key Id you provided does not exist in our records.",
                            {"OSSAccessKeyId": access_key_id})
        if isinstance(principal, Session):
            if not token or known_session is None:
                raise AuthError(403, "InvalidSecurityToken",
                                "The security token you provided is invalid.",
                                {"OSSAccessKeyId": access_key_id})
            if known_session is not principal:
                raise AuthError(403, "AccessKeyIdAndSecurityTokenNotMatch",
                                "The AccessKeyId and the SecurityToken do not match.",
                                {"OSSAccessKeyId": access_key_id})
            if principal.expiration <= self.clock.now():
                raise AuthError(403, "SecurityTokenExpired",
                                "The security token you provided has expired.",
                                {"OSSAccessKeyId": access_key_id,
                                 "Expiration": _iso_time(principal.expiration),
                                 "ServerTime": _iso_time(self.clock.now())})
        elif token:
            raise AuthError(403, "InvalidSecurityToken",
                            "A security token was sent with a permanent AccessKey.",
                            {"OSSAccessKeyId": access_key_id})
        return principal, principal.access_key_secret

    def _check_skew(self, request_time: float, text: str) -> None:
        now = self.clock.now()
        if abs(now - request_time) > MAX_SKEW_SECONDS:
            raise AuthError(403, "RequestTimeTooSkewed",
                            "The difference between the request time and the current time "
                            "is too large.",
                            {"RequestTime": text, "ServerTime": formatdate(now, usegmt=True),
                             "MaxAllowedSkewMilliseconds": str(MAX_SKEW_SECONDS * 1000)})

    def _check_not_expired(self, expires_at: float, shown: str) -> None:
        now = self.clock.now()
        if now > expires_at:
            raise AuthError(403, "AccessDenied", "Request has expired.",
                            {"Expires": shown, "ServerTime": _iso_time(now)})

    # --- V1 -------------------------------------------------------------------------------------
    def _v1_string_to_sign(self, request: Request, bucket: str, key: str,
                           date_slot: str) -> bytes:
        oss_headers = sorted(
            (name.lower(), value) for name, value in request.headers.items()
            if name.lower().startswith("x-oss-")
        )
        canonical_headers = b"".join(
            name.encode("ascii") + b":" + _as_bytes(value) + b"\n" for name, value in oss_headers)
        resource = f"/{bucket}/{key}" if bucket else "/"
        subresources = sorted((k, v) for k, v in request.params.items() if k in SUBRESOURCES)
        if subresources:
            resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
        return b"\n".join([
            request.method.encode("ascii"),
            _as_bytes(request.header("Content-MD5", "") or ""),
            _as_bytes(request.header("Content-Type", "") or ""),
            _as_bytes(date_slot),
            canonical_headers + resource.encode("utf-8"),
        ])

    def _v1_verify(self, access_key_id: str, secret: str, signature: str,
                   string_to_sign: bytes) -> None:
        expected = b64encode(hmac.new(secret.encode("utf-8"), string_to_sign,
                                      hashlib.sha1).digest()).decode("ascii")
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
            raise AuthError(403, "SignatureDoesNotMatch",
                            "The request signature we calculated does not match the signature "
                            "you provided. Check your key and signing method.",
                            {"OSSAccessKeyId": access_key_id, "SignatureProvided": signature,
                             "StringToSign": _as_text(string_to_sign),
                             "StringToSignBytes": " ".join(f"{b:02x}" for b in string_to_sign)})

    def _v1_header(self, request: Request, bucket: str, key: str, credential: str) -> Identity:
        access_key_id, sep, signature = credential.strip().rpartition(":")
        if not sep or not access_key_id or not signature:
            raise AuthError(400, "InvalidArgument", "Authorization header is invalid.",
                            {"ArgumentName": "Authorization", "ArgumentValue": "OSS " + credential})
        principal, secret = self._principal(access_key_id,
                                            request.header("x-oss-security-token"))
        date_slot = request.header("x-oss-date") or request.header("Date") or ""
        if not date_slot:
            raise AuthError(403, "AccessDenied", "Date header not exist.")
        try:
            request_time = parsedate_to_datetime(date_slot).timestamp()
        except (TypeError, ValueError, IndexError):
            raise AuthError(403, "AccessDenied", "Date header is invalid.",
                            {"RequestTime": date_slot}) from None
        self._check_skew(request_time, date_slot)
        self._v1_verify(access_key_id, secret, signature,
                        self._v1_string_to_sign(request, bucket, key, date_slot))
        return Identity(access_key_id, principal, "v1")

    def _v1_url(self, request: Request, bucket: str, key: str) -> Identity:
        params = request.params
        _require_query(params, _V1_URL_PARAMS)
        access_key_id, signature, expires = (params["OSSAccessKeyId"], params["Signature"],
                                             params["Expires"])
        try:
            expires_at = int(expires)
        except ValueError:
            raise AuthError(403, "AccessDenied", "Expires is invalid.",
                            {"Expires": expires}) from None
        principal, secret = self._principal(access_key_id, params.get("security-token"))
        self._check_not_expired(expires_at, _iso_time(expires_at))
        self._v1_verify(access_key_id, secret, signature,
                        self._v1_string_to_sign(request, bucket, key, expires))
        return Identity(access_key_id, principal, "v1-url")

    # --- V4 --------------------------------------------------------------------------------------
    def _v4_parse_credential(self, credential: str, request_date: str) -> tuple[str, str]:
        """Split ``AK/day/region/oss/aliyun_v4_request`` and check the scope."""
        parts = credential.split("/")
        if len(parts) != 5 or not parts[0]:
            raise AuthError(400, "InvalidArgument", "Credential is invalid.",
                            {"ArgumentName": "Credential", "ArgumentValue": credential})
        access_key_id, day, region, product, terminator = parts
        if terminator != V4_TERMINATOR:
            raise AuthError(400, "InvalidArgument",
                            "Invalid signing terminator in Credential.",
                            {"ArgumentName": "Credential", "ArgumentValue": credential})
        if product != self.product:
            raise AuthError(400, "InvalidArgument",
                            "Invalid signing product in Authorization header.",
                            {"ArgumentName": "Credential", "ArgumentValue": credential})
        if region != self.region:
            raise AuthError(400, "InvalidArgument",
                            "Invalid signing region in Authorization header.",
                            {"ArgumentName": "Credential", "ArgumentValue": credential,
                             "ExpectedRegion": self.region})
        if day != request_date[:8]:
            raise AuthError(400, "InvalidArgument",
                            "Invalid signing date in Authorization header.",
                            {"ArgumentName": "Credential", "ArgumentValue": credential})
        return access_key_id, day

    @staticmethod
    def _v4_time(value: str) -> float:
        try:
            return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
        except ValueError:
            raise AuthError(400, "InvalidArgument", "x-oss-date is invalid.",
                            {"ArgumentName": "x-oss-date", "ArgumentValue": value}) from None

    def _v4_string_to_sign(self, request: Request, bucket: str, key: str, request_date: str,
                           day: str, additional: list[str],
                           query: Mapping[str, str]) -> tuple[bytes, bytes]:
        """The canonical request and the string to sign built from it."""
        uri = _uri_encode(f"/{bucket}/{key}" if bucket else "/", keep_slash=True)
        encoded = sorted((_uri_encode(k, False), _uri_encode(v, False)) for k, v in query.items())
        canonical_query = "&".join(f"{k}={v}" if v else k for k, v in encoded)
        wanted = set(additional)
        headers = sorted(
            (name.lower(), value) for name, value in request.headers.items()
            if name.lower().startswith("x-oss-") or name.lower() in _V4_ALWAYS_SIGNED
            or name.lower() in wanted
        )
        canonical_headers = b"".join(
            name.encode("ascii") + b":" + _as_bytes(value) + b"\n" for name, value in headers)
        payload = request.header("x-oss-content-sha256") or UNSIGNED_PAYLOAD
        canonical_request = b"\n".join([
            request.method.encode("ascii"), uri.encode("ascii"), canonical_query.encode("ascii"),
            canonical_headers, ";".join(additional).encode("ascii"), _as_bytes(payload),
        ])
        scope = f"{day}/{self.region}/{self.product}/{V4_TERMINATOR}"
        string_to_sign = "\n".join([V4_ALGORITHM, request_date, scope,
                                    hashlib.sha256(canonical_request).hexdigest()])
        return canonical_request, string_to_sign.encode("utf-8")

    def _v4_verify(self, access_key_id: str, secret: str, day: str, signature: str,
                   canonical_request: bytes | None, string_to_sign: bytes) -> None:
        """(A form has no canonical request: its policy is the string to sign.)"""
        key = _v4_signing_key(secret, day, self.region, self.product)
        expected = hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8")):
            details = {"OSSAccessKeyId": access_key_id, "SignatureProvided": signature,
                       "StringToSign": _as_text(string_to_sign)}
            if canonical_request is not None:
                details["CanonicalRequest"] = _as_text(canonical_request)
            raise AuthError(403, "SignatureDoesNotMatch",
                            "The request signature we calculated does not match the signature "
                            "you provided. Check your key and signing method.", details)

    @staticmethod
    def _additional(text: str) -> list[str]:
        return sorted({h.strip().lower() for h in text.split(";") if h.strip()})

    def _v4_header(self, request: Request, bucket: str, key: str, rest: str) -> Identity:
        fields: dict[str, str] = {}
        for item in rest.split(","):
            name, sep, value = item.strip().partition("=")
            if not sep:
                raise AuthError(400, "InvalidArgument", "Authorization header is invalid.",
                                {"ArgumentName": "Authorization", "ArgumentValue": rest})
            fields[name.strip()] = value.strip()
        if "Credential" not in fields or "Signature" not in fields:
            raise AuthError(400, "InvalidArgument", "Authorization header is invalid.",
                            {"ArgumentName": "Authorization", "ArgumentValue": rest})
        request_date = request.header("x-oss-date") or ""
        if not request_date:
            raise AuthError(403, "AccessDenied", "x-oss-date header not exist.")
        request_time = self._v4_time(request_date)
        access_key_id, day = self._v4_parse_credential(fields["Credential"], request_date)
        principal, secret = self._principal(access_key_id,
                                            request.header("x-oss-security-token"))
        self._check_skew(request_time, request_date)
        additional = self._additional(fields.get("AdditionalHeaders", ""))
        canonical, string_to_sign = self._v4_string_to_sign(
            request, bucket, key, request_date, day, additional, request.params)
        self._v4_verify(access_key_id, secret, day, fields["Signature"], canonical,
                        string_to_sign)
        return Identity(access_key_id, principal, "v4")

    def _v4_url(self, request: Request, bucket: str, key: str) -> Identity:
        params = request.params
        _require_query(params, _V4_URL_PARAMS)
        if params["x-oss-signature-version"] != V4_ALGORITHM:
            raise AuthError(400, "InvalidArgument", "Unsupported signature version.",
                            {"ArgumentName": "x-oss-signature-version",
                             "ArgumentValue": params["x-oss-signature-version"]})
        request_date = params["x-oss-date"]
        request_time = self._v4_time(request_date)
        try:
            expires = int(params["x-oss-expires"])
        except ValueError:
            expires = 0
        if not 1 <= expires <= V4_MAX_EXPIRES:
            raise AuthError(400, "InvalidArgument",
                            f"x-oss-expires must be between 1 and {V4_MAX_EXPIRES} seconds.",
                            {"ArgumentName": "x-oss-expires",
                             "ArgumentValue": params["x-oss-expires"]})
        access_key_id, day = self._v4_parse_credential(params["x-oss-credential"], request_date)
        principal, secret = self._principal(access_key_id, params.get("x-oss-security-token"))
        if request_time - self.clock.now() > MAX_SKEW_SECONDS:
            self._check_skew(request_time, request_date)  # signed in the future
        self._check_not_expired(request_time + expires, _iso_time(request_time + expires))
        additional = self._additional(params.get("x-oss-additional-headers", ""))
        query = {k: v for k, v in params.items() if k != "x-oss-signature"}
        canonical, string_to_sign = self._v4_string_to_sign(
            request, bucket, key, request_date, day, additional, query)
        self._v4_verify(access_key_id, secret, day, params["x-oss-signature"], canonical,
                        string_to_sign)
        return Identity(access_key_id, principal, "v4-url")

    # --- PostObject forms -------------------------------------------------------------
    def authenticate_form(self, fields: Mapping[str, str]) -> Identity:
        """Identify and verify the signer of a PostObject form (``fields`` by lowercased
        name): V4 (``x-oss-signature`` over the base64 policy with the day's signing key),
        V1 (``Signature``, HMAC-SHA1 over the policy) or anonymous (no signature field).
        The STS token is the ``x-oss-security-token`` field. Headers and the query are
        not looked at: OSS ignores them for PostObject."""
        v1 = any(name in fields for name in _V1_FORM_FIELDS)
        v4 = any(name in fields for name in _V4_FORM_FIELDS)
        if v1 and v4:
            raise AuthError(400, "InvalidArgument", "Only one auth mechanism allowed; the "
                            "form carries both V1 and V4 signature fields.")
        if not (v1 or v4):
            return ANONYMOUS
        missing = [name for name in (*(_V4_FORM_FIELDS if v4 else _V1_FORM_FIELDS), "policy")
                   if not fields.get(name)]
        if missing:
            raise AuthError(403, "AccessDenied",
                            f"Missing {', '.join(missing)} in the form fields.")
        policy = fields["policy"].encode("utf-8")
        token = fields.get("x-oss-security-token")
        if v1:
            access_key_id = fields["ossaccesskeyid"]
            principal, secret = self._principal(access_key_id, token)
            self._v1_verify(access_key_id, secret, fields["signature"], policy)
            return Identity(access_key_id, principal, "v1-form")
        if fields["x-oss-signature-version"] != V4_ALGORITHM:
            raise AuthError(400, "InvalidArgument", "Unsupported signature version.",
                            {"ArgumentName": "x-oss-signature-version",
                             "ArgumentValue": fields["x-oss-signature-version"]})
        self._v4_time(fields["x-oss-date"])
        access_key_id, day = self._v4_parse_credential(fields["x-oss-credential"],
                                                       fields["x-oss-date"])
        principal, secret = self._principal(access_key_id, token)
        self._v4_verify(access_key_id, secret, day, fields["x-oss-signature"], None, policy)
        return Identity(access_key_id, principal, "v4-form")
