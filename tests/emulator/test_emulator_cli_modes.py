"""Emulator CLI modes: RRSA-only exports (--no-static-keys), the exported AssumeRole role
and account id, the account-wide mode (--account-wide) and the ``django-alioss-emulator``
console script."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
from alibabacloud_credentials.provider import (
    OIDCRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
)

from django_alioss.emulator import Emulator

CONSOLE_SCRIPT = Path(sys.executable).with_name("django-alioss-emulator")


def _exports(process: subprocess.Popen[str], last: str) -> dict[str, str]:
    """Export lines up to ``last`` (the process is killed if it does not come in 60 s)."""
    assert process.stdout is not None
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    env: dict[str, str] = {}
    try:
        while last not in env:
            line = process.stdout.readline()
            assert line.startswith("export "), f"no export of {last}; got {line!r}"
            name, _, value = line[len("export "):].rstrip("\n").partition("=")
            env[name] = value
    finally:
        watchdog.cancel()
    return env


@pytest.fixture
def run_cli() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 0


def _start(started: list[subprocess.Popen[str]], *args: str,
           command: tuple[str, ...] = (sys.executable, "-m", "django_alioss.emulator")
           ) -> subprocess.Popen[str]:
    process = subprocess.Popen([*command, "--port", "0", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    started.append(process)
    return process


class _Adapter:
    def __init__(self, provider: object) -> None:
        self.provider = provider

    def get_credentials(self) -> oss2.credentials.Credentials:
        c = self.provider.get_credentials()  # type: ignore[attr-defined]
        return oss2.credentials.Credentials(c.get_access_key_id(), c.get_access_key_secret(),
                                            c.get_security_token())


def test_no_static_keys_exports_rrsa_alone(run_cli: list[subprocess.Popen[str]]) -> None:
    env = _exports(_start(run_cli, "--no-static-keys"), "ALIOSS_EMULATOR_ACCOUNT_ID")
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" not in env
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET" not in env
    provider = OIDCRoleArnCredentialsProvider(
        role_arn=env["ALIBABA_CLOUD_ROLE_ARN"],
        oidc_provider_arn=env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"],
        oidc_token_file_path=env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"],
        role_session_name="rrsa-only", sts_endpoint=env["ALIOSS_STS_ENDPOINT"])
    bucket = oss2.Bucket(oss2.ProviderAuthV4(_Adapter(provider)), env["ALIOSS_ENDPOINT"],
                         env["ALIOSS_BUCKET_NAME"], region=env["ALIOSS_REGION"])
    bucket.put_object("rrsa-only.txt", b"ok")
    assert bucket.get_object("rrsa-only.txt").read() == b"ok"


def test_default_exports_keep_their_order_and_add_the_role_and_account() -> None:
    with Emulator() as emu:
        names = list(emu.env())
        assert names[:11] == [
            "ALIOSS_ENDPOINT", "ALIOSS_BUCKET_NAME", "ALIOSS_REGION", "ALIOSS_STS_ENDPOINT",
            "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE", "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIOSS_EMULATOR_OIDC_ISSUER_URL",
            "ALIOSS_EMULATOR_ECS_METADATA_URL"]
        assert emu.env()["ALIOSS_EMULATOR_ACCOUNT_ID"] == emu.iam.account_id
        assert "ALIBABA_CLOUD_ACCESS_KEY_ID" not in emu.export_lines(static_keys=False)


def test_exported_ram_role_is_usable_for_assume_role(
        run_cli: list[subprocess.Popen[str]]) -> None:
    env = _exports(_start(run_cli), "ALIOSS_EMULATOR_ACCOUNT_ID")
    provider = RamRoleArnCredentialsProvider(
        access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        role_arn=env["ALIOSS_EMULATOR_RAM_ROLE_ARN"], role_session_name="assume-role",
        sts_endpoint=env["ALIOSS_STS_ENDPOINT"])
    bucket = oss2.Bucket(oss2.ProviderAuthV4(_Adapter(provider)), env["ALIOSS_ENDPOINT"],
                         env["ALIOSS_BUCKET_NAME"], region=env["ALIOSS_REGION"])
    bucket.put_object("assumed.txt", b"role")
    assert provider.get_credentials().get_access_key_id().startswith("STS.")


@pytest.mark.parametrize("account_wide", [False, True])
def test_account_wide_lets_the_user_create_and_use_buckets(account_wide: bool) -> None:
    with Emulator(account_wide=account_wide) as emu:
        auth = oss2.AuthV4(emu.access_key_id, emu.access_key_secret)
        other = oss2.Bucket(auth, emu.endpoint, "suite-made-bucket", region=emu.region)
        if not account_wide:
            with pytest.raises(oss2.exceptions.AccessDenied):
                other.create_bucket()
            return
        other.create_bucket()
        other.put_object("k", b"v")
        assert other.get_object("k").read() == b"v"
        other.delete_object("k")
        other.delete_bucket()
        names = [b.name for b in oss2.Service(auth, emu.endpoint, region=emu.region)
                 .list_buckets().buckets]
        assert names == [emu.bucket_name]


def test_console_script_runs_the_cli(run_cli: list[subprocess.Popen[str]]) -> None:
    assert CONSOLE_SCRIPT.exists(), "pip install -e . creates the django-alioss-emulator script"
    process = _start(run_cli, "--account-wide", command=(str(CONSOLE_SCRIPT),))
    env = _exports(process, "ALIOSS_EMULATOR_ACCOUNT_ID")
    bucket = oss2.Bucket(oss2.Auth(env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                   env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]),
                         env["ALIOSS_ENDPOINT"], "created-by-a-suite")
    bucket.create_bucket()
    bucket.put_object("made-by-the-console-script.txt", b"ok")
