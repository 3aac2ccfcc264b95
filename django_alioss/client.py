"""The oss2 seam: one bucket client per storage, retries, and error translation.

All object I/O of the backend goes through :class:`OSSClient`. It owns one
``oss2.Bucket`` with one shared, thread-safe ``oss2.Session`` (no per-thread clients),
built lazily (no network in ``__init__``) and dropped when pickled. oss2 itself never
retries, so :meth:`OSSClient.call` retries transient failures (network errors, 5xx,
429) of idempotent requests and of uploads whose body can be rewound, with
exponential backoff and jitter; and when OSS says the STS token expired it asks the
credentials provider for a refresh and retries once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from . import redaction
from .retry import backoff
from .exceptions import OSSAccessDenied, OSSError, OSSFileExists, OSSFileNotFound

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
        """The oss2 bucket, built on first use."""
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
        invalid security token is retried once after a credentials refresh.
        """
        import oss2

        can_resend = resendable or rewind is not None
        attempt = 0
        token_refreshed = False
        sent = 0
        while True:
            snapshot = self.provider.snapshot()
            sent += 1
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
                    raise failure from None
                if rewind is not None:
                    rewind()

    # --- object operations -----------------------------------------------------------------
    def put_object(self, key: str, data: Any, headers: dict[str, str], *,
                   rewind: Callable[[], None] | None = None) -> Any:
        return self.call("PutObject", key, lambda b: b.put_object(key, data, headers=headers),
                         resendable=isinstance(data, (bytes, bytearray)), rewind=rewind)

    def get_object(self, key: str, byte_range: tuple[int | None, int | None] | None = None,
                   headers: dict[str, str] | None = None) -> Any:
        return self.call("GetObject", key,
                         lambda b: b.get_object(key, byte_range=byte_range, headers=headers))

    def head_object(self, key: str) -> Any:
        return self.call("HeadObject", key, lambda b: b.head_object(key))

    def object_exists(self, key: str) -> bool:
        return self.call("GetObjectMeta", key, lambda b: b.object_exists(key))

    def delete_object(self, key: str) -> None:
        self.call("DeleteObject", key, lambda b: b.delete_object(key))

    def delete_objects(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            self.call("DeleteMultipleObjects", "",
                      lambda b, batch=batch: b.batch_delete_objects(batch))

    def list_page(self, prefix: str, delimiter: str, token: str = "", max_keys: int = 1000) -> Any:
        return self.call("ListObjectsV2", prefix, lambda b: b.list_objects_v2(
            prefix=prefix, delimiter=delimiter, continuation_token=token, max_keys=max_keys))

    def iter_list(self, prefix: str, delimiter: str = "") -> Iterator[Any]:
        """Every page of a listing (ListObjectsV2, 1,000 entries a page)."""
        token = ""
        while True:
            page = self.list_page(prefix, delimiter, token)
            yield page
            if not page.is_truncated:
                return
            token = page.next_continuation_token

    def init_multipart(self, key: str, headers: dict[str, str]) -> str:
        return self.call("InitiateMultipartUpload", key,
                         lambda b: b.init_multipart_upload(key, headers=headers).upload_id)

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> Any:
        import oss2

        result = self.call("UploadPart", key,
                           lambda b: b.upload_part(key, upload_id, number, data))
        return oss2.models.PartInfo(number, result.etag, size=len(data), part_crc=result.crc)

    def complete_multipart(self, key: str, upload_id: str, parts: list[Any],
                           headers: dict[str, str] | None = None) -> Any:
        """Complete an upload. Transient failures are retried: if the lost attempt had
        completed it, the retry answers NoSuchUpload (the storage then checks the
        object's write id)."""
        return self.call("CompleteMultipartUpload", key,
                         lambda b: b.complete_multipart_upload(key, upload_id, parts,
                                                               headers=headers))

    def abort_multipart(self, key: str, upload_id: str) -> None:
        self.call("AbortMultipartUpload", key, lambda b: b.abort_multipart_upload(key, upload_id))

    def iter_multipart_uploads(self, prefix: str = "") -> Iterator[Any]:
        """Every unfinished multipart upload under ``prefix``."""
        key_marker = upload_id_marker = ""
        while True:
            page = self.call("ListMultipartUploads", prefix,
                             lambda b, km=key_marker, um=upload_id_marker: b.list_multipart_uploads(
                                 prefix=prefix, key_marker=km, upload_id_marker=um,
                                 max_uploads=1000))
            yield from page.upload_list
            if not page.is_truncated:
                return
            key_marker, upload_id_marker = page.next_key_marker, page.next_upload_id_marker

