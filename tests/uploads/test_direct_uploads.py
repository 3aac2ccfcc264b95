"""The Django side of browser uploads: tickets, the checks on submit (a forged or
foreign token, another user's upload, a missing, too large or mistyped object are
validation errors, never saved references), the form field and widget, the admin mixin,
and the cleanup of abandoned uploads."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.core import signing
from django.core.files.storage import default_storage, storages
from django.core.management import call_command
from django.test import RequestFactory, override_settings

from django_alioss.direct_uploads import (
    DirectUploadRejected,
    UploadTicket,
    accept,
    issue,
    stale_uploads,
)
from django_alioss.forms import (
    DirectUploadAdminMixin,
    DirectUploadField,
    bind_owner,
    formfield_for,
    request_owner,
)
from django_alioss.storage import OSSStorage
from tests.backend.conftest import static_options
from tests.testapp.models import Document, Photo

OWNER = "user:7"


def upload(http: Any, ticket: UploadTicket, content: bytes = b"contract",
           name: str = "contract.pdf", content_type: str = "application/pdf") -> str:
    """Upload as direct_upload.js does; return the browser's answer for the form."""
    fields = dict(ticket.fields)
    fields["key"] = fields["key"].replace("${filename}", name)
    fields.setdefault("Content-Type", content_type)
    response = http.post(ticket.url, data=fields, files={"file": (name, content)}, timeout=30)
    assert response.status_code == 204, response.text
    return answer(ticket, name)


def answer(ticket: UploadTicket, name: str) -> str:
    return json.dumps({"token": ticket.token, "name": name})


def rejected(storage: OSSStorage, value: str, owner: str | None = OWNER,
             **kwargs: Any) -> str:
    with pytest.raises(DirectUploadRejected) as refused:
        accept(storage, value, owner=owner, **kwargs)
    return refused.value.code


