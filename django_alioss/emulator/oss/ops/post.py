"""PostObject: a browser form uploading one object to the bucket (``POST /``).

The form's fields come first (:mod:`..formdata`), then the file, streamed into the
store while its size is checked against the policy's ``content-length-range``. Order
of the checks: form shape, signature (:meth:`~...auth.Verifier.authenticate_form`),
policy expiration and conditions (:mod:`..postpolicy`), key, RAM policy
(``oss:PutObject`` on the key) or ACL, ``x-oss-forbid-overwrite``, size, and last the
file being the form's last field. Nothing is stored unless every check passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from ...auth import AuthError
from ...httpserver import Response
from ...store import (
    DEFAULT_CONTENT_TYPE,
    OBJECT_ACLS,
    ObjectAlreadyExists,
    ObjectAttributes,
    ObjectRecord,
    StoreError,
    WrittenBlob,
)
from ..context import Call, Operation
from ..errors import WireError, from_store_error, invalid_argument
from ..formdata import FilePart, FormError, FormReader, form_boundary
from ..parsing import STANDARD_HEADERS
from ..postpolicy import Policy, check_policy, parse_policy
from ..routing import key_error
from ..wire import echo, etag_header, xml_document

FILENAME = "${filename}"
MALFORMED = "The body of your POST request is not well-formed multipart/form-data."


def _malformed(exc: FormError) -> WireError:
    return WireError(400, "MalformedPOSTRequest", f"{MALFORMED} {exc}",
                     ec="0006-00000107" if exc.missing_file else "0006-00000104")


def _object_key(fields: Mapping[str, str], part: FilePart, bucket: str) -> str:
    """The form's ``key`` with ``${filename}`` replaced by the file's name."""
    if "key" not in fields:
        raise invalid_argument("The form must contain a key field.", "key", "")
    key = fields["key"].replace(FILENAME, part.filename)
    if error := key_error(key):
        raise WireError(400, "InvalidObjectName", error, {"BucketName": bucket, "Key": echo(key)})
    return key


def _attributes(fields: Mapping[str, str], part: FilePart) -> ObjectAttributes:
    """Content-Type (the field, else the file part's), standard headers, metadata, ACL."""
    headers = {name: fields[name.lower()] for name in STANDARD_HEADERS if name.lower() in fields}
    meta = {name.removeprefix("x-oss-meta-"): value for name, value in fields.items()
            if name.startswith("x-oss-meta-")}
    acl = fields.get("x-oss-object-acl") or "default"
    if acl not in OBJECT_ACLS:
        raise invalid_argument("no such object access control exists", "x-oss-object-acl", acl)
    content_type = fields.get("content-type") or part.content_type or DEFAULT_CONTENT_TYPE
    return ObjectAttributes(content_type, headers, meta, acl)


def _receive(call: Call, form: FormReader, low: int, high: int) -> WrittenBlob:
    """Stream the file into the store: at most ``high`` bytes (EntityTooLarge as soon as
    they are passed), at least ``low``; then the end of the form."""
    writer = call.store.new_writer()
    try:
        for chunk in form.file_chunks():
            writer.write(chunk)
            if writer.size > high:
                raise WireError(400, "EntityTooLarge", "Your proposed upload exceeds the "
                                "maximum allowed size.", {"MaxSizeAllowed": str(high)})
        if writer.size < low:
            raise WireError(400, "EntityTooSmall", "Your proposed upload is smaller than the "
                            "minimum allowed size.", {"MinSizeAllowed": str(low),
                                                      "ProposedSize": str(writer.size)})
        form.finish()
    except FormError as exc:
        writer.discard()
        raise _malformed(exc) from None
    except BaseException:
        writer.discard()
        raise
    return writer.finish()


def _success(call: Call, fields: Mapping[str, str], key: str, record: ObjectRecord) -> Response:
    """204 (default), 200 or 201 with a PostResponse document, as
    ``success_action_status`` asks; 303 to ``success_action_redirect`` when given."""
    etag = etag_header(record.etag)
    headers = [("ETag", etag), ("x-oss-hash-crc64ecma", str(record.crc64))]
    redirect = fields.get("success_action_redirect")
    if redirect:
        query = urlencode({"bucket": call.bucket, "key": key, "etag": etag})
        location = redirect + ("&" if "?" in redirect else "?") + query
        return Response(303, [*headers, ("Location", location)])
    status = fields.get("success_action_status", "")
    if status == "201":
        host = call.request.host
        base = (f"http://{host}/{call.bucket}/" if call.route.style == "path"
                else f"http://{host}/")
        body = xml_document("PostResponse", [("Bucket", call.bucket), ("ETag", etag),
                                             ("Key", key), ("Location", base + quote(key))])
        return Response(201, [("Content-Type", "application/xml"), *headers], body)
    return Response(200 if status == "200" else 204, headers)


def _policy(call: Call, fields: Mapping[str, str]) -> Policy | None:
    if "policy" not in fields:
        return None
    policy = parse_policy(fields["policy"])
    check_policy(policy, fields, call.bucket, call.now())
    return policy


def post_object(call: Call) -> Response:
    request = call.request
    try:
        form = FormReader(request.body, form_boundary(request.header("Content-Type")))
        part = form.read_fields()
    except FormError as exc:
        raise _malformed(exc) from None
    fields = form.fields
    try:
        identity = call.oss.verifier.authenticate_form(fields)
    except AuthError as exc:
        raise WireError(exc.status, exc.code, exc.message, exc.details) from None
    request.access_key_id = identity.access_key_id
    policy = _policy(call, fields)
    key = _object_key(fields, part, call.bucket)
    upload = dataclasses.replace(call, identity=identity,
                                 route=dataclasses.replace(call.route, key=key))
    upload.authorize_object("oss:PutObject", write=True)
    attributes = _attributes(fields, part)
    forbid = fields.get("x-oss-forbid-overwrite", "").strip().lower() == "true"
    try:
        if forbid and call.store.exists(call.bucket, key):
            raise ObjectAlreadyExists(key)
        low, high = (policy.size_range if policy and policy.size_range
                     else (0, call.oss.max_object_size))
        written = _receive(call, form, low, min(high, call.oss.max_object_size))
        record = call.store.commit_object(call.bucket, key, written, attributes,
                                          forbid_overwrite=forbid, now=call.now())
    except StoreError as exc:
        raise from_store_error(exc, call.bucket, key) from None
    return _success(call, fields, key, record)


OPERATIONS: dict[str, Operation] = {"PostObject": post_object}
