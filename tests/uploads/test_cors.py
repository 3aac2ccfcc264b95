"""Bucket CORS: the client's get/put/delete through oss2 against the emulator, the
emulator's preflight and response headers, the merge rules, and the commands
(``alioss_cors show|set``, the ``cors`` step of ``alioss_check``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import oss2
import pytest
from django.test import override_settings

from django_alioss.client import CorsConfiguration, CorsRule
from django_alioss.cors import allowing_rule, check_origin, merge, post_report
from django_alioss.emulator.store import CorsConfiguration as StoredCors
from django_alioss.emulator.store import CorsRule as StoredRule
from django_alioss.emulator.store import DirectoryStore
from django_alioss.exceptions import OSSAccessDenied
from django_alioss.storage import OSSStorage
from tests.test_commands import run

from .forms import error_message, post_form

SITE = "http://127.0.0.1:8000"
UPLOADS = CorsRule((SITE,), ("POST", "PUT"), ("*",), ("ETag",), 600)


@pytest.fixture
def cors_off(emu: Any) -> Iterator[None]:
    """The session bucket without CORS rules before and after the test."""
    emu.store.set_bucket_cors(emu.bucket_name, None)
    yield
    emu.store.set_bucket_cors(emu.bucket_name, None)


def preflight(http: Any, url: str, origin: str = SITE, method: str = "POST",
              headers: str | None = None) -> Any:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        sent["Access-Control-Request-Headers"] = headers
    return http.options(url, headers=sent, timeout=30)


# --- the client against the emulator -----------------------------------------------------------
def test_put_get_delete_through_the_client(storage: OSSStorage, cors_off: None) -> None:
    client = storage.client
    assert client.get_bucket_cors() == CorsConfiguration()
    other = CorsRule(("https://*.example.com",), ("GET",), (), (), None)
    client.put_bucket_cors(CorsConfiguration((UPLOADS, other), True))
    assert client.get_bucket_cors() == CorsConfiguration((UPLOADS, other), True)
    client.delete_bucket_cors()
    assert client.get_bucket_cors() == CorsConfiguration()


def test_cors_needs_ram_permission(make_storage, emu, cors_off: None) -> None:
    reader = emu.iam.add_user("cors-reader", [{"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "oss:GetObject",
        "Resource": f"acs:oss:*:*:{emu.bucket_name}/*"}]}])
    storage = make_storage(access_key_id=reader.access_key_id,
                           access_key_secret=reader.access_key_secret)
    with pytest.raises(OSSAccessDenied) as denied:
        storage.client.put_bucket_cors(CorsConfiguration((UPLOADS,)))
    assert denied.value.auth_action == "oss:PutBucketCors"


@pytest.mark.parametrize(("body", "code"), [
    ("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH"
     "</AllowedMethod></CORSRule></CORSConfiguration>", "InvalidArgument"),
    ("<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
     "</CORSConfiguration>", "MalformedXML"),
    ("<CORSConfiguration>" + "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
     "</AllowedMethod></CORSRule>" * 11 + "</CORSConfiguration>", "MalformedXML"),
    ("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
     "</AllowedMethod><ExposeHeader>x-*</ExposeHeader></CORSRule></CORSConfiguration>",
     "InvalidArgument"),
])
def test_invalid_configurations(storage: OSSStorage, cors_off: None, body: str,
                                code: str) -> None:
    with pytest.raises(oss2.exceptions.OssError) as refused:
        storage.client.bucket.put_bucket_cors(body)  # the XML as given, signed by oss2
    assert (refused.value.status, refused.value.code) == (400, code)
    assert storage.client.get_bucket_cors() == CorsConfiguration()


# --- preflight and response headers ------------------------------------------------------------
def test_preflight_without_rules_is_refused(emu, http, cors_off: None) -> None:
    response = preflight(http, f"{emu.endpoint}/{emu.bucket_name}/")
    assert response.status_code == 403
    assert error_message(response) == "CORSResponse: CORS is not enabled for this bucket."


def test_preflight_answered_from_the_rules(storage: OSSStorage, emu, http,
                                           cors_off: None) -> None:
    storage.client.put_bucket_cors(CorsConfiguration((UPLOADS,)))
    bucket_url = f"{emu.endpoint}/{emu.bucket_name}/"
    ok = preflight(http, bucket_url, headers="x-requested-with")
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == SITE
    assert ok.headers["Access-Control-Allow-Methods"] == "POST, PUT"
    assert ok.headers["Access-Control-Allow-Headers"] == "x-requested-with"
    assert ok.headers["Access-Control-Max-Age"] == "600"
    assert ok.headers["Vary"] == "Origin"
    object_url = storage.url("some/key.txt").split("?")[0]
    assert preflight(http, object_url, method="PUT").status_code == 200
    for origin, method in (("http://evil.example", "POST"), (SITE, "DELETE")):
        refused = preflight(http, bucket_url, origin=origin, method=method)
        assert refused.status_code == 403 and "not allowed" in error_message(refused)
        assert "Access-Control-Allow-Origin" not in refused.headers


def test_matching_responses_carry_cors_headers(storage: OSSStorage, http,
                                               cors_off: None) -> None:
    storage.client.put_bucket_cors(CorsConfiguration((
        CorsRule((SITE,), ("GET", "POST"), ("*",), ("ETag",), None),)))
    storage.save("c.txt", io.BytesIO(b"c"))
    url = storage.url("c.txt")
    matched = http.get(url, headers={"Origin": SITE}, timeout=30)
    assert matched.headers["Access-Control-Allow-Origin"] == SITE
    assert matched.headers["Vary"] == "Origin"
    assert matched.headers["Access-Control-Expose-Headers"] == "ETag"
    other = http.get(url, headers={"Origin": "http://elsewhere"}, timeout=30)
    assert "Access-Control-Allow-Origin" not in other.headers
    missing = http.get(storage.url("missing.txt"), headers={"Origin": SITE}, timeout=30)
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == SITE  # errors too
    form = post_form(http, storage.generate_presigned_post("f.txt"), headers={"Origin": SITE})
    assert form.status_code == 204 and form.headers["Access-Control-Allow-Origin"] == SITE


def test_rules_persist_in_a_directory_store(tmp_path) -> None:
    rule = StoredRule(("https://a.example",), ("POST",), ("*",), ("ETag",), 60)
    with DirectoryStore(tmp_path) as store:
        store.create_bucket("b")
        store.set_bucket_cors("b", StoredCors((rule,), True))
    with DirectoryStore(tmp_path) as store:
        assert store.get_bucket("b").cors == StoredCors((rule,), True)


# --- merging and reporting (no I/O) ------------------------------------------------------------
def test_merge_keeps_other_rules_and_updates_its_own() -> None:
    theirs = CorsRule(("https://cdn.example.com",), ("GET",), (), (), 30)
    merged = merge(CorsConfiguration((theirs,), True), [SITE + "/"])
    assert merged.rules[0] == theirs and merged.response_vary is True
    assert merged.rules[1] == CorsRule((SITE,), ("POST", "PUT"), ("*",),
                                       ("ETag", "x-oss-request-id"), 600)
    again = merge(merged, [SITE], ["get"], max_age=60)
    assert again.rules[0] == theirs and len(again.rules) == 2
    assert again.rules[1].allowed_methods == ("POST", "PUT", "GET")
    assert again.rules[1].max_age_seconds == 60
    assert merge(again, [SITE], ["GET"], max_age=60) == again


def test_merge_refuses_bad_input() -> None:
    full = CorsConfiguration(tuple(CorsRule((f"https://{n}.example",), ("GET",))
                                   for n in range(10)))
    with pytest.raises(ValueError, match="10 CORS rules"):
        merge(full, [SITE])
    with pytest.raises(ValueError, match="PATCH"):
        merge(CorsConfiguration(), [SITE], ["PATCH"])
    for origin in ("example.com", "https://a.example/path", "https://*.*.example"):
        with pytest.raises(ValueError, match="scheme://host"):
            check_origin(origin)


def test_wildcards_and_first_match() -> None:
    cors = CorsConfiguration((CorsRule(("https://*.example.com",), ("GET",)),
                              CorsRule(("*",), ("POST",))))
    assert allowing_rule(cors, "https://www.EXAMPLE.com", "GET") == 1
    assert allowing_rule(cors, "https://www.example.org", "GET") is None
    assert allowing_rule(cors, "https://anything", "POST") == 2
    assert post_report(cors, ["https://a", "https://b"])[0] == "OK"
    status, detail = post_report(CorsConfiguration(), ["https://a"])
    assert status == "FAIL" and "alioss_cors set --origin https://a" in detail


# --- the commands ------------------------------------------------------------------------------
@pytest.fixture
def configured(emu: Any, location: str, cors_off: None) -> Iterator[dict[str, Any]]:
    options = {"endpoint": emu.endpoint, "bucket_name": emu.bucket_name, "region": emu.region,
               "access_key_id": emu.access_key_id, "access_key_secret": emu.access_key_secret,
               "location": location, "direct_upload_origins": [SITE]}
    with override_settings(STORAGES={"default": {
            "BACKEND": "django_alioss.storage.OSSStorage", "OPTIONS": options}}, DEBUG=True):
        yield options


def test_cors_set_then_show(configured: dict, emu: Any) -> None:
    theirs = StoredRule(("https://cdn.example.com",), ("GET",), (), (), None)
    emu.store.set_bucket_cors(emu.bucket_name, StoredCors((theirs,)))
    output, status = run("alioss_cors", "set", "--dry-run")
    assert status == 0 and "dry run" in output
    assert emu.store.get_bucket(emu.bucket_name).cors.rules == (theirs,)
    output, status = run("alioss_cors", "set", "--origin", "https://app.example",
                         "--origin", SITE, "--method", "POST", "--max-age", "60")
    assert status == 0 and "set 2 CORS rule(s)" in output
    rules = emu.store.get_bucket(emu.bucket_name).cors.rules
    assert rules[0] == theirs
    assert rules[1] == StoredRule(("https://app.example", SITE), ("POST",), ("*",),
                                  ("ETag", "x-oss-request-id"), 60)
    output, _ = run("alioss_cors", "set", "--origin", "https://app.example", "--origin", SITE,
                    "--method", "POST", "--max-age", "60")
    assert "already set" in output
    output, status = run("alioss_cors", "show")
    assert status == 0
    assert "rule 1: origins https://cdn.example.com; methods GET" in output
    assert f"browser uploads (POST) allowed from {SITE} (rule 2)" in output


def test_cors_set_needs_an_origin(configured: dict) -> None:
    with override_settings(STORAGES={"default": {
            "BACKEND": "django_alioss.storage.OSSStorage",
            "OPTIONS": {**configured, "direct_upload_origins": []}}}):
        output, status = run("alioss_cors", "set")
    assert status == 1 and "give --origin" in output


def test_alioss_check_reports_whether_origins_can_post(configured: dict) -> None:
    output, status = run("alioss_check", "--no-probe")
    assert status == 1
    assert f"FAIL cors: browser uploads (POST) refused from {SITE}" in output
    run("alioss_cors", "set")
    output, status = run("alioss_check", "--no-probe")
    assert status == 0, output
    assert f"OK   cors: browser uploads (POST) allowed from {SITE} (rule 1)" in output


def test_alioss_check_warns_when_the_rules_cannot_be_read(configured: dict, emu: Any) -> None:
    writer = emu.iam.add_user("cors-blind", [{"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": "oss:*Object",
        "Resource": f"acs:oss:*:*:{emu.bucket_name}/*"}]}])
    options = {**configured, "access_key_id": writer.access_key_id,
               "access_key_secret": writer.access_key_secret}
    with override_settings(STORAGES={"default": {
            "BACKEND": "django_alioss.storage.OSSStorage", "OPTIONS": options}}):
        output, status = run("alioss_check", "--no-probe")
    assert status == 0, output
    assert "WARN cors: cannot read the bucket's CORS rules" in output
    assert "oss:GetBucketCors" in output
