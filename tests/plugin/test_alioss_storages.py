"""The ``alioss_storages`` fixture in a user's project whose OPTIONS name real OSS: its
tests run against the emulator (RRSA by default, static keys on request), never the
network, and everything is restored afterwards."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.plugin.project import REAL_BUCKET, REAL_ENDPOINT, make_project

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

USER_TESTS = f"""
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.contrib.staticfiles.storage import staticfiles_storage

from docs_app.models import Document


def test_rrsa_through_the_emulator(alioss_storages):
    emulator = alioss_storages.emulator
    name = default_storage.save("reports/hello.txt", ContentFile(b"hello"))
    assert default_storage.open(name).read() == b"hello"
    assert emulator.store.get_object_bytes(emulator.bucket_name, "media/" + name) == b"hello"
    assert default_storage.url(name).startswith(emulator.endpoint + "/")
    assert emulator.controls.log.count("sts", "AssumeRoleWithOIDC") == 1
    assert default_storage.credentials.describe()["source"] == "rrsa"
    assert alioss_storages.aliases == ["default", "documents", "staticfiles"]


def test_named_storages_and_model_fields(alioss_storages):
    emulator = alioss_storages.emulator
    field = Document._meta.get_field("file")
    saved = field.storage.save("a.txt", ContentFile(b"doc"))
    assert emulator.store.get_object_bytes(emulator.bucket_name, "docs/" + saved) == b"doc"
    assert storages["documents"].url(saved).startswith(emulator.endpoint)  # no CDN domain
    Document._meta.get_field("attachment").storage.save("b.txt", ContentFile(b"x"))
    assert emulator.store.exists(emulator.bucket_name, "media/b.txt")
    staticfiles_storage.save("site.css", ContentFile(b"body{{}}"))
    assert emulator.store.exists(emulator.bucket_name, "static/site.css")


@pytest.mark.alioss_static_keys
def test_static_keys_on_request(alioss_storages):
    emulator = alioss_storages.emulator
    default_storage.save("static-keys.txt", ContentFile(b"k"))
    assert emulator.controls.log.count("sts") == 0
    put = emulator.controls.log.entries(service="oss")[-1]
    assert put.access_key_id == emulator.access_key_id


@pytest.mark.parametrize("alioss_storages", ["static"], indirect=True)
def test_static_keys_as_a_parameter(alioss_storages):
    assert default_storage.credentials.describe()["source"] == "static"


def test_restored_afterwards():
    from django.conf import settings

    assert default_storage.endpoint == "https://oss-cn-hangzhou-internal.aliyuncs.com"
    assert default_storage.bucket_name == "{REAL_BUCKET}"
    assert storages["documents"].custom_domain == "cdn.acme.example"
    assert settings.STORAGES["staticfiles"]["OPTIONS"]["endpoint"] == "{REAL_ENDPOINT}"
    assert Document._meta.get_field("file").storage.endpoint == "{REAL_ENDPOINT}"
"""

SETTINGS_FIXTURE_TESTS = """
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def test_settings_changed_after(settings, alioss_storages):
    settings.MEDIA_URL = "/uploads/"
    default_storage.save("one.txt", ContentFile(b"1"))
    settings.STORAGES = {**settings.STORAGES, "extra": {
        "BACKEND": "django_alioss.storage.OSSStorage",
        "OPTIONS": {"endpoint": "https://oss-cn-beijing.aliyuncs.com", "bucket_name": "other"}}}
    alioss_storages.apply()  # the new alias points at the emulator too
    from django.core.files.storage import storages
    assert storages["extra"].endpoint == alioss_storages.emulator.endpoint


def test_restored(settings):
    assert settings.MEDIA_URL != "/uploads/"
    assert "extra" not in settings.STORAGES
    assert default_storage.endpoint == "https://oss-cn-hangzhou-internal.aliyuncs.com"
"""


@pytest.fixture(autouse=True)
def _own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's project names its settings itself (ours are in the environment)."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", *args)
    assert "NETWORK TOUCHED" not in result.stdout.str(), result.stdout.str()
    return result


def test_a_project_naming_real_oss_runs_its_tests_on_the_emulator(
        pytester: pytest.Pytester) -> None:
    make_project(pytester, tests=USER_TESTS)
    _run(pytester).assert_outcomes(passed=5)


def test_without_pytest_django_settings_are_overridden_and_restored(
        pytester: pytest.Pytester) -> None:
    make_project(pytester, settings_configured_by="conftest", tests=USER_TESTS)
    _run(pytester, "-p", "no:django").assert_outcomes(passed=5)


def test_with_the_settings_fixture_changes_stack_on_top(pytester: pytest.Pytester) -> None:
    make_project(pytester, tests=SETTINGS_FIXTURE_TESTS)
    _run(pytester).assert_outcomes(passed=2)


def test_without_the_fixture_the_project_would_reach_for_real_oss(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard works: the same save without ``alioss_storages`` (with keys for the
    fallback, so it gets as far as a request) tries the network."""
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tNotARealKeyAtAll")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-a-real-secret")
    monkeypatch.setenv("ALIOSS_MAX_RETRIES", "0")
    make_project(pytester, tests="""
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

def test_unredirected():
    default_storage.save("x.txt", ContentFile(b"x"))
""")
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert "NETWORK TOUCHED" in result.stdout.str()


def test_the_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    section = README.split("### Your tests on the emulator: `alioss_storages`", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example, "README: no python example under the alioss_storages heading"
    make_project(pytester, tests=example.group(1))
    _run(pytester).assert_outcomes(passed=2)
