"""The :class:`Store` interface with the bookkeeping both implementations share (buckets,
sorted keys, uploads, listings), under one lock."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import secrets
import threading
import time
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..crc64 import combine_all
from .features import ObjectFeatures, ObjectState
from .records import (
    BUCKET_ACLS,
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    MIN_PART_SIZE,
    OBJECT_ACLS,
    Blob,
    BlobReader,
    BlobWriter,
    BucketAlreadyExists,
    BucketInfo,
    BucketNotEmpty,
    CorsConfiguration,
    InvalidPart,
    InvalidPartOrder,
    ListPage,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectAlreadyExists,
    ObjectAttributes,
    ObjectRecord,
    PartRecord,
    PartTooSmall,
    UploadPage,
    UploadRecord,
    WrittenBlob,
)

_MAX_CHAR = chr(0x10FFFF)


# --- shared bookkeeping ------------------------------------------------------------------------
@dataclass
class UploadState:
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
class BucketState:
    info: BucketInfo
    keys: list[str] = field(default_factory=list)  # sorted
    objects: dict[str, ObjectState] = field(default_factory=dict)
    uploads: dict[str, UploadState] = field(default_factory=dict)


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


def _chosen_parts(upload: UploadState, parts: Sequence[tuple[int, str]] | None,
                  min_part_size: int) -> list[tuple[PartRecord, Blob]]:
    """The uploaded parts a completion lists, in order (``None``: every part), checked:
    ascending numbers, matching ETags, all but the last at least ``min_part_size``."""
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
    return chosen


def _new_upload_id() -> str:
    # Time first, so upload ids sort in initiation order (as ListMultipartUploads wants).
    return f"{time.time_ns():016X}{secrets.token_hex(8).upper()}"


def _check_acl(acl: str, allowed: Sequence[str]) -> None:
    if acl not in allowed:
        raise ValueError(f"invalid ACL {acl!r}: expected one of {', '.join(allowed)}")


class Store(ObjectFeatures, ABC):
    """The store interface, with all bookkeeping shared by both implementations.

    ``now`` arguments (epoch seconds) let the service stamp records with the emulator
    clock; they default to the wall clock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._buckets: dict[str, BucketState] = {}

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

    def _saved_bucket(self, info: BucketInfo) -> None:
        pass

    def _removed_bucket(self, name: str) -> None:
        pass

    def _saved_object(self, bucket: str, obj: ObjectState) -> None:
        pass

    def _removed_object(self, bucket: str, key: str) -> None:
        pass

    def _saved_upload(self, bucket: str, upload: UploadState) -> None:
        pass

    def _saved_part(self, upload_id: str, part: PartRecord, blob: Blob) -> None:
        pass

    def _removed_upload(self, upload_id: str) -> None:
        pass

    def close(self) -> None:
        """Release files and connections (the DirectoryStore's index)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- buckets -------------------------------------------------------------------------
    def _bucket(self, name: str) -> BucketState:
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
            self._buckets[name] = BucketState(info)
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

    def set_bucket_cors(self, name: str, cors: CorsConfiguration | None) -> BucketInfo:
        """Replace the bucket's CORS configuration (``None`` removes it)."""
        with self._lock, self._transaction():
            bucket = self._bucket(name)
            bucket.info = dataclasses.replace(bucket.info, cors=cors)
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
    def _install(self, bucket: BucketState, key: str, obj: ObjectState) -> Blob | None:
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
            content_md5=base64.b64encode(written.md5).decode("ascii"), tags=dict(attributes.tags),
        )
        return self._commit(bucket, key, ObjectState(record, written.blob), forbid_overwrite)

    def _commit(self, bucket_name: str, key: str, obj: ObjectState,
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
        """The object's metadata (a symlink's: its target's size and ETag with its own
        metadata); raises :class:`NoSuchBucket` / :class:`NoSuchKey`."""
        with self._lock:
            return self._followed(self._bucket(bucket), key).record

    def open_object(self, bucket: str, key: str) -> tuple[ObjectRecord, BlobReader]:
        """The object's metadata and an open reader of its body (a symlink's target's;
        close it when done)."""
        with self._lock:
            obj = self._followed(self._bucket(bucket), key)
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
        return self._commit(dst_bucket, dst_key, ObjectState(record, blob), forbid_overwrite)

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
        upload = UploadState(_new_upload_id(), key, time.time() if now is None else now,
                         attributes, forbid_overwrite)
        with self._lock, self._transaction():
            b = self._bucket(bucket)
            if forbid_overwrite and key in b.objects:
                raise ObjectAlreadyExists(key)
            b.uploads[upload.upload_id] = upload
            self._saved_upload(bucket, upload)
        return upload.snapshot()

    def _upload(self, bucket: str, key: str, upload_id: str) -> UploadState:
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
            chosen = _chosen_parts(upload, parts, min_part_size)
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
            acl=upload.attributes.acl, object_type="Multipart", tags=dict(upload.attributes.tags),
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
                replaced = self._install(b, key, ObjectState(record, blob))
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
