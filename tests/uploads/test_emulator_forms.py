"""The emulator's PostObject pieces on their own: the streaming form reader and the
policy checker (every condition operator, malformed policies)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from django_alioss.emulator.oss.errors import WireError
from django_alioss.emulator.oss.formdata import (
    READ_SIZE,
    FilePart,
    FormError,
    FormReader,
    form_boundary,
)
from django_alioss.emulator.oss.postpolicy import check_policy, parse_policy

BOUNDARY = b"----WebKitFormBoundaryW0DET1iaBMeAOBg3"


class Body:
    """A request body handed out ``step`` bytes at a time, counting what was read."""

    def __init__(self, data: bytes, step: int = READ_SIZE) -> None:
        self.data = data
        self.step = step
        self.read_total = 0

    def read(self, size: int = -1) -> bytes:
        size = min(size, self.step)
        chunk = self.data[self.read_total:self.read_total + size]
        self.read_total += len(chunk)
        return chunk


def form_body(fields: list[tuple[str, str]], file: bytes | None = b"data",
              filename: str = "a.txt", after: list[tuple[str, str]] = ()) -> bytes:
    def part(name: str, value: bytes, extra: str = "") -> bytes:
        return (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"" + name.encode()
                + b"\"" + extra.encode() + b"\r\n\r\n" + value + b"\r\n")

    body = b"".join(part(k, v.encode()) for k, v in fields)
    if file is not None:
        body += part("file", file, f'; filename="{filename}"\r\nContent-Type: text/plain')
    body += b"".join(part(k, v.encode()) for k, v in after)
    return body + b"--" + BOUNDARY + b"--\r\n"


def read_all(body: Body) -> tuple[dict[str, str], FilePart, bytes]:
    reader = FormReader(body, BOUNDARY)
    part = reader.read_fields()
    data = b"".join(reader.file_chunks())
    reader.finish()
    return reader.fields, part, data


def test_fields_then_file() -> None:
    fields, part, data = read_all(Body(form_body([("Key", "k"), ("policy", "p")], b"\r\n--x")))
    assert fields == {"key": "k", "policy": "p"}
    assert part == FilePart("a.txt", "text/plain")
    assert data == b"\r\n--x"


def test_byte_at_a_time_and_utf8_filename() -> None:
    body = form_body([("key", "é/${filename}")], b"abc" * 50, filename="résumé.txt")
    fields, part, data = read_all(Body(body, step=1))
    assert fields["key"] == "é/${filename}" and part.filename == "résumé.txt"
    assert data == b"abc" * 50


def test_the_file_streams_with_bounded_buffering() -> None:
    size = 16 * 1024 * 1024
    body = Body(form_body([("key", "k")], b"\xab" * size))
    reader = FormReader(body, BOUNDARY)
    reader.read_fields()
    given = 0
    for chunk in reader.file_chunks():
        given += len(chunk)
        assert body.read_total - given <= 2 * READ_SIZE  # never the whole body at once
    assert given == size


@pytest.mark.parametrize(("body", "message"), [
    (form_body([("key", "k")], file=None), "no file field"),
    (form_body([("key", "k"), ("KEY", "j")]), "more than once"),
    (form_body([("key", "k")], after=[("x", "y")]), "last field"),
    (form_body([("key", "k")])[:-30], "ended before the file"),
    (b"garbage", "not well-formed"),
])
def test_malformed_forms(body: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message):
        read_all(Body(body))


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "multipart/form-data", None,
    "multipart/form-data; boundary=" + "x" * 201,
])
def test_content_types_without_a_usable_boundary(content_type: str | None) -> None:
    with pytest.raises(FormError):
        form_boundary(content_type)


def test_boundary_of_a_browser_form() -> None:
    assert form_boundary(f'multipart/form-data; boundary="{BOUNDARY.decode()}"') == BOUNDARY


# --- the policy ------------------------------------------------------------------------------
def encoded(document: Any) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def policy(*conditions: Any, expiration: str = "2030-01-01T00:00:00.000Z") -> Any:
    return parse_policy(encoded({"expiration": expiration, "conditions": list(conditions)}))


FIELDS = {"key": "user/a.png", "content-type": "image/png", "cache-control": "no-cache"}


@pytest.mark.parametrize(("condition", "holds"), [
    ({"key": "user/a.png"}, True),
    ({"Key": "user/b.png"}, False),
    ({"bucket": "b"}, True),
    (["eq", "$bucket", "c"], False),
    (["eq", "$Content-Type", "image/png"], True),
    (["eq", "$x-oss-meta-missing", ""], True),
    (["starts-with", "$key", "user/"], True),
    (["starts-with", "$key", "admin/"], False),
    (["in", "$content-type", ["image/jpg", "image/png"]], True),
    (["in", "$content-type", ["image/jpg"]], False),
    (["not-in", "$cache-control", ["no-cache"]], False),
    (["not-in", "$cache-control", ["max-age=1"]], True),
    (["content-length-range", 0, 10], True),  # checked against the file as it arrives
])
def test_condition_operators(condition: Any, holds: bool) -> None:
    checked = policy(condition)
    if holds:
        check_policy(checked, FIELDS, "b", now=0)
        return
    with pytest.raises(WireError) as refused:
        check_policy(checked, FIELDS, "b", now=0)
    assert (refused.value.status, refused.value.code) == (403, "AccessDenied")
    assert refused.value.message.startswith("Invalid according to Policy: Policy Condition failed")


def test_size_range_is_the_tightest() -> None:
    checked = policy(["content-length-range", 1, 100], ["content-length-range", 5, 50])
    assert checked.size_range == (5, 50)
    assert policy({"key": "k"}).size_range is None


@pytest.mark.parametrize("expiration", ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.123Z"])
def test_expiration_formats(expiration: str) -> None:
    checked = policy(expiration=expiration)
    check_policy(checked, {}, "b", now=checked.expiration)
    with pytest.raises(WireError, match="Policy expired"):
        check_policy(checked, {}, "b", now=checked.expiration + 1)


@pytest.mark.parametrize(("text", "message", "ec"), [
    ("%%%", "not base64-encoded JSON", None),
    (encoded([1]), "not a JSON object", None),
    (encoded({"conditions": []}), "missing expiration", "0006-00000208"),
    (encoded({"expiration": "2030-01-01T00:00:00Z"}), "missing conditions", None),
    (encoded({"expiration": "tomorrow", "conditions": []}), "Invalid 'expiration'", None),
    (encoded({"expiration": "2030-01-01T00:00:00Z", "conditions": [123]}), "map or list",
     "0006-00000222"),
    (encoded({"expiration": "2030-01-01T00:00:00Z", "conditions": [["not-in", "$a", "b"]]}),
     "takes a field name and a list", "0006-00000224"),
    (encoded({"expiration": "2030-01-01T00:00:00Z", "conditions": [["gt", "$a", "b"]]}),
     "unknown operator", None),
    (encoded({"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}),
     "exactly one property", None),
    (encoded({"expiration": "2030-01-01T00:00:00Z",
              "conditions": [["content-length-range", 9, 1]]}), "min <= max", "0006-00000224"),
])
def test_malformed_policies(text: str, message: str, ec: str | None) -> None:
    with pytest.raises(WireError, match=message) as refused:
        parse_policy(text)
    assert (refused.value.status, refused.value.code) == (400, "InvalidPolicyDocument")
    if ec:
        assert refused.value.ec == ec
