"""Streaming ``multipart/form-data`` for PostObject: the small fields first, then the
``file`` part as a stream of chunks, never the whole body in memory.

OSS wants the file last: :meth:`FormReader.read_fields` reads every field up to the
``file`` part's headers (at most :data:`MAX_FIELDS_BYTES` of them), the caller streams
:meth:`FormReader.file_chunks` into the store, and :meth:`FormReader.finish` checks
that only the closing delimiter follows. A malformed body raises :class:`FormError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Protocol

READ_SIZE = 256 * 1024
MAX_FIELDS_BYTES = 1024 * 1024
"""The fields before the file, headers included, may not exceed this."""
MAX_PART_HEADERS = 16 * 1024
FILE_FIELD = "file"


class FormError(Exception):
    """The body is not a well-formed form (``missing_file``: it has no file part)."""

    def __init__(self, message: str, *, missing_file: bool = False) -> None:
        super().__init__(message)
        self.missing_file = missing_file


class Body(Protocol):
    def read(self, size: int = -1) -> bytes: ...


def form_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type (FormError otherwise)."""
    message = Message()
    message["Content-Type"] = content_type or ""
    boundary = message.get_param("boundary")
    if message.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise FormError("The request is not multipart/form-data with a boundary.")
    if not 1 <= len(boundary) <= 200:
        raise FormError("The multipart boundary must have 1 to 200 characters.")
    return boundary.encode("latin-1")


@dataclass(frozen=True)
class FilePart:
    """The ``file`` part's headers: the file name and the Content-Type it was sent with."""

    filename: str
    content_type: str


class FormReader:
    """Reads one form from ``body`` (anything with ``read(n)``), in order."""

    def __init__(self, body: Body, boundary: bytes) -> None:
        self._body = body
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")  # the first delimiter has no CRLF of its own
        self._eof = False
        self._consumed = 0
        self.fields: dict[str, str] = {}
        """Every field before the file, by lowercased name (form names are matched
        case-insensitively by policies); a repeated name is a FormError."""

    # --- buffer -------------------------------------------------------------------
    def _fill(self) -> bool:
        """Read more of the body into the buffer; False at its end."""
        if self._eof:
            return False
        data = self._body.read(READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._consumed += size
        if self._consumed > MAX_FIELDS_BYTES:
            raise FormError("The form fields before the file are too large.")
        return data

    def _find(self, needle: bytes, limit: int) -> int:
        """The position of ``needle`` in the buffer, reading as needed (at most
        ``limit`` bytes ahead); FormError when the body ends or the limit is passed."""
        while (position := self._buffer.find(needle)) < 0:
            if len(self._buffer) > limit or not self._fill():
                raise FormError("The body of your POST request is not well-formed "
                                "multipart/form-data.")
        return position

    def _after_delimiter(self) -> bool:
        """Past a delimiter: True when a part follows, False at the closing ``--``."""
        while len(self._buffer) < 2 and self._fill():
            pass
        if self._buffer[:2] == b"--":
            return False
        position = self._find(b"\r\n", 1024)
        if self._buffer[:position].strip(b" \t"):
            raise FormError("Unexpected data after a multipart boundary.")
        self._take(position + 2)
        return True

    # --- parts --------------------------------------------------------------------
    def _part_headers(self) -> Message:
        end = self._find(b"\r\n\r\n", MAX_PART_HEADERS)
        text = self._take(end + 4).decode("utf-8", errors="replace")
        return HeaderParser().parsestr(text)

    def read_fields(self) -> FilePart:
        """Read the fields up to the file part; return its headers. FormError (with
        ``missing_file``) when the form ends without one."""
        self._take(self._find(self._delimiter, MAX_FIELDS_BYTES) + len(self._delimiter))
        while self._after_delimiter():
            headers = self._part_headers()
            name = headers.get_param("name", header="content-disposition")
            if not isinstance(name, str) or not name:
                raise FormError("A form part has no name.")
            if name == FILE_FIELD:
                filename = headers.get_filename() or ""
                return FilePart(filename, headers.get("Content-Type", ""))
            end = self._find(self._delimiter, MAX_FIELDS_BYTES)
            value = self._take(end).decode("utf-8", errors="replace")
            self._take(len(self._delimiter))
            if name.lower() in self.fields:
                raise FormError(f"The form field {name!r} is given more than once.")
            self.fields[name.lower()] = value
        raise FormError("The form has no file field.", missing_file=True)

    def file_chunks(self) -> Iterator[bytes]:
        """The file's bytes as they arrive; the buffer never holds more than one read
        plus a delimiter. FormError when the body ends before the file does."""
        keep = len(self._delimiter) - 1
        while True:
            position = self._buffer.find(self._delimiter)
            if position >= 0:
                data = bytes(self._buffer[:position])
                del self._buffer[:position + len(self._delimiter)]
                if data:
                    yield data
                return
            if len(self._buffer) > keep:
                data = bytes(self._buffer[:-keep])
                del self._buffer[:-keep]
                yield data
            if not self._fill():
                raise FormError("The body ended before the file part did.")

    def finish(self) -> None:
        """After the file: only the closing delimiter may follow (FormError when another
        field does: the file must be the last field)."""
        if self._after_delimiter():
            raise FormError("The file must be the last field of the form.")
