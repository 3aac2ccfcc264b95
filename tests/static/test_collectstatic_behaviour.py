"""collectstatic into OSS beyond the targets: gzip, multipart, failures, --clear, --dry-run,
a user's subclass."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.files.base import ContentFile
from django.core.management.base import CommandError

from django_alioss.collect.stored import CONTENT_MD5
from django_alioss.storage import OSSManifestStaticStorage, OSSStaticStorage
from tests.static.helpers import COLLECTED_FILES, put_keys, read, writes

KiB = 1024


def stored_record(emu: Any, storage: OSSStaticStorage, name: str) -> Any:
    return emu.store.head_object(emu.bucket_name, storage.object_key(name))


def test_gzip_objects_are_skipped_when_unchanged_and_decompress_to_the_source(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    storage = make_static(gzip=True)
    collect(storage)
    source = (static_tree / "admin" / "css" / "base.css").read_bytes()
    record = stored_record(emu, storage, "admin/css/base.css")
    assert record.headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(read(emu, storage, "admin/css/base.css")) == source
    ops.reset()
    collect(make_static(gzip=True))
    assert ops.changed() == {"ListObjectsV2": 1}
    ops.reset()
    collect(make_static(gzip=False))  # the stored bytes would differ: uploaded again
    assert ops["PutObject"] > 0
    assert read(emu, storage, "admin/css/base.css") == source


def test_multipart_objects_are_skipped_by_their_stored_hash(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    """A multipart ETag is not an MD5: the hash stored in metadata decides (one HEAD),
    also for a gzipped body streamed through the compressor."""
    options = {"multipart_threshold": 100 * KiB, "multipart_chunksize": 100 * KiB,
               "gzip": True}
    big = static_tree / "big.bin"
    big.write_bytes(os.urandom(250 * KiB))
    (static_tree / "big.css").write_text(os.urandom(150 * KiB).hex())  # ~150 KiB gzipped
    storage = make_static(OSSStaticStorage, **options)
    collect(storage)
    assert ops["InitiateMultipartUpload"] == 2
    assert stored_record(emu, storage, "big.bin").etag.endswith("-3")
    meta = stored_record(emu, storage, "big.bin").user_meta
    assert CONTENT_MD5.removeprefix("x-oss-meta-") in meta
    assert gzip.decompress(read(emu, storage, "big.css")) == (static_tree / "big.css").read_bytes()
    ops.reset()
    collect(make_static(OSSStaticStorage, **options))
    assert writes(ops) == {}
    assert ops.changed() == {"ListObjectsV2": 1, "HeadObject": 2}

    data = bytearray(big.read_bytes())
    data[1000] ^= 0xFF  # same size, other content
    big.write_bytes(bytes(data))
    since = emu.controls.log.count("oss", "PutObject")
    ops.reset()
    collect(make_static(OSSStaticStorage, **options))
    assert ops["InitiateMultipartUpload"] == 1 and ops["CompleteMultipartUpload"] == 1
    assert put_keys(emu, since, storage.location) == set()
    assert read(emu, storage, "big.bin") == bytes(data)


def test_a_failed_upload_fails_the_command_naming_the_file_and_keeps_the_manifest(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    storage = make_static()
    collect(storage)
    manifest = read(emu, storage, "staticfiles.json")
    css = static_tree / "admin" / "css" / "dashboard.css"
    css.write_text(css.read_text() + "\n/* changed */\n")
    emu.controls.faults.add("oss", "PutObject", status=403, code="AccessDenied",
                            message="denied by the test", times=None)
    ops.reset()
    with pytest.raises(CommandError, match=r"writing 'admin/css/dashboard\.css' to OSS "
                                           r"failed: .*denied by the test"):
        collect(make_static())
    assert read(emu, storage, "staticfiles.json") == manifest  # still the old site
    assert ops["DeleteObject"] == 0


def test_a_first_run_that_fails_writes_no_manifest_and_leaves_no_upload_behind(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str]) -> None:
    (static_tree / "big.bin").write_bytes(os.urandom(250 * KiB))
    emu.controls.faults.add("oss", "UploadPart", status=403, code="AccessDenied", times=None)
    storage = make_static(multipart_threshold=100 * KiB, multipart_chunksize=100 * KiB)
    with pytest.raises(CommandError, match=r"writing 'big\.bin' to OSS failed"):
        collect(storage)
    assert not storage.client.object_exists(storage.object_key("staticfiles.json"))
    assert list(storage.client.iter_multipart_uploads(storage.location + "/")) == []


def test_a_failure_among_parallel_uploads_names_one_of_the_files(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str]) -> None:
    emu.controls.faults.add("oss", "PutObject", status=403, code="AccessDenied", times=3)
    storage = make_static(max_retries=0)
    with pytest.raises(CommandError, match=r"writing '([^']+)' to OSS failed") as raised:
        collect(storage)
    name = raised.value.args[0].split("'")[1]
    assert (static_tree / name).is_file() or name.startswith("admin/")
    assert not storage.client.object_exists(storage.object_key("staticfiles.json"))


def test_clear_deletes_what_is_not_collected_and_uploads_everything_again(
        make_static: Callable[..., Any], static_tree: Path, collect: Callable[..., str],
        ops: Any) -> None:
    storage = make_static(OSSStaticStorage)
    collect(storage)
    storage.save("stale/old.txt", ContentFile(b"from an older deploy"))
    ops.reset()
    output = collect(make_static(OSSStaticStorage), clear=True, verbosity=1)
    assert ops.changed() == {"ListObjectsV2": 1, "DeleteObject": COLLECTED_FILES + 1,
                             "PutObject": COLLECTED_FILES}
    assert not storage.exists("stale/old.txt")
    assert f"{COLLECTED_FILES + 1} deleted" in output  # our summary
    if django.VERSION >= (6, 0):  # Django's summary counts deletes since 6.0
        assert (f"{COLLECTED_FILES + 1} static files deleted, "
                f"{COLLECTED_FILES} static files copied") in output


def test_dry_run_changes_nothing_and_names_what_would_be_copied(
        make_static: Callable[..., Any], static_tree: Path, collect: Callable[..., str],
        ops: Any) -> None:
    collect(make_static())
    css = static_tree / "admin" / "css" / "dashboard.css"
    css.write_text(css.read_text() + "\n/* changed */\n")
    ops.reset()
    output = collect(make_static(), verbosity=1, dry_run=True)
    assert writes(ops) == {}
    pretended = [line for line in output.splitlines() if line.startswith("Pretending to copy")]
    assert pretended == ["Pretending to copy 'admin/css/dashboard.css'"]
    assert "1 would be uploaded" in output
    output = collect(make_static(), verbosity=2, dry_run=True, clear=True)
    assert writes(ops) == {}
    assert "Pretending to delete 'admin/css/dashboard.css'" in output
    assert output.count("Pretending to copy") == COLLECTED_FILES


class LongCache(OSSManifestStaticStorage):
    """A user's subclass: a year of caching, except for the manifest."""

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        parameters = super().get_object_parameters(name)
        long = name != self.manifest_name
        parameters["Cache-Control"] = "public, max-age=31536000" if long else "no-cache"
        return parameters


def test_a_subclass_with_its_own_headers_is_collected_and_skipped(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    storage = make_static(LongCache)
    collect(storage)
    hashed = json.loads(read(emu, storage, "staticfiles.json"))["paths"]["admin/css/base.css"]
    assert stored_record(emu, storage, hashed).headers.get("Cache-Control") == \
        "public, max-age=31536000"
    assert stored_record(emu, storage, "staticfiles.json").headers.get("Cache-Control") == \
        "no-cache"
    ops.reset()
    collect(make_static(LongCache))
    assert ops.changed() == {"ListObjectsV2": 1}
