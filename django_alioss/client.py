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

import functools
import http.client
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import redaction
from .crc import combine_all, crc64
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
CRC_HEADER = "x-oss-hash-crc64ecma"
DRAIN_LIMIT = 64 * 1024
"""An abandoned body with at most this many bytes left is read to its end so that its
connection can be reused; with more, the connection is closed."""
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
    if status == -3:  # our CRC-64 check (check_crc)
        detail = str(getattr(error, "body", "")).removeprefix("InconsistentError: ")
        return OSSError(f"{what} failed: data corrupted in transit: {detail}", status=status,
                        code="InconsistentError", operation=operation, key=key)
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


def header_crc(headers: Mapping[str, str]) -> int | None:
    """The ``x-oss-hash-crc64ecma`` header as a number (None when absent or malformed)."""
    value = headers.get(CRC_HEADER)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def check_crc(what: str, ours: int, theirs: int | None, request_id: str = "") -> None:
    """Raise oss2's InconsistentError (transient: :meth:`OSSClient.call` retries the
    request when it may) when the server's CRC-64 differs from ours; no server CRC, no
    check."""
    if theirs is not None and ours != theirs:
        import oss2

        raise oss2.exceptions.InconsistentError(
            f"CRC-64 of {what}: computed {ours}, the server says {theirs}", request_id)


