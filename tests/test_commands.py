"""Management commands against the emulator: alioss_check, alioss_cleanup_uploads,
alioss_emulator (as a child process) and collectstatic into OSS."""

from __future__ import annotations

import io
import json
import shlex
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_alioss.diagnostics import format_age
from django_alioss.emulator.emulator import bucket_policy
from django_alioss.management.commands.alioss_cleanup_uploads import parse_age
from django_alioss.storage import OSSStorage

from .processes import Child, free_port, group_members, python

OSS = "django_alioss.storage.OSSStorage"
STATIC = "django_alioss.storage.OSSManifestStaticStorage"


def storages(**default: Any) -> dict[str, Any]:
    return {
        "default": {"BACKEND": OSS, "OPTIONS": default},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def location() -> str:
    return f"cmd-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def rrsa_default(alioss_env: dict[str, str], location: str) -> Iterator[dict[str, Any]]:
    """The default storage on the emulator with RRSA (keys empty, env from the emulator)."""
    config = storages(location=location)
    with override_settings(STORAGES=config, DEBUG=True):  # the emulator speaks http
        yield config


def run(command: str, *args: str) -> tuple[str, int]:
    """(stdout, exit status) of a management command."""
    out = io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=io.StringIO(), no_color=True)
    except CommandError as exc:
        return out.getvalue() + f"\nCommandError: {exc}", exc.returncode
    return out.getvalue(), 0


def step_lines(output: str) -> dict[str, str]:
    """step name -> 'STATUS detail' of alioss_check's text output (last line per step)."""
    steps = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("OK", "WARN", "FAIL", "SKIP"):
            name, _, detail = rest.strip().partition(": ")
            steps[name] = f"{status} {detail}"
    return steps


def secrets_of(emulator: Any) -> list[str]:
    """Every secret the emulator handed out: user secret, STS secrets/tokens, OIDC token."""
    found = [emulator.access_key_secret, Path(emulator.oidc_token_file).read_text().strip()]
    for session in emulator.iam._sessions.values():
        found += [session.access_key_secret, session.security_token]
    return found


# --- alioss_check ----------------------------------------------------------------------------
def test_check_all_steps_ok_with_rrsa(alioss_emulator: Any, rrsa_default: dict,
                                      location: str) -> None:
    output, status = run("alioss_check")
    assert status == 0, output
    steps = step_lines(output)
    assert list(steps) == ["checks", "storage", "options", "credentials", "write", "read", "url",
                           "delete"]
    assert all(line.startswith("OK") for line in steps.values()), output
    assert f"location='{location}'" in steps["options"]
    assert "source rrsa" in steps["credentials"]
    assert alioss_emulator.role_arn in steps["credentials"]
    assert "expires" in steps["credentials"] and "in 59m" in steps["credentials"]
    assert "signed URL" in steps["url"] and "content matches" in steps["url"]
    assert "x-oss-signature" not in output and "security-token" not in output
    assert alioss_emulator.store.list_keys(alioss_emulator.bucket_name, location + "/") == []
    assert "storage 'default' OK" in output
    for secret in secrets_of(alioss_emulator):
        assert secret not in output


def test_check_json_document(alioss_emulator: Any, rrsa_default: dict) -> None:
    output, status = run("alioss_check", "--json")
    assert status == 0
    document = json.loads(output)
    assert document["ok"] is True and document["storage"] == "default"
    credentials = document["credentials"]
    assert credentials["source"] == "rrsa" and credentials["access_key_id"].startswith("STS.")
    assert credentials["sts_calls"] >= 1 and credentials["last_refresh"]
    assert document["options"]["bucket_name"] == alioss_emulator.bucket_name
    assert [s["step"] for s in document["steps"]][-4:] == ["write", "read", "url", "delete"]
    for secret in secrets_of(alioss_emulator):
        assert secret not in output


def test_check_no_probe_writes_nothing(alioss_emulator: Any, rrsa_default: dict) -> None:
    output, status = run("alioss_check", "--no-probe")
    assert status == 0
    assert step_lines(output)["probe"] == "SKIP --no-probe"
    assert alioss_emulator.controls.log.count("oss", "PutObject") == 0


