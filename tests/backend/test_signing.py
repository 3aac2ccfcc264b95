"""URLSigner against real oss2 2.19.1 ``Bucket.sign_url``: byte-identical URLs."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import oss2
import pytest
from oss2.credentials import StaticCredentialsProvider

from django_alioss import signing
from django_alioss.signing import URLSigner, v4_signing_key

AK = "STS.NUx8dYgP3zQk7wLmT2"
SK = "Gp+3/kQz9vYw=Xr7Lm+T/aB1cD2eF3gH"
TOKEN = (
    "CAIS8gF1q6Ft5B2yfSjIr5bkKN/8jOxI1ZGqOUPRtWMhZPhbtK/ytjz2IH1Ke3lrBeofsvwwnG9X6P0flrN9"
    "TZhFS0jM+eNmIuhZ2ryoPOnvkpsJ0dsCV+x4qMwMJ2M=+/%&=?#" * 6
)
BUCKET = "my-bucket"
REGION = "cn-hangzhou"
ENDPOINT = "https://oss-cn-hangzhou.aliyuncs.com"


@dataclass(frozen=True)
class AuthKind:
    """How to build one oss2 auth object, and what URLSigner needs to match it."""

    make: Callable[[], object]
    version: str
    token: str | None


AUTHS = {
    "v1": AuthKind(lambda: oss2.Auth(AK, SK), "v1", None),
    "v4": AuthKind(lambda: oss2.AuthV4(AK, SK), "v4", None),
    "sts-v1": AuthKind(lambda: oss2.StsAuth(AK, SK, TOKEN), "v1", TOKEN),
    "sts-v4": AuthKind(
        lambda: oss2.StsAuth(AK, SK, TOKEN, auth_version=oss2.AUTH_VERSION_4), "v4", TOKEN
    ),
    "provider-v1": AuthKind(
        lambda: oss2.ProviderAuth(StaticCredentialsProvider(AK, SK, TOKEN)), "v1", TOKEN
    ),
    "provider-v4": AuthKind(
        lambda: oss2.ProviderAuthV4(StaticCredentialsProvider(AK, SK, TOKEN)), "v4", TOKEN
    ),
}

# (endpoint, is_cname, is_path_style, region)
SHAPES = {
    "virtual-host-https": (ENDPOINT, False, False, REGION),
    "virtual-host-http": ("http://oss-cn-beijing.aliyuncs.com", False, False, "cn-beijing"),
    "no-scheme": ("oss-cn-shanghai.aliyuncs.com", False, False, "cn-shanghai"),
    "upper-case-port-slash-spaces": (
        "  HTTPS://OSS-CN-Hangzhou.aliyuncs.com:8443/  ", False, False, REGION
    ),
    "ip-with-port": ("http://127.0.0.1:9000", False, False, REGION),
    "ip-no-scheme": ("127.0.0.1:9000", False, False, REGION),
    "localhost": ("http://localhost:9000", False, False, REGION),
    "ip-wins-over-cname": ("http://127.0.0.1:9000", True, False, REGION),
    "cname-https": ("https://cdn.example.com", True, False, REGION),
    "cname-http-port": ("http://static.example.org:8080", True, False, "ap-southeast-1"),
    "cname-wins-over-path-style": ("https://cdn.example.com", True, True, REGION),
    "path-style": ("https://oss-cn-hangzhou.aliyuncs.com", False, True, REGION),
}

KEYS = [
    "a.txt",
    "dir/sub/file name.txt",
    "ünïcødé/文件 名.png",
    "plus+percent%25#hash?q=1&x=y",
    "~tilde-_.!*'()",
    "a//b/",
    " leading and trailing ",
    "emoji 😀/semi;colon,comma=eq@at:colon",
    "back\\slash\ttab",
    "x" * 300,
]

PARAMS = {
    "none": None,
    "download": {
        "response-content-disposition": 'attachment; filename="rapport été.pdf"',
        "response-content-type": "application/pdf",
    },
    "process": {"x-oss-process": "image/resize,w_100/quality,q_80"},
    "mixed": {"foo": "bar/baz qux", "acl": "", "versionId": "CAEQ+/=", "max-keys": "10"},
}

HEADERS = {
    "none": None,
    "content-type": {"Content-Type": "image/png"},
    "many": {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "X-OSS-Object-Acl": "private",
        "x-oss-meta-author": "Zoë",
        "Cache-Control": "no-cache",
    },
}


def _oss2_then_ours(
    auth: str,
    *,
    key: str,
    shape: str = "virtual-host-https",
    method: str = "GET",
    expires: int = 3600,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    slash_safe: bool = False,
) -> tuple[str, str]:
    """Sign with oss2 and with URLSigner within the same wall-clock second."""
    kind = AUTHS[auth]
    endpoint, is_cname, is_path_style, region = SHAPES[shape]
    bucket = oss2.Bucket(
        kind.make(), endpoint, BUCKET, is_cname=is_cname, is_path_style=is_path_style,
        region=region,
    )
    signer = URLSigner(
        endpoint, BUCKET, region=region, signature_version=kind.version,
        is_cname=is_cname, is_path_style=is_path_style,
    )
    while True:
        t0 = int(time.time())
        # oss2 mutates the params dict it is given: hand it a copy.
        expected = bucket.sign_url(
            method, key, expires,
            headers=dict(headers) if headers else None,
            params=dict(params) if params else None,
            slash_safe=slash_safe,
        )
        if int(time.time()) == t0:
            break
    ours = signer.presign(
        key, access_key_id=AK, access_key_secret=SK, security_token=kind.token,
        expires=expires, method=method, params=params, headers=headers,
        slash_safe=slash_safe, now=t0,
    )
    return expected, ours


@pytest.mark.parametrize("slash_safe", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("auth", AUTHS)
def test_url_shapes_match_oss2(auth: str, shape: str, slash_safe: bool) -> None:
    expected, ours = _oss2_then_ours(
        auth, key="photos/2024/cat picture.jpg", shape=shape, slash_safe=slash_safe
    )
    assert ours == expected


@pytest.mark.parametrize("slash_safe", [False, True])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("auth", AUTHS)
def test_keys_match_oss2(auth: str, key: str, slash_safe: bool) -> None:
    expected, ours = _oss2_then_ours(auth, key=key, shape="ip-with-port", slash_safe=slash_safe)
    assert ours == expected


@pytest.mark.parametrize("headers", HEADERS)
@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE", "POST"])
@pytest.mark.parametrize("auth", AUTHS)
def test_methods_params_headers_match_oss2(
    auth: str, method: str, params: str, headers: str
) -> None:
    expected, ours = _oss2_then_ours(
        auth, key="docs/été report.pdf", method=method, params=PARAMS[params],
        headers=HEADERS[headers],
    )
    assert ours == expected


@pytest.mark.parametrize(
    ("auth", "expires"),
    [("v1", 1), ("v1", 10 * 365 * 86400), ("v4", 1), ("v4", 604800), ("sts-v4", 604800)],
)
def test_expires_bounds_match_oss2(auth: str, expires: int) -> None:
    expected, ours = _oss2_then_ours(auth, key="k", expires=expires)
    assert ours == expected


@pytest.mark.parametrize("auth", ["v4", "sts-v4"])
def test_v4_key_starting_with_question_mark_matches_oss2(auth: str) -> None:
    expected, ours = _oss2_then_ours(auth, key="?weird")
    assert ours == expected


def test_v1_key_starting_with_question_mark_is_rejected_like_oss2() -> None:
    bucket = oss2.Bucket(oss2.Auth(AK, SK), ENDPOINT, BUCKET)
    with pytest.raises(oss2.exceptions.ClientError):
        bucket.sign_url("GET", "?weird", 60)
    signer = URLSigner(ENDPOINT, BUCKET, signature_version="v1")
    with pytest.raises(ValueError, match=r"cannot start with '\?'"):
        signer.presign("?weird", access_key_id=AK, access_key_secret=SK)


@pytest.mark.parametrize("header", ["x-oss-date", "x-oss-content-sha256"])
@pytest.mark.parametrize("auth", AUTHS)
def test_header_quirks_match_oss2(auth: str, header: str) -> None:
    """V1 uses an x-oss-date header as the Date slot; V4 uses x-oss-content-sha256 as payload."""
    value = {"x-oss-date": "Tue, 01 Oct 2024 00:00:00 GMT", "x-oss-content-sha256": "abc123"}
    expected, ours = _oss2_then_ours(auth, key="k", headers={header: value[header]})
    assert ours == expected


@pytest.mark.parametrize("slash_safe", [False, True])
@pytest.mark.parametrize("params", ["none", "download", "mixed"])
@pytest.mark.parametrize("shape", SHAPES)
def test_unsigned_url_matches_oss2_anonymous(shape: str, params: str, slash_safe: bool) -> None:
    endpoint, is_cname, is_path_style, region = SHAPES[shape]
    bucket = oss2.Bucket(
        oss2.AnonymousAuth(), endpoint, BUCKET, is_cname=is_cname, is_path_style=is_path_style
    )
    signer = URLSigner(
        endpoint, BUCKET, region=region, is_cname=is_cname, is_path_style=is_path_style
    )
    key = "dir/a b+c%.txt"
    given = PARAMS[params]
    expected = bucket.sign_url(
        "GET", key, 60, params=dict(given) if given else None, slash_safe=slash_safe
    )
    ours = signer.unsigned_url(key, params=given, slash_safe=slash_safe)
    # oss2 leaves a bare trailing "?" when there is no query; we do not.
    assert ours == (expected if given else expected.removesuffix("?"))
    assert "Signature" not in ours and "x-oss-signature" not in ours


def test_v1_expires_is_absolute_and_now_is_truncated() -> None:
    signer = URLSigner(ENDPOINT, BUCKET, signature_version="v1")
    base = 1_700_000_000
    url = signer.presign("k", access_key_id=AK, access_key_secret=SK, expires=600, now=base)
    assert dict(parse_qsl(urlsplit(url).query))["Expires"] == str(base + 600)
    later = signer.presign(
        "k", access_key_id=AK, access_key_secret=SK, expires=600, now=base + 0.999
    )
    assert later == url


def test_v4_date_comes_from_now_in_utc() -> None:
    signer = URLSigner(ENDPOINT, BUCKET, region=REGION)
    leap_second_before_midnight = 1_709_251_199  # 2024-02-29T23:59:59Z
    url = signer.presign(
        "k", access_key_id=AK, access_key_secret=SK, expires=90,
        now=leap_second_before_midnight,
    )
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["x-oss-date"] == "20240229T235959Z"
    assert query["x-oss-expires"] == "90"
    assert query["x-oss-credential"] == f"{AK}/20240229/{REGION}/oss/aliyun_v4_request"
    next_day = signer.presign(
        "k", access_key_id=AK, access_key_secret=SK, expires=90,
        now=leap_second_before_midnight + 1,
    )
    assert dict(parse_qsl(urlsplit(next_day).query))["x-oss-date"] == "20240301T000000Z"


def test_v4_signing_key_is_cached_per_secret_day_and_region() -> None:
    signer = URLSigner(ENDPOINT, BUCKET, region=REGION)
    day = 1_720_000_000
    v4_signing_key.cache_clear()
    first = signer.presign("a", access_key_id=AK, access_key_secret=SK, now=day)
    assert v4_signing_key.cache_info().misses == 1
    assert v4_signing_key.cache_info().hits == 0
    second = signer.presign("b", access_key_id=AK, access_key_secret=SK, now=day + 60)
    assert v4_signing_key.cache_info().misses == 1
    assert v4_signing_key.cache_info().hits == 1
    assert first != second
    signer.presign("a", access_key_id=AK, access_key_secret=SK, now=day + 86400)
    signer.presign("a", access_key_id=AK, access_key_secret=SK + "x", now=day)
    URLSigner(ENDPOINT, BUCKET, region="cn-beijing").presign(
        "a", access_key_id=AK, access_key_secret=SK, now=day
    )
    info = v4_signing_key.cache_info()
    assert (info.misses, info.hits) == (4, 1)
    assert 0 < info.maxsize <= 1024


def test_v4_none_param_value_is_a_bare_key_like_empty_string() -> None:
    signer = URLSigner(ENDPOINT, BUCKET, region=REGION)
    with_none = signer.presign(
        "k", access_key_id=AK, access_key_secret=SK, params={"acl": None}, now=1_700_000_000
    )
    with_empty = signer.presign(
        "k", access_key_id=AK, access_key_secret=SK, params={"acl": ""}, now=1_700_000_000
    )
    assert with_none == with_empty
    assert "?acl&x-oss-date=" in with_none


def test_v1_subresources_are_oss2s() -> None:
    assert oss2.ProviderAuth._subresource_key_set == signing.V1_SUBRESOURCES


def test_signing_module_does_not_import_oss2() -> None:
    code = "import sys, django_alioss.signing; sys.exit('oss2' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, check=False)
    assert result.returncode == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signature_version": "v2", "region": REGION}, "v1, v4"),
        ({"signature_version": "V4", "region": REGION}, "v1, v4"),
        ({"signature_version": "v4"}, "needs a region"),
        ({"signature_version": "v4", "region": ""}, "needs a region"),
        ({"bucket_name": "My_Bucket"}, "invalid bucket name"),
        ({"bucket_name": "ab"}, "invalid bucket name"),
        ({"bucket_name": "bucket-"}, "invalid bucket name"),
        ({"endpoint": "http://"}, "invalid OSS endpoint"),
        ({"endpoint": "exa mple.com"}, "invalid OSS endpoint"),
        ({"endpoint": "example.com:99999"}, "invalid OSS endpoint"),
        ({"endpoint": "http://[::1]:9000"}, "invalid OSS endpoint"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs: dict[str, str], message: str) -> None:
    arguments = {"endpoint": ENDPOINT, "bucket_name": BUCKET, "region": REGION, **kwargs}
    if "region" not in kwargs and kwargs.get("signature_version") == "v4":
        del arguments["region"]
    with pytest.raises(ValueError, match=message):
        URLSigner(**arguments)


@pytest.mark.parametrize("endpoint", ["http://", "exa mple.com", "http://[::1]:9000"])
def test_endpoints_we_reject_oss2_rejects_too(endpoint: str) -> None:
    with pytest.raises((oss2.exceptions.ClientError, ValueError, TypeError)):
        oss2.Bucket(oss2.Auth(AK, SK), endpoint, BUCKET)


@pytest.mark.parametrize(
    ("version", "kwargs", "message"),
    [
        ("v4", {"expires": 0}, "positive int"),
        ("v4", {"expires": -5}, "positive int"),
        ("v4", {"expires": 604801}, r"1\.\.604800"),
        ("v4", {"expires": 1.5}, "positive int"),
        ("v4", {"expires": True}, "positive int"),
        ("v1", {"expires": 0}, "positive int"),
        ("v4", {"method": "PATCH"}, "method must be one of"),
        ("v1", {"method": "get"}, "method must be one of"),
        ("v4", {"key": ""}, "non-blank"),
        ("v1", {"key": "   "}, "non-blank"),
        ("v4", {"access_key_id": ""}, "non-empty"),
        ("v1", {"access_key_secret": ""}, "non-empty"),
        ("v1", {"params": {"Signature": "x"}}, "may not set"),
        ("v1", {"params": {"security-token": "x"}}, "may not set"),
        ("v4", {"params": {"x-oss-signature": "x"}}, "may not set"),
        ("v4", {"params": {"x-oss-date": "x"}}, "may not set"),
    ],
)
def test_bad_presign_arguments_raise(version: str, kwargs: dict, message: str) -> None:
    signer = URLSigner(ENDPOINT, BUCKET, region=REGION, signature_version=version)
    arguments = {"key": "k", "access_key_id": AK, "access_key_secret": SK, **kwargs}
    key = arguments.pop("key")
    with pytest.raises(ValueError, match=message):
        signer.presign(key, **arguments)


def test_unsigned_url_rejects_blank_key() -> None:
    with pytest.raises(ValueError, match="non-blank"):
        URLSigner(ENDPOINT, BUCKET, region=REGION).unsigned_url(" ")


def test_v1_signer_needs_no_region_and_v4_url_changes_with_region() -> None:
    v1 = URLSigner(ENDPOINT, BUCKET, signature_version="v1")
    assert v1.presign("k", access_key_id=AK, access_key_secret=SK).startswith(
        "https://my-bucket.oss-cn-hangzhou.aliyuncs.com/k?OSSAccessKeyId="
    )
    now = 1_700_000_000
    urls = {
        URLSigner(ENDPOINT, BUCKET, region=region).presign(
            "k", access_key_id=AK, access_key_secret=SK, now=now
        )
        for region in ("cn-hangzhou", "cn-beijing")
    }
    assert len(urls) == 2
