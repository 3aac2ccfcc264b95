"""Uploads that go from the browser straight to the bucket, checked before a model keeps
them. The form field and widget (:mod:`django_alioss.forms`) are built on this.

- :func:`issue` gives a page an :class:`UploadTicket`: a form for a fresh key prefix
  under the storage's ``direct_upload_prefix`` (``storage.generate_presigned_post``)
  and a token, signed with Django's signing (``SECRET_KEY``), naming that prefix, the
  limits and the owner (a user or session).
- :func:`accept` takes what the browser sends back (the token and the file's name) and
  returns the storage name, or raises :class:`DirectUploadRejected`: the token must be
  one this site issued (less than :data:`TOKEN_MAX_AGE` ago) for this storage and this
  owner, and one HEAD must find the object within the size limits and content types.
  Nothing is copied: the object stays where the browser put it.
- :func:`stale_uploads` lists uploads under the prefix older than an age that no
  ``FileField`` row names, through any storage on the bucket (abandoned forms), for
  ``alioss_cleanup_uploads``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.db import models

from .client import ListedObject
from .exceptions import InvalidObjectName, OSSFileNotFound
from .signing_policy import FILENAME_PLACEHOLDER
from .storage import OSSStorage
from .urls import ContentTypes

SALT = "django_alioss.direct_uploads"
TOKEN_MAX_AGE = 24 * 3600
"""Seconds a form may take from rendering to submission."""
MAX_FILENAME = 255
_BAD_NAME_CHARACTERS = ("/", "\\", "\x00")
_UPLOAD_SLOT = re.compile(r"[0-9a-f]{8}")


class DirectUploadRejected(ValueError):
    """The browser's answer cannot be accepted; ``code`` names why (``invalid``,
    ``forged``, ``expired``, ``storage``, ``owner``, ``name``, ``missing``, ``size``,
    ``content_type``) and the message says it to people."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class UploadTicket:
    """What a page needs to upload one file: the form (``url``, ``fields``) and the
    ``token`` to send back with the file's name."""

    url: str
    fields: dict[str, str]
    token: str

    def as_json(self) -> str:
        return json.dumps({"url": self.url, "fields": self.fields, "token": self.token})


def _place(storage: OSSStorage) -> list[str]:
    """What tells storages apart for tokens and references: endpoint, bucket, location."""
    return [storage.endpoint, storage.bucket_name, storage.location]


def issue(storage: OSSStorage, *, owner: str | None = None, max_size: int | None = None,
          min_size: int = 0, content_type: ContentTypes = None,
          expire: int | None = None) -> UploadTicket:
    """A ticket for one upload under a new random prefix; no request is sent."""
    prefix = f"{storage.direct_upload_prefix.strip('/')}/{secrets.token_hex(16)}/"
    form = storage.generate_presigned_post(
        prefix + FILENAME_PLACEHOLDER, max_size=max_size, min_size=min_size,
        content_type=content_type, expire=expire)
    types = [content_type] if isinstance(content_type, str) else content_type
    token = signing.dumps({"p": prefix, "o": owner, "mn": min_size, "mx": max_size,
                           "ct": None if types is None else list(types),
                           "s": _place(storage)}, salt=SALT, compress=True)
    return UploadTicket(form["url"], form["fields"], token)


def _read(value: str) -> tuple[dict[str, Any], str]:
    """The token's payload and the file name from the browser's JSON answer."""
    try:
        answer = json.loads(value)
        token, name = answer["token"], answer["name"]
        if not isinstance(token, str) or not isinstance(name, str):
            raise TypeError
    except (ValueError, TypeError, KeyError):
        raise DirectUploadRejected("The upload could not be read: upload the file again.",
                                   "invalid") from None
    try:
        payload = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise DirectUploadRejected("The upload form expired: reload the page and upload "
                                   "the file again.", "expired") from None
    except signing.BadSignature:
        raise DirectUploadRejected("This upload was not issued by this site.",
                                   "forged") from None
    return payload, name


