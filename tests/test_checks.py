"""System checks of django_alioss (``manage.py check``), one test per message id."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_alioss.checks import check_storages
from django_alioss.storage import OSSStorage

OSS = "django_alioss.storage.OSSStorage"
STATIC = "django_alioss.storage.OSSManifestStaticStorage"
ENDPOINT = "https://oss-cn-hangzhou.aliyuncs.com"
KEYS = {"access_key_id": "LTAI5tExampleExampleAb", "access_key_secret": "not-a-real-secret"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ALIOSS_* / ALIBABA_CLOUD_* from the developer's shell leaks into a check."""
    for name in list(os.environ):
        if name.startswith(("ALIOSS_", "ALIBABA_CLOUD_", "ALICLOUD_")):
            monkeypatch.delenv(name)


def storages(default: dict[str, Any] | None = None, backend: str = OSS, **extra: Any) -> dict:
    """STORAGES with ``default`` as the OPTIONS of a django-alioss default storage."""
    config: dict[str, Any] = {
        "default": {"BACKEND": backend, "OPTIONS": default or {}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    config.update(extra)
    return config


def valid(**options: Any) -> dict[str, Any]:
    return {"endpoint": ENDPOINT, "bucket_name": "media-bucket", **KEYS, **options}


def ids(messages: list) -> list[str]:
    return [m.id for m in messages]


def run(config: dict, **settings: Any) -> list:
    with override_settings(STORAGES=config, **settings):
        return check_storages()


def test_valid_configuration_has_no_message() -> None:
    assert run(storages(valid())) == []


def test_storages_of_other_backends_are_ignored() -> None:
    config = storages(backend="django.core.files.storage.FileSystemStorage")
    assert run(config) == []


@pytest.mark.parametrize("missing", ["endpoint", "bucket_name"])
def test_e001_missing_endpoint_or_bucket(missing: str) -> None:
    options = valid()
    del options[missing]
    messages = run(storages(options))
    assert ids(messages) == ["django_alioss.E001"]
    assert isinstance(messages[0], Error)
    assert repr(missing) in messages[0].msg and "STORAGES['default']" in messages[0].msg
    assert f"ALIOSS_{missing.upper()}" in messages[0].hint


def test_e001_is_satisfied_by_settings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIOSS_ENDPOINT", ENDPOINT)
    assert run(storages({**KEYS}), ALIOSS_BUCKET_NAME="from-settings") == []


def test_e001_both_missing_reports_both() -> None:
    messages = run(storages({**KEYS}))
    assert ids(messages) == ["django_alioss.E001", "django_alioss.E001"]


def rrsa_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, complete: bool) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.fake.token")
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                       "acs:ram::1389201472653210:oidc-provider/ack-rrsa-c1")
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(token))
    if complete:
        monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1389201472653210:role/app")


def rrsa_options(**options: Any) -> dict[str, Any]:
    return {"endpoint": ENDPOINT, "bucket_name": "media-bucket", **options}


def test_e002_rrsa_environment_incomplete_without_fallback(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rrsa_env(monkeypatch, tmp_path, complete=False)
    messages = run(storages(rrsa_options(rrsa_fallback=False)))
    assert ids(messages) == ["django_alioss.E002"]
    assert "ALIBABA_CLOUD_ROLE_ARN" in messages[0].msg
    assert "rrsa_fallback is disabled" in messages[0].msg


def test_e002_not_raised_when_rrsa_environment_is_complete(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rrsa_env(monkeypatch, tmp_path, complete=True)
    assert run(storages(rrsa_options(rrsa_fallback=False))) == []


def test_w002_rrsa_incomplete_with_fallback_but_no_static_keys(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rrsa_env(monkeypatch, tmp_path, complete=False)
    messages = run(storages(rrsa_options()))
    assert ids(messages) == ["django_alioss.W002"]
    assert isinstance(messages[0], Warning)
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in messages[0].msg


def test_w005_rrsa_incomplete_with_static_fallback_keys_is_loud_but_logs_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """RRSA selected but unusable, static keys in the environment: W005 says the fallback
    would be used. The check builds a provider to inspect it: it must not log the
    fallback warning itself (the storage logs it at first use)."""
    rrsa_env(monkeypatch, tmp_path, complete=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEYS["access_key_id"])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEYS["access_key_secret"])
    caplog.set_level("DEBUG", logger="django_alioss")
    filters = list(logging.getLogger("django_alioss").filters)
    messages = run(storages(rrsa_options()))
    assert ids(messages) == ["django_alioss.W005"]
    assert isinstance(messages[0], Warning)
    assert "missing ALIBABA_CLOUD_ROLE_ARN" in messages[0].msg
    assert "LTAI****" in messages[0].msg and KEYS["access_key_id"] not in messages[0].msg
    hint = messages[0].hint
    assert "ALIBABA_CLOUD_ROLE_ARN" in hint and "rrsa_fallback=False" in hint
    assert not [r for r in caplog.records if "falling back" in r.getMessage()]
    assert logging.getLogger("django_alioss").filters == filters


def test_w005_unreadable_token_file_names_the_path_and_permissions(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rrsa_env(monkeypatch, tmp_path, complete=True)
    token = tmp_path / "token"
    token.chmod(0o600)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEYS["access_key_id"])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEYS["access_key_secret"])
    real_access = os.access  # root reads any file: make this one unreadable to the check
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if str(path) == str(token) else real_access(path, mode, **kw)))
    messages = run(storages(rrsa_options()))
    assert ids(messages) == ["django_alioss.W005"]
    hint = messages[0].hint
    assert f"{token} exists but this process (uid {os.getuid()}" in hint
    assert "-rw-------" in hint and f"owner uid {token.stat().st_uid}" in hint
    assert "fsGroup" in hint


