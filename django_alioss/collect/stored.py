"""What one write of a ``collectstatic`` run stores, computed before deciding to send it.

"This object already holds this content" compares the MD5 of the bytes *as stored*
(gzipped when the storage compresses the content type) with what OSS knows. The ETag of
a simple PutObject is that MD5; the ETag of a multipart upload is not, so every write of
a run also stores the MD5 as user metadata (:data:`CONTENT_MD5`).

Compression is deterministic: storages' ``GzipCompressionWrapper`` (zlib, no timestamp
in the gzip header), so the same source gives the same stored bytes and MD5 on every
run. A different zlib could only make a file look changed (one needless upload), never
unchanged.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from storages.compress import GzipCompressionWrapper
from storages.utils import ReadBytesWrapper

if TYPE_CHECKING:
    from ..storage import OSSStorage

CONTENT_MD5 = "x-oss-meta-alioss-md5"
"""User metadata of every object a ``collectstatic`` run writes: the hex MD5 of the
stored bytes (what a simple PutObject's ETag says; a multipart ETag does not)."""
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredBody:
    """The bytes one write stores, their MD5 and size, and the headers to send."""

    headers: Mapping[str, str]
    md5: str
    """Lowercase hex MD5 of the stored bytes (also in ``headers`` as :data:`CONTENT_MD5`)."""
    size: int
    data: bytes | None
    """The stored bytes, for bodies held in memory (below the multipart threshold)."""
    stream: Callable[[], IO[bytes]] | None = None
    """For larger bodies: a fresh stream of the stored bytes (rewinds the source)."""


def compresses(storage: OSSStorage, headers: Mapping[str, str]) -> bool:
    """Whether ``storage`` gzips a write with ``headers`` (the rule of ``OSSStorage._save``)."""
    return (storage.gzip and headers.get("Content-Type") in storage.gzip_content_types
            and not any(k.lower() == "content-encoding" for k in headers))


def _rewound(content: Any) -> Any:
    if hasattr(content, "seek") and (not hasattr(content, "seekable") or content.seekable()):
        content.seek(0)
    return content


def _md5_of(stream: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := stream.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _seekable_copy(content: Any) -> Any:
    """``content`` itself when it can seek, else a temporary file holding it."""
    if hasattr(content, "seek") and (not hasattr(content, "seekable") or content.seekable()):
        return content
    spooled = tempfile.SpooledTemporaryFile(max_size=READ_CHUNK)  # noqa: SIM115 (returned)
    shutil.copyfileobj(ReadBytesWrapper(content), spooled, READ_CHUNK)
    return spooled


def prepare(storage: OSSStorage, name: str, content: Any) -> StoredBody:
    """The body a write of ``content`` under ``name`` stores, with its headers.

    Contents smaller than the storage's ``multipart_threshold`` are read into memory
    (their upload can be retried and runs on a worker thread); larger ones are read twice
    from the source (hash, then upload), through a temporary copy if it cannot seek.
    """
    headers = storage.write_headers(name, content)
    compress = compresses(storage, headers)
    if compress:
        headers["Content-Encoding"] = "gzip"
    size = getattr(content, "size", None)
    if isinstance(size, int) and size < storage.multipart_threshold:
        raw = ReadBytesWrapper(_rewound(content)).read()
        data = GzipCompressionWrapper(io.BytesIO(raw)).read() if compress else raw
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        headers[CONTENT_MD5] = md5
        return StoredBody(headers, md5, len(data), data)
    source = _seekable_copy(content)

    def stream() -> IO[bytes]:
        body: Any = ReadBytesWrapper(_rewound(source))
        return GzipCompressionWrapper(body) if compress else body

    md5, stored_size = _md5_of(stream())
    headers[CONTENT_MD5] = md5
    return StoredBody(headers, md5, stored_size, None, stream)

