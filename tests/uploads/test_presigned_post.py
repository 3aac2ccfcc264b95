"""storage.generate_presigned_post against the emulator: forms signed with static and
RRSA credentials (V4 and V1) upload straight to the bucket, with the storage's ACL,
object parameters, overwrite rule, sizes, types and expiry in the policy."""

from __future__ import annotations

import base64
import calendar
import json
import time
from typing import Any

import pytest
import requests

from django_alioss.storage import OSSStorage

from .forms import error_code, error_message, post_form


def policy_of(form: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(form["fields"]["policy"]))


def expires_in(form: dict[str, Any]) -> float:
    expiration = policy_of(form)["expiration"]
    return calendar.timegm(time.strptime(expiration, "%Y-%m-%dT%H:%M:%S.000Z"))


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_form_upload_with_static_credentials(make_storage, emu, http, version: str) -> None:
    storage = make_storage(signature_version=version)
    form = storage.generate_presigned_post("docs/a.txt", content_type="text/plain")
    assert form["url"] == f"{emu.endpoint}/{emu.bucket_name}/"
    assert "x-oss-security-token" not in form["fields"]
    response = post_form(http, form, b"hello form")
    assert response.status_code == 204, response.text
    assert storage.open("docs/a.txt").read() == b"hello form"
    record = emu.store.head_object(emu.bucket_name, storage.object_key("docs/a.txt"))
    assert record.content_type == "text/plain"
    assert response.headers["ETag"] == f'"{record.etag}"'


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_form_upload_with_rrsa_credentials(rrsa_storage_options, emu, http,
                                           version: str) -> None:
    storage = OSSStorage(**rrsa_storage_options(signature_version=version))
    form = storage.generate_presigned_post("rrsa.bin", max_size=1024)
    fields = form["fields"]
    assert fields["x-oss-security-token"] == storage.credentials.snapshot().security_token
    assert {"x-oss-security-token": fields["x-oss-security-token"]} in policy_of(form)["conditions"]
    assert post_form(http, form, b"\x00" * 1024).status_code == 204
    assert storage.size("rrsa.bin") == 1024


def test_filename_placeholder_names_the_object_after_the_file(storage: OSSStorage, http) -> None:
    form = storage.generate_presigned_post("inbox/${filename}")
    assert form["fields"]["key"] == storage.object_key("inbox/${filename}")
    assert post_form(http, form, b"x", filename="report.pdf").status_code == 204
    assert storage.listdir("inbox") == ([], ["report.pdf"])


def test_filename_placeholder_only_at_the_end(storage: OSSStorage) -> None:
    with pytest.raises(ValueError, match="only allowed at the end"):
        storage.generate_presigned_post("${filename}/x")


def test_acl_and_object_parameters_become_form_fields(make_storage, emu, http) -> None:
    storage = make_storage(default_acl="public-read", object_parameters={
        "Cache-Control": "max-age=60", "x-oss-meta-origin": "browser"})
    form = storage.generate_presigned_post("p.txt")
    fields = form["fields"]
    assert fields["x-oss-object-acl"] == "public-read"
    assert fields["Cache-Control"] == "max-age=60"
    assert post_form(http, form).status_code == 204
    record = emu.store.head_object(emu.bucket_name, storage.object_key("p.txt"))
    assert record.acl == "public-read"
    assert record.headers["Cache-Control"] == "max-age=60"
    assert record.user_meta == {"origin": "browser"}
    # Pinned: the browser cannot change them.
    refused = post_form(http, form, extra={"x-oss-object-acl": "public-read-write"})
    assert refused.status_code == 403 and "Policy Condition failed" in error_message(refused)


def test_fields_are_pinned_and_success_action_status_201(storage: OSSStorage, emu,
                                                         http) -> None:
    form = storage.generate_presigned_post("s.txt", fields={"success_action_status": "201",
                                                            "x-oss-meta-owner": "42"})
    response = post_form(http, form)
    assert response.status_code == 201
    assert f"<Key>{storage.object_key('s.txt')}</Key>" in response.text
    assert f"<Bucket>{emu.bucket_name}</Bucket>" in response.text
    assert post_form(http, form, extra={"x-oss-meta-owner": "7"}).status_code == 403


