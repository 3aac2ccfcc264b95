"""Fast, I/O-free presigned URLs for Alibaba Cloud OSS.

The output is byte-identical to oss2 2.19.1 ``Bucket.sign_url`` (signature V1 and V4,
with or without an STS security token) for the same inputs, without importing oss2.
Everything that does not depend on the object key is computed once, in
:class:`URLSigner`; the V4 signing key is cached per (secret, day, region).

Building blocks, usable on their own:

- :func:`normalize_endpoint` and :func:`url_prefix`: the URL before the quoted key,
  following oss2's endpoint rules (IP/localhost -> path style, CNAME, virtual host).
- :func:`v1_query` and :func:`v4_query`: the encoded query string of a presigned URL.
- :func:`v4_signing_key`: the cached V4 HMAC-SHA256 signing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import socket
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote, urlparse

SIGNATURE_VERSIONS = ("v1", "v4")
METHODS = frozenset({"GET", "PUT", "HEAD", "DELETE", "POST"})
V4_MAX_EXPIRES = 604800
"""Longest validity OSS accepts for a V4 presigned URL, in seconds (7 days)."""

V4_ALGORITHM = "OSS4-HMAC-SHA256"
_PRODUCT = "oss"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_V4_SIGNED_PLAIN_HEADERS = frozenset({"content-type", "content-md5"})

# Query parameters the V1 signature covers: oss2 2.19.1 ProviderAuth._subresource_key_set.
V1_SUBRESOURCES = frozenset({
    "response-content-type", "response-content-language", "response-cache-control",
    "logging", "response-content-encoding", "acl", "uploadId", "uploads", "partNumber",
    "group", "link", "delete", "website", "location", "objectInfo", "objectMeta",
    "response-expires", "response-content-disposition", "cors", "lifecycle", "restore",
    "qos", "referer", "stat", "bucketInfo", "append", "position", "security-token",
    "live", "comp", "status", "vod", "startTime", "endTime", "x-oss-process", "symlink",
    "callback", "callback-var", "tagging", "encryption", "versions", "versioning",
    "versionId", "policy", "requestPayment", "x-oss-traffic-limit", "qosInfo",
    "asyncFetch", "x-oss-request-payer", "sequential", "inventory", "inventoryId",
    "continuation-token", "worm", "wormId", "wormExtend", "replication",
    "replicationLocation", "replicationProgress", "transferAcceleration", "cname",
    "metaQuery", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow", "resourceGroup", "style", "styleName",
    "x-oss-async-process", "regionList", "x-oss-write-get-object-response",
    "bucketArchiveDirectRead", "httpsConfig", "redundancyTransition",
    "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid", "accessPoint",
    "accessPointPolicy", "publicAccessBlock", "x-oss-access-point-name",
    "requesterQosInfo", "qosRequester", "resourcePoolInfo", "resourcePool",
    "resourcePoolBuckets",
})

# Query parameters the signers set themselves; callers may not pass them in `params`.
V1_RESERVED_PARAMS = frozenset({"security-token", "OSSAccessKeyId", "Expires", "Signature"})
V4_RESERVED_PARAMS = frozenset({
    "x-oss-security-token", "x-oss-date", "x-oss-expires", "x-oss-signature-version",
    "x-oss-credential", "x-oss-additional-headers", "x-oss-signature",
})

_ENDPOINT_RE = re.compile(r"^([a-zA-Z]+://)?[\w.-]+(:\d+)?$")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")

Params = Mapping[str, str | None]
Headers = Mapping[str, str]


@lru_cache(maxsize=256)
def _quote_cached(value: str) -> str:
    """``quote(value, safe='')`` for values that repeat across calls (AK ids with their
    scope, STS tokens of several hundred characters): cached (bounded)."""
    return quote(value, safe="")


@lru_cache(maxsize=8)
def _v4_timestamp(now: int) -> str:
    """``YYYYMMDDTHHMMSSZ`` (UTC) for epoch second `now`, as oss2 formats ``x-oss-date``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


