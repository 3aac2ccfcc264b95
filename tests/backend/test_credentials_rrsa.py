"""RRSA and the other STS-backed sources end to end: the real alibabacloud-credentials
and oss2 over HTTP against the emulator (OSS + STS + OIDC issuer on 127.0.0.1).

The provider's clock is the emulator's (``emu.controls.clock.now``), so advancing the
emulator clock moves both together.
"""

from __future__ import annotations

import logging
import pickle
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import oss2
import pytest

from django_alioss.credentials import (
    CredentialsProvider,
    CredentialsUnavailable,
    build_provider,
)
from django_alioss.emulator.emulator import Emulator, bucket_policy, rrsa_trust_policy
from django_alioss.emulator.iam import Session
from tests.backend.conftest_credentials import assert_unchained_and_clean, rrsa_options

OIDC = ("sts", "AssumeRoleWithOIDC")


def rrsa(emu: Emulator, **overrides: Any) -> CredentialsProvider:
    return build_provider(rrsa_options(emu, **overrides), clock=emu.controls.clock.now,
                          shared=False)


def bucket(emu: Emulator, provider: CredentialsProvider) -> oss2.Bucket:
    return oss2.Bucket(oss2.ProviderAuthV4(provider), emu.endpoint, emu.bucket_name,
                       region=emu.region)


def static_env(emu: Emulator) -> dict[str, str]:
    return {"ALIBABA_CLOUD_ACCESS_KEY_ID": emu.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": emu.access_key_secret}


def foreign_role(emu: Emulator) -> str:
    """A role whose trust policy names another service account (STS says NoPermission)."""
    role = emu.iam.add_role(
        "other-service-account",
        rrsa_trust_policy(emu.oidc_provider_arn, emu.issuer_url,
                          "system:serviceaccount:default:someone-else"),
        [bucket_policy(emu.bucket_name)])
    return role.arn


def client_log(caplog: pytest.LogCaptureFixture) -> str:
    """Captured log output of the client side, formatted as a handler would.

    The emulator's own request log (``django_alioss.emulator``, the server side that
    does not exist in production) is left out: it records raw request lines.
    """
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records
                     if not record.name.startswith("django_alioss.emulator"))


def session_of(emu: Emulator, access_key_id: str) -> Session:
    principal = emu.iam.principal_for(access_key_id)
    assert isinstance(principal, Session), f"{access_key_id} is not an STS session"
    return principal


@pytest.mark.parametrize(("ak", "sk"), [(None, None), ("", ""), ("rrsa", "rrsa"),
                                        ("RRSA", "RRSA")])
def test_rrsa_end_to_end(emulator: Emulator, ak: str | None, sk: str | None) -> None:
    provider = rrsa(emulator, access_key_id=ak, access_key_secret=sk)
    assert emulator.controls.log.count(*OIDC) == 0, "no STS call when building"
    creds = provider.get_credentials()
    session = session_of(emulator, creds.get_access_key_id())
    assert session.role.arn == emulator.role_arn
    assert session.session_name == "credentials-test"
    assert creds.get_security_token() == session.security_token
    assert provider.snapshot().expiration == session.expiration
    for _ in range(50):
        assert provider.get_credentials() is creds
    assert emulator.controls.log.count(*OIDC) == 1
    store = bucket(emulator, provider)
    store.put_object(f"rrsa/{ak}.txt", b"via rrsa")
    assert store.get_object(f"rrsa/{ak}.txt").read() == b"via rrsa"
    info = provider.describe()
    assert info["source"] == "rrsa" and info["sts_calls"] == 1


def test_rrsa_settings_from_the_environment(emulator: Emulator) -> None:
    environ = {"ALIBABA_CLOUD_ROLE_ARN": emulator.role_arn,
               "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": emulator.oidc_provider_arn,
               "ALIBABA_CLOUD_OIDC_TOKEN_FILE": emulator.oidc_token_file,
               "ALIBABA_CLOUD_ROLE_SESSION_NAME": "from-environ"}
    provider = build_provider({"sts_endpoint": emulator.sts_endpoint, "environ": environ},
                              clock=emulator.controls.clock.now, shared=False)
    session = session_of(emulator, provider.get_credentials().get_access_key_id())
    assert session.session_name == "from-environ"


