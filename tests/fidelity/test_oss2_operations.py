"""oss2's less common operations against the emulator: symlinks, object tagging
(``x-oss-tagging`` on put, copy and multipart), AppendObject, UploadPartCopy, bucket ACLs,
an empty live channel listing and chunked uploads."""

from __future__ import annotations

from typing import TYPE_CHECKING

import oss2
import pytest
from oss2.models import PartInfo, Tagging, TaggingRule

from django_alioss.crc import crc64

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator


def test_symlink_put_get_and_read_through(bucket: oss2.Bucket, key_prefix: str) -> None:
    target, link = key_prefix + "target.txt", key_prefix + "link"
    bucket.put_object(target, b"hello")
    bucket.put_symlink(target, link, headers={"x-oss-meta-owner": "me"})
    assert bucket.get_symlink(link).target_key == target
    assert bucket.get_object(link).read() == b"hello"
    head = bucket.head_object(link)
    assert head.content_length == 5 and head.etag == "5D41402ABC4B2A76B9719D911017C592"
    assert head.headers["x-oss-meta-owner"] == "me"
    assert head.object_type == "Symlink"
    with pytest.raises(oss2.exceptions.ServerError) as not_a_link:
        bucket.get_symlink(target)
    assert (not_a_link.value.status, not_a_link.value.code) == (400, "NotSymlink")
    bucket.delete_object(target)
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object(link)  # a dangling symlink
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_symlink(key_prefix + "missing")


def test_object_tagging(bucket: oss2.Bucket, key_prefix: str) -> None:
    key = key_prefix + "tagged.dat"
    bucket.put_object(key, b"x", headers={"x-oss-tagging": "k1=v1&k2=a%20b"})
    assert bucket.get_object_tagging(key).tag_set.tagging_rule == {"k1": "v1", "k2": "a b"}
    assert bucket.head_object(key).headers["x-oss-tagging-count"] == "2"
    rule = TaggingRule()
    rule.add("a" * 128, "b" * 256)
    rule.add("+-.:", "_/")
    bucket.put_object_tagging(key, Tagging(rule))
    assert bucket.get_object_tagging(key).tag_set.tagging_rule == {
        "a" * 128: "b" * 256, "+-.:": "_/"}
    assert bucket.delete_object_tagging(key).status == 204
    assert bucket.get_object_tagging(key).tag_set.len() == 0


@pytest.mark.parametrize("bad", [{"%@abc": "v"}, {"k": "%abc"},
                                 {f"k{i}": "v" for i in range(11)}])
def test_invalid_tags_are_refused(bucket: oss2.Bucket, key_prefix: str,
                                  bad: dict[str, str]) -> None:
    key = key_prefix + "t"
    bucket.put_object(key, b"x")
    tagging = Tagging()
    tagging.tag_set.tagging_rule.update(bad)
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        bucket.put_object_tagging(key, tagging)
    assert (refused.value.status, refused.value.code) == (400, "InvalidTag")


def test_tags_on_copy_and_multipart(bucket: oss2.Bucket, key_prefix: str) -> None:
    source = key_prefix + "src"
    bucket.put_object(source, b"data", headers={"x-oss-tagging": "from=source"})
    bucket.copy_object(bucket.bucket_name, source, key_prefix + "copied")
    assert bucket.get_object_tagging(key_prefix + "copied").tag_set.tagging_rule == {
        "from": "source"}
    bucket.copy_object(bucket.bucket_name, source, key_prefix + "replaced", headers={
        "x-oss-tagging-directive": "Replace", "x-oss-tagging": "from=copy"})
    assert bucket.get_object_tagging(key_prefix + "replaced").tag_set.tagging_rule == {
        "from": "copy"}
    key = key_prefix + "multi"
    upload = bucket.init_multipart_upload(key, headers={"x-oss-tagging": "m=1"}).upload_id
    part = bucket.upload_part(key, upload, 1, b"part")
    bucket.complete_multipart_upload(key, upload, [PartInfo(1, part.etag)])
    assert bucket.get_object_tagging(key).tag_set.tagging_rule == {"m": "1"}


def test_append_object(bucket: oss2.Bucket, key_prefix: str) -> None:
    key = key_prefix + "log.txt"
    first = bucket.append_object(key, 0, b"a" * 512, init_crc=0)
    assert first.next_position == 512 and first.crc == crc64(b"a" * 512)
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as wrong:
        bucket.append_object(key, 0, b"b")
    assert wrong.value.next_position == 512
    second = bucket.append_object(key, 512, b"b" * 128, init_crc=first.crc)
    assert second.next_position == 640 and second.crc == crc64(b"a" * 512 + b"b" * 128)
    got = bucket.get_object(key)
    assert got.read() == b"a" * 512 + b"b" * 128
    assert got.headers["x-oss-object-type"] == "Appendable"
    bucket.put_object(key_prefix + "normal", b"x")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object(key_prefix + "normal", 1, b"more")


def test_upload_part_copy(bucket: oss2.Bucket, key_prefix: str, emu: Emulator) -> None:
    source, key = key_prefix + "big", key_prefix + "assembled"
    data = bytes(range(256)) * 1024  # 256 KiB
    bucket.put_object(source, data)
    upload = bucket.init_multipart_upload(key).upload_id
    first = bucket.upload_part_copy(bucket.bucket_name, source, (0, 102399), key, upload, 1)
    second = bucket.upload_part_copy(bucket.bucket_name, source, (102400, len(data) - 1),
                                     key, upload, 2)
    bucket.complete_multipart_upload(key, upload, [PartInfo(1, first.etag),
                                                   PartInfo(2, second.etag)])
    assert bucket.get_object(key).read() == data
    assert emu.controls.log.count("oss", "UploadPartCopy") == 2


def test_bucket_acl_and_live_channels(bucket: oss2.Bucket) -> None:
    assert bucket.get_bucket_acl().acl == "private"
    bucket.put_bucket_acl("public-read")
    try:
        assert bucket.get_bucket_acl().acl == "public-read"
    finally:
        bucket.put_bucket_acl("private")
    assert list(oss2.LiveChannelIterator(bucket)) == []


def test_chunked_upload(bucket: oss2.Bucket, key_prefix: str) -> None:
    def body():  # a generator: requests sends it with Transfer-Encoding: chunked
        yield b"first "
        yield b"second"

    result = bucket.put_object(key_prefix + "chunked", body())
    assert result.crc == crc64(b"first second")
    assert bucket.get_object(key_prefix + "chunked").read() == b"first second"
