"""Fixtures for the storage backend tests: storages wired to the session emulator.

- ``emu``: the session :class:`Emulator` (faults, request log and clock are reset after
  each test by ``alioss_emulator``).
- ``make_storage(cls=OSSStorage, **options)``: a storage on ``emu`` with static keys,
  signature V4 and a ``location`` unique to the test (override any option).
- ``storage``: ``make_storage()``; ``storage_v``: the same for V4 and V1 (parametrized).
- ``rrsa_storage_options(**overrides)``: options for RRSA credentials (AssumeRoleWithOIDC at
  the emulator's STS), with a session name unique to the test so the process-wide
  credentials registry never hands one test's cached credentials to another.
- ``OpCounter``: counts the OSS requests the emulator answered during a block.

No autouse fixture here; proxy variables are cleared for every test by the suite-wide
``_no_proxy_env`` (tests/conftest.py), so requests to 127.0.0.1 are never routed elsewhere.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from django_alioss.storage import OSSStorage

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator

StorageFactory = Callable[..., OSSStorage]


@pytest.fixture
def emu(alioss_emulator: Emulator) -> Emulator:
    return alioss_emulator


def unique_location(request: pytest.FixtureRequest) -> str:
    """A key prefix of its own for one test (readable, and unique across runs)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:60].strip("-")
    return f"t/{slug}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def location(request: pytest.FixtureRequest) -> str:
    return unique_location(request)


def static_options(emu: Emulator) -> dict[str, Any]:
    """Options reaching ``emu``'s bucket with the emulator user's AccessKey."""
    return {
        "endpoint": emu.endpoint, "bucket_name": emu.bucket_name, "region": emu.region,
        "access_key_id": emu.access_key_id, "access_key_secret": emu.access_key_secret,
    }


@pytest.fixture
def make_storage(emu: Emulator, location: str) -> StorageFactory:
    def make(cls: type[OSSStorage] = OSSStorage, **options: Any) -> OSSStorage:
        merged = {**static_options(emu), "location": location, **options}
        return cls(**merged)

    return make


@pytest.fixture
def storage(make_storage: StorageFactory) -> OSSStorage:
    return make_storage()


@pytest.fixture(params=["v4", "v1"])
def storage_v(request: pytest.FixtureRequest, make_storage: StorageFactory) -> OSSStorage:
    return make_storage(signature_version=request.param)


@pytest.fixture
def rrsa_storage_options(emu: Emulator, request: pytest.FixtureRequest
                 ) -> Iterator[Callable[..., dict[str, Any]]]:
    emu.token_file.write()  # a fresh projected token, whatever earlier tests did to the clock
    session_name = f"bt-{uuid.uuid4().hex[:16]}"

    def options(**overrides: Any) -> dict[str, Any]:
        merged = {
            **static_options(emu), "access_key_id": None, "access_key_secret": None,
            "role_arn": emu.role_arn, "oidc_provider_arn": emu.oidc_provider_arn,
            "oidc_token_file": emu.oidc_token_file, "sts_endpoint": emu.sts_endpoint,
            "role_session_name": session_name, "rrsa_fallback": False,
            "location": unique_location(request),
        }
        merged.update(overrides)
        return merged

    yield options
    emu.controls.clock.set_offset(0)
    emu.token_file.write()


class OpCounter:
    """OSS requests answered by the emulator since creation (or the last ``reset``)."""

    def __init__(self, emu: Emulator) -> None:
        self._log = emu.controls.log
        self._start = self._log.counters()

    def reset(self) -> None:
        self._start = self._log.counters()

    def __getitem__(self, operation: str) -> int:
        key = f"oss:{operation}"
        return self._log.counters().get(key, 0) - self._start.get(key, 0)

    def total(self) -> int:
        now = self._log.counters()
        return sum(n - self._start.get(k, 0) for k, n in now.items() if k.startswith("oss:"))

    def changed(self) -> dict[str, int]:
        """Operation -> count of requests made since the start (non-zero only)."""
        now = self._log.counters()
        return {k.removeprefix("oss:"): n - self._start.get(k, 0) for k, n in now.items()
                if k.startswith("oss:") and n != self._start.get(k, 0)}


@pytest.fixture
def ops(emu: Emulator) -> OpCounter:
    return OpCounter(emu)
