"""Multipart uploads: Initiate, UploadPart, Complete, Abort, ListParts and
ListMultipartUploads."""

from __future__ import annotations

import re
from urllib.parse import quote

from ...httpserver import Request, Response
from ..context import Call, Operation
from ..errors import WireError, invalid_argument, malformed_xml
from ..parsing import (
    MAX_PART_NUMBER,
    attributes,
    encoder,
    forbid_overwrite,
    int_param,
    part_number,
    read_xml,
    receive,
    url_encoded,
)
from ..wire import XmlContent, etag_header, iso_date, xml_document, xml_response
from .objects import authorized_copy_source


def _with_encoding_type(call: Call, content: XmlContent, position: int = 0) -> XmlContent:
    """``content`` with ``<EncodingType>url</EncodingType>`` at ``position`` when asked."""
    if url_encoded(call.request):
        content.insert(position, ("EncodingType", "url"))
    return content


def initiate_multipart_upload(call: Call) -> Response:
    request = call.request
    call.authorize_object("oss:PutObject", write=True)
    encode = encoder(request)
    upload = call.store.initiate_upload(call.bucket, call.key, attributes(request),
                                        forbid_overwrite=forbid_overwrite(request),
                                        now=call.now())
    content = _with_encoding_type(call, [("Bucket", call.bucket), ("Key", encode(call.key)),
                                         ("UploadId", upload.upload_id)])
    return xml_response(xml_document("InitiateMultipartUploadResult", content))


def upload_part(call: Call) -> Response:
    request = call.request
    number = part_number(request)
    call.authorize_object("oss:PutObject", write=True)
    upload_id = request.params.get("uploadId", "")
    call.store.get_upload(call.bucket, call.key, upload_id)  # NoSuchUpload before the body
    written = receive(request, call.store, call.oss.max_object_size)
    part = call.store.put_part(call.bucket, call.key, upload_id, number, written, now=call.now())
    return Response(200, [("ETag", etag_header(part.etag)),
                          ("x-oss-hash-crc64ecma", str(part.crc64))])


def upload_part_copy(call: Call) -> Response:
    """A part copied from (a byte range of) an existing object: ``x-oss-copy-source``,
    ``x-oss-copy-source-range: bytes=a-b`` and the ``x-oss-copy-source-if-*`` conditions."""
    request = call.request
    number = part_number(request)
    src_bucket, src_key, source = authorized_copy_source(call)
    upload_id = request.params.get("uploadId", "")
    call.store.get_upload(call.bucket, call.key, upload_id)
    span = source_range(request, source.size)
    _, reader = call.store.open_object(src_bucket, src_key)
    writer = call.store.new_writer()
    try:
        for chunk in reader.stream(*span):
            writer.write(chunk)
    except BaseException:
        writer.discard()
        raise
    part = call.store.put_part(call.bucket, call.key, upload_id, number, writer.finish(),
                               now=call.now())
    body = xml_document("CopyPartResult", [("LastModified", iso_date(part.last_modified)),
                                           ("ETag", etag_header(part.etag))])
    return xml_response(body, [("ETag", etag_header(part.etag)),
                               ("x-oss-hash-crc64ecma", str(part.crc64))])


def source_range(request: Request, size: int) -> tuple[int, int]:
    """``(start, end_exclusive)`` of ``x-oss-copy-source-range`` (the whole object when
    absent; 400 InvalidArgument when it does not fit the source)."""
    text = request.header("x-oss-copy-source-range")
    if not text:
        return 0, size
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", text.strip())
    start = int(match[1]) if match else size
    end = (int(match[2]) + 1 if match[2] else size) if match else 0
    if not match or start >= size or end <= start:
        raise invalid_argument("The copy source range is not valid for the source object.",
                               "x-oss-copy-source-range", text)
    return start, min(end, size)


