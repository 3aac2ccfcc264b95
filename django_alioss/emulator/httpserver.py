"""A small threaded HTTP/1.1 server that hosts one emulated service.

The server parses each request into a :class:`Request`, applies the fault rules and
the request log from :class:`~.controls.Controls`, asks the service for a
:class:`Response` and writes it back, streaming iterable bodies with chunked or
fixed-length framing. Services never touch sockets.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ..redaction import mask_key_id, redact
from .controls import Controls, Fault, LoggedRequest

logger = logging.getLogger("django_alioss.emulator")

READ_CHUNK = 1024 * 1024
LINGER_SECONDS = 1.0  # after refusing a request: how long (and how much) to drain
LINGER_BYTES = 4 * READ_CHUNK


_KEY_ID_PARAM = re.compile(
    r"(?P<prefix>(?:OSSAccessKeyId|AccessKeyId|x-oss-credential)(?:=|%3D))(?P<id>[A-Za-z0-9.]+)",
    re.IGNORECASE)


def log_safe(text: str) -> str:
    """``text`` fit for a log line: secrets, tokens and signatures masked (:func:`redact`),
    AccessKey ids in query strings shown as :func:`mask_key_id` shows them."""
    return _KEY_ID_PARAM.sub(lambda m: m["prefix"] + (mask_key_id(m["id"]) or ""), redact(text))


def new_request_id() -> str:
    """A request id as OSS and STS format them: 24 uppercase hex digits."""
    return secrets.token_hex(12).upper()


class ConnectionReset(Exception):
    """Raised inside the server to drop the connection with a TCP reset."""


_DIGITS = re.compile(r"[0-9]{1,19}")


def content_length(headers: Message) -> int | None:
    """The declared body length: 0 when absent, ``None`` when it is not one decimal
    number (negative, signed, non-numeric, absurdly long or repeated with other values)."""
    values = {v.strip() for v in headers.get_all("Content-Length") or ()}
    if not values:
        return 0
    if len(values) != 1:
        return None
    text = values.pop()
    return int(text) if _DIGITS.fullmatch(text) else None


class BodyReader:
    """The request body as a stream: fixed ``Content-Length`` or chunked framing."""

    def __init__(self, rfile, content_length: int | None, chunked: bool) -> None:
        self._rfile = rfile
        self._remaining = content_length if not chunked else None
        self._chunked = chunked
        self._chunk_left = 0
        self._done = (content_length or 0) == 0 and not chunked
        self.bytes_read = 0

    @property
    def length(self) -> int | None:
        """The declared length, or ``None`` for a chunked body."""
        return None if self._chunked else self.bytes_read + (self._remaining or 0)

    @property
    def exhausted(self) -> bool:
        return self._done

    def _rfile_call(self, method: str, size: int) -> bytes:
        """``rfile.read``/``readline``; a socket error or idle timeout drops the connection."""
        try:
            data: bytes = getattr(self._rfile, method)(size)
        except OSError as exc:  # TimeoutError included: the client went quiet mid-body
            raise ConnectionReset(f"reading the body failed: {exc!r}") from exc
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._rfile_call("readline", 65537)
            if not line:
                raise ConnectionReset("client closed the connection mid-body")
            size_text = line.split(b";", 1)[0].strip()
            try:
                self._chunk_left = int(size_text, 16)
            except ValueError as exc:
                raise ConnectionReset("malformed chunk size") from exc
            if self._chunk_left == 0:
                # Trailers end with an empty line.
                while self._rfile_call("readline", 65537) not in (b"\r\n", b"\n", b""):
                    pass
                self._done = True
                return b""
        data = self._rfile_call("read", min(size, self._chunk_left))
        if not data:
            raise ConnectionReset("client closed the connection mid-body")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._rfile_call("readline", 3)
        return data

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left for a negative size)."""
        if self._done:
            return b""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_CHUNK), b""))
        if self._chunked:
            data = self._read_chunked(size)
        else:
            assert self._remaining is not None
            data = self._rfile_call("read", min(size, self._remaining))
            if not data:
                raise ConnectionReset("client closed the connection mid-body")
            self._remaining -= len(data)
            if self._remaining == 0:
                self._done = True
        self.bytes_read += len(data)
        return data

    def chunks(self, size: int = READ_CHUNK) -> Iterator[bytes]:
        while data := self.read(size):
            yield data

    def drain(self) -> None:
        for _ in self.chunks():
            pass


@dataclass
class Request:
    """One parsed HTTP request, as a service sees it."""

    method: str
    raw_path: str  # percent-encoded, without the query string
    query: str  # raw query string, without "?"
    headers: Message
    body: BodyReader
    client_address: tuple[str, int]
    params: dict[str, str] = field(default_factory=dict)
    access_key_id: str | None = None  # set by the service once it knows who signed

    def __post_init__(self) -> None:
        self.params = dict(parse_qsl(self.query, keep_blank_values=True))

    def header(self, name: str, default: str | None = None) -> str | None:
        value = self.headers.get(name)
        return default if value is None else value

    @property
    def host(self) -> str:
        return self.headers.get("Host", "")


