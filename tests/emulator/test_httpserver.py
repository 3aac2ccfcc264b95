"""The shared HTTP layer of every listener (OSS, STS, OIDC, ECS metadata, admin), driven
with raw sockets on 127.0.0.1: framing errors, idle timeouts and the connection cap."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import oss2
import pytest
import requests

from django_alioss.emulator import Emulator
from django_alioss.emulator.controls import Controls
from django_alioss.emulator.httpserver import ServiceServer
from django_alioss.emulator.oidc import OIDCIssuer
from django_alioss.redaction import mask_key_id

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
    """Everything the server sends until it closes or resets the connection
    (socket.timeout if it does neither)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
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


# --- idle connections and the connection cap ------------------------------------------------
def _issuer_server(**limits: object) -> ServiceServer:
    """A bare listener (the OIDC issuer: small answers) with the given limits."""
    controls = Controls()
    issuer = OIDCIssuer(controls)
    server = ServiceServer(issuer, controls, "127.0.0.1", 0, **limits)  # type: ignore[arg-type]
    issuer.issuer_url = server.url
    server.start()
    return server


def _get_keys(sock: socket.socket) -> bytes:
    """One keep-alive GET /keys on ``sock``: the status line and headers of the answer."""
    sock.sendall(b"GET /keys HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head


def _wait_for(predicate: Callable[[], bool], timeout: float = CLIENT_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("prelude", [b"", b"GET /keys HTTP/1.1\r\nHost: 1", b"PUT /x HTTP/1.1\r\n"
                                     b"Content-Length: 10\r\n\r\nabc"],
                         ids=["silent", "mid-headers", "mid-body"])
def test_idle_connection_is_closed_after_the_timeout(prelude: bytes) -> None:
    server = _issuer_server(idle_timeout=0.2)
    try:
        sock = _connect(server.url)
        try:
            started = time.monotonic()
            sock.sendall(prelude)
            assert b"200 OK" not in _read_until_closed(sock)  # closed by the server
            assert time.monotonic() - started < CLIENT_TIMEOUT / 2
        finally:
            sock.close()
        assert _wait_for(lambda: server.active_connections == 0)
    finally:
        server.stop()


def test_keep_alive_connection_is_closed_once_idle() -> None:
    server = _issuer_server(idle_timeout=0.2)
    try:
        sock = _connect(server.url)
        try:
            assert _get_keys(sock).startswith(b"HTTP/1.1 200 ")
            assert _get_keys(sock).startswith(b"HTTP/1.1 200 ")  # kept alive between requests
            assert _read_until_closed(sock) == b""  # then closed once idle
        finally:
            sock.close()
    finally:
        server.stop()


def test_connections_over_the_cap_are_refused_without_a_thread() -> None:
    server = _issuer_server(idle_timeout=30, max_connections=2)
    held: list[socket.socket] = []
    refused: list[socket.socket] = []
    try:
        for _ in range(2):  # two connections in the middle of a request: not reclaimable
            held.append(_connect(server.url))
            held[-1].sendall(b"GET /keys HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _wait_for(lambda: server.active_connections == 2)
        threads = threading.active_count()
        for _ in range(20):
            refused.append(_connect(server.url))
            answer = _read_until_closed(refused[-1])  # answered and closed at once
            assert answer.startswith(b"HTTP/1.1 503 "), answer
            assert b"Connection: close" in answer
        assert threading.active_count() <= threads  # no thread per refused connection
        assert server.active_connections == 2
        for sock in held:
            sock.close()
        assert _wait_for(lambda: server.active_connections == 0)
        with _connect(server.url) as again:  # a freed slot serves again
            assert _get_keys(again).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in held + refused:
            sock.close()
        server.stop()


def test_at_the_cap_the_longest_idle_kept_alive_connection_makes_room() -> None:
    server = _issuer_server(idle_timeout=30, max_connections=2)
    first, second = _connect(server.url), _connect(server.url)
    try:
        assert _get_keys(first).startswith(b"HTTP/1.1 200 ")  # idle the longest
        assert _get_keys(second).startswith(b"HTTP/1.1 200 ")
        assert _wait_for(lambda: server.idle_connections == 2)
        with _connect(server.url) as third:
            assert _get_keys(third).startswith(b"HTTP/1.1 200 ")  # served, not refused
        assert _read_until_closed(first) == b""  # reclaimed by the server
        assert _get_keys(second).startswith(b"HTTP/1.1 200 ")  # still kept alive
    finally:
        first.close()
        second.close()
        server.stop()


def test_emulator_passes_its_limits_to_every_listener() -> None:
    with Emulator(idle_timeout=0.2, max_connections=3) as emu:
        for url in (emu.endpoint, emu.sts_endpoint, emu.issuer_url, emu.ecs_metadata_url):
            with _connect(url) as sock:
                assert _read_until_closed(sock) == b""  # idle: closed by the server


def test_limits_are_validated() -> None:
    controls = Controls()
    with pytest.raises(ValueError, match="idle_timeout"):
        ServiceServer(OIDCIssuer(controls), controls, idle_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        ServiceServer(OIDCIssuer(controls), controls, max_connections=0)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_request_log_masks_access_key_ids_in_presigned_urls(
        emulator: Emulator, caplog: pytest.LogCaptureFixture, version: str) -> None:
    caplog.set_level(logging.DEBUG, logger="django_alioss.emulator")
    auth = (oss2.AuthV4 if version == "v4" else oss2.Auth)(emulator.access_key_id,
                                                          emulator.access_key_secret)
    bucket = oss2.Bucket(auth, emulator.endpoint, emulator.bucket_name, region=emulator.region)
    url = bucket.sign_url("GET", "logged.txt", 60)
    assert emulator.access_key_id in url
    session = requests.Session()
    session.trust_env = False
    assert session.get(url, timeout=5).status_code == 404  # signed, authorized, no such key
    lines = [r.getMessage() for r in caplog.records
             if r.name.startswith("django_alioss.emulator") and "logged.txt" in r.getMessage()]
    assert lines, caplog.text
    assert emulator.access_key_id not in "\n".join(lines)
    assert mask_key_id(emulator.access_key_id) in "\n".join(lines)
