"""The on-disk store: a SQLite index plus one file per body; reopening restores it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import BucketState, ObjectState, Store, UploadState
from .records import (
    CHUNK_SIZE,
    Blob,
    BlobReader,
    BlobWriter,
    BucketInfo,
    ObjectAttributes,
    ObjectRecord,
    PartRecord,
)


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

    def _discard(self) -> None:
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
                            data["acl"], dict(data.get("tags", {})))


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
            info = BucketInfo.from_dict(json.loads(data))
            self._buckets[info.name] = BucketState(info)
        for bucket, key, data, blob in self._db.execute(
                "SELECT bucket, key, data, blob FROM objects"):
            b = self._buckets.get(bucket)
            if b is None:
                continue
            record = ObjectRecord(**json.loads(data))
            file_blob = _FileBlob(**json.loads(blob))
            referenced.add(file_blob.name)
            b.objects[key] = ObjectState(record, file_blob)
        for b in self._buckets.values():
            b.keys = sorted(b.objects)
        uploads: dict[str, UploadState] = {}
        for upload_id, bucket, data in self._db.execute(
                "SELECT upload_id, bucket, data FROM uploads"):
            b = self._buckets.get(bucket)
            if b is None:
                continue
            fields = json.loads(data)
            upload = UploadState(upload_id, fields["key"], fields["initiated"],
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

    def _saved_object(self, bucket: str, obj: ObjectState) -> None:
        self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", (
            bucket, obj.record.key, _record_to_json(obj.record),
            json.dumps(_blob_to_json(obj.blob))))

    def _removed_object(self, bucket: str, key: str) -> None:
        self._db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))

    def _saved_upload(self, bucket: str, upload: UploadState) -> None:
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
