"""The form-upload presigner (django_alioss.signing_policy): the published V4 test
vector, the V1 signature, the policy document and the fields of a form."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from django_alioss.signing_policy import (
    POLICY_MAX_EXPIRES,
    encode_policy,
    key_condition,
    policy_expiration,
    sign_post_form,
    v1_policy_signature,
    v4_credential,
    v4_policy_signature,
)

# The alibabacloud-oss SDK's test of presign_post_object (feature-specs.md, section 1).
VECTOR_POLICY = (
    "eyJjb25kaXRpb25zIjpbeyJidWNrZXQiOiJleGFtcGxlLWJ1Y2tldCJ9LHsieC1vc3Mtc2lnbmF0dXJlLXZlcnNp"
    "b24iOiJPU1M0LUhNQUMtU0hBMjU2In0seyJ4LW9zcy1jcmVkZW50aWFsIjoiYWNjZXNzX2tleV9pZC8yMDI0MDcx"
    "My91cy13ZXN0LTEvb3NzL2FsaXl1bl92NF9yZXF1ZXN0In0seyJ4LW9zcy1kYXRlIjoiMjAyNDA3MTNUMTMzNDE0"
    "WiJ9LFsiZXEiLCIka2V5Iiwib2JqZWN0L3ByZXNpZ25fcG9zdF9vYmplY3QucG5nIl0sWyJlcSIsIiR4LW9zcy1v"
    "YmplY3QtYWNsIiwicHJpdmF0ZSJdLFsiY29udGVudC1sZW5ndGgtcmFuZ2UiLDEsMTA0ODU3NjAwXV0sImV4cGly"
    "YXRpb24iOiIyMDI0LTA3LTEzVDE0OjM0OjE0WiJ9"
)
VECTOR_SIGNATURE = "43fb9eb04136cdaaab110bfb33c4c7daba4beebdad63889e7f3a460242596d04"
NOW = 1720877654  # 2024-07-13T13:34:14Z, the vector's x-oss-date


def decoded(policy: str) -> dict:
    return json.loads(base64.b64decode(policy))


def test_v4_signature_of_the_published_test_vector() -> None:
    signature = v4_policy_signature(VECTOR_POLICY, "access_key_secret", "20240713", "us-west-1")
    assert signature == VECTOR_SIGNATURE


def test_v4_credential_and_policy_time_formats() -> None:
    assert (v4_credential("access_key_id", "20240713", "us-west-1")
            == "access_key_id/20240713/us-west-1/oss/aliyun_v4_request")
    assert policy_expiration(NOW + 3600) == "2024-07-13T14:34:14.000Z"


def test_v1_signature_is_base64_hmac_sha1_of_the_policy() -> None:
    expected = base64.b64encode(hmac.new(b"secret", VECTOR_POLICY.encode(), hashlib.sha1)
                                .digest()).decode()
    assert v1_policy_signature(VECTOR_POLICY, "secret") == expected


def test_encode_policy_is_compact_utf8_json() -> None:
    policy = encode_policy("2024-07-13T14:34:14.000Z", [{"bucket": "b"}, ["eq", "$key", "é"]])
    assert base64.b64decode(policy).decode("utf-8") == (
        '{"expiration":"2024-07-13T14:34:14.000Z","conditions":[{"bucket":"b"},'
        '["eq","$key","é"]]}')


@pytest.mark.parametrize(("key", "condition"), [
    ("a/b.txt", ["eq", "$key", "a/b.txt"]),
    ("a/${filename}", ["starts-with", "$key", "a/"]),
    ("${filename}", ["starts-with", "$key", ""]),
])
def test_key_condition(key: str, condition: list) -> None:
    assert key_condition(key) == condition


@pytest.mark.parametrize("key", ["a/${filename}/b", "${filename}${filename}"])
def test_filename_placeholder_only_at_the_end(key: str) -> None:
    with pytest.raises(ValueError, match="only allowed at the end"):
        key_condition(key)


def test_v4_form_reproduces_the_vector_fields_and_signs_its_own_policy() -> None:
    form = sign_post_form(
        bucket_name="example-bucket", key="object/presign_post_object.png",
        access_key_id="access_key_id", access_key_secret="access_key_secret", now=NOW,
        expires=3600, region="us-west-1", fields={"x-oss-object-acl": "private"},
        conditions=[["content-length-range", 1, 104857600]])
    assert form["x-oss-credential"] == "access_key_id/20240713/us-west-1/oss/aliyun_v4_request"
    assert form["x-oss-date"] == "20240713T133414Z"
    assert form["x-oss-signature-version"] == "OSS4-HMAC-SHA256"
    assert form["x-oss-signature"] == v4_policy_signature(
        form["policy"], "access_key_secret", "20240713", "us-west-1")
    assert decoded(form["policy"]) == {
        "expiration": "2024-07-13T14:34:14.000Z",
        "conditions": [
            {"bucket": "example-bucket"}, ["eq", "$key", "object/presign_post_object.png"],
            {"x-oss-object-acl": "private"},
            {"x-oss-signature-version": "OSS4-HMAC-SHA256"},
            {"x-oss-credential": "access_key_id/20240713/us-west-1/oss/aliyun_v4_request"},
            {"x-oss-date": "20240713T133414Z"}, ["content-length-range", 1, 104857600]]}
    assert list(form)[:2] == ["key", "x-oss-object-acl"]


def test_v1_form_with_sts_token() -> None:
    form = sign_post_form(bucket_name="b", key="k", access_key_id="STS.id",
                          access_key_secret="s", now=NOW, expires=60, signature_version="v1",
                          security_token="tok")
    assert form["OSSAccessKeyId"] == "STS.id"
    assert form["x-oss-security-token"] == "tok"
    assert form["Signature"] == v1_policy_signature(form["policy"], "s")
    assert {"x-oss-security-token": "tok"} in decoded(form["policy"])["conditions"]
    assert not any(name.startswith("x-oss-signature") for name in form)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"expires": 0}, "expires"),
    ({"expires": POLICY_MAX_EXPIRES + 1}, "expires"),
    ({"signature_version": "v2"}, "signature_version"),
    ({"region": ""}, "region"),
    ({"access_key_secret": ""}, "non-empty"),
    ({"fields": {"Policy": "x"}}, "the signer sets them"),
    ({"fields": {"x-oss-date": "x"}}, "the signer sets them"),
])
def test_bad_arguments(arguments: dict, message: str) -> None:
    given = {"bucket_name": "b", "key": "k", "access_key_id": "id", "access_key_secret": "s",
             "now": NOW, "expires": 60, "region": "cn-hangzhou", **arguments}
    with pytest.raises(ValueError, match=message):
        sign_post_form(**given)
