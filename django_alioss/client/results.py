"""The typed results of the client seam: plain values, nothing of oss2 inside."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ObjectMeta:
    """What HEAD (or GetObjectMeta) says about one object."""

    key: str
    size: int
    etag: str
    """The ETag without quotes."""
    last_modified: float
    """Seconds since the epoch."""
    content_type: str = ""
    content_encoding: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """User metadata: the ``x-oss-meta-*`` headers, names lowercased, prefix kept."""


@dataclass(frozen=True)
class ObjectRange:
    """Bytes of one object exactly as stored (never decompressed), with what the answer
    said about the whole object."""

    data: bytes
    start: int
    total_size: int
    etag: str
    content_encoding: str
    crc64: int | None = None
    """The whole object's CRC-64 as the server reported it (None if it did not)."""


@dataclass(frozen=True)
class ListedObject:
    """One entry of a listing."""

    key: str
    size: int
    etag: str
    last_modified: float


@dataclass(frozen=True)
class ListPage:
    """One page of ListObjectsV2; ``next_token`` is None on the last page."""

    prefixes: tuple[str, ...]
    objects: tuple[ListedObject, ...]
    next_token: str | None


@dataclass(frozen=True)
class UploadInfo:
    """An unfinished multipart upload."""

    key: str
    upload_id: str
    initiation_date: float
    """Seconds since the epoch, on the server's clock."""


@dataclass(frozen=True)
class UploadStart:
    """The answer to InitiateMultipartUpload, and how often the request was sent: more
    than once means an earlier attempt may have created an upload whose id was lost."""

    upload_id: str
    attempts: int


@dataclass(frozen=True)
class UploadedPart:
    """One uploaded part, as CompleteMultipartUpload needs it."""

    number: int
    etag: str
    size: int
    crc: int | None


@dataclass(frozen=True)
class MultipartListing:
    """One page of ListMultipartUploads and the server's clock when it answered."""

    uploads: tuple[UploadInfo, ...]
    server_time: float


@dataclass(frozen=True)
class CorsRule:
    """One CORS rule of the bucket: who may send which requests from a browser.

    Origins and headers may hold one ``*`` wildcard each; methods are upper case.
    """

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None


@dataclass(frozen=True)
class CorsConfiguration:
    """The bucket's CORS rules (first match wins) and its ``ResponseVary`` flag (None:
    not set)."""

    rules: tuple[CorsRule, ...] = ()
    response_vary: bool | None = None


def meta_from(key: str, result: Any) -> ObjectMeta:
    """The :class:`ObjectMeta` of an oss2 HEAD/GetObjectMeta answer."""
    headers = result.headers
    return ObjectMeta(
        key=key, size=int(result.content_length), etag=result.etag,
        last_modified=float(result.last_modified),
        content_type=headers.get("Content-Type", ""),
        content_encoding=headers.get("Content-Encoding", ""),
        metadata={k.lower(): v for k, v in headers.items()
                  if k.lower().startswith("x-oss-meta-")})


def server_time(headers: Mapping[str, str]) -> float:
    """The answer's ``Date`` as epoch seconds (this host's clock when it is missing)."""
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


