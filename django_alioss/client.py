"""The oss2 seam: one bucket client per storage, retries, and error translation.

All object I/O of the backend goes through :class:`OSSClient`. It owns one
``oss2.Bucket`` with one shared, thread-safe ``oss2.Session`` (no per-thread clients),
built lazily (no network in ``__init__``) and dropped when pickled. oss2 itself never
retries, so :meth:`OSSClient.call` retries transient failures (network errors, 5xx,
429) of idempotent requests and of uploads whose body can be rewound, with
exponential backoff and jitter; and when OSS says the STS token expired it asks the
credentials provider for a refresh and retries once.

Nothing of oss2 leaves this module: every method returns the small typed results
defined here (:class:`ObjectMeta`, :class:`ObjectRange`, :class:`ListPage`,
:class:`UploadInfo`, :class:`UploadedPart`) and raises :class:`~.exceptions.OSSError`
subclasses whose exception chain holds nothing of the SDK's (its errors may quote the
signed request, security token included).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import redaction
from .exceptions import OSSAccessDenied, OSSError, OSSFileExists, OSSFileNotFound
from .retry import backoff

if TYPE_CHECKING:
    import oss2

    from .credentials import CredentialsProvider

logger = logging.getLogger("django_alioss")

T = TypeVar("T")

#: Delays between retries of a request: RETRY_BASE doubling up to RETRY_CAP, jittered.
RETRY_BASE = 0.1
RETRY_CAP = 5.0
TOKEN_ERRORS = frozenset({"SecurityTokenExpired", "InvalidSecurityToken"})
_AUTH_ACTION = re.compile(rb"<AuthAction>([^<]+)</AuthAction>")
_URL_QUERY = re.compile(r"(https?://[^\s'\"?]+)\?[^\s'\"]*")


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


def is_transient(error: Exception) -> bool:
    """Network errors, throttling and server-side failures are worth another try."""
    status = getattr(error, "status", None)
    if status is None:
        return False
    # -2: no HTTP answer (connection refused/reset, timeout); -3: CRC mismatch in transit.
    return status in (-2, -3, 429) or status >= 500


def translate(error: Exception, operation: str, key: str = "") -> OSSError:
    """Turn an oss2 exception into the library's exception, without secrets."""
    status = getattr(error, "status", 0)
    code = getattr(error, "code", "") or ""
    request_id = getattr(error, "request_id", "") or ""
    what = f"OSS {operation}" + (f" of {key!r}" if key else "")
    if status == -2:
        cause = getattr(error, "exception", error)
        detail = _URL_QUERY.sub(r"\1", str(cause))
        return OSSError(redaction.redact(f"{what} failed: network error: {detail}"),
                        status=status, operation=operation, key=key)
    oss_message = getattr(error, "message", "") or ""
    body = getattr(error, "body", b"") or b""
    match = _AUTH_ACTION.search(body if isinstance(body, bytes) else body.encode())
    auth_action = match.group(1).decode() if match else ""
    text = f"{what} failed: {status} {code or 'error'}"
    if oss_message:
        text += f": {oss_message}"
    if auth_action:
        text += f" (the credentials lack permission {auth_action})"
    if request_id:
        text += f" [request id {request_id}]"
    text = redaction.redact(text)
    kwargs: dict[str, Any] = dict(status=status, code=code, request_id=request_id,
                                  operation=operation, key=key, auth_action=auth_action)
    if status == 404 and code in ("NoSuchKey", ""):
        return OSSFileNotFound(text, **kwargs)
    if status == 409 and code == "FileAlreadyExists":
        return OSSFileExists(text, **kwargs)
    if status == 403:
        return OSSAccessDenied(text, **kwargs)
    return OSSError(text, **kwargs)


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


def _meta_from(key: str, result: Any) -> ObjectMeta:
    headers = result.headers
    return ObjectMeta(
        key=key, size=int(result.content_length), etag=result.etag,
        last_modified=float(result.last_modified),
        content_type=headers.get("Content-Type", ""),
        content_encoding=headers.get("Content-Encoding", ""),
        metadata={k.lower(): v for k, v in headers.items()
                  if k.lower().startswith("x-oss-meta-")})


def _server_time(headers: Mapping[str, str]) -> float:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


