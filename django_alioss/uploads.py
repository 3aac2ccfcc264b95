"""The write path: every byte the backend stores goes through an :class:`Uploader`.

- :meth:`Uploader.upload` streams a body into one object: one PutObject below
  ``multipart_threshold`` (or when the body turns out smaller than a part), else a
  parallel multipart upload that keeps at most ``concurrency`` parts in memory.
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

import io
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
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


class PartReader:
    """Cuts a stream into parts of exactly ``size`` bytes (the last one may be shorter).

    A text stream's ``read(n)`` returns n characters, which may be more than n bytes
    once encoded: the surplus is kept for the next part, so parts never grow beyond
    ``size`` and memory stays bounded.
    """

    def __init__(self, stream: Any, size: int) -> None:
        self._stream = stream
        self._size = size
        self._surplus = b""

    def next_part(self) -> bytes:
        chunks, have = [self._surplus], len(self._surplus)
        while have < self._size:
            chunk = self._stream.read(self._size - have)
            if not chunk:
                break
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        if len(data) <= self._size:  # the usual case: no surplus, no copy
            self._surplus = b""
            return data
        self._surplus = data[self._size:]
        return data[:self._size]


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
        chunks, have = [], 0
        while have < wanted:
            chunk = self._stream.read(wanted - have)
            if not chunk:
                raise ValueError(f"the content ended after {self._sent + have} bytes, but "
                                 f"its size says {self.len}")
            chunks.append(chunk)
            have += len(chunk)
        self._sent += have
        return b"".join(chunks)


class MultipartUpload:
    """One multipart upload with at most ``concurrency`` parts in flight.

    A caller that calls :meth:`reserve` before building each part also keeps at most
    ``concurrency`` parts in memory, the one being built included. Made by
    :meth:`Uploader.start_multipart`.
    """

    def __init__(self, client: OSSClient, key: str, upload_id: str, concurrency: int) -> None:
        self._client = client
        self.key = key
        self.upload_id = upload_id
        self._executor = ThreadPoolExecutor(max_workers=concurrency,
                                            thread_name_prefix="alioss-upload")
        self._slots = threading.BoundedSemaphore(concurrency)
        self._futures: list[Future[UploadedPart]] = []
        self._finished = False
        self._reserved = False

    def reserve(self) -> None:
        """Wait for a free slot and hold it for the next :meth:`add_part` (idempotent)."""
        if not self._reserved:
            self._raise_failed()
            self._slots.acquire()
            self._reserved = True

    def add_part(self, data: bytes) -> None:
        """Queue the next part; blocks while ``concurrency`` parts are uploading."""
        number = len(self._futures) + 1
        if number > MAX_PARTS:
            raise OSSError(f"{self.key!r} needs more than {MAX_PARTS} parts: raise "
                           "multipart_chunksize", operation="UploadPart", key=self.key)
        self.reserve()
        self._reserved = False
        future = self._executor.submit(self._client.upload_part, self.key, self.upload_id,
                                       number, data)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _raise_failed(self) -> None:
        for future in self._futures:
            if future.done() and (error := future.exception()) is not None:
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

    def abort(self) -> None:
        """Stop and discard the upload; failures to abort are logged, not raised."""
        if self._finished:
            return
        self._finished = True
        for future in self._futures:
            future.cancel()
        self._executor.shutdown(wait=True)
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
        parts = PartReader(body, self.part_size)
        upload: MultipartUpload | None = None
        try:
            while True:
                if upload is not None:
                    upload.reserve()  # before reading the part: bounded memory
                part = parts.next_part()
                if upload is None and len(part) < self.part_size:
                    self.put(key, part, headers)
                    return
                if upload is None:
                    upload = self.start_multipart(key, headers)
                if part:
                    upload.add_part(part)
                if len(part) < self.part_size:
                    break
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
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

    def start_multipart(self, key: str, headers: Mapping[str, str]) -> MultipartUpload:
        """Initiate a multipart upload of ``key``.

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
        return MultipartUpload(self.client, key, begun.upload_id, self.concurrency)

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

    Closing commits the object. A writer that is garbage-collected without being
    closed discards what was written (and aborts its multipart upload).
    """

    def __init__(self, uploader: Uploader, key: str, headers: Mapping[str, str]) -> None:
        super().__init__()
        self._uploader = uploader
        self._key = key
        self._headers = headers
        self._buffer = bytearray()
        self._upload: MultipartUpload | None = None
        self.bytes_written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed file")
        view = memoryview(data).cast("B")
        self._buffer += view
        self.bytes_written += len(view)
        part_size = self._uploader.part_size
        while len(self._buffer) >= part_size:
            if self._upload is None:
                self._upload = self._uploader.start_multipart(self._key, self._headers)
            self._upload.reserve()  # before copying the part out: bounded memory
            with memoryview(self._buffer) as buffered:  # one copy: straight into the part
                part = bytes(buffered[:part_size])
            del self._buffer[:part_size]
            self._upload.add_part(part)
        return len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._upload is None:
                self._uploader.put(self._key, bytes(self._buffer), self._headers)
            else:
                if self._buffer:
                    self._upload.add_part(bytes(self._buffer))
                self._uploader.complete_multipart(self._upload, self._headers)
        except BaseException:
            self.abort()
            raise
        finally:
            self._buffer = bytearray()
            super().close()

    def abort(self) -> None:
        """Discard everything written; nothing is committed."""
        if self._upload is not None:
            self._upload.abort()
        self._buffer = bytearray()
        if not self.closed:
            io.RawIOBase.close(self)

    def __del__(self) -> None:
        if not self.closed:
            logger.warning("file %r opened for writing was never closed: its data was discarded",
                           self._key)
            self.abort()
