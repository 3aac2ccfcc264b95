"""Buckets, objects and multipart uploads of the emulated OSS, in memory or on disk.

Both stores implement one interface, :class:`Store`. The OSS service streams request
bodies into a :class:`BlobWriter` (MD5 and CRC-64 computed on the fly), then commits
the written blob under a key; reads stream 1 MiB chunks from a :class:`BlobReader`.

Tests can use a store directly to arrange or assert what is really in a bucket::

    store = MemoryStore()
    store.create_bucket("b")
    store.put_object_bytes("b", "a.txt", b"hello", content_type="text/plain")
    store.get_object_bytes("b", "a.txt")       # b"hello"
    store.head_object("b", "a.txt").user_meta  # {} (an ObjectRecord)
    store.list_keys("b", prefix="a")           # ["a.txt"]
    store.in_progress_uploads("b")             # [UploadRecord, ...]

Every method is thread-safe. Keys are compared as Python strings, which for valid
Unicode is the UTF-8 byte order OSS lists in.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .crc64 import Crc64, combine_all

logger = logging.getLogger("django_alioss.emulator")

CHUNK_SIZE = 1024 * 1024
BUCKET_ACLS = ("private", "public-read", "public-read-write")
OBJECT_ACLS = ("default", *BUCKET_ACLS)
DEFAULT_CONTENT_TYPE = "application/octet-stream"
MIN_PART_SIZE = 100 * 1024
_MAX_CHAR = chr(0x10FFFF)


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
class BucketInfo:
    name: str
    acl: str = "private"
    created: float = 0.0


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

    def attributes(self) -> ObjectAttributes:
        return ObjectAttributes(self.content_type, dict(self.headers), dict(self.user_meta),
                                self.acl)


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
    """Receives a body chunk by chunk, hashing as it goes.

    Call :meth:`finish` to get a :class:`WrittenBlob` for the store's commit methods,
    or :meth:`discard` to drop what was written.
    """

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._crc = Crc64()
        self.size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._md5.update(data)
        self._crc.update(data)
        self.size += len(data)
        self._write(data)

    @property
    def md5(self) -> bytes:
        return self._md5.digest()

    def finish(self) -> WrittenBlob:
        return WrittenBlob(self._finish(), self.size, self._md5.digest(), self._crc.value)

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _finish(self) -> Blob: ...

    @abstractmethod
    def discard(self) -> None: ...


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


# --- shared bookkeeping ------------------------------------------------------------------------
@dataclass
class _Object:
    record: ObjectRecord
    blob: Blob


@dataclass
class _Upload:
    upload_id: str
    key: str
    initiated: float
    attributes: ObjectAttributes
    forbid_overwrite: bool
    parts: dict[int, tuple[PartRecord, Blob]] = field(default_factory=dict)

    def snapshot(self) -> UploadRecord:
        return UploadRecord(self.upload_id, self.key, self.initiated, self.attributes,
                            self.forbid_overwrite, {n: p for n, (p, _) in self.parts.items()})


@dataclass
class _Bucket:
    info: BucketInfo
    keys: list[str] = field(default_factory=list)  # sorted
    objects: dict[str, _Object] = field(default_factory=dict)
    uploads: dict[str, _Upload] = field(default_factory=dict)


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    for i in range(len(prefix) - 1, -1, -1):
        if prefix[i] != _MAX_CHAR:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


def _walk(keys: Sequence[str], start: int, prefix: str, delimiter: str,
          after: str) -> Iterator[tuple[int, str | None]]:
    """Walk sorted ``keys`` from index ``start``: yield ``(index, None)`` for an entry
    and ``(index, common_prefix)`` once per delimiter group. Groups whose prefix is not
    greater than ``after`` were returned by an earlier page and are skipped."""
    i = max(start, bisect_left(keys, prefix)) if prefix else start
    n = len(keys)
    while i < n:
        key = keys[i]
        if not key.startswith(prefix):
            return
        if delimiter:
            pos = key.find(delimiter, len(prefix))
            if pos >= 0:
                common = key[:pos + len(delimiter)]
                if not after or common > after:
                    yield i, common
                succ = _successor(common)
                i = n if succ is None else bisect_left(keys, succ, i + 1)
                continue
        yield i, None
        i += 1


def _new_upload_id() -> str:
    # Time first, so upload ids sort in initiation order (as ListMultipartUploads wants).
    return f"{time.time_ns():016X}{secrets.token_hex(8).upper()}"


def _check_acl(acl: str, allowed: Sequence[str]) -> None:
    if acl not in allowed:
        raise ValueError(f"invalid ACL {acl!r}: expected one of {', '.join(allowed)}")


class Store(ABC):
    """The store interface, with all bookkeeping shared by both implementations.

    ``now`` arguments (epoch seconds) let the service stamp records with the emulator
    clock; they default to the wall clock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._buckets: dict[str, _Bucket] = {}

    # --- backend hooks ----------------------------------------------------------------
    @abstractmethod
    def new_writer(self) -> BlobWriter:
        """A writer for a new body; hand its ``finish()`` result to a commit method."""

    @abstractmethod
    def _open(self, blob: Blob) -> BlobReader: ...

    @abstractmethod
    def _release(self, blob: Blob) -> None: ...

    @abstractmethod
    def _duplicate(self, blob: Blob) -> Blob: ...

    @abstractmethod
    def _concat(self, readers: list[BlobReader]) -> Blob: ...

    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def _saved_bucket(self, info: BucketInfo) -> None:  # noqa: B027 - persistence hook
        pass

    def _removed_bucket(self, name: str) -> None:  # noqa: B027
        pass

    def _saved_object(self, bucket: str, obj: _Object) -> None:  # noqa: B027
        pass

    def _removed_object(self, bucket: str, key: str) -> None:  # noqa: B027
        pass

    def _saved_upload(self, bucket: str, upload: _Upload) -> None:  # noqa: B027
        pass

    def _saved_part(self, upload_id: str, part: PartRecord, blob: Blob) -> None:  # noqa: B027
        pass

    def _removed_upload(self, upload_id: str) -> None:  # noqa: B027
        pass

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections (the DirectoryStore's index)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- buckets -------------------------------------------------------------------------
    def _bucket(self, name: str) -> _Bucket:
        try:
            return self._buckets[name]
        except KeyError:
            raise NoSuchBucket(name) from None

    def create_bucket(self, name: str, acl: str = "private", *,
                      now: float | None = None) -> BucketInfo:
        """Create a bucket; raises :class:`BucketAlreadyExists` if the name is taken."""
        _check_acl(acl, BUCKET_ACLS)
        info = BucketInfo(name, acl, time.time() if now is None else now)
        with self._lock, self._transaction():
            if name in self._buckets:
                raise BucketAlreadyExists(name)
            self._buckets[name] = _Bucket(info)
            self._saved_bucket(info)
        return info

    def has_bucket(self, name: str) -> bool:
        with self._lock:
            return name in self._buckets

    def get_bucket(self, name: str) -> BucketInfo:
        with self._lock:
            return self._bucket(name).info

    def list_buckets(self) -> list[BucketInfo]:
        with self._lock:
            return [self._buckets[name].info for name in sorted(self._buckets)]

    def set_bucket_acl(self, name: str, acl: str) -> BucketInfo:
        _check_acl(acl, BUCKET_ACLS)
        with self._lock, self._transaction():
            bucket = self._bucket(name)
            bucket.info = dataclasses.replace(bucket.info, acl=acl)
            self._saved_bucket(bucket.info)
            return bucket.info

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (no objects, no uploads) else :class:`BucketNotEmpty`."""
        with self._lock, self._transaction():
            bucket = self._bucket(name)
            if bucket.objects or bucket.uploads:
                raise BucketNotEmpty(name)
            del self._buckets[name]
            self._removed_bucket(name)

    # --- objects -------------------------------------------------------------------------
    def _install(self, bucket: _Bucket, key: str, obj: _Object) -> Blob | None:
        """Put ``obj`` under ``key``; return the blob it replaced (to release)."""
        old = bucket.objects.get(key)
        if old is None:
            insort(bucket.keys, key)
        bucket.objects[key] = obj
        self._saved_object(bucket.info.name, obj)
        return old.blob if old is not None else None

    def commit_object(self, bucket: str, key: str, written: WrittenBlob,
                      attributes: ObjectAttributes | None = None, *,
                      forbid_overwrite: bool = False, now: float | None = None) -> ObjectRecord:
        """Store a written body as a Normal object (the blob is consumed either way).

        Raises :class:`ObjectAlreadyExists` when ``forbid_overwrite`` and the key
        exists (checked atomically: of two racing writers exactly one wins).
        """
        attributes = attributes or ObjectAttributes()
        _check_acl(attributes.acl, OBJECT_ACLS)
        record = ObjectRecord(
            key=key, size=written.size, etag=written.etag, crc64=written.crc64,
            last_modified=time.time() if now is None else now,
            content_type=attributes.content_type, headers=dict(attributes.headers),
            user_meta=dict(attributes.user_meta), acl=attributes.acl, object_type="Normal",
            content_md5=base64.b64encode(written.md5).decode("ascii"),
        )
        return self._commit(bucket, key, _Object(record, written.blob), forbid_overwrite)

    def _commit(self, bucket_name: str, key: str, obj: _Object,
                forbid_overwrite: bool) -> ObjectRecord:
        replaced: Blob | None = None
        try:
            with self._lock, self._transaction():
                bucket = self._bucket(bucket_name)
                if forbid_overwrite and key in bucket.objects:
                    raise ObjectAlreadyExists(key)
                replaced = self._install(bucket, key, obj)
        except BaseException:
            self._release(obj.blob)
            raise
        if replaced is not None:
            self._release(replaced)
        return obj.record

    def put_object_bytes(self, bucket: str, key: str, data: bytes, *,
                         content_type: str = DEFAULT_CONTENT_TYPE,
                         headers: Mapping[str, str] | None = None,
                         user_meta: Mapping[str, str] | None = None, acl: str = "default",
                         now: float | None = None) -> ObjectRecord:
        """Store ``data`` directly (test setup), as a PutObject would."""
        writer = self.new_writer()
        for offset in range(0, len(data), CHUNK_SIZE):
            writer.write(data[offset:offset + CHUNK_SIZE])
        attributes = ObjectAttributes(content_type, dict(headers or {}), dict(user_meta or {}),
                                      acl)
        return self.commit_object(bucket, key, writer.finish(), attributes, now=now)

    def head_object(self, bucket: str, key: str) -> ObjectRecord:
        """The object's metadata; raises :class:`NoSuchBucket` / :class:`NoSuchKey`."""
        with self._lock:
            try:
                return self._bucket(bucket).objects[key].record
            except KeyError:
                raise NoSuchKey(key) from None

    def open_object(self, bucket: str, key: str) -> tuple[ObjectRecord, BlobReader]:
        """The object's metadata and an open reader of its body (close it when done)."""
        with self._lock:
            try:
                obj = self._bucket(bucket).objects[key]
            except KeyError:
                raise NoSuchKey(key) from None
            return obj.record, self._open(obj.blob)

    def get_object_bytes(self, bucket: str, key: str) -> bytes:
        """The whole body of an object (for tests: objects are read into memory)."""
        _, reader = self.open_object(bucket, key)
        return b"".join(reader.stream())

    def exists(self, bucket: str, key: str) -> bool:
        with self._lock:
            return key in self._bucket(bucket).objects

    def delete_object(self, bucket: str, key: str) -> bool:
        """Delete a key; return whether it existed."""
        with self._lock, self._transaction():
            b = self._bucket(bucket)
            obj = b.objects.pop(key, None)
            if obj is None:
                return False
            del b.keys[bisect_left(b.keys, key)]
            self._removed_object(bucket, key)
        self._release(obj.blob)
        return True

    def set_object_acl(self, bucket: str, key: str, acl: str) -> ObjectRecord:
        _check_acl(acl, OBJECT_ACLS)
        with self._lock, self._transaction():
            b = self._bucket(bucket)
            try:
                obj = b.objects[key]
            except KeyError:
                raise NoSuchKey(key) from None
            obj.record = dataclasses.replace(obj.record, acl=acl)
            self._saved_object(bucket, obj)
            return obj.record

    def copy_object(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str,
                    attributes: ObjectAttributes | None = None, *,
                    forbid_overwrite: bool = False, acl: str | None = None,
                    now: float | None = None) -> ObjectRecord:
        """Copy an object. ``attributes=None`` keeps the source's type, headers and
        metadata (COPY directive); ``acl`` sets the copy's ACL (default: ``default``)."""
        with self._lock:
            dst = self._bucket(dst_bucket)
            try:
                src = self._bucket(src_bucket).objects[src_key]
            except KeyError:
                raise NoSuchKey(src_key) from None
            if forbid_overwrite and dst_key in dst.objects:
                raise ObjectAlreadyExists(dst_key)
            blob = self._duplicate(src.blob)
            source = src.record
        attrs = attributes or dataclasses.replace(source.attributes(), acl="default")
        record = dataclasses.replace(
            source, key=dst_key, last_modified=time.time() if now is None else now,
            content_type=attrs.content_type, headers=dict(attrs.headers),
            user_meta=dict(attrs.user_meta), acl=acl or attrs.acl,
        )
        _check_acl(record.acl, OBJECT_ACLS)
        return self._commit(dst_bucket, dst_key, _Object(record, blob), forbid_overwrite)

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, in listing order (for tests)."""
        with self._lock:
            keys = self._bucket(bucket).keys
            start = bisect_left(keys, prefix)
            end = len(keys) if not prefix else bisect_left(keys, _successor(prefix) or _MAX_CHAR)
            return keys[start:end]

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "",
                     marker: str = "", max_keys: int = 1000) -> ListPage:
        """A page of keys after ``marker`` (exclusive); keys and common prefixes count
        together towards ``max_keys``."""
        with self._lock:
            b = self._bucket(bucket)
            start = bisect_right(b.keys, marker) if marker else 0
            objects: list[ObjectRecord] = []
            prefixes: list[str] = []
            last = ""
            truncated = False
            for index, common in _walk(b.keys, start, prefix, delimiter, marker):
                if len(objects) + len(prefixes) >= max_keys:
                    truncated = True
                    break
                if common is None:
                    last = b.keys[index]
                    objects.append(b.objects[last].record)
                else:
                    last = common
                    prefixes.append(common)
            return ListPage(objects, prefixes, truncated, last if truncated else "")

    # --- multipart ---------------------------------------------------------------------------
    def initiate_upload(self, bucket: str, key: str, attributes: ObjectAttributes | None = None,
                        *, forbid_overwrite: bool = False,
                        now: float | None = None) -> UploadRecord:
        """Start a multipart upload; ``forbid_overwrite`` is checked now and on completion."""
        attributes = attributes or ObjectAttributes()
        _check_acl(attributes.acl, OBJECT_ACLS)
        upload = _Upload(_new_upload_id(), key, time.time() if now is None else now,
                         attributes, forbid_overwrite)
        with self._lock, self._transaction():
            b = self._bucket(bucket)
            if forbid_overwrite and key in b.objects:
                raise ObjectAlreadyExists(key)
            b.uploads[upload.upload_id] = upload
            self._saved_upload(bucket, upload)
        return upload.snapshot()

    def _upload(self, bucket: str, key: str, upload_id: str) -> _Upload:
        upload = self._bucket(bucket).uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise NoSuchUpload(upload_id)
        return upload

    def get_upload(self, bucket: str, key: str, upload_id: str) -> UploadRecord:
        with self._lock:
            return self._upload(bucket, key, upload_id).snapshot()

    def put_part(self, bucket: str, key: str, upload_id: str, number: int,
                 written: WrittenBlob, *, now: float | None = None) -> PartRecord:
        """Store (or replace) part ``number`` of an upload (the blob is consumed)."""
        part = PartRecord(number, written.etag, written.size, written.crc64,
                          time.time() if now is None else now)
        replaced: Blob | None = None
        try:
            with self._lock, self._transaction():
                upload = self._upload(bucket, key, upload_id)
                old = upload.parts.get(number)
                upload.parts[number] = (part, written.blob)
                self._saved_part(upload_id, part, written.blob)
                replaced = old[1] if old else None
        except BaseException:
            self._release(written.blob)
            raise
        if replaced is not None:
            self._release(replaced)
        return part

    def complete_upload(self, bucket: str, key: str, upload_id: str,
                        parts: Sequence[tuple[int, str]] | None, *,
                        forbid_overwrite: bool = False, min_part_size: int = MIN_PART_SIZE,
                        now: float | None = None) -> ObjectRecord:
        """Assemble the listed ``(part_number, etag)`` parts (``None``: all uploaded
        parts) into a Multipart object and end the upload.

        Raises :class:`InvalidPartOrder`, :class:`InvalidPart`, :class:`PartTooSmall`,
        :class:`NoSuchUpload` or :class:`ObjectAlreadyExists`.
        """
        with self._lock:
            upload = self._upload(bucket, key, upload_id)
            if parts is None:
                chosen = [upload.parts[n] for n in sorted(upload.parts)]
            else:
                chosen = []
                previous = 0
                for number, etag in parts:
                    if number <= previous:
                        raise InvalidPartOrder(f"part {number} follows part {previous}")
                    previous = number
                    entry = upload.parts.get(number)
                    if entry is None or entry[0].etag != etag.strip('"').upper():
                        raise InvalidPart(number, etag)
                    chosen.append(entry)
            for part, _ in chosen[:-1]:
                if part.size < min_part_size:
                    raise PartTooSmall(part.number, part.size, min_part_size)
            forbid = forbid_overwrite or upload.forbid_overwrite
            if forbid and key in self._bucket(bucket).objects:
                raise ObjectAlreadyExists(key)
            readers = [self._open(blob) for _, blob in chosen]
        try:
            blob = self._concat(readers)
        finally:
            for reader in readers:
                reader.close()
        digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p, _ in chosen))
        record = ObjectRecord(
            key=key, size=sum(p.size for p, _ in chosen),
            etag=f"{digest.hexdigest().upper()}-{len(chosen)}",
            crc64=combine_all([(p.crc64, p.size) for p, _ in chosen]),
            last_modified=time.time() if now is None else now,
            content_type=upload.attributes.content_type,
            headers=dict(upload.attributes.headers), user_meta=dict(upload.attributes.user_meta),
            acl=upload.attributes.acl, object_type="Multipart",
        )
        try:
            with self._lock, self._transaction():
                b = self._bucket(bucket)
                current = b.uploads.get(upload_id)
                if current is not upload or any(
                        upload.parts.get(p.number, (None, None))[1] is not pb for p, pb in chosen):
                    raise NoSuchUpload(upload_id)  # aborted, completed or changed meanwhile
                if forbid and key in b.objects:
                    raise ObjectAlreadyExists(key)
                replaced = self._install(b, key, _Object(record, blob))
                del b.uploads[upload_id]
                self._removed_upload(upload_id)
        except BaseException:
            self._release(blob)
            raise
        released = [pb for _, pb in upload.parts.values()]
        if replaced is not None:
            released.append(replaced)
        for old in released:
            self._release(old)
        return record

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock, self._transaction():
            upload = self._upload(bucket, key, upload_id)
            del self._bucket(bucket).uploads[upload_id]
            self._removed_upload(upload_id)
        for _, blob in upload.parts.values():
            self._release(blob)

    def in_progress_uploads(self, bucket: str, key: str | None = None) -> list[UploadRecord]:
        """Every in-progress upload of a bucket (of one key if given), oldest first."""
        with self._lock:
            uploads = sorted(self._bucket(bucket).uploads.values(),
                             key=lambda u: (u.key, u.upload_id))
            return [u.snapshot() for u in uploads if key is None or u.key == key]

    def list_uploads(self, bucket: str, prefix: str = "", delimiter: str = "",
                     key_marker: str = "", upload_id_marker: str = "",
                     max_uploads: int = 1000) -> UploadPage:
        """A page of in-progress uploads ordered by key then upload id, after the markers
        (with only ``key_marker``, every upload of that key is skipped)."""
        with self._lock:
            entries = sorted(self._bucket(bucket).uploads.values(),
                             key=lambda u: (u.key, u.upload_id))
            order = [(u.key, u.upload_id) for u in entries]
            keys = [u.key for u in entries]
            start = 0
            if key_marker:
                start = bisect_right(order, (key_marker, upload_id_marker or _MAX_CHAR))
            uploads: list[UploadRecord] = []
            prefixes: list[str] = []
            truncated = False
            last_key, last_id = "", ""
            for index, common in _walk(keys, start, prefix, delimiter, key_marker):
                if len(uploads) + len(prefixes) >= max_uploads:
                    truncated = True
                    break
                if common is None:
                    uploads.append(entries[index].snapshot())
                    last_key, last_id = entries[index].key, entries[index].upload_id
                else:
                    prefixes.append(common)
                    last_key, last_id = common, ""
            if not truncated:
                last_key, last_id = "", ""
            return UploadPage(uploads, prefixes, truncated, last_key, last_id)


# --- in memory -------------------------------------------------------------------------------
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

    def discard(self) -> None:
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


# --- on disk ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _FileBlob(Blob):
    name: str  # 32 hex digits; the file is blobs/<name[:2]>/<name>
    size: int


class _FileWriter(BlobWriter):
    def __init__(self, store: DirectoryStore) -> None:
        super().__init__()
        self._store = store
        fd, path = tempfile.mkstemp(dir=store.tmp_dir, suffix=".part")
        self._path = path
        self._file = os.fdopen(fd, "wb", buffering=0)

    def _write(self, data: bytes) -> None:
        self._file.write(data)

    def _finish(self) -> Blob:
        self._file.close()
        name = secrets.token_hex(16)
        target = self._store._blob_path(name)
        target.parent.mkdir(exist_ok=True)
        os.replace(self._path, target)  # atomic: the blob appears complete or not at all
        return _FileBlob(name, self.size)

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


class _FileReader(BlobReader):
    def __init__(self, path: Path, size: int) -> None:
        super().__init__(size)
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        position = start
        while position < end:
            data = os.pread(self._file.fileno(), min(CHUNK_SIZE, end - position), position)
            if not data:
                raise OSError(f"blob shorter than recorded ({position} < {end})")
            position += len(data)
            yield data

    def close(self) -> None:
        self._file.close()

    def fileno(self) -> int:
        return self._file.fileno()


def _blob_to_json(blob: Blob) -> dict[str, Any]:
    assert isinstance(blob, _FileBlob)
    return {"name": blob.name, "size": blob.size}


def _record_to_json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), ensure_ascii=False, sort_keys=True)


def _attributes_from(data: Mapping[str, Any]) -> ObjectAttributes:
    return ObjectAttributes(data["content_type"], dict(data["headers"]), dict(data["user_meta"]),
                            data["acl"])


class DirectoryStore(Store):
    """Objects on disk under ``root``; reopening the same directory restores everything.

    Layout: ``index.sqlite3`` (buckets, object metadata, uploads and parts),
    ``blobs/<xx>/<32 hex>`` (bodies, named at random: keys never become paths) and
    ``tmp/`` (bodies being received, renamed into ``blobs/`` when complete). Only one
    store may use a directory at a time.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)  # bodies of interrupted uploads
        self.tmp_dir.mkdir(exist_ok=True)
        self._db = sqlite3.connect(self.root / "index.sqlite3", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, data TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS objects (bucket TEXT NOT NULL, key TEXT NOT NULL,
                data TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (bucket, key));
            CREATE TABLE IF NOT EXISTS uploads (upload_id TEXT PRIMARY KEY,
                bucket TEXT NOT NULL, data TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS parts (upload_id TEXT NOT NULL, number INTEGER NOT NULL,
                data TEXT NOT NULL, blob TEXT NOT NULL, PRIMARY KEY (upload_id, number));
        """)
        self._depth = 0
        self._load()

    def _blob_path(self, name: str) -> Path:
        return self.blobs_dir / name[:2] / name

    def _load(self) -> None:
        referenced: set[str] = set()
        for (data,) in self._db.execute("SELECT data FROM buckets"):
            info = BucketInfo(**json.loads(data))
            self._buckets[info.name] = _Bucket(info)
        for bucket, key, data, blob in self._db.execute(
                "SELECT bucket, key, data, blob FROM objects"):
            b = self._buckets.get(bucket)
            if b is None:
                continue
            record = ObjectRecord(**json.loads(data))
            file_blob = _FileBlob(**json.loads(blob))
            referenced.add(file_blob.name)
            b.objects[key] = _Object(record, file_blob)
        for b in self._buckets.values():
            b.keys = sorted(b.objects)
        uploads: dict[str, _Upload] = {}
        for upload_id, bucket, data in self._db.execute(
                "SELECT upload_id, bucket, data FROM uploads"):
            b = self._buckets.get(bucket)
            if b is None:
                continue
            fields = json.loads(data)
            upload = _Upload(upload_id, fields["key"], fields["initiated"],
                             _attributes_from(fields["attributes"]), fields["forbid_overwrite"])
            b.uploads[upload_id] = uploads[upload_id] = upload
        for upload_id, data, blob in self._db.execute(
                "SELECT upload_id, data, blob FROM parts"):
            if upload_id in uploads:
                part = PartRecord(**json.loads(data))
                file_blob = _FileBlob(**json.loads(blob))
                referenced.add(file_blob.name)
                uploads[upload_id].parts[part.number] = (part, file_blob)
        # Bodies that no record references (a crash between rename and commit).
        for path in self.blobs_dir.glob("*/*"):
            if path.name not in referenced:
                path.unlink()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        # Called with the store lock held; nested uses join the outer transaction.
        self._depth += 1
        if self._depth == 1:
            self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- persistence hooks --------------------------------------------------------------
    def _saved_bucket(self, info: BucketInfo) -> None:
        self._db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?)",
                         (info.name, _record_to_json(info)))

    def _removed_bucket(self, name: str) -> None:
        self._db.execute("DELETE FROM buckets WHERE name = ?", (name,))

    def _saved_object(self, bucket: str, obj: _Object) -> None:
        self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (
            bucket, obj.record.key, _record_to_json(obj.record),
            json.dumps(_blob_to_json(obj.blob))))

    def _removed_object(self, bucket: str, key: str) -> None:
        self._db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))

    def _saved_upload(self, bucket: str, upload: _Upload) -> None:
        data = {"key": upload.key, "initiated": upload.initiated,
                "attributes": dataclasses.asdict(upload.attributes),
                "forbid_overwrite": upload.forbid_overwrite}
        self._db.execute("INSERT OR REPLACE INTO uploads VALUES (?, ?, ?)",
                         (upload.upload_id, bucket, json.dumps(data, ensure_ascii=False)))

    def _saved_part(self, upload_id: str, part: PartRecord, blob: Blob) -> None:
        self._db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?)", (
            upload_id, part.number, _record_to_json(part), json.dumps(_blob_to_json(blob))))

    def _removed_upload(self, upload_id: str) -> None:
        self._db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
        self._db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))

    # --- blobs -----------------------------------------------------------------------------
    def new_writer(self) -> BlobWriter:
        return _FileWriter(self)

    def _open(self, blob: Blob) -> BlobReader:
        assert isinstance(blob, _FileBlob)
        return _FileReader(self._blob_path(blob.name), blob.size)

    def _release(self, blob: Blob) -> None:
        assert isinstance(blob, _FileBlob)
        with contextlib.suppress(FileNotFoundError):
            self._blob_path(blob.name).unlink()

    def _duplicate(self, blob: Blob) -> Blob:
        assert isinstance(blob, _FileBlob)
        name = secrets.token_hex(16)
        target = self._blob_path(name)
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(self._blob_path(blob.name), target)
        except OSError:
            shutil.copyfile(self._blob_path(blob.name), target)
        return _FileBlob(name, blob.size)

    def _concat(self, readers: list[BlobReader]) -> Blob:
        fd, path = tempfile.mkstemp(dir=self.tmp_dir, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                for reader in readers:
                    assert isinstance(reader, _FileReader)
                    _copy_fd(reader.fileno(), out.fileno(), reader.size)
            name = secrets.token_hex(16)
            target = self._blob_path(name)
            target.parent.mkdir(exist_ok=True)
            os.replace(path, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        return _FileBlob(name, sum(r.size for r in readers))


def _copy_fd(src: int, dst: int, size: int) -> None:
    """Append ``size`` bytes of ``src`` (from offset 0) to ``dst``, in the kernel if possible."""
    offset = 0
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            while offset < size:
                copied = copy_range(src, dst, size - offset, offset)
                if copied == 0:
                    break
                offset += copied
        except OSError:
            pass  # e.g. cross-device or unsupported: fall back to reading
    while offset < size:
        data = os.pread(src, min(CHUNK_SIZE, size - offset), offset)
        if not data:
            raise OSError("part blob shorter than recorded")
        os.write(dst, data)
        offset += len(data)
