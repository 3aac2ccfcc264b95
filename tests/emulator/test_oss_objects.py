"""Object operations of the emulated OSS, driven through oss2 (and raw HTTP where oss2
cannot send what a test needs)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import xml.etree.ElementTree as ET

import crcmod
import oss2
import pytest
from conftest import BUCKET, OSSEnv
from oss2.exceptions import NoSuchKey, NotFound, ServerError

HTTP_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                       r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                       r"\d{2}:\d{2}:\d{2} GMT")
SPECIAL_KEYS = [
    "with space.txt", "plus+sign", "percent%20literal", "hash#tag", "question?mark",
    "emoji-😀.bin", "a/b/../c", "中文/目录/文件.txt", "quote'\"&<>", "tilde~star*(x)",
    "trailing-slash-dir/", "..", "semi;colon=eq,comma",
]


def crc64(data: bytes) -> int:
    # An independent reference: crcmod configured as oss2 documents it.
    crc = crcmod.Crc(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
    crc.update(data)
    return crc.crcValue


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_put_get_round_trip_with_metadata(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "doc.txt"
    data = b"hello, oss"
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "max-age=60",
        "Content-Disposition": 'attachment; filename="doc.txt"',
        "Content-Encoding": "identity",
        "Content-Language": "en",
        "Expires": "Wed, 21 Oct 2035 07:28:00 GMT",
        "x-oss-meta-Author": "Ada",
        "x-oss-meta-empty": "",
    }
    put = bucket.put_object(key, data, headers=headers)
    assert put.status == 200
    assert put.etag == hashlib.md5(data).hexdigest().upper()
    assert put.crc == crc64(data)
    assert put.headers["ETag"] == f'"{put.etag}"'
    assert re.fullmatch(r"[0-9A-F]{24}", put.request_id)

    got = bucket.get_object(key)
    assert got.read() == data
    for name, value in headers.items():
        if name.startswith("x-oss-meta-"):
            assert got.headers[name.lower()] == value
        else:
            assert got.headers[name] == value
    assert got.headers["x-oss-object-type"] == "Normal"
    assert got.headers["x-oss-storage-class"] == "Standard"
    assert got.headers["Accept-Ranges"] == "bytes"
    assert got.headers["Content-MD5"] == md5_b64(data)
    assert got.server_crc == crc64(data)
    assert HTTP_DATE.fullmatch(got.headers["Last-Modified"])
    assert got.content_length == len(data)

    record = oss.store.head_object(BUCKET, key)
    assert record.user_meta == {"author": "Ada", "empty": ""}
    assert record.content_type == "text/plain; charset=utf-8"
    assert oss.store.get_object_bytes(BUCKET, key) == data


def test_default_content_type_is_octet_stream(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "no-type"
    url = bucket.sign_url("PUT", key, 60)
    response = oss.http.put(url, data=b"x")
    assert response.status_code == 200, response.text
    assert "Content-Type" not in response.request.headers
    assert bucket.head_object(key).content_type == "application/octet-stream"


def test_head_object_and_get_object_meta(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "meta.bin"
    data = os.urandom(3000)
    bucket.put_object(key, data, headers={"x-oss-meta-k": "v"})
    head = bucket.head_object(key)
    assert head.content_length == 3000
    assert head.etag == hashlib.md5(data).hexdigest().upper()
    assert head.object_type == "Normal"
    assert head.server_crc == crc64(data)
    assert head.headers["x-oss-meta-k"] == "v"
    meta = bucket.get_object_meta(key)
    assert (meta.content_length, meta.etag) == (3000, head.etag)
    assert meta.last_modified == head.last_modified
    assert bucket.object_exists(key)
    assert not bucket.object_exists(prefix + "missing")


def test_missing_key_errors(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    with pytest.raises(NoSuchKey) as exc:
        bucket.get_object(prefix + "missing")
    err = exc.value
    assert (err.status, err.code, err.ec) == (404, "NoSuchKey", "0026-00000001")
    assert err.details["Key"] == prefix + "missing"
    assert err.details["HostId"] == f"{BUCKET}.oss-cn-hangzhou.aliyuncs.com"
    assert err.headers["x-oss-ec"] == "0026-00000001"
    assert err.headers["Content-Type"] == "application/xml"
    assert err.request_id == err.details["RequestId"]

    # HEAD: no body, the Error XML rides base64-encoded in x-oss-err.
    with pytest.raises(NotFound) as head_exc:
        bucket.head_object(prefix + "missing")
    assert head_exc.value.code == "NoSuchKey"
    assert head_exc.value.body == b""
    decoded = ET.fromstring(base64.b64decode(head_exc.value.headers["x-oss-err"]))
    assert decoded.findtext("Code") == "NoSuchKey"
    assert decoded.findtext("EC") == "0026-00000001"


def test_error_body_shape_raw(oss: OSSEnv) -> None:
    response = oss.http.get(f"{oss.endpoint}/{BUCKET}/definitely-missing")
    assert response.status_code == 403  # anonymous, private bucket: ACL first
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>')
    root = ET.fromstring(response.content)
    assert [child.tag for child in root][:4] == ["Code", "Message", "RequestId", "HostId"]
    assert root.findtext("Message") == \
        "You have no right to access this object because of bucket acl."
    assert root.findtext("RequestId") == response.headers["x-oss-request-id"]
    assert root.findtext("EC") == response.headers["x-oss-ec"]
    assert response.headers["Server"] == "AliyunOSS"


def test_delete_object_is_idempotent(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "gone"
    bucket.put_object(key, b"1")
    assert bucket.delete_object(key).status == 204
    assert not oss.store.exists(BUCKET, key)
    assert bucket.delete_object(key).status == 204


def test_content_md5(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    data = b"checked body"
    ok = bucket.put_object(prefix + "md5", data, headers={"Content-MD5": md5_b64(data)})
    assert ok.status == 200
    with pytest.raises(ServerError) as exc:
        bucket.put_object(prefix + "md5-bad", data, headers={"Content-MD5": md5_b64(b"other")})
    assert (exc.value.status, exc.value.code) == (400, "InvalidDigest")
    assert not oss.store.exists(BUCKET, prefix + "md5-bad")
    with pytest.raises(ServerError) as exc:
        bucket.put_object(prefix + "md5-garbage", data, headers={"Content-MD5": "not base64!"})
    assert (exc.value.status, exc.value.code) == (400, "InvalidDigest")


def test_forbid_overwrite(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "once"
    forbid = {"x-oss-forbid-overwrite": "true"}
    bucket.put_object(key, b"first", headers=forbid)
    with pytest.raises(ServerError) as exc:
        bucket.put_object(key, b"second", headers=forbid)
    assert (exc.value.status, exc.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object(key).read() == b"first"
    bucket.put_object(key, b"third", headers={"x-oss-forbid-overwrite": "false"})
    assert bucket.get_object(key).read() == b"third"


def test_entity_too_large(oss: OSSEnv, prefix: str) -> None:
    oss.service.max_object_size = 1024 * 1024
    bucket = oss.bucket()
    with pytest.raises(ServerError) as exc:
        bucket.put_object(prefix + "big", b"x" * (1024 * 1024 + 1))
    assert (exc.value.status, exc.value.code) == (400, "EntityTooLarge")

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(3):
            yield b"y" * (512 * 1024)

    with pytest.raises(ServerError) as exc:
        bucket.put_object(prefix + "big-chunked", chunks())
    assert (exc.value.status, exc.value.code) == (400, "EntityTooLarge")
    assert oss.store.list_keys(BUCKET, prefix) == []
    bucket.put_object(prefix + "fits", b"z" * (1024 * 1024))


def test_chunked_upload_and_crc(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    pieces = [os.urandom(700_000), os.urandom(900_000), os.urandom(5)]

    def body():
        yield from pieces

    result = bucket.put_object(prefix + "chunked", body())  # oss2 checks the CRC header
    data = b"".join(pieces)
    assert result.crc == crc64(data)
    assert oss.store.get_object_bytes(BUCKET, prefix + "chunked") == data


def test_get_object_to_file_checks_crc(oss: OSSEnv, prefix: str, tmp_path) -> None:
    bucket = oss.bucket()
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several 1 MiB chunks
    bucket.put_object(prefix + "file", data)
    target = tmp_path / "out.bin"
    result = bucket.get_object_to_file(prefix + "file", str(target))
    assert result.server_crc == result.client_crc == crc64(data)
    assert target.read_bytes() == data


@pytest.mark.parametrize(("header", "status", "expected"), [
    ("bytes=0-9", 206, (0, 10)),
    ("bytes=1048570-1048580", 206, (1048570, 1048581)),  # across a 1 MiB chunk boundary
    ("bytes=100-", 206, (100, None)),
    ("bytes=-5", 206, (-5, None)),
    ("bytes=5-2", 200, None),
    ("bytes=0-99999999", 200, None),  # end beyond the object: whole object
    ("bytes=9999999-", 200, None),
    ("bytes=1-2,4-5", 200, None),
    ("byte=0-1", 200, None),
    ("bytes=0-" + "9" * 5000, 200, None),  # too long for int(): past the end, not a 500
    ("bytes=" + "9" * 5000 + "-", 200, None),
    ("bytes=-" + "9" * 5000, 200, None),
    ("bytes=" + "0" * 5000 + "5-9", 206, (5, 10)),  # leading zeros are still a number
])
def test_ranges(oss: OSSEnv, prefix: str, header: str, status: int,
                expected: tuple[int, int | None] | None) -> None:
    bucket = oss.bucket()
    data = os.urandom(2 * 1024 * 1024)
    key = prefix + "ranged"
    bucket.put_object(key, data)
    got = bucket.get_object(key, headers={"Range": header})
    body = got.read()
    assert got.status == status
    if expected is None:
        assert body == data
        assert got.content_range is None
    else:
        start, end = expected
        assert body == data[start:end]
        first = start if start >= 0 else len(data) + start
        assert got.content_range == f"bytes {first}-{first + len(body) - 1}/{len(data)}"
    assert got.server_crc == crc64(data)  # the whole object's CRC, even for a range


def test_standard_range_behavior(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "std"
    bucket.put_object(key, b"0123456789")
    standard = {"x-oss-range-behavior": "standard"}
    got = bucket.get_object(key, headers={**standard, "Range": "bytes=5-100"})
    assert (got.status, got.read(), got.content_range) == (206, b"56789", "bytes 5-9/10")
    with pytest.raises(ServerError) as exc:
        bucket.get_object(key, headers={**standard, "Range": "bytes=10-20"})
    assert (exc.value.status, exc.value.code) == (416, "InvalidRange")
    assert exc.value.headers["Content-Range"] == "bytes */10"
    got = bucket.get_object(key, byte_range=(2, 4))
    assert (got.status, got.read()) == (206, b"234")
    huge = "9" * 5000
    got = bucket.get_object(key, headers={**standard, "Range": f"bytes=3-{huge}"})
    assert (got.status, got.read(), got.content_range) == (206, b"3456789", "bytes 3-9/10")
    for header in (f"bytes={huge}-", f"bytes={huge}-{huge}"):
        with pytest.raises(ServerError) as exc:
            bucket.get_object(key, headers={**standard, "Range": header})
        assert (exc.value.status, exc.value.code) == (416, "InvalidRange")


def test_conditional_requests(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "cond"
    etag = bucket.put_object(key, b"conditional").etag
    last_modified = bucket.head_object(key).headers["Last-Modified"]
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object(key, headers={"If-None-Match": f'"{etag}"'})
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object(key, headers={"If-Modified-Since": last_modified})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object(key, headers={"If-Match": '"0123456789ABCDEF0123456789ABCDEF"'})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object(key, headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert bucket.get_object(key, headers={"If-Match": f'"{etag}"'}).read() == b"conditional"
    assert bucket.get_object(
        key, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).read() \
        == b"conditional"


def test_response_header_overrides(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "override.bin"
    bucket.put_object(key, b"data", headers={"Content-Type": "application/octet-stream"})
    params = {
        "response-content-type": "text/csv",
        "response-content-disposition": 'attachment; filename="report.csv"',
        "response-content-encoding": "identity",
        "response-content-language": "fr",
        "response-cache-control": "no-cache",
        "response-expires": "Thu, 01 Jan 2037 00:00:00 GMT",
    }
    got = bucket.get_object(key, params=dict(params))
    assert got.read() == b"data"
    assert got.headers["Content-Type"] == "text/csv"
    assert got.headers["Content-Disposition"] == 'attachment; filename="report.csv"'
    assert got.headers["Content-Encoding"] == "identity"
    assert got.headers["Content-Language"] == "fr"
    assert got.headers["Cache-Control"] == "no-cache"
    assert got.headers["Expires"] == "Thu, 01 Jan 2037 00:00:00 GMT"


def test_copy_object(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    src = prefix + "src.txt"
    data = b"copy me"
    bucket.put_object(src, data, headers={"Content-Type": "text/plain",
                                          "x-oss-meta-origin": "src",
                                          "x-oss-object-acl": "public-read"})
    copied = bucket.copy_object(BUCKET, src, prefix + "copy.txt")
    assert copied.etag == hashlib.md5(data).hexdigest().upper()
    head = bucket.head_object(prefix + "copy.txt")
    assert head.content_type == "text/plain"
    assert head.headers["x-oss-meta-origin"] == "src"
    assert bucket.get_object_acl(prefix + "copy.txt").acl == "default"

    bucket.copy_object(BUCKET, src, prefix + "replaced.txt", headers={
        "x-oss-metadata-directive": "REPLACE", "Content-Type": "text/html",
        "x-oss-meta-fresh": "yes"})
    head = bucket.head_object(prefix + "replaced.txt")
    assert head.content_type == "text/html"
    assert head.headers["x-oss-meta-fresh"] == "yes"
    assert "x-oss-meta-origin" not in head.headers
    assert bucket.get_object(prefix + "replaced.txt").read() == data

    bucket.update_object_meta(src, {"x-oss-meta-updated": "1", "Content-Type": "text/x-new"})
    head = bucket.head_object(src)
    assert (head.content_type, head.headers["x-oss-meta-updated"]) == ("text/x-new", "1")
    assert "x-oss-meta-origin" not in head.headers

    with pytest.raises(NoSuchKey):
        bucket.copy_object(BUCKET, prefix + "nope", prefix + "x")
    with pytest.raises(ServerError) as exc:
        bucket.copy_object(BUCKET, src, prefix + "copy.txt",
                           headers={"x-oss-forbid-overwrite": "true"})
    assert (exc.value.status, exc.value.code) == (409, "FileAlreadyExists")
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.copy_object(BUCKET, src, prefix + "cond",
                           headers={"x-oss-copy-source-if-match": '"00"'})


def test_copy_object_across_buckets(oss: OSSEnv, prefix: str) -> None:
    other = "copy-target-" + prefix.strip("/").lower()
    oss.store.create_bucket(other)
    bucket = oss.bucket()
    bucket.put_object(prefix + "cross", b"across")
    target = oss.bucket(name=other)
    result = target.copy_object(BUCKET, prefix + "cross", "landed")
    assert result.status == 200
    assert oss.store.get_object_bytes(other, "landed") == b"across"


def test_object_acl(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "acl"
    bucket.put_object(key, b"acl")
    assert bucket.get_object_acl(key).acl == "default"
    bucket.put_object_acl(key, oss2.OBJECT_ACL_PUBLIC_READ)
    assert bucket.get_object_acl(key).acl == "public-read"
    assert oss.store.head_object(BUCKET, key).acl == "public-read"
    with pytest.raises(ServerError) as exc:
        bucket.put_object_acl(key, "world-writable")
    assert (exc.value.status, exc.value.code) == (400, "InvalidArgument")
    with pytest.raises(NoSuchKey):
        bucket.get_object_acl(prefix + "missing")
    bucket.put_object(prefix + "acl2", b"x", headers={"x-oss-object-acl": "private"})
    assert bucket.get_object_acl(prefix + "acl2").acl == "private"


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_special_character_keys(oss: OSSEnv, prefix: str, key: str) -> None:
    bucket = oss.bucket()
    full = prefix + key
    data = key.encode() * 3
    bucket.put_object(full, data)
    assert oss.store.list_keys(BUCKET, prefix) == [full]
    assert bucket.get_object(full).read() == data
    assert [o.key for o in bucket.list_objects(prefix).object_list] == [full]
    assert [o.key for o in bucket.list_objects_v2(prefix).object_list] == [full]
    url = bucket.sign_url("GET", full, 60)
    assert oss.http.get(url).content == data
    v4_url = oss.bucket(oss.auth(version="v4")).sign_url("GET", full, 60)
    assert oss.http.get(v4_url).content == data
    result = bucket.batch_delete_objects([full])
    assert result.deleted_keys == [full]
    assert oss.store.list_keys(BUCKET, prefix) == []


def test_batch_delete(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    keys = [prefix + f"k{i}" for i in range(5)]
    for key in keys[:4]:
        bucket.put_object(key, b"x")
    result = bucket.batch_delete_objects(keys)  # one of them never existed: still "Deleted"
    assert sorted(result.deleted_keys) == sorted(keys)
    assert oss.store.list_keys(BUCKET, prefix) == []


def _raw_delete(bucket: oss2.Bucket, body: bytes, headers: dict[str, str]) -> oss2.http.Response:
    return bucket._do("POST", bucket.bucket_name, "", data=body,
                      params={"delete": "", "encoding-type": "url"}, headers=headers)


def test_batch_delete_quiet_and_errors(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    bucket.put_object(prefix + "q", b"x")
    body = (f"<Delete><Quiet>true</Quiet><Object><Key>{prefix}q</Key></Object></Delete>").encode()
    response = _raw_delete(bucket, body, {"Content-MD5": md5_b64(body)})
    root = ET.fromstring(response.read())
    assert root.tag == "DeleteResult" and root.findall("Deleted") == []
    assert not oss.store.exists(BUCKET, prefix + "q")

    with pytest.raises(ServerError) as exc:
        _raw_delete(bucket, body, {})
    assert (exc.value.status, exc.value.code) == (400, "InvalidRequest")
    with pytest.raises(ServerError) as exc:
        _raw_delete(bucket, body, {"Content-MD5": md5_b64(b"other")})
    assert (exc.value.status, exc.value.code) == (400, "InvalidDigest")
    too_many = ("<Delete><Quiet>false</Quiet>" + "".join(
        f"<Object><Key>k{i}</Key></Object>" for i in range(1001)) + "</Delete>").encode()
    with pytest.raises(ServerError) as exc:
        _raw_delete(bucket, too_many, {"Content-MD5": md5_b64(too_many)})
    assert (exc.value.status, exc.value.code) == (400, "MalformedXML")
    garbage = b"<Delete><Object>"
    with pytest.raises(ServerError) as exc:
        _raw_delete(bucket, garbage, {"Content-MD5": md5_b64(garbage)})
    assert exc.value.code == "MalformedXML"


@pytest.mark.parametrize("bad", ["x" * 1024, "\u00e9" * 512, "/leading-slash",
                                 "\\leading-backslash"],
                         ids=["1024-ascii", "1024-bytes-512-chars", "slash", "backslash"])
def test_batch_delete_refuses_invalid_keys_and_deletes_nothing(oss: OSSEnv, prefix: str,
                                                               bad: str) -> None:
    bucket = oss.bucket()
    keep = prefix + "keep"
    bucket.put_object(keep, b"x")
    longest = prefix + "k" * (1023 - len(prefix))  # 1,023 bytes: still a valid name
    bucket.put_object(longest, b"y")
    with pytest.raises(ServerError) as exc:
        bucket.batch_delete_objects([keep, bad, longest])
    assert (exc.value.status, exc.value.code) == (400, "InvalidObjectName")
    assert oss.store.list_keys(BUCKET, prefix) == sorted([keep, longest])
    assert sorted(bucket.batch_delete_objects([keep, longest]).deleted_keys) == \
        sorted([keep, longest])


def test_invalid_object_names(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    for key in ("x" * 1024, "/leading-slash", "\\leading-backslash"):
        with pytest.raises(ServerError) as exc:
            bucket.put_object(key, b"x")
        assert (exc.value.status, exc.value.code) == (400, "InvalidObjectName")
    bucket.put_object(prefix + "y" * (1023 - len(prefix)), b"ok")  # exactly 1023 bytes
    response = oss.http.get(f"{oss.endpoint}/{BUCKET}/bad-utf8-%FF%FE")
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "InvalidObjectName"


def test_unsupported_operation(oss: OSSEnv) -> None:
    with pytest.raises(ServerError) as exc:
        oss.bucket().get_bucket_lifecycle()
    assert (exc.value.status, exc.value.code) == (501, "NotImplemented")


def test_injected_fault_uses_oss_error_shape(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    bucket.put_object(prefix + "f", b"x")
    oss.controls.faults.add("oss", "GetObject", status=503, code="ServiceUnavailable",
                            message="Please reduce your request rate.")
    with pytest.raises(ServerError) as exc:
        bucket.get_object(prefix + "f")
    assert (exc.value.status, exc.value.code) == (503, "ServiceUnavailable")
    assert exc.value.headers["x-oss-ec"] == exc.value.details["EC"]
    oss.controls.faults.add("oss", "HeadObject", status=500, code="InternalError")
    with pytest.raises(ServerError) as exc:
        bucket.head_object(prefix + "f")
    assert exc.value.code == "InternalError"  # decoded from x-oss-err
    assert bucket.get_object(prefix + "f").read() == b"x"


def test_request_log_records_operations(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    oss.controls.log.clear()
    bucket.put_object(prefix + "log", b"x")
    bucket.get_object(prefix + "log").read()
    bucket.head_object(prefix + "log")
    bucket.get_object_meta(prefix + "log")
    bucket.list_objects(prefix)
    bucket.list_objects_v2(prefix)
    bucket.delete_object(prefix + "log")
    entries = oss.controls.log.entries(service="oss")
    assert [e.operation for e in entries] == [
        "PutObject", "GetObject", "HeadObject", "GetObjectMeta", "ListObjects",
        "ListObjectsV2", "DeleteObject"]
    assert {e.access_key_id for e in entries} == {oss.admin.access_key_id}
    assert [e.status for e in entries] == [200, 200, 200, 200, 200, 200, 204]
