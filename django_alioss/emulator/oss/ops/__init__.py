"""The OSS operations, grouped: objects, multipart uploads, buckets, listings, form
uploads (PostObject), bucket CORS, symlinks, object tagging and appends.

Each module's ``OPERATIONS`` maps API names (as :mod:`..routing` names requests) to
functions of a :class:`~..context.Call`.
"""

from __future__ import annotations

from ..context import Operation
from . import append, buckets, cors, listing, multipart, objects, post, symlinks, tagging

OPERATIONS: dict[str, Operation] = {
    **objects.OPERATIONS, **multipart.OPERATIONS, **buckets.OPERATIONS, **listing.OPERATIONS,
    **post.OPERATIONS, **cors.OPERATIONS, **symlinks.OPERATIONS, **tagging.OPERATIONS,
    **append.OPERATIONS,
}

__all__ = ["OPERATIONS"]
