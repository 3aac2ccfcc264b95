"""Bodies larger than 1 MiB are hashed (MD5) on a helper thread pipelined with the reads:
the digests, the ETag, Content-MD5 checks, the CRC-64 header and the stored bytes are
the same as when everything was hashed in line, for one upload or many at once, on both
stores, and the helper thread never outlives its body."""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import BUCKET, OSSEnv, start_oss
from oss2.exceptions import ServerError
from oss2.models import PartInfo

from django_alioss.emulator.crc64 import crc64
from django_alioss.emulator.store import DirectoryStore, MemoryStore, ObjectAttributes, Store
from django_alioss.emulator.store.digests import INLINE_BYTES, BodyDigests

MiB = 1024 * 1024
HASHER = "alioss-emulator-md5"


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def hashing_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == HASHER}


STORES: dict[str, Callable[[Path], Store]] = {"memory": lambda _: MemoryStore(),
                                              "directory": DirectoryStore}


@pytest.fixture(params=sorted(STORES), scope="module")
def env(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OSSEnv]:
    """OSS on 127.0.0.1 over each store (module-wide)."""
    store = STORES[request.param](tmp_path_factory.mktemp("hashing"))
    running = start_oss(store)
    yield running
    running.stop()
    store.close()


@pytest.mark.parametrize("sizes", [
    [], [5], [INLINE_BYTES], [INLINE_BYTES, 1], [1, INLINE_BYTES],
    [700_000, 900_000, 5], [MiB] * 20 + [12345],
], ids=["empty", "tiny", "exactly-inline", "one-past", "late-large", "odd", "many"])
def test_digests_equal_hashlib_and_crc64_of_the_whole(sizes: list[int]) -> None:
    chunks = [os.urandom(size) for size in sizes]
    digests = BodyDigests()
    for chunk in chunks:
        digests.update(chunk)
    whole = b"".join(chunks)
    assert digests.result() == (hashlib.md5(whole).digest(), crc64(whole))
    assert digests.result() == (hashlib.md5(whole).digest(), crc64(whole))  # idempotent
    with pytest.raises(ValueError):
        digests.update(b"more")


def test_a_reused_buffer_is_hashed_and_stored_as_it_was_when_written() -> None:
    store = MemoryStore()
    writer = store.new_writer()
    buffer = bytearray(os.urandom(MiB))
    first = bytes(buffer)
    second = os.urandom(MiB)
    writer.write(first)
    writer.write(buffer)  # past the inline limit: hashed later, on the helper thread
    buffer[:] = second  # the caller reuses its buffer at once
    writer.write(buffer)
    written = writer.finish()
    expected = first + first + second
    assert written.md5 == hashlib.md5(expected).digest() and written.crc64 == crc64(expected)
    store.create_bucket("reuse")
    store.commit_object("reuse", "key", written, ObjectAttributes())
    assert store.get_object_bytes("reuse", "key") == expected


def test_the_helper_thread_ends_on_cancel_and_when_a_body_is_dropped() -> None:
    before = hashing_threads()
    cancelled = BodyDigests()
    cancelled.update(os.urandom(3 * MiB))
    (thread,) = hashing_threads() - before
    cancelled.cancel()
    assert not thread.is_alive()

    dropped = BodyDigests()
    dropped.update(os.urandom(3 * MiB))
    (thread,) = hashing_threads() - before
    del dropped
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_small_bodies_start_no_thread() -> None:
    before = hashing_threads()
    digests = BodyDigests()
    digests.update(b"x" * INLINE_BYTES)
    assert hashing_threads() - before == set()
    assert digests.result()[0] == hashlib.md5(b"x" * INLINE_BYTES).digest()


def test_large_put_etag_crc_content_md5_and_bytes(env: OSSEnv) -> None:
    bucket = env.bucket()
    data = os.urandom(5 * MiB + 7)
    result = bucket.put_object("large/checked", data, headers={"Content-MD5": md5_b64(data)})
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    assert result.crc == crc64(data)  # oss2 also compares it with its own
    assert env.store.get_object_bytes(BUCKET, "large/checked") == data

    def pieces() -> Iterator[bytes]:  # chunked framing: no declared length
        for start in range(0, len(data), 300_000):
            yield data[start:start + 300_000]

    chunked = bucket.put_object("large/chunked", pieces())
    assert chunked.etag == result.etag
    assert env.store.get_object_bytes(BUCKET, "large/chunked") == data


def test_large_put_with_a_wrong_content_md5_is_refused_and_not_stored(env: OSSEnv) -> None:
    bucket = env.bucket()
    data = os.urandom(4 * MiB + 3)
    before = hashing_threads()
    with pytest.raises(ServerError) as exc:
        bucket.put_object("large/bad", data, headers={"Content-MD5": md5_b64(b"other")})
    assert (exc.value.status, exc.value.code) == (400, "InvalidDigest")
    assert exc.value.details["CalculatedContentMD5"] == md5_b64(data)
    assert not env.store.exists(BUCKET, "large/bad")
    assert not any(thread.is_alive() for thread in hashing_threads() - before)
    if isinstance(env.store, DirectoryStore):
        assert list(env.store.tmp_dir.iterdir()) == []  # the partial body was removed


def test_concurrent_large_puts_and_parts_keep_their_own_digests(env: OSSEnv) -> None:
    bucket = env.bucket()
    bodies = [os.urandom(2 * MiB + 1000 * n) for n in range(8)]
    upload_id = bucket.init_multipart_upload("large/parts").upload_id

    def put(n: int) -> tuple[str, str]:
        etag = bucket.put_object(f"large/{n}", bodies[n]).etag
        part = bucket.upload_part("large/parts", upload_id, n + 1, bodies[n]).etag
        return etag, part

    with ThreadPoolExecutor(8) as pool:
        etags = list(pool.map(put, range(8)))
    for n, (etag, part) in enumerate(etags):
        assert etag == part == hashlib.md5(bodies[n]).hexdigest().upper()
        assert env.store.get_object_bytes(BUCKET, f"large/{n}") == bodies[n]
    parts = [PartInfo(n + 1, part) for n, (_, part) in enumerate(etags)]
    bucket.complete_multipart_upload("large/parts", upload_id, parts)
    assert env.store.get_object_bytes(BUCKET, "large/parts") == b"".join(bodies)
