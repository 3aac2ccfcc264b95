"""No multipart upload of ours remains after a save, successful or failed (issue 8,
defect 2).

The emulator's ``drop_response`` fault creates the upload, then resets the connection
before answering InitiateMultipartUpload: the client retries and gets a second upload
id, and the first upload, whose id never arrived, must be found and aborted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from django_alioss.exceptions import OSSError
from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]
MiB = 1024 * 1024
DATA = bytes(range(256)) * (80 * 1024)  # 20 MiB: above the default 16 MiB threshold


def _pending(emu: Any, storage: OSSStorage) -> list[Any]:
    return [u for u in emu.store.in_progress_uploads(emu.bucket_name)
            if u.key.startswith(f"{storage.location}/")]


@pytest.mark.parametrize("clock_offset", [0.0, 600.0, -600.0])  # within OSS's 15 min skew
def test_lost_answer_to_initiate_leaves_no_orphan(
        make_storage: StorageFactory, emu, ops, clock_offset: float) -> None:
    # The window of uploads to abort is computed on the server's clock: it must hold
    # whatever this host's clock says.
    emu.controls.clock.set_offset(clock_offset)
    storage = make_storage()
    emu.controls.faults.add("oss", "InitiateMultipartUpload", drop_response=True, times=1)
    assert storage.save("big.bin", ContentFile(DATA)) == "big.bin"
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/big.bin") == DATA
    assert ops["InitiateMultipartUpload"] == 2
    assert ops["AbortMultipartUpload"] == 1
    assert _pending(emu, storage) == []


def test_lost_answer_to_initiate_spares_other_keys_and_older_uploads(
        make_storage: StorageFactory, emu) -> None:
    storage = make_storage()
    key = f"{storage.location}/big.bin"
    emu.controls.clock.advance(-600)  # someone's upload of the same key, ten minutes ago
    older = storage.client.init_multipart(key, {}).upload_id
    emu.controls.clock.advance(600)
    other = storage.client.init_multipart(f"{key}.other", {}).upload_id
    emu.controls.faults.add("oss", "InitiateMultipartUpload", drop_response=True, times=1)
    storage.save("big.bin", ContentFile(DATA))
    assert {u.upload_id for u in _pending(emu, storage)} == {older, other}
    storage.client.abort_multipart(key, older)
    storage.client.abort_multipart(f"{key}.other", other)


def test_initiate_failing_on_every_attempt_leaves_no_orphan(
        make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(max_retries=2)
    emu.controls.faults.add("oss", "InitiateMultipartUpload", drop_response=True, times=3)
    with pytest.raises(OSSError) as caught:
        storage.save("big.bin", ContentFile(DATA))
    assert caught.value.attempts == 3
    assert ops["InitiateMultipartUpload"] == 3
    assert _pending(emu, storage) == []
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/big.bin")


def test_writer_whose_initiate_answer_was_lost_leaves_no_orphan(
        make_storage: StorageFactory, emu) -> None:
    storage = make_storage(multipart_chunksize=5 * MiB)
    emu.controls.faults.add("oss", "InitiateMultipartUpload", drop_response=True, times=1)
    with storage.open("stream.bin", "wb") as handle:
        handle.write(DATA)
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/stream.bin") == DATA
    assert _pending(emu, storage) == []


@pytest.mark.parametrize("failing", ["UploadPart", "CompleteMultipartUpload"])
def test_failed_multipart_save_leaves_no_upload(
        make_storage: StorageFactory, emu, failing: str) -> None:
    storage = make_storage()
    emu.controls.faults.add("oss", failing, status=400, code="InvalidArgument", times=None)
    with pytest.raises(OSSError):
        storage.save("big.bin", ContentFile(DATA))
    assert _pending(emu, storage) == []
