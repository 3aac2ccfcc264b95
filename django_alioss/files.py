"""File objects for OSS: streamed reads; writes go through the uploader.

- :class:`ObjectReader` reads an object as one stream: a small first window (one
  ranged GET: opening an image to read its dimensions costs one small request, and a
  small object is read whole), then ONE GET for the rest, streamed straight into the
  caller's buffers. Ranged requests happen only after a seek. Whole-object reads are
  checked against the object's CRC-64.
- :class:`OSSFile` is the Django ``File`` the storage returns from ``open()``; written
  bytes stream into :class:`~django_alioss.uploads.ObjectWriter` (a file closed before
  its first part fills becomes one PutObject, an empty object if nothing was written).
"""

from __future__ import annotations

import gzip
import io
import tempfile
from typing import TYPE_CHECKING, Any

from django.core.files.base import File

from .crc import crc64
from .exceptions import OSSError
from .uploads import ObjectWriter

if TYPE_CHECKING:
    from .client import ObjectBody, OSSClient
    from .storage import OSSStorage

KiB = 1024
MiB = 1024 * KiB
FIRST_WINDOW = 64 * KiB
"""Bytes fetched by the first request (and by the first after a seek)."""
CHUNK_SIZE = 1 * MiB
"""``OSSFile.chunks()``'s default chunk size, and the copy size of update modes."""


def decompresses(storage: OSSStorage, reader: ObjectReader) -> bool:
    """Whether reads of this object are gunzipped: the storage gzips (``gzip``) and the
    object is stored with ``Content-Encoding: gzip``, as django-storages' S3 does."""
    return bool(storage.gzip) and reader.content_encoding.strip().lower() == "gzip"


class WholeObjectCrc:
    """Checks an object read in order from offset 0 against the server's CRC-64.

    Bytes are fed with their offsets as they arrive; those extending the prefix read so
    far count (overlaps are skipped), others (after a seek ahead) are ignored. When the
    prefix reaches the object's size, a CRC differing from the server's raises
    :class:`OSSError` (code ``InconsistentError``). Without a server CRC nothing is
    checked.
    """

    def __init__(self, key: str, size: int, expected: int | None) -> None:
        self._key = key
        self._size = size
        self._expected = expected
        self._covered = 0
        self._crc = 0

    @property
    def verified(self) -> bool:
        """Whether every byte was fed and matched the server's CRC."""
        return self._expected is not None and self._covered == self._size

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        if self._expected is None or not offset <= self._covered < offset + len(data):
            return
        fresh = memoryview(data)[self._covered - offset:]
        self._crc = crc64(fresh, self._crc)
        self._covered += len(fresh)
        if self._covered == self._size and self._crc != self._expected:
            expected, self._expected = self._expected, None  # reported once
            raise OSSError(f"OSS GetObject of {self._key!r} failed: data corrupted in transit: "
                           f"CRC-64 of the object read is {self._crc}, the server says "
                           f"{expected}", status=-3, code="InconsistentError",
                           operation="GetObject", key=self._key)