@lru_cache(maxsize=64)
def _v4_fixed(access_key_id: str, security_token: str | None, region: str, now: int,
              expires: int) -> tuple[str, str, tuple[tuple[str, str], ...], str, str]:
    """What a V4 presign at second `now` shares with every other one of that second:
    ``(stamp, scope, items, query, canonical_query)``, the query parameters the signer
    sets (encoded) in URL order and, joined, in URL and in sorted (canonical) order.
    Cached (bounded): within one second, all URLs signed with one key reuse it."""
    stamp = _v4_timestamp(now)
    scope = f"{stamp[:8]}/{region}/{_PRODUCT}/aliyun_v4_request"
    items: list[tuple[str, str]] = []
    if security_token:
        items.append(("x-oss-security-token", _quote_cached(security_token)))
    items.append(("x-oss-date", stamp))
    items.append(("x-oss-expires", str(expires)))
    items.append(("x-oss-signature-version", V4_ALGORITHM))
    items.append(("x-oss-credential", _quote_cached(access_key_id + "/" + scope)))
    return (stamp, scope, tuple(items), _join_query(items), _join_query(sorted(items)))


def _join_query(items: Iterable[tuple[str, str]]) -> str:
    return "&".join(k + "=" + v if v else k for k, v in items)


@lru_cache(maxsize=64)
def v4_signing_key(access_key_secret: str, day: str, region: str) -> bytes:
    """Return the V4 signing key for `day` (``YYYYMMDD``) and `region`; cached (bounded)."""
    key = hmac.new(("aliyun_v4" + access_key_secret).encode(), day.encode(), hashlib.sha256)
    key = hmac.new(key.digest(), region.encode(), hashlib.sha256)
    key = hmac.new(key.digest(), _PRODUCT.encode(), hashlib.sha256)
    return hmac.new(key.digest(), b"aliyun_v4_request", hashlib.sha256).digest()


def normalize_endpoint(endpoint: str) -> tuple[str, str]:
    """Return ``(scheme, netloc)`` for `endpoint` as oss2 normalises it.

    A missing scheme means ``http``; the host is lowercased; any path is dropped.
    Raises ValueError for an endpoint oss2 rejects.
    """
    url = endpoint.strip()
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    try:
        parsed = urlparse(url)
        host, port = parsed.hostname, parsed.port
    except ValueError as exc:
        raise ValueError(f"invalid OSS endpoint {endpoint!r}: {exc}") from None
    if not host:
        raise ValueError(f"invalid OSS endpoint {endpoint!r}: no host")
    netloc = host if port is None else f"{host}:{port}"
    if not _ENDPOINT_RE.match(f"{parsed.scheme}://{netloc}"):
        raise ValueError(f"invalid OSS endpoint {endpoint!r}")
    return parsed.scheme, netloc


def _is_ip_or_localhost(netloc: str) -> bool:
    """oss2's rule: ``localhost`` or anything ``inet_aton`` accepts (IPv4 literals)."""
    host = netloc.split(":")[0]
    if host == "localhost":
        return True
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def validate_bucket_name(bucket_name: str) -> str:
    """Return `bucket_name` stripped; ValueError unless it is a valid OSS bucket name."""
    name = bucket_name.strip()
    if not _BUCKET_RE.fullmatch(name):
        raise ValueError(
            f"invalid bucket name {bucket_name!r}: 3-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit and not ending with '-'"
        )
    return name


def url_prefix(
    endpoint: str, bucket_name: str, *, is_cname: bool = False, is_path_style: bool = False
) -> str:
    """Return the object URL up to (and including) the ``/`` before the quoted key.

    Like oss2's ``_UrlMaker``: an IP or ``localhost`` endpoint gives path style
    (``scheme://host/bucket/``) whatever the flags; then `is_cname` gives
    ``scheme://host/``; then `is_path_style`; else virtual host ``scheme://bucket.host/``.
    """
    scheme, netloc = normalize_endpoint(endpoint)
    bucket_name = validate_bucket_name(bucket_name)
    if _is_ip_or_localhost(netloc) or (is_path_style and not is_cname):
        return f"{scheme}://{netloc}/{bucket_name}/"
    if is_cname:
        return f"{scheme}://{netloc}/"
    return f"{scheme}://{bucket_name}.{netloc}/"


def _query_item(key: str, value: str | None) -> str:
    """One URL query item as oss2 writes it: ``k=v`` percent-encoded, bare ``k`` if empty."""
    if value:
        return quote(key, safe="") + "=" + quote(value, safe="")
    return quote(key, safe="")


def encode_query(params: Params) -> str:
    """Encode `params` in order as oss2 does (no leading ``?``)."""
    return "&".join(_query_item(k, v) for k, v in params.items())


def _check_params(params: Params, reserved: frozenset[str]) -> None:
    clash = params.keys() & reserved
    if clash:
        raise ValueError(f"params may not set {sorted(clash)}: the signer sets them")


