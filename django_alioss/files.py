"""File objects for OSS: lazy ranged reads and streaming multipart writes.

- :class:`ObjectReader` reads an object with HTTP Range requests, fetching windows that
  grow while reading sequentially (64 KiB up to 8 MiB) and start small again after a
  seek: opening an image to read its dimensions costs one small request.
- :class:`MultipartUpload` uploads parts in parallel with at most ``concurrency`` parts
  in flight, so memory stays bounded whatever the object's size.
- :class:`ObjectWriter` streams written bytes into a multipart upload part by part; a
  file closed before its first part fills becomes one PutObject (an empty object if
  nothing was written).
- :class:`OSSFile` is the Django ``File`` the storage returns from ``open()``.
"""

from __future__ import annotations

import gzip
import io
import logging
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from django.core.files.base import File

from .client import RETRY_BASE, RETRY_CAP
from .retry import backoff
from .exceptions import OSSError

if TYPE_CHECKING:
    from .client import OSSClient
    from .storage import OSSStorage

logger = logging.getLogger("django_alioss")

KiB = 1024
MiB = 1024 * KiB
FIRST_WINDOW = 64 * KiB
MAX_WINDOW = 8 * MiB
MAX_PARTS = 10_000


def _parse_total_size(result: Any) -> int:
    """The object's full size from a GetObject answer (206 Content-Range or 200 length)."""
    content_range = result.headers.get("Content-Range", "")
    if result.status == 206 and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(result.content_length)


def _read_stored_bytes(result: Any) -> bytes:
    """The body of a GetObject answer exactly as stored.

    oss2 reads through requests, which gunzips a body sent with ``Content-Encoding:
    gzip``: a window of a gzipped object would come back decompressed, with offsets and
    lengths no longer matching the stored bytes. Read urllib3's raw stream instead.
    """
    return result.resp.response.raw.read(decode_content=False)


def decompresses(storage: OSSStorage, reader: ObjectReader) -> bool:
    """Whether reads of this object are gunzipped: the storage gzips (``gzip``) and the
    object is stored with ``Content-Encoding: gzip``, as django-storages' S3 does."""
    return bool(storage.gzip) and reader.content_encoding.strip().lower() == "gzip"