@dataclass
class Response:
    """A service's answer. ``body`` is bytes or an iterable of byte chunks.

    For an iterable body give ``content_length`` when it is known (fixed-length
    framing); otherwise the body is sent chunked. A ``Content-Length`` header set by
    the service (HEAD answers) is kept as is.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    content_length: int | None = None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


class Service(Protocol):
    """What the server needs from an emulated service."""

    name: str  # "oss", "sts" or "oidc": the fault rules and log use it

    def operation(self, request: Request) -> str:
        """The operation a request asks for (e.g. ``"PutObject"``), for faults and logs."""

    def handle(self, request: Request) -> Response:
        """Run the operation and answer it; errors are answered, not raised."""

    def error_response(self, request: Request, status: int, code: str, message: str) -> Response:
        """An error in this service's wire shape (used for injected faults)."""


class AdminHandler(Protocol):
    def handle(self, request: Request) -> Response: ...


ADMIN_PREFIX = "/_emulator/"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # meets the client's delayed ACK and every response with a body stalls ~40 ms.
    disable_nagle_algorithm = True
    sys_version = ""
    server: ServiceServer

    def setup(self) -> None:
        super().setup()
        # A connection that sends nothing for this long (between requests, mid-headers or
        # mid-body) is closed: handle_one_request() treats the timeout as the end.
        self.connection.settimeout(self.server.idle_timeout)

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(self.server.controls.clock.now() if timestamp is None else timestamp,
                          usegmt=True)

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s %s", self.server.service.name, log_safe(format % args))

    def _dispatch(self) -> None:
        raw_path, _, query = self.path.partition("?")
        if raw_path.startswith(("http://", "https://")):
            # Absolute-form request line (a client talking through a proxy).
            rest = raw_path.split("://", 1)[1]
            slash = rest.find("/")
            raw_path = rest[slash:] if slash >= 0 else "/"
            if not self.headers.get("Host"):
                self.headers["Host"] = rest[:slash] if slash >= 0 else rest
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = content_length(self.headers)
        body = BodyReader(self.rfile, length or 0, chunked)
        request = Request(self.command, raw_path, query, self.headers, body, self.client_address)
        service = self.server.service
        admin = self.server.admin
        if length is None:
            self._refuse_unframed(request)
            return
        try:
            if admin is not None and raw_path.startswith(ADMIN_PREFIX):
                self._send(admin.handle(request), None)
                return
            operation = service.operation(request)
            fault = self.server.controls.faults.take(service.name, operation)
            if fault is not None and fault.latency:
                time.sleep(fault.latency)
            if fault is not None and fault.unreachable:
                raise ConnectionReset("injected: unreachable")
            if fault is not None and fault.status is not None:
                body.drain()
                response = service.error_response(
                    request, fault.status, fault.code or "InternalError",
                    fault.message or "Injected fault.",
                )
            else:
                try:
                    response = service.handle(request)
                except ConnectionReset:
                    raise
                except Exception:
                    logger.exception("emulated %s failed on %s", service.name, operation)
                    response = service.error_response(
                        request, 500, "InternalError", "We encountered an internal error.")
            self.server.controls.log.record(LoggedRequest(
                time=self.server.controls.clock.now(), service=service.name,
                operation=operation, method=self.command, path=raw_path,
                status=response.status, access_key_id=request.access_key_id,
            ))
            if fault is not None and fault.drop_response:
                raise ConnectionReset("injected: response dropped")
            self._send(response, fault)
        except ConnectionReset as exc:
            logger.debug("resetting connection: %s", exc)
            self._reset()
            return
        if not body.exhausted:
            self.close_connection = True

    def _refuse_unframed(self, request: Request) -> None:
        """400 for a Content-Length that is not a decimal byte count, sent before reading
        any of the body (its end cannot be known), then the connection is closed."""
        service = self.server.service
        code = getattr(service, "bad_request_code", "InvalidArgument")
        response = service.error_response(
            request, 400, code, "The Content-Length header must be a non-negative integer.")
        response.headers.append(("Connection", "close"))
        self.close_connection = True
        self.server.controls.log.record(LoggedRequest(
            time=self.server.controls.clock.now(), service=service.name,
            operation="BadRequest", method=self.command, path=request.raw_path,
            status=response.status,
        ))
        self._send(response, None)
        self._linger()

    def _linger(self) -> None:
        """Half-close, then read and discard what the client still sends (bounded in bytes
        and time) so that closing does not reset the connection before it read the answer."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            discarded = 0
            while discarded < LINGER_BYTES and time.monotonic() < deadline:
                data = self.connection.recv(READ_CHUNK)
                if not data:
                    break
                discarded += len(data)

    def _reset(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The stdlib closes the socket after handle(); with SO_LINGER 0 that is a RST.

    def _send(self, response: Response, fault: Fault | None) -> None:
        self.send_response(response.status)
        for key, value in response.headers:
            self.send_header(key, value)
        is_head = self.command == "HEAD"
        body = response.body
        declared = response.header("Content-Length")
        chunked = False
        if isinstance(body, (bytes, bytearray)):
            if declared is None:
                self.send_header("Content-Length", str(len(body)))
            chunks: Iterable[bytes] = [bytes(body)] if body else []
        else:
            chunks = body
            if declared is None:
                if response.content_length is not None:
                    self.send_header("Content-Length", str(response.content_length))
                elif response.status not in (204, 304) and not is_head:
                    self.send_header("Transfer-Encoding", "chunked")
                    chunked = True
        self.end_headers()
        if is_head or response.status in (204, 304):
            return
        budget = fault.reset_after if fault is not None else None
        for chunk in chunks:
            if not chunk:
                continue
            if budget is not None and len(chunk) >= budget:
                self._write(chunk[:budget], chunked)
                self.wfile.flush()
                raise ConnectionReset("injected: reset mid-body")
            if budget is not None:
                budget -= len(chunk)
            self._write(chunk, chunked)
        if budget is not None:
            raise ConnectionReset("injected: reset mid-body")
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, data: bytes, chunked: bool) -> None:
        if chunked:
            self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
        else:
            self.wfile.write(data)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True
        if not self.close_connection:
            self.server.mark_idle(self.connection)  # kept alive: reclaimable at the cap

    def parse_request(self) -> bool:
        self.server.mark_busy(self.connection)  # a request line arrived
        return super().parse_request()

    def __getattr__(self, name: str):
        # Route every HTTP verb (do_GET, do_PUT, ...) to one dispatcher.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)


DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_MAX_CONNECTIONS = 256
_TOO_MANY_CONNECTIONS = (b"HTTP/1.1 503 Service Unavailable\r\nServer: AliyunOSS\r\n"
                         b"Connection: close\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 21\r\n\r\nToo many connections\n")


class ServiceServer(ThreadingHTTPServer):
    """Hosts one service on ``host:port`` (port 0 picks a free one) in a daemon thread.

    Each connection gets a thread, at most ``max_connections`` at a time. When all are
    taken, the kept-alive connection idle the longest is closed to make room; if every
    one is in the middle of a request, the new connection is answered 503 and closed at
    once, without a thread. A connection idle for ``idle_timeout`` seconds (``None``:
    never) is closed.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, service: Service, controls: Controls, host: str = "127.0.0.1",
                 port: int = 0, admin: AdminHandler | None = None, *,
                 idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive (or None)")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.service = service
        self.controls = controls
        self.admin = admin
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._connections = 0
        self._idle: dict[Any, float] = {}  # kept-alive connection -> when it went idle
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def active_connections(self) -> int:
        """Connections being served now (each holds a thread)."""
        with self._connections_lock:
            return self._connections

    @property
    def idle_connections(self) -> int:
        """Kept-alive connections waiting for their next request (reclaimable at the cap)."""
        with self._connections_lock:
            return len(self._idle)

    def mark_idle(self, connection: Any) -> None:
        """``connection`` finished a request and waits for the next one."""
        with self._connections_lock:
            self._idle[connection] = time.monotonic()

    def mark_busy(self, connection: Any) -> None:
        with self._connections_lock:
            self._idle.pop(connection, None)

    def _admit(self) -> bool:
        """Count a new connection in if there is room, closing the longest-idle kept-alive
        connection to make room when needed; ``False`` when every slot is busy."""
        with self._connections_lock:
            if self._connections >= self.max_connections:
                if not self._idle:
                    return False
                oldest = min(self._idle, key=self._idle.__getitem__)
                del self._idle[oldest]
                with contextlib.suppress(OSError):
                    # Its thread reads EOF and ends, giving the slot back.
                    oldest.shutdown(socket.SHUT_RDWR)
            self._connections += 1
            return True

    def process_request(self, request: Any, client_address: Any) -> None:
        admitted = self._admit()
        if not admitted:
            logger.debug("%s: %d connections open, refusing %s", self.service.name,
                         self.max_connections, client_address)
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(_TOO_MANY_CONNECTIONS)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release_connection(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release_connection(request)

    def _release_connection(self, connection: Any) -> None:
        with self._connections_lock:
            self._connections -= 1
            self._idle.pop(connection, None)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"alioss-emulator-{self.service.name}", daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
