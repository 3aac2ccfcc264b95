"""URL policy: which URL an object gets, and for how long it works.

:class:`URLPolicy` decides between a custom-domain URL, an unsigned URL (public ACLs,
``querystring_auth=False``) and a presigned one, and clamps a presigned URL's life to
the credentials that sign it (an STS token that expires in ten minutes cannot sign a
URL for an hour). Signing itself is :mod:`django_alioss.signing` (pure, no I/O);
credentials come from the storage's provider, fetched only when a URL is signed.
No method here sends a request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.utils.encoding import filepath_to_uri

from .signing import URLSigner

if TYPE_CHECKING:
    from .credentials import CredentialsProvider, Snapshot

PUBLIC_ACLS = ("public-read", "public-read-write")


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
            expire: int | None = None, method: str | None = None) -> str:
        """The URL of object ``key`` with query ``params``.

        With ``custom_domain``: ``<url_protocol>//<custom_domain>/<key>``, unsigned.
        Unsigned too for public ACLs and ``querystring_auth=False``. Otherwise
        presigned for ``method`` (default GET) for ``expire`` seconds.
        """
        params = dict(params) if params else None
        if self.custom_domain:
            query = f"?{urlencode(params)}" if params else ""
            return f"{self.url_protocol}//{self.custom_domain}/{filepath_to_uri(key)}{query}"
        if not self.signs:
            return self.signer.unsigned_url(key, params)
        window = self.signing_window(expire)
        credentials = window.credentials
        return self.signer.presign(
            key, access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            security_token=credentials.security_token, expires=window.expires,
            method=(method or "GET").upper(), params=params, now=window.now)
