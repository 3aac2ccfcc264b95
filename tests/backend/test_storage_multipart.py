"""Uploads through ``_save``: streamed (never joined), one PUT below the threshold,
parallel multipart above it, aborted cleanly when a part fails."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile, File

from django_alioss.exceptions import OSSError
from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]
KiB = 1024
MiB = 1024 * KiB
DATA = os.urandom(2 * MiB + 12_345)


def stored(emu, key: str) -> bytes:
    return emu.store.get_object_bytes(emu.bucket_name, key)


class BoundedStream(io.RawIOBase):
    """Content that only ever hands out ``limit`` bytes per read and refuses to be read
    all at once (``read()``/``read(-1)``): proof that uploads stream it."""

    def __init__(self, data: bytes, limit: int = 64 * KiB, seekable: bool = True) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self._limit = limit
        self._seekable = seekable
        self.size = len(data)
        self.reads = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self._seekable:
            raise io.UnsupportedOperation("seek")
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        return self._data.tell()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise AssertionError("the whole content was read at once")
        self.reads += 1
        return self._data.read(min(size, self._limit))

    def readall(self) -> bytes:
        raise AssertionError("the whole content was read at once")

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


@pytest.mark.parametrize("signature_version", ["v4", "v1"])
def test_large_file_goes_multipart_and_round_trips(make_storage: StorageFactory, emu, ops,
                                                   signature_version: str) -> None:
    storage = make_storage(multipart_threshold=1 * MiB, multipart_chunksize=256 * KiB,
                           signature_version=signature_version)
    name = storage.save("big.bin", ContentFile(DATA))
    assert ops.changed() == {"InitiateMultipartUpload": 1, "UploadPart": 9,
                             "CompleteMultipartUpload": 1}
    key = f"{storage.location}/{name}"
    record = emu.store.head_object(emu.bucket_name, key)
    assert (record.object_type, record.size) == ("Multipart", len(DATA))
    assert record.etag.endswith("-9")
    assert record.content_type == "application/octet-stream"
    assert stored(emu, key) == DATA
    assert storage.open(name).read() == DATA


def test_below_threshold_is_one_put(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(multipart_threshold=4 * MiB, multipart_chunksize=256 * KiB)
    storage.save("one.bin", ContentFile(DATA))
    assert ops.changed() == {"PutObject": 1}
    assert stored(emu, f"{storage.location}/one.bin") == DATA


@pytest.mark.parametrize("limit", [64 * KiB, 1000], ids=["64KiB-reads", "short-reads"])
@pytest.mark.parametrize("threshold", [100 * KiB, 16 * MiB], ids=["multipart", "single-put"])
def test_save_streams_the_content(make_storage: StorageFactory, emu, threshold: int,
                                  limit: int) -> None:
    storage = make_storage(multipart_threshold=threshold, multipart_chunksize=512 * KiB)
    content = BoundedStream(DATA, limit=limit)
    name = storage.save("streamed.bin", File(content, name="streamed.bin"))
    assert stored(emu, f"{storage.location}/{name}") == DATA
    assert content.reads >= len(DATA) // limit


def test_text_content_of_unknown_byte_size_streams_in_parts(make_storage: StorageFactory,
                                                           emu, ops) -> None:
    storage = make_storage(multipart_threshold=100 * KiB, multipart_chunksize=100 * KiB)
    text = "ünïcødé ✓ " * 30_000  # multi-byte characters: size in bytes differs
    name = storage.save("text.txt", ContentFile(text))
    data = text.encode()
    assert stored(emu, f"{storage.location}/{name}") == data
    assert ops["UploadPart"] == 5  # 480,000 bytes in parts of exactly 100 KiB


def test_parts_upload_in_parallel_up_to_concurrency(make_storage: StorageFactory, emu, ops,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    storage = make_storage(multipart_threshold=100 * KiB, multipart_chunksize=100 * KiB,
                           multipart_concurrency=3)
    client = storage.client
    real = client.upload_part
    lock = threading.Lock()
    in_flight = peak = 0

    def upload_part(*args: Any) -> Any:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        try:
            return real(*args)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(client, "upload_part", upload_part)
    emu.controls.faults.add("oss", "UploadPart", latency=0.15, times=None)
    data = DATA[:900 * KiB]
    name = storage.save("parallel.bin", ContentFile(data))
    assert peak == 3
    assert ops["UploadPart"] == 9
    assert stored(emu, f"{storage.location}/{name}") == data


def test_failed_part_aborts_the_upload(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(multipart_threshold=100 * KiB, multipart_chunksize=100 * KiB,
                           max_retries=0)
    emu.controls.faults.add("oss", "UploadPart", status=500, code="InternalError", times=1)
    with pytest.raises(OSSError) as caught:
        storage.save("broken.bin", ContentFile(DATA[:1 * MiB]))
    assert (caught.value.status, caught.value.code) == (500, "InternalError")
    assert caught.value.operation == "UploadPart"
    assert ops["AbortMultipartUpload"] == 1 and ops["CompleteMultipartUpload"] == 0
    assert emu.store.in_progress_uploads(emu.bucket_name) == []
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/broken.bin")


def test_transient_part_failure_is_retried(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(multipart_threshold=100 * KiB, multipart_chunksize=100 * KiB)
    emu.controls.faults.add("oss", "UploadPart", status=503, code="ServiceUnavailable", times=2)
    data = DATA[:500 * KiB]
    name = storage.save("flaky.bin", ContentFile(data))
    assert ops["UploadPart"] == 5 + 2
    assert stored(emu, f"{storage.location}/{name}") == data


def test_failing_content_aborts_the_upload(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(multipart_threshold=100 * KiB, multipart_chunksize=100 * KiB)

    class Failing(BoundedStream):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= 300 * KiB:
                raise OSError("disk went away")
            return super().read(size)

    with pytest.raises(OSError, match="disk went away"):
        storage.save("half.bin", File(Failing(DATA), name="half.bin"))
    assert ops["AbortMultipartUpload"] == 1
    assert emu.store.in_progress_uploads(emu.bucket_name) == []
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/half.bin")


def test_content_shorter_than_its_size_fails_fast(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(max_retries=0)

    class Liar(BoundedStream):
        size = 1000

    content = Liar(b"only 19 bytes here.")
    content.size = 1000
    with pytest.raises(ValueError, match="ended after 19 bytes"):
        storage.save("short.bin", File(content, name="short.bin"))
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/short.bin")


def test_parts_are_sent_from_at_most_concurrency_reused_buffers(
        make_storage: StorageFactory, emu, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays within concurrency x chunksize: parts are read into a pool of at most
    ``concurrency`` buffers, reused, never one buffer per part."""
    from django_alioss import uploads

    pools: list[uploads.PartBuffers] = []

    class Recorded(uploads.PartBuffers):
        def __init__(self, count: int, size: int) -> None:
            super().__init__(count, size)
            pools.append(self)

    monkeypatch.setattr(uploads, "PartBuffers", Recorded)
    storage = make_storage(multipart_threshold=256 * KiB, multipart_chunksize=256 * KiB,
                           multipart_concurrency=2)
    storage.save("pooled.bin", File(BoundedStream(DATA), name="pooled.bin"))
    with storage.open("written.bin", "wb") as handle:
        for start in range(0, len(DATA), 100 * KiB):
            handle.write(DATA[start:start + 100 * KiB])
    assert stored(emu, f"{storage.location}/pooled.bin") == DATA
    assert stored(emu, f"{storage.location}/written.bin") == DATA
    assert len(pools) == 2  # one pool per upload, 9 parts each
    assert all(pool._made <= 2 for pool in pools)
