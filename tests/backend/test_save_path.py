"""The small-save fast path (issue 9, target 2) changes no behaviour: names are judged
exactly as Django's ``validate_file_name`` and django-storages' ``get_available_overwrite_name``
judge them, a small content that can be read again goes out as bytes (retried as is,
read whole however its ``read`` splits it), and one that cannot keeps the stream path."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File
from django.core.files.utils import validate_file_name
from storages.utils import clean_name, get_available_overwrite_name

from django_alioss.exceptions import OSSError
from django_alioss.names import validate_file_name as checked_name
from django_alioss.storage import OSSStorage
from django_alioss.uploads import read_exactly
from tests.backend.streams import OneShot

NAMES = ["a.txt", "dir/a.txt", "dir/sub/a.tar.gz", "", ".", "..", "./a", "a/.", "a/..",
         "../a", "a/../b", "a/./b", "a//b", "dir/", "/abs", "//abs", "\\abs", "a\\..\\b",
         "..\\x", "a\\b", "..a", "a..", "a/..b/c", "...", "a/...", ".hidden", " ", "ü/ß.txt",
         "a/b/../../..", "C:\\x\\y.txt", PurePosixPath("p/q.txt"), PurePosixPath("/p/q")]


def outcome(check: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", check()
    except SuspiciousFileOperation as exc:
        return "refused", str(exc)


@pytest.mark.parametrize("name", NAMES, ids=repr)
def test_name_checks_judge_every_name_as_django_does(name: Any) -> None:
    assert outcome(lambda: checked_name(name)) == outcome(
        lambda: validate_file_name(name, allow_relative_path=True) and None)


@pytest.mark.parametrize(("name", "max_length"), list(itertools.product(
    [n for n in NAMES if isinstance(n, str)] + ["dir/" + "x" * 40 + ".txt"], [None, 5, 12, 100])))
def test_available_name_is_django_storages_answer(storage: OSSStorage, name: str,
                                                  max_length: int | None) -> None:
    assert outcome(lambda: storage.get_available_name(name, max_length)) == outcome(
        lambda: get_available_overwrite_name(clean_name(name), max_length))


class Trickle(io.BytesIO):
    """A seekable file whose ``read`` gives at most 7 bytes at a time."""

    def read(self, size: int | None = -1) -> bytes:
        return super().read(7 if size is None or size < 0 else min(size, 7))


def test_read_exactly_reads_until_the_size_or_says_where_it_ended() -> None:
    assert read_exactly(Trickle(b"0123456789abcdef"), 12) == b"0123456789ab"
    assert read_exactly(io.BytesIO(b"xyz"), 0) == b""
    with pytest.raises(ValueError, match="ended after 16 bytes, but its size says 20"):
        read_exactly(Trickle(b"0123456789abcdef"), 20)


def test_a_small_content_read_in_pieces_is_saved_whole(storage: OSSStorage, emu, ops) -> None:
    data = bytes(range(256)) * 4
    content = File(Trickle(data), name="t.bin")
    content.read(100)  # the whole content is saved whatever its position
    assert storage.save("trickle.bin", content) == "trickle.bin"
    assert ops["PutObject"] == 1
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/trickle.bin") == data


def test_a_small_content_is_retried_with_the_same_bytes(storage: OSSStorage, emu, ops) -> None:
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=2)
    data = b"\x00\xff" * 300
    assert storage.save("again.bin", ContentFile(data)) == "again.bin"
    assert ops["PutObject"] == 3
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/again.bin") == data


def test_a_content_that_cannot_be_read_again_is_not_retried(storage: OSSStorage, emu,
                                                            ops) -> None:
    emu.controls.faults.add("oss", "PutObject", status=503, code="ServiceUnavailable", times=1)
    with pytest.raises(OSSError) as caught:
        storage.save("once.bin", File(OneShot(b"read me once"), name="once.bin"))
    assert caught.value.status == 503 and ops["PutObject"] == 1
    assert storage.save("once.bin", File(OneShot(b"read me once"), name="once.bin")) == "once.bin"
    assert emu.store.get_object_bytes(emu.bucket_name,
                                      f"{storage.location}/once.bin") == b"read me once"


def test_a_taken_name_gets_an_alternative_on_the_fast_path(make_storage, emu, ops) -> None:
    storage = make_storage(file_overwrite=False)
    first = storage.save("taken.txt", ContentFile(b"first"))
    second = storage.save("taken.txt", ContentFile(b"second"))
    assert first == "taken.txt" and second != first and second.startswith("taken_")
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/{first}") == b"first"
    assert emu.store.get_object_bytes(emu.bucket_name,
                                      f"{storage.location}/{second}") == b"second"
    assert ops["PutObject"] == 3  # the second save: refused once, then the new name


class Recorder(io.BytesIO):
    """A seekable file that remembers the largest ``read`` asked of it."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, len(self.getbuffer()) if size is None or size < 0
                           else size)
        return super().read(size)


def test_only_bodies_up_to_a_mib_are_read_whole(storage: OSSStorage, emu, ops) -> None:
    small, large = Recorder(b"s" * 1024 * 1024), Recorder(bytes(range(256)) * 12 * 1024)
    storage.save("small.bin", File(small, name="small.bin"))
    storage.save("large.bin", File(large, name="large.bin"))  # 3 MiB: one PutObject, streamed
    assert small.largest == 1024 * 1024 and large.largest <= 1024 * 1024
    assert ops["PutObject"] == 2 and ops["InitiateMultipartUpload"] == 0
    assert emu.store.get_object_bytes(emu.bucket_name, f"{storage.location}/large.bin") == \
        large.getvalue()
