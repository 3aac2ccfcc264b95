"""The combined Emulator, its CLI contract (RRSA-only exports, the AssumeRole role, the
account-wide mode, the console script), the HTTP control endpoint and the pytest plugin."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest
import requests
from alibabacloud_credentials.provider import (
    OIDCRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
)

from django_alioss.emulator import Emulator
from django_alioss.emulator.__main__ import build_parser

EXPORTED = (
    "ALIOSS_ENDPOINT", "ALIOSS_BUCKET_NAME", "ALIOSS_REGION", "ALIOSS_STS_ENDPOINT",
    "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
)


def _parse_exports(text: str) -> dict[str, str]:
    """Evaluate export lines the way a POSIX shell would (values are shell-quoted)."""
    script = text + "\n" + "".join(f'printf "%s=%s\\n" {n} "${n}"\n' for n in EXPORTED)
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def _rrsa_bucket(env: dict[str, str]) -> oss2.Bucket:
    provider = OIDCRoleArnCredentialsProvider(
        role_arn=env["ALIBABA_CLOUD_ROLE_ARN"],
        oidc_provider_arn=env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"],
        oidc_token_file_path=env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"],
        role_session_name="cli-test",
        sts_endpoint=env["ALIOSS_STS_ENDPOINT"],
    )

    class Adapter:
        def get_credentials(self) -> oss2.credentials.Credentials:
            c = provider.get_credentials()
            return oss2.credentials.Credentials(
                c.get_access_key_id(), c.get_access_key_secret(), c.get_security_token())

    return oss2.Bucket(oss2.ProviderAuthV4(Adapter()), env["ALIOSS_ENDPOINT"],
                       env["ALIOSS_BUCKET_NAME"], region=env["ALIOSS_REGION"])


def _start_cli(*args: str, data_dir: Path | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "django_alioss.emulator", "--port", "0", *args]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read_exports(process: subprocess.Popen[str]) -> str:
    lines = []
    assert process.stdout is not None
    while len(lines) < len(EXPORTED):
        line = process.stdout.readline()
        assert line, f"emulator exited early: {process.stderr.read() if process.stderr else ''}"
        lines.append(line)
    return "".join(lines)


def test_emulator_context_manager_serves_static_keys_and_rrsa() -> None:
    with Emulator(bucket="ctx-bucket") as emu:
        static = oss2.Bucket(oss2.AuthV4(emu.access_key_id, emu.access_key_secret),
                             emu.endpoint, emu.bucket_name, region=emu.region)
        static.put_object("hello.txt", b"static")
        rrsa = _rrsa_bucket(emu.env())
        assert rrsa.get_object("hello.txt").read() == b"static"
        assert emu.controls.log.count("sts", "AssumeRoleWithOIDC") == 1
        assert os.path.exists(emu.oidc_token_file)
        token_dir = Path(emu.oidc_token_file).parent
    assert not token_dir.exists(), "the temporary token directory is removed at stop"
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.endpoint, timeout=2)


def test_cli_prints_exports_first_then_serves_until_sigterm(tmp_path: Path) -> None:
    process = _start_cli("--bucket", "cli-bucket", data_dir=tmp_path)
    try:
        env = _parse_exports(_read_exports(process))
        assert set(EXPORTED) <= set(env)
        assert env["ALIOSS_BUCKET_NAME"] == "cli-bucket"
        assert env["ALIOSS_ENDPOINT"].startswith("http://127.0.0.1:")
        bucket = _rrsa_bucket(env)
        bucket.put_object("persisted.txt", b"kept across restarts")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    # The data directory keeps the object: a new emulator on it serves it again.
    process = _start_cli("--bucket", "cli-bucket", data_dir=tmp_path)
    try:
        env = _parse_exports(_read_exports(process))
        bucket = oss2.Bucket(oss2.Auth(env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                       env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]),
                             env["ALIOSS_ENDPOINT"], env["ALIOSS_BUCKET_NAME"])
        assert bucket.get_object("persisted.txt").read() == b"kept across restarts"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0


def test_cli_detach_supports_eval(tmp_path: Path) -> None:
    script = (
        f'eval "$({sys.executable} -m django_alioss.emulator --port 0 --detach '
        f'--data-dir {tmp_path})" && '
        'printf "%s\\n%s\\n" "$ALIOSS_ENDPOINT" "$ALIOSS_EMULATOR_PID"'
    )
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30,
                         check=True)
    endpoint, pid = out.stdout.split()
    try:
        answer = requests.get(f"{endpoint}/alioss-emulator/missing", timeout=5)
        assert answer.status_code == 403  # anonymous read of a private bucket: refused, as OSS does
        assert answer.headers["Server"] == "AliyunOSS"
    finally:
        os.kill(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("detached emulator did not stop on SIGTERM")


def test_cli_reports_a_port_in_use() -> None:
    with Emulator() as emu:
        port = emu.endpoint.rsplit(":", 1)[1]
        done = subprocess.run([sys.executable, "-m", "django_alioss.emulator", "--port", port],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "cannot listen" in done.stderr
    assert done.stdout == ""


def test_admin_endpoint_controls_faults_clock_and_log() -> None:
    with Emulator(admin=True) as emu:
        admin = emu.admin_url
        assert admin is not None
        bucket = oss2.Bucket(oss2.AuthV4(emu.access_key_id, emu.access_key_secret),
                             emu.endpoint, emu.bucket_name, region=emu.region)
        fault = requests.post(f"{admin}faults", json={
            "service": "oss", "operation": "PutObject", "status": 503,
            "code": "ServiceUnavailable", "times": 1}, timeout=5)
        assert fault.status_code == 201
        with pytest.raises(oss2.exceptions.ServerError) as error:
            bucket.put_object("k", b"v")
        assert (error.value.status, error.value.code) == (503, "ServiceUnavailable")
        bucket.put_object("k", b"v")  # the fault fired once
        counters = requests.get(f"{admin}log", timeout=5).json()["counters"]
        assert counters["oss:PutObject"] == 2
        clock = requests.post(f"{admin}clock", json={"advance": 3600}, timeout=5).json()
        assert clock["offset"] == 3600
        with pytest.raises(oss2.exceptions.ServerError) as skew:
            bucket.get_object("k")
        assert skew.value.code == "RequestTimeTooSkewed"
        state = requests.post(f"{admin}reset", timeout=5).json()
        assert state == {"clock_offset": 0.0, "faults": [], "counters": {}}
        assert bucket.get_object("k").read() == b"v"
        bad = requests.post(f"{admin}faults", json={"service": "nope"}, timeout=5)
        assert bad.status_code == 400
        assert requests.get(f"{admin}nothing", timeout=5).status_code == 404
        rotations = requests.post(f"{admin}token", timeout=5).json()["rotations"]
        assert rotations >= 2


def test_admin_endpoint_is_off_by_default() -> None:
    with Emulator() as emu:
        assert emu.admin_url is None
        answer = requests.get(f"{emu.endpoint}/_emulator/state", timeout=5)
        assert answer.status_code != 200


def test_pytest_plugin_fixture_resets_controls(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import oss2

        def test_one(alioss_emulator, alioss_env):
            emu = alioss_emulator
            bucket = oss2.Bucket(oss2.AuthV4(alioss_env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                             alioss_env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]),
                                 alioss_env["ALIOSS_ENDPOINT"], alioss_env["ALIOSS_BUCKET_NAME"],
                                 region=alioss_env["ALIOSS_REGION"])
            bucket.put_object("plugin.txt", b"ok")
            emu.controls.clock.advance(100)
            assert emu.controls.log.count("oss", "PutObject") == 1

        def test_two(alioss_emulator):
            assert alioss_emulator.controls.clock.offset == 0
            assert alioss_emulator.controls.log.count() == 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:django", "-q")
    result.assert_outcomes(passed=2)


def test_export_lines_are_shell_safe() -> None:
    with Emulator(bucket="quote-test") as emu:
        env = _parse_exports(emu.export_lines())
        assert env == {k: v for k, v in emu.env().items() if k in EXPORTED}
        assert json.dumps(env)  # plain strings only


def test_cli_idle_timeout_and_connection_cap_options() -> None:
    process = _start_cli("--idle-timeout", "1", "--max-connections", "1")
    try:
        env = _parse_exports(_read_exports(process))
        host, port = env["ALIOSS_ENDPOINT"].rsplit("/", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as held:
            held.sendall(b"GET / HTTP/1.1\r\n")  # mid-request: holds the only slot
            with socket.create_connection((host, int(port)), timeout=5) as extra:
                assert extra.recv(65536).startswith(b"HTTP/1.1 503 ")
            assert held.recv(65536) == b""  # then closed once idle for 1 s
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


LISTENER_EXPORTS = ("ALIOSS_ENDPOINT", "ALIOSS_STS_ENDPOINT", "ALIOSS_EMULATOR_OIDC_ISSUER_URL",
                    "ALIOSS_EMULATOR_ECS_METADATA_URL")


def _read_exports_until(process: subprocess.Popen[str], last: str) -> dict[str, str]:
    """The export lines up to the one setting ``last`` (the process is killed, and this
    fails, if that line does not come within 60 s)."""
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


@pytest.mark.parametrize("runner", ["module", "manage.py"])
def test_banner_prints_once_and_every_listener_is_printed_and_exported(runner: str) -> None:
    if runner == "module":
        command = [sys.executable, "-m", "django_alioss.emulator"]
    else:
        command = [sys.executable, "-m", "django", "alioss_emulator", "--settings",
                   "tests.settings", "--in-memory"]
    process = subprocess.Popen([*command, "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        env = _read_exports_until(process, "ALIOSS_EMULATOR_ECS_METADATA_URL")
        urls = [env[name] for name in LISTENER_EXPORTS]
        assert all(url.startswith("http://127.0.0.1:") for url in urls)
        assert len(set(urls)) == 4
        ecs = requests.get(env["ALIOSS_EMULATOR_ECS_METADATA_URL"]
                           + "/latest/meta-data/ram/security-credentials/", timeout=5)
        assert (ecs.status_code, ecs.text) == (200, "alioss-worker")
        keys = requests.get(env["ALIOSS_EMULATOR_OIDC_ISSUER_URL"] + "/keys", timeout=5)
        assert keys.json()["keys"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stderr.count(env["ALIOSS_ENDPOINT"]) == 1, stderr  # one banner, not two
    banner = next(line for line in stderr.splitlines() if env["ALIOSS_ENDPOINT"] in line)
    for url in urls:
        assert url in banner


def _free_port_block(count: int) -> int:
    """A port P with P..P+count-1 all free on 127.0.0.1 just now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    pytest.skip("no block of free ports found")