@functools.cache
def _wire_errors() -> tuple[type[BaseException], ...]:
    """What reading a body raises when its connection fails mid-way."""
    import urllib3

    return (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


class _Wire:
    """The body of one GetObject answer, read as stored.

    urllib3's content decoding is bypassed, and bytes go straight from the socket into
    the caller's buffer when the HTTP stack exposes its ``http.client`` response (urllib3
    does), else through urllib3's ``read(decode_content=False)`` and one copy. Counts
    what is left so that :meth:`release` knows whether the connection can be reused.
    """

    def __init__(self, result: Any) -> None:
        self._response = result.resp.response  # requests.Response (stream=True)
        self._raw = self._response.raw  # urllib3.HTTPResponse
        fp = getattr(self._raw, "_fp", None)
        self._fp = fp if isinstance(fp, http.client.HTTPResponse) else None
        self.left = int(result.content_length or 0)

    def readinto(self, buffer: memoryview) -> int:
        if self._fp is not None:
            count = self._fp.readinto(buffer)
        else:
            data = self._raw.read(len(buffer), decode_content=False)
            count = len(data)
            buffer[:count] = data
        self.left -= count
        return count

    def read(self, size: int) -> bytes:
        data = (self._fp.read(size) if self._fp is not None
                else bytes(self._raw.read(size, decode_content=False)))
        self.left -= len(data)
        return data

    def release(self, broken: bool = False) -> None:
        """Done with this answer. Unless ``broken``, the connection goes back to the pool
        when at most :data:`DRAIN_LIMIT` bytes are left (read and dropped); otherwise it
        is closed."""
        if not broken and self.left <= DRAIN_LIMIT:
            try:
                while self.left > 0 and self.read(self.left):
                    pass
            except _wire_errors():
                pass
            if self.left == 0:
                self._raw.release_conn()
                return
        self._response.close()


class ObjectBody:
    """An open GetObject answer: bytes ``[start, end)`` of one object exactly as stored
    (a gzipped object stays gzipped), read as they arrive.

    :meth:`readinto` fills the caller's buffer straight from the connection. A
    connection that fails mid-body (reset, timeout, early end) is resumed from the
    current position with a conditional ranged GET (``If-Match`` on the ETag), at most
    ``max_retries`` times in a row without progress; an object replaced meanwhile raises
    :class:`OSSError` 412 instead of mixing two versions. :meth:`close` releases the
    connection (reused when the body was read to its end). Not thread-safe. Made by
    :meth:`OSSClient.open_object`.
    """

    def __init__(self, client: OSSClient, key: str, wire: _Wire | None, *, start: int,
                 end: int, total_size: int, etag: str, content_encoding: str,
                 crc64: int | None) -> None:
        self._client = client
        self.key = key
        self._wire = wire
        self.start = start
        self.end = end
        """Offset after the last byte of this body."""
        self.total_size = total_size
        self.etag = etag
        """The ETag without quotes."""
        self.content_encoding = content_encoding
        self.crc64 = crc64
        """The whole object's CRC-64 as the server reported it (None if it did not)."""
        self.position = start
        """Offset of the next byte to be read."""
        if start == end:
            self.close()

    @property
    def remaining(self) -> int:
        return self.end - self.position

    def readinto(self, buffer: Any) -> int:
        """Read up to ``len(buffer)`` bytes into ``buffer``; 0 only at the end."""
        view = memoryview(buffer).cast("B")[:self.remaining]
        failures = 0
        while view:
            error = None
            try:
                count = self._open_wire().readinto(view)
            except _wire_errors() as caught:
                error = caught
            else:
                if count:
                    self._advance(count)
                    return count
            failures += 1
            self._resume(error, failures)  # outside the except block: no chained error
        return 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that remain when negative); fewer only at the end."""
        wanted = self.remaining if size < 0 else min(size, self.remaining)
        if wanted <= 0:
            return b""
        try:  # straight into one new bytes object: no copy
            data = self._open_wire().read(wanted)
        except _wire_errors():
            data = b""  # nothing delivered: readinto() below resumes from here
        self._advance(len(data))
        if len(data) == wanted:
            return data
        buffer = bytearray(wanted)
        buffer[:len(data)] = data
        filled = len(data)
        while filled < wanted and (count := self.readinto(memoryview(buffer)[filled:])):
            filled += count
        return bytes(buffer[:filled])

    def close(self, broken: bool = False) -> None:
        """Release the connection (idempotent): reused when little or nothing is left."""
        if self._wire is not None:
            wire, self._wire = self._wire, None
            wire.release(broken)

    def __enter__(self) -> ObjectBody:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_wire(self) -> _Wire:
        if self._wire is None:
            raise ValueError("read from a closed object body")
        return self._wire

    def _advance(self, count: int) -> None:
        self.position += count
        if self.position >= self.end:
            self.close()

    def _resume(self, error: BaseException | None, failures: int) -> None:
        """Drop the failed connection, then GET the rest again from :attr:`position`."""
        self.close(broken=True)
        what = (_URL_QUERY.sub(r"\1", f"{type(error).__name__}: {error}") if error is not None
                else "the body ended early")
        retries = self._client.config.max_retries
        if failures > retries:
            raise OSSError(redaction.redact(
                f"OSS GetObject of {self.key!r} failed: network error at offset "
                f"{self.position}: {what}"), status=-2, operation="GetObject", key=self.key)
        delay = backoff(failures, base=RETRY_BASE, cap=RETRY_CAP)
        logger.warning("OSS GetObject of %r: connection lost at offset %d (%s), resuming "
                       "(%d/%d) in %.2fs", self.key, self.position, redaction.redact(what),
                       failures, retries, delay)
        time.sleep(delay)
        fresh = self._client.open_object(self.key, self.position, self.end, if_match=self.etag)
        self._wire, fresh._wire = fresh._wire, None


def _read_environment_once(session: Any, url: str) -> None:
    """Apply the environment to a ``requests`` session once, for the bucket at ``url``.

    A session that trusts the environment reads it on every request (proxy variables
    and NO_PROXY, ``.netrc``, CA-bundle variables: about 0.1 ms each time). Here the
    proxies for ``url`` (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, unless
    ``NO_PROXY`` covers its host) and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` are read
    now and kept; later changes to the environment apply to clients built after them.
    ``.netrc`` is never used: OSS requests carry their own signature.
    """
    import requests.utils

    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


def _finished(result: Any) -> Any:
    """``result`` once its answer has been read to the end, so that its connection goes
    back to the pool: oss2 leaves HEAD answers (which declare the object's size) unread,
    and the connection is closed when they are garbage-collected."""
    result.resp.read()
    return result


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
        bucket = oss2.Bucket(
            auth, config.endpoint, config.bucket_name,
            is_cname=config.is_cname,
            session=oss2.Session(pool_size=config.pool_size),
            connect_timeout=(config.connect_timeout, config.read_timeout),
            app_name="django-alioss",
            enable_crc=False,  # checked here with a fast CRC-64 (oss2 builds a table per request)
            region=config.region,
        )
        _read_environment_once(bucket.session.session, bucket._make_url(bucket.bucket_name, ""))
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
        wire: _Wire | None = _Wire(result)
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
            return _meta_from(key, _finished(bucket.head_object(key)))

        return self.call("HeadObject", key, request)

    def object_exists(self, key: str) -> bool:
        """GetObjectMeta (HEAD): False on NoSuchKey or a bare 404, else True."""
        import oss2

        def request(bucket: oss2.Bucket) -> bool:
            try:
                _finished(bucket.get_object_meta(key))
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