def _lower_headers(headers: Headers) -> dict[str, str]:
    """Header names lowercased; a later spelling of the same name wins (as in oss2)."""
    return {k.lower(): v for k, v in headers.items()}


def v1_query(
    *,
    method: str,
    bucket_name: str,
    key: str,
    access_key_id: str,
    access_key_secret: str,
    expiration: int,
    security_token: str | None = None,
    params: Params | None = None,
    headers: Headers | None = None,
) -> str:
    """Return the query string (no ``?``) of a V1 presigned URL valid until epoch `expiration`.

    `params` come first in their order, then ``security-token`` (if any),
    ``OSSAccessKeyId``, ``Expires`` and ``Signature``. The signature covers the method,
    Content-MD5 / Content-Type / ``x-oss-*`` `headers`, ``/bucket/key`` and the
    sub-resource `params` (:data:`V1_SUBRESOURCES`).
    """
    expires_text = str(expiration)
    if params:
        _check_params(params, V1_RESERVED_PARAMS)
        signed = {k: v for k, v in params.items() if k in V1_SUBRESOURCES}
        prefix = encode_query(params) + "&"
    else:
        signed = {}
        prefix = ""
    if security_token:
        signed["security-token"] = security_token
        prefix += "security-token=" + _quote_cached(security_token) + "&"
    resource = f"/{bucket_name}/{key}"
    if signed:
        resource += "?" + "&".join(k + "=" + v if v else k for k, v in sorted(signed.items()))

    if headers:
        lowered = _lower_headers(headers)
        content = lowered.get("content-md5", "") + "\n" + lowered.get("content-type", "")
        date = lowered.get("x-oss-date") or expires_text
        oss_headers = "".join(
            k + ":" + v + "\n" for k, v in sorted(lowered.items()) if k.startswith("x-oss-")
        )
    else:
        content, date, oss_headers = "\n", expires_text, ""

    string_to_sign = f"{method}\n{content}\n{date}\n{oss_headers}{resource}"
    digest = hmac.new(access_key_secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    signature = quote(base64.b64encode(digest), safe="")
    return (
        f"{prefix}OSSAccessKeyId={_quote_cached(access_key_id)}"
        f"&Expires={expires_text}&Signature={signature}"
    )


def v4_query(
    *,
    method: str,
    bucket_name: str,
    key: str,
    region: str,
    access_key_id: str,
    access_key_secret: str,
    now: int,
    expires: int,
    security_token: str | None = None,
    params: Params | None = None,
    headers: Headers | None = None,
    quoted_key: str | None = None,
) -> str:
    """Return the query string (no ``?``) of a V4 presigned URL signed at epoch second `now`.

    `params` come first in their order, then ``x-oss-security-token`` (if any),
    ``x-oss-date``, ``x-oss-expires`` (= `expires`, seconds), ``x-oss-signature-version``,
    ``x-oss-credential`` and ``x-oss-signature``. The signature covers every query
    parameter, Content-MD5 / Content-Type / ``x-oss-*`` `headers` and ``/bucket/key``.
    `quoted_key` may pass ``quote(key, safe='/')`` when the caller already has it.
    """
    stamp, scope, fixed, query, canonical_query = _v4_fixed(
        access_key_id, security_token, region, now, expires)
    if params:
        _check_params(params, V4_RESERVED_PARAMS)
        items = [(quote(k, safe=""), quote(v, safe="") if v else "") for k, v in params.items()]
        items.extend(fixed)
        query, canonical_query = _join_query(items), _join_query(sorted(items))

    if headers:
        lowered = _lower_headers(headers)
        canonical_headers = "".join(
            k + ":" + v + "\n"
            for k, v in sorted(lowered.items())
            if k.startswith("x-oss-") or k in _V4_SIGNED_PLAIN_HEADERS
        )
        payload = lowered.get("x-oss-content-sha256", _UNSIGNED_PAYLOAD)
    else:
        canonical_headers, payload = "", _UNSIGNED_PAYLOAD

    if quoted_key is None:
        quoted_key = quote(key, safe="/")
    canonical_request = (
        f"{method}\n/{bucket_name}/{quoted_key}\n{canonical_query}\n"
        f"{canonical_headers}\n\n{payload}"
    )
    string_to_sign = (
        f"{V4_ALGORITHM}\n{stamp}\n{scope}\n"
        + hashlib.sha256(canonical_request.encode()).hexdigest()
    )
    signature = hmac.new(
        v4_signing_key(access_key_secret, stamp[:8], region),
        string_to_sign.encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"{query}&x-oss-signature={signature}"


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"object key must be a non-blank string, got {key!r}")


def _check_presign_arguments(key: str, method: str, access_key_id: str,
                             access_key_secret: str, expires: int) -> None:
    _check_key(key)
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if not access_key_id or not access_key_secret:
        raise ValueError("access_key_id and access_key_secret must be non-empty")
    if type(expires) is not int or expires < 1:
        raise ValueError(f"expires must be a positive int of seconds, got {expires!r}")


class URLSigner:
    """Presigns object URLs for one bucket behind one endpoint; immutable, thread-safe.

    `signature_version` is ``"v1"`` or ``"v4"``; V4 needs `region`. The endpoint and
    bucket name follow oss2's rules (see :func:`url_prefix`). Credentials are passed to
    each :meth:`presign` call so that rotating STS credentials need no new signer.
    """

    __slots__ = ("_prefix", "bucket_name", "region", "signature_version")

    def __init__(
        self,
        endpoint: str,
        bucket_name: str,
        *,
        region: str | None = None,
        signature_version: str = "v4",
        is_cname: bool = False,
        is_path_style: bool = False,
    ) -> None:
        if signature_version not in SIGNATURE_VERSIONS:
            raise ValueError(
                f"signature_version must be one of {', '.join(SIGNATURE_VERSIONS)}, "
                f"got {signature_version!r}"
            )
        if signature_version == "v4" and not region:
            raise ValueError("signature_version 'v4' needs a region, e.g. 'cn-hangzhou'")
        self._prefix = url_prefix(
            endpoint, bucket_name, is_cname=is_cname, is_path_style=is_path_style
        )
        self.bucket_name = validate_bucket_name(bucket_name)
        self.region = region or ""
        self.signature_version = signature_version

    def __repr__(self) -> str:
        return (
            f"URLSigner({self._prefix!r}, bucket_name={self.bucket_name!r}, "
            f"region={self.region!r}, signature_version={self.signature_version!r})"
        )

    @property
    def bucket_url(self) -> str:
        """The bucket's URL, where browser forms POST (PostObject): what comes before the
        key in object URLs (``scheme://bucket.host/``, ``scheme://host/bucket/`` ...)."""
        return self._prefix

    def unsigned_url(
        self, key: str, params: Params | None = None, slash_safe: bool = False
    ) -> str:
        """Return the object URL without authentication (``?query`` only if `params`)."""
        _check_key(key)
        url = self._prefix + quote(key, safe="/" if slash_safe else "")
        return url + "?" + encode_query(params) if params else url

    def presign(
        self,
        key: str,
        *,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        expires: int = 3600,
        method: str = "GET",
        params: Params | None = None,
        headers: Headers | None = None,
        slash_safe: bool = False,
        now: float | None = None,
    ) -> str:
        """Return a URL granting `method` on `key` for `expires` seconds from `now`.

        `now` is epoch seconds (default ``time.time()``), truncated to whole seconds.
        `headers` are those the request must then carry (e.g. Content-Type of a PUT);
        `params` are extra query parameters (e.g. ``response-content-disposition``).
        Raises ValueError on bad arguments (V4: `expires` must be 1..604800).
        """
        _check_presign_arguments(key, method, access_key_id, access_key_secret, expires)
        second = int(time.time() if now is None else now)
        if self.signature_version == "v1":
            if key[0] == "?":
                raise ValueError("with signature V1 an object key cannot start with '?'")
            query = v1_query(
                method=method,
                bucket_name=self.bucket_name,
                key=key,
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                expiration=second + expires,
                security_token=security_token,
                params=params,
                headers=headers,
            )
            return self._prefix + quote(key, safe="/" if slash_safe else "") + "?" + query
        if expires > V4_MAX_EXPIRES:
            raise ValueError(f"V4 expires must be 1..{V4_MAX_EXPIRES} seconds, got {expires}")
        uri_key = quote(key, safe="/")
        query = v4_query(
            method=method,
            bucket_name=self.bucket_name,
            key=key,
            region=self.region,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            now=second,
            expires=expires,
            security_token=security_token,
            params=params,
            headers=headers,
            quoted_key=uri_key,
        )
        url_key = uri_key if slash_safe else uri_key.replace("/", "%2F")  # = quote(key, safe="")
        return self._prefix + url_key + "?" + query
