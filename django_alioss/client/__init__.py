"""The oss2 seam: one bucket client per storage, retries, and error translation.

All object I/O of the backend goes through :class:`OSSClient`. It owns one
``oss2.Bucket`` with one shared, thread-safe session (no per-thread clients), built
lazily (no network in ``__init__``) and dropped when pickled. oss2 itself never
retries, so :meth:`OSSClient.call` retries transient failures (network errors, 5xx,
429, CRC mismatches) of idempotent requests and of uploads whose body can be rewound,
with exponential backoff and jitter; and when OSS says the STS token expired it asks
the credentials provider for a refresh and retries once.

Nothing of oss2 leaves this package: every method returns the small typed results of
:mod:`.results` (and :class:`~.body.ObjectBody` for streamed reads) and raises
:class:`~django_alioss.exceptions.OSSError` subclasses whose exception chain holds
nothing of the SDK's (its errors may quote the signed request, security token
included). Moving to another SDK changes this package only.

- :mod:`.core`: :class:`ClientConfig`, :class:`OSSClient`;
- :mod:`.results`: the typed results;
- :mod:`.body`: streamed GetObject bodies;
- :mod:`.errors`: retry policy, error translation, CRC-64 checks;
- :mod:`.transport`: the HTTP session under oss2.
"""

from .body import ObjectBody
from .core import ClientConfig, OSSClient
from .errors import RETRY_BASE, RETRY_CAP, TOKEN_ERRORS, is_transient, translate
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
)

__all__ = [
    "RETRY_BASE", "RETRY_CAP", "TOKEN_ERRORS", "ClientConfig", "CorsConfiguration", "CorsRule",
    "ListPage", "ListedObject",
    "MultipartListing", "OSSClient", "ObjectBody", "ObjectMeta", "ObjectRange",
    "UploadInfo", "UploadStart", "UploadedPart", "is_transient", "translate",
]
