"""The lean oss2 session sends exactly what oss2's own session sends.

``django_alioss.client.transport`` replaces ``requests.Session.request`` (which merges
settings on every call) with a direct prepare-and-send; a server on 127.0.0.1 records
the raw requests of both sessions and they must be byte-identical.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import oss2
import pytest
from oss2.http import Request

from django_alioss.client.transport import encode_query, lean_session


class Recorder:
    """Answers every request with an empty 200 and keeps its raw bytes."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            self._answer_each(connection)

    def _answer_each(self, connection: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                rest += connection.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + rest[:length])
            data = rest[length:]
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


REQUESTS: dict[str, dict[str, Any]] = {
    "put-bytes": {"method": "PUT", "path": "/b/key.txt", "data": b"hello",
                  "headers": {"Content-Type": "text/plain", "x-oss-meta-a": "1"}},
    "get-range": {"method": "GET", "path": "/b/key.txt", "headers": {"Range": "bytes=0-9"}},
    "head": {"method": "HEAD", "path": "/b/k%20ey", "params": {"objectMeta": ""}},
    "post-uploads": {"method": "POST", "path": "/b/big.bin", "params": {"uploads": ""}},
    "list": {"method": "GET", "path": "/b/",
             "params": {"list-type": "2", "prefix": "a b/ç", "delimiter": "/",
                        "continuation-token": None, "max-keys": "1000"}},
    "delete-empty-body": {"method": "DELETE", "path": "/b/x", "data": b""},
}


@pytest.mark.parametrize("name", REQUESTS)
def test_lean_session_sends_the_same_bytes_as_oss2(recorder: Recorder, name: str) -> None:
    spec = REQUESTS[name]
    url = f"http://127.0.0.1:{recorder.port}{spec['path']}"
    for session in (oss2.Session(), lean_session(4)):
        session.session.trust_env = False
        request = Request(spec["method"], url, data=spec.get("data"),
                          params=dict(spec.get("params", {})),
                          headers=dict(spec.get("headers", {})), app_name="django-alioss")
        response = session.do_request(request, timeout=5)
        assert response.status == 200
        response.read()
        session.session.close()
    theirs, ours = recorder.requests
    assert ours == theirs


def test_encode_query_matches_requests() -> None:
    import requests

    params = {"a": "", "b": None, "c": "x y/é", "d": ["1", "2"]}
    prepared = requests.Request("GET", "http://127.0.0.1/p", params=params).prepare()
    assert prepared.url == "http://127.0.0.1/p?" + encode_query(params)


def test_network_errors_are_oss2_request_errors() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    request = Request("GET", f"http://127.0.0.1:{port}/b/k", app_name="django-alioss")
    with pytest.raises(oss2.exceptions.RequestError) as caught:
        lean_session(1).do_request(request, timeout=2)
    assert caught.value.__context__ is None or caught.value.__suppress_context__