def test_sts_refusal_falls_back_to_static_keys_once(emulator: Emulator,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    provider = rrsa(emulator, role_arn=foreign_role(emulator), environ=static_env(emulator))
    with caplog.at_level(logging.DEBUG):
        creds = provider.get_credentials()
        for _ in range(20):
            provider.get_credentials()
    assert creds.get_access_key_id() == emulator.access_key_id
    assert not creds.get_security_token()
    assert emulator.controls.log.count(*OIDC) == 1, "falling back is decided once"
    warnings = [r for r in caplog.records if r.name == "django_alioss"
                and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "AuthenticationFail.NoPermission" in warnings[0].getMessage()
    assert emulator.access_key_secret not in client_log(caplog)
    info = provider.describe()
    assert info["source"] == "static-fallback" and "NoPermission" in info["why"]
    store = bucket(emulator, provider)
    store.put_object("fallback.txt", b"static")
    assert store.get_object("fallback.txt").read() == b"static"
    provider.invalidate(provider.snapshot())  # nothing to refresh for static keys
    assert provider.get_credentials() is creds


def test_expired_token_file_falls_back(emulator: Emulator, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    token = emulator.issuer.mint_token(lifetime=600, now=emulator.controls.clock.now() - 700)
    token_path = tmp_path / "expired-token"
    token_path.write_text(token)
    provider = rrsa(emulator, oidc_token_file=str(token_path), environ=static_env(emulator))
    with caplog.at_level(logging.DEBUG):
        assert provider.get_credentials().get_access_key_id() == emulator.access_key_id
    assert "AuthenticationFail.OIDCToken.Expired" in provider.describe()["why"]
    assert token not in client_log(caplog) and token.split(".")[1] not in client_log(caplog)


def test_rrsa_fallback_false_raises(emulator: Emulator) -> None:
    role_arn = foreign_role(emulator)
    provider = rrsa(emulator, role_arn=role_arn, environ=static_env(emulator),
                    rrsa_fallback=False)
    with pytest.raises(CredentialsUnavailable) as excinfo:
        provider.get_credentials()
    message = str(excinfo.value)
    assert role_arn in message and "AuthenticationFail.NoPermission" in message
    assert emulator.access_key_secret not in message
    with pytest.raises(CredentialsUnavailable, match="next attempt in"):
        provider.get_credentials()
    assert emulator.controls.log.count(*OIDC) == 1, "backoff: no STS call per request"


def test_token_file_is_reread_at_every_refresh(emulator: Emulator) -> None:
    provider = rrsa(emulator)
    first = provider.snapshot()
    # New issuer key: the token in the file now fails signature checks unless rewritten.
    emulator.issuer.rotate_key()
    emulator.token_file.write()
    emulator.controls.clock.advance(3600 - 800)
    second = provider.snapshot()
    assert second.access_key_id != first.access_key_id
    assert emulator.controls.log.count(*OIDC) == 2
    # Control: rotate again without rewriting the file -> the refresh is refused.
    emulator.issuer.rotate_key()
    emulator.controls.clock.advance(3600 - 800)
    assert provider.snapshot() is second, "kept the last good credentials"
    assert "OIDCToken.InvalidSignature" in provider.describe()["last_error"]


def test_credentials_expiring_mid_run_refresh_transparently(emulator: Emulator) -> None:
    provider = rrsa(emulator, role_duration=900)
    store = bucket(emulator, provider)
    store.put_object("mid-run.txt", b"one")
    first = provider.snapshot()
    emulator.controls.clock.advance(610)  # past expiry - max(300, 900 / 4)
    store.put_object("mid-run.txt", b"two")
    second = provider.snapshot()
    assert second.access_key_id != first.access_key_id
    assert second.expiration == pytest.approx(emulator.controls.clock.now() + 900, abs=5)
    assert store.get_object("mid-run.txt").read() == b"two"
    assert emulator.controls.log.count(*OIDC) == 2
    oss_keys = {e.access_key_id for e in emulator.controls.log.entries("oss")}
    assert oss_keys == {first.access_key_id, second.access_key_id}


def test_lifetime_900_refreshes_at_most_once_per_600s(emulator: Emulator) -> None:
    provider = rrsa(emulator, role_duration=900)
    for step in range(3600 // 30 + 1):
        if step % 40 == 0:
            emulator.token_file.write()  # the kubelet keeps the token fresh
        provider.get_credentials()
        emulator.controls.clock.advance(30)
    assert emulator.controls.log.count(*OIDC) == 1 + 3600 // 600


def test_32_threads_through_a_slow_refresh_one_sts_call(emulator: Emulator) -> None:
    provider = rrsa(emulator)
    old = provider.get_credentials()
    emulator.controls.faults.add("sts", "AssumeRoleWithOIDC", latency=1.0, times=None)
    emulator.controls.clock.advance(3600 - 800)
    barrier = threading.Barrier(32)
    failures: list[BaseException] = []

    def call() -> tuple[Any, float]:
        barrier.wait()
        started = time.perf_counter()
        try:
            return provider.get_credentials(), time.perf_counter() - started
        except BaseException as exc:
            failures.append(exc)
            raise

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda _: call(), range(32)))
    assert not failures
    assert emulator.controls.log.count(*OIDC) == 2
    fresh = provider.get_credentials()
    assert fresh is not old
    quick = [got for got, elapsed in results if elapsed < 0.5]
    assert len(quick) == 31 and all(got is old for got in quick), \
        "only the refreshing thread waited for STS"


def test_32_threads_without_credentials_wait_for_one_sts_call(emulator: Emulator) -> None:
    provider = rrsa(emulator)
    emulator.controls.faults.add("sts", "AssumeRoleWithOIDC", latency=0.5, times=None)
    barrier = threading.Barrier(32)

    def call() -> str:
        barrier.wait()
        return provider.get_credentials().get_access_key_id()

    with ThreadPoolExecutor(32) as pool:
        keys = set(pool.map(lambda _: call(), range(32)))
    assert len(keys) == 1
    assert emulator.controls.log.count(*OIDC) == 1


def test_sts_down_last_good_until_expiry_then_clear_error(emulator: Emulator) -> None:
    provider = rrsa(emulator)
    good = provider.snapshot()
    outage = emulator.controls.faults.add("sts", "AssumeRoleWithOIDC", unreachable=True,
                                          times=None)
    emulator.controls.clock.advance(3600 - 800)
    for _ in range(100):
        assert provider.snapshot() is good
    assert outage.fired == 1, "one attempt, then backoff"
    for _ in range(120):
        emulator.controls.clock.advance(1)
        assert provider.snapshot() is good
    # delays of 0.5-1, 1-2, 2-4, 4-8, 8-16, 16-32, 32-60 s: 5 to 9 attempts in 120 s
    assert 5 <= outage.fired <= 9, outage.fired
    assert provider.describe()["refresh_failures"] == outage.fired
    emulator.controls.clock.advance(800)  # past the expiry
    with pytest.raises(CredentialsUnavailable) as excinfo:
        provider.get_credentials()
    message = str(excinfo.value)
    assert emulator.role_arn in message and "expired at" in message
    assert "last error" in message and "consecutive failure" in message
    assert good.access_key_secret not in message and good.security_token not in message
    # STS back: the next attempt after the backoff succeeds.
    emulator.controls.faults.clear()
    emulator.token_file.write()
    emulator.controls.clock.advance(61)
    assert provider.snapshot().access_key_id != good.access_key_id


def test_invalidate_refreshes_once(emulator: Emulator) -> None:
    provider = rrsa(emulator)
    snap = provider.snapshot()
    provider.invalidate(snap)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: provider.snapshot().access_key_id, range(8)))
    assert len(keys) == 1 and snap.access_key_id not in keys
    assert emulator.controls.log.count(*OIDC) == 2
    provider.invalidate(snap)  # stale: already replaced
    provider.get_credentials()
    assert emulator.controls.log.count(*OIDC) == 2


