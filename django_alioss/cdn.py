"""Alibaba Cloud CDN URL authentication, types A, B and C: pure, no I/O, no OSS credentials.

Every hash is the lowercase hex MD5 of a string made of the URL's path (from its
leading ``/``, percent-encoded as it stands in the URL, without the query), a
timestamp and the CDN's key (``cdn_auth_key``):

====  ===================================================  ============================
type  URL                                                  hashed
====  ===================================================  ============================
A     ``<path>?auth_key=<ts>-<rand>-<uid>-<md5>``          ``<path>-<ts>-<rand>-<uid>-<key>``
B     ``/<YYYYMMDDHHMM>/<md5><path>`` (UTC+8)              ``<key><YYYYMMDDHHMM><path>``
C     ``/<md5>/<HEX ts><path>``                            ``<key><path><HEX ts>``
====  ===================================================  ============================

The CDN accepts a URL until its timestamp plus the TTL set in the CDN console
(``cdn_auth_ttl``, 1800 s by default), so a URL meant to stop working at T is signed
with the timestamp T - TTL. Type B timestamps have minute precision: such a URL stops
working at the start of T's minute, up to 59 s before T (never after it).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass

AUTH_TYPES = ("A", "B", "C")
DEFAULT_TTL = 1800
TYPE_C_KEY = re.compile(r"[A-Za-z0-9]{16,32}")
"""Keys the CDN console accepts for type C: 16 to 32 letters and digits."""
UTC8_OFFSET = 8 * 3600


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def type_a_hash(path: str, timestamp: int, rand: str, uid: str, key: str) -> str:
    """The md5hash of a type A URL for ``path`` (``auth_key=<ts>-<rand>-<uid>-<md5>``)."""
    return _md5(f"{path}-{timestamp}-{rand}-{uid}-{key}")


def type_b_stamp(timestamp: float) -> str:
    """``YYYYMMDDHHMM`` in UTC+8 (China Standard Time) for epoch ``timestamp``."""
    return time.strftime("%Y%m%d%H%M", time.gmtime(int(timestamp) + UTC8_OFFSET))


def type_b_hash(path: str, stamp: str, key: str) -> str:
    """The md5hash of a type B URL ``/<stamp>/<md5><path>``."""
    return _md5(f"{key}{stamp}{path}")


def type_c_hash(path: str, hex_timestamp: str, key: str) -> str:
    """The md5hash of a type C URL ``/<md5>/<hex_timestamp><path>``."""
    return _md5(f"{key}{path}{hex_timestamp}")


def check_key(auth_type: str, key: str) -> None:
    """Raise ``ValueError`` (never quoting the key) unless ``key`` suits ``auth_type``."""
    if not key:
        raise ValueError(f"CDN URL authentication type {auth_type} needs a key")
    if auth_type == "C" and not TYPE_C_KEY.fullmatch(key):
        kind = "" if key.isalnum() else ", not all letters and digits"
        raise ValueError(f"a type C CDN key is 16 to 32 letters and digits; this one has "
                         f"{len(key)} characters{kind}")


@dataclass(frozen=True, repr=False)
class CDNSigner:
    """Signs URL paths for one CDN domain (immutable, thread-safe). ``repr`` hides the key."""

    auth_type: str
    key: str
    ttl: int = DEFAULT_TTL

    def __post_init__(self) -> None:
        if self.auth_type not in AUTH_TYPES:
            raise ValueError(f"CDN URL authentication type must be one of "
                             f"{', '.join(AUTH_TYPES)}, got {self.auth_type!r}")
        check_key(self.auth_type, self.key)
        if type(self.ttl) is not int or self.ttl < 1:
            raise ValueError(f"the CDN TTL must be a positive int of seconds, got {self.ttl!r}")

    def __repr__(self) -> str:
        return f"CDNSigner(auth_type={self.auth_type!r}, ttl={self.ttl})"

    def sign(self, path: str, expires_at: float, query: str = "",
             rand: str | None = None) -> str:
        """The signed path and query (``/...[?...]``) of a URL for ``path`` that the CDN
        accepts until epoch ``expires_at``. ``query`` (encoded, without ``?``) is kept
        and not covered by the hash; ``rand`` (type A, no ``-``) defaults to a UUID."""
        if not path.startswith("/"):
            raise ValueError(f"a CDN path starts with '/': {path!r}")
        timestamp = int(expires_at) - self.ttl
        if self.auth_type == "A":
            rand = uuid.uuid4().hex if rand is None else rand
            if "-" in rand or not rand:
                raise ValueError(f"rand must be non-empty and without '-': {rand!r}")
            digest = type_a_hash(path, timestamp, rand, "0", self.key)
            auth = f"auth_key={timestamp}-{rand}-0-{digest}"
            return f"{path}?{query}&{auth}" if query else f"{path}?{auth}"
        if self.auth_type == "B":
            stamp = type_b_stamp(timestamp)
            signed = f"/{stamp}/{type_b_hash(path, stamp, self.key)}{path}"
        else:
            hex_timestamp = f"{timestamp:X}"
            signed = f"/{type_c_hash(path, hex_timestamp, self.key)}/{hex_timestamp}{path}"
        return f"{signed}?{query}" if query else signed
