"""The in-memory store: bodies are tuples of byte chunks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .base import Store
from .records import (
    CHUNK_SIZE,
    Blob,
    BlobReader,
    BlobWriter,
)


@dataclass(frozen=True, eq=False)
class _MemoryBlob(Blob):
    chunks: tuple[bytes, ...]
    size: int


class _MemoryWriter(BlobWriter):
    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def _write(self, data: bytes) -> None:
        self._chunks.append(bytes(data))

    def _finish(self) -> Blob:
        blob = _MemoryBlob(tuple(self._chunks), self.size)
        self._chunks = []
        return blob

    def _discard(self) -> None:
        self._chunks = []


class _MemoryReader(BlobReader):
    def __init__(self, blob: _MemoryBlob) -> None:
        super().__init__(blob.size)
        self._blob = blob

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        offset = 0
        for chunk in self._blob.chunks:
            chunk_end = offset + len(chunk)
            if chunk_end > start and offset < end:
                if offset >= start and chunk_end <= end:
                    piece = chunk
                else:
                    piece = chunk[max(start - offset, 0):min(end, chunk_end) - offset]
                if len(piece) <= CHUNK_SIZE:
                    yield piece
                else:
                    for i in range(0, len(piece), CHUNK_SIZE):
                        yield piece[i:i + CHUNK_SIZE]
            offset = chunk_end
            if offset >= end:
                return


class MemoryStore(Store):
    """Everything in memory; bodies are kept as the received chunks (never joined)."""

    def new_writer(self) -> BlobWriter:
        return _MemoryWriter()

    def _open(self, blob: Blob) -> BlobReader:
        assert isinstance(blob, _MemoryBlob)
        return _MemoryReader(blob)

    def _release(self, blob: Blob) -> None:
        pass

    def _duplicate(self, blob: Blob) -> Blob:
        return blob  # immutable: sharing is safe

    def _concat(self, readers: list[BlobReader]) -> Blob:
        chunks: list[bytes] = []
        for reader in readers:
            assert isinstance(reader, _MemoryReader)
            chunks.extend(reader._blob.chunks)
        return _MemoryBlob(tuple(chunks), sum(r.size for r in readers))
