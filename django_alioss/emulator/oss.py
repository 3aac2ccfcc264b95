"""The emulated OSS service: addressing, authentication, authorization, operations.

:class:`OSSService` is hosted by :class:`~.httpserver.ServiceServer`. For every request
it works out the bucket and key (path-style, virtual-host or CNAME addressing), checks
the signature (:mod:`.auth`), asks the IAM registry whether the signer may act (or
the ACL, for anonymous requests), runs the operation against a :class:`~.store.Store`
and answers in OSS's wire shapes, errors included.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Union
from urllib.parse import quote, unquote, unquote_to_bytes

from .auth import SUBRESOURCES, AuthError, Identity, Verifier
from .controls import Controls
from .httpserver import Request, Response, new_request_id
from .iam import IAM, Session, authorize
from .policy import evaluate
from .store import (
    BUCKET_ACLS,
    MIN_PART_SIZE,
    OBJECT_ACLS,
    BucketAlreadyExists,
    BucketInfo,
    BucketNotEmpty,
    InvalidPart,
    InvalidPartOrder,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectAlreadyExists,
    ObjectAttributes,
    ObjectRecord,
    PartTooSmall,
    Store,
    StoreError,
    WrittenBlob,
)

logger = logging.getLogger("django_alioss.emulator")

MAX_OBJECT_SIZE = 5 * 1024 ** 3
MAX_KEY_BYTES = 1023
MAX_PART_NUMBER = 10000
MAX_DELETE_KEYS = 1000
MAX_XML_BODY = 4 * 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
STANDARD_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding",
                    "Content-Language", "Expires")
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
    "response-content-language": "Content-Language",
    "response-cache-control": "Cache-Control",
    "response-expires": "Expires",
}
ACL_DENIED_MESSAGE = "You have no right to access this object because of bucket acl."

#: OSS error code -> the EC value OSS puts in ``<EC>`` and ``x-oss-ec``.
ERROR_EC: dict[str, str] = {
    "AccessDenied": "0003-00000001",
    "AccessKeyIdAndSecurityTokenNotMatch": "0002-00000050",
    "BucketAlreadyExists": "0015-00000104",
    "BucketNotEmpty": "0015-00000301",
    "EntityTooLarge": "0016-00000208",
    "EntityTooSmall": "0042-00000204",
    "FileAlreadyExists": "0006-00000013",
    "InternalError": "0001-00000001",
    "InvalidAccessKeyId": "0002-00000902",
    "InvalidArgument": "0016-00000001",
    "InvalidBucketName": "0015-00000001",
    "InvalidDigest": "0016-00000204",
    "InvalidObjectName": "0016-00000005",
    "InvalidPart": "0042-00000202",
    "InvalidPartOrder": "0042-00000203",
    "InvalidRange": "0017-00000103",
    "InvalidRequest": "0016-00000002",
    "InvalidSecurityToken": "0002-00000054",
    "MalformedXML": "0016-00000601",
    "NoSuchBucket": "0015-00000101",
    "NoSuchKey": "0026-00000001",
    "NoSuchUpload": "0042-00000002",
    "NotImplemented": "0001-00000501",
    "PreconditionFailed": "0026-00000101",
    "RequestTimeTooSkewed": "0002-00000504",
    "SecurityTokenExpired": "0002-00000052",
    "ServiceUnavailable": "0001-00000503",
    "SignatureDoesNotMatch": "0002-00000040",
}
RAM_DENIED_EC = "0003-00000301"

XmlValue = Union[str, int, bool, None, "XmlContent"]
XmlContent = list[tuple[str, XmlValue]]


class OSSError(Exception):
    """An error answered in OSS's shape; ``details`` become extra XML elements."""

    def __init__(self, status: int, code: str, message: str,
                 details: Mapping[str, Any] | None = None, *, ec: str | None = None,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.ec = ec or ERROR_EC.get(code, "0001-00000000")
        self.headers = list(headers)


# --- XML and formatting helpers ------------------------------------------------------------------
def _fill(parent: ET.Element, content: XmlContent) -> None:
    for tag, value in content:
        child = ET.SubElement(parent, tag)
        if isinstance(value, list):
            _fill(child, value)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def xml_document(root: str, content: XmlContent) -> bytes:
    """``<?xml ...?>`` plus ``<root>`` holding ``content`` (``(tag, value)`` pairs; a
    list value nests, repeated tags repeat)."""
    element = ET.Element(root)
    _fill(element, content)
    return XML_DECLARATION + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def _details_content(details: Mapping[str, Any]) -> XmlContent:
    return [(k, _details_content(v) if isinstance(v, Mapping) else v) for k, v in details.items()]


def http_date(epoch: float) -> str:
    """``Tue, 08 Oct 2024 06:49:14 GMT`` (``Last-Modified`` and friends)."""
    return formatdate(int(epoch), usegmt=True)


def iso_date(epoch: float) -> str:
    """``2024-10-08T06:49:14.000Z`` (listings)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _parse_http_date(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _host_name(host: str) -> str:
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


_ENDPOINT_HOST = re.compile(r"(oss-[a-z0-9-]+|[a-z0-9-]+\.oss)\.aliyuncs\.com")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_HUGE = 10 ** 19  # past the end of any object


def _echo(value: str, limit: int = 128) -> str:
    """A client's value as an error echoes it: cut short, so that the Error document stays
    within the 4 KiB oss2 reads of an error body."""
    return value if len(value) <= limit else value[:limit] + "..."


def _range_number(digits: str) -> int:
    """A Range bound; one too long for ``int()`` (thousands of digits) is past any end."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < len(str(_HUGE)) else _HUGE


# --- routing ------------------------------------------------------------------------------------
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


_ALWAYS_ALLOWED_PARAMS = frozenset({"security-token", "x-oss-security-token", *RESPONSE_OVERRIDES})


def _operation_name(method: str, params: Mapping[str, str], headers: Message, bucket: str,
                    has_key: bool) -> str:
    """The OSS API name for a request shape; ``Unsupported`` for what is not emulated."""
    subresources = {p for p in params if p in SUBRESOURCES} - _ALWAYS_ALLOWED_PARAMS

    def only(*allowed: str) -> bool:
        return subresources <= set(allowed)

    if not bucket:
        return "ListBuckets" if method == "GET" and not subresources else "Unsupported"
    if not has_key:
        if method == "PUT":
            if "acl" in params:
                return "PutBucketAcl" if only("acl") else "Unsupported"
            return "PutBucket" if not subresources else "Unsupported"
        if method == "DELETE":
            return "DeleteBucket" if not subresources else "Unsupported"
        if method == "POST":
            if "delete" in params and only("delete"):
                return "DeleteMultipleObjects"
            return "Unsupported"
        if method == "GET":
            for param, name in (("acl", "GetBucketAcl"), ("bucketInfo", "GetBucketInfo"),
                                ("location", "GetBucketLocation"),
                                ("uploads", "ListMultipartUploads")):
                if param in params:
                    return name if only(param) else "Unsupported"
            if not only("continuation-token"):
                return "Unsupported"
            return "ListObjectsV2" if params.get("list-type") == "2" else "ListObjects"
        return "Unsupported"
    if method == "PUT":
        if "acl" in params:
            return "PutObjectACL" if only("acl") else "Unsupported"
        if "uploadId" in params or "partNumber" in params:
            if headers.get("x-oss-copy-source") or not only("uploadId", "partNumber"):
                return "Unsupported"
            return "UploadPart"
        if subresources:
            return "Unsupported"
        return "CopyObject" if headers.get("x-oss-copy-source") else "PutObject"
    if method == "GET":
        if "acl" in params:
            return "GetObjectACL" if only("acl") else "Unsupported"
        if "uploadId" in params:
            return "ListParts" if only("uploadId") else "Unsupported"
        return "GetObject" if not subresources else "Unsupported"
    if method == "HEAD":
        if "objectMeta" in params:
            return "GetObjectMeta" if only("objectMeta") else "Unsupported"
        return "HeadObject" if not subresources else "Unsupported"
    if method == "DELETE":
        if "uploadId" in params:
            return "AbortMultipartUpload" if only("uploadId") else "Unsupported"
        return "DeleteObject" if not subresources else "Unsupported"
    if method == "POST":
        if "uploads" in params:
            return "InitiateMultipartUpload" if only("uploads") else "Unsupported"
        if "uploadId" in params:
            return "CompleteMultipartUpload" if only("uploadId") else "Unsupported"
    return "Unsupported"


def _decode_key(raw: str) -> tuple[str, str | None]:
    """The object key a raw (percent-encoded) path segment names, or why it is invalid."""
    try:
        key = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return "", "The object name is not valid UTF-8."
    return key, _key_error(key)


def _key_error(key: str) -> str | None:
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


# --- the service ------------------------------------------------------------------------------
@dataclass
class _Call:
    request: Request
    route: Route
    identity: Identity

    @property
    def bucket(self) -> str:
        return self.route.bucket

    @property
    def key(self) -> str:
        return self.route.key


class OSSService:
    """The OSS API over a :class:`~.store.Store`, as oss2 2.19 expects it.

    ``cname_domains`` maps custom domains (Host names) to buckets; ``endpoint_hosts``
    lists extra Host names that address the service itself (path-style), besides IPs,
    dot-less names such as ``localhost`` and ``oss-<region>[-internal].aliyuncs.com``.
    ``max_object_size`` (single PUT and each part) and ``min_part_size`` can be lowered
    by tests.
    """

    name = "oss"
    bad_request_code = "InvalidArgument"  # answers a malformed request (see httpserver)

    def __init__(self, iam: IAM, controls: Controls, store: Store,
                 region: str = "cn-hangzhou") -> None:
        self.iam = iam
        self.controls = controls
        self.store = store
        self.region = region
        self.cname_domains: dict[str, str] = {}
        self.endpoint_hosts: set[str] = set()
        self.max_object_size = MAX_OBJECT_SIZE
        self.min_part_size = MIN_PART_SIZE
        self.verifier = Verifier(iam, controls.clock, region)
        self._handlers: dict[str, Callable[[_Call], Response]] = {
            "ListBuckets": self._list_buckets,
            "PutBucket": self._put_bucket,
            "DeleteBucket": self._delete_bucket,
            "GetBucketInfo": self._get_bucket_info,
            "GetBucketAcl": self._get_bucket_acl,
            "PutBucketAcl": self._put_bucket_acl,
            "GetBucketLocation": self._get_bucket_location,
            "ListObjects": self._list_objects,
            "ListObjectsV2": self._list_objects_v2,
            "DeleteMultipleObjects": self._delete_multiple_objects,
            "ListMultipartUploads": self._list_multipart_uploads,
            "PutObject": self._put_object,
            "CopyObject": self._copy_object,
            "GetObject": self._get_object,
            "HeadObject": self._head_object,
            "GetObjectMeta": self._get_object_meta,
            "DeleteObject": self._delete_object,
            "PutObjectACL": self._put_object_acl,
            "GetObjectACL": self._get_object_acl,
            "InitiateMultipartUpload": self._initiate_multipart_upload,
            "UploadPart": self._upload_part,
            "CompleteMultipartUpload": self._complete_multipart_upload,
            "AbortMultipartUpload": self._abort_multipart_upload,
            "ListParts": self._list_parts,
        }

    @property
    def endpoint(self) -> str:
        return f"oss-{self.region}.aliyuncs.com"

    # --- routing ---------------------------------------------------------------------------
    def _is_service_host(self, host: str) -> bool:
        return (not host or "." not in host or _is_ip(host)
                or host in {h.lower() for h in self.endpoint_hosts}
                or _ENDPOINT_HOST.fullmatch(host) is not None)

    def route(self, request: Request) -> Route:
        """Bucket, key and operation of a request (reads headers only, never the body)."""
        host = _host_name(request.host)
        path = request.raw_path or "/"
        cnames = {name.lower(): bucket for name, bucket in self.cname_domains.items()}
        if host in cnames:
            bucket, raw_key, style = cnames[host], path[1:], "cname"
        elif self._is_service_host(host):
            raw_bucket, _, raw_key = path[1:].partition("/")
            bucket, style = unquote(raw_bucket), "path"
        else:
            bucket, raw_key, style = host.split(".", 1)[0], path[1:], "virtual"
        key, key_error = _decode_key(raw_key) if raw_key else ("", None)
        operation = _operation_name(request.method, request.params, request.headers, bucket,
                                    bool(raw_key))
        return Route(bucket, key, operation, style, key_error)

    def operation(self, request: Request) -> str:
        """The OSS API name of a request (``PutObject``, ``ListObjectsV2``, ...)."""
        return self.route(request).operation

    # --- entry points ------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        request_id = new_request_id()
        route: Route | None = None
        try:
            route = self.route(request)
            if route.operation == "Unsupported":
                raise OSSError(501, "NotImplemented",
                               "The emulator does not implement this operation.",
                               {"Method": request.method})
            if route.key_error:
                raise OSSError(400, "InvalidObjectName", route.key_error,
                               {"BucketName": route.bucket})
            try:
                identity = self.verifier.authenticate(request, route.bucket, route.key)
            except AuthError as exc:
                raise OSSError(exc.status, exc.code, exc.message, exc.details) from None
            request.access_key_id = identity.access_key_id
            try:
                response = self._handlers[route.operation](_Call(request, route, identity))
            except StoreError as exc:
                raise self._store_error(exc, route) from None
        except OSSError as exc:
            logger.debug("oss %s -> %s %s", route.operation if route else "?", exc.status,
                         exc.code)
            self._discard_body(request)
            response = self._error(request, route, request_id, exc)
        response.headers.append(("x-oss-request-id", request_id))
        return response

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        """An OSS error (XML body, or ``x-oss-err`` for HEAD) for injected faults."""
        try:
            route: Route | None = self.route(request)
        except Exception:  # a fault must be answerable whatever the request looks like
            route = None
        request_id = new_request_id()
        response = self._error(request, route, request_id, OSSError(status, code, message))
        response.headers.append(("x-oss-request-id", request_id))
        return response

    def _error(self, request: Request, route: Route | None, request_id: str,
               exc: OSSError) -> Response:
        bucket = route.bucket if route else ""
        host_id = f"{bucket}.{self.endpoint}" if bucket else self.endpoint
        body = xml_document("Error", [
            ("Code", exc.code), ("Message", exc.message), ("RequestId", request_id),
            ("HostId", host_id), *_details_content(exc.details), ("EC", exc.ec),
            ("RecommendDoc", f"https://api.aliyun.com/troubleshoot?q={exc.ec}"),
        ])
        headers = [("Content-Type", "application/xml"), ("x-oss-ec", exc.ec), *exc.headers]
        if request.method == "HEAD":
            headers.append(("x-oss-err", base64.b64encode(body).decode("ascii")))
            headers.append(("Content-Length", "0"))
            return Response(exc.status, headers, b"")
        return Response(exc.status, headers, body)

    @staticmethod
    def _discard_body(request: Request) -> None:
        """Read what is left of a refused body (bounded) so the connection stays usable."""
        body = request.body
        if body.exhausted:
            return
        if body.length is not None and body.length - body.bytes_read > DRAIN_LIMIT:
            return  # the server closes the connection instead
        while body.bytes_read <= DRAIN_LIMIT and body.read(1024 * 1024):
            pass

    @staticmethod
    def _store_error(exc: StoreError, route: Route) -> OSSError:
        if isinstance(exc, NoSuchBucket):
            return OSSError(404, "NoSuchBucket", "The specified bucket does not exist.",
                            {"BucketName": route.bucket})
        if isinstance(exc, NoSuchKey):
            return OSSError(404, "NoSuchKey", "The specified key does not exist.",
                            {"Key": str(exc.args[0]) if exc.args else route.key})
        if isinstance(exc, NoSuchUpload):
            return OSSError(404, "NoSuchUpload",
                            "The specified upload does not exist. The upload ID may be invalid, "
                            "or the upload may have been aborted or completed.",
                            {"UploadId": str(exc.args[0]) if exc.args else ""})
        if isinstance(exc, ObjectAlreadyExists):
            return OSSError(409, "FileAlreadyExists", "The object you specified already exists "
                            "and can not be overwritten.", {"Key": route.key})
        if isinstance(exc, BucketNotEmpty):
            return OSSError(409, "BucketNotEmpty",
                            "The bucket you tried to delete is not empty.",
                            {"BucketName": route.bucket})
        if isinstance(exc, BucketAlreadyExists):
            return OSSError(409, "BucketAlreadyExists",
                            "The requested bucket name is not available. The bucket namespace "
                            "is shared by all users of the system. Please select a different "
                            "name and try again.", {"BucketName": route.bucket})
        if isinstance(exc, InvalidPartOrder):
            return OSSError(400, "InvalidPartOrder",
                            "The list of parts was not in ascending order. Parts list must "
                            "specified in order by part number.")
        if isinstance(exc, InvalidPart):
            return OSSError(400, "InvalidPart",
                            "One or more of the specified parts could not be found or the "
                            "specified entity tag might not have matched the part's entity tag.",
                            {"PartNumber": str(exc.part_number), "ETag": exc.etag})
        if isinstance(exc, PartTooSmall):
            return OSSError(400, "EntityTooSmall",
                            "Your proposed upload is smaller than the minimum allowed size.",
                            {"PartNumber": str(exc.part_number), "ProposedSize": str(exc.size),
                             "MinSizeAllowed": str(exc.minimum)})
        return OSSError(500, "InternalError", f"Unexpected store error: {exc!r}")

    # --- authorization -------------------------------------------------------------------------
    def _object_resource(self, bucket: str, key: str) -> str:
        return f"acs:oss:{self.region}:{self.iam.account_id}:{bucket}/{key}"

    def _bucket_resource(self, bucket: str) -> str:
        return f"acs:oss:{self.region}:{self.iam.account_id}:{bucket}"

    def _authorize(self, call: _Call, action: str, resource: str, *,
                   public: bool = False) -> None:
        """Let the request through if the signer's policies allow ``action`` on
        ``resource`` (or, short of an explicit deny, when ``public``: the ACL grants it
        to everyone); otherwise raise 403 AccessDenied."""
        principal = call.identity.principal
        if principal is None:
            if public:
                return
            raise OSSError(403, "AccessDenied", ACL_DENIED_MESSAGE)
        decision = authorize(principal, action, resource)
        if decision.allowed or (public and decision.reason == "ImplicitDeny"):
            return
        policy_type = "AccountLevelIdentityBasedPolicy"
        if (isinstance(principal, Session) and principal.session_policy is not None
                and evaluate(principal.role.policies, action, resource).allowed):
            policy_type = "SessionPolicy"
        raise OSSError(403, "AccessDenied", f"You are forbidden to {action}.", {
            "AccessDeniedDetail": {
                "AuthPrincipalType": principal.principal_type,
                "AuthPrincipalOwnerId": self.iam.account_id,
                "AuthPrincipalId": principal.principal_id,
                "AuthAction": action,
                "PolicyType": policy_type,
                "NoPermissionType": decision.reason,
            },
        }, ec=RAM_DENIED_EC)

    @staticmethod
    def _acl_grants(bucket: BucketInfo, record: ObjectRecord | None, write: bool) -> bool:
        acl = record.acl if record is not None and record.acl != "default" else bucket.acl
        return acl == "public-read-write" or (not write and acl == "public-read")

    def _authorize_object(self, call: _Call, action: str, *, write: bool,
                          bucket: str | None = None, key: str | None = None) -> ObjectRecord | None:
        """Authorize an object action; return the object's record if it exists."""
        bucket = call.bucket if bucket is None else bucket
        key = call.key if key is None else key
        info = self.store.get_bucket(bucket)
        try:
            record: ObjectRecord | None = self.store.head_object(bucket, key)
        except NoSuchKey:
            record = None
        self._authorize(call, action, self._object_resource(bucket, key),
                        public=self._acl_grants(info, record, write))
        return record

    def _authorize_bucket(self, call: _Call, action: str, *, public: bool = False) -> BucketInfo:
        info = self.store.get_bucket(call.bucket)
        self._authorize(call, action, self._bucket_resource(call.bucket),
                        public=public and info.acl in ("public-read", "public-read-write"))
        return info

    # --- request parsing helpers ----------------------------------------------------------
    @staticmethod
    def _attributes(request: Request, acl_header: str = "x-oss-object-acl") -> ObjectAttributes:
        acl = request.header(acl_header) or "default"
        if acl not in OBJECT_ACLS:
            raise OSSError(400, "InvalidArgument", "no such object access control exists",
                           {"ArgumentName": acl_header, "ArgumentValue": acl})
        headers = {name: value for name in STANDARD_HEADERS
                   if (value := request.header(name)) is not None}
        meta = {name.lower()[len("x-oss-meta-"):]: value
                for name, value in request.headers.items()
                if name.lower().startswith("x-oss-meta-")}
        return ObjectAttributes(request.header("Content-Type") or "application/octet-stream",
                                headers, meta, acl)

    @staticmethod
    def _forbid_overwrite(request: Request) -> bool:
        return (request.header("x-oss-forbid-overwrite") or "").strip().lower() == "true"

    @staticmethod
    def _content_md5(request: Request) -> bytes | None:
        value = request.header("Content-MD5")
        if value is None:
            return None
        try:
            digest = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 16:
            raise OSSError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.",
                           {"Content-MD5": value})
        return digest

    def _receive(self, request: Request) -> WrittenBlob:
        """Stream the body into the store (1 MiB at a time), checking size and MD5."""
        limit = self.max_object_size
        declared = request.body.length
        too_large = OSSError(400, "EntityTooLarge",
                             "Your proposed upload exceeds the maximum allowed size.",
                             {"MaxSizeAllowed": str(limit)})
        if declared is not None and declared > limit:
            raise too_large
        expected = self._content_md5(request)
        writer = self.store.new_writer()
        try:
            for chunk in request.body.chunks():
                writer.write(chunk)
                if writer.size > limit:
                    raise too_large
            if expected is not None and writer.md5 != expected:
                raise OSSError(400, "InvalidDigest",
                               "The Content-MD5 you specified did not match what we received.",
                               {"Content-MD5": request.header("Content-MD5") or "",
                                "CalculatedContentMD5":
                                    base64.b64encode(writer.md5).decode("ascii")})
        except BaseException:
            writer.discard()
            raise
        return writer.finish()

    @staticmethod
    def _read_xml(request: Request, root: str) -> ET.Element:
        data = request.body.read(MAX_XML_BODY + 1)
        if len(data) > MAX_XML_BODY or not request.body.exhausted:
            raise OSSError(400, "MalformedXML", "The XML you provided was too large.")
        try:
            element = ET.fromstring(data)
        except ET.ParseError:
            raise OSSError(400, "MalformedXML",
                           "The XML you provided was not well-formed or did not validate "
                           "against our published schema.") from None
        if element.tag != root:
            raise OSSError(400, "MalformedXML", f"The root element must be {root}.")
        return element

    @staticmethod
    def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
        text = request.params.get(name, "")
        if text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise OSSError(400, "InvalidArgument",
                           f"Argument {name} must be an integer between {low} and {high}.",
                           {"ArgumentName": name, "ArgumentValue": text})
        return value

    @staticmethod
    def _encoder(request: Request) -> Callable[[str], str]:
        encoding = request.params.get("encoding-type", "")
        if encoding not in ("", "url"):
            raise OSSError(400, "InvalidArgument", "The encoding-type must be url.",
                           {"ArgumentName": "encoding-type", "ArgumentValue": encoding})
        if encoding == "url":
            return lambda text: quote(text, safe="")
        return lambda text: text

    def _now(self) -> float:
        return self.controls.clock.now()

    # --- object responses ------------------------------------------------------------------------
    @staticmethod
    def _object_headers(record: ObjectRecord,
                        overrides: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
        headers = {
            "Content-Type": record.content_type,
            **record.headers,
        }
        for param, name in RESPONSE_OVERRIDES.items():
            if overrides and param in overrides:
                headers[name] = overrides[param]
        out = list(headers.items())
        out += [
            ("ETag", f'"{record.etag}"'),
            ("Last-Modified", http_date(record.last_modified)),
            ("Accept-Ranges", "bytes"),
            ("x-oss-object-type", record.object_type),
            ("x-oss-storage-class", record.storage_class),
            ("x-oss-hash-crc64ecma", str(record.crc64)),
        ]
        if record.content_md5:
            out.append(("Content-MD5", record.content_md5))
        out += [(f"x-oss-meta-{name}", value) for name, value in record.user_meta.items()]
        return out

    @staticmethod
    def _check_conditions(request: Request, record: ObjectRecord, prefix: str = "") -> None:
        """If-Match / If-Unmodified-Since -> 412; If-None-Match / If-Modified-Since -> 304."""
        etag = record.etag
        modified = int(record.last_modified)
        validators = [("ETag", f'"{etag}"'), ("Last-Modified", http_date(record.last_modified))]

        def header(name: str) -> str | None:
            return request.header(prefix + name)

        if_match = header("If-Match")
        if if_match is not None and if_match.strip().strip('"').upper() != etag:
            raise OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you "
                           "specified did not hold.", {"Condition": prefix + "If-Match"})
        since = _parse_http_date(header("If-Unmodified-Since"))
        if since is not None and modified > since:
            raise OSSError(412, "PreconditionFailed", "At least one of the pre-conditions you "
                           "specified did not hold.", {"Condition": prefix + "If-Unmodified-Since"})
        if_none = header("If-None-Match")
        not_modified = if_none is not None and if_none.strip().strip('"').upper() == etag
        since = _parse_http_date(header("If-Modified-Since"))
        if if_none is None and since is not None and modified <= since:
            not_modified = True
        if not_modified:
            raise _NotModified(validators)

    def _byte_range(self, request: Request, size: int) -> tuple[int, int] | None:
        """``(start, end_exclusive)`` for a valid Range, ``None`` for the whole object."""
        text = request.header("Range")
        if text is None:
            return None
        standard = (request.header("x-oss-range-behavior") or "").lower() == "standard"
        match = _RANGE.fullmatch(text.strip())
        span: tuple[int, int] | None = None
        if match and (match[1] or match[2]):
            if not match[1]:
                suffix = _range_number(match[2])
                if suffix > 0 and (suffix <= size or standard) and size:
                    span = (max(size - suffix, 0), size)
            else:
                start = _range_number(match[1])
                end = _range_number(match[2]) + 1 if match[2] else size
                if start < size and end > start and (end <= size or standard):
                    span = (start, min(end, size))
        if span is None and standard:
            raise OSSError(416, "InvalidRange", "The requested range cannot be satisfied",
                           {"RangeRequested": _echo(text), "ActualObjectSize": str(size)},
                           headers=[("Content-Range", f"bytes */{size}")])
        return span

    # --- objects ----------------------------------------------------------------------------------
    def _put_object(self, call: _Call) -> Response:
        request = call.request
        self._authorize_object(call, "oss:PutObject", write=True)
        attributes = self._attributes(request)
        forbid = self._forbid_overwrite(request)
        if forbid and self.store.exists(call.bucket, call.key):
            raise ObjectAlreadyExists(call.key)
        written = self._receive(request)
        record = self.store.commit_object(call.bucket, call.key, written, attributes,
                                          forbid_overwrite=forbid, now=self._now())
        return Response(200, [("ETag", f'"{record.etag}"'),
                              ("x-oss-hash-crc64ecma", str(record.crc64)),
                              ("Content-MD5", record.content_md5 or "")])

    def _copy_source(self, request: Request) -> tuple[str, str]:
        source = request.header("x-oss-copy-source") or ""
        path = source.split("?", 1)[0]
        raw_bucket, _, raw_key = path.lstrip("/").partition("/")
        key, error = _decode_key(raw_key)
        if "?" in source or not raw_bucket or not raw_key or error:
            raise OSSError(400, "InvalidArgument", "Copy Source must mention the source bucket "
                           "and key: /sourcebucket/sourcekey.",
                           {"ArgumentName": "x-oss-copy-source", "ArgumentValue": source})
        return unquote(raw_bucket), key

    def _copy_object(self, call: _Call) -> Response:
        request = call.request
        src_bucket, src_key = self._copy_source(request)
        self._authorize_object(call, "oss:PutObject", write=True)
        source = self._authorize_object(call, "oss:GetObject", write=False,
                                        bucket=src_bucket, key=src_key)
        if source is None:
            raise OSSError(404, "NoSuchKey", "The specified key does not exist.",
                           {"Key": src_key})
        try:
            self._check_conditions(request, source, prefix="x-oss-copy-source-")
        except _NotModified:
            raise OSSError(304, "NotModified", "The source object was not modified.") from None
        directive = (request.header("x-oss-metadata-directive") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise OSSError(400, "InvalidArgument", "x-oss-metadata-directive must be COPY or "
                           "REPLACE.", {"ArgumentName": "x-oss-metadata-directive",
                                        "ArgumentValue": directive})
        attributes = self._attributes(request)
        record = self.store.copy_object(
            src_bucket, src_key, call.bucket, call.key,
            attributes if directive == "REPLACE" else None, acl=attributes.acl,
            forbid_overwrite=self._forbid_overwrite(request), now=self._now())
        body = xml_document("CopyObjectResult", [
            ("ETag", f'"{record.etag}"'), ("LastModified", iso_date(record.last_modified))])
        return Response(200, [("Content-Type", "application/xml"), ("ETag", f'"{record.etag}"'),
                              ("x-oss-hash-crc64ecma", str(record.crc64))], body)

    def _read_object(self, call: _Call) -> ObjectRecord:
        record = self._authorize_object(call, "oss:GetObject", write=False)
        if record is None:
            raise NoSuchKey(call.key)
        return record

    def _get_object(self, call: _Call) -> Response:
        request = call.request
        record = self._read_object(call)
        try:
            self._check_conditions(request, record)
        except _NotModified as nm:
            return Response(304, nm.headers)
        record, reader = self.store.open_object(call.bucket, call.key)
        try:
            span = self._byte_range(request, record.size)
        except BaseException:
            reader.close()
            raise
        headers = self._object_headers(record, request.params)
        if span is None:
            return Response(200, headers, reader.stream(), content_length=record.size)
        start, end = span
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{record.size}"))
        return Response(206, headers, reader.stream(start, end), content_length=end - start)

    def _head_object(self, call: _Call) -> Response:
        record = self._read_object(call)
        try:
            self._check_conditions(call.request, record)
        except _NotModified as nm:
            return Response(304, nm.headers)
        headers = self._object_headers(record, call.request.params)
        headers.append(("Content-Length", str(record.size)))
        return Response(200, headers, b"")

    def _get_object_meta(self, call: _Call) -> Response:
        record = self._read_object(call)
        return Response(200, [
            ("ETag", f'"{record.etag}"'), ("Content-Length", str(record.size)),
            ("Last-Modified", http_date(record.last_modified)),
            ("x-oss-hash-crc64ecma", str(record.crc64)),
            ("x-oss-last-access-time", http_date(record.last_modified)),
        ], b"")

    def _delete_object(self, call: _Call) -> Response:
        self._authorize_object(call, "oss:DeleteObject", write=True)
        self.store.delete_object(call.bucket, call.key)
        return Response(204)

    def _acl_document(self, grant: str) -> bytes:
        owner = self.iam.account_id
        return xml_document("AccessControlPolicy", [
            ("Owner", [("ID", owner), ("DisplayName", owner)]),
            ("AccessControlList", [("Grant", grant)]),
        ])

    def _get_object_acl(self, call: _Call) -> Response:
        record = self._authorize_object(call, "oss:GetObjectAcl", write=False)
        if record is None:
            raise NoSuchKey(call.key)
        return _xml_response(self._acl_document(record.acl))

    def _put_object_acl(self, call: _Call) -> Response:
        self._authorize_object(call, "oss:PutObjectAcl", write=True)
        acl = call.request.header("x-oss-object-acl") or ""
        if acl not in OBJECT_ACLS:
            raise OSSError(400, "InvalidArgument", "no such object access control exists",
                           {"ArgumentName": "x-oss-object-acl", "ArgumentValue": acl})
        self.store.set_object_acl(call.bucket, call.key, acl)
        return Response(200)

    # --- multipart -----------------------------------------------------------------------------
    def _initiate_multipart_upload(self, call: _Call) -> Response:
        request = call.request
        self._authorize_object(call, "oss:PutObject", write=True)
        encode = self._encoder(request)
        upload = self.store.initiate_upload(call.bucket, call.key, self._attributes(request),
                                            forbid_overwrite=self._forbid_overwrite(request),
                                            now=self._now())
        content: XmlContent = [("Bucket", call.bucket), ("Key", encode(call.key)),
                               ("UploadId", upload.upload_id)]
        if request.params.get("encoding-type") == "url":
            content.insert(0, ("EncodingType", "url"))
        return _xml_response(xml_document("InitiateMultipartUploadResult", content))

    def _upload_part(self, call: _Call) -> Response:
        request = call.request
        text = request.params.get("partNumber", "")
        try:
            number = int(text)
        except ValueError:
            number = 0
        if not 1 <= number <= MAX_PART_NUMBER:
            raise OSSError(400, "InvalidArgument", "Part number must be an integer between 1 "
                           f"and {MAX_PART_NUMBER}, inclusive.",
                           {"ArgumentName": "partNumber", "ArgumentValue": text})
        self._authorize_object(call, "oss:PutObject", write=True)
        upload_id = request.params.get("uploadId", "")
        self.store.get_upload(call.bucket, call.key, upload_id)  # NoSuchUpload before the body
        written = self._receive(request)
        part = self.store.put_part(call.bucket, call.key, upload_id, number, written,
                                   now=self._now())
        return Response(200, [("ETag", f'"{part.etag}"'),
                              ("x-oss-hash-crc64ecma", str(part.crc64))])

    def _complete_multipart_upload(self, call: _Call) -> Response:
        request = call.request
        self._authorize_object(call, "oss:PutObject", write=True)
        upload_id = request.params.get("uploadId", "")
        encode = self._encoder(request)
        self.store.get_upload(call.bucket, call.key, upload_id)
        parts: list[tuple[int, str]] | None
        if (request.header("x-oss-complete-all") or "").lower() == "yes":
            if request.body.read(1):
                raise OSSError(400, "InvalidArgument", "Body must be empty when "
                               "x-oss-complete-all is yes.")
            parts = None
        else:
            root = self._read_xml(request, "CompleteMultipartUpload")
            parts = []
            for node in root.findall("Part"):
                number, etag = node.findtext("PartNumber"), node.findtext("ETag")
                if number is None or etag is None or not number.strip().isdigit():
                    raise OSSError(400, "MalformedXML", "Each Part needs a PartNumber and an "
                                   "ETag.")
                parts.append((int(number), etag.strip()))
            if not parts:
                raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed "
                               "or did not validate against our published schema.")
        record = self.store.complete_upload(
            call.bucket, call.key, upload_id, parts,
            forbid_overwrite=self._forbid_overwrite(request), min_part_size=self.min_part_size,
            now=self._now())
        content: XmlContent = [
            ("Location", f"http://{call.bucket}.{self.endpoint}/{quote(call.key, safe='/')}"),
            ("Bucket", call.bucket), ("Key", encode(call.key)), ("ETag", f'"{record.etag}"'),
        ]
        if request.params.get("encoding-type") == "url":
            content.insert(0, ("EncodingType", "url"))
        return _xml_response(xml_document("CompleteMultipartUploadResult", content), [
            ("ETag", f'"{record.etag}"'), ("x-oss-hash-crc64ecma", str(record.crc64))])

    def _abort_multipart_upload(self, call: _Call) -> Response:
        self._authorize_object(call, "oss:AbortMultipartUpload", write=True)
        self.store.abort_upload(call.bucket, call.key, call.request.params.get("uploadId", ""))
        return Response(204)

    def _list_parts(self, call: _Call) -> Response:
        request = call.request
        self._authorize_object(call, "oss:ListParts", write=False)
        upload_id = request.params.get("uploadId", "")
        marker = self._int_param(request, "part-number-marker", 0, 0, MAX_PART_NUMBER)
        max_parts = self._int_param(request, "max-parts", 1000, 1, 1000)
        encode = self._encoder(request)
        upload = self.store.get_upload(call.bucket, call.key, upload_id)
        numbers = sorted(n for n in upload.parts if n > marker)
        page, truncated = numbers[:max_parts], len(numbers) > max_parts
        content: XmlContent = [
            ("Bucket", call.bucket), ("Key", encode(call.key)), ("UploadId", upload_id),
            ("StorageClass", "Standard"), ("PartNumberMarker", marker),
            ("NextPartNumberMarker", page[-1] if page else marker), ("MaxParts", max_parts),
            ("IsTruncated", truncated),
        ]
        if request.params.get("encoding-type") == "url":
            content.insert(0, ("EncodingType", "url"))
        for number in page:
            part = upload.parts[number]
            content.append(("Part", [
                ("PartNumber", part.number), ("LastModified", iso_date(part.last_modified)),
                ("ETag", f'"{part.etag}"'), ("HashCrc64ecma", part.crc64), ("Size", part.size),
            ]))
        return _xml_response(xml_document("ListPartsResult", content))

    def _list_multipart_uploads(self, call: _Call) -> Response:
        request = call.request
        self._authorize_bucket(call, "oss:ListMultipartUploads")
        params = request.params
        encode = self._encoder(request)
        max_uploads = self._int_param(request, "max-uploads", 1000, 1, 1000)
        prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
        key_marker, id_marker = params.get("key-marker", ""), params.get("upload-id-marker", "")
        page = self.store.list_uploads(call.bucket, prefix, delimiter, key_marker, id_marker,
                                       max_uploads)
        content: XmlContent = [
            ("Bucket", call.bucket), ("KeyMarker", encode(key_marker)),
            ("UploadIdMarker", id_marker), ("NextKeyMarker", encode(page.next_key_marker)),
            ("NextUploadIdMarker", page.next_upload_id_marker), ("Delimiter", encode(delimiter)),
            ("Prefix", encode(prefix)), ("MaxUploads", max_uploads),
            ("IsTruncated", page.truncated),
        ]
        if params.get("encoding-type") == "url":
            content.insert(1, ("EncodingType", "url"))
        for upload in page.uploads:
            content.append(("Upload", [
                ("Key", encode(upload.key)), ("UploadId", upload.upload_id),
                ("StorageClass", "Standard"), ("Initiated", iso_date(upload.initiated)),
            ]))
        content += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.prefixes]
        return _xml_response(xml_document("ListMultipartUploadsResult", content))

    # --- listing ----------------------------------------------------------------------------------
    def _contents(self, record: ObjectRecord, encode: Callable[[str], str],
                  owner: bool) -> XmlValue:
        content: XmlContent = [
            ("Key", encode(record.key)), ("LastModified", iso_date(record.last_modified)),
            ("ETag", f'"{record.etag}"'), ("Type", record.object_type), ("Size", record.size),
            ("StorageClass", record.storage_class),
        ]
        if owner:
            content.append(("Owner", [("ID", self.iam.account_id),
                                      ("DisplayName", self.iam.account_id)]))
        return content

    def _list_objects(self, call: _Call) -> Response:
        request = call.request
        self._authorize_bucket(call, "oss:ListObjects", public=True)
        params = request.params
        encode = self._encoder(request)
        max_keys = self._int_param(request, "max-keys", 100, 1, 1000)
        prefix, delimiter, marker = (params.get("prefix", ""), params.get("delimiter", ""),
                                     params.get("marker", ""))
        page = self.store.list_objects(call.bucket, prefix, delimiter, marker, max_keys)
        content: XmlContent = [
            ("Name", call.bucket), ("Prefix", encode(prefix)), ("Marker", encode(marker)),
            ("MaxKeys", max_keys), ("Delimiter", encode(delimiter)),
        ]
        if params.get("encoding-type") == "url":
            content.append(("EncodingType", "url"))
        content.append(("IsTruncated", page.truncated))
        if page.truncated:
            content.append(("NextMarker", encode(page.next_marker)))
        content += [("Contents", self._contents(r, encode, True)) for r in page.objects]
        content += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.prefixes]
        return _xml_response(xml_document("ListBucketResult", content))

    def _list_objects_v2(self, call: _Call) -> Response:
        request = call.request
        self._authorize_bucket(call, "oss:ListObjects", public=True)
        params = request.params
        encode = self._encoder(request)
        max_keys = self._int_param(request, "max-keys", 100, 1, 1000)
        prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
        token, start_after = params.get("continuation-token", ""), params.get("start-after", "")
        marker = _decode_token(token) if token else start_after
        fetch_owner = params.get("fetch-owner", "").lower() == "true"
        page = self.store.list_objects(call.bucket, prefix, delimiter, marker, max_keys)
        content: XmlContent = [("Name", call.bucket), ("Prefix", encode(prefix))]
        if start_after:
            content.append(("StartAfter", encode(start_after)))
        if token:
            content.append(("ContinuationToken", token))
        content += [("MaxKeys", max_keys), ("Delimiter", encode(delimiter))]
        if params.get("encoding-type") == "url":
            content.append(("EncodingType", "url"))
        content.append(("IsTruncated", page.truncated))
        if page.truncated:
            content.append(("NextContinuationToken", _encode_token(page.next_marker)))
        content.append(("KeyCount", len(page.objects) + len(page.prefixes)))
        content += [("Contents", self._contents(r, encode, fetch_owner)) for r in page.objects]
        content += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.prefixes]
        return _xml_response(xml_document("ListBucketResult", content))

    def _delete_multiple_objects(self, call: _Call) -> Response:
        request = call.request
        info = self.store.get_bucket(call.bucket)
        encode = self._encoder(request)
        expected = self._content_md5(request)
        if expected is None:
            raise OSSError(400, "InvalidRequest",
                           "Missing required header for this request: Content-MD5.")
        data = request.body.read(MAX_XML_BODY + 1)
        if len(data) > MAX_XML_BODY:
            raise OSSError(400, "MalformedXML", "The XML you provided was too large.")
        if hashlib.md5(data).digest() != expected:
            raise OSSError(400, "InvalidDigest",
                           "The Content-MD5 you specified did not match what we received.")
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            root = None
        if root is None or root.tag != "Delete":
            raise OSSError(400, "MalformedXML", "The XML you provided was not well-formed or "
                           "did not validate against our published schema.")
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        keys = [node.findtext("Key") or "" for node in root.findall("Object")]
        if not keys or len(keys) > MAX_DELETE_KEYS or not all(keys):
            raise OSSError(400, "MalformedXML", "The request must name between 1 and "
                           f"{MAX_DELETE_KEYS} objects, each with a Key.")
        for key in keys:  # every key is checked before any object is touched
            if error := _key_error(key):
                raise OSSError(400, "InvalidObjectName", error,
                               {"BucketName": call.bucket, "Key": _echo(key)})
        for key in keys:
            try:
                record: ObjectRecord | None = self.store.head_object(call.bucket, key)
            except NoSuchKey:
                record = None
            self._authorize(call, "oss:DeleteObject", self._object_resource(call.bucket, key),
                            public=self._acl_grants(info, record, True))
        for key in keys:
            self.store.delete_object(call.bucket, key)
        content: XmlContent = []
        if request.params.get("encoding-type") == "url":
            content.append(("EncodingType", "url"))
        if not quiet:
            content += [("Deleted", [("Key", encode(key))]) for key in keys]
        return _xml_response(xml_document("DeleteResult", content))

    # --- buckets ----------------------------------------------------------------------------
    def _bucket_content(self, info: BucketInfo) -> XmlContent:
        return [
            ("CreationDate", iso_date(info.created)),
            ("ExtranetEndpoint", self.endpoint),
            ("IntranetEndpoint", f"oss-{self.region}-internal.aliyuncs.com"),
            ("Location", f"oss-{self.region}"), ("Name", info.name), ("Region", self.region),
            ("StorageClass", "Standard"),
        ]

    def _list_buckets(self, call: _Call) -> Response:
        request = call.request
        self._authorize(call, "oss:ListBuckets", f"acs:oss:*:{self.iam.account_id}:*")
        params = request.params
        prefix, marker = params.get("prefix", ""), params.get("marker", "")
        max_keys = self._int_param(request, "max-keys", 100, 1, 1000)
        buckets = [b for b in self.store.list_buckets()
                   if b.name.startswith(prefix) and b.name > marker]
        page, truncated = buckets[:max_keys], len(buckets) > max_keys
        owner = self.iam.account_id
        content: XmlContent = [("Owner", [("ID", owner), ("DisplayName", owner)])]
        if any(p in params for p in ("prefix", "marker", "max-keys")):
            content += [("Prefix", prefix), ("Marker", marker), ("MaxKeys", max_keys),
                        ("IsTruncated", truncated)]
            if truncated:
                content.append(("NextMarker", page[-1].name))
        content.append(("Buckets", [("Bucket", self._bucket_content(b)) for b in page]))
        return _xml_response(xml_document("ListAllMyBucketsResult", content))

    def _bucket_acl_header(self, request: Request, default: str | None) -> str:
        acl = request.header("x-oss-acl") or default or ""
        if acl not in BUCKET_ACLS:
            raise OSSError(400, "InvalidArgument", "no such bucket access control exists",
                           {"ArgumentName": "x-oss-acl", "ArgumentValue": acl})
        return acl

    def _put_bucket(self, call: _Call) -> Response:
        request = call.request
        self._authorize(call, "oss:PutBucket", self._bucket_resource(call.bucket))
        if not _BUCKET_NAME.fullmatch(call.bucket):
            raise OSSError(400, "InvalidBucketName", "The specified bucket is not valid.",
                           {"BucketName": call.bucket})
        acl = self._bucket_acl_header(request, "private")
        if not request.body.exhausted:
            self._read_xml(request, "CreateBucketConfiguration")
        self.store.create_bucket(call.bucket, acl, now=self._now())
        return Response(200, [("Location", f"/{call.bucket}")])

    def _delete_bucket(self, call: _Call) -> Response:
        self._authorize_bucket(call, "oss:DeleteBucket")
        self.store.delete_bucket(call.bucket)
        return Response(204)

    def _get_bucket_info(self, call: _Call) -> Response:
        info = self._authorize_bucket(call, "oss:GetBucketInfo")
        owner = self.iam.account_id
        content: XmlContent = [
            ("AccessMonitor", "Disabled"), *self._bucket_content(info),
            ("TransferAcceleration", "Disabled"), ("CrossRegionReplication", "Disabled"),
            ("DataRedundancyType", "LRS"), ("ResourceGroupId", "rg-default"),
            ("Owner", [("DisplayName", owner), ("ID", owner)]),
            ("AccessControlList", [("Grant", info.acl)]), ("Comment", ""),
            ("ServerSideEncryptionRule", [("SSEAlgorithm", "None")]),
            ("BucketPolicy", [("LogBucket", ""), ("LogPrefix", "")]),
        ]
        return _xml_response(xml_document("BucketInfo", [("Bucket", content)]))

    def _get_bucket_acl(self, call: _Call) -> Response:
        info = self._authorize_bucket(call, "oss:GetBucketAcl")
        return _xml_response(self._acl_document(info.acl))

    def _put_bucket_acl(self, call: _Call) -> Response:
        self._authorize_bucket(call, "oss:PutBucketAcl")
        self.store.set_bucket_acl(call.bucket, self._bucket_acl_header(call.request, None))
        return Response(200)

    def _get_bucket_location(self, call: _Call) -> Response:
        self._authorize_bucket(call, "oss:GetBucketLocation")
        element = ET.Element("LocationConstraint")
        element.text = f"oss-{self.region}"
        return _xml_response(XML_DECLARATION + ET.tostring(element, encoding="utf-8",
                                                           xml_declaration=False))


class _NotModified(Exception):
    def __init__(self, headers: list[tuple[str, str]]) -> None:
        super().__init__("not modified")
        self.headers = headers


def _xml_response(body: bytes, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(200, [("Content-Type", "application/xml"), *headers], body)


def _encode_token(marker: str) -> str:
    """A URL-safe continuation token for a listing position."""
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise OSSError(400, "InvalidArgument", "The continuation token provided is incorrect.",
                       {"ArgumentName": "continuation-token", "ArgumentValue": token}) from None