@pytest.fixture
def media(emu: Any, location: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[OSSStorage]:
    """default_storage (the test models' storage) and STORAGES["default"] on the emulator."""
    options = {**static_options(emu), "location": location}
    with override_settings(STORAGES={
            "default": {"BACKEND": "django_alioss.storage.OSSStorage", "OPTIONS": options},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}):
        # Django < 5.1 rebuilds STORAGES["default"] from its BACKEND alone under an
        # override (the README's quirk): give the handler the options again.
        monkeypatch.setattr(storages, "_backends", dict(settings.STORAGES))
        monkeypatch.setattr(storages, "_storages", {})
        storage = OSSStorage(**options)
        monkeypatch.setattr(default_storage, "_wrapped", storage)
        yield storage


class DocumentForm(forms.ModelForm):
    """As the README shows it."""

    attachment = formfield_for(Document._meta.get_field("attachment"))

    class Meta:
        model = Document
        fields = ["title", "attachment"]


# --- accept -----------------------------------------------------------------------------------
def test_accepted_upload_is_assigned_without_copying(db, media: OSSStorage, http, ops) -> None:
    ticket = issue(media, owner=OWNER, max_size=100, content_type="application/")
    value = upload(http, ticket)
    ops.reset()
    form = DocumentForm({"title": "t", "attachment": value})
    bind_owner(form, type("Request", (), {"user": User(pk=7)})())
    assert form.is_valid(), form.errors
    assert ops.changed() == {"HeadObject": 1}  # one HEAD, no copy, no upload
    document = form.save()
    assert document.attachment.name.startswith(f"{media.direct_upload_prefix}/")
    assert document.attachment.name.endswith("/contract.pdf")
    assert ops.changed() == {"HeadObject": 1}
    assert Document.objects.get(pk=document.pk).attachment.read() == b"contract"


def test_rrsa_credentials_issue_and_accept(rrsa_storage_options, http) -> None:
    storage = OSSStorage(**rrsa_storage_options())
    ticket = issue(storage, owner=OWNER)
    assert "x-oss-security-token" in ticket.fields
    name = accept(storage, upload(http, ticket), owner=OWNER)
    assert storage.open(name).read() == b"contract"


def test_forged_and_foreign_tokens(storage: OSSStorage, make_storage, http) -> None:
    ticket = issue(storage, owner=OWNER)
    value = upload(http, ticket)
    assert accept(storage, value, owner=OWNER)
    forged = json.loads(value)
    forged["token"] = forged["token"][:-2] + ("aa" if forged["token"][-2:] != "aa" else "bb")
    assert rejected(storage, json.dumps(forged)) == "forged"
    payload = signing.loads(ticket.token, salt="django_alioss.direct_uploads")
    payload["p"] = "elsewhere/"  # a key prefix the server never issued, signed elsewhere
    self_made = signing.dumps(payload, salt="someone-else")
    assert rejected(storage, answer(ticket, "contract.pdf").replace(ticket.token, self_made)
                    ) == "forged"
    assert rejected(make_storage(location=storage.location + "-other"), value) == "storage"
    assert rejected(storage, value, owner="user:8") == "owner"
    assert rejected(storage, value, owner=None) == "owner"
    assert rejected(storage, "not json") == "invalid"


def test_missing_object(storage: OSSStorage) -> None:
    ticket = issue(storage, owner=OWNER)
    assert rejected(storage, answer(ticket, "never-uploaded.pdf")) == "missing"


@pytest.mark.parametrize("name", ["a/b.pdf", "..", "", "x\\y", "n" * 300, "0123abcd/..",
                                  "0123ABCD/b.pdf", "01/23abcd/b.pdf", "0123abcd/", "/b.pdf"])
def test_bad_names(storage: OSSStorage, name: str) -> None:
    assert rejected(storage, answer(issue(storage, owner=OWNER), name)) == "name"


def test_rows_sharing_a_ticket_upload_into_slots_of_their_own(storage: OSSStorage,
                                                              http) -> None:
    """Inline rows the admin clones share one ticket: direct_upload.js puts each upload
    in its own ``<8 hex>/`` slot, so two files of the same name are two objects."""
    ticket = issue(storage, owner=OWNER)
    first = accept(storage, upload(http, ticket, b"first", name="0123abcd/scan.pdf"),
                   owner=OWNER)
    second = accept(storage, upload(http, ticket, b"second", name="89abcdef/scan.pdf"),
                    owner=OWNER)
    assert first != second and first.endswith("/0123abcd/scan.pdf")
    assert storage.open(first).read() == b"first" and storage.open(second).read() == b"second"


def test_name_longer_than_the_model_field(storage: OSSStorage) -> None:
    ticket = issue(storage, owner=OWNER)
    assert rejected(storage, answer(ticket, "n" * 60 + ".pdf"), max_length=100) == "name"


def test_object_too_large_or_of_another_type(storage: OSSStorage, emu) -> None:
    """The object is put there behind the policy's back: the server checks again."""
    ticket = issue(storage, owner=OWNER, max_size=10, content_type=("image/png",))
    prefix = signing.loads(ticket.token, salt="django_alioss.direct_uploads")["p"]
    key = storage.object_key(prefix + "big.png")
    emu.store.put_object_bytes(emu.bucket_name, key, b"x" * 11, content_type="image/png")
    assert rejected(storage, answer(ticket, "big.png")) == "size"
    key = storage.object_key(prefix + "page.png")
    emu.store.put_object_bytes(emu.bucket_name, key, b"x", content_type="text/html")
    assert rejected(storage, answer(ticket, "page.png")) == "content_type"


def test_expired_token(storage: OSSStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = issue(storage, owner=OWNER)
    later = time.time() + 25 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert rejected(storage, answer(ticket, "x.pdf")) == "expired"


# --- the form field and widget ---------------------------------------------------------------
def test_invalid_forms_save_nothing(db, media: OSSStorage, http) -> None:
    value = upload(http, issue(media, owner="user:1"))
    form = DocumentForm({"title": "t", "attachment": value})  # no owner bound: refused
    assert not form.is_valid()
    assert form.errors["attachment"] == ["This upload belongs to another user."]
    assert form.errors.as_data()["attachment"][0].code == "owner"
    with pytest.raises(ValueError):
        form.save()
    assert not Document.objects.exists()


def test_widget_renders_a_ticket_and_no_named_file_input(media: OSSStorage) -> None:
    form = DocumentForm()
    html = str(form["attachment"])
    assert 'type="file"' in html and 'name="attachment"' in html
    assert html.count("name=") == 1  # only the hidden answer is posted, never the file
    ticket = json.loads(html.split('data-alioss-upload="', 1)[1].split('"', 1)[0]
                        .replace("&quot;", '"').replace("&amp;", "&"))
    assert ticket["url"] == media.urls.signer.bucket_url
    assert ticket["fields"]["key"].startswith(f"{media.location}/{media.direct_upload_prefix}/")
    assert "django_alioss/direct_upload.js" in str(form.media)
    again = DocumentForm({"title": "", "attachment": '{"token": "t", "name": "n"}'})
    assert not again.is_valid()
    rerendered = str(again["attachment"])
    assert "&quot;name&quot;: &quot;n&quot;" in rerendered and "required" not in rerendered


def test_clearing_contradiction_and_keeping(db, media: OSSStorage) -> None:
    class OptionalForm(forms.Form):
        attachment = DirectUploadField(required=False)

    cleared = OptionalForm({"attachment-clear": "on"}, initial={"attachment": "a/b.pdf"})
    assert cleared.is_valid() and cleared.cleaned_data["attachment"] is False
    both = OptionalForm({"attachment-clear": "on", "attachment": "{}"})
    assert not both.is_valid() and both.errors.as_data()["attachment"][0].code == "contradiction"
    kept = DocumentForm({"title": "t2"}, instance=Document.objects.create(
        title="t", attachment="direct-uploads/y/kept.pdf"))
    assert kept.is_valid() and kept.save().attachment.name == "direct-uploads/y/kept.pdf"


def test_formfield_for_an_image_field(media: OSSStorage) -> None:
    field = formfield_for(Photo._meta.get_field("image"), owner=OWNER)
    assert field.content_type == "image/" and field.owner == OWNER
    assert field.max_length == 100
    policy = json.loads(base64.b64decode(field.issue().fields["policy"]))
    assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]


def test_request_owner() -> None:
    request = RequestFactory().get("/")
    request.user = User(pk=3)
    assert request_owner(request) == "user:3"

    class Session(dict):
        session_key = None

        def save(self) -> None:
            self.session_key = "abc"

    anonymous = RequestFactory().get("/")
    anonymous.session = Session()
    assert request_owner(anonymous) == "session:abc"


def test_admin_mixin_binds_the_admin_user(media: OSSStorage) -> None:
    class DocumentAdmin(DirectUploadAdminMixin, admin.ModelAdmin):
        pass

    request = RequestFactory().get("/admin/testapp/document/add/")
    request.user = User(pk=11, is_staff=True, is_superuser=True)
    form_class = DocumentAdmin(Document, admin.AdminSite()).get_form(request)
    field = form_class().fields["attachment"]
    assert isinstance(field, DirectUploadField) and field.owner == "user:11"
    assert field.widget.field is field  # each form's copy issues its own tickets


# --- abandoned uploads -----------------------------------------------------------------------
def test_cleanup_deletes_only_old_unattached_uploads(db, media: OSSStorage, emu) -> None:
    bucket, prefix = emu.bucket_name, media.direct_upload_prefix
    old = time.time() - 3 * 86400
    names = {what: f"{prefix}/{what}/f.bin" for what in ("attached", "abandoned", "fresh")}
    for what, name in names.items():
        emu.store.put_object_bytes(bucket, media.object_key(name), b"x",
                                   now=time.time() - 60 if what == "fresh" else old)
    emu.store.put_object_bytes(bucket, media.object_key("documents/old.bin"), b"x", now=old)
    Document.objects.create(title="kept", attachment=names["attached"])
    stale = [key for key, _ in stale_uploads(media, 86400, time.time())]
    assert stale == [media.object_key(names["abandoned"])]

    out = io.StringIO()
    call_command("alioss_cleanup_uploads", "--older-than", "24h", "--direct-uploads",
                 "--dry-run", stdout=out)
    assert "1 unattached browser upload(s)" in out.getvalue() and media.exists(
        names["abandoned"])
    call_command("alioss_cleanup_uploads", "--older-than", "24h", "--direct-uploads",
                 stdout=out)
    assert "deleted 1 unattached browser upload(s)" in out.getvalue()
    assert not media.exists(names["abandoned"])
    assert all(media.exists(n) for n in (names["attached"], names["fresh"], "documents/old.bin"))


def test_references_through_a_storage_with_another_location(db, media: OSSStorage, make_storage,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            emu) -> None:
    """A row naming the object through a storage at the bucket's root keeps it too."""
    key = media.object_key(f"{media.direct_upload_prefix}/z/kept.bin")
    emu.store.put_object_bytes(emu.bucket_name, key, b"x", now=time.time() - 3 * 86400)
    root = make_storage(location="")
    monkeypatch.setattr(Document._meta.get_field("attachment"), "storage", root)
    Document.objects.create(title="via root", attachment=key)
    assert [k for k, _ in stale_uploads(media, 86400, time.time())] == []
