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

from .base import Store
from .directory import DirectoryStore
from .memory import MemoryStore
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
    CorsRule,
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
    StoreError,
    UploadPage,
    UploadRecord,
    WrittenBlob,
)

__all__ = [
    "BUCKET_ACLS",
    "CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "MIN_PART_SIZE",
    "OBJECT_ACLS",
    "Blob",
    "BlobReader",
    "BlobWriter",
    "BucketAlreadyExists",
    "BucketInfo",
    "BucketNotEmpty",
    "CorsConfiguration",
    "CorsRule",
    "DirectoryStore",
    "InvalidPart",
    "InvalidPartOrder",
    "ListPage",
    "MemoryStore",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "ObjectAlreadyExists",
    "ObjectAttributes",
    "ObjectRecord",
    "PartRecord",
    "PartTooSmall",
    "Store",
    "StoreError",
    "UploadPage",
    "UploadRecord",
    "WrittenBlob",
]
