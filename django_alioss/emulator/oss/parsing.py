"""Reading what a request says: object attributes, Content-MD5, integer parameters, byte
ranges, conditions, XML bodies, and the body itself streamed into the store."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import parse_qsl, quote, unquote

from ..httpserver import Request
from ..store import OBJECT_ACLS, ObjectAttributes, ObjectRecord, Store, WrittenBlob
from .errors import WireError, invalid_argument, malformed_xml
from .routing import decode_key
from .wire import echo, etag_header, http_date, parse_http_date

MAX_XML_BODY = 4 * 1024 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024
MAX_PART_NUMBER = 10000
STANDARD_HEADERS = ("Cache-Control", "Content-Disposition", "Content-Encoding",
                    "Content-Language", "Expires")

MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_TAG_TEXT = re.compile(r"[\w +\-=._:/]*")  # letters (any script), digits, space, + - = . _ : /
_HUGE = 10 ** 19  # past the end of any object


class NotModified(Exception):
    """A condition says the client's copy is current: answer 304 with ``headers``."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        super().__init__("not modified")
        self.headers = headers


# --- headers ----------------------------------------------------------------------------------
def object_acl(request: Request, header: str = "x-oss-object-acl",
               default: str | None = "default") -> str:
    """The object ACL a header asks for (400 InvalidArgument for an unknown one)."""
    acl = request.header(header) or default or ""
    if acl not in OBJECT_ACLS:
        raise invalid_argument("no such object access control exists", header, acl)
    return acl


def attributes(request: Request) -> ObjectAttributes:
    """Content type, standard headers, ``x-oss-meta-*``, ACL and tags of an upload."""
    headers = {name: value for name in STANDARD_HEADERS
               if (value := request.header(name)) is not None}
    meta = {name.lower()[len("x-oss-meta-"):]: value
            for name, value in request.headers.items()
            if name.lower().startswith("x-oss-meta-")}
    return ObjectAttributes(request.header("Content-Type") or "application/octet-stream",
                            headers, meta, object_acl(request), header_tags(request))


def checked_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Object tags as OSS accepts them (400 InvalidTag otherwise): at most 10, keys of 1
    to 128 characters, values of at most 256, letters, digits, space and ``+ - = . _ : /``
    only, no repeated key."""
    def invalid(message: str) -> WireError:
        return WireError(400, "InvalidTag", message)

    if len(pairs) > MAX_TAGS:
        raise invalid(f"An object can have at most {MAX_TAGS} tags.")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not 1 <= len(key) <= MAX_TAG_KEY or not _TAG_TEXT.fullmatch(key):
            raise invalid(f"The tag key must be 1 to {MAX_TAG_KEY} characters: letters, "
                          "digits, spaces and + - = . _ : /.")
        if len(value) > MAX_TAG_VALUE or not _TAG_TEXT.fullmatch(value):
            raise invalid(f"The tag value must be at most {MAX_TAG_VALUE} characters: "
                          "letters, digits, spaces and + - = . _ : /.")
        if key in tags:
            raise invalid(f"The tag key {key!r} is given twice.")
        tags[key] = value
    return tags


def header_tags(request: Request) -> dict[str, str]:
    """The tags of an upload's ``x-oss-tagging`` header (``k1=v1&k2=v2``, URL-encoded)."""
    text = request.header("x-oss-tagging")
    return checked_tags(parse_qsl(text, keep_blank_values=True)) if text else {}


def forbid_overwrite(request: Request) -> bool:
    return (request.header("x-oss-forbid-overwrite") or "").strip().lower() == "true"


def content_md5(request: Request) -> bytes | None:
    """The digest a Content-MD5 header declares (400 InvalidDigest if malformed)."""
    value = request.header("Content-MD5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise WireError(400, "InvalidDigest", "The Content-MD5 you specified was invalid.",
                        {"Content-MD5": echo(value)})
    return digest


def digest_mismatch(request: Request, md5: bytes) -> WireError:
    return WireError(400, "InvalidDigest",
                     "The Content-MD5 you specified did not match what we received.",
                     {"Content-MD5": echo(request.header("Content-MD5") or ""),
                      "CalculatedContentMD5": base64.b64encode(md5).decode("ascii")})


def copy_source(request: Request) -> tuple[str, str]:
    """Bucket and key named by ``x-oss-copy-source`` (``/bucket/quoted-key``)."""
    source = request.header("x-oss-copy-source") or ""
    path = source.split("?", 1)[0]
    raw_bucket, _, raw_key = path.lstrip("/").partition("/")
    key, error = decode_key(raw_key)
    if "?" in source or not raw_bucket or not raw_key or error:
        raise invalid_argument("Copy Source must mention the source bucket and key: "
                               "/sourcebucket/sourcekey.", "x-oss-copy-source", source)
    return unquote(raw_bucket), key


# --- query parameters ------------------------------------------------------------------------
def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter within ``low..high`` (400 InvalidArgument otherwise)."""
    text = request.params.get(name, "")
    if text == "":
        return default
    try:
        value = int(text) if len(text) <= 20 else low - 1
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise invalid_argument(f"Argument {name} must be an integer between {low} and {high}.",
                               name, text)
    return value


def part_number(request: Request) -> int:
    text = request.params.get("partNumber", "")
    number = int(text) if re.fullmatch(r"[0-9]{1,5}", text) else 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise invalid_argument("Part number must be an integer between 1 and "
                               f"{MAX_PART_NUMBER}, inclusive.", "partNumber", text)
    return number


def url_encoded(request: Request) -> bool:
    """Whether the answer's names are URL-encoded (``encoding-type=url``)."""
    encoding = request.params.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise invalid_argument("The encoding-type must be url.", "encoding-type", encoding)
    return encoding == "url"


