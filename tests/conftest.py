"""Suite-wide pytest setup. The emulator fixtures come from django_alioss's own plugin."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytest_plugins = ["pytester"]


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
