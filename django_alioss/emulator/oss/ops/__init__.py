"""The OSS operations, grouped: objects, multipart uploads, buckets, listings, form
uploads (PostObject) and bucket CORS.

Each module's ``OPERATIONS`` maps API names (as :mod:`..routing` names requests) to
functions of a :class:`~..context.Call`.
"""

from __future__ import annotations

from ..context import Operation
from . import buckets, cors, listing, multipart, objects, post

OPERATIONS: dict[str, Operation] = {
    **objects.OPERATIONS, **multipart.OPERATIONS, **buckets.OPERATIONS, **listing.OPERATIONS,
    **post.OPERATIONS, **cors.OPERATIONS,
}

__all__ = ["OPERATIONS"]