def encoder(request: Request) -> Callable[[str], str]:
    """How names are written in the answer: quoted for ``encoding-type=url``, else as is."""
    if url_encoded(request):
        return lambda text: quote(text, safe="")
    return lambda text: text


# --- conditions and ranges ------------------------------------------------------------------
def _precondition_failed(condition: str) -> WireError:
    return WireError(412, "PreconditionFailed", "At least one of the pre-conditions you "
                     "specified did not hold.", {"Condition": condition})


def check_conditions(request: Request, record: ObjectRecord, prefix: str = "") -> None:
    """If-Match / If-Unmodified-Since -> 412; If-None-Match / If-Modified-Since ->
    :class:`NotModified` (``prefix`` reads the ``x-oss-copy-source-`` variants)."""
    etag = record.etag
    modified = int(record.last_modified)
    if_match = request.header(prefix + "If-Match")
    if if_match is not None and if_match.strip().strip('"').upper() != etag:
        raise _precondition_failed(prefix + "If-Match")
    since = parse_http_date(request.header(prefix + "If-Unmodified-Since"))
    if since is not None and modified > since:
        raise _precondition_failed(prefix + "If-Unmodified-Since")
    if_none = request.header(prefix + "If-None-Match")
    not_modified = if_none is not None and if_none.strip().strip('"').upper() == etag
    since = parse_http_date(request.header(prefix + "If-Modified-Since"))
    if if_none is None and since is not None and modified <= since:
        not_modified = True
    if not_modified:
        raise NotModified([("ETag", etag_header(etag)),
                           ("Last-Modified", http_date(record.last_modified))])


def _range_number(digits: str) -> int:
    """A Range bound; one too long for ``int()`` (thousands of digits) is past any end."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < len(str(_HUGE)) else _HUGE


def _span(text: str, size: int, standard: bool) -> tuple[int, int] | None:
    match = _RANGE.fullmatch(text.strip())
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:
        suffix = _range_number(match[2])
        if suffix > 0 and (suffix <= size or standard) and size:
            return max(size - suffix, 0), size
        return None
    start = _range_number(match[1])
    end = _range_number(match[2]) + 1 if match[2] else size
    if start < size and end > start and (end <= size or standard):
        return start, min(end, size)
    return None


def byte_range(request: Request, size: int) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for a valid Range, ``None`` for the whole object; with
    ``x-oss-range-behavior: standard`` an unsatisfiable range is 416 InvalidRange."""
    text = request.header("Range")
    if text is None:
        return None
    standard = (request.header("x-oss-range-behavior") or "").lower() == "standard"
    span = _span(text, size, standard)
    if span is None and standard:
        raise WireError(416, "InvalidRange", "The requested range cannot be satisfied",
                        {"RangeRequested": echo(text), "ActualObjectSize": str(size)},
                        headers=[("Content-Range", f"bytes */{size}")])
    return span


# --- bodies ---------------------------------------------------------------------------------
def receive(request: Request, store: Store, limit: int) -> WrittenBlob:
    """Stream the body into the store (1 MiB at a time), checking its size and MD5."""
    declared = request.body.length
    too_large = WireError(400, "EntityTooLarge",
                          "Your proposed upload exceeds the maximum allowed size.",
                          {"MaxSizeAllowed": str(limit)})
    if declared is not None and declared > limit:
        raise too_large
    expected = content_md5(request)
    writer = store.new_writer()
    try:
        for chunk in request.body.chunks():
            writer.write(chunk)
            if writer.size > limit:
                raise too_large
        if expected is not None and writer.md5 != expected:
            raise digest_mismatch(request, writer.md5)
    except BaseException:
        writer.discard()
        raise
    return writer.finish()


def read_small_body(request: Request) -> bytes:
    """The whole body of a request that carries an XML document (at most 4 MiB; a
    chunked body may come in any number of chunks)."""
    data = bytearray()
    while len(data) <= MAX_XML_BODY and (chunk := request.body.read(MAX_XML_BODY + 1 - len(data))):
        data += chunk
    if len(data) > MAX_XML_BODY:
        raise malformed_xml("The XML you provided was too large.")
    return bytes(data)


def parse_xml(data: bytes, root: str) -> ET.Element:
    """``data`` as an XML document whose root element is ``root`` (MalformedXML otherwise)."""
    try:
        element = ET.fromstring(data)
    except ET.ParseError:
        raise malformed_xml() from None
    if element.tag != root:
        raise malformed_xml(f"The root element must be {root}.")
    return element


def read_xml(request: Request, root: str) -> ET.Element:
    return parse_xml(read_small_body(request), root)


def read_checked_xml(request: Request, root: str) -> ET.Element:
    """An XML body whose Content-MD5 is required and must match (DeleteMultipleObjects)."""
    expected = content_md5(request)
    if expected is None:
        raise WireError(400, "InvalidRequest",
                        "Missing required header for this request: Content-MD5.")
    data = read_small_body(request)
    if hashlib.md5(data).digest() != expected:
        raise digest_mismatch(request, hashlib.md5(data).digest())
    return parse_xml(data, root)


def discard_body(request: Request) -> None:
    """Read what is left of a refused body (bounded) so the connection stays usable."""
    body = request.body
    if body.exhausted:
        return
    if body.length is not None and body.length - body.bytes_read > DRAIN_LIMIT:
        return  # the server closes the connection instead
    while body.bytes_read <= DRAIN_LIMIT and body.read(1024 * 1024):
        pass
