"""The shared HTTP layer of every listener (OSS, STS, OIDC, ECS metadata, admin), driven
with raw sockets on 127.0.0.1: framing errors, idle timeouts and the connection cap."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from django_alioss.emulator import Emulator

CLIENT_TIMEOUT = 5.0  # a test fails (instead of hanging) when the server never answers


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(admin=True) as emu:
        yield emu


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port
    return parts.hostname, parts.port


def _connect(url: str) -> socket.socket:
    sock = socket.create_connection(_address(url), timeout=CLIENT_TIMEOUT)
    sock.settimeout(CLIENT_TIMEOUT)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (socket.timeout if it never does)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _listener_urls(emu: Emulator) -> dict[str, tuple[str, str]]:
    """listener -> (base URL, path of a request it serves)."""
    return {
        "oss": (emu.endpoint, f"/{emu.bucket_name}/k"),
        "sts": (emu.sts_endpoint, "/?Action=AssumeRoleWithOIDC"),
        "oidc": (emu.issuer_url, "/keys"),
        "ecs": (emu.ecs_metadata_url, "/latest/meta-data/ram/security-credentials/"),
        "admin": (emu.endpoint, "/_emulator/state"),
    }


@pytest.mark.parametrize("listener", ["oss", "sts", "oidc", "ecs", "admin"])
@pytest.mark.parametrize("value", ["-1", "abc", "+5", "1_0", "0x10", "9" * 5000, "5, 7"])
def test_malformed_content_length_is_refused_before_the_body_is_read(
        emulator: Emulator, listener: str, value: str) -> None:
    base, path = _listener_urls(emulator)[listener]
    sock = _connect(base)
    try:
        # The body never ends: a server that reads "to the end of the stream" hangs here.
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {value}\r\n"
                     "\r\n".encode("ascii") + b"x" * 4096)
        answer = _read_until_closed(sock)
    finally:
        sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"\r\nConnection: close" in head
    code = {"oss": b"<Code>InvalidArgument</Code>", "admin": b"<Code>InvalidArgument</Code>",
            "sts": b'"Code": "InvalidParameter"', "oidc": b'"error": "invalid_request"',
            "ecs": b"BadRequest"}[listener]
    assert code in body
    assert emulator.controls.log.count(operation="BadRequest") >= 1


def test_duplicate_content_length_headers_that_disagree_are_refused(emulator: Emulator) -> None:
    sock = _connect(emulator.endpoint)
    try:
        sock.sendall(f"PUT /{emulator.bucket_name}/k HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Length: 3\r\nContent-Length: 300\r\n\r\nabc".encode("ascii"))
        answer = _read_until_closed(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert not emulator.store.exists(emulator.bucket_name, "k")


def test_a_valid_content_length_is_still_served(emulator: Emulator) -> None:
    sock = _connect(emulator.issuer_url)
    try:
        sock.sendall(b"GET /keys HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        answer = _read_until_closed(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"keys"' in answer
