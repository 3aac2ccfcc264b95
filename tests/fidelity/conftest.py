"""Fixtures for the fidelity tests: other clients (the STS OpenAPI SDK, oss2's less common
operations) against the session emulator.

- ``emu``: the session :class:`Emulator` (faults, log and clock reset after each test).
- ``bucket``: an ``oss2.Bucket`` on the emulator's bucket with the seeded user's AccessKey
  (signature V4), whose keys a test should prefix with ``key_prefix``.
- ``key_prefix``: a key prefix unique to the test.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import oss2
import pytest

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator


@pytest.fixture
def emu(alioss_emulator: Emulator) -> Emulator:
    return alioss_emulator


@pytest.fixture
def key_prefix() -> str:
    return f"fidelity/{uuid.uuid4().hex[:10]}/"


@pytest.fixture
def bucket(emu: Emulator) -> oss2.Bucket:
    return oss2.Bucket(oss2.AuthV4(emu.access_key_id, emu.access_key_secret), emu.endpoint,
                       emu.bucket_name, region=emu.region)
