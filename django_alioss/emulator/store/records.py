"""The store's vocabulary: its errors, the records it hands out (buckets, objects, parts,
uploads, listing pages) and the blob writer/reader interfaces."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .digests import BodyDigests

CHUNK_SIZE = 1024 * 1024
BUCKET_ACLS = ("private", "public-read", "public-read-write")
OBJECT_ACLS = ("default", *BUCKET_ACLS)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MIN_PART_SIZE = 100 * 1024


# --- errors -----------------------------------------------------------------------------
class StoreError(Exception):
    """Base class of the store's errors; the OSS service maps each to an OSS error."""


class NoSuchBucket(StoreError):
    pass


class BucketAlreadyExists(StoreError):
    """``create_bucket`` on a name that exists (check ``has_bucket`` first)."""


class BucketNotEmpty(StoreError):
    pass


class NoSuchKey(StoreError):
    pass


class NoSuchUpload(StoreError):
    pass


class ObjectAlreadyExists(StoreError):
    """A write with ``forbid_overwrite=True`` found the key taken."""


class InvalidPart(StoreError):
    """A part listed for completion was not uploaded or its ETag differs."""

    def __init__(self, part_number: int, etag: str) -> None:
        super().__init__(f"part {part_number} with ETag {etag!r} was not uploaded")
        self.part_number = part_number
        self.etag = etag


class InvalidPartOrder(StoreError):
    """Parts listed for completion are not in strictly ascending order."""


class PartTooSmall(StoreError):
    """A part other than the last is smaller than the minimum part size."""

    def __init__(self, part_number: int, size: int, minimum: int) -> None:
        super().__init__(f"part {part_number} has {size} bytes, fewer than {minimum}")
        self.part_number = part_number
        self.size = size
        self.minimum = minimum


# --- records -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CorsRule:
    """One rule of a bucket's CORS configuration (names as in PutBucketCors)."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None


@dataclass(frozen=True)
class CorsConfiguration:
    rules: tuple[CorsRule, ...]
    response_vary: bool = False


@dataclass(frozen=True)
class BucketInfo:
    name: str
    acl: str = "private"
    created: float = 0.0
    cors: CorsConfiguration | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BucketInfo:
        """The inverse of ``dataclasses.asdict`` (the DirectoryStore's index)."""
        cors = data.get("cors")
        if cors is not None:
            rules = tuple(CorsRule(tuple(r["allowed_origins"]), tuple(r["allowed_methods"]),
                                   tuple(r["allowed_headers"]), tuple(r["expose_headers"]),
                                   r["max_age_seconds"]) for r in cors["rules"])
            cors = CorsConfiguration(rules, bool(cors.get("response_vary")))
        return cls(data["name"], data.get("acl", "private"), data.get("created", 0.0), cors)


@dataclass(frozen=True)
class ObjectAttributes:
    """What a writer chooses about an object: type, standard headers, metadata, ACL.

    ``headers`` holds Cache-Control, Content-Disposition, Content-Encoding,
    Content-Language and Expires under those names; ``user_meta`` maps lowercase
    names without the ``x-oss-meta-`` prefix to values.
    """

    content_type: str = DEFAULT_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)
    user_meta: Mapping[str, str] = field(default_factory=dict)
    acl: str = "default"
    tags: Mapping[str, str] = field(default_factory=dict)  # x-oss-tagging


@dataclass(frozen=True)
class ObjectRecord:
    """A stored object's metadata. ``etag`` has no quotes: ``HEX`` or ``HEX-N``."""

    key: str
    size: int
    etag: str
    crc64: int
    last_modified: float
    content_type: str = DEFAULT_CONTENT_TYPE
    headers: Mapping[str, str] = field(default_factory=dict)
    user_meta: Mapping[str, str] = field(default_factory=dict)
    acl: str = "default"
    object_type: str = "Normal"
    content_md5: str | None = None  # base64 MD5 of the body, for Normal objects
    storage_class: str = "Standard"
    tags: Mapping[str, str] = field(default_factory=dict)
    symlink_target: str | None = None  # a Symlink object's target key

    def attributes(self) -> ObjectAttributes:
        return ObjectAttributes(self.content_type, dict(self.headers), dict(self.user_meta),
                                self.acl, dict(self.tags))


@dataclass(frozen=True)
class PartRecord:
    number: int
    etag: str  # uppercase hex MD5, no quotes
    size: int
    crc64: int
    last_modified: float


@dataclass(frozen=True)
class UploadRecord:
    """An in-progress multipart upload; ``parts`` maps part numbers to parts."""

    upload_id: str
    key: str
    initiated: float
    attributes: ObjectAttributes
    forbid_overwrite: bool = False
    parts: Mapping[int, PartRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: ``objects`` and common ``prefixes`` in key order.

    ``next_marker`` is the last key or prefix returned (empty when not truncated).
    """

    objects: list[ObjectRecord]
    prefixes: list[str]
    truncated: bool
    next_marker: str


@dataclass(frozen=True)
class UploadPage:
    uploads: list[UploadRecord]
    prefixes: list[str]
    truncated: bool
    next_key_marker: str
    next_upload_id_marker: str


# --- blobs ----------------------------------------------------------------------------------
class Blob:
    """Immutable object data of known size; each store has its own kind."""

    size: int


@dataclass(frozen=True)
class WrittenBlob:
    """A finished :class:`BlobWriter`: the data plus its size, MD5 and CRC-64."""

    blob: Blob
    size: int
    md5: bytes
    crc64: int

    @property
    def etag(self) -> str:
        return self.md5.hex().upper()


class BlobWriter(ABC):
    """Receives a body chunk by chunk, hashing as it goes (:class:`BodyDigests`: the MD5
    of a large body on a helper thread, pipelined with the reads).

    Call :meth:`finish` to get a :class:`WrittenBlob` for the store's commit methods,
    or :meth:`discard` to drop what was written. Once :attr:`md5` is read, the body is
    complete: nothing more may be written.
    """

    def __init__(self) -> None:
        self._digests = BodyDigests()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)  # the hashing thread and the memory store keep it as is
        self._digests.update(data)
        self.size += len(data)
        self._write(data)

    @property
    def md5(self) -> bytes:
        """The body's MD5 digest (waits for the hashing; ends the body)."""
        return self._digests.result()[0]

    def finish(self) -> WrittenBlob:
        md5, crc = self._digests.result()
        return WrittenBlob(self._finish(), self.size, md5, crc)

    def discard(self) -> None:
        """Drop what was written (and its digests)."""
        self._digests.cancel()
        self._discard()

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _finish(self) -> Blob: ...

    @abstractmethod
    def _discard(self) -> None: ...


class BlobReader(ABC):
    """An open object body: stream byte ranges of it, then close it.

    Opening happens under the store's lock, so a concurrent delete or overwrite never
    cuts a read short.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    @abstractmethod
    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Chunks (at most 1 MiB each) of bytes ``start`` to ``end`` (exclusive)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the reader holds (a file descriptor on disk)."""

    def stream(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Like :meth:`iter_range`, closing the reader when done or abandoned."""
        try:
            yield from self.iter_range(start, end)
        finally:
            self.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
