"""Streamed GetObject bodies: bytes as stored, straight into the caller's buffer,
resumed from their offset when a connection fails mid-way."""

from __future__ import annotations

import functools
import http.client
import logging
import time
from typing import TYPE_CHECKING, Any

from .. import redaction
from ..exceptions import OSSError
from ..retry import backoff
from .errors import RETRY_BASE, RETRY_CAP, network_words

if TYPE_CHECKING:
    from .core import OSSClient

logger = logging.getLogger("django_alioss")

DRAIN_LIMIT = 64 * 1024
"""An abandoned body with at most this many bytes left is read to its end so that its
connection can be reused; with more, the connection is closed."""


@functools.cache
def _wire_errors() -> tuple[type[BaseException], ...]:
    """What reading a body raises when its connection fails mid-way."""
    import urllib3

    return (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


class Wire:
    """The body of one GetObject answer, read as stored.

    urllib3's content decoding is bypassed, and bytes go straight from the socket into
    the caller's buffer when the HTTP stack exposes its ``http.client`` response (urllib3
    does), else through urllib3's ``read(decode_content=False)`` and one copy. Counts
    what is left so that :meth:`release` knows whether the connection can be reused.
    """

    def __init__(self, result: Any) -> None:
        self._response = result.resp.response  # requests.Response (stream=True)
        self._raw = self._response.raw  # urllib3.HTTPResponse
        fp = getattr(self._raw, "_fp", None)
        self._fp = fp if isinstance(fp, http.client.HTTPResponse) else None
        self.left = int(result.content_length or 0)

    def readinto(self, buffer: memoryview) -> int:
        if self._fp is not None:
            count = self._fp.readinto(buffer)
        else:
            data = self._raw.read(len(buffer), decode_content=False)
            count = len(data)
            buffer[:count] = data
        self.left -= count
        return count

    def read(self, size: int) -> bytes:
        data = (self._fp.read(size) if self._fp is not None
                else bytes(self._raw.read(size, decode_content=False)))
        self.left -= len(data)
        return data

    def release(self, broken: bool = False) -> None:
        """Done with this answer. Unless ``broken``, the connection goes back to the pool
        when at most :data:`DRAIN_LIMIT` bytes are left (read and dropped); otherwise it
        is closed."""
        if not broken and self.left <= DRAIN_LIMIT:
            try:
                while self.left > 0 and self.read(self.left):
                    pass
            except _wire_errors():
                pass
            if self.left == 0:
                self._raw.release_conn()
                return
        self._response.close()


class ObjectBody:
    """An open GetObject answer: bytes ``[start, end)`` of one object exactly as stored
    (a gzipped object stays gzipped), read as they arrive.

    :meth:`readinto` fills the caller's buffer straight from the connection. A
    connection that fails mid-body (reset, timeout, early end) is resumed from the
    current position with a conditional ranged GET (``If-Match`` on the ETag), at most
    ``max_retries`` times in a row without progress; an object replaced meanwhile raises
    :class:`OSSError` 412 instead of mixing two versions. :meth:`close` releases the
    connection (reused when the body was read to its end). Not thread-safe. Made by
    :meth:`OSSClient.open_object`.
    """

    def __init__(self, client: OSSClient, key: str, wire: Wire | None, *, start: int,
                 end: int, total_size: int, etag: str, content_encoding: str,
                 crc64: int | None) -> None:
        self._client = client
        self.key = key
        self._wire = wire
        self.start = start
        self.end = end
        """Offset after the last byte of this body."""
        self.total_size = total_size
        self.etag = etag
        """The ETag without quotes."""
        self.content_encoding = content_encoding
        self.crc64 = crc64
        """The whole object's CRC-64 as the server reported it (None if it did not)."""
        self.position = start
        """Offset of the next byte to be read."""
        if start == end:
            self.close()

    @property
    def remaining(self) -> int:
        return self.end - self.position

    def readinto(self, buffer: Any) -> int:
        """Read up to ``len(buffer)`` bytes into ``buffer``; 0 only at the end."""
        view = memoryview(buffer).cast("B")[:self.remaining]
        failures = 0
        while view:
            error = None
            try:
                count = self._open_wire().readinto(view)
            except _wire_errors() as caught:
                error = caught
            else:
                if count:
                    self._advance(count)
                    return count
            failures += 1
            self._resume(error, failures)  # outside the except block: no chained error
        return 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that remain when negative); fewer only at the end."""
        wanted = self.remaining if size < 0 else min(size, self.remaining)
        if wanted <= 0:
            return b""
        try:  # straight into one new bytes object: no copy
            data = self._open_wire().read(wanted)
        except _wire_errors():
            data = b""  # nothing delivered: readinto() below resumes from here
        self._advance(len(data))
        if len(data) == wanted:
            return data
        buffer = bytearray(wanted)
        buffer[:len(data)] = data
        filled = len(data)
        while filled < wanted and (count := self.readinto(memoryview(buffer)[filled:])):
            filled += count
        return bytes(buffer[:filled])

    def close(self, broken: bool = False) -> None:
        """Release the connection (idempotent): reused when little or nothing is left."""
        if self._wire is not None:
            wire, self._wire = self._wire, None
            wire.release(broken)

    def __enter__(self) -> ObjectBody:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_wire(self) -> Wire:
        if self._wire is None:
            raise ValueError("read from a closed object body")
        return self._wire

    def _advance(self, count: int) -> None:
        self.position += count
        if self.position >= self.end:
            self.close()

    def _resume(self, error: BaseException | None, failures: int) -> None:
        """Drop the failed connection, then GET the rest again from :attr:`position`."""
        self.close(broken=True)
        what = network_words(error) if error is not None else "the body ended early"
        retries = self._client.config.max_retries
        if failures > retries:
            raise OSSError(redaction.redact(
                f"OSS GetObject of {self.key!r} failed: network error at offset "
                f"{self.position}: {what}"), status=-2, operation="GetObject", key=self.key)
        delay = backoff(failures, base=RETRY_BASE, cap=RETRY_CAP)
        logger.warning("OSS GetObject of %r: connection lost at offset %d (%s), resuming "
                       "(%d/%d) in %.2fs", self.key, self.position, redaction.redact(what),
                       failures, retries, delay)
        time.sleep(delay)
        fresh = self._client.open_object(self.key, self.position, self.end, if_match=self.etag)
        self._wire, fresh._wire = fresh._wire, None


