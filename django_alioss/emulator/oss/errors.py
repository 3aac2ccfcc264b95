"""OSS errors on the wire: :class:`WireError`, the EC table, and the table that turns a
store's errors into the errors OSS answers with."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..httpserver import Request, Response
from ..store import (
    BucketAlreadyExists,
    BucketNotEmpty,
    InvalidPart,
    InvalidPartOrder,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectAlreadyExists,
    PartTooSmall,
    StoreError,
)
from ..store.features import NotSymlink, ObjectNotAppendable
from .wire import details_content, echo, xml_document

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
    "NotSymlink": "0033-00000001",
    "ObjectNotAppendable": "0023-00000001",
    "PositionNotEqualToLength": "0023-00000002",
    "InvalidTag": "0049-00000001",
    "NotImplemented": "0001-00000501",
    "PreconditionFailed": "0026-00000101",
    "RequestTimeTooSkewed": "0002-00000504",
    "SecurityTokenExpired": "0002-00000052",
    "ServiceUnavailable": "0001-00000503",
    "SignatureDoesNotMatch": "0002-00000040",
}
RAM_DENIED_EC = "0003-00000301"
MALFORMED_XML_MESSAGE = ("The XML you provided was not well-formed or did not validate against "
                         "our published schema.")


class WireError(Exception):
    """An error answered in OSS's shape; ``details`` become extra XML elements.

    (Not :class:`django_alioss.exceptions.OSSError`, which is what the backend raises.)
    """

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


def invalid_argument(message: str, name: str, value: str) -> WireError:
    """400 InvalidArgument naming the argument and echoing its value."""
    return WireError(400, "InvalidArgument", message,
                     {"ArgumentName": name, "ArgumentValue": echo(value)})


def malformed_xml(message: str = MALFORMED_XML_MESSAGE) -> WireError:
    return WireError(400, "MalformedXML", message)


# --- store errors -> wire errors ---------------------------------------------------------
Details = Callable[[Any, str, str], Mapping[str, str]]  # (error, bucket, key) -> details


def _first_arg(exc: StoreError, default: str) -> str:
    return str(exc.args[0]) if exc.args else default


def _no_details(exc: StoreError, bucket: str, key: str) -> Mapping[str, str]:
    return {}


def _bucket_name(exc: StoreError, bucket: str, key: str) -> Mapping[str, str]:
    return {"BucketName": bucket}


@dataclass(frozen=True)
class _Answer:
    status: int
    code: str
    message: str
    details: Details = _no_details


STORE_ERRORS: dict[type[StoreError], _Answer] = {
    NoSuchBucket: _Answer(404, "NoSuchBucket", "The specified bucket does not exist.",
                          _bucket_name),
    NoSuchKey: _Answer(404, "NoSuchKey", "The specified key does not exist.",
                       lambda exc, bucket, key: {"Key": _first_arg(exc, key)}),
    NoSuchUpload: _Answer(
        404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be "
        "invalid, or the upload may have been aborted or completed.",
        lambda exc, bucket, key: {"UploadId": _first_arg(exc, "")}),
    ObjectAlreadyExists: _Answer(
        409, "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
        lambda exc, bucket, key: {"Key": key}),
    ObjectNotAppendable: _Answer(409, "ObjectNotAppendable",
                                 "The object is not appendable.",
                                 lambda exc, bucket, key: {"Key": key}),
    NotSymlink: _Answer(400, "NotSymlink", "The specified object is not a symlink.",
                        lambda exc, bucket, key: {"Key": key}),
    BucketNotEmpty: _Answer(409, "BucketNotEmpty",
                            "The bucket you tried to delete is not empty.", _bucket_name),
    BucketAlreadyExists: _Answer(
        409, "BucketAlreadyExists", "The requested bucket name is not available. The bucket "
        "namespace is shared by all users of the system. Please select a different name and "
        "try again.", _bucket_name),
    InvalidPartOrder: _Answer(
        400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts list "
        "must specified in order by part number."),
    InvalidPart: _Answer(
        400, "InvalidPart", "One or more of the specified parts could not be found or the "
        "specified entity tag might not have matched the part's entity tag.",
        lambda exc, bucket, key: {"PartNumber": str(exc.part_number), "ETag": exc.etag}),
    PartTooSmall: _Answer(
        400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.",
        lambda exc, bucket, key: {"PartNumber": str(exc.part_number),
                                  "ProposedSize": str(exc.size),
                                  "MinSizeAllowed": str(exc.minimum)}),
}


def from_store_error(exc: StoreError, bucket: str, key: str) -> WireError:
    """The OSS error for a store error raised while serving ``bucket``/``key``."""
    for kind in type(exc).__mro__:
        answer = STORE_ERRORS.get(kind)
        if answer is not None:
            return WireError(answer.status, answer.code, answer.message,
                             answer.details(exc, bucket, key))
    return WireError(500, "InternalError", f"Unexpected store error: {exc!r}")


def error_response(request: Request, exc: WireError, request_id: str, host_id: str) -> Response:
    """The Error document (or, for HEAD, the ``x-oss-err`` header) answering ``exc``."""
    body = xml_document("Error", [
        ("Code", exc.code), ("Message", exc.message), ("RequestId", request_id),
        ("HostId", host_id), *details_content(exc.details), ("EC", exc.ec),
        ("RecommendDoc", f"https://api.aliyun.com/troubleshoot?q={exc.ec}"),
    ])
    headers = [("Content-Type", "application/xml"), ("x-oss-ec", exc.ec), *exc.headers,
               ("x-oss-request-id", request_id)]
    if request.method == "HEAD":
        headers.append(("x-oss-err", base64.b64encode(body).decode("ascii")))
        headers.append(("Content-Length", "0"))
        return Response(exc.status, headers, b"")
    return Response(exc.status, headers, body)
