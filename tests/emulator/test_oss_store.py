"""The stores behind the emulated OSS: MemoryStore and DirectoryStore behave alike,
the DirectoryStore survives a restart and keeps keys off the file system, and the
CRC-64 helpers agree with crcmod."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import crcmod
import oss2
import pytest
from conftest import BUCKET, start_oss
from oss2.models import PartInfo

from django_alioss.emulator.crc64 import Crc64, combine, combine_all, crc64
from django_alioss.emulator.iam import IAM
from django_alioss.emulator.store import (
    BucketAlreadyExists,
    DirectoryStore,
    InvalidPart,
    InvalidPartOrder,
    MemoryStore,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectAlreadyExists,
    ObjectAttributes,
    PartTooSmall,
    Store,
)


def reference_crc(data: bytes) -> int:
    crc = crcmod.Crc(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
    crc.update(data)
    return crc.crcValue


def test_crc64_check_value_and_combine() -> None:
    assert crc64(b"123456789") == 11051210869376104954
    assert crc64(b"") == 0
    rng = random.Random(7)
    for _ in range(50):
        a = rng.randbytes(rng.randrange(0, 5000))
        b = rng.randbytes(rng.randrange(0, 5000))
        assert combine(crc64(a), crc64(b), len(b)) == reference_crc(a + b)
    pieces = [rng.randbytes(rng.randrange(1, 3000)) for _ in range(12)]
    assert combine_all([(crc64(p), len(p)) for p in pieces]) == reference_crc(b"".join(pieces))
    running = Crc64()
    for piece in pieces:
        running.update(piece)
    assert running.value == reference_crc(b"".join(pieces))


@pytest.fixture(params=["memory", "directory"])
def store(request, tmp_path: Path) -> Store:
    instance: Store = MemoryStore() if request.param == "memory" else DirectoryStore(tmp_path)
    instance.create_bucket("b")
    yield instance
    instance.close()


def test_store_objects(store: Store) -> None:
    with pytest.raises(BucketAlreadyExists):
        store.create_bucket("b")
    record = store.put_object_bytes("b", "dir/a", b"a" * 3_000_000, content_type="text/a",
                                    user_meta={"x": "1"}, headers={"Cache-Control": "no"})
    assert record.size == 3_000_000
    assert record.crc64 == reference_crc(b"a" * 3_000_000)
    assert store.get_object_bytes("b", "dir/a") == b"a" * 3_000_000
    _, reader = store.open_object("b", "dir/a")
    with reader:
        chunks = list(reader.iter_range(1_048_570, 2_097_160))
    assert all(len(c) <= 1024 * 1024 for c in chunks)
    assert b"".join(chunks) == b"a" * (2_097_160 - 1_048_570)
    with pytest.raises(ObjectAlreadyExists):
        store.commit_object("b", "dir/a", _written(store, b"x"), forbid_overwrite=True)
    store.put_object_bytes("b", "dir/b", b"b")
    store.put_object_bytes("b", "top", b"t")
    assert store.list_keys("b") == ["dir/a", "dir/b", "top"]
    assert store.list_keys("b", "dir/") == ["dir/a", "dir/b"]
    page = store.list_objects("b", delimiter="/", max_keys=1)
    assert (page.prefixes, page.truncated, page.next_marker) == (["dir/"], True, "dir/")
    page = store.list_objects("b", delimiter="/", marker=page.next_marker)
    assert [r.key for r in page.objects] == ["top"] and not page.truncated
    copy = store.copy_object("b", "dir/a", "b", "copy", acl="public-read")
    assert (copy.etag, copy.acl, copy.user_meta) == (record.etag, "public-read", {"x": "1"})
    assert store.delete_object("b", "dir/a")
    assert not store.delete_object("b", "dir/a")
    assert store.get_object_bytes("b", "copy") == b"a" * 3_000_000
    with pytest.raises(NoSuchKey):
        store.head_object("b", "dir/a")
    with pytest.raises(NoSuchBucket):
        store.head_object("missing", "x")


def _written(store: Store, data: bytes):
    writer = store.new_writer()
    writer.write(data)
    return writer.finish()


def test_store_multipart(store: Store) -> None:
    upload = store.initiate_upload("b", "mp", ObjectAttributes(content_type="video/x"))
    parts = [store.put_part("b", "mp", upload.upload_id, n, _written(store, data))
             for n, data in ((1, b"1" * 200), (2, b"2" * 200), (3, b"3"))]
    with pytest.raises(InvalidPartOrder):
        store.complete_upload("b", "mp", upload.upload_id, [(2, parts[1].etag),
                                                            (1, parts[0].etag)])
    with pytest.raises(InvalidPart):
        store.complete_upload("b", "mp", upload.upload_id, [(1, "00")])
    with pytest.raises(PartTooSmall):
        store.complete_upload("b", "mp", upload.upload_id, [(p.number, p.etag) for p in parts],
                              min_part_size=201)
    record = store.complete_upload("b", "mp", upload.upload_id,
                                   [(p.number, p.etag) for p in parts], min_part_size=200)
    assert store.get_object_bytes("b", "mp") == b"1" * 200 + b"2" * 200 + b"3"
    assert record.crc64 == reference_crc(b"1" * 200 + b"2" * 200 + b"3")
    assert (record.object_type, record.content_type) == ("Multipart", "video/x")
    assert store.in_progress_uploads("b") == []
    with pytest.raises(NoSuchUpload):
        store.abort_upload("b", "mp", upload.upload_id)


def test_reader_survives_concurrent_delete(store: Store) -> None:
    store.put_object_bytes("b", "k", b"z" * 2_500_000)
    _, reader = store.open_object("b", "k")
    store.delete_object("b", "k")
    store.put_object_bytes("b", "k", b"new")
    assert b"".join(reader.stream()) == b"z" * 2_500_000


def test_directory_store_keys_stay_inside(tmp_path: Path) -> None:
    root = tmp_path / "data"
    store = DirectoryStore(root)
    store.create_bucket("b")
    nasty = ["../../escape", "/etc/passwd-like", "a/../../b", "..\\..\\win", "😀/../x", "."]
    for key in nasty:
        store.put_object_bytes("b", key, key.encode())
    assert not (tmp_path / "escape").exists()
    files = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(root.resolve()) for p in files)
    assert not any(p.name in {"escape", "passwd-like", "win", "x"} for p in files)
    for key in nasty:
        assert store.get_object_bytes("b", key) == key.encode()
    store.close()


def test_directory_store_cleans_up_and_releases_blobs(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.create_bucket("b")
    store.put_object_bytes("b", "k", b"one")
    store.put_object_bytes("b", "k", b"two")  # the first body is deleted
    writer = store.new_writer()
    writer.write(b"abandoned")
    writer.discard()
    blobs = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and blobs[0].read_bytes() == b"two"
    assert list((tmp_path / "tmp").iterdir()) == []
    store.close()
    (tmp_path / "blobs" / "ff").mkdir(exist_ok=True)
    (tmp_path / "blobs" / "ff" / ("ff" * 16)).write_bytes(b"orphan")
    (tmp_path / "tmp" / "half.part").write_bytes(b"half")
    reopened = DirectoryStore(tmp_path)
    assert [p.read_bytes() for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [b"two"]
    assert list((tmp_path / "tmp").iterdir()) == []
    reopened.close()


def test_directory_store_survives_restart(tmp_path: Path) -> None:
    iam = IAM()
    env = start_oss(DirectoryStore(tmp_path), iam=iam)
    admin = env.admin
    bucket = env.bucket()
    big = os.urandom(2 * 1024 * 1024 + 3)
    bucket.put_object("plain/ü ber.txt", b"plain", headers={
        "Content-Type": "text/plain", "x-oss-meta-who": "me", "x-oss-object-acl": "public-read"})
    bucket.put_object("big.bin", big)
    upload = bucket.init_multipart_upload("mp.bin").upload_id
    part1 = os.urandom(100 * 1024)
    etag1 = bucket.upload_part("mp.bin", upload, 1, part1).etag
    env.store.create_bucket("second")
    head_before = bucket.head_object("plain/ü ber.txt")
    env.stop()
    env.store.close()

    env = start_oss(DirectoryStore(tmp_path), iam=iam, admin=admin)
    try:
        bucket = env.bucket()
        got = bucket.get_object("plain/ü ber.txt")
        assert got.read() == b"plain"
        assert got.headers["x-oss-meta-who"] == "me"
        assert got.content_type == "text/plain"
        assert got.headers["Last-Modified"] == head_before.headers["Last-Modified"]
        assert got.etag == head_before.etag
        assert bucket.get_object_acl("plain/ü ber.txt").acl == "public-read"
        assert bucket.get_object("big.bin").read() == big
        assert env.store.has_bucket("second")
        # The multipart upload carries on where it stopped.
        assert [p.part_number for p in bucket.list_parts("mp.bin", upload).parts] == [1]
        result = bucket.upload_part("mp.bin", upload, 2, b"tail")
        bucket.complete_multipart_upload("mp.bin", upload, [
            PartInfo(1, etag1, size=len(part1), part_crc=reference_crc(part1)),
            PartInfo(2, result.etag, size=4, part_crc=result.crc)])
        assert bucket.get_object("mp.bin").read() == part1 + b"tail"
        assert sorted(o.key for o in oss2.ObjectIterator(bucket)) == [
            "big.bin", "mp.bin", "plain/ü ber.txt"]
        bucket.delete_object("big.bin")
    finally:
        env.stop()
        env.store.close()
    third = DirectoryStore(tmp_path)
    assert third.list_keys(BUCKET) == ["mp.bin", "plain/ü ber.txt"]
    assert third.in_progress_uploads(BUCKET) == []
    third.close()


def test_forbid_overwrite_commit_is_atomic(store: Store) -> None:
    written = [_written(store, f"body {i}".encode()) for i in range(16)]
    barrier = threading.Barrier(len(written))
    outcomes: list[str] = []

    def commit(index: int) -> None:
        barrier.wait()
        try:
            store.commit_object("b", "contested", written[index], forbid_overwrite=True)
            outcomes.append(f"won {index}")
        except ObjectAlreadyExists:
            outcomes.append("409")

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(len(written))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and outcomes.count("409") == len(written) - 1
    index = int(winners[0].split()[1])
    assert store.get_object_bytes("b", "contested") == f"body {index}".encode()
