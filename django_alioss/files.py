"""File objects for OSS: lazy ranged reads; writes go through the uploader.

- :class:`ObjectReader` reads an object with HTTP Range requests, fetching windows that
  grow while reading sequentially (64 KiB up to 8 MiB) and start small again after a
  seek: opening an image to read its dimensions costs one small request.
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

from .uploads import ObjectWriter

if TYPE_CHECKING:
    from .client import OSSClient
    from .storage import OSSStorage

KiB = 1024
MiB = 1024 * KiB
FIRST_WINDOW = 64 * KiB
MAX_WINDOW = 8 * MiB


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

    def __init__(self, client: OSSClient, key: str) -> None:
        super().__init__()
        self._client = client
        self._key = key
        self._pos = 0
        self._window = FIRST_WINDOW
        first = client.read_range(key, 0, FIRST_WINDOW)
        self.etag: str = first.etag
        self.size: int = first.total_size
        self.content_encoding: str = first.content_encoding
        self._buffer = first.data
        self._buffer_start = 0

    def _fetch(self, start: int, length: int) -> bytes:
        return self._client.read_range(self._key, start, length, if_match=self.etag).data

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
                while chunk := source.read(MAX_WINDOW):
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
