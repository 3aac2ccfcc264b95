"""CollectSession semantics, driven through a static storage's ``collecting()``: what each
storage call costs in requests, and what is (not) left in the bucket."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile, File

from django_alioss.collect import CollectFailed, CollectSession, Outcome
from django_alioss.storage import OSSStaticStorage
from tests.static.helpers import read


@pytest.fixture
def storage(make_static: Callable[..., Any]) -> OSSStaticStorage:
    return make_static(OSSStaticStorage)


def test_exists_is_answered_from_one_listing(storage: OSSStaticStorage, ops: Any) -> None:
    storage.save("a.css", ContentFile(b"a"))
    ops.reset()
    with storage.collecting():
        assert storage.exists("a.css")
        assert not storage.exists("b.css")
        assert not storage.exists("dir/a.css")
    assert ops.changed() == {"ListObjectsV2": 1}


def test_delete_then_save_of_the_same_bytes_costs_nothing(storage: OSSStaticStorage,
                                                          ops: Any) -> None:
    storage.save("a.css", ContentFile(b"body{}"))  # outside a session: no stored hash
    ops.reset()
    with storage.collecting() as session:
        storage.delete("a.css")
        assert not storage.exists("a.css")
        assert session.save("a.css", ContentFile(b"body{}")) is Outcome.UNCHANGED
        assert storage.exists("a.css")
    assert ops.changed() == {"ListObjectsV2": 1}


def test_a_delete_not_followed_by_a_save_happens_when_the_run_finishes(
        storage: OSSStaticStorage, ops: Any) -> None:
    storage.save("old.css", ContentFile(b"x"))
    ops.reset()
    with storage.collecting():
        storage.delete("old.css")
        assert ops["DeleteObject"] == 0
    assert ops.changed() == {"ListObjectsV2": 1, "DeleteObject": 1}
    assert not storage.exists("old.css")


def test_held_content_deleted_before_the_end_is_never_sent(storage: OSSStaticStorage,
                                                           ops: Any) -> None:
    with storage.collecting():
        storage.save("intermediate.123.css", ContentFile(b"pass 1"))
        assert storage.exists("intermediate.123.css")
        storage.delete("intermediate.123.css")
        assert not storage.exists("intermediate.123.css")
        storage.save("final.456.css", ContentFile(b"pass 2"))
    assert ops.changed() == {"ListObjectsV2": 1, "PutObject": 1}
    assert not storage.exists("intermediate.123.css")


def test_reading_a_held_file_sends_it_first(emu: Any, storage: OSSStaticStorage) -> None:
    with storage.collecting():
        storage.save("held.css", ContentFile(b"in memory"))
        with storage.open("held.css") as handle:
            assert handle.read() == b"in memory"


def test_writes_of_one_name_keep_their_order(emu: Any, storage: OSSStaticStorage) -> None:
    """(A ``File`` that is not a ``ContentFile`` is sent at once, not held.)"""
    emu.controls.faults.add("oss", "PutObject", latency=0.05, times=1)  # the first is slow
    with storage.collecting():
        storage.save("a.css", File(io.BytesIO(b"first"), "a.css"))
        storage.save("a.css", File(io.BytesIO(b"second"), "a.css"))
    assert read(emu, storage, "a.css") == b"second"


def test_an_exception_inside_the_run_deletes_nothing_and_drops_held_writes(
        storage: OSSStaticStorage, ops: Any) -> None:
    storage.save("keep.css", ContentFile(b"x"))
    ops.reset()
    with pytest.raises(RuntimeError, match="boom"), storage.collecting():
        storage.delete("keep.css")
        storage.save("held.css", ContentFile(b"never sent"))
        raise RuntimeError("boom")
    assert ops.changed() == {"ListObjectsV2": 1}
    assert storage.exists("keep.css")


def test_a_failed_upload_fails_the_run_naming_the_file(emu: Any, storage: OSSStaticStorage) -> None:
    emu.controls.faults.add("oss", "PutObject", status=403, code="AccessDenied", times=1)
    with pytest.raises(CollectFailed, match=r"writing 'a\.css' to OSS failed"), \
            storage.collecting() as session:
        storage.save("a.css", File(io.BytesIO(b"a"), "a.css"))
        session.flush()


def test_outside_a_run_the_storage_talks_to_oss(storage: OSSStaticStorage, ops: Any) -> None:
    storage.save("a.css", ContentFile(b"a"))
    assert storage.exists("a.css")
    storage.delete("a.css")
    assert ops.changed() == {"PutObject": 1, "GetObjectMeta": 1, "DeleteObject": 1}



def test_bodies_larger_than_the_memory_budget_are_still_uploaded(
        emu: Any, storage: OSSStaticStorage) -> None:
    session = CollectSession(storage, workers=4, memory_budget=64)
    for number in range(5):
        session.save(f"f{number}.bin", File(io.BytesIO(bytes([number]) * 100), "f.bin"))
    session.finish()
    assert [read(emu, storage, f"f{n}.bin") for n in range(5)] == \
        [bytes([n]) * 100 for n in range(5)]
