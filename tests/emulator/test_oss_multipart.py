"""Multipart uploads on the emulated OSS through oss2: the happy path, CRC of the
combined object, listing parts and uploads, and every way completion is refused."""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET

import crcmod
import oss2
import pytest
from conftest import BUCKET, OSSEnv
from oss2.exceptions import NoSuchUpload, ServerError
from oss2.models import PartInfo

KIB = 1024


def crc64(data: bytes) -> int:
    crc = crcmod.Crc(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
    crc.update(data)
    return crc.crcValue


def upload_parts(bucket: oss2.Bucket, key: str, upload_id: str,
                 chunks: list[bytes]) -> list[PartInfo]:
    parts = []
    for number, chunk in enumerate(chunks, 1):
        result = bucket.upload_part(key, upload_id, number, chunk)
        assert result.crc == crc64(chunk)
        parts.append(PartInfo(number, result.etag, size=len(chunk), part_crc=result.crc))
    return parts


def _complete_raw(bucket: oss2.Bucket, key: str, upload_id: str, body: bytes) -> None:
    bucket._do("POST", bucket.bucket_name, key, params={"uploadId": upload_id}, data=body)


def test_multipart_round_trip(oss: OSSEnv, prefix: str, tmp_path) -> None:
    bucket = oss.bucket()
    key = prefix + "big file.bin"
    chunks = [os.urandom(100 * KIB), os.urandom(150 * KIB), os.urandom(1234)]
    init = bucket.init_multipart_upload(key, headers={"Content-Type": "video/mp4",
                                                      "x-oss-meta-kind": "movie"})
    uploads = oss.store.in_progress_uploads(BUCKET)
    assert [u.upload_id for u in uploads if u.key == key] == [init.upload_id]
    parts = upload_parts(bucket, key, init.upload_id, chunks)
    listed = bucket.list_parts(key, init.upload_id)
    assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [
        (p.part_number, p.etag, p.size) for p in parts]

    result = bucket.complete_multipart_upload(key, init.upload_id, parts)  # oss2 checks CRC
    data = b"".join(chunks)
    digest = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest().upper()
    assert result.etag == f"{digest}-3"
    assert result.crc == crc64(data)
    head = bucket.head_object(key)
    assert head.object_type == "Multipart"
    assert head.content_type == "video/mp4"
    assert head.headers["x-oss-meta-kind"] == "movie"
    assert head.content_length == len(data)
    assert oss.store.get_object_bytes(BUCKET, key) == data
    target = tmp_path / "download"
    bucket.get_object_to_file(key, str(target))  # checks the whole-object CRC
    assert target.read_bytes() == data
    got = bucket.get_object(key, byte_range=(100 * KIB - 2, 100 * KIB + 1))
    assert got.read() == data[100 * KIB - 2:100 * KIB + 2]
    assert not any(u.key == key for u in oss.store.in_progress_uploads(BUCKET))
    listed = bucket.list_objects(prefix).object_list
    assert [(o.key, o.type, o.size) for o in listed] == [(key, "Multipart", len(data))]


def test_list_parts_pagination(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "paged"
    upload_id = bucket.init_multipart_upload(key).upload_id
    for number in (1, 2, 3, 5, 8):
        bucket.upload_part(key, upload_id, number, str(number).encode())
    first = bucket.list_parts(key, upload_id, max_parts=2)
    assert [p.part_number for p in first.parts] == [1, 2]
    assert first.is_truncated and first.next_marker == "2"
    numbers = [p.part_number for p in oss2.PartIterator(bucket, key, upload_id, max_parts=2)]
    assert numbers == [1, 2, 3, 5, 8]
    # Re-uploading a part replaces it.
    bucket.upload_part(key, upload_id, 2, b"two again")
    assert oss.store.get_upload(BUCKET, key, upload_id).parts[2].size == len(b"two again")


def test_list_multipart_uploads(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    keys = [prefix + name for name in ("a/1", "a/2", "b", "b", "c/d/e")]
    ids = [bucket.init_multipart_upload(key).upload_id for key in keys]
    listed = list(oss2.MultipartUploadIterator(bucket, prefix=prefix, max_uploads=2))
    assert [(u.key, u.upload_id) for u in listed] == sorted(zip(keys, ids, strict=True))
    assert all(abs(u.initiation_date - oss.controls.clock.now()) < 60 for u in listed)
    grouped = bucket.list_multipart_uploads(prefix=prefix, delimiter="/")
    assert grouped.prefix_list == [prefix + "a/", prefix + "c/"]
    assert [u.key for u in grouped.upload_list] == [prefix + "b"] * 2
    page = bucket.list_multipart_uploads(prefix=prefix, delimiter="/", max_uploads=2)
    assert page.is_truncated and page.next_key_marker == prefix + "b"
    inner = bucket.list_multipart_uploads(prefix=prefix + "a", delimiter="/")
    assert inner.prefix_list == [prefix + "a/"]
    second_b = sorted(i for k, i in zip(keys, ids, strict=True) if k == prefix + "b")
    after = bucket.list_multipart_uploads(prefix=prefix, key_marker=prefix + "b",
                                          upload_id_marker=second_b[0])
    assert [(u.key, u.upload_id) for u in after.upload_list] == [
        (prefix + "b", second_b[1]), (prefix + "c/d/e", ids[4])]
    for key, upload_id in zip(keys, ids, strict=True):
        bucket.abort_multipart_upload(key, upload_id)
    assert bucket.list_multipart_uploads(prefix=prefix).upload_list == []


def test_complete_rejections(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "bad"
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = upload_parts(bucket, key, upload_id, [os.urandom(100 * KIB), os.urandom(10)])

    def body(entries: list[tuple[int, str]]) -> bytes:
        return ("<CompleteMultipartUpload>" + "".join(
            f'<Part><PartNumber>{n}</PartNumber><ETag>"{etag}"</ETag></Part>'
            for n, etag in entries) + "</CompleteMultipartUpload>").encode()

    wrong_order = body([(2, parts[1].etag), (1, parts[0].etag)])
    with pytest.raises(ServerError) as exc:
        _complete_raw(bucket, key, upload_id, wrong_order)  # oss2 would sort the parts
    assert (exc.value.status, exc.value.code) == (400, "InvalidPartOrder")
    duplicate = body([(1, parts[0].etag), (1, parts[0].etag)])
    with pytest.raises(ServerError) as exc:
        _complete_raw(bucket, key, upload_id, duplicate)
    assert exc.value.code == "InvalidPartOrder"
    with pytest.raises(ServerError) as exc:
        bucket.complete_multipart_upload(key, upload_id, [
            PartInfo(1, "0" * 32), PartInfo(2, parts[1].etag)])
    assert (exc.value.status, exc.value.code) == (400, "InvalidPart")
    with pytest.raises(ServerError) as exc:
        bucket.complete_multipart_upload(key, upload_id, [PartInfo(1, parts[0].etag),
                                                          PartInfo(3, parts[1].etag)])
    assert exc.value.code == "InvalidPart"
    for garbage in (b"<CompleteMultipartUpload><Part>", b"<Other/>",
                    b"<CompleteMultipartUpload></CompleteMultipartUpload>",
                    b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part>"
                    b"</CompleteMultipartUpload>"):
        with pytest.raises(ServerError) as exc:
            _complete_raw(bucket, key, upload_id, garbage)
        assert (exc.value.status, exc.value.code) == (400, "MalformedXML"), garbage
    # Nothing was consumed by the failures: the right list still completes.
    bucket.complete_multipart_upload(key, upload_id, parts)
    assert oss.store.exists(BUCKET, key)


def test_part_too_small(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "small"
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = upload_parts(bucket, key, upload_id, [os.urandom(100 * KIB - 1), b"last"])
    with pytest.raises(ServerError) as exc:
        bucket.complete_multipart_upload(key, upload_id, parts)
    assert (exc.value.status, exc.value.code) == (400, "EntityTooSmall")
    assert exc.value.details["PartNumber"] == "1"
    # A single small part is fine: it is the last one.
    result = bucket.complete_multipart_upload(key, upload_id, parts[1:])
    assert result.etag.endswith("-1")
    assert oss.store.get_object_bytes(BUCKET, key) == b"last"


def test_part_number_bounds_and_unknown_upload(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "bounds"
    upload_id = bucket.init_multipart_upload(key).upload_id
    for number in (0, 10001):
        with pytest.raises(ServerError) as exc:
            bucket.upload_part(key, upload_id, number, b"x")
        assert (exc.value.status, exc.value.code) == (400, "InvalidArgument")
    bucket.upload_part(key, upload_id, 10000, b"x")
    with pytest.raises(NoSuchUpload):
        bucket.upload_part(key, "0" * 32, 1, b"x")
    with pytest.raises(NoSuchUpload):
        bucket.upload_part(prefix + "other-key", upload_id, 1, b"x")  # id of another key
    assert bucket.abort_multipart_upload(key, upload_id).status == 204
    with pytest.raises(NoSuchUpload):
        bucket.list_parts(key, upload_id)
    with pytest.raises(NoSuchUpload):
        bucket.complete_multipart_upload(key, upload_id, [PartInfo(10000, "00")])
    with pytest.raises(NoSuchUpload):
        bucket.abort_multipart_upload(key, upload_id)


def test_forbid_overwrite_on_complete(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "taken"
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = upload_parts(bucket, key, upload_id, [b"new"])
    bucket.put_object(key, b"old")
    with pytest.raises(ServerError) as exc:
        bucket.complete_multipart_upload(key, upload_id, parts,
                                         headers={"x-oss-forbid-overwrite": "true"})
    assert (exc.value.status, exc.value.code) == (409, "FileAlreadyExists")
    assert bucket.get_object(key).read() == b"old"
    with pytest.raises(ServerError) as exc:
        bucket.init_multipart_upload(key, headers={"x-oss-forbid-overwrite": "true"})
    assert exc.value.code == "FileAlreadyExists"
    bucket.complete_multipart_upload(key, upload_id, parts)
    assert bucket.get_object(key).read() == b"new"


def test_complete_all(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "all"
    upload_id = bucket.init_multipart_upload(key).upload_id
    chunks = [os.urandom(100 * KIB), b"tail"]
    upload_parts(bucket, key, upload_id, chunks)
    result = bucket.complete_multipart_upload(key, upload_id, None,
                                              headers={"x-oss-complete-all": "yes"})
    assert result.crc == crc64(b"".join(chunks))
    assert oss.store.get_object_bytes(BUCKET, key) == b"".join(chunks)


def _one_part_upload(bucket: oss2.Bucket, key: str) -> tuple[str, bytes]:
    """An upload of ``key`` with one part (b"only") and the XML body that completes it."""
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = upload_parts(bucket, key, upload_id, [b"only"])
    body = ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
            f'<ETag>"{parts[0].etag}"</ETag></Part></CompleteMultipartUpload>').encode()
    return upload_id, body


def test_complete_response_body(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "body"
    upload_id, body = _one_part_upload(bucket, key)
    response = bucket._do("POST", BUCKET, key, params={"uploadId": upload_id}, data=body)
    root = ET.fromstring(response.read())
    assert root.tag == "CompleteMultipartUploadResult"
    assert root.findtext("Bucket") == BUCKET and root.findtext("Key") == key
    assert root.findtext("ETag") == response.headers["ETag"]
    assert root.findtext("Location").endswith(key)


def test_complete_with_a_chunked_body_in_several_chunks(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket()
    key = prefix + "chunked"
    upload_id, body = _one_part_upload(bucket, key)
    pieces = (body[i:i + 16] for i in range(0, len(body), 16))  # a generator: sent chunked
    response = bucket._do("POST", BUCKET, key, params={"uploadId": upload_id}, data=pieces)
    assert ET.fromstring(response.read()).tag == "CompleteMultipartUploadResult"
    assert oss.store.get_object_bytes(BUCKET, key) == b"only"


def test_resumable_upload(oss: OSSEnv, prefix: str, tmp_path) -> None:
    source = tmp_path / "source.bin"
    data = os.urandom(700 * KIB)
    source.write_bytes(data)
    bucket = oss.bucket()
    oss.controls.log.clear()
    oss2.resumable_upload(bucket, prefix + "resumable", str(source),
                          store=oss2.ResumableStore(root=str(tmp_path)),
                          multipart_threshold=200 * KIB, part_size=200 * KIB, num_threads=2)
    assert oss.store.get_object_bytes(BUCKET, prefix + "resumable") == data
    assert oss.controls.log.count("oss", "UploadPart") == 4
    assert oss.controls.log.count("oss", "CompleteMultipartUpload") == 1
    assert bucket.head_object(prefix + "resumable").object_type == "Multipart"