def test_ram_role_arn_assume_role_with_access_key(emulator: Emulator) -> None:
    provider = build_provider({
        "credentials_provider": "ram_role_arn", "access_key_id": emulator.access_key_id,
        "access_key_secret": emulator.access_key_secret, "role_arn": emulator.ram_role_arn,
        "role_session_name": "ram-role-test", "sts_endpoint": emulator.sts_endpoint,
        "environ": {},
    }, clock=emulator.controls.clock.now, shared=False)
    creds = provider.get_credentials()
    session = session_of(emulator, creds.get_access_key_id())
    assert session.role.arn == emulator.ram_role_arn
    assert session.session_name == "ram-role-test"
    assert emulator.controls.log.count("sts", "AssumeRole") == 1
    store = bucket(emulator, provider)
    store.put_object("ram-role.txt", b"assumed")
    assert store.get_object("ram-role.txt").read() == b"assumed"
    assert provider.describe()["source"] == "ram_role_arn"


def test_default_chain_takes_oidc_from_environ(emulator: Emulator, tmp_path: Path) -> None:
    environ = {"ALIBABA_CLOUD_ROLE_ARN": emulator.role_arn,
               "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": emulator.oidc_provider_arn,
               "ALIBABA_CLOUD_OIDC_TOKEN_FILE": emulator.oidc_token_file,
               "HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    provider = build_provider({"credentials_provider": "default_chain",
                               "sts_endpoint": emulator.sts_endpoint, "environ": environ},
                              clock=emulator.controls.clock.now, shared=False)
    session_of(emulator, provider.get_credentials().get_access_key_id())
    info = provider.describe()
    assert info["source"] == "default_chain" and info["chain_link"] == "oidc"
    assert emulator.controls.log.count(*OIDC) == 1