class ObjectReader(io.RawIOBase):
    """A seekable, read-only view of one object, streamed.

    Construction fetches the first :data:`FIRST_WINDOW` bytes (one ranged GET), so a
    missing object raises ``FileNotFoundError`` right away. Reading on past them opens
    one GET for the rest of the object, read straight into the caller's buffers by
    :meth:`readinto` (a connection lost mid-way is resumed from the offset reached, see
    :class:`~django_alioss.client.ObjectBody`). After a seek out of what was fetched, a
    read of up to one window fetches a window there (ranged GET), a larger one opens a
    stream there at once. Every request after the first carries ``If-Match`` on the
    first answer's ETag: an object replaced while being read raises ``OSSError`` (412)
    instead of mixing two versions. A read of every byte in order is checked against
    the object's CRC-64 (see :class:`WholeObjectCrc`).
    """

    def __init__(self, client: OSSClient, key: str) -> None:
        super().__init__()
        self._client = client
        self._key = key
        self._pos = 0
        self._body: ObjectBody | None = None  # before any request: close() needs it
        self._buffer = b""
        first = client.read_range(key, 0, FIRST_WINDOW)
        self.etag: str = first.etag
        self.size: int = first.total_size
        self.content_encoding: str = first.content_encoding
        self._buffer = first.data
        self._buffer_start = 0
        self.crc_check = WholeObjectCrc(key, self.size, first.crc64)
        self.crc_check.feed(0, first.data)

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
        view = memoryview(buffer).cast("B")
        if not view or self._pos >= self.size:
            return 0
        if not self._buffered(self._pos):
            body = self._body_at(self._pos, len(view))
            if body is not None:
                count = body.readinto(view)
                self.crc_check.feed(self._pos, view[:count])
                self._pos += count
                return count
        offset = self._pos - self._buffer_start
        count = min(len(view), len(self._buffer) - offset)
        view[:count] = memoryview(self._buffer)[offset:offset + count]
        self._pos += count
        return count

    def readall(self) -> bytes:
        """The rest of the object: one stream read into one ``bytes`` (no copy)."""
        if self._pos >= self.size:
            return b""
        offset = self._pos - self._buffer_start
        if offset >= 0 and self._buffer_start + len(self._buffer) >= self.size:
            data = self._buffer[offset:]
        else:
            body = self._body if self._body is not None and self._body.position == self._pos \
                else self._open_body(self._pos)
            data = body.read()
            self.crc_check.feed(self._pos, data)
        self._pos = self.size
        return data

    def close(self) -> None:
        self._close_body()
        self._buffer = b""
        super().close()

    # --- fetching --------------------------------------------------------------------------
    def _buffered(self, position: int) -> bool:
        return 0 <= position - self._buffer_start < len(self._buffer)

    def _body_at(self, position: int, wanted: int) -> ObjectBody | None:
        """The stream to read ``position`` from; None when a window was fetched instead."""
        if self._body is not None and self._body.position == position:
            return self._body
        self._close_body()
        if position == self._buffer_start + len(self._buffer) or wanted > FIRST_WINDOW:
            return self._open_body(position)
        window = self._client.read_range(self._key, position, FIRST_WINDOW, if_match=self.etag)
        self._buffer, self._buffer_start = window.data, position
        self.crc_check.feed(position, window.data)
        return None

    def _open_body(self, position: int) -> ObjectBody:
        self._close_body()
        self._body = self._client.open_object(self._key, position, if_match=self.etag)
        return self._body

    def _close_body(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()


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

    file: Any  # always an open stream here, never None
    DEFAULT_CHUNK_SIZE = CHUNK_SIZE

    def __init__(self, name: str, mode: str, storage: OSSStorage) -> None:
        if not set(mode) <= set("rwxab+t") or sum(mode.count(c) for c in "rwxa") != 1:
            raise ValueError(f"invalid mode {mode!r}")
        self._storage = storage
        self._key = storage.object_key(name)
        self._dirty = False
        self._raw: ObjectReader | ObjectWriter | None = None
        self._spool: Any = None
        self.mode = mode
        text = "b" not in mode
        if mode in _READ_MODES:
            self._raw = ObjectReader(storage.client, self._key)
            stream: Any = io.BufferedReader(self._raw, buffer_size=FIRST_WINDOW)
            if decompresses(storage, self._raw):
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
        elif mode in _WRITE_MODES:
            if "x" in mode and storage.client.object_exists(self._key):
                raise FileExistsError(f"{name!r} already exists in OSS (mode {mode!r})")
            headers = storage.write_headers(name, forbid_overwrite="x" in mode)
            self._raw = storage.uploader.open_writer(self._key, headers)
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
        self._headers = self._storage.write_headers(name, forbid_overwrite="x" in mode)
        existed = False
        if "w" not in mode and "x" not in mode:
            try:
                reader = ObjectReader(self._storage.client, self._key)
            except FileNotFoundError:
                if "r" in mode:
                    raise
            else:
                # Written back on close as is, without Content-Encoding: store it decoded.
                source: Any = (gzip.GzipFile(fileobj=reader, mode="rb")
                               if decompresses(self._storage, reader) else reader)
                while chunk := source.read(CHUNK_SIZE):
                    self._spool.write(chunk)
                reader.close()
                existed = True
        if "a" not in mode:
            self._spool.seek(0)
        self._dirty = not existed  # a new object is created on close even if left empty
        return self._spool

    @property
    def size(self) -> int:
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

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> OSSFile:
        """Rewind an open file, or reopen a closed one (reading: fetches it anew).

        Only ``mode`` applies to an object in OSS: other arguments of ``File.open``
        (buffering, encoding...) raise ``TypeError``.
        """
        if args or kwargs:
            raise TypeError("OSSFile.open() takes only a mode (text is always UTF-8)")
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
                self._storage.uploader.upload(self._key, self._spool, None, self._headers)
        self.file.close()

    def discard(self) -> None:
        """Close without committing anything written."""
        if isinstance(self._raw, ObjectWriter):
            self._raw.abort()
        self._dirty = False
        self.file.close()
