"""The MD5 and CRC-64 of a body as it arrives, the MD5 pipelined with the socket reads.

MD5 is the slowest thing the emulator does with a body (OpenSSL runs it at about
800 MB/s on one core, and it cannot be split: each block depends on the one before).
Hashed in line with the reads, a 256 MiB PutObject ran at 400-550 MB/s. Past the first
:data:`INLINE_BYTES`, :class:`BodyDigests` hands each chunk to a helper thread that
hashes the chunks in order while the receiving thread reads the next one (hashlib
releases the GIL for buffers over 2 KiB), so a large body arrives at about the speed of
MD5 itself. The CRC-64 (fastcrc, several GB/s) stays on the receiving thread. At most
:data:`QUEUE_DEPTH` chunks wait for the helper: memory stays bounded whatever the store
does with the chunks, and a small body never starts a thread.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..crc64 import Crc64

INLINE_BYTES = 1024 * 1024
"""Bodies up to this size are hashed on the receiving thread (no helper thread)."""
QUEUE_DEPTH = 8
"""Chunks (of up to 1 MiB each) that may wait for the hashing thread."""


def _hash_in_order(chunks: queue.Queue[bytes | None], md5: Any,
                   errors: list[BaseException]) -> None:
    """The helper thread: ``md5.update`` each queued chunk until ``None`` arrives."""
    while (chunk := chunks.get()) is not None:
        if errors:
            continue  # keep draining so that the producer never blocks on a full queue
        try:
            md5.update(chunk)
        except BaseException as exc:  # re-raised by the receiving thread
            errors.append(exc)


class BodyDigests:
    """MD5 and CRC-64 of the chunks given to :meth:`update`, in order.

    :meth:`result` waits for the helper thread (if one was started) and returns both;
    nothing may be added after it. :meth:`cancel` drops the body's digests. A writer
    dropped without either still stops its thread (a finalizer ends it).
    """

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._crc = Crc64()
        self._received = 0
        self._chunks: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], object] | None = None
        self._errors: list[BaseException] = []
        self._closed = False

    def update(self, data: bytes) -> None:
        """Add ``data`` (immutable: the helper thread may hash it after this returns)."""
        if self._closed:
            raise ValueError("the body's digests were already taken")
        self._crc.update(data)
        if self._chunks is None and self._received + len(data) <= INLINE_BYTES:
            self._md5.update(data)
        else:
            if self._chunks is None:
                self._start_helper()
            assert self._chunks is not None
            self._chunks.put(data)
        self._received += len(data)

    def _start_helper(self) -> None:
        chunks: queue.Queue[bytes | None] = queue.Queue(QUEUE_DEPTH)
        self._thread = threading.Thread(target=_hash_in_order, args=(chunks, self._md5,
                                                                    self._errors),
                                        name="alioss-emulator-md5", daemon=True)
        self._thread.start()
        stop = weakref.finalize(self, chunks.put, None)
        stop.atexit = False
        self._chunks, self._stop = chunks, stop

    def _close(self) -> None:
        self._closed = True
        if self._thread is not None:
            assert self._stop is not None
            self._stop()  # at most once: the finalizer is spent
            self._thread.join()
            self._thread = None

    def result(self) -> tuple[bytes, int]:
        """``(md5 digest, crc64)`` of the whole body (waits for the helper thread)."""
        self._close()
        if self._errors:
            raise self._errors[0]
        return self._md5.digest(), self._crc.value

    def cancel(self) -> None:
        """The body is dropped: stop the helper thread (after the chunks it holds)."""
        self._close()