def deny(emulator: Any, monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    """Take ``action`` away from the RRSA role (for this test)."""
    monkeypatch.setattr(emulator.role, "policies", [
        bucket_policy(emulator.bucket_name),
        {"Version": "1", "Statement": [{"Effect": "Deny", "Action": action, "Resource": "*"}]},
    ])


def test_check_access_denied_names_action_and_role(alioss_emulator: Any, rrsa_default: dict,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    deny(alioss_emulator, monkeypatch, "oss:PutObject")
    output, status = run("alioss_check")
    assert status == 1
    steps = step_lines(output)
    assert steps["write"].startswith("FAIL")
    assert "403 AccessDenied" in steps["write"]
    assert "lack oss:PutObject" in steps["write"]
    assert f"role {alioss_emulator.role_arn}" in steps["write"]
    assert steps["read"] == "SKIP nothing written"
    assert "1 step(s) failed" in output


def test_check_access_denied_on_read_still_deletes(alioss_emulator: Any, rrsa_default: dict,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   location: str) -> None:
    deny(alioss_emulator, monkeypatch, "oss:GetObject")
    output, status = run("alioss_check")
    assert status == 1
    steps = step_lines(output)
    assert "lack oss:GetObject" in steps["read"] and "lack oss:GetObject" in steps["url"]
    assert steps["delete"].startswith("WARN") and "not verified" in steps["delete"]
    assert "HEAD answer carries no detail" in steps["delete"]
    assert f"role {alioss_emulator.role_arn}" in steps["delete"]
    assert alioss_emulator.store.list_keys(alioss_emulator.bucket_name, location + "/") == []


@pytest.mark.parametrize(("secret_ok", "code"), [(False, "SignatureDoesNotMatch"),
                                                 (None, "InvalidAccessKeyId")])
def test_check_bad_keys_say_check_the_keys(alioss_emulator: Any, location: str,
                                           secret_ok: bool | None, code: str) -> None:
    key_id = alioss_emulator.access_key_id if secret_ok is False else "LTAI5tNoSuchKeyNoSuchKey"
    config = storages(endpoint=alioss_emulator.endpoint, bucket_name=alioss_emulator.bucket_name,
                      region=alioss_emulator.region, location=location, access_key_id=key_id,
                      access_key_secret="wrong-secret-wrong-secret")
    with override_settings(STORAGES=config):
        output, status = run("alioss_check")
    assert status == 1
    write = step_lines(output)["write"]
    assert code in write and "check the AccessKey id and secret" in write
    assert "wrong-secret-wrong-secret" not in output


def test_check_network_error_says_check_the_endpoint(location: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = storages(endpoint=endpoint, bucket_name="b-unreachable", region="cn-hangzhou",
                      location=location, access_key_id="LTAI5tExampleExampleAb",
                      access_key_secret="s" * 30, max_retries=0, connect_timeout=2)
    with override_settings(STORAGES=config, DEBUG=True):
        output, status = run("alioss_check")
    assert status == 1
    write = step_lines(output)["write"]
    assert "refused the connection" in write and f"cannot reach {endpoint}" in write
    assert "check the endpoint option (ALIOSS_ENDPOINT)" in write


def test_check_credentials_unavailable_prints_what_was_tried(
        alioss_emulator: Any, alioss_env: dict, monkeypatch: pytest.MonkeyPatch,
        location: str) -> None:
    monkeypatch.delenv("ALIBABA_CLOUD_ROLE_ARN")
    with override_settings(STORAGES=storages(location=location, rrsa_fallback=False)):
        output, status = run("alioss_check")
    assert status == 1
    steps = step_lines(output)
    assert steps["checks"].startswith("FAIL django_alioss.E002")
    assert steps["credentials"].startswith("FAIL no credentials:")
    assert "ALIBABA_CLOUD_ROLE_ARN" in steps["credentials"]
    assert steps["probe"] == "SKIP no credentials"


def test_check_static_fallback_is_a_warning_with_reason(
        alioss_emulator: Any, alioss_env: dict, monkeypatch: pytest.MonkeyPatch,
        location: str) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1389201472653210:role/no-such-role")
    with override_settings(STORAGES=storages(location=location)):
        output, status = run("alioss_check")
    assert status == 0, output
    credentials = step_lines(output)["credentials"]
    assert credentials.startswith("WARN source static-fallback")
    assert "rrsa failed at first use" in credentials and "EntityNotExist.Role" in credentials
    assert alioss_emulator.access_key_secret not in output


def test_check_unknown_alias_and_foreign_backend(rrsa_default: dict) -> None:
    output, status = run("alioss_check", "--storage", "media")
    assert status == 1
    assert "no storage alias 'media'" in step_lines(output)["storage"]
    output, status = run("alioss_check", "--storage", "staticfiles")
    assert status == 1
    assert "not a django-alioss storage" in step_lines(output)["storage"]


# --- collectstatic ------------------------------------------------------------------------------
@pytest.fixture
def static_source(tmp_path: Path) -> Path:
    from PIL import Image

    source = tmp_path / "static-src"
    (source / "site" / "img").mkdir(parents=True)
    Image.new("RGB", (3, 2), "red").save(source / "site" / "img" / "dot.png")
    (source / "site" / "site.css").write_text("body { background: url('img/dot.png'); }\n")
    return source


def test_collectstatic_into_oss_with_manifest(alioss_emulator: Any, alioss_env: dict,
                                              static_source: Path, location: str) -> None:
    # Options as ALIOSS_* settings: Django 4.2's storage handler drops the OPTIONS of
    # STORAGES overridden in tests (it sees STATICFILES_STORAGE as overridden too).
    config = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
              "staticfiles": {"BACKEND": STATIC}}
    with override_settings(STORAGES=config, STATICFILES_DIRS=[str(static_source)],
                           ALIOSS_LOCATION=location, ALIOSS_DEFAULT_ACL="public-read"):
        output, status = run("collectstatic", "--noinput")
        assert status == 0, output
        assert "static files copied" in output and "post-processed" in output
        keys = alioss_emulator.store.list_keys(alioss_emulator.bucket_name, location + "/")
        assert f"{location}/staticfiles.json" in keys
        manifest = json.loads(alioss_emulator.store.get_object_bytes(
            alioss_emulator.bucket_name, f"{location}/staticfiles.json"))
        hashed_css = manifest["paths"]["site/site.css"]
        hashed_png = manifest["paths"]["site/img/dot.png"]
        assert hashed_css != "site/site.css" and f"{location}/{hashed_css}" in keys

        url = staticfiles_storage.url("site/site.css")
        assert hashed_css in url and "x-oss-signature" not in url
        with urllib.request.urlopen(url, timeout=10) as response:
            css = response.read().decode()
        assert hashed_png.rsplit("/", 1)[-1] in css

        again, status = run("collectstatic", "--noinput")
        assert status == 0
        assert "0 static files copied" in again

        output, status = run("alioss_check", "--storage", "staticfiles")
        assert status == 0, output
        assert step_lines(output)["manifest"] == "OK staticfiles.json present"
        assert "unsigned URL" in step_lines(output)["url"]


def test_check_manifest_missing_is_a_warning(alioss_env: dict, location: str) -> None:
    config = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
              "staticfiles": {"BACKEND": STATIC, "OPTIONS": {"location": location,
                                                             "default_acl": "public-read"}}}
    with override_settings(STORAGES=config):
        output, status = run("alioss_check", "--storage", "staticfiles")
    assert status == 0, output
    assert step_lines(output)["manifest"] == ("WARN staticfiles.json not found: run manage.py "
                                              "collectstatic")


def test_check_unsigned_url_of_private_object_explains_acl(alioss_env: dict,
                                                           location: str) -> None:
    with override_settings(STORAGES=storages(location=location, querystring_auth=False)):
        output, status = run("alioss_check")
    assert status == 1
    url = step_lines(output)["url"]
    assert "403 AccessDenied" in url and "public-read" in url


# --- alioss_cleanup_uploads ---------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400),
                                               ("7d", 604800), (" 1.5h ", 5400)])
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["24", "h", "1w", "-1h", "1 day", ""])
def test_parse_age_rejects_bad_formats(text: str) -> None:
    with pytest.raises(CommandError, match="use a number and a unit"):
        parse_age(text)