def _check_name(name: str, prefix: str, max_length: int | None) -> str:
    """``prefix`` + ``name`` once ``name`` is a plain file name, optionally behind the
    upload's own slot (``<8 hex digits>/``: direct_upload.js puts each upload of a page
    in one, so two rows sharing a ticket never write the same key)."""
    slot, separator, filename = name.rpartition("/")
    if separator and not _UPLOAD_SLOT.fullmatch(slot):
        raise DirectUploadRejected(f"{name!r} is not a valid file name.", "name")
    if (not filename or filename in (".", "..") or len(filename) > MAX_FILENAME
            or any(c in filename for c in _BAD_NAME_CHARACTERS)):
        raise DirectUploadRejected(f"{name!r} is not a valid file name.", "name")
    full = prefix + name
    if max_length is not None and len(full) > max_length:
        raise DirectUploadRejected(f"The file name is too long ({len(full)} characters with "
                                   f"its folder, at most {max_length}).", "name")
    return full


def content_type_allowed(content_type: str, allowed: Sequence[str] | None) -> bool:
    """Whether ``content_type`` is one of ``allowed`` (an entry ending with ``/`` is a
    prefix); None allows every type."""
    if allowed is None:
        return True
    return any(content_type.startswith(t) if t.endswith("/") else content_type == t
               for t in allowed)


def accept(storage: OSSStorage, value: str, *, owner: str | None = None,
           max_length: int | None = None) -> str:
    """The storage name of the upload ``value`` (the browser's JSON ``{"token", "name"}``)
    describes, after the checks above (one HEAD request); DirectUploadRejected else."""
    payload, filename = _read(value)
    if payload.get("s") != _place(storage):
        raise DirectUploadRejected("This upload was issued for another storage.", "storage")
    if payload.get("o") != owner:
        raise DirectUploadRejected("This upload belongs to another user.", "owner")
    name = _check_name(filename, payload["p"], max_length)
    try:
        key = storage.object_key(name)
    except (InvalidObjectName, SuspiciousFileOperation):
        raise DirectUploadRejected(f"{filename!r} is not a valid file name.", "name") from None
    try:
        meta = storage.client.head_object(key)
    except OSSFileNotFound:
        raise DirectUploadRejected(f"The uploaded file {filename!r} was not found in the "
                                   "bucket: upload it again.", "missing") from None
    low, high = payload.get("mn") or 0, payload.get("mx")
    if meta.size < low or (high is not None and meta.size > high):
        limit = f"at least {low}" if meta.size < low else f"at most {high}"
        raise DirectUploadRejected(f"The file has {meta.size} bytes; {limit} are allowed.",
                                   "size")
    if not content_type_allowed(meta.content_type, payload.get("ct")):
        raise DirectUploadRejected(f"Files of type {meta.content_type or 'unknown'!r} are "
                                   "not allowed here.", "content_type")
    return name


# --- abandoned uploads -----------------------------------------------------------------------
def referenced_keys(storage: OSSStorage, key_prefix: str) -> set[str]:
    """Keys under ``key_prefix`` in ``storage``'s bucket that a ``FileField`` of any
    installed model names (through any django-alioss storage on that bucket, whatever
    its ``location``). A storage that cannot be built raises: nothing is then deleted."""
    keys: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not isinstance(field, models.FileField):
                continue
            other = field.storage
            if not isinstance(other, OSSStorage) or other.bucket_name != storage.bucket_name:
                continue  # (bucket names are unique: any endpoint reaches the same bucket)
            base = f"{other.location}/" if other.location else ""
            if not (key_prefix.startswith(base) or base.startswith(key_prefix)):
                continue
            rows = model._default_manager.filter(
                **{f"{field.name}__startswith": key_prefix[len(base):]})
            keys.update(base + name for name in rows.values_list(field.name, flat=True))
    return keys


def stale_uploads(storage: OSSStorage, older_than: float, now: float
                  ) -> Iterator[tuple[str, ListedObject]]:
    """``(key, object)`` of every upload under ``direct_upload_prefix`` last modified
    ``older_than`` seconds or more before ``now`` that no model row references."""
    prefix = storage.direct_upload_prefix.strip("/") + "/"
    key_prefix = f"{storage.location}/{prefix}" if storage.location else prefix
    referenced = referenced_keys(storage, key_prefix)
    for page in storage.client.iter_list(key_prefix):
        for listed in page.objects:
            if now - listed.last_modified >= older_than and listed.key not in referenced:
                yield listed.key, listed
