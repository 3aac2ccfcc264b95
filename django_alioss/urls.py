"""URL policy: which URL an object gets, and for how long it works.

:class:`URLPolicy` decides between a custom-domain URL, an unsigned URL (public ACLs,
``querystring_auth=False``) and a presigned one, and clamps a presigned URL's life to
the credentials that sign it (an STS token that expires in ten minutes cannot sign a
URL for an hour). Signing itself is :mod:`django_alioss.signing` (pure, no I/O);
credentials come from the storage's provider, fetched only when a URL is signed.
Browser form uploads (:meth:`URLPolicy.presigned_post`, PostObject) follow the same
clamping; their fields come from :func:`form_rules`. Image processing
(``x-oss-process``, :mod:`django_alioss.processing`) goes into the query before
signing, so the signature covers it; a ``custom_domain`` with CDN URL authentication
(:mod:`django_alioss.cdn`) gets URLs signed for the CDN, without OSS credentials. No
method here sends a request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.exceptions import ImproperlyConfigured
from django.utils.encoding import filepath_to_uri

from .cdn import CDNSigner
from .processing import PROCESS_PARAM, resolve_process, validate_styles
from .signing import URLSigner
from .signing_policy import POLICY_MAX_EXPIRES, Condition, sign_post_form

if TYPE_CHECKING:
    from .credentials import CredentialsProvider, Snapshot

PUBLIC_ACLS = ("public-read", "public-read-write")
MAX_POST_SIZE = 5 * 1024 ** 3
"""The largest file a form upload (PostObject) may carry: 5 GiB."""
ContentTypes = str | Sequence[str] | None


def _without(fields: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k.lower() != name.lower()}


def form_rules(*, object_parameters: Mapping[str, Any], acl: str, forbid_overwrite: bool,
               max_size: int | None, min_size: int, content_type: ContentTypes
               ) -> tuple[dict[str, str], list[Condition]]:
    """The fields pinned in a form upload's policy and its other conditions.

    Pinned: ``object_parameters`` (as form fields), ``x-oss-object-acl`` = ``acl``,
    ``x-oss-forbid-overwrite`` when asked, and a ``content_type`` that is one type.
    A ``content_type`` ending with ``/`` (``"image/"``) asks for that prefix, a sequence
    for one of its types (the browser then sends ``Content-Type``). Sizes become a
    ``content-length-range`` (``max_size`` None: up to 5 GiB).
    """
    fields = {str(k): str(v) for k, v in object_parameters.items()}
    fields = _without(fields, "x-oss-object-acl")
    fields["x-oss-object-acl"] = acl
    if forbid_overwrite:
        fields = _without(fields, "x-oss-forbid-overwrite")
        fields["x-oss-forbid-overwrite"] = "true"
    conditions: list[Condition] = []
    if isinstance(content_type, str) and not content_type.endswith("/"):
        fields = _without(fields, "Content-Type")
        fields["Content-Type"] = content_type
    elif isinstance(content_type, str):
        fields = _without(fields, "Content-Type")
        conditions.append(["starts-with", "$Content-Type", content_type])
    elif content_type is not None:
        fields = _without(fields, "Content-Type")
        conditions.append(["in", "$Content-Type", [str(t) for t in content_type]])
    if type(min_size) is not int or min_size < 0:
        raise ValueError(f"min_size must be an int >= 0, got {min_size!r}")
    if max_size is not None and (type(max_size) is not int or not min_size <= max_size):
        raise ValueError(f"max_size must be an int >= min_size ({min_size}), got {max_size!r}")
    if max_size is not None or min_size:
        conditions.append(["content-length-range", min_size,
                           MAX_POST_SIZE if max_size is None else max_size])
    return fields, conditions


def checked_styles(styles: Mapping[str, str]) -> dict[str, str]:
    """The ``image_styles`` option, each style validated (``ImproperlyConfigured``)."""
    try:
        validate_styles(styles)
    except ValueError as exc:
        raise ImproperlyConfigured(f"django-alioss option 'image_styles': {exc}") from None
    return dict(styles)


def cdn_signer(auth_type: str | None, key: str | None, ttl: int,
               custom_domain: str | None) -> CDNSigner | None:
    """The CDN URL signer the ``cdn_auth_*`` options ask for (``None`` without
    ``cdn_auth_type``); ``ImproperlyConfigured`` (never quoting the key) when it cannot
    work: no key, a type C key of the wrong shape, no ``custom_domain`` to sign for."""
    if not auth_type:
        return None
    if not custom_domain:
        raise ImproperlyConfigured(
            f"django-alioss option 'cdn_auth_type' ({auth_type}) signs URLs of the CDN "
            "domain, but 'custom_domain' is not set.")
    try:
        return CDNSigner(auth_type, key or "", ttl)
    except ValueError as exc:
        raise ImproperlyConfigured(f"django-alioss option 'cdn_auth_key': {exc}.") from None


def _positive_seconds(expire: int | None, default: int) -> int:
    if expire is None:
        return default
    if isinstance(expire, bool) or int(expire) < 1:
        raise ValueError(f"expire must be a positive number of seconds, got {expire!r}")
    return int(expire)


@dataclass(frozen=True)
class SigningWindow:
    """Credentials to sign with, the moment of signing, and the seconds the signature
    may live (never past the credentials' expiration, at least 1)."""

    credentials: Snapshot
    now: float
    expires: int


@dataclass(frozen=True)
class URLPolicy:
    """The URL rules of one storage (immutable, thread-safe)."""

    signer: URLSigner
    provider: Callable[[], CredentialsProvider]
    """Returns the credentials provider; called only when a URL is signed."""
    querystring_auth: bool = True
    querystring_expire: int = 3600
    default_acl: str | None = None
    custom_domain: str | None = None
    url_protocol: str = "https:"
    image_styles: Mapping[str, str] = field(default_factory=dict)
    """Named ``x-oss-process`` values (the ``image_styles`` option, validated)."""
    cdn: CDNSigner | None = None
    """Signs ``custom_domain`` URLs for CDN URL authentication (``None``: plain URLs)."""

    @property
    def signs(self) -> bool:
        """Whether :meth:`url` presigns (else it returns plain URLs)."""
        return (not self.custom_domain and self.querystring_auth
                and self.default_acl not in PUBLIC_ACLS)

    def signing_window(self, expire: int | None = None) -> SigningWindow:
        """Current credentials and the life of a signature made with them now:
        ``expire`` seconds (default ``querystring_expire``), clamped to their expiry."""
        snapshot = self.provider().snapshot()
        now = time.time()
        expires = self.querystring_expire if expire is None else int(expire)
        if snapshot.expiration is not None:
            expires = max(1, min(expires, int(snapshot.expiration - now)))
        return SigningWindow(snapshot, now, expires)

    def url(self, key: str, params: Mapping[str, str] | None = None,
            expire: int | None = None, method: str | None = None, *,
            process: str | None = None) -> str:
        """The URL of object ``key`` with query ``params``.

        With ``custom_domain``: ``<url_protocol>//<custom_domain>/<key>``, unsigned, or
        signed for the CDN (:attr:`cdn`) so that it stops working after ``expire``
        seconds. Unsigned too for public ACLs and ``querystring_auth=False``. Otherwise
        presigned for ``method`` (default GET) for ``expire`` seconds. ``process`` (an
        ``x-oss-process`` value or a name in :attr:`image_styles`) is validated
        (``ValueError``) and added to the query: signed with it in V1 and V4, a plain
        parameter in unsigned and CDN URLs.
        """
        params = dict(params) if params else None
        if process is not None:
            params = self._with_process(params, process)
        if self.custom_domain:
            return self._domain_url(key, params, expire)
        if not self.signs:
            return self.signer.unsigned_url(key, params)
        window = self.signing_window(expire)
        credentials = window.credentials
        return self.signer.presign(
            key, access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            security_token=credentials.security_token, expires=window.expires,
            method=(method or "GET").upper(), params=params, now=window.now)

    def _with_process(self, params: dict[str, str] | None, process: str) -> dict[str, str]:
        if params and PROCESS_PARAM in params:
            raise ValueError("x-oss-process is given twice: as process= and in the parameters")
        return {**(params or {}), PROCESS_PARAM: resolve_process(process, self.image_styles)}

    def _domain_url(self, key: str, params: Mapping[str, str] | None,
                    expire: int | None) -> str:
        """A ``custom_domain`` URL: plain, or signed for the CDN for ``expire`` seconds
        (default ``querystring_expire``; no OSS credentials involved)."""
        path = "/" + filepath_to_uri(key)
        query = urlencode(params) if params else ""
        prefix = f"{self.url_protocol}//{self.custom_domain}"
        if self.cdn is None:
            return f"{prefix}{path}?{query}" if query else prefix + path
        seconds = _positive_seconds(expire, self.querystring_expire)
        return prefix + self.cdn.sign(path, time.time() + seconds, query)

    def presigned_post(self, key: str, *, fields: Mapping[str, str] | None = None,
                       conditions: Sequence[Condition] = (), expire: int | None = None
                       ) -> dict[str, Any]:
        """A browser form uploading ``key`` (PostObject): ``{"url": ..., "fields": ...}``,
        the bucket's URL and every form field but the file (which goes last).

        Signed with the current credentials (STS token included) for ``expire`` seconds
        (default ``querystring_expire``), at most 7 days and never past the
        credentials' expiry. Each of ``fields`` is pinned in the policy; ``conditions``
        are added as given. No request is sent.
        """
        if expire is not None and (isinstance(expire, bool) or int(expire) < 1):
            raise ValueError(f"expire must be a positive number of seconds, got {expire!r}")
        window = self.signing_window(
            None if expire is None else min(int(expire), POLICY_MAX_EXPIRES))
        credentials = window.credentials
        form = sign_post_form(
            bucket_name=self.signer.bucket_name, key=key, region=self.signer.region,
            signature_version=self.signer.signature_version,
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            security_token=credentials.security_token, now=int(window.now),
            expires=min(window.expires, POLICY_MAX_EXPIRES), fields=fields,
            conditions=conditions)
        return {"url": self.signer.bucket_url, "fields": form}
