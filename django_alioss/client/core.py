"""The client: one oss2 bucket per storage, every request through :meth:`OSSClient.call`
(retries, token refresh, translated errors), typed results out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import redaction
from ..crc import combine_all, crc64
from ..exceptions import OSSError
from ..retry import backoff
from .body import ObjectBody, Wire
from .errors import (
    RETRY_BASE,
    RETRY_CAP,
    TOKEN_ERRORS,
    Target,
    check_crc,
    failure_words,
    header_crc,
    is_transient,
    translate,
)
from .results import (
    CorsConfiguration,
    CorsRule,
    ListedObject,
    ListPage,
    MultipartListing,
    ObjectMeta,
    ObjectRange,
    UploadedPart,
    UploadInfo,
    UploadStart,
    meta_from,
    server_time,
)
from .transport import finished, lean_session, read_environment_once

if TYPE_CHECKING:
    import oss2

    from ..credentials import CredentialsProvider

logger = logging.getLogger("django_alioss")

T = TypeVar("T")

UPLOAD_CHUNK = 1024 * 1024
"""Bytes read from a stream body (and sent) at a time."""


@dataclass(frozen=True)
class ClientConfig:
    """What it takes to reach one bucket."""

    endpoint: str
    bucket_name: str
    region: str | None
    signature_version: str = "v4"
    is_cname: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 3
    pool_size: int = 10



class OSSClient:
    """Thread-safe access to one bucket through oss2, with retries."""

    def __init__(self, config: ClientConfig, provider: CredentialsProvider) -> None:
        self.config = config
        self.provider = provider
        self.target = Target(config.endpoint, config.bucket_name, config.region,
                             provider.describe)
        self._bucket: oss2.Bucket | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "provider": self.provider}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["provider"])  # type: ignore[misc]

    @property
    def bucket(self) -> oss2.Bucket:
        """The oss2 bucket, built on first use (for this module and its tests)."""
        bucket = self._bucket
        if bucket is None:
            with self._lock:
                if self._bucket is None:
                    self._bucket = self._build_bucket()
                bucket = self._bucket
        return bucket

    def _build_bucket(self) -> oss2.Bucket:
        import oss2

        redaction.install()
        config = self.config
        auth: Any
        if config.signature_version == "v4":
            auth = oss2.ProviderAuthV4(self.provider)
        else:
            auth = oss2.ProviderAuth(self.provider)
        bucket = oss2.Bucket(
            auth, config.endpoint, config.bucket_name,
            is_cname=config.is_cname,
            session=lean_session(config.pool_size),
            connect_timeout=(config.connect_timeout, config.read_timeout),
            app_name="django-alioss",
            enable_crc=False,  # checked here with a fast CRC-64 (oss2 builds a table per request)
            region=config.region,
        )
        read_environment_once(bucket.session.session, bucket._make_url(bucket.bucket_name, ""))
        return bucket

    def call(self, operation: str, key: str, request: Callable[[oss2.Bucket], T], *,
             idempotent: bool = True, resendable: bool = True,
             rewind: Callable[[], None] | None = None) -> T:
        """Run ``request(bucket)``; retry what may be retried; translate errors.

        ``resendable`` says whether the request body can be sent again as is (no body,
        or bytes); a stream body needs ``rewind``, called before each new attempt.
        Transient failures are retried only for ``idempotent`` requests; an expired or
        invalid security token is retried once after a credentials refresh. The
        :class:`OSSError` raised has no cause or context: oss2's error stays here.
        """
        import oss2

        can_resend = resendable or rewind is not None
        attempt = 0
        token_refreshed = False
        sent = 0
        while True:
            snapshot = self.provider.snapshot()
            sent += 1
            failure: OSSError | None = None
            try:
                return request(self.bucket)
            except oss2.exceptions.OssError as error:
                if error.code in TOKEN_ERRORS and can_resend and not token_refreshed:
                    logger.info("OSS %s: %s; refreshing credentials and retrying once",
                                operation, error.code)
                    self.provider.invalidate(snapshot)
                    token_refreshed = True
                elif (idempotent and can_resend and attempt < self.config.max_retries
                      and is_transient(error)):
                    attempt += 1
                    delay = backoff(attempt, base=RETRY_BASE, cap=RETRY_CAP)
                    logger.warning("OSS %s of %r in bucket %r at %s failed: %s; retry %d/%d "
                                   "in %.2fs", operation, key, self.config.bucket_name,
                                   self.config.endpoint, failure_words(error), attempt,
                                   self.config.max_retries, delay)
                    time.sleep(delay)
                else:
                    failure = translate(error, operation, key, self.target)
                    failure.attempts = sent
            if failure is not None:
                raise failure  # outside the except block: no __context__ to leak
            if rewind is not None:
                rewind()

    # --- objects ---------------------------------------------------------------------------
    def put_object(self, key: str, data: Any, headers: Mapping[str, str], *,
                   rewind: Callable[[], None] | None = None) -> int:
        """Upload ``data``; return how many times the request was sent.

        ``data`` is bytes-like, or a stream with a known size (``len()``) read with
        ``read(n)``, which needs ``rewind`` to be retried. Its CRC-64 is computed while it
        is sent and checked against the server's (a mismatch is retried like a network
        error).
        """
        counter = _Counter()
        resendable = isinstance(data, (bytes, bytearray, memoryview))
        def request(bucket: oss2.Bucket) -> None:
            body: Any = data
            if not resendable:  # a small stream goes out as bytes, in one send
                body = _StreamBody(data) if len(data) > UPLOAD_CHUNK else data.read(len(data))
            result = bucket.put_object(key, body, headers=dict(headers))
            ours = body.crc if isinstance(body, _StreamBody) else crc64(body)
            check_crc(f"the upload of {key!r}", ours, result.crc, result.request_id)

        self.call("PutObject", key, counter.wrap(request), resendable=resendable, rewind=rewind)
        return counter.count

    def read_range(self, key: str, start: int, length: int, *,
                   if_match: str | None = None) -> ObjectRange:
        """Up to ``length`` bytes from ``start`` as stored (a gzipped object stays
        gzipped); none when ``start`` is at or past the end.

        A connection reset mid-body is resumed like :meth:`ObjectBody.readinto` does.
        With ``if_match`` (an ETag) the read fails with 412 PreconditionFailed once the
        object has been replaced.
        """
        with self.open_object(key, start, start + max(length, 1), if_match=if_match) as body:
            data = body.read(length)
        return ObjectRange(data=data, start=body.start, total_size=body.total_size,
                           etag=body.etag, content_encoding=body.content_encoding,
                           crc64=body.crc64)

    def open_object(self, key: str, start: int = 0, end: int | None = None, *,
                    if_match: str | None = None) -> ObjectBody:
        """Open bytes ``[start, end)`` of ``key`` (to its end when ``end`` is None) for
        reading as they arrive; see :class:`ObjectBody`. Only the headers have been read
        when this returns; close the body when done.

        The GET is retried like any request; a ``start`` at or past the object's end
        gives an empty body. With ``if_match`` (an ETag) it fails with 412
        PreconditionFailed once the object has been replaced.
        """
        headers = {"If-Match": f'"{if_match}"'} if if_match else None
        byte_range = None
        if start or end is not None:
            byte_range = (start, None if end is None else max(end, start + 1) - 1)

        def request(bucket: oss2.Bucket) -> ObjectBody:
            result = bucket.get_object(key, byte_range=byte_range, headers=headers)
            return self._body(key, result, start, end)

        return self.call("GetObject", key, request)

    def _body(self, key: str, result: Any, start: int, end: int | None) -> ObjectBody:
        wire: Wire | None = Wire(result)
        content_range = result.headers.get("Content-Range", "")
        if result.status == 206 and "/" in content_range:
            total = int(content_range.rsplit("/", 1)[1])
        else:  # 200: the whole object (no range asked, or a range past the end)
            total = int(result.content_length)
            if start and wire is not None:  # not the bytes asked for: none are left there
                wire.release()
                wire = None
        stop = total if end is None else min(end, total)
        return ObjectBody(self, key, wire, start=min(start, stop), end=stop, total_size=total,
                          etag=result.etag, crc64=header_crc(result.headers),
                          content_encoding=result.headers.get("Content-Encoding", ""))

    def head_object(self, key: str) -> ObjectMeta:
        def request(bucket: oss2.Bucket) -> ObjectMeta:
            return meta_from(key, finished(bucket.head_object(key)))

        return self.call("HeadObject", key, request)

    def object_exists(self, key: str) -> bool:
        """GetObjectMeta (HEAD): False on NoSuchKey or a bare 404, else True."""
        import oss2

        def request(bucket: oss2.Bucket) -> bool:
            try:
                finished(bucket.get_object_meta(key))
            except oss2.exceptions.NoSuchBucket:
                raise
            except (oss2.exceptions.NoSuchKey, oss2.exceptions.NotFound):
                return False
            return True

        return self.call("GetObjectMeta", key, request)

    def delete_object(self, key: str) -> None:
        self.call("DeleteObject", key, lambda b: b.delete_object(key))

    def list_page(self, prefix: str, delimiter: str = "", token: str = "",
                  max_keys: int = 1000) -> ListPage:
        """One page of ListObjectsV2 under ``prefix``, continuing after ``token``."""
        def request(bucket: oss2.Bucket) -> ListPage:
            page = bucket.list_objects_v2(prefix=prefix, delimiter=delimiter,
                                          continuation_token=token, max_keys=max_keys)
            return ListPage(
                prefixes=tuple(page.prefix_list),
                objects=tuple(ListedObject(o.key, int(o.size), o.etag.strip('"'),
                                           float(o.last_modified)) for o in page.object_list),
                next_token=page.next_continuation_token if page.is_truncated else None)

        return self.call("ListObjectsV2", prefix, request)

    def iter_list(self, prefix: str, delimiter: str = "") -> Iterator[ListPage]:
        """Every page of a listing (ListObjectsV2, 1,000 entries a page)."""
        token = ""
        while True:
            page = self.list_page(prefix, delimiter, token)
            yield page
            if page.next_token is None:
                return
            token = page.next_token

    # --- multipart uploads -------------------------------------------------------------------
    def init_multipart(self, key: str, headers: Mapping[str, str]) -> UploadStart:
        """Start a multipart upload. Retried on transient failures: the caller must look
        for uploads an earlier, lost attempt created when ``attempts`` > 1 (see
        :mod:`django_alioss.uploads`)."""
        counter = _Counter()
        upload_id = self.call("InitiateMultipartUpload", key, counter.wrap(
            lambda b: b.init_multipart_upload(key, headers=dict(headers)).upload_id))
        return UploadStart(upload_id, counter.count)

    def upload_part(self, key: str, upload_id: str, number: int, data: Any) -> UploadedPart:
        """Upload one part (bytes-like: it is not copied); its CRC-64 is checked against
        the server's."""
        crc = crc64(data)

        def request(bucket: oss2.Bucket) -> Any:
            result = bucket.upload_part(key, upload_id, number, data)
            check_crc(f"part {number} of {key!r}", crc, result.crc, result.request_id)
            return result

        result = self.call("UploadPart", key, request)
        return UploadedPart(number, result.etag, len(data), crc)

    def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart],
                           headers: Mapping[str, str] | None = None) -> None:
        """Complete an upload; the object's CRC-64 (combined from the parts') is checked
        against the server's. Transient failures are retried: if the lost attempt had
        completed it, the retry answers NoSuchUpload (the uploader then checks the
        object's write id)."""
        import oss2

        infos = [oss2.models.PartInfo(p.number, p.etag, size=p.size, part_crc=p.crc)
                 for p in parts]
        crcs = [(p.crc, p.size) for p in parts if p.crc is not None]
        expected = combine_all(crcs) if len(crcs) == len(parts) else None

        def request(bucket: oss2.Bucket) -> None:
            result = bucket.complete_multipart_upload(
                key, upload_id, infos, headers=dict(headers) if headers else None)
            if expected is not None:
                check_crc(f"the object {key!r}", expected, result.crc, result.request_id)

        self.call("CompleteMultipartUpload", key, request)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.call("AbortMultipartUpload", key, lambda b: b.abort_multipart_upload(key, upload_id))

    def list_multipart_page(self, prefix: str, key_marker: str = "",
                            upload_id_marker: str = "") -> tuple[MultipartListing, Any]:
        """One page of unfinished uploads under ``prefix`` and the markers of the next
        page (None after the last)."""
        def request(bucket: oss2.Bucket) -> tuple[MultipartListing, Any]:
            page = bucket.list_multipart_uploads(
                prefix=prefix, key_marker=key_marker, upload_id_marker=upload_id_marker,
                max_uploads=1000)
            listing = MultipartListing(
                uploads=tuple(UploadInfo(u.key, u.upload_id, float(u.initiation_date))
                              for u in page.upload_list),
                server_time=server_time(page.headers))
            following = ((page.next_key_marker, page.next_upload_id_marker)
                         if page.is_truncated else None)
            return listing, following

        return self.call("ListMultipartUploads", prefix, request)

    def iter_multipart_uploads(self, prefix: str = "") -> Iterator[UploadInfo]:
        """Every unfinished multipart upload under ``prefix``."""
        markers: Any = ("", "")
        while markers is not None:
            listing, markers = self.list_multipart_page(prefix, *markers)
            yield from listing.uploads


    # --- bucket CORS -----------------------------------------------------------------------
    def get_bucket_cors(self) -> CorsConfiguration:
        """The bucket's CORS configuration (no rules when it has none)."""
        import oss2

        def request(bucket: oss2.Bucket) -> CorsConfiguration:
            try:
                result = bucket.get_bucket_cors()
            except oss2.exceptions.NoSuchCors:
                return CorsConfiguration()
            return CorsConfiguration(tuple(
                CorsRule(tuple(r.allowed_origins), tuple(r.allowed_methods),
                         tuple(r.allowed_headers), tuple(r.expose_headers), r.max_age_seconds)
                for r in result.rules), result.response_vary)

        return self.call("GetBucketCors", "", request)

    def put_bucket_cors(self, cors: CorsConfiguration) -> None:
        """Replace the bucket's CORS configuration with ``cors`` (at least one rule)."""
        import oss2

        config = oss2.models.BucketCors([
            oss2.models.CorsRule(allowed_origins=list(r.allowed_origins),
                                 allowed_methods=list(r.allowed_methods),
                                 allowed_headers=list(r.allowed_headers),
                                 expose_headers=list(r.expose_headers),
                                 max_age_seconds=r.max_age_seconds)
            for r in cors.rules], cors.response_vary)
        self.call("PutBucketCors", "", lambda b: b.put_bucket_cors(config))

    def delete_bucket_cors(self) -> None:
        """Remove the bucket's CORS configuration (no error when it has none)."""
        self.call("DeleteBucketCors", "", lambda b: b.delete_bucket_cors())


class _StreamBody:
    """A stream body for oss2: ``len()`` and iteration in :data:`UPLOAD_CHUNK` pieces (no
    ``read``: urllib3 would read 16 KiB at a time), computing the CRC-64 of what is sent."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._size = len(stream)
        self.crc = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        left = self._size
        while left > 0:
            chunk = self._stream.read(min(left, UPLOAD_CHUNK))
            if not chunk:
                return
            left -= len(chunk)
            self.crc = crc64(chunk, self.crc)
            yield chunk


class _Counter:
    """Counts how often a request function runs (each run is one request sent)."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, request: Callable[[Any], T]) -> Callable[[Any], T]:
        def counted(bucket: Any) -> T:
            self.count += 1
            return request(bucket)
        return counted

