"""Object operations: Put, Copy, Get (with image processing), Head, GetObjectMeta, Delete,
DeleteMultipleObjects and the object ACL."""

from __future__ import annotations

from collections.abc import Mapping

from ...controls import ImageStyles
from ...httpserver import Request, Response
from ...store import NoSuchKey, ObjectAlreadyExists, ObjectRecord, Store
from ..context import Call, Operation
from ..errors import WireError, invalid_argument, malformed_xml
from ..imaging import PROCESS_PARAM, process_image
from ..parsing import (
    NotModified,
    attributes,
    byte_range,
    check_conditions,
    copy_source,
    encoder,
    forbid_overwrite,
    object_acl,
    read_checked_xml,
    receive,
    url_encoded,
)
from ..routing import key_error
from ..wire import (
    RESPONSE_OVERRIDES,
    XmlContent,
    acl_document,
    echo,
    etag_header,
    http_date,
    iso_date,
    xml_document,
    xml_response,
)
from .tagging import copy_tags

MAX_DELETE_KEYS = 1000


def object_headers(record: ObjectRecord,
                   overrides: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The headers GetObject and HeadObject answer with (``response-*`` overrides applied)."""
    headers = {"Content-Type": record.content_type, **record.headers}
    for param, name in RESPONSE_OVERRIDES.items():
        if overrides and param in overrides:
            headers[name] = overrides[param]
    out = list(headers.items())
    out += [
        ("ETag", etag_header(record.etag)),
        ("Last-Modified", http_date(record.last_modified)),
        ("Accept-Ranges", "bytes"),
        ("x-oss-object-type", record.object_type),
        ("x-oss-storage-class", record.storage_class),
        ("x-oss-hash-crc64ecma", str(record.crc64)),
    ]
    if record.content_md5:
        out.append(("Content-MD5", record.content_md5))
    if record.tags:
        out.append(("x-oss-tagging-count", str(len(record.tags))))
    out += [(f"x-oss-meta-{name}", value) for name, value in record.user_meta.items()]
    return out


def put_object(call: Call) -> Response:
    request = call.request
    call.authorize_object("oss:PutObject", write=True)
    wanted = attributes(request)
    forbid = forbid_overwrite(request)
    if forbid and call.store.exists(call.bucket, call.key):
        raise ObjectAlreadyExists(call.key)
    written = receive(request, call.store, call.oss.max_object_size)
    record = call.store.commit_object(call.bucket, call.key, written, wanted,
                                      forbid_overwrite=forbid, now=call.now())
    return Response(200, [("ETag", etag_header(record.etag)),
                          ("x-oss-hash-crc64ecma", str(record.crc64)),
                          ("Content-MD5", record.content_md5 or "")])


def authorized_copy_source(call: Call) -> tuple[str, str, ObjectRecord]:
    """Bucket, key and record of ``x-oss-copy-source`` for a copy into this request's
    object (CopyObject, UploadPartCopy): PutObject on the target and GetObject on the
    source authorized, the source existing and its ``x-oss-copy-source-if-*`` conditions
    holding."""
    src_bucket, src_key = copy_source(call.request)
    call.authorize_object("oss:PutObject", write=True)
    source = call.authorize_object("oss:GetObject", write=False, bucket=src_bucket, key=src_key)
    if source is None:
        raise WireError(404, "NoSuchKey", "The specified key does not exist.", {"Key": src_key})
    try:
        check_conditions(call.request, source, prefix="x-oss-copy-source-")
    except NotModified:
        raise WireError(304, "NotModified", "The source object was not modified.") from None
    return src_bucket, src_key, source


def copy_object(call: Call) -> Response:
    request = call.request
    src_bucket, src_key, _ = authorized_copy_source(call)
    directive = (request.header("x-oss-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise invalid_argument("x-oss-metadata-directive must be COPY or REPLACE.",
                               "x-oss-metadata-directive", directive)
    wanted = attributes(request)
    record = call.store.copy_object(
        src_bucket, src_key, call.bucket, call.key,
        wanted if directive == "REPLACE" else None, acl=wanted.acl,
        forbid_overwrite=forbid_overwrite(request), now=call.now())
    record = copy_tags(call, record)
    body = xml_document("CopyObjectResult", [
        ("ETag", etag_header(record.etag)), ("LastModified", iso_date(record.last_modified))])
    return xml_response(body, [("ETag", etag_header(record.etag)),
                               ("x-oss-hash-crc64ecma", str(record.crc64))])


def _readable(call: Call) -> ObjectRecord:
    record = call.authorize_object("oss:GetObject", write=False)
    if record is None:
        raise NoSuchKey(call.key)
    return record


def processed_object(store: Store, bucket: str, key: str, record: ObjectRecord,
                     process: str, styles: ImageStyles) -> Response:
    """GetObject with ``x-oss-process``: the processed image (no Range, no ETag or CRC:
    the bytes are not the object's)."""
    body, content_type = process_image(store.get_object_bytes(bucket, key), process,
                                       lambda name: styles.get(bucket, name))
    return Response(200, [("Content-Type", content_type),
                          ("Last-Modified", http_date(record.last_modified))], body)


def serve_object(request: Request, store: Store, bucket: str, key: str, record: ObjectRecord,
                 styles: ImageStyles) -> Response:
    """GetObject's answer once reading ``record`` is authorized: 304 when a condition
    says so, the image processed when ``x-oss-process`` asks for it, else the bytes (or
    the Range asked for). The emulated CDN edge serves its origin fetches through here."""
    try:
        check_conditions(request, record)
    except NotModified as nm:
        return Response(304, nm.headers)
    process = request.params.get(PROCESS_PARAM)
    if process is not None:
        return processed_object(store, bucket, key, record, process, styles)
    record, reader = store.open_object(bucket, key)
    try:
        span = byte_range(request, record.size)
    except BaseException:
        reader.close()
        raise
    headers = object_headers(record, request.params)
    if span is None:
        return Response(200, headers, reader.stream(), content_length=record.size)
    start, end = span
    headers.append(("Content-Range", f"bytes {start}-{end - 1}/{record.size}"))
    return Response(206, headers, reader.stream(start, end), content_length=end - start)


def get_object(call: Call) -> Response:
    return serve_object(call.request, call.store, call.bucket, call.key, _readable(call),
                        call.oss.controls.styles)


def head_object(call: Call) -> Response:
    record = _readable(call)
    try:
        check_conditions(call.request, record)
    except NotModified as nm:
        return Response(304, nm.headers)
    headers = object_headers(record, call.request.params)
    headers.append(("Content-Length", str(record.size)))
    return Response(200, headers, b"")


def get_object_meta(call: Call) -> Response:
    record = _readable(call)
    return Response(200, [
        ("ETag", etag_header(record.etag)), ("Content-Length", str(record.size)),
        ("Last-Modified", http_date(record.last_modified)),
        ("x-oss-hash-crc64ecma", str(record.crc64)),
        ("x-oss-last-access-time", http_date(record.last_modified)),
    ], b"")


def delete_object(call: Call) -> Response:
    call.authorize_object("oss:DeleteObject", write=True)
    call.store.delete_object(call.bucket, call.key)
    return Response(204)


def get_object_acl(call: Call) -> Response:
    record = call.authorize_object("oss:GetObjectAcl", write=False)
    if record is None:
        raise NoSuchKey(call.key)
    return xml_response(acl_document(call.owner, record.acl))


def put_object_acl(call: Call) -> Response:
    call.authorize_object("oss:PutObjectAcl", write=True)
    acl = object_acl(call.request, default=None)
    call.store.set_object_acl(call.bucket, call.key, acl)
    return Response(200)


def _keys_to_delete(call: Call) -> tuple[list[str], bool]:
    """The keys a ``<Delete>`` document names (each checked) and its ``Quiet`` flag."""
    root = read_checked_xml(call.request, "Delete")
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    keys = [node.findtext("Key") or "" for node in root.findall("Object")]
    if not keys or len(keys) > MAX_DELETE_KEYS or not all(keys):
        raise malformed_xml(f"The request must name between 1 and {MAX_DELETE_KEYS} objects, "
                            "each with a Key.")
    for key in keys:  # every key is checked before any object is touched
        if error := key_error(key):
            raise WireError(400, "InvalidObjectName", error,
                            {"BucketName": call.bucket, "Key": echo(key)})
    return keys, quiet


def delete_multiple_objects(call: Call) -> Response:
    info = call.store.get_bucket(call.bucket)
    encode = encoder(call.request)
    keys, quiet = _keys_to_delete(call)
    for key in keys:  # every key is authorized before any object is deleted
        call.oss.access.authorize_object(call.identity, "oss:DeleteObject", call.bucket, key,
                                         write=True, info=info)
    for key in keys:
        call.store.delete_object(call.bucket, key)
    content: XmlContent = [("EncodingType", "url")] if url_encoded(call.request) else []
    if not quiet:
        content += [("Deleted", [("Key", encode(key))]) for key in keys]
    return xml_response(xml_document("DeleteResult", content))


OPERATIONS: dict[str, Operation] = {
    "PutObject": put_object,
    "CopyObject": copy_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "GetObjectMeta": get_object_meta,
    "DeleteObject": delete_object,
    "GetObjectACL": get_object_acl,
    "PutObjectACL": put_object_acl,
    "DeleteMultipleObjects": delete_multiple_objects,
}
