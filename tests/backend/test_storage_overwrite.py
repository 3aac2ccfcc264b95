"""Both overwrite modes; ``file_overwrite=False`` is race-free (x-oss-forbid-overwrite)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.files.base import ContentFile, File

from django_alioss.storage import OSSStorage
from tests.backend.streams import OneShot

StorageFactory = Callable[..., OSSStorage]
KiB = 1024


def stored(emu, key: str) -> bytes:
    return emu.store.get_object_bytes(emu.bucket_name, key)


def test_overwrite_mode_replaces_with_one_request_each(storage: OSSStorage, emu, ops) -> None:
    assert storage.save("same.txt", ContentFile(b"first")) == "same.txt"
    assert storage.save("same.txt", ContentFile(b"second")) == "same.txt"
    assert ops.changed() == {"PutObject": 2}
    assert stored(emu, f"{storage.location}/same.txt") == b"second"


@pytest.mark.parametrize("signature_version", ["v4", "v1"])
def test_no_overwrite_free_name_is_exactly_one_request(
        make_storage: StorageFactory, emu, ops, signature_version: str) -> None:
    storage = make_storage(file_overwrite=False, signature_version=signature_version)
    ops.reset()
    assert storage.save("free.txt", ContentFile(b"data")) == "free.txt"
    assert ops.changed() == {"PutObject": 1}
    assert stored(emu, f"{storage.location}/free.txt") == b"data"


def test_no_overwrite_taken_name_gets_an_alternative(make_storage: StorageFactory, emu,
                                                     ops) -> None:
    storage = make_storage(file_overwrite=False)
    storage.save("docs/report.tar.gz", ContentFile(b"original"))
    ops.reset()
    name = storage.save("docs/report.tar.gz", ContentFile(b"newer"))
    assert re.fullmatch(r"docs/report_[A-Za-z0-9]{7}\.tar\.gz", name), name
    assert ops.changed() == {"PutObject": 2}  # one refused with 409, one accepted
    assert stored(emu, f"{storage.location}/docs/report.tar.gz") == b"original"
    assert stored(emu, f"{storage.location}/{name}") == b"newer"


def test_no_overwrite_alternative_respects_max_length(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(file_overwrite=False)
    first = storage.save("up/" + "n" * 40 + ".txt", ContentFile(b"1"), max_length=30)
    second = storage.save("up/" + "n" * 40 + ".txt", ContentFile(b"2"), max_length=30)
    assert len(first) == 30 and len(second) <= 30 and first != second
    assert stored(emu, f"{storage.location}/{first}") == b"1"
    assert stored(emu, f"{storage.location}/{second}") == b"2"


def test_two_threads_saving_one_name_end_with_two_objects(make_storage: StorageFactory,
                                                          emu, ops) -> None:
    storage = make_storage(file_overwrite=False)
    # Hold both PUTs in the emulator so they are in flight at the same time.
    emu.controls.faults.add("oss", "PutObject", latency=0.3, times=2)
    barrier = threading.Barrier(2)

    def save(payload: bytes) -> str:
        barrier.wait()
        return storage.save("race.txt", ContentFile(payload))

    with ThreadPoolExecutor(2) as pool:
        names = list(pool.map(save, [b"from thread A", b"from thread B"]))
    assert len(set(names)) == 2 and "race.txt" in names
    contents = {stored(emu, f"{storage.location}/{name}") for name in names}
    assert contents == {b"from thread A", b"from thread B"}
    assert ops["PutObject"] == 3  # the loser was refused once, then saved elsewhere
    assert len(emu.store.list_keys(emu.bucket_name, storage.location)) == 2


class _Interloper(io.RawIOBase):
    """Content that, while its second part is being read, has another writer take the
    name (so the multipart upload's completion finds the name taken)."""

    def __init__(self, data: bytes, on_second_part: Callable[[], Any]) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self._hook: Callable[[], Any] | None = on_second_part

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._data.seek(offset, whence)

    def tell(self) -> int:
        return self._data.tell()

    def readinto(self, buffer: Any) -> int:
        if self._hook is not None and self._data.tell() > 0:
            hook, self._hook = self._hook, None
            hook()
        return self._data.readinto(buffer)


def test_no_overwrite_multipart_loses_race_at_completion(make_storage: StorageFactory,
                                                         emu, ops) -> None:
    storage = make_storage(file_overwrite=False, multipart_threshold=100 * KiB,
                           multipart_chunksize=100 * KiB)
    key = f"{storage.location}/big.bin"
    data = bytes(range(256)) * 1000  # 256,000 bytes: three parts
    content = File(_Interloper(data, lambda: emu.store.put_object_bytes(
        emu.bucket_name, key, b"the other writer")), name="big.bin")
    name = storage.save("big.bin", content)
    assert name != "big.bin" and name.startswith("big_") and name.endswith(".bin")
    assert stored(emu, key) == b"the other writer"
    assert stored(emu, f"{storage.location}/{name}") == data
    assert ops["CompleteMultipartUpload"] == 2 and ops["AbortMultipartUpload"] == 1
    assert emu.store.in_progress_uploads(emu.bucket_name) == []


def test_no_overwrite_multipart_to_taken_name_fails_at_initiate(make_storage: StorageFactory,
                                                                emu, ops) -> None:
    storage = make_storage(file_overwrite=False, multipart_threshold=100 * KiB,
                           multipart_chunksize=100 * KiB)
    storage.save("taken.bin", ContentFile(b"old"))
    ops.reset()
    data = b"z" * (250 * KiB)
    name = storage.save("taken.bin", ContentFile(data))
    assert name != "taken.bin"
    assert ops["InitiateMultipartUpload"] == 2 and ops["UploadPart"] == 3
    assert stored(emu, f"{storage.location}/{name}") == data
    assert stored(emu, f"{storage.location}/taken.bin") == b"old"


def test_no_overwrite_unrewindable_content_to_taken_name_raises(make_storage: StorageFactory,
                                                                emu) -> None:
    storage = make_storage(file_overwrite=False)
    storage.save("pipe.txt", ContentFile(b"old"))
    with pytest.raises(FileExistsError) as caught:
        storage.save("pipe.txt", File(OneShot(b"cannot be re-read"), name="pipe.txt"))
    assert caught.value.code == "FileAlreadyExists"
    assert stored(emu, f"{storage.location}/pipe.txt") == b"old"
    free = storage.save("pipe2.txt", File(OneShot(b"streamed once"), name="pipe2.txt"))
    assert stored(emu, f"{storage.location}/{free}") == b"streamed once"


def test_exists_does_not_depend_on_overwrite_mode(make_storage: StorageFactory, ops) -> None:
    storage = make_storage(file_overwrite=False)
    storage.save("e.txt", ContentFile(b"e"))
    ops.reset()
    assert storage.exists("e.txt") and not storage.exists("f.txt")
    assert ops.changed() == {"GetObjectMeta": 2}
