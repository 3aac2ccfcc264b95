"""OSSStorage's Storage API against the emulator: save, open, delete, exists, listdir,
size, times, available names, location prefixes and names OSS would reject."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile, File

from django_alioss.exceptions import InvalidObjectName
from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]



def stored(emu, key: str) -> bytes:
    return emu.store.get_object_bytes(emu.bucket_name, key)


def test_save_and_open_round_trip(storage_v: OSSStorage, emu, ops) -> None:
    data = b"hello OSS\n" * 100
    name = storage_v.save("docs/readme.txt", ContentFile(data))
    assert name == "docs/readme.txt"
    assert ops.changed() == {"PutObject": 1}
    key = f"{storage_v.location}/docs/readme.txt"
    assert stored(emu, key) == data
    assert emu.store.head_object(emu.bucket_name, key).content_type == "text/plain"
    with storage_v.open(name) as handle:
        assert handle.read() == data
    assert storage_v.size(name) == len(data)
    assert storage_v.exists(name)


def test_location_prefixes_every_key(make_storage: StorageFactory, emu, location: str) -> None:
    nested = make_storage(location=f"{location}/media/")
    nested.save("a.bin", ContentFile(b"1"))
    assert emu.store.list_keys(emu.bucket_name, location) == [f"{location}/media/a.bin"]
    unprefixed = make_storage(location="")
    name = f"{location}-root.bin"
    unprefixed.save(name, ContentFile(b"2"))
    try:
        assert stored(emu, name) == b"2"
        assert unprefixed.exists(f"{location}/media/a.bin")
        assert nested.listdir("") == ([], ["a.bin"])
    finally:
        unprefixed.delete(name)


def test_save_accepts_plain_file_objects_and_name_none(storage: OSSStorage, emu) -> None:
    assert storage.save("raw.bin", io.BytesIO(b"raw bytes")) == "raw.bin"
    assert stored(emu, f"{storage.location}/raw.bin") == b"raw bytes"
    named = ContentFile(b"named", name="from-content.txt")
    assert storage.save(None, named) == "from-content.txt"
    assert stored(emu, f"{storage.location}/from-content.txt") == b"named"


def test_save_stores_whole_content_whatever_its_position(storage: OSSStorage, emu) -> None:
    content = ContentFile(b"0123456789")
    assert content.read() == b"0123456789"  # a caller read it (e.g. to validate it)
    storage.save("read-before.txt", content)
    assert stored(emu, f"{storage.location}/read-before.txt") == b"0123456789"


def test_save_text_content_is_utf8(storage: OSSStorage, emu) -> None:
    storage.save("text.txt", ContentFile("grüße 🌍"))
    assert stored(emu, f"{storage.location}/text.txt") == "grüße 🌍".encode()


def test_content_type_from_uploaded_file_else_guessed(storage: OSSStorage, emu) -> None:
    uploaded = ContentFile(b"{}", name="x")
    uploaded.content_type = "application/vnd.custom+json"
    storage.save("data.bin", uploaded)
    storage.save("page.html", ContentFile(b"<p>"))
    storage.save("noext", ContentFile(b"?"))
    head = emu.store.head_object
    assert head(emu.bucket_name, f"{storage.location}/data.bin").content_type == \
        "application/vnd.custom+json"
    assert head(emu.bucket_name, f"{storage.location}/page.html").content_type == "text/html"
    assert head(emu.bucket_name, f"{storage.location}/noext").content_type == \
        "application/octet-stream"


def test_object_parameters_and_hook(make_storage: StorageFactory, emu) -> None:
    class PerObject(OSSStorage):
        def get_object_parameters(self, name: str) -> dict[str, str]:
            params = super().get_object_parameters(name)
            if name.endswith(".pdf"):
                params["Content-Disposition"] = "attachment"
            return params

    storage = make_storage(PerObject, object_parameters={
        "Cache-Control": "max-age=86400", "x-oss-meta-owner": "tests"})
    storage.save("a.pdf", ContentFile(b"%PDF"))
    storage.save("b.txt", ContentFile(b"b"))
    pdf = emu.store.head_object(emu.bucket_name, f"{storage.location}/a.pdf")
    txt = emu.store.head_object(emu.bucket_name, f"{storage.location}/b.txt")
    assert pdf.headers == {"Cache-Control": "max-age=86400", "Content-Disposition": "attachment"}
    assert txt.headers == {"Cache-Control": "max-age=86400"}
    # Besides the configured metadata, each write carries its own random write id.
    assert pdf.user_meta["alioss-write-id"] != txt.user_meta["alioss-write-id"]
    configured = [{k: v for k, v in meta.items() if k != "alioss-write-id"}
                  for meta in (pdf.user_meta, txt.user_meta)]
    assert configured == [{"owner": "tests"}] * 2


def test_default_acl_is_sent(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(default_acl="private")
    storage.save("p.txt", ContentFile(b"p"))
    assert emu.store.head_object(emu.bucket_name, f"{storage.location}/p.txt").acl == "private"


def test_delete_is_idempotent(storage: OSSStorage, emu, ops) -> None:
    storage.save("gone.txt", ContentFile(b"x"))
    storage.delete("gone.txt")
    assert not emu.store.exists(emu.bucket_name, f"{storage.location}/gone.txt")
    storage.delete("gone.txt")
    storage.delete("never-existed.txt")
    assert ops["DeleteObject"] == 3


@pytest.mark.parametrize("present", [True, False])
def test_exists_costs_one_request(storage_v: OSSStorage, ops, present: bool) -> None:
    if present:
        storage_v.save("here.txt", ContentFile(b"x"))
    ops.reset()
    assert storage_v.exists("here.txt") is present
    assert ops.total() == 1


def test_listdir_over_a_thousand_entries(storage: OSSStorage, emu, ops) -> None:
    base = f"{storage.location}/many"
    files = [f"f{i:05d}.txt" for i in range(1_050)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: emu.store.put_object_bytes(emu.bucket_name, f"{base}/{n}", b"x"),
                      files))
    for sub in ("sub-a/x.txt", "sub-a/y/z.txt", "sub-b/w.txt", "zz/deep/er.txt"):
        emu.store.put_object_bytes(emu.bucket_name, f"{base}/{sub}", b"y")
    emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/manyother.txt", b"z")
    ops.reset()
    directories, names = storage.listdir("many")
    assert ops.changed() == {"ListObjectsV2": 2}
    assert directories == ["sub-a", "sub-b", "zz"]
    assert names == files
    assert storage.listdir("many/") == (directories, names)
    assert storage.listdir("many/sub-a") == (["y"], ["x.txt"])
    assert storage.listdir("") == (["many"], ["manyother.txt"])
    assert storage.listdir("nothing-here") == ([], [])


def test_listdir_skips_the_directory_marker(storage: OSSStorage, emu) -> None:
    emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/dir/", b"")
    emu.store.put_object_bytes(emu.bucket_name, f"{storage.location}/dir/a.txt", b"a")
    assert storage.listdir("dir") == ([], ["a.txt"])
    assert storage.listdir("") == (["dir"], [])


def test_size_and_missing_objects(storage_v: OSSStorage) -> None:
    storage_v.save("sized.bin", ContentFile(b"x" * 1234))
    storage_v.save("empty.bin", ContentFile(b""))
    assert storage_v.size("sized.bin") == 1234
    assert storage_v.size("empty.bin") == 0
    with pytest.raises(FileNotFoundError):
        storage_v.size("missing.bin")
    with pytest.raises(FileNotFoundError):
        storage_v.open("missing.bin")
    with pytest.raises(FileNotFoundError):
        storage_v.get_modified_time("missing.bin")


def test_times_are_aware_with_use_tz(storage: OSSStorage, emu, settings) -> None:
    settings.USE_TZ = True
    storage.save("t.txt", ContentFile(b"t"))
    record = emu.store.head_object(emu.bucket_name, f"{storage.location}/t.txt")
    expected = datetime.fromtimestamp(int(record.last_modified), tz=timezone.utc)
    modified = storage.get_modified_time("t.txt")
    assert modified.tzinfo is not None
    assert modified == expected
    assert storage.get_created_time("t.txt") == expected


def test_times_are_naive_local_without_use_tz(storage: OSSStorage, emu, settings) -> None:
    settings.USE_TZ = False
    settings.TIME_ZONE = "Asia/Shanghai"
    storage.save("t.txt", ContentFile(b"t"))
    record = emu.store.head_object(emu.bucket_name, f"{storage.location}/t.txt")
    local = datetime.fromtimestamp(int(record.last_modified), tz=ZoneInfo("Asia/Shanghai"))
    modified = storage.get_modified_time("t.txt")
    assert modified.tzinfo is None
    assert modified == local.replace(tzinfo=None)
    assert storage.get_created_time("t.txt") == modified


def test_get_available_name_truncates_without_requests(storage: OSSStorage, ops) -> None:
    long_name = "dir/" + "a" * 200 + ".txt"
    available = storage.get_available_name(long_name, max_length=50)
    assert len(available) == 50
    assert available.startswith("dir/aaa") and available.endswith(".txt")
    storage.save("taken.txt", ContentFile(b"x"))
    ops.reset()
    assert storage.get_available_name("taken.txt") == "taken.txt"  # overwrite mode
    assert storage.get_available_name("./x/../taken.txt") == "taken.txt"
    with pytest.raises(SuspiciousFileOperation):
        storage.get_available_name("dir/" + "a" * 50 + ".txt", max_length=8)
    assert ops.total() == 0


def test_save_respects_max_length(storage: OSSStorage, emu) -> None:
    name = storage.save("up/" + "b" * 80 + ".txt", ContentFile(b"x"), max_length=30)
    assert len(name) == 30
    assert emu.store.exists(emu.bucket_name, f"{storage.location}/{name}")


ESCAPING = ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "..", "a/../.."]


@pytest.mark.parametrize("name", ESCAPING)
def test_names_escaping_location_are_refused_without_a_request(
        storage: OSSStorage, ops, name: str) -> None:
    for call in (storage.exists, storage.open, storage.delete, storage.size, storage.url,
                 lambda n: storage.save(n, ContentFile(b"x"))):
        with pytest.raises(SuspiciousFileOperation):
            call(name)
    assert ops.total() == 0


INVALID = {
    "empty": "",
    "dot": ".",
    "nul": "bad\x00name.txt",
    "too-long": "é" * 512,  # 1024 bytes in UTF-8 (plus the location)
}


@pytest.mark.parametrize("name", INVALID.values(), ids=INVALID.keys())
def test_names_oss_rejects_fail_before_any_request(
        storage: OSSStorage, ops, name: str) -> None:
    for call in (storage.exists, storage.open, storage.delete, storage.size, storage.url,
                 storage.get_modified_time):
        with pytest.raises(InvalidObjectName):
            call(name)
    with pytest.raises((InvalidObjectName, SuspiciousFileOperation)):  # Django may refuse first
        storage.save(name, ContentFile(b"x"))
    assert ops.total() == 0


def test_longest_valid_key_round_trips(storage: OSSStorage, emu) -> None:
    prefix = f"{storage.location}/"
    name = "k" * (1023 - len(prefix.encode()))
    storage.save(name, ContentFile(b"edge"))
    assert stored(emu, prefix + name) == b"edge"
    with pytest.raises(InvalidObjectName):
        storage.exists(name + "k")


def test_absolute_names_are_refused_without_location_like_save_does(
        make_storage: StorageFactory, emu, location: str) -> None:
    # S3Storage turns "/x" into the key "x" when location is empty; save() refuses it,
    # so every other operation refuses it too instead of reaching another key.
    storage = make_storage(location="")
    name = f"{location}/abs.txt"
    storage.save(name, ContentFile(b"a"))
    for absolute in ("/" + name, "\\" + name.replace("/", "\\")):
        with pytest.raises(SuspiciousFileOperation):
            storage.exists(absolute)
        with pytest.raises(SuspiciousFileOperation):
            storage.open(absolute)
        with pytest.raises(SuspiciousFileOperation):
            storage.delete(absolute)
    assert emu.store.exists(emu.bucket_name, name)


SPECIAL_NAMES = [
    "with space.txt",
    "plus+sign.txt",
    "percent%41.txt",
    "hash#frag.txt",
    "question?mark.txt",
    "emoji 😀🎉.txt",
    "中文/文件名.txt",
    "semi;colon&amp=eq.txt",
    "tilde~quote'.txt",
]


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_special_and_unicode_names(storage_v: OSSStorage, emu, name: str) -> None:
    data = name.encode()
    assert storage_v.save(name, ContentFile(data)) == name
    key = f"{storage_v.location}/{name}"
    assert stored(emu, key) == data
    assert storage_v.exists(name)
    assert storage_v.open(name).read() == data
    directory, _, base = name.rpartition("/")
    assert base in storage_v.listdir(directory)[1]
    response = requests.get(storage_v.url(name), timeout=10)
    assert response.status_code == 200, response.text
    assert response.content == data
    storage_v.delete(name)
    assert not emu.store.exists(emu.bucket_name, key)


def test_file_objects_are_django_files(storage: OSSStorage) -> None:
    storage.save("f.txt", ContentFile(b"abc"))
    handle = storage.open("f.txt")
    assert isinstance(handle, File)
    assert handle.name == "f.txt"
    assert handle.size == 3
    assert list(handle.chunks(chunk_size=2)) == [b"ab", b"c"]
    handle.close()
    assert handle.closed
