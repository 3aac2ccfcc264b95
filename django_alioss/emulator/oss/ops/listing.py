"""Object listings: ListObjects (v1, markers) and ListObjectsV2 (continuation tokens)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...httpserver import Response
from ...store import ListPage, ObjectRecord
from ..context import Call, Operation
from ..errors import invalid_argument
from ..parsing import encoder, int_param, url_encoded
from ..wire import (
    XmlContent,
    decode_token,
    encode_token,
    etag_header,
    iso_date,
    xml_document,
    xml_response,
)


def _contents(call: Call, record: ObjectRecord, encode: Callable[[str], str],
              owner: bool) -> XmlContent:
    content: XmlContent = [
        ("Key", encode(record.key)), ("LastModified", iso_date(record.last_modified)),
        ("ETag", etag_header(record.etag)), ("Type", record.object_type),
        ("Size", record.size), ("StorageClass", record.storage_class),
    ]
    if owner:
        content.append(("Owner", [("ID", call.owner), ("DisplayName", call.owner)]))
    return content


def _entries(call: Call, page: ListPage, encode: Callable[[str], str],
             owner: bool) -> XmlContent:
    """``Contents`` and ``CommonPrefixes`` of a page."""
    entries: XmlContent = [("Contents", _contents(call, r, encode, owner)) for r in page.objects]
    entries += [("CommonPrefixes", [("Prefix", encode(p))]) for p in page.prefixes]
    return entries


def _listing(call: Call) -> tuple[Mapping[str, str], Callable[[str], str], int]:
    """Authorize a listing (a public bucket lists for anyone); its parameters, name
    encoder and page size."""
    call.authorize_bucket("oss:ListObjects", public=True)
    request = call.request
    return request.params, encoder(request), int_param(request, "max-keys", 100, 1, 1000)


def list_objects(call: Call) -> Response:
    params, encode, max_keys = _listing(call)
    prefix, delimiter, marker = (params.get("prefix", ""), params.get("delimiter", ""),
                                 params.get("marker", ""))
    page = call.store.list_objects(call.bucket, prefix, delimiter, marker, max_keys)
    content: XmlContent = [
        ("Name", call.bucket), ("Prefix", encode(prefix)), ("Marker", encode(marker)),
        ("MaxKeys", max_keys), ("Delimiter", encode(delimiter)),
    ]
    if url_encoded(call.request):
        content.append(("EncodingType", "url"))
    content.append(("IsTruncated", page.truncated))
    if page.truncated:
        content.append(("NextMarker", encode(page.next_marker)))
    content += _entries(call, page, encode, owner=True)
    return xml_response(xml_document("ListBucketResult", content))


def _start_marker(token: str, start_after: str) -> str:
    """Where a V2 listing starts: after the token's position, else after ``start-after``."""
    if not token:
        return start_after
    marker = decode_token(token)
    if marker is None:
        raise invalid_argument("The continuation token provided is incorrect.",
                               "continuation-token", token)
    return marker


def list_objects_v2(call: Call) -> Response:
    params, encode, max_keys = _listing(call)
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    token, start_after = params.get("continuation-token", ""), params.get("start-after", "")
    marker = _start_marker(token, start_after)
    fetch_owner = params.get("fetch-owner", "").lower() == "true"
    page = call.store.list_objects(call.bucket, prefix, delimiter, marker, max_keys)
    content: XmlContent = [("Name", call.bucket), ("Prefix", encode(prefix))]
    if start_after:
        content.append(("StartAfter", encode(start_after)))
    if token:
        content.append(("ContinuationToken", token))
    content += [("MaxKeys", max_keys), ("Delimiter", encode(delimiter))]
    if url_encoded(call.request):
        content.append(("EncodingType", "url"))
    content.append(("IsTruncated", page.truncated))
    if page.truncated:
        content.append(("NextContinuationToken", encode_token(page.next_marker)))
    content.append(("KeyCount", len(page.objects) + len(page.prefixes)))
    content += _entries(call, page, encode, owner=fetch_owner)
    return xml_response(xml_document("ListBucketResult", content))


OPERATIONS: dict[str, Operation] = {
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects_v2,
}
