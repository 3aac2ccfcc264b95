"""The write path: every byte the backend stores goes through an :class:`Uploader`.

- :meth:`Uploader.upload` streams a body into one object: one PutObject below
  ``multipart_threshold`` (or when the body turns out smaller than a part), else a
  parallel multipart upload. Parts are read into at most ``concurrency`` reused part
  buffers (:class:`PartBuffers`) and sent from there without a copy, so memory stays
  within ``concurrency x multipart_chunksize`` plus a read chunk (1 MiB).
- :meth:`Uploader.open_writer` returns an :class:`ObjectWriter`, a write-only stream
  committed on ``close()`` (``OSSStorage.open(name, "wb")``).
- Lost answers: each write carries a random write id (:data:`WRITE_ID`); a retried
  forbid-overwrite PutObject or CompleteMultipartUpload that meets its own lost first
  attempt recognises the object by it (one HEAD) instead of failing or saving a
  duplicate. A retried InitiateMultipartUpload looks for the upload its lost first
  attempt may have created and aborts it.
- Nothing is left behind: an upload that fails (or is garbage-collected unclosed) is
  aborted.
"""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .exceptions import OSSError

if TYPE_CHECKING:
    from .client import OSSClient, UploadedPart

logger = logging.getLogger("django_alioss")

FORBID_OVERWRITE = "x-oss-forbid-overwrite"
WRITE_ID = "x-oss-meta-alioss-write-id"
"""User metadata set on every write: a random id that lets a retried write whose first
answer was lost recognise the object as its own."""
MAX_PARTS = 10_000
STRAY_WINDOW_SLACK = 2.0
"""Seconds added before the start of a retried InitiateMultipartUpload when looking for
the upload a lost attempt created (OSS reports initiation times in whole seconds)."""


def new_write_id() -> str:
    """A fresh value for :data:`WRITE_ID`."""
    return secrets.token_hex(12)


READ_CHUNK = 1024 * 1024
"""Bytes read at a time from a stream that cannot read into a buffer."""


class PartBuffers:
    """At most ``count`` reusable part buffers of ``size`` bytes.

    Buffers are anonymous memory maps: pages never written cost no memory, and a closed
    buffer goes back to the operating system at once (freed ``bytes`` of several MiB
    may stay in the allocator's heap, fragmenting). :meth:`acquire` blocks while all
    ``count`` are in use. Thread-safe.
    """

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: list[mmap.mmap] = []
        self._made = 0
        self._count = count
        self._closed = False
        self._available = threading.Condition()

    def acquire(self) -> mmap.mmap:
        with self._available:
            while not self._free and self._made >= self._count:
                self._available.wait()
            if self._free:
                return self._free.pop()
            self._made += 1
        return mmap.mmap(-1, self.size)

    def release(self, buffer: mmap.mmap) -> None:
        with self._available:
            if not self._closed:
                self._free.append(buffer)
                self._available.notify()
                return
        _unmap(buffer)

    def close(self) -> None:
        """Unmap the idle buffers; those in use are unmapped when released."""
        with self._available:
            self._closed = True
            free, self._free = self._free, []
        for buffer in free:
            _unmap(buffer)


def _unmap(buffer: mmap.mmap) -> None:
    # A view still held elsewhere (an HTTP library's reference to a sent body) keeps the
    # map alive until it goes; closing would raise BufferError then.
    with contextlib.suppress(BufferError):
        buffer.close()


