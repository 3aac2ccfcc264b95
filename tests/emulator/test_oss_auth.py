"""Authentication and authorization of the emulated OSS: every signing flavour oss2
produces, presigned URLs fetched with requests, and each way a request is refused."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import oss2
import pytest
from conftest import BUCKET, REGION, OSSEnv
from oss2.credentials import Credentials, StaticCredentialsProvider
from oss2.exceptions import AccessDenied, ServerError


def _error(response) -> ET.Element:
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    return root


def _allow(*resources: str, actions: tuple[str, ...] = ("oss:*",)) -> dict:
    return {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}]}


class CountingProvider:
    """A credentials provider oss2 calls on every request (like the backend's)."""

    def __init__(self, ak: str, sk: str, token: str | None = None) -> None:
        self.credentials = Credentials(ak, sk, token)
        self.calls = 0

    def get_credentials(self) -> Credentials:
        self.calls += 1
        return self.credentials


@pytest.mark.parametrize("flavour", ["v1", "v4", "provider-v1", "provider-v4",
                                     "sts-v1", "sts-v4", "sts-provider-v4"])
def test_signing_flavours(oss: OSSEnv, prefix: str, flavour: str) -> None:
    role = oss.role(f"role-{flavour}", [_allow("*")])
    session = oss.session_for(role)
    user = oss.admin
    if flavour == "v1":
        auth = oss.auth()
    elif flavour == "v4":
        auth = oss.auth(version="v4")
    elif flavour == "provider-v1":
        auth = oss2.ProviderAuth(StaticCredentialsProvider(user.access_key_id,
                                                           user.access_key_secret))
    elif flavour == "provider-v4":
        auth = oss2.ProviderAuthV4(CountingProvider(user.access_key_id, user.access_key_secret))
    elif flavour == "sts-v1":
        auth = oss.sts_auth(session)
    elif flavour == "sts-v4":
        auth = oss.sts_auth(session, "v4")
    else:
        auth = oss2.ProviderAuthV4(CountingProvider(
            session.access_key_id, session.access_key_secret, session.security_token))
    bucket = oss.bucket(auth)
    key = prefix + "signed ключ+%.txt"
    md5 = base64.b64encode(hashlib.md5(b"signed").digest()).decode()
    bucket.put_object(key, b"signed", headers={"x-oss-meta-a": "1", "Content-MD5": md5})
    assert bucket.get_object(key, byte_range=(0, 1)).read() == b"si"
    assert bucket.head_object(key).content_length == 6
    assert [o.key for o in bucket.list_objects_v2(prefix).object_list] == [key]
    bucket.delete_object(key)
    expected_ak = session.access_key_id if flavour.startswith("sts") else user.access_key_id
    assert oss.controls.log.entries(service="oss")[-1].access_key_id == expected_ak
    provider = getattr(auth, "credentials_provider", None)
    if isinstance(provider, CountingProvider):
        assert provider.calls >= 4


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_urls(oss: OSSEnv, prefix: str, version: str) -> None:
    bucket = oss.bucket(oss.auth(version=version))
    key = prefix + "report 2024#1.csv"
    put_url = bucket.sign_url("PUT", key, 300, headers={"Content-Type": "text/csv"})
    response = oss.http.put(put_url, data=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["ETag"].startswith('"')
    assert oss.store.head_object(BUCKET, key).content_type == "text/csv"

    get_url = bucket.sign_url("GET", key, 300, params={
        "response-content-disposition": 'attachment; filename="r.csv"'})
    response = oss.http.get(get_url)
    assert response.status_code == 200, response.text
    assert response.content == b"a,b\n1,2\n"
    assert response.headers["Content-Disposition"] == 'attachment; filename="r.csv"'

    # The signature covers the Content-Type the URL was signed with.
    response = oss.http.put(put_url, data=b"x", headers={"Content-Type": "image/png"})
    assert response.status_code == 403
    assert _error(response).findtext("Code") == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_url_with_sts_credentials(oss: OSSEnv, prefix: str, version: str) -> None:
    session = oss.session_for(oss.role(f"url-role-{version}", [_allow("*")]), lifetime=1200)
    bucket = oss.bucket(oss.sts_auth(session, version))
    bucket.put_object(prefix + "sts", b"sts body")
    url = bucket.sign_url("GET", prefix + "sts", 3600)
    query = dict(parse_qsl(urlsplit(url).query))
    assert session.security_token in (query.get("security-token"),
                                      query.get("x-oss-security-token"))
    assert oss.http.get(url).content == b"sts body"
    assert oss.controls.log.entries()[-1].access_key_id == session.access_key_id
    # The URL dies with the token, although it was signed for an hour.
    oss.controls.clock.advance(1300)
    response = oss.http.get(url)
    assert response.status_code == 403
    assert _error(response).findtext("Code") == "SecurityTokenExpired"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_expired_presigned_url(oss: OSSEnv, prefix: str, version: str) -> None:
    bucket = oss.bucket(oss.auth(version=version))
    bucket.put_object(prefix + "exp", b"x")
    url = bucket.sign_url("GET", prefix + "exp", 60)
    assert oss.http.get(url).status_code == 200
    oss.controls.clock.advance(61)
    response = oss.http.get(url)
    assert response.status_code == 403
    error = _error(response)
    assert (error.findtext("Code"), error.findtext("Message")) == (
        "AccessDenied", "Request has expired.")
    assert error.findtext("Expires") and error.findtext("ServerTime")


def test_v4_url_expiry_bounds(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket(oss.auth(version="v4"))
    url = bucket.sign_url("GET", prefix + "any", 604801)
    response = oss.http.get(url)
    assert response.status_code == 400
    assert _error(response).findtext("Code") == "InvalidArgument"


def _swap_path(url: str, new_key: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{BUCKET}/{new_key}"))


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_tampered_requests(oss: OSSEnv, prefix: str, version: str) -> None:
    bucket = oss.bucket(oss.auth(version=version))
    bucket.put_object(prefix + "a", b"A")
    bucket.put_object(prefix + "b", b"B")
    url = bucket.sign_url("GET", prefix + "a", 60)
    response = oss.http.get(_swap_path(url, prefix + "b"))  # signed for another key
    assert response.status_code == 403
    error = _error(response)
    assert error.findtext("Code") == "SignatureDoesNotMatch"
    assert error.findtext("OSSAccessKeyId") == oss.admin.access_key_id
    assert error.findtext("SignatureProvided")
    signed_text = error.findtext("StringToSign" if version == "v1" else "CanonicalRequest")
    assert f"/{BUCKET}/{prefix}b" in signed_text

    # A signed query parameter added afterwards breaks the signature too.
    parts = urlsplit(url)
    extra = urlencode({"response-content-type": "text/html"})
    response = oss.http.get(urlunsplit(parts._replace(query=parts.query + "&" + extra)))
    assert response.status_code == 403
    assert _error(response).findtext("Code") == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_wrong_secret_and_unknown_key(oss: OSSEnv, prefix: str, version: str) -> None:
    auth_class = oss2.AuthV4 if version == "v4" else oss2.Auth
    bucket = oss.bucket(auth_class(oss.admin.access_key_id, "not-the-secret"))
    with pytest.raises(ServerError) as exc:
        bucket.put_object(prefix + "x", b"x")
    error = exc.value
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert error.details["OSSAccessKeyId"] == oss.admin.access_key_id
    assert error.details["StringToSign"].startswith(
        "PUT\n" if version == "v1" else "OSS4-HMAC-SHA256\n")
    assert error.details["SignatureProvided"]
    assert not oss.store.exists(BUCKET, prefix + "x")

    bucket = oss.bucket(auth_class("LTAI5tUnknownKeyId000000", "secret"))
    with pytest.raises(ServerError) as exc:
        bucket.get_object(prefix + "x")
    assert (exc.value.status, exc.value.code) == (403, "InvalidAccessKeyId")
    assert exc.value.details["OSSAccessKeyId"] == "LTAI5tUnknownKeyId000000"


def test_v4_region_must_match(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket(oss.auth(version="v4"), region="cn-beijing")
    with pytest.raises(ServerError) as exc:
        bucket.put_object(prefix + "r", b"x")
    assert (exc.value.status, exc.value.code) == (400, "InvalidArgument")
    assert "region" in exc.value.message


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_clock_skew(oss: OSSEnv, prefix: str, version: str) -> None:
    bucket = oss.bucket(oss.auth(version=version))
    oss.controls.clock.advance(14 * 60)
    bucket.put_object(prefix + "skew", b"x")
    oss.controls.clock.advance(2 * 60)
    with pytest.raises(ServerError) as exc:
        bucket.get_object(prefix + "skew")
    assert (exc.value.status, exc.value.code) == (403, "RequestTimeTooSkewed")
    assert exc.value.details["MaxAllowedSkewMilliseconds"] == "900000"
    oss.controls.clock.advance(-32 * 60)  # server 16 minutes behind the client
    with pytest.raises(ServerError) as exc:
        bucket.get_object(prefix + "skew")
    assert exc.value.code == "RequestTimeTooSkewed"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_sts_token_errors(oss: OSSEnv, prefix: str, version: str) -> None:
    role = oss.role(f"token-role-{version}", [_allow("*")])
    session = oss.session_for(role, lifetime=30)
    other = oss.session_for(role)
    auth_version = oss2.AUTH_VERSION_4 if version == "v4" else oss2.AUTH_VERSION_1

    def bucket_with(ak: str, sk: str, token: str | None) -> oss2.Bucket:
        if token is None:
            auth = oss2.AuthV4(ak, sk) if version == "v4" else oss2.Auth(ak, sk)
        else:
            auth = oss2.StsAuth(ak, sk, token, auth_version=auth_version)
        return oss.bucket(auth)

    cases = [
        (session.access_key_id, session.access_key_secret, None, "InvalidSecurityToken"),
        (session.access_key_id, session.access_key_secret, "CAISforged" + "A" * 40,
         "InvalidSecurityToken"),
        (session.access_key_id, session.access_key_secret, other.security_token,
         "AccessKeyIdAndSecurityTokenNotMatch"),
        (oss.admin.access_key_id, oss.admin.access_key_secret, other.security_token,
         "InvalidSecurityToken"),
    ]
    for ak, sk, token, code in cases:
        with pytest.raises(ServerError) as exc:
            bucket_with(ak, sk, token).put_object(prefix + "t", b"x")
        assert (exc.value.status, exc.value.code) == (403, code), (token, code)

    good = bucket_with(session.access_key_id, session.access_key_secret,
                       session.security_token)
    good.put_object(prefix + "t", b"x")
    oss.controls.clock.advance(31)
    with pytest.raises(ServerError) as exc:
        good.get_object(prefix + "t")
    assert (exc.value.status, exc.value.code) == (403, "SecurityTokenExpired")


def test_policy_limited_to_prefix(oss: OSSEnv) -> None:
    user = oss.iam.add_user("uploader", [_allow(f"acs:oss:*:*:{BUCKET}/uploads/*",
                                                actions=("oss:PutObject", "oss:GetObject"))])
    bucket = oss.bucket(oss.auth(user))
    bucket.put_object("uploads/ok.txt", b"ok")
    assert bucket.get_object("uploads/ok.txt").read() == b"ok"
    with pytest.raises(AccessDenied) as exc:
        bucket.put_object("elsewhere.txt", b"no")
    error = exc.value
    assert error.status == 403
    assert error.message == "You are forbidden to oss:PutObject."
    detail = ET.fromstring(error.body).find("AccessDeniedDetail")
    assert detail is not None
    assert detail.findtext("AuthAction") == "oss:PutObject"
    assert detail.findtext("AuthPrincipalType") == "SubUser"
    assert detail.findtext("AuthPrincipalOwnerId") == oss.iam.account_id
    assert detail.findtext("AuthPrincipalId") == "uploader"
    assert detail.findtext("NoPermissionType") == "ImplicitDeny"
    assert detail.findtext("PolicyType") == "AccountLevelIdentityBasedPolicy"
    assert not oss.store.exists(BUCKET, "elsewhere.txt")
    with pytest.raises(AccessDenied) as exc:
        bucket.delete_object("uploads/ok.txt")
    assert ET.fromstring(exc.value.body).findtext("AccessDeniedDetail/AuthAction") == \
        "oss:DeleteObject"
    with pytest.raises(AccessDenied) as exc:
        bucket.list_objects()
    assert ET.fromstring(exc.value.body).findtext("AccessDeniedDetail/AuthAction") == \
        "oss:ListObjects"
    # A denied HEAD carries the same detail in x-oss-err.
    with pytest.raises(ServerError) as exc:
        bucket.head_object("elsewhere.txt")
    assert exc.value.status == 403 and exc.value.code == "AccessDenied"


def test_explicit_deny_and_assumed_role_detail(oss: OSSEnv) -> None:
    policy = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "oss:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "oss:DeleteObject", "Resource": f"acs:oss:*:*:{BUCKET}/*"},
    ]}
    session = oss.session_for(oss.role("deny-role", [policy]))
    bucket = oss.bucket(oss.sts_auth(session))
    bucket.put_object("deny/me", b"x")
    with pytest.raises(AccessDenied) as exc:
        bucket.delete_object("deny/me")
    detail = ET.fromstring(exc.value.body).find("AccessDeniedDetail")
    assert detail.findtext("NoPermissionType") == "ExplicitDeny"
    assert detail.findtext("AuthPrincipalType") == "AssumedRoleUser"
    assert detail.findtext("AuthPrincipalId") == session.assumed_role_id
    with pytest.raises(AccessDenied):
        bucket.batch_delete_objects(["deny/me"])
    assert oss.store.exists(BUCKET, "deny/me")


def test_session_policy_narrows_the_role(oss: OSSEnv) -> None:
    role = oss.role("narrowed", [_allow("*")])
    session = oss.iam.issue_session(
        role, "s", expiration=oss.controls.clock.now() + 3600,
        session_policy=_allow(f"acs:oss:*:*:{BUCKET}/public/*", actions=("oss:GetObject",)))
    oss.store.put_object_bytes(BUCKET, "public/p", b"p")
    bucket = oss.bucket(oss.sts_auth(session))
    assert bucket.get_object("public/p").read() == b"p"
    with pytest.raises(AccessDenied) as exc:
        bucket.put_object("public/new", b"x")
    assert ET.fromstring(exc.value.body).findtext("AccessDeniedDetail/PolicyType") == \
        "SessionPolicy"


def test_copy_needs_get_on_source(oss: OSSEnv) -> None:
    user = oss.iam.add_user("copier", [_allow(f"acs:oss:*:*:{BUCKET}/dst/*",
                                              actions=("oss:PutObject",))])
    oss.store.put_object_bytes(BUCKET, "src/secret", b"secret")
    bucket = oss.bucket(oss.auth(user))
    with pytest.raises(AccessDenied) as exc:
        bucket.copy_object(BUCKET, "src/secret", "dst/stolen")
    assert ET.fromstring(exc.value.body).findtext("AccessDeniedDetail/AuthAction") == \
        "oss:GetObject"
    assert not oss.store.exists(BUCKET, "dst/stolen")


def test_anonymous_access_follows_acls(oss: OSSEnv, prefix: str) -> None:
    anonymous = oss.bucket(oss2.AnonymousAuth())
    admin = oss.bucket()
    admin.put_object(prefix + "private", b"private")
    admin.put_object(prefix + "public", b"public", headers={"x-oss-object-acl": "public-read"})
    with pytest.raises(AccessDenied) as exc:
        anonymous.get_object(prefix + "private")
    assert exc.value.message == "You have no right to access this object because of bucket acl."
    assert anonymous.get_object(prefix + "public").read() == b"public"
    with pytest.raises(AccessDenied):
        anonymous.put_object(prefix + "public", b"overwrite")  # read-only for everyone
    response = oss.http.get(f"{oss.endpoint}/{BUCKET}/{prefix}public")
    assert response.status_code == 200 and response.content == b"public"

    name = "anon-" + prefix.strip("/").lower()
    oss.store.create_bucket(name, acl="public-read-write")
    open_bucket = oss.bucket(oss2.AnonymousAuth(), name=name)
    open_bucket.put_object("dropped", b"anyone")
    assert open_bucket.get_object("dropped").read() == b"anyone"
    assert [o.key for o in open_bucket.list_objects().object_list] == ["dropped"]
    assert oss.controls.log.entries()[-1].access_key_id is None
    oss.store.set_bucket_acl(name, "public-read")
    with pytest.raises(AccessDenied):
        open_bucket.put_object("again", b"x")
    assert open_bucket.get_object("dropped").read() == b"anyone"
    with pytest.raises(AccessDenied):
        open_bucket.get_bucket_acl()
    # A private object in a public bucket stays private.
    oss.store.put_object_bytes(name, "hidden", b"h", acl="private")
    with pytest.raises(AccessDenied):
        open_bucket.get_object("hidden")


def test_malformed_authorization(oss: OSSEnv) -> None:
    url = f"{oss.endpoint}/{BUCKET}/x"
    response = oss.http.get(url, headers={"Authorization": "Bearer abc"})
    assert response.status_code == 400
    assert _error(response).findtext("Code") == "InvalidArgument"
    response = oss.http.get(url, headers={"Authorization": f"OSS {oss.admin.access_key_id}:x"})
    assert response.status_code == 403  # no Date header to check the signature against
    assert _error(response).findtext("Code") == "AccessDenied"
    response = oss.http.get(url + "?OSSAccessKeyId=abc")
    assert response.status_code == 403
    assert _error(response).findtext("Code") == "AccessDenied"


def test_list_buckets_permissions(oss: OSSEnv) -> None:
    names = [b.name for b in oss.service_client().list_buckets().buckets]
    assert BUCKET in names
    user = oss.iam.add_user("no-list", [_allow("*", actions=("oss:GetObject",))])
    with pytest.raises(AccessDenied) as exc:
        oss.service_client(oss.auth(user)).list_buckets()
    assert ET.fromstring(exc.value.body).findtext("AccessDeniedDetail/AuthAction") == \
        "oss:ListBuckets"
    with pytest.raises(AccessDenied):
        oss.service_client(oss2.AnonymousAuth()).list_buckets()
    v4 = oss.service_client(oss.auth(version="v4"))
    assert BUCKET in [b.name for b in v4.list_buckets().buckets]


def _signed_v4_request(oss: OSSEnv, key: str, headers: dict[str, str],
                       additional: list[str]) -> oss2.http.Request:
    request = oss2.http.Request("GET", f"{oss.endpoint}/{BUCKET}/{key}", headers=dict(headers),
                                region=REGION, product="oss")
    oss.auth(version="v4")._sign_request(request, BUCKET, key, in_additional_headers=additional)
    return request


def test_v4_additional_headers(oss: OSSEnv, prefix: str) -> None:
    key = prefix + "extra"
    oss.bucket().put_object(key, b"extra")
    # oss2 sorts AdditionalHeaders by first character only ("ab;a-z"); the server sorts fully.
    headers = {"ab": "1", "a-z": "2", "Range": "bytes=0-1"}
    request = _signed_v4_request(oss, key, headers, ["ab", "a-z", "range"])
    authorization = request.headers["authorization"]
    assert "AdditionalHeaders=ab;a-z;range" in authorization
    response = oss.session.do_request(request, timeout=10)
    assert (response.status, response.read()) == (206, b"ex")

    # Fields in another order (as the docs and the v2 SDK write them) verify as well.
    request = _signed_v4_request(oss, key, headers, ["ab", "a-z", "range"])
    scheme, fields = request.headers["authorization"].split(" ", 1)
    parts = [p.strip() for p in fields.split(",")]
    request.headers["authorization"] = scheme + " " + ", ".join(reversed(parts))
    response = oss.session.do_request(request, timeout=10)
    assert response.status == 206

    # An additional header is signed: changing its value breaks the signature.
    request = _signed_v4_request(oss, key, headers, ["ab", "a-z", "range"])
    request.headers["ab"] = "changed"
    response = oss.session.do_request(request, timeout=10)
    assert response.status == 403
    assert ET.fromstring(response.read()).findtext("Code") == "SignatureDoesNotMatch"


def test_v4_presigned_url_with_additional_headers(oss: OSSEnv, prefix: str) -> None:
    bucket = oss.bucket(oss.auth(version="v4"))
    key = prefix + "url-extra"
    bucket.put_object(key, b"payload")
    url = bucket.sign_url("GET", key, 60, headers={"x-client": "web"},
                          additional_headers=["x-client"])
    assert "x-oss-additional-headers=x-client" in url
    assert oss.http.get(url, headers={"x-client": "web"}).content == b"payload"
    response = oss.http.get(url, headers={"x-client": "curl"})
    assert response.status_code == 403
    assert _error(response).findtext("Code") == "SignatureDoesNotMatch"