class OSSClient:
    """Thread-safe access to one bucket through oss2, with retries."""

    def __init__(self, config: ClientConfig, provider: CredentialsProvider) -> None:
        self.config = config
        self.provider = provider
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
        return oss2.Bucket(
            auth, config.endpoint, config.bucket_name,
            is_cname=config.is_cname,
            session=oss2.Session(pool_size=config.pool_size),
            connect_timeout=(config.connect_timeout, config.read_timeout),
            app_name="django-alioss",
            enable_crc=True,
            region=config.region,
        )

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
                    logger.warning("OSS %s of %r failed (%s %s), retry %d/%d in %.2fs",
                                   operation, key, error.status, error.code or "network error",
                                   attempt, self.config.max_retries, delay)
                    time.sleep(delay)
                else:
                    failure = translate(error, operation, key)
                    failure.attempts = sent
            if failure is not None:
                raise failure  # outside the except block: no __context__ to leak
            if rewind is not None:
                rewind()

    # --- objects ---------------------------------------------------------------------------
    def put_object(self, key: str, data: Any, headers: Mapping[str, str], *,
                   rewind: Callable[[], None] | None = None) -> int:
        """Upload ``data`` (bytes, or a stream with ``rewind``); return how many times the
        request was sent."""
        counter = _Counter()
        self.call("PutObject", key,
                  counter.wrap(lambda b: b.put_object(key, data, headers=dict(headers))),
                  resendable=isinstance(data, (bytes, bytearray)), rewind=rewind)
        return counter.count

    def read_range(self, key: str, start: int, length: int, *,
                   if_match: str | None = None) -> ObjectRange:
        """``length`` bytes from ``start`` as stored (a gzipped object stays gzipped).

        The body is read inside the retry loop, so a connection reset mid-body is
        retried like any transient failure. With ``if_match`` (an ETag) the read fails
        with 412 PreconditionFailed once the object has been replaced.
        """
        headers = {"If-Match": f'"{if_match}"'} if if_match else None
        end = start + max(length, 1) - 1

        def request(bucket: oss2.Bucket) -> ObjectRange:
            result = bucket.get_object(key, byte_range=(start, end), headers=headers)
            data = _read_stored_body(result)
            content_range = result.headers.get("Content-Range", "")
            if result.status == 206 and "/" in content_range:
                total = int(content_range.rsplit("/", 1)[1])
            else:  # 200: the whole object (e.g. an empty one, or a range past its end)
                total = int(result.content_length)
                data = data[start:start + length]
            return ObjectRange(data=data, start=start, total_size=total, etag=result.etag,
                               content_encoding=result.headers.get("Content-Encoding", ""))

        return self.call("GetObject", key, request)

    def head_object(self, key: str) -> ObjectMeta:
        return self.call("HeadObject", key, lambda b: _meta_from(key, b.head_object(key)))

    def object_exists(self, key: str) -> bool:
        return self.call("GetObjectMeta", key, lambda b: b.object_exists(key))

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

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        result = self.call("UploadPart", key,
                           lambda b: b.upload_part(key, upload_id, number, data))
        return UploadedPart(number, result.etag, len(data), result.crc)

    def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart],
                           headers: Mapping[str, str] | None = None) -> None:
        """Complete an upload. Transient failures are retried: if the lost attempt had
        completed it, the retry answers NoSuchUpload (the uploader then checks the
        object's write id)."""
        import oss2

        infos = [oss2.models.PartInfo(p.number, p.etag, size=p.size, part_crc=p.crc)
                 for p in parts]
        self.call("CompleteMultipartUpload", key,
                  lambda b: b.complete_multipart_upload(
                      key, upload_id, infos, headers=dict(headers) if headers else None))

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
                server_time=_server_time(page.headers))
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


class _Counter:
    """Counts how often a request function runs (each run is one request sent)."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, request: Callable[[Any], T]) -> Callable[[Any], T]:
        def counted(bucket: Any) -> T:
            self.count += 1
            return request(bucket)
        return counted


def _read_stored_body(result: Any) -> bytes:
    """The body of a GetObject answer exactly as stored.

    oss2 reads through requests, which gunzips a body sent with ``Content-Encoding:
    gzip``: a window of a gzipped object would come back decompressed, with offsets and
    lengths no longer matching the stored bytes. Read urllib3's raw stream instead. A
    failure while reading (connection reset mid-body) becomes oss2's network error, so
    :meth:`OSSClient.call` retries it.
    """
    import oss2

    try:
        return result.resp.response.raw.read(decode_content=False)
    except Exception as exc:
        raise oss2.exceptions.RequestError(exc) from None