def _parts_to_complete(call: Call) -> list[tuple[int, str]] | None:
    """The ``(PartNumber, ETag)`` list of the request, or ``None`` for
    ``x-oss-complete-all: yes`` (every uploaded part)."""
    request = call.request
    if (request.header("x-oss-complete-all") or "").lower() == "yes":
        if request.body.read(1):
            raise WireError(400, "InvalidArgument",
                            "Body must be empty when x-oss-complete-all is yes.")
        return None
    parts = []
    for node in read_xml(request, "CompleteMultipartUpload").findall("Part"):
        number, etag = node.findtext("PartNumber"), node.findtext("ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise malformed_xml("Each Part needs a PartNumber and an ETag.")
        parts.append((int(number), etag.strip()))
    if not parts:
        raise malformed_xml()
    return parts


def complete_multipart_upload(call: Call) -> Response:
    request = call.request
    call.authorize_object("oss:PutObject", write=True)
    upload_id = request.params.get("uploadId", "")
    encode = encoder(request)
    call.store.get_upload(call.bucket, call.key, upload_id)
    record = call.store.complete_upload(
        call.bucket, call.key, upload_id, _parts_to_complete(call),
        forbid_overwrite=forbid_overwrite(request), min_part_size=call.oss.min_part_size,
        now=call.now())
    location = f"http://{call.bucket}.{call.oss.endpoint}/{quote(call.key, safe='/')}"
    content = _with_encoding_type(call, [
        ("Location", location), ("Bucket", call.bucket), ("Key", encode(call.key)),
        ("ETag", etag_header(record.etag)),
    ])
    return xml_response(xml_document("CompleteMultipartUploadResult", content), [
        ("ETag", etag_header(record.etag)), ("x-oss-hash-crc64ecma", str(record.crc64))])


def abort_multipart_upload(call: Call) -> Response:
    call.authorize_object("oss:AbortMultipartUpload", write=True)
    call.store.abort_upload(call.bucket, call.key, call.request.params.get("uploadId", ""))
    return Response(204)


def list_parts(call: Call) -> Response:
    request = call.request
    call.authorize_object("oss:ListParts", write=False)
    upload_id = request.params.get("uploadId", "")
    marker = int_param(request, "part-number-marker", 0, 0, MAX_PART_NUMBER)
    max_parts = int_param(request, "max-parts", 1000, 1, 1000)
    encode = encoder(request)
    upload = call.store.get_upload(call.bucket, call.key, upload_id)
    numbers = sorted(n for n in upload.parts if n > marker)
    page, truncated = numbers[:max_parts], len(numbers) > max_parts
    content = _with_encoding_type(call, [
        ("Bucket", call.bucket), ("Key", encode(call.key)), ("UploadId", upload_id),
        ("StorageClass", "Standard"), ("PartNumberMarker", marker),
        ("NextPartNumberMarker", page[-1] if page else marker), ("MaxParts", max_parts),
        ("IsTruncated", truncated),
    ])
    for number in page:
        part = upload.parts[number]
        content.append(("Part", [
            ("PartNumber", part.number), ("LastModified", iso_date(part.last_modified)),
            ("ETag", etag_header(part.etag)), ("HashCrc64ecma", part.crc64), ("Size", part.size),
        ]))
    return xml_response(xml_document("ListPartsResult", content))


def list_multipart_uploads(call: Call) -> Response:
    request = call.request
    call.authorize_bucket("oss:ListMultipartUploads")
    params = request.params
    encode = encoder(request)
    max_uploads = int_param(request, "max-uploads", 1000, 1, 1000)
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    key_marker, id_marker = params.get("key-marker", ""), params.get("upload-id-marker", "")
    page = call.store.list_uploads(call.bucket, prefix, delimiter, key_marker, id_marker,
                                   max_uploads)
    content = _with_encoding_type(call, [
        ("Bucket", call.bucket), ("KeyMarker", encode(key_marker)),
        ("UploadIdMarker", id_marker), ("NextKeyMarker", encode(page.next_key_marker)),
        ("NextUploadIdMarker", page.next_upload_id_marker), ("Delimiter", encode(delimiter)),
        ("Prefix", encode(prefix)), ("MaxUploads", max_uploads),
        ("IsTruncated", page.truncated),
    ], position=1)
    for upload in page.uploads:
        content.append(("Upload", [
            ("Key", encode(upload.key)), ("UploadId", upload.upload_id),
            ("StorageClass", "Standard"), ("Initiated", iso_date(upload.initiated)),
        ]))
    content += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.prefixes]
    return xml_response(xml_document("ListMultipartUploadsResult", content))


OPERATIONS: dict[str, Operation] = {
    "InitiateMultipartUpload": initiate_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
}