def test_format_age() -> None:
    assert format_age(42) == "42s"
    assert format_age(93784) == "1d 2h 3m"
    assert format_age(7200) == "2h"


def test_cleanup_rejects_bad_age_and_foreign_storage(rrsa_default: dict) -> None:
    output, status = run("alioss_cleanup_uploads", "--older-than", "tomorrow")
    assert status == 1 and "'tomorrow'" in output
    output, status = run("alioss_cleanup_uploads", "--older-than", "1h", "--storage",
                         "staticfiles")
    assert status == 1 and "not a django-alioss storage" in output


def test_cleanup_aborts_only_old_uploads_under_location(alioss_emulator: Any,
                                                        rrsa_default: dict,
                                                        location: str) -> None:
    store, bucket = alioss_emulator.store, alioss_emulator.bucket_name
    now = time.time()
    old = store.initiate_upload(bucket, f"{location}/videos/old.mp4", now=now - 2 * 86400)
    older = store.initiate_upload(bucket, f"{location}/older.bin", now=now - 9 * 86400)
    fresh = store.initiate_upload(bucket, f"{location}/fresh.bin", now=now - 600)
    outside = store.initiate_upload(bucket, f"{location}-other/old.bin", now=now - 3 * 86400)
    # One started through the real client as well (the storage's own code path).
    storage = OSSStorage(location=location)
    real_id = storage.client.init_multipart(f"{location}/real.bin", {}).upload_id

    def pending() -> set[str]:
        return {u.upload_id for u in store.in_progress_uploads(bucket)}

    output, status = run("alioss_cleanup_uploads", "--older-than", "24h", "--dry-run")
    assert status == 0, output
    assert f"would abort {location}/videos/old.mp4 upload {old.upload_id} (age 2d)" in output
    assert f"would abort {location}/older.bin upload {older.upload_id} (age 9d)" in output
    assert fresh.upload_id not in output and outside.upload_id not in output
    assert "2 of 4 multipart upload(s)" in output and "dry run: none aborted" in output
    everything = {old.upload_id, older.upload_id, fresh.upload_id, outside.upload_id, real_id}
    assert everything <= pending()

    output, status = run("alioss_cleanup_uploads", "--older-than", "24h")
    assert status == 0
    assert f"aborting {location}/older.bin upload {older.upload_id}" in output
    assert "aborted 2 of 4 multipart upload(s)" in output
    left = pending()
    assert old.upload_id not in left and older.upload_id not in left
    assert {fresh.upload_id, outside.upload_id, real_id} <= left

    output, status = run("alioss_cleanup_uploads", "--older-than", "5m")
    assert "aborted 1 of 2" in output
    left = pending()
    assert fresh.upload_id not in left and real_id in left
    store.abort_upload(bucket, f"{location}/real.bin", real_id)
    store.abort_upload(bucket, outside.key, outside.upload_id)


