"""The targets of collectstatic into OSS, as request counts, with Django admin's 127 files.

1. A rerun with nothing changed sends no write and at most 10 requests (one listing).
2. A first run with 30 ms per PutObject is at least 3x faster than sequential uploads.
3. One changed source file: only the files whose content changed, and the manifest, are
   written; a change is seen by content, whatever the file's modification time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django_alioss.storage import OSSStaticStorage
from tests.static.helpers import COLLECTED_FILES, put_keys, read, writes

LATENCY = 0.03


def manifest_paths(emu: Any, storage: OSSStaticStorage) -> dict[str, str]:
    return json.loads(read(emu, storage, "staticfiles.json"))["paths"]


def test_rerun_with_nothing_changed_sends_one_listing_and_no_write(
        make_static: Callable[..., Any], static_tree: Path, collect: Callable[..., str],
        ops: Any) -> None:
    collect(make_static())
    ops.reset()
    output = collect(make_static(), verbosity=1)  # a new storage: a new deploy
    assert writes(ops) == {}
    assert ops.changed() == {"ListObjectsV2": 1}
    assert ops.total() <= 10
    assert f"0 static files copied, {COLLECTED_FILES} unmodified" in output


def test_rerun_of_plain_static_storage_sends_one_listing(
        make_static: Callable[..., Any], static_tree: Path, collect: Callable[..., str],
        ops: Any) -> None:
    collect(make_static(OSSStaticStorage))
    ops.reset()
    collect(make_static(OSSStaticStorage))
    assert ops.changed() == {"ListObjectsV2": 1}


def test_first_run_uploads_in_parallel_3x_faster_than_sequential(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    emu.controls.faults.add("oss", "PutObject", latency=LATENCY, times=None)
    storage = make_static()
    started = time.perf_counter()
    collect(storage)
    elapsed = time.perf_counter() - started
    # Every file, its hashed copy and the manifest, once each; nothing deleted.
    assert ops.changed() == {"ListObjectsV2": 1, "PutObject": 2 * COLLECTED_FILES + 1}
    sequential_floor = ops["PutObject"] * LATENCY  # the latency alone, one PUT at a time
    assert elapsed * 3 < sequential_floor, (elapsed, sequential_floor)
    for hashed in manifest_paths(emu, storage).values():
        assert storage.client.object_exists(storage.object_key(hashed))


def deploy_after(edit: Callable[[], object], emu: Any, make_static: Callable[..., Any],
                 collect: Callable[..., str], ops: Any
                 ) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """A first deploy, ``edit()`` of the sources, a second deploy: the manifest's paths
    before and after, and the names the second deploy wrote (``ops`` counts only it)."""
    storage = make_static()
    collect(storage)
    before = manifest_paths(emu, storage)
    edit()
    since = emu.controls.log.count("oss", "PutObject")
    ops.reset()
    collect(make_static())
    return before, manifest_paths(emu, storage), put_keys(emu, since, storage.location)


def test_one_changed_file_writes_it_its_hashed_copy_and_the_manifest(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    css = static_tree / "admin" / "css" / "dashboard.css"
    before, after, written = deploy_after(
        lambda: css.write_text(css.read_text() + "\n/* changed */\n"),
        emu, make_static, collect, ops)
    assert after["admin/css/dashboard.css"] != before["admin/css/dashboard.css"]
    assert written == {"admin/css/dashboard.css", after["admin/css/dashboard.css"],
                       "staticfiles.json"}
    assert writes(ops) == {"PutObject": 3}
    assert ops.total() <= 10


def test_changed_image_rewrites_exactly_the_stylesheets_whose_content_changed(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    icon = static_tree / "admin" / "img" / "icon-yes.svg"
    before, after, written = deploy_after(
        lambda: icon.write_bytes(icon.read_bytes().replace(b"</svg>", b"<!-- v2 --></svg>")),
        emu, make_static, collect, ops)
    changed = {hashed for name, hashed in after.items() if before[name] != hashed}
    # The icon's new hashed copy and those of the stylesheets naming it (base.css,
    # widgets.css...): their processed content changed, their sources did not.
    assert len(changed) >= 2 and any(name.endswith(".css") for name in changed)
    assert written == {"admin/img/icon-yes.svg", "staticfiles.json", *changed}
    assert ops["DeleteObject"] == 0


def test_changed_content_with_an_older_mtime_and_the_same_size_is_uploaded(
        emu: Any, make_static: Callable[..., Any], static_tree: Path,
        collect: Callable[..., str], ops: Any) -> None:
    storage = make_static(OSSStaticStorage)
    collect(storage)
    script = static_tree / "admin" / "js" / "core.js"
    original = script.read_bytes()
    edited = original.replace(b"function", b"FUNCTION", 1)
    assert len(edited) == len(original) and edited != original
    script.write_bytes(edited)
    os.utime(script, (946684800, 946684800))  # 2000-01-01: older than the upload
    since = emu.controls.log.count("oss", "PutObject")
    collect(make_static(OSSStaticStorage))
    assert put_keys(emu, since, storage.location) == {"admin/js/core.js"}
    assert read(emu, storage, "admin/js/core.js") == edited
