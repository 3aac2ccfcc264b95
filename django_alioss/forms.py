"""A form field and widget that upload files from the browser straight to the bucket.

:class:`DirectUploadField` replaces ``forms.FileField``/``ImageField`` for a model
``FileField``/``ImageField`` on an OSS storage. Its widget renders a file input without
a ``name`` (the file never reaches Django), a hidden input, a progress bar and a fresh
:class:`~django_alioss.direct_uploads.UploadTicket`; ``direct_upload.js`` (a static
asset, no dependencies) POSTs the file to the bucket when it is chosen and puts the
ticket's token and the file name in the hidden input. On submit the field checks them
(:func:`~django_alioss.direct_uploads.accept`: one HEAD) and cleans to the object's
name, which the model field stores as is: nothing is copied.

- In the admin: :class:`DirectUploadAdminMixin` (tokens bound to the admin user).
- Elsewhere: :func:`formfield_for` builds the field from a model field (its storage,
  ``max_length``, images only for an ``ImageField``); :func:`bind_owner` ties a form's
  fields to the request's user or session so that nobody else's upload is accepted.
The bucket's CORS rules must let the page's origin POST (``manage.py alioss_cors set``).
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.storage import default_storage
from django.db import models
from django.http import HttpRequest

from .direct_uploads import DirectUploadRejected, UploadTicket, accept, issue
from .storage import OSSStorage
from .urls import ContentTypes

IMAGE_TYPES = "image/"


def request_owner(request: HttpRequest) -> str:
    """Who a ticket is issued to: ``user:<pk>`` when logged in, else ``session:<key>``
    (the session is created if needed)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    session = getattr(request, "session", None)
    if session is None:
        raise ImproperlyConfigured("direct uploads need request.user or request.session to "
                                   "bind tickets to (AuthenticationMiddleware, SessionMiddleware)")
    if session.session_key is None:
        session.save()
    return f"session:{session.session_key}"


class DirectUploadWidget(forms.ClearableFileInput):
    """The file input, the hidden answer, progress and status; see the module doc."""

    template_name = "django_alioss/widgets/direct_upload.html"
    field: DirectUploadField | None = None
    """The field that issues tickets (set by the field; None renders no ticket)."""

    class Media:
        js = ("django_alioss/direct_upload.js",)

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget = context["widget"]
        ticket = self.field.issue() if self.field is not None else None
        widget["ticket"] = ticket.as_json() if isinstance(ticket, UploadTicket) else ""
        widget["answer"] = value if isinstance(value, str) else ""  # kept across re-renders
        if widget["answer"]:  # already uploaded: the empty file input is not missing
            widget["attrs"].pop("required", None)
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        """The hidden answer (not a file); False to clear, as ClearableFileInput does."""
        answer = data.get(name) or None
        clear = forms.CheckboxInput().value_from_datadict(data, files,
                                                          self.clear_checkbox_name(name))
        if not self.is_required and clear:
            return forms.widgets.FILE_INPUT_CONTRADICTION if answer else False
        return answer

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and self.clear_checkbox_name(name) not in data


class DirectUploadField(forms.FileField):
    """Cleans the browser's answer to the name of an object it uploaded (see the module
    doc). ``storage`` defaults to ``default_storage``; ``owner`` (see
    :func:`request_owner`) binds tickets to a user; ``max_size``, ``min_size`` and
    ``content_type`` go into the upload policy and are checked again on submit."""

    widget = DirectUploadWidget

    def __init__(self, *, storage: OSSStorage | None = None, owner: str | None = None,
                 max_size: int | None = None, min_size: int = 0,
                 content_type: ContentTypes = None, expire: int | None = None,
                 **kwargs: Any) -> None:
        kwargs.pop("allow_empty_file", None)
        super().__init__(**kwargs)
        self.storage = storage
        self.owner = owner
        self.max_size = max_size
        self.min_size = min_size
        self.content_type = content_type
        self.expire = expire
        self.widget.field = self

    def __deepcopy__(self, memo: dict[int, Any]) -> DirectUploadField:
        result = super().__deepcopy__(memo)
        result.widget = copy.copy(result.widget)
        result.widget.field = result
        return result

    def oss_storage(self) -> OSSStorage:
        storage = default_storage if self.storage is None else self.storage
        if not isinstance(storage, OSSStorage):
            raise ImproperlyConfigured("DirectUploadField needs a django-alioss storage "
                                       f"(OSSStorage), got {type(storage).__name__}")
        return storage

    def issue(self) -> UploadTicket:
        """A fresh ticket for the widget (no request is sent)."""
        return issue(self.oss_storage(), owner=self.owner, max_size=self.max_size,
                     min_size=self.min_size, content_type=self.content_type,
                     expire=self.expire)

    def bound_data(self, data: Any, initial: Any) -> Any:
        """A submitted answer is rendered again with the form's errors: the file need not
        be uploaded twice (it is checked again on the next submit)."""
        return data if isinstance(data, str) and data else initial

    def to_python(self, data: Any) -> Any:
        if data in self.empty_values:
            return None
        if not isinstance(data, str):
            raise ValidationError("Upload the file with the file input.", code="invalid")
        try:
            return accept(self.oss_storage(), data, owner=self.owner,
                          max_length=self.max_length)
        except DirectUploadRejected as exc:
            raise ValidationError(str(exc), code=exc.code) from None


def formfield_for(db_field: models.FileField, *, owner: str | None = None,
                  **options: Any) -> DirectUploadField:
    """A :class:`DirectUploadField` for a model ``FileField``: its storage, its
    ``max_length`` and label, images only for an ``ImageField`` (override with
    ``content_type=``)."""
    if isinstance(db_field, models.ImageField):
        options.setdefault("content_type", IMAGE_TYPES)
    options.setdefault("storage", db_field.storage)
    field = db_field.formfield(form_class=DirectUploadField, owner=owner, **options)
    assert isinstance(field, DirectUploadField)
    return field


def bind_owner(form: forms.BaseForm, request: HttpRequest) -> forms.BaseForm:
    """Bind every :class:`DirectUploadField` of ``form`` to the request's user/session
    (before the form renders or validates); returns the form."""
    owner = request_owner(request)
    for field in form.fields.values():
        if isinstance(field, DirectUploadField):
            field.owner = owner
    return form


class DirectUploadAdminMixin:
    """For a ``ModelAdmin``: the model's ``FileField``s (or those named in
    ``direct_upload_fields``) upload from the browser, tickets bound to the admin user."""

    direct_upload_fields: tuple[str, ...] | None = None

    def formfield_for_dbfield(self, db_field: models.Field[Any, Any], request: HttpRequest,
                              **kwargs: Any) -> forms.Field | None:
        wanted = self.direct_upload_fields
        if isinstance(db_field, models.FileField) and (wanted is None or db_field.name in wanted):
            kwargs.pop("widget", None)
            return formfield_for(db_field, owner=request_owner(request), **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