def test_cleanup_reports_missing_permission(alioss_emulator: Any, rrsa_default: dict,
                                            location: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    alioss_emulator.store.initiate_upload(alioss_emulator.bucket_name, f"{location}/x.bin",
                                          now=time.time() - 86400 * 3)
    deny(alioss_emulator, monkeypatch, "oss:AbortMultipartUpload")
    output, status = run("alioss_cleanup_uploads", "--older-than", "1d")
    assert status == 1
    assert "lack oss:AbortMultipartUpload" in output and "0 upload(s) aborted" in output


# --- alioss_emulator ----------------------------------------------------------------------------
def exports(lines: list[str]) -> dict[str, str]:
    env = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def start_emulator_command(tmp_path: Path, *args: str, cwd: Path) -> tuple[Child, dict]:
    log_path = tmp_path / f"emulator-{time.time()}.log"
    child = Child([python(), "-m", "django", "alioss_emulator", "--settings", "tests.settings",
                   "--port", "0", *args], cwd=cwd, log_path=log_path)
    try:
        lines = child.read_until(lambda lines: "ALIBABA_CLOUD_ACCESS_KEY_SECRET" in exports(lines),
                                 timeout=60)
    except BaseException:
        child.kill()
        raise
    return child, exports(lines)


def static_storage(env: dict[str, str]) -> OSSStorage:
    return OSSStorage(endpoint=env["ALIOSS_ENDPOINT"], bucket_name=env["ALIOSS_BUCKET_NAME"],
                      region=env["ALIOSS_REGION"], access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                      access_key_secret=env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"])


def test_emulator_command_persists_to_default_data_dir(tmp_path: Path) -> None:
    from django.core.files.base import ContentFile

    work = tmp_path / "project"
    work.mkdir()
    child, env = start_emulator_command(tmp_path, "--bucket", "cmd-bucket", cwd=work)
    try:
        assert env["ALIOSS_BUCKET_NAME"] == "cmd-bucket"
        assert env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"].startswith(str(work / ".alioss-data"))
        static_storage(env).save("kept.txt", ContentFile(b"across restarts"))
        assert child.interrupt() == 0, child.log()
        assert group_members(child.pid) == []
    finally:
        child.kill()
    assert "stopped" in child.log()

    child, env = start_emulator_command(tmp_path, "--bucket", "cmd-bucket", "--data-dir",
                                        str(work / ".alioss-data"), cwd=tmp_path)
    try:
        with static_storage(env).open("kept.txt") as handle:
            assert handle.read() == b"across restarts"
        assert child.interrupt(sig=15) == 0
    finally:
        child.kill()


def test_emulator_command_in_memory_and_passthrough_options(tmp_path: Path) -> None:
    child, env = start_emulator_command(tmp_path, "--in-memory", "--region", "cn-beijing",
                                        "--admin", cwd=tmp_path)
    try:
        assert env["ALIOSS_REGION"] == "cn-beijing"
        assert env["ALIOSS_EMULATOR_ADMIN_URL"].endswith("/_emulator/")
        assert not (tmp_path / ".alioss-data").exists()
        with urllib.request.urlopen(env["ALIOSS_EMULATOR_ADMIN_URL"] + "state", timeout=10) as r:
            assert "faults" in json.loads(r.read())
    finally:
        assert child.interrupt() == 0
