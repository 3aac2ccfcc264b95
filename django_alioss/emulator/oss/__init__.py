"""The emulated OSS service, as a package.

- :mod:`.service`: :class:`OSSService`, the dispatch (route, authenticate, run, answer);
- :mod:`.routing`: addressing and the table of request shapes -> operation names;
- :mod:`.wire`: XML documents, dates, continuation tokens;
- :mod:`.errors`: :class:`WireError`, the EC table and the store-error table;
- :mod:`.access`: RAM policies and ACLs;
- :mod:`.parsing`: what requests say (attributes, Content-MD5, ranges, conditions, bodies);
- :mod:`.ops`: the operations on objects, multipart uploads, buckets and listings.
"""

from __future__ import annotations

from .errors import ERROR_EC, WireError
from .parsing import MAX_PART_NUMBER
from .routing import MAX_KEY_BYTES, Route
from .service import MAX_OBJECT_SIZE, OSSService

__all__ = ["ERROR_EC", "MAX_KEY_BYTES", "MAX_OBJECT_SIZE", "MAX_PART_NUMBER", "OSSService",
           "Route", "WireError"]
