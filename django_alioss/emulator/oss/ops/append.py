"""AppendObject (``POST /key?append&position=N``): Appendable objects grown by appends,
answered with ``x-oss-next-append-position`` and the whole object's CRC-64."""

from __future__ import annotations

from ...httpserver import Response
from ...store import ObjectAttributes
from ...store.features import PositionNotEqualToLength
from ..context import Call, Operation
from ..errors import WireError
from ..parsing import attributes, int_param, receive
from ..wire import etag_header

NEXT_POSITION = "x-oss-next-append-position"


def append_object(call: Call) -> Response:
    request = call.request
    position = int_param(request, "position", -1, 0, 5 * 1024 ** 3)
    if position < 0:
        raise WireError(400, "InvalidArgument", "AppendObject needs a position.",
                        {"ArgumentName": "position", "ArgumentValue": ""})
    call.authorize_object("oss:PutObject", write=True)
    # Type, metadata, ACL and tags are the first append's; later appends ignore them.
    wanted = attributes(request) if position == 0 else ObjectAttributes()
    written = receive(request, call.store, call.oss.max_object_size)
    try:
        record = call.store.append_object(call.bucket, call.key, position, written, wanted,
                                          now=call.now())
    except PositionNotEqualToLength as exc:
        raise WireError(409, "PositionNotEqualToLength",
                        "Position is not equal to file length",
                        headers=[(NEXT_POSITION, str(exc.length))]) from None
    return Response(200, [(NEXT_POSITION, str(record.size)),
                          ("ETag", etag_header(record.etag)),
                          ("x-oss-hash-crc64ecma", str(record.crc64))])


OPERATIONS: dict[str, Operation] = {"AppendObject": append_object}