@pytest.mark.parametrize("fallback", [False, True])
def test_e002_and_w002_hint_for_a_missing_token_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fallback: bool) -> None:
    rrsa_env(monkeypatch, tmp_path, complete=True)
    missing = tmp_path / "not-mounted" / "token"
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(missing))
    messages = run(storages(rrsa_options(rrsa_fallback=fallback)))
    assert ids(messages) == ["django_alioss.W002" if fallback else "django_alioss.E002"]
    assert f"No file at {missing}" in messages[0].hint
    assert "restart the pod" in messages[0].hint


@pytest.mark.parametrize(("options", "expected"), [
    ({"querystring_expire": 7200}, ["django_alioss.W006"]),
    ({"querystring_expire": 7200, "role_duration": 7200}, []),
    ({"querystring_expire": 7200, "querystring_auth": False}, []),
])
def test_w006_signed_urls_outliving_role_credentials(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: dict[str, Any],
        expected: list[str]) -> None:
    rrsa_env(monkeypatch, tmp_path, complete=True)
    messages = run(storages(rrsa_options(**options)))
    assert ids(messages) == expected
    if expected:
        assert "querystring_expire is 7200 s" in messages[0].msg
        assert "live 3600 s (role_duration)" in messages[0].msg
        assert "Raise role_duration" in messages[0].hint


def test_w006_not_for_static_keys() -> None:
    assert run(storages(valid(querystring_expire=86400))) == []


def test_e003_v4_without_derivable_region() -> None:
    messages = run(storages(valid(endpoint="https://files.example.com")))
    assert ids(messages) == ["django_alioss.E003"]
    assert "files.example.com" in messages[0].msg and "ALIOSS_REGION" in messages[0].hint


@pytest.mark.parametrize("fix", [
    {"region": "cn-shanghai"},
    {"signature_version": "v1"},
    {"public_endpoint": "https://oss-cn-beijing.aliyuncs.com"},
])
def test_e003_fixed_by_region_v1_or_public_endpoint(fix: dict[str, str]) -> None:
    assert run(storages(valid(endpoint="https://files.example.com", **fix))) == []


def test_e004_unknown_options() -> None:
    messages = run(storages(valid(bucket="typo", acl="private")))
    assert ids(messages) == ["django_alioss.E004"]
    assert "'acl', 'bucket'" in messages[0].msg
    assert "bucket_name" in messages[0].hint


@pytest.mark.parametrize(("name", "suggested"), [
    ("endpoint_url", "S3Storage's 'endpoint_url' is 'endpoint' here"),
    ("region_name", "S3Storage's 'region_name' is 'region' here"),
    ("access_key", "S3Storage's 'access_key' is 'access_key_id' here"),
    ("secret_key", "S3Storage's 'secret_key' is 'access_key_secret' here"),
    ("bucket_nmae", "did you mean 'bucket_name'?"),
    ("querystring_expiry", "did you mean 'querystring_expire'?"),
])
def test_unknown_options_suggest_the_valid_name(name: str, suggested: str) -> None:
    messages = run(storages(valid(**{name: "x"})))
    assert ids(messages) == ["django_alioss.E004"]
    assert f"{name!r} ({suggested})" in messages[0].msg
    with pytest.raises(ImproperlyConfigured) as raised:
        OSSStorage(**valid(**{name: "x"}))
    assert f"{name!r} ({suggested})" in str(raised.value)


def test_e004_does_not_hide_other_problems() -> None:
    messages = run(storages(valid(bucket="typo", default_acl="everyone")))
    assert ids(messages) == ["django_alioss.E004", "django_alioss.E006"]


def test_e005_querystring_expire_beyond_seven_days_from_options() -> None:
    messages = run(storages(valid(querystring_expire=14 * 86400)))
    assert ids(messages) == ["django_alioss.E005"]
    assert "1209600 s (14 days" in messages[0].msg
    assert "OPTIONS']['querystring_expire']" in messages[0].msg


def test_e005_reported_along_with_e001() -> None:
    messages = run(storages({**KEYS, "bucket_name": "b", "querystring_expire": 10**6}))
    assert ids(messages) == ["django_alioss.E001", "django_alioss.E005"]


