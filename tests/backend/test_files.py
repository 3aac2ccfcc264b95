"""File objects from ``OSSStorage.open``: lazy ranged reads with seek, text mode, update
modes, exclusive creation and streaming writes."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.images import get_image_dimensions
from PIL import Image

from django_alioss.exceptions import OSSError
from django_alioss.files import FIRST_WINDOW
from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]
KiB = 1024
MiB = 1024 * KiB
BIG = os.urandom(5 * MiB)


def stored(emu, key: str) -> bytes:
    return emu.store.get_object_bytes(emu.bucket_name, key)


def put(emu, storage: OSSStorage, name: str, data: bytes, **attrs: Any) -> None:
    emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/{name}", data, **attrs)


class RangeRecorder:
    """Records the byte ranges the storage asks OSS for (the real requests still run):
    ``(start, last)``, ``last`` None for a stream to the object's end. Every GetObject of
    the client goes through ``open_object`` (windows too)."""

    def __init__(self, storage: OSSStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ranges: list[tuple[int, int | None]] = []
        client = storage.client
        real = client.open_object

        def open_object(key: str, start: int = 0, end: int | None = None, **kwargs: Any) -> Any:
            self.ranges.append((start, None if end is None else end - 1))
            return real(key, start, end, **kwargs)

        monkeypatch.setattr(client, "open_object", open_object)

    def bytes_asked(self, size: int) -> int:
        """Bytes asked for in all, for an object of ``size`` bytes."""
        return sum(min(size - 1 if last is None else last, size - 1) - start + 1
                   for start, last in self.ranges)


def test_reading_ten_bytes_in_the_middle_is_cheap(storage_v: OSSStorage, emu, ops,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    put(emu, storage_v, "big.bin", BIG)
    recorder = RangeRecorder(storage_v, monkeypatch)
    ops.reset()
    with storage_v.open("big.bin") as handle:
        assert handle.size == len(BIG)
        handle.seek(2_500_000)
        assert handle.read(10) == BIG[2_500_000:2_500_010]
        assert handle.tell() == 2_500_010
    assert ops.changed() == {"GetObject": 2}
    assert recorder.bytes_asked(len(BIG)) <= 2 * FIRST_WINDOW, recorder.ranges


def test_seek_and_tell_semantics(storage: OSSStorage, emu) -> None:
    put(emu, storage, "big.bin", BIG)
    handle = storage.open("big.bin")
    assert handle.read(5) == BIG[:5]
    handle.seek(-100, io.SEEK_END)
    assert handle.read() == BIG[-100:]
    assert handle.read(10) == b""
    handle.seek(1000)
    handle.seek(24, io.SEEK_CUR)
    assert handle.tell() == 1024
    assert handle.read(16) == BIG[1024:1040]
    handle.seek(len(BIG) + 50)
    assert handle.read(1) == b""
    with pytest.raises((ValueError, OSError)):
        handle.seek(-1)
    handle.close()


def test_sequential_read_is_one_window_then_one_stream(storage: OSSStorage, emu, ops,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    put(emu, storage, "big.bin", BIG)
    recorder = RangeRecorder(storage, monkeypatch)
    ops.reset()
    chunks = []
    with storage.open("big.bin") as handle:
        while chunk := handle.read(100_000):
            chunks.append(chunk)
        assert handle.file.raw.crc_check.verified  # the whole object, checked by CRC-64
    assert b"".join(chunks) == BIG
    # The first window at open(), then ONE streaming GET for the rest: no request per window.
    assert recorder.ranges == [(0, FIRST_WINDOW - 1), (FIRST_WINDOW, None)]
    assert ops.changed() == {"GetObject": 2}
    assert recorder.bytes_asked(len(BIG)) == len(BIG)  # every byte fetched exactly once


def test_read_all_and_chunks(storage: OSSStorage, emu, ops) -> None:
    put(emu, storage, "big.bin", BIG)
    ops.reset()
    assert storage.open("big.bin").read() == BIG
    assert ops["GetObject"] == 2  # the first window, then the rest in one request
    assert b"".join(storage.open("big.bin").chunks()) == BIG


def test_small_and_empty_objects(storage_v: OSSStorage, emu, ops) -> None:
    put(emu, storage_v, "small.txt", b"tiny")
    put(emu, storage_v, "empty.txt", b"")
    ops.reset()
    small = storage_v.open("small.txt")
    assert (small.size, small.read(), small.read()) == (4, b"tiny", b"")
    empty = storage_v.open("empty.txt")
    assert (empty.size, empty.read()) == (0, b"")
    assert ops.changed() == {"GetObject": 2}


def test_object_replaced_while_reading_is_an_error(storage: OSSStorage, emu) -> None:
    put(emu, storage, "moving.bin", BIG)
    handle = storage.open("moving.bin")
    assert handle.read(10) == BIG[:10]
    put(emu, storage, "moving.bin", b"replaced" * 100_000)
    handle.seek(3 * MiB)
    with pytest.raises(OSSError) as caught:
        handle.read(10)
    assert caught.value.status == 412


def test_image_dimensions_need_one_request(storage: OSSStorage, emu, ops) -> None:
    buffer = io.BytesIO()
    noise = Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3))
    noise.save(buffer, format="PNG")
    assert buffer.tell() > 4 * FIRST_WINDOW  # an image much larger than one window
    put(emu, storage, "photo.png", buffer.getvalue())
    ops.reset()
    with storage.open("photo.png") as handle:
        assert get_image_dimensions(handle) == (640, 480)
    assert ops.changed() == {"GetObject": 1}


def test_text_mode_reads_utf8(storage_v: OSSStorage, emu) -> None:
    text = "première ligne\nzweite Zeile 🌍\n第三行\n"
    put(emu, storage_v, "lines.txt", text.encode())
    with storage_v.open("lines.txt", "r") as handle:
        assert list(handle) == text.splitlines(keepends=True)
    with storage_v.open("lines.txt", "rt") as handle:
        assert handle.read() == text


def test_text_mode_writes_utf8(storage: OSSStorage, emu) -> None:
    with storage.open("out.txt", "w") as handle:
        handle.write("héllo ")
        handle.write("wörld ✓")
    assert stored(emu, f"{storage.location}/out.txt") == "héllo wörld ✓".encode()
    record = emu.store.head_object(emu.bucket_name, f"{storage.location}/out.txt")
    assert record.content_type == "text/plain"


def test_write_binary_small_is_one_put(storage: OSSStorage, emu, ops) -> None:
    with storage.open("w.bin", "wb") as handle:
        handle.write(b"abc")
        handle.write(bytearray(b"def"))
        assert handle.size == 6
    assert ops.changed() == {"PutObject": 1}
    assert stored(emu, f"{storage.location}/w.bin") == b"abcdef"


def test_write_nothing_creates_an_empty_object(storage: OSSStorage, emu, ops) -> None:
    storage.open("empty.bin", "wb").close()
    assert ops.changed() == {"PutObject": 1}
    assert emu.store.head_object(emu.bucket_name, f"{storage.location}/empty.bin").size == 0


def test_write_streams_into_multipart_parts(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(multipart_chunksize=256 * KiB, multipart_concurrency=2)
    block = os.urandom(100 * KiB)
    handle = storage.open("stream.bin", "wb")
    for _ in range(6):
        handle.write(block)
    assert ops["InitiateMultipartUpload"] == 1  # parts started before close()
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/stream.bin")
    for _ in range(5):
        handle.write(block)
    handle.close()
    assert ops["UploadPart"] == 5  # 1,100 KiB in 256 KiB parts
    assert ops["CompleteMultipartUpload"] == 1
    assert stored(emu, f"{storage.location}/stream.bin") == block * 11
    record = emu.store.head_object(emu.bucket_name, f"{storage.location}/stream.bin")
    assert record.object_type == "Multipart"


def test_discarded_write_commits_nothing(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(multipart_chunksize=100 * KiB)
    handle = storage.open("never.bin", "wb")
    handle.write(os.urandom(300 * KiB))
    handle.discard()
    assert ops["AbortMultipartUpload"] == 1
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/never.bin")
    assert emu.store.in_progress_uploads(emu.bucket_name) == []


def test_exclusive_create(storage: OSSStorage, emu) -> None:
    with storage.open("x.txt", "xb") as handle:
        handle.write(b"first")
    assert stored(emu, f"{storage.location}/x.txt") == b"first"
    with pytest.raises(FileExistsError):
        storage.open("x.txt", "x")
    # Created by someone else between open() and close(): refused at close, race-free.
    handle = storage.open("late.txt", "x")
    handle.write("second")
    put(emu, storage, "late.txt", b"other writer")
    with pytest.raises(FileExistsError):
        handle.close()
    assert stored(emu, f"{storage.location}/x.txt") == b"first"
    assert stored(emu, f"{storage.location}/late.txt") == b"other writer"


def test_update_mode_read_plus(storage: OSSStorage, emu) -> None:
    put(emu, storage, "u.bin", b"0123456789")
    with storage.open("u.bin", "r+b") as handle:
        assert handle.read(4) == b"0123"
        handle.seek(0, io.SEEK_END)
        handle.write(b"AB")
    assert stored(emu, f"{storage.location}/u.bin") == b"0123456789AB"
    with pytest.raises(FileNotFoundError):
        storage.open("absent.bin", "r+b")


def test_update_mode_untouched_uploads_nothing(storage: OSSStorage, emu, ops) -> None:
    put(emu, storage, "u.bin", b"0123456789")
    with storage.open("u.bin", "r+b") as handle:
        assert handle.read() == b"0123456789"
    assert ops.changed() == {"GetObject": 1}


def test_append_modes(storage: OSSStorage, emu) -> None:
    with storage.open("log.txt", "ab") as handle:  # a new object
        handle.write(b"one\n")
    with storage.open("log.txt", "a") as handle:
        handle.write("twö\n")
    assert stored(emu, f"{storage.location}/log.txt") == "one\ntwö\n".encode()
    with storage.open("log.txt", "r+") as handle:
        assert handle.read() == "one\ntwö\n"
        handle.write("three\n")
    assert stored(emu, f"{storage.location}/log.txt") == "one\ntwö\nthree\n".encode()


def test_update_mode_spills_to_disk_and_multiparts(make_storage: StorageFactory, emu,
                                                   ops) -> None:
    storage = make_storage(max_memory_size=64 * KiB, multipart_chunksize=100 * KiB,
                           multipart_threshold=100 * KiB)
    data = os.urandom(350 * KiB)
    put(emu, storage, "big.bin", data)
    with storage.open("big.bin", "a+b") as handle:
        handle.write(b"tail")
        assert handle.file._rolled  # past max_memory_size: a temporary file on disk
        handle.seek(0)
        assert handle.read(10) == data[:10]
    assert stored(emu, f"{storage.location}/big.bin") == data + b"tail"
    assert ops["UploadPart"] == 4


def test_write_plus_truncates(storage: OSSStorage, emu) -> None:
    put(emu, storage, "t.bin", b"old content")
    with storage.open("t.bin", "w+b") as handle:
        handle.write(b"new")
        handle.seek(0)
        assert handle.read() == b"new"
    assert stored(emu, f"{storage.location}/t.bin") == b"new"


@pytest.mark.parametrize("mode", ["", "rw", "q", "rb+w", "ra"])
def test_invalid_modes(storage: OSSStorage, ops, mode: str) -> None:
    with pytest.raises(ValueError):
        storage.open("whatever.bin", mode)
    assert ops.total() == 0


def test_reopen_after_close_reads_again(storage: OSSStorage, emu) -> None:
    put(emu, storage, "r.txt", b"version 1")
    handle = storage.open("r.txt")
    assert handle.read() == b"version 1"
    handle.close()
    put(emu, storage, "r.txt", b"version 2")
    with handle.open() as again:
        assert again.read() == b"version 2"


def test_saving_an_opened_file_copies_it(storage: OSSStorage, emu) -> None:
    put(emu, storage, "src.bin", BIG[:300_000])
    with storage.open("src.bin") as source:
        storage.save("copy.bin", source)
    assert stored(emu, f"{storage.location}/copy.bin") == BIG[:300_000]


def test_reader_whose_first_request_failed_still_closes(storage: OSSStorage) -> None:
    """The io finalizer closes a reader whose ``__init__`` raised (e.g. a missing
    object): ``close()`` must work on it (on Python 3.13 a failure here is reported as
    an unraisable exception)."""
    from django_alioss.files import ObjectReader

    reader = ObjectReader.__new__(ObjectReader)
    with pytest.raises(FileNotFoundError):
        reader.__init__(storage.client, storage.object_key("missing.bin"))  # type: ignore[misc]
    reader.close()
    assert reader.closed