def test_shared_provider_means_one_sts_call_per_process(emulator: Emulator) -> None:
    # (the bound method is looked up twice: two objects, the same clock)
    first = build_provider(rrsa_options(emulator), clock=emulator.controls.clock.now)
    second = build_provider(rrsa_options(emulator), clock=emulator.controls.clock.now)
    assert first is second
    other = build_provider(rrsa_options(emulator, role_session_name="another"),
                           clock=emulator.controls.clock.now)
    assert other is not first
    first.get_credentials()
    second.get_credentials()
    assert emulator.controls.log.count(*OIDC) == 1


def test_oss2_with_an_expired_token_gets_security_token_expired(emulator: Emulator) -> None:
    # The provider's clock is the real one: it does not see the emulator's jump.
    provider = build_provider(rrsa_options(emulator), shared=False)
    store = bucket(emulator, provider)
    store.put_object("expiring.txt", b"x")
    emulator.controls.clock.advance(3601)
    with pytest.raises(oss2.exceptions.OssError) as excinfo:
        store.get_object("expiring.txt")
    assert excinfo.value.status == 403
    assert excinfo.value.code == "SecurityTokenExpired"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_secret_or_token_in_logs_reprs_errors_or_pickles(
        emulator: Emulator, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "sdk")  # Tea logs every request line at DEBUG
    oidc_token = Path(emulator.oidc_token_file).read_text().strip()
    texts: list[str] = []
    secrets = [emulator.access_key_secret, oidc_token, oidc_token.split(".")[1],
               oidc_token.split(".")[2]]
    with caplog.at_level(logging.DEBUG):
        provider = rrsa(emulator)
        for step in range(3):  # a few refreshes
            snap = provider.snapshot()
            secrets += [snap.access_key_secret, snap.security_token]
            texts += [repr(provider), str(provider), repr(snap), repr(provider.describe()),
                      repr(provider.get_credentials())]
            provider.invalidate(snap)
            if step == 1:
                emulator.controls.faults.add("sts", "AssumeRoleWithOIDC", status=500,
                                             code="InternalError", times=1)
                with pytest.raises(CredentialsUnavailable) as excinfo:
                    provider.get_credentials()
                texts.append(str(excinfo.value))
                emulator.controls.clock.advance(2)
        texts.append(pickle.dumps(provider).decode("latin-1"))
        # A dead STS endpoint: the network error names the URL, OIDC token included.
        dead = rrsa(emulator, sts_endpoint=f"http://127.0.0.1:{_closed_port()}",
                    rrsa_fallback=False)
        with pytest.raises(CredentialsUnavailable) as excinfo:
            dead.get_credentials()
        texts.append(str(excinfo.value))
        # A refusal with static fallback.
        fallback = rrsa(emulator, role_arn=foreign_role(emulator), environ=static_env(emulator))
        fallback.get_credentials()
        texts += [repr(fallback), repr(fallback.describe()),
                  pickle.dumps(fallback).decode("latin-1")]
    logged = client_log(caplog)
    assert "urllib3.connectionpool" in logged and "alibabacloud-tea" in logged
    assert "OIDCToken=***" in logged, "the SDK's request lines were captured, redacted"
    assert "Max retries exceeded" in texts[-4] or "Connection" in texts[-4]
    everything = logged + "\n".join(texts)
    for secret in secrets:
        assert secret and secret not in everything


def test_sdk_errors_leave_no_token_in_the_exception_chain(emulator: Emulator) -> None:
    """The SDK's network error quotes the STS URL, OIDC token included; a 500 quotes the
    answer. Neither may travel with our exception, even as its hidden ``__context__``."""
    oidc_token = Path(emulator.oidc_token_file).read_text().strip()
    dead = rrsa(emulator, sts_endpoint=f"http://127.0.0.1:{_closed_port()}", rrsa_fallback=False)
    raised = []
    for _ in range(2):  # the failure itself, then the answer within the backoff
        with pytest.raises(CredentialsUnavailable) as excinfo:
            dead.get_credentials()
        raised.append(excinfo.value)
    provider = rrsa(emulator)
    good = provider.snapshot()
    emulator.controls.faults.add("sts", "AssumeRoleWithOIDC", status=500, code="InternalError",
                                 times=None)
    emulator.controls.clock.advance(3600)  # expired, and the refresh fails
    with pytest.raises(CredentialsUnavailable) as expired:
        provider.get_credentials()
    raised.append(expired.value)
    assert_unchained_and_clean(raised, oidc_token, *oidc_token.split(".")[1:],
                               good.access_key_secret, good.security_token)
