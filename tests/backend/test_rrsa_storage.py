"""OSSStorage with RRSA and fallback credentials, end to end through the emulator."""

from __future__ import annotations

import logging
import pickle
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile

from django_alioss.emulator import Emulator
from django_alioss.emulator.emulator import rrsa_trust_policy
from django_alioss.storage import OSSStorage

RRSA_ENV = ("ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE")


@pytest.fixture
def rrsa_env(alioss_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulator's environment, as the ACK webhook and the pod spec would set it."""
    for name in ("ALIOSS_ACCESS_KEY_ID", "ALIOSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    # A unique session name gives each test its own credentials cache.
    monkeypatch.setenv("ALIBABA_CLOUD_ROLE_SESSION_NAME", f"test-{uuid.uuid4().hex[:12]}")
    return alioss_env


def _session_role(emulator: Emulator, access_key_id: str) -> str:
    principal = emulator.iam.principal_for(access_key_id)
    assert principal is not None, "the request was signed with a key the emulator never issued"
    return principal.role.name  # type: ignore[union-attr]


def _signers(emulator: Emulator, operation: str) -> set[str]:
    return {e.access_key_id or "" for e in emulator.controls.log.entries("oss", operation)}


@pytest.mark.parametrize("keys", [{}, {"access_key_id": "rrsa", "access_key_secret": "RRSA"},
                                  {"access_key_id": "", "access_key_secret": ""}])
def test_rrsa_end_to_end(alioss_emulator: Emulator, rrsa_env: dict[str, str],
                         keys: dict[str, str]) -> None:
    storage = OSSStorage(location=f"rrsa-{uuid.uuid4().hex[:8]}", **keys)
    name = storage.save("hello.txt", ContentFile(b"via RRSA"))
    with storage.open(name) as handle:
        assert handle.read() == b"via RRSA"
    assert storage.credentials.describe()["source"] == "rrsa"
    assert alioss_emulator.controls.log.count("sts", "AssumeRoleWithOIDC") == 1
    (signer,) = _signers(alioss_emulator, "PutObject")
    assert signer.startswith("STS.")
    assert _session_role(alioss_emulator, signer) == alioss_emulator.role.name

    url = storage.url(name)
    query = parse_qs(urlsplit(url).query)
    assert query["x-oss-security-token"], "an STS-signed URL carries the security token"
    assert requests.get(url, timeout=5).content == b"via RRSA"


def test_incomplete_rrsa_env_falls_back_to_static_keys_with_one_warning(
        alioss_emulator: Emulator, rrsa_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE")
    caplog.set_level(logging.DEBUG)
    storage = OSSStorage(location=f"fallback-{uuid.uuid4().hex[:8]}")
    for i in range(3):
        storage.save(f"f{i}.txt", ContentFile(b"static"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and r.name.startswith("django_alioss")]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "ALIBABA_CLOUD_OIDC_TOKEN_FILE" in warnings[0].getMessage()
    assert alioss_emulator.access_key_secret not in caplog.text
    assert storage.credentials.describe()["source"] == "static-fallback"
    assert _signers(alioss_emulator, "PutObject") == {alioss_emulator.access_key_id}
    assert alioss_emulator.controls.log.count("sts") == 0


def test_rrsa_fallback_disabled_is_an_error(alioss_emulator: Emulator, rrsa_env: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from django_alioss.credentials import CredentialsUnavailable

    monkeypatch.delenv("ALIBABA_CLOUD_ROLE_ARN")
    storage = OSSStorage(location="never", rrsa_fallback=False)
    with pytest.raises(CredentialsUnavailable, match="ALIBABA_CLOUD_ROLE_ARN"):
        storage.save("x.txt", ContentFile(b"x"))
    assert alioss_emulator.controls.log.count("oss") == 0


def test_two_storages_with_different_roles_in_one_process(
        alioss_emulator: Emulator, rrsa_env: dict[str, str]) -> None:
    emu = alioss_emulator
    reports_role = emu.iam.add_role(
        f"reports-{uuid.uuid4().hex[:6]}",
        rrsa_trust_policy(emu.oidc_provider_arn, emu.issuer_url, emu.subject),
        [{"Version": "1", "Statement": [{
            "Effect": "Allow", "Action": ["oss:PutObject", "oss:GetObject"],
            "Resource": f"acs:oss:*:*:{emu.bucket_name}/reports/*"}]}],
    )
    media = OSSStorage(location="media")
    reports = OSSStorage(location="reports", role_arn=reports_role.arn)
    media.save("a.txt", ContentFile(b"media"))
    reports.save("b.txt", ContentFile(b"report"))
    roles = {_session_role(emu, ak) for ak in _signers(emu, "PutObject")}
    assert roles == {emu.role.name, reports_role.name}
    assert emu.controls.log.count("sts", "AssumeRoleWithOIDC") == 2
    # The narrower role really is narrower: it may not write outside reports/.
    reports_elsewhere = OSSStorage(location="media", role_arn=reports_role.arn)
    with pytest.raises(PermissionError) as denied:
        reports_elsewhere.save("c.txt", ContentFile(b"no"))
    assert denied.value.auth_action == "oss:PutObject"  # type: ignore[attr-defined]


def test_storages_sharing_a_role_share_one_sts_session(
        alioss_emulator: Emulator, rrsa_env: dict[str, str]) -> None:
    first = OSSStorage(location="one")
    second = OSSStorage(location="two")
    first.save("x.txt", ContentFile(b"1"))
    second.save("y.txt", ContentFile(b"2"))
    assert alioss_emulator.controls.log.count("sts", "AssumeRoleWithOIDC") == 1
    assert first.credentials is second.credentials


def test_signed_urls_never_outlive_sts_credentials(
        alioss_emulator: Emulator, rrsa_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIOSS_ROLE_DURATION", "900")
    storage = OSSStorage(location=f"short-{uuid.uuid4().hex[:8]}", querystring_expire=7 * 24 * 3600)
    name = storage.save("a.txt", ContentFile(b"short-lived"))
    query = parse_qs(urlsplit(storage.url(name)).query)
    expires = int(query["x-oss-expires"][0])
    assert 0 < expires <= 900
    v1 = OSSStorage(location=storage.location, signature_version="v1", querystring_expire=86400)
    query = parse_qs(urlsplit(v1.url(name)).query)
    expiration = v1.credentials.snapshot().expiration
    assert expiration is not None
    assert int(query["Expires"][0]) <= expiration
    assert query["security-token"]


def test_no_secret_in_logs_reprs_errors_or_pickles(
        alioss_emulator: Emulator, rrsa_env: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    storage = OSSStorage(location=f"secret-{uuid.uuid4().hex[:8]}")
    name = storage.save("a.txt", ContentFile(b"data"))
    storage.open(name).read()
    url = storage.url(name)
    with pytest.raises(FileNotFoundError) as missing:
        storage.size("missing.txt")
    snapshot = storage.credentials.snapshot()
    with open(alioss_emulator.oidc_token_file, encoding="utf-8") as token_file:
        oidc_token = token_file.read().strip()
    secrets = [snapshot.access_key_secret, snapshot.security_token, oidc_token,
               alioss_emulator.access_key_secret]
    exposed: dict[str, Any] = {
        "logs": caplog.text,
        "storage repr": repr(storage),
        "provider repr": repr(storage.credentials),
        "snapshot repr": repr(snapshot),
        "describe": repr(storage.describe()),
        "error": str(missing.value),
        "storage pickle": pickle.dumps(storage).decode("latin-1"),
        "provider pickle": pickle.dumps(storage.credentials).decode("latin-1"),
    }
    for where, text in exposed.items():
        for secret in secrets:
            assert secret and secret not in text, f"a secret leaked into {where}"
    # The signed URL necessarily carries the security token (it is how OSS checks it),
    # but never the secret.
    assert snapshot.access_key_secret not in url
    restored = pickle.loads(pickle.dumps(storage))
    assert restored.open(name).read() == b"data"
