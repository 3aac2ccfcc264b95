"""``OSSStorage.url``: no network, signed V4/V1 URLs that work, expire and carry
response overrides; unsigned URLs; public endpoints; STS tokens; oss2 parity."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import oss2
import pytest
import requests
from django.core.files.base import ContentFile

from django_alioss.storage import OSSStaticStorage, OSSStorage

StorageFactory = Callable[..., OSSStorage]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def fetch(url: str, **kwargs: Any) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=10, **kwargs)


def error_code(response: requests.Response) -> str:
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


def test_url_makes_no_request(storage_v: OSSStorage, emu) -> None:
    storage_v.save("n.txt", ContentFile(b"n"))
    before = emu.controls.log.count()
    for _ in range(3):
        storage_v.url("n.txt")
    storage_v.url("missing/as/well.txt", expire=10)
    assert emu.controls.log.count() == before


def test_signed_url_fetches_the_bytes(storage_v: OSSStorage) -> None:
    data = b"signed content \x00\xff"
    storage_v.save("dir/file name.bin", ContentFile(data))
    url = storage_v.url("dir/file name.bin")
    params = query(url)
    if storage_v.signature_version == "v4":
        assert params["x-oss-signature-version"] == "OSS4-HMAC-SHA256"
        assert params["x-oss-expires"] == "3600"
    else:
        assert int(params["Expires"]) - time.time() == pytest.approx(3600, abs=5)
        assert "Signature" in params
    response = fetch(url)
    assert response.status_code == 200, response.text
    assert response.content == data


def test_signed_url_expires(storage_v: OSSStorage, emu) -> None:
    storage_v.save("e.txt", ContentFile(b"e"))
    url = storage_v.url("e.txt", expire=60)
    assert fetch(url).status_code == 200
    emu.controls.clock.advance(61)
    response = fetch(url)
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied" and "expired" in response.text


def set_emulator_time(emu, epoch: float) -> None:
    """Make the emulator's clock read ``epoch`` now (it then runs on with the wall clock)."""
    emu.controls.clock.set_offset(epoch - time.time())


def test_querystring_expire_option_sets_the_default(make_storage: StorageFactory, emu) -> None:
    """The URL is valid for querystring_expire (120 s), not the 3600 s default.

    Times are set relative to the URL's own whole-second ``x-oss-date``, 30 s either side
    of its expiry: a margin that the wall clock running during the test cannot eat.
    """
    storage = make_storage(querystring_expire=120)
    storage.save("q.txt", ContentFile(b"q"))
    url = storage.url("q.txt")
    params = query(url)
    assert params["x-oss-expires"] == "120"
    signed_at = calendar.timegm(time.strptime(params["x-oss-date"], "%Y%m%dT%H%M%SZ"))
    set_emulator_time(emu, signed_at + 120 - 30)
    assert fetch(url).status_code == 200
    set_emulator_time(emu, signed_at + 120 + 30)
    response = fetch(url)
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied" and "expired" in response.text


