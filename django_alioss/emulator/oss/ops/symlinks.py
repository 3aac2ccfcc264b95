"""Symlinks: PutSymlink (``x-oss-symlink-target``) and GetSymlink. GetObject and
HeadObject follow a symlink to its target (see the store's ``open_object``)."""

from __future__ import annotations

from urllib.parse import quote, unquote

from ...httpserver import Response
from ..context import Call, Operation
from ..errors import invalid_argument
from ..parsing import attributes, forbid_overwrite
from ..routing import key_error
from ..wire import etag_header, http_date

TARGET_HEADER = "x-oss-symlink-target"


def put_symlink(call: Call) -> Response:
    request = call.request
    call.authorize_object("oss:PutObject", write=True)
    raw = request.header(TARGET_HEADER) or ""
    target = unquote(raw)
    if key_error(target):
        raise invalid_argument("The symlink target is not a valid object name.",
                               TARGET_HEADER, raw)
    request.body.drain()
    record = call.store.put_symlink(call.bucket, call.key, target,
                                    call.store.new_writer().finish(), attributes(request),
                                    forbid_overwrite=forbid_overwrite(request), now=call.now())
    return Response(200, [("ETag", etag_header(record.etag))])


def get_symlink(call: Call) -> Response:
    call.authorize_object("oss:GetObject", write=False)
    record = call.store.symlink_target(call.bucket, call.key)
    assert record.symlink_target is not None
    headers = [(TARGET_HEADER, quote(record.symlink_target, safe="/")),
               ("ETag", etag_header(record.etag)),
               ("Last-Modified", http_date(record.last_modified))]
    headers += [(f"x-oss-meta-{name}", value) for name, value in record.user_meta.items()]
    return Response(200, headers)


OPERATIONS: dict[str, Operation] = {
    "PutSymlink": put_symlink,
    "GetSymlink": get_symlink,
}
