"""Helpers and fixtures for the credentials tests.

Registered suite-wide through ``pytest_plugins`` (tests/conftest.py): test modules get
the fixtures by name and import only the helpers.

- ``FakeClock``: a clock the tests move by hand (injected through ``build_provider``).
- ``FakeSource``: a plain credentials callable counting its calls; it can fail, block
  or hand out short-lived credentials. Used through ``credentials_provider=``.
- ``assert_unchained_and_clean``: no secret in what we raised, nor in its chain.
- ``emulator_module`` / ``emulator``: one :class:`Emulator` per test module; after each
  test its faults, request log and clock offset are reset and the token file rewritten.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator


class FakeClock:
    """Seconds since the epoch that only move when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.value += seconds


@dataclass
class Issued:
    access_key_id: str
    access_key_secret: str
    security_token: str
    expiration: float


class FakeSource:
    """A refreshable credentials source: each call issues new STS-like credentials.

    ``lifetime`` seconds of validity on ``clock``; ``fail`` makes calls raise;
    ``gate`` (a threading.Event), when set up with :meth:`block_next`, holds calls
    until released; ``delay`` sleeps in every call (real time).
    """

    def __init__(self, clock: FakeClock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail: Exception | None = None
        self.delay = 0.0
        self.entered = threading.Event()
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()

    def block_next(self) -> threading.Event:
        self.entered.clear()
        self.gate = threading.Event()
        return self.gate

    def __call__(self) -> Issued:
        with self._lock:
            self.calls += 1
            number = self.calls
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail is not None:
            raise self.fail
        return Issued(f"STS.FakeKey{number:012d}", f"fake-secret-{number}-xyzzy",
                      f"CAISfaketoken{number:08d}padpadpadpadpad", self.clock() + self.lifetime)


def assert_unchained_and_clean(raised: list[BaseException], *secrets: str | None) -> None:
    """Each exception in ``raised`` is not chained (no ``__cause__``, no ``__context__``,
    hidden or not), and no secret appears in its ``str``/``repr``/``args`` nor in those of
    anything it links to (so the check holds even if chaining were allowed later)."""
    for exc in raised:
        assert exc.__cause__ is None and exc.__context__ is None, repr(exc.__context__)
        texts: list[str] = []
        seen: set[int] = set()
        pending: list[BaseException | None] = [exc]
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            texts += [str(current), repr(current), repr(current.args)]
            pending += [current.__cause__, current.__context__]
        everything = "\n".join(texts)
        for secret in secrets:
            assert secret and secret not in everything


@pytest.fixture(scope="module")
def emulator_module() -> Iterator[Emulator]:
    from django_alioss.emulator.emulator import Emulator

    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator(emulator_module: Emulator) -> Iterator[Emulator]:
    emulator_module.reset()
    emulator_module.token_file.write()
    yield emulator_module
    emulator_module.reset()
    emulator_module.token_file.write()


def rrsa_options(emu: Emulator, **overrides: Any) -> dict[str, Any]:
    """Options for RRSA against ``emu`` with a hermetic (empty) environment."""
    options: dict[str, Any] = {
        "access_key_id": None, "access_key_secret": None,
        "role_arn": emu.role_arn, "oidc_provider_arn": emu.oidc_provider_arn,
        "oidc_token_file": emu.oidc_token_file, "sts_endpoint": emu.sts_endpoint,
        "role_session_name": "credentials-test", "environ": {},
    }
    options.update(overrides)
    return options


__all__ = [
    "FakeClock",
    "FakeSource",
    "Issued",
    "assert_unchained_and_clean",
    "emulator",
    "emulator_module",
    "rrsa_options",
]
