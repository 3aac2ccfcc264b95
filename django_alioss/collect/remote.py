"""What the storage's prefix holds, from one listing, and when an object holds given content.

:class:`RemoteIndex` lists the prefix once (ListObjectsV2, 1,000 keys a page) the first
time it is asked; every later question is answered from that listing. The rule of
:meth:`RemoteIndex.holds`: the object exists with the same size, and its ETag is the MD5
of the bytes (a simple PutObject), or, when the ETag is not an MD5 (multipart), the
:data:`~.stored.CONTENT_MD5` metadata a ``collectstatic`` run stored says so (one HEAD).
An ETag that is an MD5 of other bytes, or a missing hash, means "changed": a file is
never skipped unless OSS proves it holds the same bytes; modification times play no part.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from .stored import CONTENT_MD5

if TYPE_CHECKING:
    from ..client import ListedObject, OSSClient

SIMPLE_ETAG = re.compile(r"^[0-9A-Fa-f]{32}$")
"""The ETag of a simple PutObject (an MD5); multipart ETags end in ``-<parts>``."""


class RemoteIndex:
    """The objects under ``prefix`` when first asked."""

    def __init__(self, client: OSSClient, prefix: str) -> None:
        self._client = client
        self.prefix = prefix
        self._objects: dict[str, ListedObject] | None = None
        self._lock = threading.Lock()

    def objects(self) -> dict[str, ListedObject]:
        """Key -> listed object, listed on first use (every page)."""
        with self._lock:
            if self._objects is None:
                objects: dict[str, ListedObject] = {}
                for page in self._client.iter_list(self.prefix):
                    objects.update((o.key, o) for o in page.objects
                                   if not o.key.endswith("/"))
                self._objects = objects
            return self._objects

    def get(self, key: str) -> ListedObject | None:
        return self.objects().get(key)

    def forget(self, key: str) -> None:
        """``key`` is gone (deleted by this run)."""
        self.objects().pop(key, None)

    def holds(self, key: str, md5: str, size: int) -> bool:
        """Whether ``key`` holds exactly the ``size`` bytes whose MD5 is ``md5``."""
        listed = self.get(key)
        if listed is None or listed.size != size:
            return False
        if listed.etag.lower() == md5:
            return True
        if SIMPLE_ETAG.match(listed.etag):
            return False  # the MD5 of other bytes
        try:
            stored = self._client.head_object(key).metadata.get(CONTENT_MD5)
        except FileNotFoundError:
            return False
        return stored is not None and stored.lower() == md5