def test_fixed_port_puts_sts_oidc_and_ecs_on_the_next_three() -> None:
    base = _free_port_block(4)
    with Emulator(port=base) as emu:
        ports = [int(url.rsplit(":", 1)[1]) for url in
                 (emu.endpoint, emu.sts_endpoint, emu.issuer_url, emu.ecs_metadata_url)]
    assert ports == [base, base + 1, base + 2, base + 3]


def test_help_and_readme_agree_on_the_ports_after_port() -> None:
    help_text = " ".join(build_parser().format_help().split())
    assert "STS, the OIDC issuer and the ECS metadata service take the next three" in help_text
    for option in ("--sts-port", "--oidc-port", "--ecs-port"):
        assert option in help_text
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    counts = re.findall(r"take the next (\w+)", readme)
    assert counts and set(counts) == {"three"}, counts
    assert "--ecs-port" in readme


# --- CLI modes ------------------------------------------------------------------------------
CONSOLE_SCRIPT = Path(sys.executable).with_name("django-alioss-emulator")


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
    env = _read_exports_until(_start(run_cli, "--no-static-keys"), "ALIOSS_EMULATOR_ACCOUNT_ID")
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
    env = _read_exports_until(_start(run_cli), "ALIOSS_EMULATOR_ACCOUNT_ID")
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
    env = _read_exports_until(process, "ALIOSS_EMULATOR_ACCOUNT_ID")
    bucket = oss2.Bucket(oss2.Auth(env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                   env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]),
                         env["ALIOSS_ENDPOINT"], "created-by-a-suite")
    bucket.create_bucket()
    bucket.put_object("made-by-the-console-script.txt", b"ok")


def test_many_signals_in_a_row_still_stop_the_cli() -> None:
    """A signal handler that took a lock (``threading.Event.set``) deadlocked when it ran
    while the main thread held that lock in ``Event.wait``: the emulator then ignored
    every later SIGTERM. A burst of signals gives that interleaving its chance."""
    for _ in range(3):
        process = _start_cli()
        try:
            _read_exports(process)
            for _ in range(300):
                process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
