"""Django storages for Alibaba Cloud OSS.

- :class:`OSSStorage`: media files (``FileField``/``ImageField``), signed URLs.
- :class:`OSSStaticStorage`: ``collectstatic`` target, unsigned URLs.
- :class:`OSSManifestStaticStorage`: the same with hashed names and a manifest.

Options come from ``STORAGES[alias]["OPTIONS"]``, then ``ALIOSS_<NAME>`` settings, then
``ALIOSS_<NAME>`` environment variables (see :mod:`django_alioss.options`). Creating a
storage sends nothing over the network; credentials are resolved at first use.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import pathlib
import posixpath
import secrets
import threading
import weakref
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.base import File
from django.utils.deconstruct import deconstructible
from django.utils.timezone import make_naive
from storages.base import BaseStorage
from storages.compress import GzipCompressionWrapper
from storages.utils import ReadBytesWrapper, clean_name

from .client import ClientConfig, OSSClient
from .client.core import UPLOAD_CHUNK
from .exceptions import InvalidObjectName
from .files import OSSFile
from .names import available_overwrite_name, validate_file_name
from .options import (
    CREDENTIAL_OPTIONS,
    OPTIONS,
    SECRET_OPTIONS,
    OptionValues,
    default_settings,
    lookup,
    region_from_endpoint,
    resolve_options,
)
from .redaction import mask_key_id
from .signing import URLSigner, validate_bucket_name
from .uploads import FORBID_OVERWRITE, WRITE_ID, Uploader, new_write_id, read_exactly
from .urls import ContentTypes, URLPolicy, cdn_signer, checked_styles, form_rules

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .collect import CollectSession, Progress
    from .credentials import CredentialsProvider

__all__ = ["CREDENTIAL_OPTIONS", "OSSManifestStaticStorage", "OSSStaticStorage", "OSSStorage"]

MAX_KEY_BYTES = 1023
MAX_NAME_ATTEMPTS = 100
# Idle connections kept for reuse (not a cap): enough for a threaded server and its
# multipart workers without urllib3 discarding connections ("Connection pool is full").
MIN_POOL_SIZE = 32
_TRANSIENT = ("_client", "_uploader", "_urls", "_lock")

# Secrets of storages that were pickled, by storage token: an unpickled copy in this
# process gets them back; one unpickled elsewhere re-reads settings/environment. An
# entry lives as long as the storage that was pickled.
_PICKLED_SECRETS: dict[str, dict[str, Any]] = {}


def _with_scheme(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if "://" in endpoint else f"https://{endpoint}"


def validate_key(key: str) -> str:
    """Raise InvalidObjectName for keys OSS rejects; return the key otherwise."""
    if not key:
        raise InvalidObjectName("OSS object names cannot be empty")
    if "\x00" in key:
        raise InvalidObjectName(f"OSS object names cannot contain NUL: {key!r}")
    if key[0] in "/\\":
        raise InvalidObjectName(f"OSS object names cannot start with '/' or '\\': {key!r}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidObjectName(f"OSS object names must be valid UTF-8: {key!r}") from None
    if size > MAX_KEY_BYTES:
        raise InvalidObjectName(
            f"OSS object names are at most {MAX_KEY_BYTES} bytes in UTF-8; this one has {size}")
    return key


def _text_content(content: Any) -> bool:
    return isinstance(getattr(content, "file", content), io.TextIOBase)


def _is_rrsa_marker(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "rrsa"


def _schema_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Constructor options minus every credential option and every secret option (such
    as ``cdn_auth_key``)."""
    return {k: v for k, v in kwargs.items()
            if k not in CREDENTIAL_OPTIONS and k not in SECRET_OPTIONS}


