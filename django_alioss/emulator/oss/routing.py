"""Where a request is addressed (bucket and key, by path, virtual host or CNAME) and which
OSS operation it asks for, from one table of request shapes."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import unquote, unquote_to_bytes

from ..auth import SUBRESOURCES
from ..httpserver import Request
from .wire import RESPONSE_OVERRIDES

MAX_KEY_BYTES = 1023
UNSUPPORTED = "Unsupported"

_ENDPOINT_HOST = re.compile(r"(oss-[a-z0-9-]+|[a-z0-9-]+\.oss)\.aliyuncs\.com")
#: Sub-resources any operation may carry (STS tokens, GetObject's header overrides).
_ALWAYS_ALLOWED_PARAMS = frozenset({"security-token", "x-oss-security-token", *RESPONSE_OVERRIDES})


@dataclass(frozen=True)
class Route:
    """Where a request is addressed and what it asks for.

    ``key`` is ``""`` for bucket and service operations; ``key_error`` says why the
    raw key could not be used (it is answered with InvalidObjectName).
    """

    bucket: str
    key: str
    operation: str
    style: str  # "path", "virtual" or "cname"
    key_error: str | None = None


@dataclass(frozen=True)
class Rule:
    """One request shape. Rules are tried in order; the first whose selectors hold
    decides: its ``operation`` if the request carries no sub-resource beyond
    ``trigger`` and ``allowed``, else Unsupported.

    Selectors: ``scope`` (``service``: no bucket; ``bucket``: no key; ``object``), the
    method, the ``trigger`` parameter (present), a ``header`` (present) and a
    ``param`` with a given value.
    """

    scope: str
    method: str
    operation: str
    trigger: str | None = None
    allowed: frozenset[str] = frozenset()
    header: str | None = None
    param: tuple[str, str] | None = None

    def selects(self, params: Mapping[str, str], headers: Message) -> bool:
        return ((self.trigger is None or self.trigger in params)
                and (self.header is None or bool(headers.get(self.header)))
                and (self.param is None or params.get(self.param[0]) == self.param[1]))

    def accepts(self, subresources: Collection[str]) -> bool:
        permitted = self.allowed | ({self.trigger} if self.trigger else set())
        return set(subresources) <= permitted


def _rules() -> tuple[Rule, ...]:
    copy = "x-oss-copy-source"
    token = frozenset({"continuation-token"})
    return (
        Rule("service", "GET", "ListBuckets"),
        Rule("bucket", "PUT", "PutBucketAcl", "acl"),
        Rule("bucket", "PUT", "PutBucketCors", "cors"),
        Rule("bucket", "PUT", "PutBucket"),
        Rule("bucket", "DELETE", "DeleteBucketCors", "cors"),
        Rule("bucket", "DELETE", "DeleteBucket"),
        Rule("bucket", "POST", "DeleteMultipleObjects", "delete"),
        Rule("bucket", "POST", "PostObject"),
        Rule("bucket", "OPTIONS", "Options"),
        Rule("bucket", "GET", "GetBucketCors", "cors"),
        Rule("bucket", "GET", "GetBucketAcl", "acl"),
        Rule("bucket", "GET", "GetBucketInfo", "bucketInfo"),
        Rule("bucket", "GET", "GetBucketLocation", "location"),
        Rule("bucket", "GET", "ListLiveChannel", "live"),
        Rule("bucket", "GET", "ListMultipartUploads", "uploads"),
        Rule("bucket", "GET", "ListObjectsV2", allowed=token, param=("list-type", "2")),
        Rule("bucket", "GET", "ListObjects", allowed=token),
        Rule("object", "PUT", "PutObjectACL", "acl"),
        Rule("object", "PUT", "PutSymlink", "symlink"),
        Rule("object", "PUT", "PutObjectTagging", "tagging"),
        Rule("object", "PUT", "UploadPartCopy", "uploadId", frozenset({"partNumber"}),
             header=copy),
        Rule("object", "PUT", "UploadPartCopy", "partNumber", frozenset({"uploadId"}),
             header=copy),
        Rule("object", "PUT", "UploadPart", "uploadId", frozenset({"partNumber"})),
        Rule("object", "PUT", "UploadPart", "partNumber", frozenset({"uploadId"})),
        Rule("object", "PUT", "CopyObject", header=copy),
        Rule("object", "PUT", "PutObject"),
        Rule("object", "GET", "GetObjectACL", "acl"),
        Rule("object", "GET", "GetSymlink", "symlink"),
        Rule("object", "GET", "GetObjectTagging", "tagging"),
        Rule("object", "GET", "ListParts", "uploadId"),
        Rule("object", "GET", "GetObject", allowed=frozenset({"x-oss-process"})),
        Rule("object", "HEAD", "GetObjectMeta", "objectMeta"),
        Rule("object", "HEAD", "HeadObject"),
        Rule("object", "DELETE", "AbortMultipartUpload", "uploadId"),
        Rule("object", "DELETE", "DeleteObjectTagging", "tagging"),
        Rule("object", "DELETE", "DeleteObject"),
        Rule("object", "POST", "AppendObject", "append", frozenset({"position"})),
        Rule("object", "POST", "InitiateMultipartUpload", "uploads", frozenset({"sequential"})),
        Rule("object", "POST", "CompleteMultipartUpload", "uploadId"),
        Rule("object", "OPTIONS", "Options"),
    )


RULES = _rules()


def operation_name(method: str, params: Mapping[str, str], headers: Message, bucket: str,
                   has_key: bool) -> str:
    """The OSS API name for a request shape; ``Unsupported`` for what is not emulated."""
    scope = "service" if not bucket else "object" if has_key else "bucket"
    subresources = {p for p in params if p in SUBRESOURCES} - _ALWAYS_ALLOWED_PARAMS
    for rule in RULES:
        if rule.scope == scope and rule.method == method and rule.selects(params, headers):
            return rule.operation if rule.accepts(subresources) else UNSUPPORTED
    return UNSUPPORTED


# --- keys ------------------------------------------------------------------------------------
def key_error(key: str) -> str | None:
    """Why ``key`` cannot name an object (answered InvalidObjectName), or ``None``."""
    if not key:
        return "The object name must not be empty."
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return "The object name is not valid UTF-8."
    if size > MAX_KEY_BYTES:
        return f"The object name is longer than {MAX_KEY_BYTES} bytes."
    if key.startswith(("/", "\\")):
        return "The object name must not start with '/' or '\\'."
    return None


def decode_key(raw: str) -> tuple[str, str | None]:
    """The object key a raw (percent-encoded) path segment names, or why it is invalid."""
    try:
        key = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return "", "The object name is not valid UTF-8."
    return key, key_error(key)


# --- hosts ----------------------------------------------------------------------------------
def host_name(host: str) -> str:
    """The Host header's name, lowercased, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name
    return host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_service_host(host: str, endpoint_hosts: Collection[str]) -> bool:
    """Whether ``host`` addresses the service itself (path-style requests): no host, a
    dot-less name such as ``localhost``, an IP, an ``oss-<region>...aliyuncs.com``
    endpoint or one of ``endpoint_hosts``."""
    return (not host or "." not in host or _is_ip(host)
            or host in {h.lower() for h in endpoint_hosts}
            or _ENDPOINT_HOST.fullmatch(host) is not None)


def route_request(request: Request, cname_domains: Mapping[str, str],
                  endpoint_hosts: Collection[str]) -> Route:
    """Bucket, key and operation of a request (reads headers only, never the body)."""
    host = host_name(request.host)
    path = request.raw_path or "/"
    cnames = {name.lower(): bucket for name, bucket in cname_domains.items()}
    if host in cnames:
        bucket, raw_key, style = cnames[host], path[1:], "cname"
    elif is_service_host(host, endpoint_hosts):
        raw_bucket, _, raw_key = path[1:].partition("/")
        bucket, style = unquote(raw_bucket), "path"
    else:
        bucket, raw_key, style = host.split(".", 1)[0], path[1:], "virtual"
    key, error = decode_key(raw_key) if raw_key else ("", None)
    operation = operation_name(request.method, request.params, request.headers, bucket,
                               bool(raw_key))
    return Route(bucket, key, operation, style, error)
