"""``ecs_ram_role`` (the node's worker RAM role) against the emulated instance metadata service.

The SDK always asks ``http://100.100.100.200``; ``HTTP_PROXY`` points it at the
emulator's metadata service, so nothing leaves loopback (the suite's guard checks it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import oss2
import pytest

from django_alioss.credentials import CredentialsUnavailable, build_provider
from django_alioss.emulator import Emulator


@pytest.fixture
def metadata(alioss_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for name in ("no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", alioss_emulator.ecs_metadata_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # OSS itself is reached directly
    yield alioss_emulator
    alioss_emulator.ecs.require_token = False
    alioss_emulator.ecs.role = alioss_emulator.worker_role


def _options(**options: object) -> dict[str, object]:
    # A unique session name keeps the test's provider out of the shared registry.
    return {"credentials_provider": "ecs_ram_role", "role_session_name": uuid.uuid4().hex,
            **options}


def test_worker_role_discovered_and_used_by_oss2(metadata: Emulator) -> None:
    provider = build_provider(_options(), shared=False)
    snapshot = provider.snapshot()
    principal = metadata.iam.principal_for(snapshot.access_key_id)
    assert principal is not None and principal.role is metadata.worker_role  # type: ignore[union-attr]
    assert snapshot.security_token and snapshot.expiration is not None
    log = metadata.controls.log
    assert log.count("ecs", "Token") >= 1, "IMDSv2: a metadata token is fetched first"
    assert log.count("ecs", "RoleName") == 1 and log.count("ecs", "Credentials") == 1

    bucket = oss2.Bucket(oss2.ProviderAuthV4(provider), metadata.endpoint, metadata.bucket_name,
                         region=metadata.region)
    bucket.put_object("ecs/hello.txt", b"from the worker role")
    assert bucket.get_object("ecs/hello.txt").read() == b"from the worker role"
    assert log.count("ecs", "Credentials") == 1, "cached: no metadata call per request"
    assert provider.describe()["source"] == "ecs_ram_role"


def test_named_role_skips_discovery(metadata: Emulator) -> None:
    provider = build_provider(_options(ecs_role_name=metadata.worker_role.name), shared=False)
    provider.get_credentials()
    assert metadata.controls.log.count("ecs", "RoleName") == 0
    assert metadata.controls.log.count("ecs", "Credentials") == 1


def test_imdsv2_only_instance(metadata: Emulator) -> None:
    metadata.ecs.require_token = True
    provider = build_provider(_options(), shared=False)
    assert provider.snapshot().access_key_id.startswith("STS.")


def test_unknown_role_is_a_clear_error(metadata: Emulator) -> None:
    provider = build_provider(_options(ecs_role_name="no-such-role"), shared=False)
    with pytest.raises(CredentialsUnavailable, match="ecs_ram_role"):
        provider.get_credentials()
    assert provider.describe()["refresh_failures"] == 1


def test_instance_without_a_role(metadata: Emulator) -> None:
    metadata.ecs.role = None
    provider = build_provider(_options(), shared=False)
    with pytest.raises(CredentialsUnavailable, match="ecs_ram_role"):
        provider.get_credentials()
