"""PostObject in the emulator, driven by forms from storage.generate_presigned_post and
posted as a browser would: bad forms are refused with OSS's errors and store nothing;
RAM policies, ACLs, addressing styles and the request log."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from django_alioss.storage import OSSStorage

from .forms import error_code, error_message, post_form


def assert_refused(response: Any, status: int, code: str, storage: OSSStorage,
                   name: str = "bad.txt") -> None:
    assert (response.status_code, error_code(response)) == (status, code), response.text
    assert not storage.exists(name)


def test_key_outside_the_policy_prefix(storage: OSSStorage, http) -> None:
    form = storage.generate_presigned_post("inbox/${filename}")
    form["fields"]["key"] = storage.object_key("elsewhere/${filename}")
    response = post_form(http, form, filename="bad.txt")
    assert_refused(response, 403, "AccessDenied", storage, "elsewhere/bad.txt")
    assert error_message(response).startswith(
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key"')


def test_expired_policy(storage: OSSStorage, emu, http) -> None:
    form = storage.generate_presigned_post("bad.txt", expire=60)
    emu.controls.clock.advance(61)
    response = post_form(http, form)
    assert_refused(response, 403, "AccessDenied", storage)
    assert error_message(response) == "Invalid according to Policy: Policy expired."


@pytest.mark.parametrize("version", ["v4", "v1"])
@pytest.mark.parametrize("tamper", ["policy", "signature"])
def test_tampered_policy_or_signature(make_storage, http, version: str, tamper: str) -> None:
    storage = make_storage(signature_version=version)
    form = storage.generate_presigned_post("bad.txt", max_size=10)
    fields = form["fields"]
    if tamper == "policy":  # a bigger size limit, signature unchanged
        document = json.loads(base64.b64decode(fields["policy"]))
        document["conditions"][-1] = ["content-length-range", 0, 10 ** 9]
        fields["policy"] = base64.b64encode(json.dumps(document).encode()).decode()
    else:
        name = "x-oss-signature" if version == "v4" else "Signature"
        fields[name] = fields[name][:-4] + ("AAAA" if fields[name][-4:] != "AAAA" else "BBBB")
    assert_refused(post_form(http, form, b"x" * 100), 403, "SignatureDoesNotMatch", storage)


def test_missing_file_field(storage: OSSStorage, http) -> None:
    form = storage.generate_presigned_post("bad.txt")
    response = http.post(form["url"], files={k: (None, v) for k, v in form["fields"].items()},
                         timeout=30)
    assert_refused(response, 400, "MalformedPOSTRequest", storage)
    assert response.headers["x-oss-ec"] == "0006-00000107"


def test_file_field_not_last(storage: OSSStorage, http) -> None:
    form = storage.generate_presigned_post("bad.txt")
    parts: list[tuple[str, Any]] = [(k, (None, v)) for k, v in form["fields"].items()]
    parts.append(("file", ("bad.txt", b"body", "text/plain")))
    parts.append(("x-oss-meta-late", (None, "after the file")))
    response = http.post(form["url"], files=parts, timeout=30)
    assert_refused(response, 400, "MalformedPOSTRequest", storage)
    assert "last field" in error_message(response)


def test_not_multipart(storage: OSSStorage, http) -> None:
    form = storage.generate_presigned_post("bad.txt")
    response = http.post(form["url"], data=form["fields"], timeout=30)  # url-encoded
    assert_refused(response, 400, "MalformedPOSTRequest", storage)


def test_form_of_a_storage_on_another_bucket(make_storage, emu, http) -> None:
    storage = make_storage()
    if not emu.store.has_bucket("other-bucket-direct"):
        emu.store.create_bucket("other-bucket-direct")
    other = make_storage(bucket_name="other-bucket-direct", location=storage.location)
    form = other.generate_presigned_post("bad.txt")
    form["url"] = storage.generate_presigned_post("bad.txt")["url"]  # posted to ours
    response = post_form(http, form)
    assert_refused(response, 403, "AccessDenied", storage)
    assert '{"bucket": "other-bucket-direct"}' in error_message(response)


def test_form_of_credentials_without_put_permission(make_storage, emu, http) -> None:
    reader = emu.iam.add_user("direct-reader", [{"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "oss:GetObject",
        "Resource": f"acs:oss:*:*:{emu.bucket_name}/*"}]}])
    storage = make_storage(access_key_id=reader.access_key_id,
                           access_key_secret=reader.access_key_secret)
    response = post_form(http, storage.generate_presigned_post("bad.txt"))
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "<AuthAction>oss:PutObject</AuthAction>" in response.text


def test_ram_policy_scoped_to_a_prefix(make_storage, emu, http, location: str) -> None:
    writer = emu.iam.add_user(f"direct-writer-{location[-8:]}", [{"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "oss:PutObject",
        "Resource": f"acs:oss:*:*:{emu.bucket_name}/{location}/allowed/*"}]}])
    storage = make_storage(access_key_id=writer.access_key_id,
                           access_key_secret=writer.access_key_secret)
    assert post_form(http, storage.generate_presigned_post("allowed/a.txt")).status_code == 204
    refused = post_form(http, storage.generate_presigned_post("denied/a.txt"))
    assert refused.status_code == 403 and "oss:PutObject" in refused.text
    assert emu.store.list_keys(emu.bucket_name, f"{location}/denied") == []


def test_anonymous_form_needs_a_public_read_write_bucket(emu, http, location: str) -> None:
    bucket = "public-write-direct"
    if not emu.store.has_bucket(bucket):
        emu.store.create_bucket(bucket, "public-read-write")
    url = f"{emu.endpoint}/{bucket}/"
    anonymous = http.post(url, data={"key": f"{location}/anon.txt"},
                          files={"file": ("anon.txt", b"anon")}, timeout=30)
    assert anonymous.status_code == 204
    private = http.post(f"{emu.endpoint}/{emu.bucket_name}/", data={"key": f"{location}/a"},
                        files={"file": ("a", b"a")}, timeout=30)
    assert (private.status_code, error_code(private)) == (403, "AccessDenied")


def test_virtual_host_style(storage: OSSStorage, emu, http) -> None:
    form = storage.generate_presigned_post("vhost.txt")
    host = f"{emu.bucket_name}.oss-{emu.region}.aliyuncs.com"
    response = post_form(http, {"url": f"http://{host}/", "fields": form["fields"]},
                         proxies={"http": emu.endpoint})
    assert response.status_code == 204, response.text
    assert storage.exists("vhost.txt")


def test_meta_fields_and_acl_stored(storage: OSSStorage, emu, http) -> None:
    form = storage.generate_presigned_post("meta.txt", fields={
        "x-oss-meta-Color": "blue", "Content-Disposition": "attachment"})
    assert post_form(http, form).status_code == 204
    record = emu.store.head_object(emu.bucket_name, storage.object_key("meta.txt"))
    assert record.user_meta == {"color": "blue"}
    assert record.headers["Content-Disposition"] == "attachment"
    assert record.acl == "default"


def test_request_log_names_the_signer(storage: OSSStorage, emu, http, ops) -> None:
    assert post_form(http, storage.generate_presigned_post("log.txt")).status_code == 204
    assert ops.changed() == {"PostObject": 1}
    entry = emu.controls.log.entries()[-1]
    assert (entry.operation, entry.access_key_id) == ("PostObject", emu.access_key_id)


def test_header_signatures_are_ignored(storage: OSSStorage, http) -> None:
    """A presigned-URL query on a PostObject does not authenticate it: only the form does."""
    form = storage.generate_presigned_post("q.txt")
    signed = storage.url("q.txt", http_method="POST")
    query = signed.split("?", 1)[1]
    response = post_form(http, {"url": form["url"] + "?" + query, "fields": form["fields"]})
    assert response.status_code == 204
