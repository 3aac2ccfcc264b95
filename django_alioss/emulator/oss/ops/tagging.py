"""Object tagging: Put/Get/DeleteObjectTagging, the ``x-oss-tagging`` header of uploads
(read by :func:`..parsing.attributes`) and the copy's ``x-oss-tagging-directive``."""

from __future__ import annotations

from collections.abc import Mapping

from ...httpserver import Response
from ...store import NoSuchKey, ObjectRecord
from ..context import Call, Operation
from ..errors import invalid_argument, malformed_xml
from ..parsing import checked_tags, header_tags, read_xml
from ..wire import xml_document, xml_response


def copy_tags(call: Call, record: ObjectRecord) -> ObjectRecord:
    """Apply ``x-oss-tagging-directive`` to a copy: ``Copy`` (default) keeps the source's
    tags, ``Replace`` sets those of ``x-oss-tagging``."""
    directive = (call.request.header("x-oss-tagging-directive") or "Copy").lower()
    if directive not in ("copy", "replace"):
        raise invalid_argument("x-oss-tagging-directive must be Copy or Replace.",
                               "x-oss-tagging-directive", directive)
    if directive == "copy":
        return record
    return call.store.set_object_tags(call.bucket, call.key, header_tags(call.request))


def tagging_document(tags: Mapping[str, str]) -> bytes:
    return xml_document("Tagging", [("TagSet", [
        ("Tag", [("Key", key), ("Value", value)]) for key, value in tags.items()])])


def put_object_tagging(call: Call) -> Response:
    if call.authorize_object("oss:PutObjectTagging", write=True) is None:
        raise NoSuchKey(call.key)
    pairs = []
    for node in read_xml(call.request, "Tagging").iter("Tag"):
        key = node.findtext("Key")
        if key is None:
            raise malformed_xml("Each Tag needs a Key.")
        pairs.append((key, node.findtext("Value") or ""))
    call.store.set_object_tags(call.bucket, call.key, checked_tags(pairs))
    return Response(200)


def get_object_tagging(call: Call) -> Response:
    if call.authorize_object("oss:GetObjectTagging", write=False) is None:
        raise NoSuchKey(call.key)
    return xml_response(tagging_document(call.store.head_object(call.bucket, call.key).tags))


def delete_object_tagging(call: Call) -> Response:
    if call.authorize_object("oss:DeleteObjectTagging", write=True) is None:
        raise NoSuchKey(call.key)
    call.store.set_object_tags(call.bucket, call.key, {})
    return Response(204)


OPERATIONS: dict[str, Operation] = {
    "PutObjectTagging": put_object_tagging,
    "GetObjectTagging": get_object_tagging,
    "DeleteObjectTagging": delete_object_tagging,
}