def test_response_content_disposition(storage_v: OSSStorage) -> None:
    storage_v.save("report.pdf", ContentFile(b"%PDF-1.4"))
    disposition = 'attachment; filename="Q3 report.pdf"'
    url = storage_v.url("report.pdf", parameters={
        "response-content-disposition": disposition,
        "response-content-type": "application/x-download"})
    response = fetch(url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"] == disposition
    assert response.headers["Content-Type"] == "application/x-download"
    assert response.content == b"%PDF-1.4"


def test_url_for_put_uploads(storage_v: OSSStorage, emu) -> None:
    url = storage_v.url("upload/direct.bin", http_method="put", expire=300)
    with requests.Session() as session:
        session.trust_env = False
        response = session.put(url, data=b"uploaded by a browser", timeout=10)
    assert response.status_code == 200, response.text
    key = f"{storage_v.location}/upload/direct.bin"
    assert emu.store.get_object_bytes(emu.bucket_name, key) == b"uploaded by a browser"


def test_custom_domain_urls_are_unsigned(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(custom_domain="cdn.example.com")
    before = emu.controls.log.count()
    url = storage.url("a b/ü.txt")
    assert url == f"https://cdn.example.com/{storage.location}/a%20b/%C3%BC.txt"
    assert storage.url("x.css", parameters={"v": "2"}).endswith("/x.css?v=2")
    plain = make_storage(custom_domain="static.example.org", url_protocol="http:")
    assert plain.url("x.js") == f"http://static.example.org/{storage.location}/x.js"
    assert emu.controls.log.count() == before


def test_querystring_auth_false_gives_plain_urls(make_storage: StorageFactory) -> None:
    storage = make_storage(querystring_auth=False)
    storage.save("private.txt", ContentFile(b"p"))
    url = storage.url("private.txt")
    assert urlsplit(url).query == ""
    assert url.endswith(f"/{quote(storage.location, safe='')}%2Fprivate.txt")
    assert fetch(url).status_code == 403  # the object itself is private


@pytest.mark.parametrize("cls", [OSSStorage, OSSStaticStorage])
def test_public_read_objects_get_unsigned_urls_that_work(make_storage: StorageFactory,
                                                         cls: type[OSSStorage]) -> None:
    storage = make_storage(cls, default_acl="public-read")
    storage.save("pub.txt", ContentFile(b"public"))
    url = storage.url("pub.txt")
    assert urlsplit(url).query == ""
    response = fetch(url)
    assert response.status_code == 200 and response.content == b"public"


def test_static_storage_is_unsigned_by_default(make_storage: StorageFactory) -> None:
    storage = make_storage(OSSStaticStorage)
    assert storage.querystring_auth is False
    assert urlsplit(storage.url("css/site.css")).query == ""
    signed = make_storage(OSSStaticStorage, querystring_auth=True)
    assert "x-oss-signature" in signed.url("css/site.css")


def test_public_endpoint_in_urls_uploads_through_endpoint(make_storage: StorageFactory,
                                                          emu, ops) -> None:
    storage = make_storage(public_endpoint="https://oss-cn-hangzhou.aliyuncs.com")
    storage.save("vpc.txt", ContentFile(b"through the internal endpoint"))
    assert ops.changed() == {"PutObject": 1}
    url = storage.url("vpc.txt")
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.netloc == f"{emu.bucket_name}.oss-cn-hangzhou.aliyuncs.com"
    # The signature covers /bucket/key, not the host: the same URL works path-style.
    emulated = urlunsplit(("http", urlsplit(emu.endpoint).netloc,
                           f"/{emu.bucket_name}{parts.path}", parts.query, ""))
    response = fetch(emulated)
    assert response.status_code == 200, response.text
    assert response.content == b"through the internal endpoint"


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_url_is_byte_identical_to_oss2_sign_url(make_storage: StorageFactory, emu,
                                                version: str) -> None:
    storage = make_storage(signature_version=version)
    auth = (oss2.AuthV4 if version == "v4" else oss2.Auth)(emu.access_key_id,
                                                           emu.access_key_secret)
    bucket = oss2.Bucket(auth, emu.endpoint, emu.bucket_name, region=emu.region)
    name = "parity/ä b+c.txt"
    params = {"response-content-disposition": "inline"}
    while True:
        second = int(time.time())
        theirs = bucket.sign_url("GET", f"{storage.location}/{name}", 600, params=dict(params))
        ours = storage.url(name, parameters=params, expire=600)
        if int(time.time()) == second:
            break
    assert ours == theirs


# --- STS (RRSA) credentials ------------------------------------------------------------------
@pytest.mark.parametrize("version", ["v4", "v1"])
def test_rrsa_urls_carry_the_token_and_work(rrsa_storage_options, emu, version: str) -> None:
    storage = OSSStorage(**rrsa_storage_options(signature_version=version))
    storage.save("sts.txt", ContentFile(b"via sts"))
    url = storage.url("sts.txt")
    snapshot = storage.credentials.snapshot()
    params = query(url)
    token_param = "x-oss-security-token" if version == "v4" else "security-token"
    assert params[token_param] == snapshot.security_token
    assert snapshot.access_key_id.startswith("STS.")
    response = fetch(url)
    assert response.status_code == 200 and response.content == b"via sts"


def test_rrsa_urls_never_outlive_the_credentials(rrsa_storage_options, emu) -> None:
    storage = OSSStorage(**rrsa_storage_options(role_duration=900, querystring_expire=7200))
    storage.save("short.txt", ContentFile(b"short-lived"))
    url = storage.url("short.txt")
    snapshot = storage.credentials.snapshot()
    assert snapshot.expiration is not None
    params = query(url)
    signed_at = calendar.timegm(time.strptime(params["x-oss-date"], "%Y%m%dT%H%M%SZ"))
    expires = int(params["x-oss-expires"])
    assert 1 <= expires <= 900
    assert signed_at + expires <= snapshot.expiration
    longer = storage.url("short.txt", expire=86400)
    assert int(query(longer)["x-oss-expires"]) <= 900
    assert fetch(url).status_code == 200
    emu.controls.clock.advance(snapshot.expiration - time.time() + 1)
    response = fetch(url)
    assert response.status_code == 403
    assert error_code(response) in ("AccessDenied", "SecurityTokenExpired")


def test_static_credentials_urls_are_not_capped(storage: OSSStorage) -> None:
    assert query(storage.url("x", expire=7 * 24 * 3600))["x-oss-expires"] == str(7 * 24 * 3600)
