"""Object features beyond put, copy and multipart: symlinks, object tags and appendable
objects. :class:`ObjectFeatures` is mixed into :class:`~.base.Store`, whose lock, buckets
and blob hooks it uses (declared abstract here)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..crc64 import combine_all
from .records import (
    OBJECT_ACLS,
    Blob,
    BlobReader,
    NoSuchKey,
    ObjectAttributes,
    ObjectRecord,
    StoreError,
    WrittenBlob,
)

APPENDABLE = "Appendable"
SYMLINK = "Symlink"


class ObjectNotAppendable(StoreError):
    """An append to an object that was not created by AppendObject."""


class PositionNotEqualToLength(StoreError):
    """An append at a position other than the object's length (``length`` is where the
    next append must start)."""

    def __init__(self, length: int) -> None:
        super().__init__(f"the object has {length} bytes")
        self.length = length


class NotSymlink(StoreError):
    """GetSymlink on an object that is not a symlink."""


@dataclass
class ObjectState:
    """A stored object: its record and its body."""

    record: ObjectRecord
    blob: Blob


class ObjectFeatures(ABC):
    """Symlinks, tags and appends over the store's bookkeeping (every method thread-safe)."""

    _lock: threading.RLock

    @abstractmethod
    def _bucket(self, name: str) -> Any:
        """The bucket's state (``objects`` maps keys to :class:`ObjectState`)."""

    @abstractmethod
    def _install(self, bucket: Any, key: str, obj: ObjectState) -> Blob | None:
        """Put ``obj`` under ``key``; return the blob it replaced."""

    @abstractmethod
    def _commit(self, bucket_name: str, key: str, obj: ObjectState,
                forbid_overwrite: bool) -> ObjectRecord:
        """Install ``obj`` (its blob consumed either way); ObjectAlreadyExists when
        ``forbid_overwrite`` and the key is taken."""

    @abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Any]: ...

    @abstractmethod
    def _saved_object(self, bucket: str, obj: ObjectState) -> None: ...

    @abstractmethod
    def _open(self, blob: Blob) -> BlobReader: ...

    @abstractmethod
    def _release(self, blob: Blob) -> None: ...

    @abstractmethod
    def _concat(self, readers: list[BlobReader]) -> Blob: ...

    # --- symlinks --------------------------------------------------------------------------
    def _followed(self, bucket: Any, key: str) -> ObjectState:
        """The object under ``key``; for a symlink, its target's body and size with the
        symlink's own key, type and metadata (NoSuchKey when either is missing)."""
        try:
            obj: ObjectState = bucket.objects[key]
        except KeyError:
            raise NoSuchKey(key) from None
        target = obj.record.symlink_target
        if target is None:
            return obj
        linked = bucket.objects.get(target)
        if linked is None or linked.record.symlink_target is not None:
            raise NoSuchKey(target)
        record = dataclasses.replace(
            linked.record, key=key, object_type=SYMLINK, content_type=obj.record.content_type,
            headers=obj.record.headers, user_meta=obj.record.user_meta, acl=obj.record.acl,
            tags=obj.record.tags, last_modified=obj.record.last_modified)
        return ObjectState(record, linked.blob)

    def put_symlink(self, bucket: str, key: str, target: str, empty: WrittenBlob,
                    attributes: ObjectAttributes, *, forbid_overwrite: bool = False,
                    now: float | None = None) -> ObjectRecord:
        """Store ``key`` as a symlink to ``target`` (which need not exist yet); ``empty``
        is an empty written body, consumed."""
        record = ObjectRecord(
            key=key, size=0, etag=empty.etag, crc64=0,
            last_modified=time.time() if now is None else now,
            content_type=attributes.content_type, headers=dict(attributes.headers),
            user_meta=dict(attributes.user_meta), acl=attributes.acl, object_type=SYMLINK,
            tags=dict(attributes.tags), symlink_target=target)
        return self._commit(bucket, key, ObjectState(record, empty.blob), forbid_overwrite)

    def symlink_target(self, bucket: str, key: str) -> ObjectRecord:
        """The symlink's own record (``symlink_target`` set); NoSuchKey or NotSymlink."""
        with self._lock:
            obj = self._bucket(bucket).objects.get(key)
            if obj is None:
                raise NoSuchKey(key)
            if obj.record.symlink_target is None:
                raise NotSymlink(key)
            return obj.record

    # --- tags ------------------------------------------------------------------------------
    def set_object_tags(self, bucket: str, key: str, tags: Mapping[str, str]) -> ObjectRecord:
        """Replace the object's tags (empty: remove them)."""
        with self._lock, self._transaction():
            obj = self._bucket(bucket).objects.get(key)
            if obj is None:
                raise NoSuchKey(key)
            obj.record = dataclasses.replace(obj.record, tags=dict(tags))
            self._saved_object(bucket, obj)
            return obj.record

    # --- appendable objects ------------------------------------------------------------------
    def append_object(self, bucket: str, key: str, position: int, written: WrittenBlob,
                      attributes: ObjectAttributes, *, now: float | None = None) -> ObjectRecord:
        """Append ``written`` (consumed) to the Appendable object ``key`` at ``position``
        (0 creates it, with ``attributes``). Raises :class:`PositionNotEqualToLength`
        when ``position`` is not its length, :class:`ObjectNotAppendable` for another
        kind of object."""
        if attributes.acl not in OBJECT_ACLS:
            raise ValueError(f"invalid ACL {attributes.acl!r}")
        stamp = time.time() if now is None else now
        blob: Blob | None = None
        try:
            with self._lock, self._transaction():
                b = self._bucket(bucket)
                current = b.objects.get(key)
                record = self._appended(current, key, position, written, attributes, stamp)
                blob = written.blob if current is None else self._joined(current.blob,
                                                                         written.blob)
                replaced = self._install(b, key, ObjectState(record, blob))
        except BaseException:
            self._release(written.blob)
            if blob is not None and blob is not written.blob:
                self._release(blob)
            raise
        if blob is not written.blob:
            self._release(written.blob)
        if replaced is not None:
            self._release(replaced)
        return record

    def _joined(self, first: Blob, second: Blob) -> Blob:
        readers = [self._open(first), self._open(second)]
        try:
            return self._concat(readers)
        finally:
            for reader in readers:
                reader.close()

    @staticmethod
    def _appended(current: ObjectState | None, key: str, position: int,
                  written: WrittenBlob, attributes: ObjectAttributes,
                  now: float) -> ObjectRecord:
        """The record after appending ``written`` at ``position`` to ``current``."""
        if current is None:
            if position != 0:
                raise PositionNotEqualToLength(0)
            base = ObjectRecord(
                key=key, size=0, etag="", crc64=0, last_modified=now,
                content_type=attributes.content_type, headers=dict(attributes.headers),
                user_meta=dict(attributes.user_meta), acl=attributes.acl,
                object_type=APPENDABLE, tags=dict(attributes.tags))
        else:
            base = current.record
            if base.object_type != APPENDABLE:
                raise ObjectNotAppendable(key)
            if position != base.size:
                raise PositionNotEqualToLength(base.size)
        crc = combine_all([(base.crc64, base.size), (written.crc64, written.size)])
        etag = hashlib.md5(f"{base.etag}{written.etag}".encode()).hexdigest().upper()
        return dataclasses.replace(base, size=base.size + written.size, crc64=crc, etag=etag,
                                   last_modified=now, content_md5=None)