class ObjectReader(io.RawIOBase):
    """A seekable, read-only view of one object, fetched lazily with Range requests.

    Construction fetches the first window, so a missing object raises
    ``FileNotFoundError`` right away. Later windows are fetched with ``If-Match`` on
    the first answer's ETag: an object replaced while being read raises ``OSSError``
    instead of mixing two versions.
    """

    def __init__(self, client: OSSClient, key: str, max_retries: int = 3) -> None:
        super().__init__()
        self._client = client
        self._key = key
        self._max_retries = max_retries
        self._pos = 0
        self._window = FIRST_WINDOW
        self._buffer = b""
        self._buffer_start = 0
        self.etag: str | None = None
        self.size = 0
        self.content_encoding = ""
        self._buffer = self._fetch(0, FIRST_WINDOW)

    def _fetch(self, start: int, length: int) -> bytes:
        headers = {"If-Match": f'"{self.etag}"'} if self.etag else None
        attempt = 0
        while True:
            result = self._client.get_object(self._key, (start, start + length - 1),
                                             headers=headers)
            try:
                data = _read_stored_bytes(result)
            except Exception as exc:  # connection reset mid-body: fetch the window again
                attempt += 1
                if attempt > self._max_retries:
                    raise OSSError(f"OSS GetObject of {self._key!r} failed while reading the body: "
                                   f"{type(exc).__name__}", status=-2, operation="GetObject",
                                   key=self._key) from None
                time.sleep(backoff(attempt, base=RETRY_BASE, cap=RETRY_CAP))
                continue
            if self.etag is None:
                self.etag = result.etag
                self.size = _parse_total_size(result)
                self.content_encoding = result.headers.get("Content-Encoding", "")
            if result.status == 200:  # whole object (e.g. an empty one): keep the window
                data = data[start:start + length]
            return data

    # --- io.RawIOBase -----------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer)
        if wanted == 0 or self._pos >= self.size:
            return 0
        offset = self._pos - self._buffer_start
        if not 0 <= offset < len(self._buffer):
            sequential = self._pos == self._buffer_start + len(self._buffer)
            self._window = min(self._window * 2, MAX_WINDOW) if sequential else FIRST_WINDOW
            length = min(max(wanted, self._window), self.size - self._pos)
            self._buffer = self._fetch(self._pos, length)
            self._buffer_start = self._pos
            offset = 0
        chunk = memoryview(self._buffer)[offset:offset + wanted]
        buffer[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def readall(self) -> bytes:
        """The rest of the object in one request (beyond what is buffered)."""
        if self._pos >= self.size:
            return b""
        offset = self._pos - self._buffer_start
        if offset >= 0 and self._buffer_start + len(self._buffer) >= self.size:
            data = self._buffer[offset:]
        else:
            data = self._fetch(self._pos, self.size - self._pos)
        self._pos = self.size
        return data

    def close(self) -> None:
        self._buffer = b""
        super().close()


class MultipartUpload:
    """One multipart upload with at most ``concurrency`` parts in flight.

    A caller that calls :meth:`reserve` before building each part also keeps at most
    ``concurrency`` parts in memory, the one being built included.
    """

    def __init__(self, client: OSSClient, key: str, headers: dict[str, str],
                 concurrency: int) -> None:
        self._client = client
        self.key = key
        self.upload_id = client.init_multipart(key, headers)
        self._executor = ThreadPoolExecutor(max_workers=concurrency,
                                            thread_name_prefix="alioss-upload")
        self._slots = threading.BoundedSemaphore(concurrency)
        self._futures: list[Future[Any]] = []
        self._finished = False
        self._reserved = False

    @property
    def part_count(self) -> int:
        return len(self._futures)

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
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def complete(self, headers: dict[str, str] | None = None) -> Any:
        """Wait for every part and complete the upload (an error aborts it)."""
        try:
            parts = [future.result() for future in self._futures]
            result = self._client.complete_multipart(self.key, self.upload_id, parts, headers)
        except BaseException:
            self.abort()
            raise
        self._finished = True
        self._executor.shutdown(wait=True)
        return result

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
                logger.warning("could not abort multipart upload of %r: %s", self.key, exc)


class ObjectWriter(io.RawIOBase):
    """Write-only stream into one object: multipart once a part fills, else one PUT.

    Closing commits the object. A writer that is garbage-collected without being
    closed discards what was written (and aborts its multipart upload).
    """

    def __init__(self, storage: OSSStorage, key: str, headers: dict[str, str]) -> None:
        super().__init__()
        self._storage = storage
        self._key = key
        self._headers = headers
        self._part_size: int = storage.multipart_chunksize
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
        while len(self._buffer) >= self._part_size:
            if self._upload is None:
                self._upload = self._storage._start_multipart(self._key, self._headers)
            self._upload.reserve()  # before copying the part out: bounded memory
            with memoryview(self._buffer) as buffered:  # one copy: straight into the part
                part = bytes(buffered[:self._part_size])
            del self._buffer[:self._part_size]
            self._upload.add_part(part)
        return len(view)

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._upload is None:
                self._storage._put(self._key, bytes(self._buffer), self._headers)
            else:
                if self._buffer:
                    self._upload.add_part(bytes(self._buffer))
                self._storage._complete_multipart(self._upload, self._headers)
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


_READ_MODES = {"r", "rb", "rt"}
_WRITE_MODES = {"w", "wb", "wt", "x", "xb", "xt"}


class OSSFile(File):
    """A file in OSS, as returned by ``OSSStorage.open(name, mode)``.

    ``rb``/``r``: lazy ranged reads, seekable. ``wb``/``w``: streamed into the object,
    committed on ``close()``; ``x``/``xb`` raise ``FileExistsError`` at ``open()`` when
    the object exists, and at ``close()`` if another writer created it meanwhile.
    Update modes (``r+``, ``w+``, ``a``, ``a+``, with or without ``b``) work on a local
    copy (in memory up to ``max_memory_size``, then a temporary file) uploaded on
    ``close()`` if written to.
    Text modes use UTF-8.
    """

    def __init__(self, name: str, mode: str, storage: OSSStorage) -> None:
        if not set(mode) <= set("rwxab+t") or sum(mode.count(c) for c in "rwxa") != 1:
            raise ValueError(f"invalid mode {mode!r}")
        self._storage = storage
        self._key = storage._key(name)
        self._dirty = False
        self._raw: ObjectReader | ObjectWriter | None = None
        self._spool: Any = None
        self.mode = mode
        text = "b" not in mode
        if mode in _READ_MODES:
            self._raw = ObjectReader(storage.client, self._key, storage.max_retries)
            stream: Any = io.BufferedReader(self._raw, buffer_size=FIRST_WINDOW)
            if decompresses(storage, self._raw):
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
        elif mode in _WRITE_MODES:
            if "x" in mode and storage.client.object_exists(self._key):
                raise FileExistsError(f"{name!r} already exists in OSS (mode {mode!r})")
            headers = storage._write_headers(name, None, forbid_overwrite="x" in mode)
            self._raw = ObjectWriter(storage, self._key, headers)
            stream = io.BufferedWriter(self._raw, buffer_size=256 * KiB)
        else:
            stream = self._open_local_copy(name, mode)
        if text:
            stream = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
        super().__init__(stream, name)

    def _open_local_copy(self, name: str, mode: str) -> Any:
        # Closed with the file (close()/discard()), so no context manager here.
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=self._storage.max_memory_size)
        self._headers = self._storage._write_headers(name, None, forbid_overwrite="x" in mode)
        existed = False
        if "w" not in mode and "x" not in mode:
            try:
                reader = ObjectReader(self._storage.client, self._key, self._storage.max_retries)
            except FileNotFoundError:
                if "r" in mode:
                    raise
            else:
                # Written back on close as is, without Content-Encoding: store it decoded.
                source: Any = (gzip.GzipFile(fileobj=reader, mode="rb")
                               if decompresses(self._storage, reader) else reader)
                while chunk := source.read(MAX_WINDOW):
                    self._spool.write(chunk)
                reader.close()
                existed = True
        if "a" not in mode:
            self._spool.seek(0)
        self._dirty = not existed  # a new object is created on close even if left empty
        return self._spool

    @property
    def size(self) -> int:  # type: ignore[override]
        if isinstance(self._raw, ObjectReader):
            return self._raw.size
        if isinstance(self._raw, ObjectWriter):
            self.file.flush()
            return self._raw.bytes_written
        position = self._spool.tell()
        size = self._spool.seek(0, io.SEEK_END)
        self._spool.seek(position)
        return size

    def write(self, data: Any) -> int:
        self._dirty = True
        return self.file.write(data)

    def open(self, mode: str | None = None) -> OSSFile:
        """Rewind an open file, or reopen a closed one (reading: fetches it anew)."""
        if not self.closed:
            self.seek(0)
            return self
        self.__init__(self.name, mode or self.mode, self._storage)  # type: ignore[misc]
        return self

    def close(self) -> None:
        if self.closed:
            return
        if self._spool is not None:
            self.file.flush()
            if self._dirty:
                self._spool.seek(0)
                self._storage._upload(self._key, self._spool, None, self._headers)
        self.file.close()

    def discard(self) -> None:
        """Close without committing anything written."""
        if isinstance(self._raw, ObjectWriter):
            self._raw.abort()
        self._dirty = False
        self.file.close()
