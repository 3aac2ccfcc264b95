"""Streamed reads: one GET after the first window, resumed mid-stream with a conditional
ranged GET, CRC-64 checked on whole-object reads, connections reused or dropped."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import pytest

from django_alioss.exceptions import OSSError
from django_alioss.files import FIRST_WINDOW
from django_alioss.storage import OSSStorage

KiB = 1024
MiB = 1024 * KiB
DATA = os.urandom(3 * MiB + 777)


def put(emu, storage: OSSStorage, name: str, data: bytes) -> Any:
    return emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/{name}", data)


class StreamRecorder:
    """Records each ``open_object`` call of the storage's client: ``(start, end,
    if_match)`` (the real requests still run)."""

    def __init__(self, storage: OSSStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int | None, str | None]] = []
        real = storage.client.open_object

        def open_object(key: str, start: int = 0, end: int | None = None, *,
                        if_match: str | None = None) -> Any:
            self.calls.append((start, end, if_match))
            return real(key, start, end, if_match=if_match)

        monkeypatch.setattr(storage.client, "open_object", open_object)


def read_all_in_chunks(handle: Any, size: int = MiB) -> bytes:
    chunks = []
    while chunk := handle.read(size):
        chunks.append(chunk)
    return b"".join(chunks)


def test_reset_mid_stream_resumes_from_the_offset_with_if_match(
        storage: OSSStorage, emu, ops, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Reset after 12 MiB: more than loopback socket buffers hold, so the 512 KiB read first
    # were surely delivered before it (a reset discards what is still in flight).
    data = os.urandom(16 * MiB)
    record = put(emu, storage, "big.bin", data)
    handle = storage.open("big.bin")  # the first window, before the fault
    recorder = StreamRecorder(storage, monkeypatch)
    emu.controls.faults.add("oss", "GetObject", reset_after=12 * MiB, times=1)
    ops.reset()
    with caplog.at_level(logging.WARNING, logger="django_alioss"):
        head = handle.read(FIRST_WINDOW + 512 * KiB)
        assert head + read_all_in_chunks(handle) == data
    assert handle.file.raw.crc_check.verified
    handle.close()
    assert ops.changed() == {"GetObject": 2}
    (first_start, first_end, first_tag), (resumed, resumed_end, resumed_tag) = recorder.calls
    assert (first_start, first_end, first_tag) == (FIRST_WINDOW, None, record.etag)
    # Resumed from the offset delivered, to the end, only if the object is still the same.
    assert FIRST_WINDOW + 512 * KiB <= resumed <= FIRST_WINDOW + 12 * MiB
    assert (resumed_end, resumed_tag) == (len(data), record.etag)
    assert "connection lost at offset" in caplog.text


def test_object_replaced_before_the_resume_is_a_412(storage: OSSStorage, emu) -> None:
    data = os.urandom(16 * MiB)
    put(emu, storage, "moving.bin", data)
    handle = storage.open("moving.bin")
    # Reset after 12 MiB: well after the first read below (see the test above).
    emu.controls.faults.add("oss", "GetObject", reset_after=12 * MiB, times=1)
    assert handle.read(FIRST_WINDOW + 10) == data[:FIRST_WINDOW + 10]  # the stream began
    put(emu, storage, "moving.bin", b"new version" * 1000)
    with pytest.raises(OSSError) as caught:
        read_all_in_chunks(handle)
    assert caught.value.status == 412
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_resets_without_progress_give_up_after_max_retries(make_storage, emu, ops) -> None:
    storage = make_storage(max_retries=2)
    put(emu, storage, "flaky.bin", DATA)
    handle = storage.open("flaky.bin")
    emu.controls.faults.add("oss", "GetObject", reset_after=0, times=None)
    ops.reset()
    with pytest.raises(OSSError) as caught:
        handle.read(MiB)
    assert caught.value.status == -2
    assert ops["GetObject"] == 3  # the stream, then two resumes


def _corrupt_crc(emu, key: str) -> None:
    """Make the emulator report a CRC-64 the stored bytes do not have (bit rot)."""
    stored = emu.store._bucket(emu.bucket_name).objects[key]
    stored.record = dataclasses.replace(stored.record, crc64=stored.record.crc64 ^ 1)


@pytest.mark.parametrize("how", ["read(1 MiB)", "read()", "chunks()"])
def test_whole_object_read_with_a_wrong_crc_fails(storage: OSSStorage, emu, how: str) -> None:
    put(emu, storage, "rotten.bin", DATA)
    _corrupt_crc(emu, f"{storage.location}/rotten.bin")
    with pytest.raises(OSSError) as caught, storage.open("rotten.bin") as handle:
        if how == "read(1 MiB)":
            read_all_in_chunks(handle)
        elif how == "read()":
            handle.read()
        else:
            b"".join(handle.chunks())
    assert (caught.value.status, caught.value.code) == (-3, "InconsistentError")
    assert "CRC-64" in str(caught.value)


def test_small_object_with_a_wrong_crc_fails_at_open(storage: OSSStorage, emu) -> None:
    put(emu, storage, "small.bin", b"tiny")
    _corrupt_crc(emu, f"{storage.location}/small.bin")
    with pytest.raises(OSSError, match="CRC-64"):
        storage.open("small.bin")


def test_partial_reads_are_not_checked(storage: OSSStorage, emu) -> None:
    put(emu, storage, "partial.bin", DATA)
    _corrupt_crc(emu, f"{storage.location}/partial.bin")
    with storage.open("partial.bin") as handle:
        handle.seek(MiB)
        assert read_all_in_chunks(handle) == DATA[MiB:]  # not the whole object: no check
        assert not handle.file.raw.crc_check.verified


def test_after_a_seek_a_large_read_streams_at_once(storage: OSSStorage, emu,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    record = put(emu, storage, "big.bin", DATA)
    with storage.open("big.bin") as handle:
        recorder = StreamRecorder(storage, monkeypatch)
        handle.seek(MiB)
        buffer = bytearray(2 * MiB)
        assert handle.readinto(buffer) == len(buffer)
        assert buffer == DATA[MiB:3 * MiB]
    # After a seek, a read larger than a window opens a stream there at once.
    assert recorder.calls == [(MiB, None, record.etag)]


def test_abandoned_stream_keeps_no_connection_busy(storage: OSSStorage, emu, ops) -> None:
    put(emu, storage, "big.bin", DATA)
    put(emu, storage, "small.bin", b"x" * 100)
    for _ in range(20):  # more than the pool holds: each abandoned stream must let go
        with storage.open("big.bin") as handle:
            assert handle.read(FIRST_WINDOW + 10) == DATA[:FIRST_WINDOW + 10]
    assert storage.open("small.bin").read() == b"x" * 100


def test_gzipped_object_streams_as_stored(make_storage, emu) -> None:
    import gzip

    storage = make_storage(gzip=True)
    text = os.urandom(600 * KiB).hex().encode()
    packed = gzip.compress(text)
    emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/app.js", packed,
                               headers={"Content-Encoding": "gzip"},
                               content_type="application/javascript")
    with storage.open("app.js") as handle:
        assert read_all_in_chunks(handle) == text  # gunzipped once, by the storage
    plain = make_storage()
    with plain.open("app.js") as handle:
        assert handle.read() == packed
