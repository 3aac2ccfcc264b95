"""Writes whose answer is lost: the retry must recognise its own object (write id).

The emulator's ``drop_response`` fault runs the operation, then resets the connection
before answering: the client retries, and OSS answers the retry with 409
FileAlreadyExists (forbid-overwrite PUT) or NoSuchUpload (an already completed
multipart upload).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files.base import ContentFile

from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]
MULTIPART = {"multipart_threshold": 256 * 1024, "multipart_chunksize": 128 * 1024}


def _keys(emu: Any, storage: OSSStorage) -> list[str]:
    return emu.store.list_keys(emu.bucket_name, f"{storage.location}/")


def test_no_overwrite_put_whose_answer_was_lost_keeps_its_name(
        make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(file_overwrite=False)
    emu.controls.faults.add("oss", "PutObject", drop_response=True, times=1)
    assert storage.save("report.txt", ContentFile(b"written once")) == "report.txt"
    assert _keys(emu, storage) == [f"{storage.location}/report.txt"], "no duplicate"
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/report.txt") \
        == b"written once"
    # The lost attempt, the retry refused with 409, and one HEAD to recognise the write.
    assert ops.changed() == {"PutObject": 2, "HeadObject": 1}


def test_retry_meeting_someone_elses_object_still_picks_another_name(
        make_storage: StorageFactory, emu) -> None:
    storage = make_storage(file_overwrite=False)
    storage.save("taken.txt", ContentFile(b"first writer"))
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=1)
    name = storage.save("taken.txt", ContentFile(b"second writer"))
    assert name != "taken.txt"
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/taken.txt") \
        == b"first writer"
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/{name}") \
        == b"second writer"


def test_multipart_completion_whose_answer_was_lost_succeeds(
        make_storage: StorageFactory, emu, ops) -> None:
    for overwrite in (True, False):
        storage = make_storage(file_overwrite=overwrite, **MULTIPART)
        data = bytes(range(256)) * 2048  # 512 KiB: four parts
        emu.controls.faults.add("oss", "CompleteMultipartUpload", drop_response=True, times=1)
        ops.reset()
        assert storage.save(f"big-{overwrite}.bin", ContentFile(data)) == f"big-{overwrite}.bin"
        key = f"{storage.location}/big-{overwrite}.bin"
        assert emu.store.get_object_bytes(emu.bucket_name, key) == data
        assert ops["CompleteMultipartUpload"] == 2
        assert ops["HeadObject"] == 1
        assert emu.store.in_progress_uploads(emu.bucket_name) == []


def test_lost_answer_to_a_writer_opened_for_writing(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(**MULTIPART)
    emu.controls.faults.add("oss", "CompleteMultipartUpload", drop_response=True, times=1)
    with storage.open("stream.bin", "wb") as handle:
        for _ in range(3):
            handle.write(b"z" * 128 * 1024)
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/stream.bin") \
        == b"z" * 3 * 128 * 1024
