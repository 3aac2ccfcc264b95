"""Proxies from the environment: read once when the client is built (not on every
request), and still honoured: HTTP_PROXY routes requests through the proxy, NO_PROXY
exempts the endpoint's host. A tiny forwarding proxy on 127.0.0.1 plays the proxy."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile

from django_alioss.storage import OSSStorage

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "proxy-authorization"}


class ForwardingProxy(ThreadingHTTPServer):
    """An HTTP proxy for absolute-URI requests (``GET http://host:port/path``) that
    forwards each to its origin and counts them."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.forwarded: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ForwardingProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "absolute http:// URI expected")
            return
        self.server.forwarded.append(f"{self.command} {target.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        origin = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            origin.request(self.command, path, body=body, headers=headers)
            answer = origin.getresponse()
            payload = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            origin.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    server = ForwardingProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def round_trip(storage: OSSStorage) -> None:
    storage.save("via.txt", ContentFile(b"through the proxy?"))
    assert storage.open("via.txt").read() == b"through the proxy?"
    assert storage.exists("via.txt")


def test_http_proxy_from_the_environment_is_used(make_storage, proxy: ForwardingProxy,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    storage = make_storage()
    round_trip(storage)
    methods = [line.split()[0] for line in proxy.forwarded]
    assert methods == ["PUT", "GET", "HEAD"]


def test_no_proxy_exempts_the_endpoint(make_storage, proxy: ForwardingProxy,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    round_trip(make_storage())
    assert proxy.forwarded == []


def test_environment_is_read_once_per_client(make_storage, proxy: ForwardingProxy,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    direct = make_storage()
    direct.exists("warm.txt")  # the client is built: no proxy then
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    round_trip(direct)
    assert proxy.forwarded == []  # not looked up again per request
    round_trip(make_storage())  # a new storage's client reads the environment anew
    assert len(proxy.forwarded) == 3