class PartReader:
    """Cuts a stream into parts of exactly ``size`` bytes (the last one may be shorter),
    read straight into part buffers.

    A stream with ``readinto`` fills the buffer directly; otherwise it is read
    :data:`READ_CHUNK` bytes at a time and copied. A text stream's ``read(n)`` returns n
    characters, which may be more than n bytes once encoded: the surplus is kept for the
    next part, so parts never grow beyond ``size``.
    """

    def __init__(self, stream: Any, size: int) -> None:
        self._stream = stream
        self._size = size
        self._surplus = b""
        self._readinto = getattr(stream, "readinto", None)

    def fill(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next part; return its length (< size: the last)."""
        view = memoryview(buffer)[:self._size]
        filled = min(len(self._surplus), self._size)
        view[:filled] = self._surplus[:filled]
        self._surplus = self._surplus[filled:]
        while filled < self._size:
            if self._readinto is not None:
                count = self._readinto(view[filled:]) or 0
            else:
                chunk = self._stream.read(min(self._size - filled, READ_CHUNK))
                count = min(len(chunk), self._size - filled)
                view[filled:filled + count] = chunk[:count]
                self._surplus = chunk[count:]
            if not count:
                break
            filled += count
        view.release()
        return filled


class SizedBody:
    """A stream with a known length, so oss2 sends Content-Length (not chunked).

    ``read(n)`` returns exactly ``n`` bytes until the last ones (oss2's body adapter
    counts what it asked for, not what it got, so a short read would lose data), never
    more than ``len`` in all, and raises ``ValueError`` if the stream ends early: a
    body shorter than its Content-Length would leave the request hanging.
    """

    def __init__(self, stream: Any, size: int, rewind: Callable[[], Any] | None = None) -> None:
        self._stream = stream
        self._rewind = rewind
        self.len = size
        self._sent = 0

    def rewind(self) -> None:
        """Back to the start of the content, for another attempt."""
        if self._rewind is None:
            raise ValueError("this content cannot be rewound")
        self._rewind()
        self._sent = 0

    def __len__(self) -> int:
        return self.len

    def read(self, size: int | None = -1) -> bytes:
        remaining = self.len - self._sent
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        data = read_exactly(self._stream, wanted, sent=self._sent, total=self.len)
        self._sent += wanted
        return data


def read_exactly(stream: Any, size: int, *, sent: int = 0, total: int | None = None) -> bytes:
    """``size`` bytes read from ``stream`` (one ``read`` when it gives them at once);
    ``ValueError`` if it ends sooner. ``sent`` bytes were taken from it before, of a
    content of ``total`` bytes (default ``sent + size``): the error message says both."""
    data = stream.read(size) or b""
    if len(data) == size:
        return data
    chunks, have = [data], len(data)
    while have < size:
        chunk = stream.read(size - have)
        if not chunk:
            raise ValueError(f"the content ended after {sent + have} bytes, but its size "
                             f"says {sent + size if total is None else total}")
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def _view(buffer: Any, length: int) -> Iterator[memoryview]:
    """``buffer[:length]`` without a copy, released afterwards (if nothing holds it)."""
    view = memoryview(buffer)[:length]
    try:
        yield view
    finally:
        with contextlib.suppress(BufferError):
            view.release()


class MultipartUpload:
    """One multipart upload whose parts are sent from :class:`PartBuffers`.

    A part is filled in a buffer from :meth:`buffer` and queued with :meth:`add_part`;
    the buffer goes back to the pool once the part is uploaded. So at most
    ``concurrency`` parts are in memory, in flight or being filled. Made by
    :meth:`Uploader.start_multipart`.
    """

    def __init__(self, client: OSSClient, key: str, upload_id: str, buffers: PartBuffers,
                 concurrency: int) -> None:
        self._client = client
        self.key = key
        self.upload_id = upload_id
        self.buffers = buffers
        self._executor = ThreadPoolExecutor(max_workers=concurrency,
                                            thread_name_prefix="alioss-upload")
        self._futures: list[Future[UploadedPart]] = []
        self._finished = False

    def buffer(self) -> mmap.mmap:
        """A free part buffer; blocks while all are in use (a failed part raises first)."""
        self._raise_failed()
        return self.buffers.acquire()

    def add_part(self, buffer: mmap.mmap, length: int) -> None:
        """Queue ``buffer[:length]`` as the next part (uploaded without a copy)."""
        number = len(self._futures) + 1
        if number > MAX_PARTS:
            self.buffers.release(buffer)
            raise OSSError(f"{self.key!r} needs more than {MAX_PARTS} parts: raise "
                           "multipart_chunksize", operation="UploadPart", key=self.key)
        self._futures.append(self._executor.submit(self._upload, number, buffer, length))

    def _upload(self, number: int, buffer: mmap.mmap, length: int) -> UploadedPart:
        try:
            with _view(buffer, length) as part:
                return self._client.upload_part(self.key, self.upload_id, number, part)
        finally:
            self.buffers.release(buffer)

    def _raise_failed(self) -> None:
        for future in self._futures:
            if future.done() and not future.cancelled() and (error := future.exception()):
                raise error

    def complete(self, headers: Mapping[str, str] | None = None) -> None:
        """Wait for every part and complete the upload (an error aborts it)."""
        try:
            parts = [future.result() for future in self._futures]
            self._client.complete_multipart(self.key, self.upload_id, parts, headers)
        except BaseException:
            self.abort()
            raise
        self._finished = True
        self._executor.shutdown(wait=True)
        self.buffers.close()

    def abort(self) -> None:
        """Stop and discard the upload; failures to abort are logged, not raised."""
        if self._finished:
            return
        self._finished = True
        for future in self._futures:
            future.cancel()
        self._executor.shutdown(wait=True)
        self.buffers.close()
        try:
            self._client.abort_multipart(self.key, self.upload_id)
        except OSSError as exc:
            if exc.code == "NoSuchUpload":  # already completed (a retried Complete) or aborted
                logger.debug("multipart upload of %r is already gone: %s", self.key, exc)
            else:
                logger.warning("could not abort multipart upload %s of %r: %s (remove it with "
                               "manage.py alioss_cleanup_uploads)", self.upload_id, self.key, exc)


class Uploader:
    """Writes objects of one bucket: single PUT or parallel multipart, never leaving an
    unfinished upload behind."""

    def __init__(self, client: OSSClient, *, threshold: int, part_size: int,
                 concurrency: int) -> None:
        self.client = client
        self.threshold = threshold
        self.part_size = part_size
        self.concurrency = concurrency

    def upload(self, key: str, body: Any, size: int | None, headers: Mapping[str, str],
               rewind: Callable[[], Any] | None = None) -> None:
        """Stream ``body`` into ``key``: one PUT below the threshold, else parallel
        multipart. ``size`` (when known) lets a small body go out with Content-Length;
        ``rewind`` (back to the start of ``body``) lets a failed PUT be retried."""
        if size is not None and size < self.threshold:
            sized = SizedBody(body, size, rewind)
            self.put(key, sized, headers, rewind=sized.rewind if rewind is not None else None)
            return
        buffers = PartBuffers(self.concurrency, self.part_size)
        parts = PartReader(body, self.part_size)
        upload: MultipartUpload | None = None
        try:
            while True:
                buffer = upload.buffer() if upload is not None else buffers.acquire()
                length = parts.fill(buffer)  # straight into the part buffer
                if upload is None and length < self.part_size:
                    try:
                        with _view(buffer, length) as whole:
                            self.put(key, whole, headers)
                    finally:
                        buffers.release(buffer)
                    return
                if upload is None:
                    upload = self.start_multipart(key, headers, buffers)
                if length:
                    upload.add_part(buffer, length)
                else:
                    buffers.release(buffer)
                if length < self.part_size:
                    break
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        finally:
            if upload is None:
                buffers.close()
        self.complete_multipart(upload, headers)

    def put(self, key: str, data: Any, headers: Mapping[str, str],
            rewind: Callable[[], Any] | None = None) -> None:
        """One PutObject; a 409 on a retry is accepted when the object is our own write."""
        try:
            self.client.put_object(key, data, headers, rewind=rewind)
        except OSSError as error:
            # 409 on a retry: the answer to an earlier attempt may have been lost.
            if not (isinstance(error, FileExistsError) and error.attempts > 1
                    and self._written_by(key, headers)):
                raise

    def start_multipart(self, key: str, headers: Mapping[str, str],
                        buffers: PartBuffers | None = None) -> MultipartUpload:
        """Initiate a multipart upload of ``key``, its parts sent from ``buffers`` (new
        ones when None).

        InitiateMultipartUpload is retried on transient failures. When it was sent
        more than once, an earlier attempt whose answer was lost may have created an
        upload nobody knows the id of: uploads of the same key initiated since the
        first attempt (on the server's clock) are aborted, whether the retries
        succeeded or not. (A concurrent writer of the same key starting a multipart
        upload in those seconds would lose its upload too; its save then fails
        cleanly, nothing is mixed.)
        """
        started = time.monotonic()
        try:
            begun = self.client.init_multipart(key, headers)
        except OSSError as error:
            if error.attempts > 1 or error.status == -2:
                self._abort_strays(key, started, keep=None)
            raise
        if begun.attempts > 1:
            self._abort_strays(key, started, keep=begun.upload_id)
        return MultipartUpload(self.client, key, begun.upload_id,
                               buffers or PartBuffers(self.concurrency, self.part_size),
                               self.concurrency)

    def _abort_strays(self, key: str, started: float, keep: str | None) -> None:
        """Abort uploads of ``key`` initiated since ``started`` (monotonic), but ``keep``."""
        try:
            listing, markers = self.client.list_multipart_page(key)
            since = listing.server_time - (time.monotonic() - started) - STRAY_WINDOW_SLACK
            uploads = list(listing.uploads)
            while markers is not None:
                page, markers = self.client.list_multipart_page(key, *markers)
                uploads.extend(page.uploads)
            for upload in uploads:
                if (upload.key == key and upload.upload_id != keep
                        and upload.initiation_date >= since):
                    logger.info("aborting multipart upload %s of %r left by a lost answer",
                                upload.upload_id, key)
                    self.client.abort_multipart(key, upload.upload_id)
        except OSSError as error:
            logger.warning("could not look for multipart uploads of %r left by a lost answer: "
                           "%s (remove them with manage.py alioss_cleanup_uploads)", key, error)

    def complete_multipart(self, upload: MultipartUpload, headers: Mapping[str, str]) -> None:
        """Complete ``upload`` (written with ``headers``), recognising our own lost answer."""
        complete_headers = {FORBID_OVERWRITE: "true"} if FORBID_OVERWRITE in headers else None
        try:
            upload.complete(complete_headers)
        except OSSError as error:
            # Gone (or taken) on a retry: the lost first attempt may have completed it.
            recognised = error.code in ("NoSuchUpload", "FileAlreadyExists")
            if not (recognised and error.attempts > 1 and self._written_by(upload.key, headers)):
                raise

    def _written_by(self, key: str, headers: Mapping[str, str]) -> bool:
        """Whether ``key`` holds the object written with ``headers`` (its write id)."""
        try:
            stored = self.client.head_object(key).metadata.get(WRITE_ID)
        except FileNotFoundError:
            return False
        return stored is not None and stored == headers.get(WRITE_ID)

    def open_writer(self, key: str, headers: Mapping[str, str]) -> ObjectWriter:
        """A write-only stream into ``key``, committed on ``close()``."""
        return ObjectWriter(self, key, headers)


class ObjectWriter(io.RawIOBase):
    """Write-only stream into one object: multipart once a part fills, else one PUT.

    Written bytes are copied once, into a part buffer (:class:`PartBuffers`), and sent
    from there. Closing commits the object. A writer that is garbage-collected without
    being closed discards what was written (and aborts its multipart upload).
    """

    def __init__(self, uploader: Uploader, key: str, headers: Mapping[str, str]) -> None:
        super().__init__()
        self._uploader = uploader
        self._key = key
        self._headers = headers
        self._buffers: PartBuffers | None = None
        self._buffer: mmap.mmap | None = None
        self._filled = 0
        self._upload: MultipartUpload | None = None
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed file")
        view = memoryview(data).cast("B")
        written = len(view)
        part_size = self._uploader.part_size
        while view:
            buffer = self._current_buffer()
            take = min(len(view), part_size - self._filled)
            buffer[self._filled:self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == part_size:
                if self._upload is None:
                    self._upload = self._uploader.start_multipart(self._key, self._headers,
                                                                  self._buffers)
                self._upload.add_part(buffer, part_size)
                self._buffer = None
        self.bytes_written += written
        return written

    def _current_buffer(self) -> mmap.mmap:
        if self._buffer is None:
            if self._buffers is None:
                self._buffers = PartBuffers(self._uploader.concurrency, self._uploader.part_size)
            self._buffer = (self._upload.buffer() if self._upload is not None
                            else self._buffers.acquire())
            self._filled = 0
        return self._buffer

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._upload is None:
                with _view(self._buffer if self._buffer is not None else b"",
                           self._filled) as whole:
                    self._uploader.put(self._key, whole, self._headers)
            else:
                if self._buffer is not None and self._filled:
                    self._upload.add_part(self._buffer, self._filled)
                    self._buffer = None
                self._uploader.complete_multipart(self._upload, self._headers)
        except BaseException:
            self.abort()
            raise
        finally:
            self._drop_buffers()
            super().close()

    def _drop_buffers(self) -> None:
        if self._buffers is not None:
            if self._buffer is not None:
                self._buffers.release(self._buffer)
            self._buffers.close()
        self._buffer = None

    def abort(self) -> None:
        """Discard everything written; nothing is committed."""
        if self._upload is not None:
            self._upload.abort()
        self._drop_buffers()
        if not self.closed:
            io.RawIOBase.close(self)

    def __del__(self) -> None:
        if not self.closed:
            logger.warning("file %r opened for writing was never closed: its data was discarded",
                           self._key)
            self.abort()
