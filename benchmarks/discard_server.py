"""The floor of the emulator benchmark: an HTTP/1.1 server that does nothing with bodies.

``python benchmarks/discard_server.py`` binds 127.0.0.1 on a free port, prints it, and
serves until its standard input closes (the benchmark that started it exits or closes
the pipe: it stops by itself). Each connection gets a thread; on it:

- a request with a ``Content-Length`` body (PUT) has the body read into one reused
  1 MiB buffer and thrown away, then answered ``200`` with no body;
- ``GET /<n>`` is answered with ``n`` MiB of one repeated random block.

What it measures is what a Python process can move through loopback on this machine,
the emulator's work (parsing, signatures, MD5, CRC-64, storing) left out.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import BinaryIO

MiB = 1024 * 1024
_BLOCK = os.urandom(MiB)


def _read_head(reader: BinaryIO) -> tuple[bytes, bytes, int] | None:
    """Method, path and Content-Length of the next request (``None`` at the end)."""
    line = reader.readline(65537)
    if not line.strip():
        return None
    method, path, _ = line.split(b" ", 2)
    length = 0
    while (header := reader.readline(65537)) not in (b"\r\n", b"\n", b""):
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return method, path, length


def _discard(reader: BinaryIO, length: int, view: memoryview) -> bool:
    """Read ``length`` bytes into ``view`` over and over; ``False`` if the peer left."""
    while length:
        count = reader.readinto(view[:min(length, len(view))])
        if not count:
            return False
        length -= count
    return True


def serve_connection(connection: socket.socket) -> None:
    """Answer the requests of one kept-alive connection until the client closes it."""
    view = memoryview(bytearray(MiB))
    with connection, connection.makefile("rb") as reader:
        while (head := _read_head(reader)) is not None:
            method, path, length = head
            if not _discard(reader, length, view):
                return
            if method == b"GET":
                mib = int(path.strip(b"/") or b"0")
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (mib * MiB))
                for _ in range(mib):
                    connection.sendall(_BLOCK)
            else:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def _accept(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # closed: the server is stopping
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_connection, args=(connection,), daemon=True).start()


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=_accept, args=(listener,), daemon=True).start()
    sys.stdin.read()  # until the parent closes the pipe (or dies)
    listener.close()


if __name__ == "__main__":
    main()