def test_success_action_redirect(storage: OSSStorage, http) -> None:
    form = storage.generate_presigned_post(
        "r.txt", fields={"success_action_redirect": "http://127.0.0.1:1/done?x=1"})
    response = post_form(http, form, allow_redirects=False)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:1/done?x=1&bucket=")
    assert "key=" + requests.utils.quote(storage.object_key("r.txt"), safe="") in location


def test_forbid_overwrite_with_file_overwrite_false(make_storage, http) -> None:
    storage = make_storage(file_overwrite=False)
    form = storage.generate_presigned_post("once.txt")
    assert form["fields"]["x-oss-forbid-overwrite"] == "true"
    assert post_form(http, form, b"first").status_code == 204
    second = post_form(http, form, b"second")
    assert second.status_code == 409 and error_code(second) == "FileAlreadyExists"
    assert storage.open("once.txt").read() == b"first"


@pytest.mark.parametrize(("size", "code"), [(9, "EntityTooSmall"), (21, "EntityTooLarge")])
def test_size_limits(storage: OSSStorage, http, size: int, code: str) -> None:
    form = storage.generate_presigned_post("sized.bin", min_size=10, max_size=20)
    assert ["content-length-range", 10, 20] in policy_of(form)["conditions"]
    refused = post_form(http, form, b"x" * size)
    assert refused.status_code == 400 and error_code(refused) == code
    assert not storage.exists("sized.bin")
    assert post_form(http, form, b"x" * 20).status_code == 204


@pytest.mark.parametrize(("content_type", "sent", "ok"), [
    ("image/png", None, True),
    ("image/", "image/jpeg", True),
    ("image/", "text/html", False),
    (("image/png", "image/gif"), "image/gif", True),
    (("image/png", "image/gif"), "image/jpeg", False),
])
def test_content_types(storage: OSSStorage, emu, http, content_type: Any, sent: str | None,
                       ok: bool) -> None:
    form = storage.generate_presigned_post("pic", content_type=content_type)
    extra = {"Content-Type": sent} if sent else {}
    response = post_form(http, form, extra=extra)
    if not ok:
        assert response.status_code == 403 and error_code(response) == "AccessDenied"
        assert not storage.exists("pic")
        return
    assert response.status_code == 204, response.text
    record = emu.store.head_object(emu.bucket_name, storage.object_key("pic"))
    assert record.content_type == (sent or content_type)


def test_expiry_defaults_to_querystring_expire_at_most_seven_days(make_storage) -> None:
    storage = make_storage(querystring_expire=600)
    assert abs(expires_in(storage.generate_presigned_post("e")) - (time.time() + 600)) < 5
    week = 7 * 24 * 3600
    assert abs(expires_in(storage.generate_presigned_post("e", expire=30 * 24 * 3600))
               - (time.time() + week)) < 5
    with pytest.raises(ValueError, match="expire"):
        storage.generate_presigned_post("e", expire=0)


def test_rrsa_form_never_outlives_the_credentials(rrsa_storage_options) -> None:
    storage = OSSStorage(**rrsa_storage_options(role_duration=900))
    expiration = storage.credentials.snapshot().expiration
    assert expiration is not None
    form = storage.generate_presigned_post("short", expire=7200)
    assert expires_in(form) <= expiration + 1
    assert expires_in(form) < time.time() + 901


def test_presigned_put_url_uploads_too(storage: OSSStorage, http) -> None:
    """The single-request alternative the README documents beside the form."""
    url = storage.url("put.txt", http_method="PUT")
    assert http.put(url, data=b"put", timeout=30).status_code == 200
    assert storage.open("put.txt").read() == b"put"


def test_generating_a_form_sends_no_request(storage: OSSStorage, ops) -> None:
    storage.generate_presigned_post("nothing-sent")
    assert ops.total() == 0
