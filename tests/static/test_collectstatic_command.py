"""Which collectstatic runs (INSTALLED_APPS order, check W003), what it prints by
verbosity, and Django's behaviour for storages that are not ours."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command, get_commands
from django.test import override_settings

from django_alioss.checks import check_collectstatic
from django_alioss.collect import Progress
from tests.backend.conftest import static_options, unique_location
from tests.static.helpers import COLLECTED_FILES

BASE_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "tests.testapp"]
OURS_FIRST = ["django_alioss", "django.contrib.staticfiles", *BASE_APPS]
DJANGO_FIRST = ["django.contrib.staticfiles", "django_alioss", *BASE_APPS]
STATIC = "django_alioss.storage.OSSManifestStaticStorage"


def storages(backend: str) -> dict[str, Any]:
    return {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": backend}}


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_listed_first_django_alioss_owns_collectstatic_and_w003_is_silent() -> None:
    with override_settings(INSTALLED_APPS=OURS_FIRST, STORAGES=storages(STATIC)):
        assert get_commands()["collectstatic"] == "django_alioss"
        assert check_collectstatic() == []


def test_w003_when_django_collectstatic_wins_for_an_oss_static_storage() -> None:
    with override_settings(INSTALLED_APPS=DJANGO_FIRST, STORAGES=storages(STATIC)):
        messages = check_collectstatic()
    assert ids(messages) == ["django_alioss.W003"]
    assert "'django.contrib.staticfiles'" in messages[0].msg
    assert "before 'django.contrib.staticfiles'" in messages[0].hint


def test_w003_is_silent_for_other_static_storages() -> None:
    backend = "django.contrib.staticfiles.storage.StaticFilesStorage"
    with override_settings(INSTALLED_APPS=DJANGO_FIRST, STORAGES=storages(backend)):
        assert check_collectstatic() == []


def test_manage_py_collectstatic_by_name_runs_ours(
        emu: Any, static_tree: Path, request: pytest.FixtureRequest, ops: Any) -> None:
    settings = {f"ALIOSS_{k.upper()}": v for k, v in static_options(emu).items()}
    out = io.StringIO()
    with override_settings(INSTALLED_APPS=OURS_FIRST, STORAGES=storages(STATIC),
                           ALIOSS_LOCATION=unique_location(request), **settings):
        call_command("collectstatic", "--noinput", stdout=out)
        call_command("collectstatic", "--noinput", stdout=out)
    assert ops.changed() == {"ListObjectsV2": 2, "PutObject": 2 * COLLECTED_FILES + 1}
    assert re.search(r"^OSS: \d+ files checked, 0 uploaded \(0 B\)", out.getvalue(), re.M)


def test_a_storage_that_is_not_ours_gets_djangos_command(
        tmp_path: Path, static_tree: Path, collect: Callable[..., str]) -> None:
    target = FileSystemStorage(location=tmp_path / "collected")
    output = collect(target, verbosity=1)
    assert f"{COLLECTED_FILES} static files copied" in output
    assert "OSS:" not in output
    assert (tmp_path / "collected" / "admin" / "css" / "base.css").is_file()


# --- output by verbosity ---------------------------------------------------------------------
def test_verbosity_0_prints_nothing(make_static: Callable[..., Any], static_tree: Path,
                                    collect: Callable[..., str]) -> None:
    assert collect(make_static(), verbosity=0) == ""


def test_verbosity_1_prints_progress_then_djangos_line_and_a_summary(
        make_static: Callable[..., Any], static_tree: Path, collect: Callable[..., str]) -> None:
    first = collect(make_static(), verbosity=1).splitlines()
    objects = 2 * COLLECTED_FILES + 1  # the files, their hashed copies, the manifest
    assert re.fullmatch(rf"{objects}/{objects} files, [\d.]+ MB uploaded, 0 unchanged",
                        first[0])
    assert f"{COLLECTED_FILES} static files copied" in first[-2]
    assert re.fullmatch(rf"OSS: {objects} files checked, {objects} uploaded \([\d.]+ MB\), "
                        r"0 unchanged in \d+\.\d s\.", first[-1])
    again = collect(make_static(), verbosity=1).splitlines()
    assert re.fullmatch(r"(\d+)/\1 files, 0 B uploaded, \1 unchanged", again[0])
    assert not any(line.startswith(("Uploading", "Unchanged")) for line in again)


def test_verbosity_2_prints_a_line_per_file(make_static: Callable[..., Any], static_tree: Path,
                                            collect: Callable[..., str]) -> None:
    output = collect(make_static(), verbosity=2)
    assert re.search(r"^Uploading 'admin/css/base\.css' \([\d.]+ kB\)$", output, re.M)
    assert re.search(r"^Uploading 'admin/css/base\.[0-9a-f]{12}\.css' ", output, re.M)
    assert re.search(r"^Uploading 'staticfiles\.json' ", output, re.M)
    assert not re.search(r"^\d+/\d+ files", output, re.M)
    again = collect(make_static(), verbosity=2)
    assert "Unchanged 'admin/css/base.css'" in again.splitlines()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_redraws_one_line_on_a_terminal_and_prints_lines_elsewhere() -> None:
    drawn: list[tuple[str, str]] = []
    clock = Clock()
    tty = Progress(lambda text, end: drawn.append((text, end)), 1, tty=True, clock=clock)
    tty.decided("a.css", upload=True, size=2000)
    clock.now += 1
    tty.upload_done("a.css", 2000)
    tty.decided("b.css", upload=False, size=10)
    tty.close()
    assert drawn == [("\r0/1 files, 0 B uploaded, 0 unchanged", ""),
                     ("\r2/2 files, 2.0 kB uploaded, 1 unchanged", ""),
                     ("\r2/2 files, 2.0 kB uploaded, 1 unchanged", ""), ("", "\n")]

    printed: list[str] = []
    clock.now = 0
    plain = Progress(lambda text, end: printed.append(text), 1, interval=5, clock=clock)
    plain.decided("a.css", upload=False, size=1)
    clock.now += 6
    plain.decided("b.css", upload=False, size=1)
    plain.decided("a.css", upload=True, size=1)  # the same file, changed by a later pass
    plain.close()
    assert printed == ["2/2 files, 0 B uploaded, 2 unchanged",
                       "1/2 files, 0 B uploaded, 1 unchanged"]
