"""pytest fixtures for test suites that use OSS (registered through the ``pytest11`` entry point).

- ``alioss_emulator_session``: one :class:`~django_alioss.emulator.Emulator` for the
  whole test session (started on free 127.0.0.1 ports, stopped at the end).
- ``alioss_emulator``: the same emulator for one test; afterwards its faults, request
  log and clock offset are reset so tests do not leak into each other.
- ``alioss_env``: the emulator's environment (``ALIOSS_*`` and ``ALIBABA_CLOUD_*``)
  set with ``monkeypatch`` for one test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .emulator import Emulator


@pytest.fixture(scope="session")
def alioss_emulator_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from .emulator import Emulator

    with Emulator(admin=True) as emulator:
        yield emulator


@pytest.fixture
def alioss_emulator(alioss_emulator_session: Emulator) -> Iterator[Emulator]:
    yield alioss_emulator_session
    alioss_emulator_session.reset()


@pytest.fixture
def alioss_env(alioss_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = alioss_emulator.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