def test_e005_from_setting_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = run(storages(valid()), ALIOSS_QUERYSTRING_EXPIRE=700000)
    assert ids(messages) == ["django_alioss.E005"]
    assert "700000 s" in messages[0].msg and "setting ALIOSS_QUERYSTRING_EXPIRE" in messages[0].msg
    monkeypatch.setenv("ALIOSS_QUERYSTRING_EXPIRE", "604801")
    messages = run(storages(valid()))
    assert ids(messages) == ["django_alioss.E005"]
    assert "environment variable ALIOSS_QUERYSTRING_EXPIRE" in messages[0].msg


def test_e005_seven_days_exactly_is_allowed() -> None:
    assert run(storages(valid(querystring_expire=604800))) == []


@pytest.mark.parametrize(("options", "text"), [
    ({"bucket_name": "Not_A_Bucket"}, "invalid bucket_name"),
    ({"default_acl": "everyone"}, "default_acl"),
    ({"multipart_chunksize": 10}, "multipart_chunksize"),
    ({"access_key_secret": ""}, "access_key_secret is missing"),
    ({"location": "/media"}, "cannot begin with '/'"),
])
def test_e006_other_improper_configuration(options: dict[str, Any], text: str) -> None:
    messages = run(storages(valid(**options)))
    assert ids(messages) == ["django_alioss.E006"]
    assert text in messages[0].msg


def test_w001_http_endpoint_without_debug() -> None:
    config = storages(valid(endpoint="http://oss-cn-hangzhou.aliyuncs.com"))
    messages = run(config, DEBUG=False)
    assert ids(messages) == ["django_alioss.W001"]
    assert "plain http" in messages[0].msg
    assert run(config, DEBUG=True) == []
    public = storages(valid(public_endpoint="http://cdn.example.com"))
    assert ids(run(public, DEBUG=False)) == ["django_alioss.W001"]


def test_every_alias_is_checked() -> None:
    config = storages(valid(), media2={"BACKEND": OSS, "OPTIONS": {**KEYS}},
                      staticfiles={"BACKEND": STATIC, "OPTIONS": valid(location="static")})
    messages = run(config)
    assert ids(messages) == ["django_alioss.E001", "django_alioss.E001"]
    assert all("STORAGES['media2']" in m.msg for m in messages)


def test_e007_backend_of_ours_that_cannot_be_imported() -> None:
    messages = run(storages(backend="django_alioss.storage.NoSuchStorage"))
    assert ids(messages) == ["django_alioss.E007"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_legacy_default_file_storage_setting_is_checked_before_django_5_1(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Django < 5.1 uses DEFAULT_FILE_STORAGE when set (and builds it at once, so the
    configuration must be valid: W001 is the message); later versions ignore it."""
    monkeypatch.setenv("ALIOSS_ENDPOINT", "http://oss-cn-hangzhou.aliyuncs.com")
    monkeypatch.setenv("ALIOSS_BUCKET_NAME", "media-bucket")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEYS["access_key_id"])
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEYS["access_key_secret"])
    with override_settings(DEFAULT_FILE_STORAGE=OSS, DEBUG=False):
        messages = check_storages()
    if django.VERSION < (5, 1):
        # W005 too: no keys in OPTIONS selects RRSA, which has no role here, so the
        # ALIBABA_CLOUD_ACCESS_KEY_* fallback would be used.
        assert ids(messages) == ["django_alioss.W001", "django_alioss.W005"]
        assert messages[0].msg.startswith("STORAGES['default']")
    else:
        assert messages == []


def test_registered_with_django_check_framework() -> None:
    with override_settings(STORAGES=storages({**KEYS})):
        assert "django_alioss.E001" in ids(run_checks(tags=["django_alioss"]))
        with pytest.raises(SystemCheckError, match=r"django_alioss\.E001"):
            call_command("check")


def test_checks_send_nothing_over_the_network(alioss_emulator: Any, alioss_env: dict) -> None:
    """Even for RRSA (no STS call) and a manifest storage (staticfiles.json not read)."""
    before = len(alioss_emulator.controls.log.entries())
    config = storages({"location": "media", "rrsa_fallback": False},
                      staticfiles={"BACKEND": STATIC, "OPTIONS": {"location": "static"}})
    messages = run(config, DEBUG=True)
    assert messages == []
    assert len(alioss_emulator.controls.log.entries()) == before


def test_checks_and_diagnostics_depend_only_on_core_modules() -> None:
    """The seam: checks.py and diagnostics.py never import the management package (the
    commands import them, not the other way round), and diagnostics never imports checks."""
    import ast

    import django_alioss

    package = Path(django_alioss.__file__).parent

    def local_imports(module: str) -> set[str]:
        tree = ast.parse((package / f"{module}.py").read_text())
        return {node.module or "" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level == 1}

    assert not {m for m in local_imports("checks") if m.startswith("management")}
    assert not {m for m in local_imports("diagnostics")
                if m.startswith("management") or m == "checks"}
