"""Suite-wide pytest setup.

The emulator fixtures (``alioss_emulator``...) come from django_alioss's own plugin. Fixtures
shared between directories are registered here through ``pytest_plugins``, never imported
by name into a test module: the STS/OIDC-issuer fixtures (``sts_servers``, ``sts_world``)
and the credentials fixtures (``emulator``, ``emulator_module``). Helper classes and
functions of those modules (``StsWorld``, ``FakeClock``, ``rrsa_options``...) are imported
normally.

Autouse here, for every test: connections outside loopback fail the test, and no proxy or
SDK debug variable from the environment reaches the code under test.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = [
    "pytester",
    "tests.emulator.conftest_sts",
    "tests.backend.conftest_credentials",
]

#: Variables requests and the Tea SDK would act on: a proxy would route 127.0.0.1
#: elsewhere, DEBUG makes the SDK print requests.
SDK_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
           "DEBUG")


class OffLoopbackConnection(AssertionError):
    """A test tried to open a connection to an address outside 127.0.0.0/8 and ::1."""


def _off_loopback(address: Any) -> str | None:
    if not isinstance(address, tuple):
        return None  # AF_UNIX paths
    try:
        loopback = ipaddress.ip_address(address[0]).is_loopback
    except ValueError:
        loopback = False
    return None if loopback else str(address[0])


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear :data:`SDK_ENV` for the test (a test may set them again with monkeypatch)."""
    for name in SDK_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every connection a test opens goes to 127.0.0.0/8 or ::1 (the emulator, the demo).

    Any other connection is refused before a packet leaves, and fails the test even when
    the code under test swallowed the error.
    """
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: Any) -> None:
        host = _off_loopback(address)
        if host is not None:
            attempts.append(host)
            raise OffLoopbackConnection(f"connection to {host} refused: loopback only")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
    assert not attempts, f"the test tried to connect outside loopback: {sorted(set(attempts))}"
