"""OSS's wire formats: XML documents, dates, listing continuation tokens, echoed values."""

from __future__ import annotations

import base64
import binascii
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, Union

from ..httpserver import Response

XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
ECHO_LIMIT = 128

XmlValue = Union[str, int, bool, None, "XmlContent"]
XmlContent = list[tuple[str, XmlValue]]


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


def xml_text_document(root: str, text: str) -> bytes:
    """``<?xml ...?>`` plus ``<root>text</root>``."""
    element = ET.Element(root)
    element.text = text
    return XML_DECLARATION + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def details_content(details: Mapping[str, Any]) -> XmlContent:
    """Error details (nested mappings nest) as XML content."""
    return [(k, details_content(v) if isinstance(v, Mapping) else v) for k, v in details.items()]


def xml_response(body: bytes, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A 200 answer carrying an XML document."""
    return Response(200, [("Content-Type", "application/xml"), *headers], body)


def acl_document(owner: str, grant: str) -> bytes:
    """The ``AccessControlPolicy`` answer of GetBucketAcl and GetObjectACL."""
    return xml_document("AccessControlPolicy", [
        ("Owner", [("ID", owner), ("DisplayName", owner)]),
        ("AccessControlList", [("Grant", grant)]),
    ])


def http_date(epoch: float) -> str:
    """``Tue, 08 Oct 2024 06:49:14 GMT`` (``Last-Modified`` and friends)."""
    return formatdate(int(epoch), usegmt=True)


def iso_date(epoch: float) -> str:
    """``2024-10-08T06:49:14.000Z`` (listings)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def parse_http_date(text: str | None) -> float | None:
    """The epoch of an RFC 1123 date header, or ``None`` when absent or unparsable."""
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def encode_token(marker: str) -> str:
    """A URL-safe continuation token for a listing position."""
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii").rstrip("=")


def decode_token(token: str) -> str | None:
    """The listing position a continuation token stands for (``None``: not a token)."""
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def echo(value: str, limit: int = ECHO_LIMIT) -> str:
    """A client's value as an error echoes it: cut short, so that the Error document stays
    within the 4 KiB oss2 reads of an error body."""
    return value if len(value) <= limit else value[:limit] + "..."


def etag_header(etag: str) -> str:
    """An ETag as OSS quotes it in headers and XML."""
    return f'"{etag}"'


#: ``response-*`` query parameters of GetObject -> the header each one overrides.
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
    "response-content-language": "Content-Language",
    "response-cache-control": "Cache-Control",
    "response-expires": "Expires",
}