@deconstructible(path="django_alioss.storage.OSSStorage")
class OSSStorage(OptionValues, BaseStorage):
    """Files in an OSS bucket, under an optional ``location`` prefix.

    Every option of :data:`~django_alioss.options.OPTIONS` is an attribute (typed in
    :class:`~django_alioss.options.OptionValues`).
    """

    default_content_type = "application/octet-stream"

    def __init__(self, **options: Any) -> None:
        values = resolve_options(options, type(self), self.get_default_settings())
        for name, value in values.items():
            setattr(self, name, value)
        self._forget_credential_arguments()
        self._token = secrets.token_hex(8)
        self._configure()

    def _forget_credential_arguments(self) -> None:
        """Keep credential options out of what ``deconstruct()`` returns.

        ``@deconstructible`` records the constructor's arguments, and migrations write
        them for a ``FileField(storage=...)``. Credentials are configuration of the
        running process (settings, environment, RRSA), not of the schema: a secret (any
        ``secret`` option, ``cdn_auth_key`` too) must never be written into a migration,
        and rotating keys must not make a new one.
        """
        recorded = getattr(self, "_constructor_args", None)
        if recorded is not None:
            args, kwargs = recorded
            self._constructor_args = (args, _schema_arguments(kwargs))

    def get_default_settings(self) -> dict[str, Any]:
        """Every option's value from ``ALIOSS_*`` settings, the environment, or defaults."""
        return default_settings()

    def _configure(self) -> None:
        owner = type(self).__name__
        for name in ("endpoint", "bucket_name"):
            if not getattr(self, name):
                setting = OPTIONS[name].setting_name
                raise ImproperlyConfigured(
                    f"{owner} needs {name!r}: set STORAGES[...]['OPTIONS'][{name!r}], the "
                    f"{setting} setting or the {setting} environment variable.")
        try:
            validate_bucket_name(self.bucket_name)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{owner}: invalid bucket_name {self.bucket_name!r}: {exc}") from None
        if self.location.startswith("/"):
            raise ImproperlyConfigured(
                f"{owner}.location cannot begin with '/'; use {self.location.lstrip('/')!r}.")
        if ".." in self.location.split("/"):
            raise ImproperlyConfigured(f"{owner}.location cannot contain '..': {self.location!r}")
        self.location = clean_name(self.location).rstrip("/")
        self.endpoint = _with_scheme(self.endpoint)
        if self.public_endpoint:
            self.public_endpoint = _with_scheme(self.public_endpoint)
        self.region = (self.region or region_from_endpoint(self.endpoint)
                       or (self.public_endpoint and region_from_endpoint(self.public_endpoint))
                       or None)
        if self.signature_version == "v4" and not self.region:
            raise ImproperlyConfigured(
                f"{owner}: signature V4 needs a region and none can be derived from endpoint "
                f"{self.endpoint!r}: set the 'region' option (ALIOSS_REGION), e.g. 'cn-hangzhou', "
                "or use signature_version 'v1'.")
        self._client: OSSClient | None = None
        self._uploader: Uploader | None = None
        self._urls: URLPolicy | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} bucket={self.bucket_name!r} endpoint={self.endpoint!r} "
                f"location={self.location!r}>")

    # --- pickling: no session, no cached credentials, no secrets ----------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for transient in _TRANSIENT:
            state.pop(transient, None)
        stash = {name: state[name] for name in SECRET_OPTIONS if state.get(name)}
        if stash and self._token not in _PICKLED_SECRETS:
            _PICKLED_SECRETS[self._token] = stash
            weakref.finalize(self, _PICKLED_SECRETS.pop, self._token, None)
        for name in SECRET_OPTIONS:
            state[name] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        stash = _PICKLED_SECRETS.get(state["_token"], {})
        for name in SECRET_OPTIONS:
            setattr(self, name, stash.get(name, lookup(OPTIONS[name])))
        self._client = None
        self._uploader = None
        self._urls = None
        self._lock = threading.Lock()

    # --- the seams --------------------------------------------------------------------
    @property
    def client(self) -> OSSClient:
        """The oss2 seam (built at first use)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = OSSClient(ClientConfig(
                        endpoint=self.endpoint, bucket_name=self.bucket_name, region=self.region,
                        signature_version=self.signature_version, is_cname=self.is_cname,
                        connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
                        max_retries=self.max_retries,
                        pool_size=max(MIN_POOL_SIZE, 2 * self.multipart_concurrency,
                                      self.collectstatic_concurrency),
                    ), self._build_provider())
        return self._client

    @property
    def credentials(self) -> CredentialsProvider:
        """The credentials provider every request and signed URL uses."""
        return self.client.provider

    def _build_provider(self) -> CredentialsProvider:
        from .credentials import build_provider

        return build_provider({name: getattr(self, name) for name in CREDENTIAL_OPTIONS})

    @property
    def uploader(self) -> Uploader:
        """The write path (single PUT or parallel multipart), built at first use."""
        if self._uploader is None:
            self._uploader = Uploader(
                self.client, threshold=self.multipart_threshold,
                part_size=self.multipart_chunksize, concurrency=self.multipart_concurrency)
        return self._uploader

    @property
    def urls(self) -> URLPolicy:
        """The URL rules (no network; credentials are fetched only to sign)."""
        if self._urls is None:
            signer = URLSigner(
                self.public_endpoint or self.endpoint, self.bucket_name, region=self.region,
                signature_version=self.signature_version, is_cname=self.is_cname)
            self._urls = URLPolicy(
                signer, lambda: self.credentials, querystring_auth=self.querystring_auth,
                querystring_expire=self.querystring_expire, default_acl=self.default_acl,
                custom_domain=self.custom_domain, url_protocol=self.url_protocol,
                image_styles=checked_styles(self.image_styles),
                cdn=cdn_signer(self.cdn_auth_type, self.cdn_auth_key, self.cdn_auth_ttl,
                               self.custom_domain))
        return self._urls

    # --- names ----------------------------------------------------------------------------
    def object_key(self, name: str) -> str:
        """The object key for ``name``: cleaned, under ``location``, valid for OSS.

        Every operation maps names through here, so all refuse the same names the same
        way: ``..`` segments and absolute paths raise ``SuspiciousFileOperation`` (as
        ``save()`` does, with or without a ``location``), names OSS cannot store raise
        :class:`~django_alioss.exceptions.InvalidObjectName`.
        """
        posix = str(name).replace("\\", "/")
        if posix.startswith("/") or ".." in posix.split("/"):  # the rule save() applies
            raise SuspiciousFileOperation(f"Detected path traversal attempt in {name!r}")
        cleaned = clean_name(posix)
        if not cleaned or cleaned == ".":  # "" or "a/." would name the location itself
            raise InvalidObjectName(f"OSS object names cannot be empty: {name!r}")
        # No ".." and not absolute: the cleaned name cannot leave the location.
        key = f"{self.location}/{cleaned}" if self.location else cleaned
        return validate_key(key)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        """Validate and (if needed) truncate ``name``; never asks OSS whether it exists.

        With ``file_overwrite=False`` a taken name is detected by the save itself
        (``x-oss-forbid-overwrite``) and replaced then, so there is no race between a
        check and the write and a save to a free name costs one request.
        """
        return available_overwrite_name(name, max_length)

    def _alternative_name(self, name: str, max_length: int | None) -> str:
        dir_name, file_name = posixpath.split(name)
        file_ext = "".join(pathlib.PurePath(file_name).suffixes)
        file_root = file_name.removesuffix(file_ext)
        candidate = posixpath.join(dir_name, self.get_alternative_name(file_root, file_ext))
        if max_length is not None and len(candidate) > max_length:
            file_root = file_root[:len(file_root) - (len(candidate) - max_length)]
            if not file_root:
                raise SuspiciousFileOperation(
                    f'Storage can not find an available filename for "{name}". Please make sure '
                    'that the corresponding file field allows sufficient "max_length".')
            candidate = posixpath.join(dir_name, self.get_alternative_name(file_root, file_ext))
        return candidate

    # --- writing ---------------------------------------------------------------------------
    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """HTTP headers for uploading ``name``; override for per-object values.

        Defaults to a copy of the ``object_parameters`` option. A ``Content-Encoding``
        here disables ``gzip`` for the object.
        """
        return dict(self.object_parameters)

    def write_headers(self, name: str, content: Any = None, *,
                      forbid_overwrite: bool = False) -> dict[str, str]:
        """The headers of one write of ``name``: :meth:`get_object_parameters`, a
        Content-Type (the content's, else guessed from the name), ``default_acl``,
        ``x-oss-forbid-overwrite`` when asked, and a fresh write id."""
        headers = {str(k): str(v) for k, v in self.get_object_parameters(name).items()}
        present = {k.lower() for k in headers}
        if "content-type" not in present:
            guessed, encoding = mimetypes.guess_type(name)
            headers["Content-Type"] = (getattr(content, "content_type", None) or guessed
                                       or self.default_content_type)
            if encoding and "content-encoding" not in present:
                headers["Content-Encoding"] = encoding
        if self.default_acl and "x-oss-object-acl" not in present:
            headers["x-oss-object-acl"] = self.default_acl
        if forbid_overwrite:
            headers[FORBID_OVERWRITE] = "true"
        headers[WRITE_ID] = new_write_id()
        return headers

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Save ``content`` under ``name`` (or a free variant of it) and return the name used."""
        if name is None:
            name = content.name
        if not hasattr(content, "chunks"):
            content = File(content, name)
        validate_file_name(name)
        name = self.get_available_name(name, max_length=max_length)
        validate_file_name(name)
        name = self._save(name, content, max_length=max_length)
        validate_file_name(name)
        return name

    def _save(self, name: str, content: Any, max_length: int | None = None) -> str:
        name = clean_name(name)
        headers = self.write_headers(name, content, forbid_overwrite=not self.file_overwrite)
        compress = (self.gzip and headers["Content-Type"] in self.gzip_content_types
                    and not any(k.lower() == "content-encoding" for k in headers))
        if compress:
            headers["Content-Encoding"] = "gzip"
        seekable = hasattr(content, "seek") and (not hasattr(content, "seekable")
                                                 or content.seekable())
        # The whole content is saved whatever its position, as File.chunks() does.
        size = None if compress or _text_content(content) else getattr(content, "size", None)
        # Up to 1 MiB (and below the threshold) a content that can be read again goes out as
        # bytes: the client would read it whole too; here without the stream layers.
        small = (size if seekable and size is not None and size <= UPLOAD_CHUNK
                 and size < self.uploader.threshold else None)
        attempt = 0
        while True:
            attempt += 1
            if seekable:
                content.seek(0)
            body: Any = ReadBytesWrapper(content)
            if compress:
                body = GzipCompressionWrapper(body)
            try:
                key = self.object_key(name)
                if small is not None:
                    self.uploader.put(key, read_exactly(body, small), headers)
                else:
                    rewind = (lambda: content.seek(0)) if seekable and not compress else None
                    self.uploader.upload(key, body, size, headers, rewind=rewind)
                return name
            except FileExistsError:
                if self.file_overwrite or not seekable or attempt >= MAX_NAME_ATTEMPTS:
                    raise
                name = self._alternative_name(name, max_length)

    # --- reading and the rest of the Storage API ------------------------------------------------
    def _open(self, name: str, mode: str = "rb") -> OSSFile:
        return OSSFile(name, mode, self)

    def delete(self, name: str) -> None:
        """Delete ``name``; deleting a missing object is not an error."""
        self.client.delete_object(self.object_key(name))

    def exists(self, name: str) -> bool:
        """Whether the object exists (one request, whatever ``file_overwrite`` says)."""
        return self.client.object_exists(self.object_key(name))

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """Directories and files directly under ``path``, relative to it, all pages."""
        prefix = self.object_key(path) if path else self.location
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        directories: list[str] = []
        files: list[str] = []
        for page in self.client.iter_list(prefix, "/"):
            directories.extend(p[len(prefix):].rstrip("/") for p in page.prefixes)
            files.extend(o.key[len(prefix):] for o in page.objects if o.key != prefix)
        return directories, files

    def size(self, name: str) -> int:
        return self.client.head_object(self.object_key(name)).size

    def _modified(self, name: str) -> datetime:
        stamp = self.client.head_object(self.object_key(name)).last_modified
        moment = datetime.fromtimestamp(stamp, tz=timezone.utc)
        return moment if django_settings.USE_TZ else make_naive(moment)

    def get_modified_time(self, name: str) -> datetime:
        """Last-Modified of the object: aware (UTC) with USE_TZ, else naive local time."""
        return self._modified(name)

    def get_created_time(self, name: str) -> datetime:
        """OSS keeps no creation time: the object's Last-Modified (when it was written)."""
        return self._modified(name)

    def url(self, name: str, parameters: dict[str, str] | None = None, expire: int | None = None,
            http_method: str | None = None, *, process: str | None = None) -> str:
        """A URL for ``name``; no network call.

        Signed (``querystring_auth``) for ``expire`` seconds (default
        ``querystring_expire``), never past the expiry of the credentials that sign
        it. Unsigned with ``custom_domain`` (or, with ``cdn_auth_type``, signed for the
        CDN to stop working after ``expire`` seconds), public ACLs or
        ``querystring_auth=False``. ``parameters`` become query parameters, e.g.
        ``response-content-disposition``. ``process`` is an ``x-oss-process`` value
        (``"image/resize,w_200/format,webp"``) or a name in ``image_styles``, validated
        (``ValueError``) and signed as part of the URL.
        """
        return self.urls.url(self.object_key(name), parameters, expire, http_method,
                             process=process)

    def generate_presigned_post(self, name: str, *, max_size: int | None = None,
                                min_size: int = 0, content_type: ContentTypes = None,
                                expire: int | None = None, conditions: Sequence[Any] = (),
                                fields: dict[str, str] | None = None) -> dict[str, Any]:
        """A form for uploading ``name`` from a browser straight to the bucket
        (PostObject): ``{"url": ..., "fields": {...}}``, as boto3's method returns it.

        ``name`` may end with ``${filename}`` (the uploaded file's name). The policy pins
        :meth:`get_object_parameters`, ``default_acl``, ``x-oss-forbid-overwrite`` (with
        ``file_overwrite=False``), ``content_type`` and each of ``fields``; see
        :func:`~django_alioss.urls.form_rules` and :meth:`URLPolicy.presigned_post
        <django_alioss.urls.URLPolicy.presigned_post>` for sizes, types and expiry.
        """
        pinned, limits = form_rules(
            object_parameters=self.get_object_parameters(name),
            acl=self.default_acl or "default", forbid_overwrite=not self.file_overwrite,
            max_size=max_size, min_size=min_size, content_type=content_type)
        return self.urls.presigned_post(self.object_key(name), fields={**pinned, **(fields or {})},
                                        conditions=[*limits, *conditions], expire=expire)

    def describe(self) -> dict[str, Any]:
        """Resolved options and the credential source, without secrets (for diagnostics)."""
        described = {name: getattr(self, name) for name in OPTIONS if name not in SECRET_OPTIONS}
        described["access_key_id"] = (self.access_key_id if _is_rrsa_marker(self.access_key_id)
                                      else mask_key_id(self.access_key_id))
        described["credentials"] = self.credentials.describe()
        return described


@deconstructible(path="django_alioss.storage.OSSStaticStorage")
class OSSStaticStorage(OSSStorage):
    """For ``collectstatic``: plain (unsigned) URLs, so pages can be cached.

    During :meth:`collecting` (django-alioss's ``collectstatic``), ``exists``, ``delete``,
    ``_save`` and ``_open`` are answered by the run's
    :class:`~django_alioss.collect.CollectSession`: unchanged files cost no request and
    changed ones upload in parallel. Outside it they behave as in :class:`OSSStorage`.
    """

    querystring_auth = False
    _collect: CollectSession | None = None

    @contextlib.contextmanager
    def collecting(self, *, dry_run: bool = False,
                   progress: Progress | None = None) -> Iterator[CollectSession]:
        """A ``collectstatic`` run against this storage (one at a time).

        On normal exit the run finishes (uploads waited for, deferred deletes done); on
        an exception queued uploads are cancelled and nothing is deleted.
        """
        from .collect import CollectSession

        if self._collect is not None:
            raise RuntimeError(f"{self!r} is already collecting")
        session = CollectSession(self, workers=self.collectstatic_concurrency, dry_run=dry_run,
                                 progress=progress)
        self._collect = session
        try:
            yield session
            session.finish()
        except BaseException:
            session.abort()
            raise
        finally:
            self._collect = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_collect", None)
        return state

    def exists(self, name: str) -> bool:
        if self._collect is not None:
            return self._collect.exists(name)
        return super().exists(name)

    def delete(self, name: str) -> None:
        if self._collect is not None:
            self._collect.delete(name)
        else:
            super().delete(name)

    def _save(self, name: str, content: Any, max_length: int | None = None) -> str:
        if self._collect is None:
            return super()._save(name, content, max_length)
        name = clean_name(name)
        self._collect.save(name, content, barrier=name == getattr(self, "manifest_name", None))
        return name

    def _open(self, name: str, mode: str = "rb") -> Any:
        if self._collect is not None and mode == "rb":
            local = self._collect.open_local(name)
            if local is not None:
                return local
            self._collect.wait_for(name)
        return super()._open(name, mode)


@deconstructible(path="django_alioss.storage.OSSManifestStaticStorage")
class OSSManifestStaticStorage(ManifestFilesMixin, OSSStaticStorage):  # type: ignore[misc]
    # (mypy: HashedFilesMixin.url(name, force) and OSSStorage.url(name, parameters, ...)
    # differ; Django's url() wins, as in every manifest storage, and calls ours.)
    """``OSSStaticStorage`` with hashed file names and ``staticfiles.json``.

    Django's ``ManifestFilesMixin.__init__`` reads the manifest; here that read is
    deferred to the first use of ``hashed_files``/``manifest_hash`` (the first
    ``url()``), so creating the storage sends nothing over the network.
    """

    _manifest: tuple[dict[str, str], str] | None = None

    def save_manifest(self) -> None:
        """Django's, with the paths sorted: the same files give the same bytes, so an
        unchanged ``staticfiles.json`` is not written again. During a ``collectstatic``
        run, written only once every other upload succeeded (whatever storage holds it)."""
        if self._collect is not None:
            self._collect.flush()
        self.hashed_files = dict(sorted(self.hashed_files.items()))
        super().save_manifest()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._defer_manifest = True
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._defer_manifest = False

    def load_manifest(self) -> Any:
        if self._defer_manifest:
            return _UNLOADED, None
        return super().load_manifest()

    def _loaded_manifest(self) -> tuple[dict[str, str], str]:
        if self._manifest is None:
            self._manifest = self.load_manifest()
        return self._manifest

    @property
    def hashed_files(self) -> dict[str, str]:
        return self._loaded_manifest()[0]

    @hashed_files.setter
    def hashed_files(self, value: Any) -> None:
        if value is _UNLOADED:
            self._manifest = None
        else:
            self._manifest = (value, self._manifest[1] if self._manifest else "")

    @property
    def manifest_hash(self) -> str:
        return self._loaded_manifest()[1]

    @manifest_hash.setter
    def manifest_hash(self, value: str) -> None:
        if self._manifest is not None:
            self._manifest = (self._manifest[0], value)


_UNLOADED: Any = object()
