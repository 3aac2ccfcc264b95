"""AssumeRoleWithOIDC against the emulated STS, through alibabacloud-credentials and raw HTTP."""

from __future__ import annotations

import calendar
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
from alibabacloud_credentials.exceptions import CredentialException
from Tea.exceptions import RetryError

from django_alioss.emulator.iam import Session, authorize
from django_alioss.emulator.oidc import OIDCIssuer
from tests.emulator.conftest_sts import (
    ALLOW_OSS,
    CLIENT_ID,
    StsWorld,
    ack_trust_policy,
    assert_sts_error,
    sdk_error,
)

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
READ_ONLY = {"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": "oss:GetObject", "Resource": "acs:oss:*:*:media/*"}]}


def _iso_to_epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _expect_sdk_failure(provider, status: int, code: str) -> dict:
    with pytest.raises(CredentialException) as exc_info:
        provider.get_credentials()
    got_status, document = sdk_error(exc_info)
    assert (got_status, document["Code"]) == (status, code), document
    return document


def test_sdk_gets_credentials_registered_in_iam(sts_world: StsWorld) -> None:
    sts_world.controls.clock.advance(7200)  # Expiration follows the emulator clock
    token_file = sts_world.token_file()
    credentials = sts_world.oidc_credentials(str(token_file.path)).get_credentials()
    access_key_id = credentials.get_access_key_id()
    assert access_key_id.startswith("STS.")
    session = sts_world.iam.principal_for(access_key_id)
    assert isinstance(session, Session)
    assert session.role is sts_world.oidc_role
    assert session.session_name == "rrsa-test"
    assert session.security_token == credentials.get_security_token()
    assert session.access_key_secret == credentials.get_access_key_secret()
    assert session.session_policy is None
    assert session.expiration == credentials.get_expiration()
    assert abs(credentials.get_expiration() - (sts_world.controls.clock.now() + 3600)) < 5
    entries = sts_world.controls.log.entries(service="sts")
    assert [(e.operation, e.method, e.status) for e in entries] == \
        [("AssumeRoleWithOIDC", "GET", 200)]
    # Cached: the SDK does not call STS again while the credentials are fresh.
    assert sts_world.oidc_credentials(str(token_file.path)).get_credentials() is not None
    assert sts_world.iam.session_count() == 2


def test_raw_success_shape_and_trailing_newline(sts_world: StsWorld) -> None:
    token = sts_world.issuer.mint_token() + "\n"  # as read from a file with a newline
    response = sts_world.get(sts_world.oidc_params(token, DurationSeconds="1800"))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"RequestId", "AssumedRoleUser", "Credentials", "OIDCTokenInfo"}
    role = sts_world.oidc_role
    assert document["AssumedRoleUser"]["Arn"] == \
        f"acs:ram::{role.account_id}:role/{role.name}/rrsa-test"
    assert document["AssumedRoleUser"]["AssumedRoleId"] == f"{role.role_id}:rrsa-test"
    credentials = document["Credentials"]
    assert set(credentials) == {"AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"}
    assert ISO.fullmatch(credentials["Expiration"])
    assert abs(_iso_to_epoch(credentials["Expiration"]) - (time.time() + 1800)) < 5
    claims = jwt.decode(token.strip(), options={"verify_signature": False})
    info = document["OIDCTokenInfo"]
    assert info["Issuer"] == sts_world.issuer_url
    assert info["Subject"] == "system:serviceaccount:default:alioss"
    assert info["ClientIds"] == CLIENT_ID
    assert _iso_to_epoch(info["ExpirationTime"]) == claims["exp"]
    assert _iso_to_epoch(info["IssuanceTime"]) == claims["iat"]
    assert info["VerificationInfo"]


def test_post_with_form_body_is_accepted(sts_world: StsWorld) -> None:
    response = sts_world.post(sts_world.oidc_params(sts_world.issuer.mint_token()))
    assert response.status_code == 200, response.text
    assert sts_world.iam.principal_for(response.json()["Credentials"]["AccessKeyId"])
    # A POST cannot be peeked at before the body is read: logged under "STS".
    assert sts_world.controls.log.entries(service="sts")[-1].operation == "STS"


def test_trust_policy_subject_mismatch_is_refused(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file(service_account="intruder")
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path)),
                        401, "AuthenticationFail.NoPermission")
    assert sts_world.iam.session_count() == 0


def test_string_like_subject_condition(sts_world: StsWorld) -> None:
    role = sts_world.iam.add_role(
        "rrsa-any-sa", ack_trust_policy(sts_world.provider, sts_world.issuer_url,
                                        "system:serviceaccount:apps:*", operator="StringLike"),
        [ALLOW_OSS])
    for service_account in ("web", "worker"):
        token_file = sts_world.token_file(f"t-{service_account}", namespace="apps",
                                          service_account=service_account)
        provider = sts_world.oidc_credentials(str(token_file.path), role_arn=role.arn)
        assert provider.get_credentials().get_access_key_id().startswith("STS.")
    other = sts_world.token_file("t-other", namespace="other", service_account="web")
    _expect_sdk_failure(sts_world.oidc_credentials(str(other.path), role_arn=role.arn),
                        401, "AuthenticationFail.NoPermission")


def test_explicit_deny_in_trust_policy_wins(sts_world: StsWorld) -> None:
    trust = ack_trust_policy(sts_world.provider, sts_world.issuer_url,
                             "system:serviceaccount:default:*", operator="StringLike")
    trust["Statement"].append({
        "Action": "sts:AssumeRole", "Effect": "Deny",
        "Principal": {"Federated": [sts_world.provider.arn]},
        "Condition": {"StringEquals": {"oidc:sub": "system:serviceaccount:default:blocked"}},
    })
    role = sts_world.iam.add_role("rrsa-deny", trust, [ALLOW_OSS])
    allowed = sts_world.get(sts_world.oidc_params(
        sts_world.issuer.mint_token(service_account="fine"), RoleArn=role.arn))
    assert allowed.status_code == 200, allowed.text
    assert_sts_error(sts_world.get(sts_world.oidc_params(
        sts_world.issuer.mint_token(service_account="blocked"), RoleArn=role.arn)),
        401, "AuthenticationFail.NoPermission")


def test_expired_token_after_clock_advance(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file(lifetime=600)  # not started: the file is never rotated
    sts_world.controls.clock.advance(601)
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path)),
                        401, "AuthenticationFail.OIDCToken.Expired")


def test_token_not_yet_valid(sts_world: StsWorld) -> None:
    token = sts_world.issuer.mint_token(now=sts_world.controls.clock.now() + 600)
    assert_sts_error(sts_world.get(sts_world.oidc_params(token)),
                     401, "AuthenticationFail.OIDCToken.Expired")


def test_token_signed_by_a_foreign_key(sts_world: StsWorld) -> None:
    impostor = OIDCIssuer(sts_world.controls, issuer_url=sts_world.issuer_url)
    path = sts_world.write_token(impostor.mint_token())
    _expect_sdk_failure(sts_world.oidc_credentials(path),
                        401, "AuthenticationFail.OIDCToken.InvalidSignature")
    # Same kid as the real key, still a foreign signature.
    forged = impostor.sign_claims(
        jwt.decode(sts_world.issuer.mint_token(), options={"verify_signature": False}),
        headers={"kid": sts_world.issuer.kid})
    assert_sts_error(sts_world.get(sts_world.oidc_params(forged)),
                     401, "AuthenticationFail.OIDCToken.InvalidSignature")


def test_issuer_key_rotation_invalidates_old_tokens(sts_world: StsWorld) -> None:
    token = sts_world.issuer.mint_token()
    assert sts_world.get(sts_world.oidc_params(token)).status_code == 200
    sts_world.issuer.rotate_key()
    assert_sts_error(sts_world.get(sts_world.oidc_params(token)),
                     401, "AuthenticationFail.OIDCToken.InvalidSignature")


def test_issuer_mismatch(sts_world: StsWorld) -> None:
    claims = jwt.decode(sts_world.issuer.mint_token(), options={"verify_signature": False})
    claims["iss"] = "https://oidc-ack-cn-hangzhou.oss-cn-hangzhou.aliyuncs.com/other"
    path = sts_world.write_token(sts_world.issuer.sign_claims(claims))
    _expect_sdk_failure(sts_world.oidc_credentials(path),
                        401, "AuthenticationFail.OIDCToken.IssuerNotMatch")


def test_audience_mismatch(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file(audience=["kubernetes.default.svc"])
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path)),
                        401, "AuthenticationFail.OIDCToken.AudienceNotMatch")


@pytest.mark.parametrize("token", ["", "abc", "abcd.efgh", "not.a.jwt", "a.b.c.d"])
def test_malformed_tokens_are_invalid(sts_world: StsWorld, token: str) -> None:
    assert_sts_error(sts_world.get(sts_world.oidc_params(token)),
                     401, "AuthenticationFail.OIDCToken.Invalid")


def test_hs256_token_is_invalid(sts_world: StsWorld) -> None:
    claims = jwt.decode(sts_world.issuer.mint_token(), options={"verify_signature": False})
    token = jwt.encode(claims, "a-shared-secret-of-sufficient-length!", algorithm="HS256")
    document = assert_sts_error(sts_world.get(sts_world.oidc_params(token)),
                                401, "AuthenticationFail.OIDCToken.Invalid")
    assert "HS256" in document["Message"]


def test_token_without_subject_is_invalid(sts_world: StsWorld) -> None:
    claims = jwt.decode(sts_world.issuer.mint_token(), options={"verify_signature": False})
    del claims["sub"]
    assert_sts_error(sts_world.get(sts_world.oidc_params(sts_world.issuer.sign_claims(claims))),
                     401, "AuthenticationFail.OIDCToken.Invalid")


@pytest.mark.parametrize(("claim", "value"), [
    ("exp", "9999999999"), ("exp", "soon"), ("exp", None), ("exp", True), ("exp", [1]),
    ("exp", 1e300), ("exp", 10 ** 30), ("exp", float("nan")), ("exp", float("inf")),
    ("iat", "x"), ("iat", 1e300), ("iat", float("nan")), ("iat", [1]),
    ("nbf", "x"), ("nbf", float("nan")),
    ("iss", 123), ("iss", ["x"]), ("sub", 123), ("sub", None),
    ("aud", 123), ("aud", []), ("aud", {"a": 1}), ("aud", [["sts.aliyuncs.com"]]),
])
def test_wrongly_typed_claims_are_an_invalid_token(sts_world: StsWorld, claim: str,
                                                   value: object) -> None:
    claims = jwt.decode(sts_world.issuer.mint_token(), options={"verify_signature": False})
    claims[claim] = value
    token = sts_world.issuer.sign_payload(json.dumps(claims).encode("utf-8"))
    assert_sts_error(sts_world.get(sts_world.oidc_params(token)),
                     401, "AuthenticationFail.OIDCToken.Invalid")
    assert sts_world.iam.session_count() == 0


def test_raw_signed_well_typed_claims_are_accepted(sts_world: StsWorld) -> None:
    claims = jwt.decode(sts_world.issuer.mint_token(), options={"verify_signature": False})
    claims["exp"] = float(claims["exp"])  # a NumericDate may carry a fraction
    token = sts_world.issuer.sign_payload(json.dumps(claims).encode("utf-8"))
    response = sts_world.get(sts_world.oidc_params(token))
    assert response.status_code == 200, response.text


def test_unregistered_issuer_cannot_be_verified(sts_world: StsWorld) -> None:
    sts_world.sts.issuers.clear()
    assert_sts_error(sts_world.get(sts_world.oidc_params(sts_world.issuer.mint_token())),
                     401, "AuthenticationFail.OIDCToken.Invalid")


@pytest.mark.parametrize("duration", [3601, 7200, 43200])
def test_duration_above_role_maximum(sts_world: StsWorld, duration: int) -> None:
    token_file = sts_world.token_file()
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path),
                                                   duration_seconds=duration),
                        400, "InvalidParameter.DurationSeconds")


@pytest.mark.parametrize("duration", ["899", "0", "-5", "abc", "43201"])
def test_duration_out_of_range_raw(sts_world: StsWorld, duration: str) -> None:
    params = sts_world.oidc_params(sts_world.issuer.mint_token(), DurationSeconds=duration)
    assert_sts_error(sts_world.get(params), 400, "InvalidParameter.DurationSeconds")


def test_role_with_longer_maximum_allows_longer_sessions(sts_world: StsWorld) -> None:
    role = sts_world.iam.add_role(
        "rrsa-long", sts_world.oidc_role.trust_policy, [ALLOW_OSS], max_session_duration=43200)
    token_file = sts_world.token_file()
    credentials = sts_world.oidc_credentials(str(token_file.path), role_arn=role.arn,
                                             duration_seconds=43200).get_credentials()
    assert abs(credentials.get_expiration() - (time.time() + 43200)) < 5
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path), role_arn=role.arn,
                                                   duration_seconds=43201),
                        400, "InvalidParameter.DurationSeconds")


@pytest.mark.parametrize("name", ["a", "x" * 65, "has space", "bad/slash", "ninja*"])
def test_bad_role_session_name(sts_world: StsWorld, name: str) -> None:
    token_file = sts_world.token_file()
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path), role_session_name=name),
                        400, "InvalidParameter.RoleSessionName")


def test_good_role_session_name_characters(sts_world: StsWorld) -> None:
    name = "ab.C@d_e-9" + "x" * 54  # 64 characters
    response = sts_world.get(sts_world.oidc_params(sts_world.issuer.mint_token(),
                                                   RoleSessionName=name))
    assert response.status_code == 200, response.text
    session = sts_world.iam.principal_for(response.json()["Credentials"]["AccessKeyId"])
    assert session.session_name == name


@pytest.mark.parametrize("policy", [
    "not json", "[]", '{"Version": "1"}', '{"Version": "1", "Statement": []}',
    '{"Version": "1", "Statement": [{"Effect": "Maybe", "Action": "oss:*", "Resource": "*"}]}',
    '{"Version": "1", "Statement": [{"Effect": "Allow", "Resource": "*"}]}',
])
def test_bad_policy_grammar(sts_world: StsWorld, policy: str) -> None:
    token_file = sts_world.token_file()
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path), policy=policy),
                        400, "InvalidParameter.PolicyGrammar")


def test_inline_policy_narrows_the_session(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file()
    credentials = sts_world.oidc_credentials(str(token_file.path),
                                             policy=json.dumps(READ_ONLY)).get_credentials()
    session = sts_world.iam.principal_for(credentials.get_access_key_id())
    assert session.session_policy == READ_ONLY
    assert authorize(session, "oss:GetObject", "acs:oss:*:*:media/a.jpg").allowed
    assert not authorize(session, "oss:PutObject", "acs:oss:*:*:media/a.jpg").allowed
    assert not authorize(session, "oss:GetObject", "acs:oss:*:*:private/a.jpg").allowed


def test_unknown_role_and_provider(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file()
    missing_role = f"acs:ram::{sts_world.iam.account_id}:role/nope"
    _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path), role_arn=missing_role),
                        404, "EntityNotExist.Role")
    missing_provider = f"acs:ram::{sts_world.iam.account_id}:oidc-provider/nope"
    document = _expect_sdk_failure(
        sts_world.oidc_credentials(str(token_file.path), oidc_provider_arn=missing_provider),
        401, "AuthenticationFail.NoPermission")
    assert "OIDC Provider" in document["Message"]


def test_role_arn_is_case_insensitive(sts_world: StsWorld) -> None:
    params = sts_world.oidc_params(sts_world.issuer.mint_token(),
                                   RoleArn=sts_world.oidc_role.arn.upper().replace("ACS:", "acs:"))
    assert sts_world.get(params).status_code == 200


@pytest.mark.parametrize("missing", ["RoleArn", "OIDCProviderArn", "OIDCToken",
                                     "RoleSessionName", "Version", "Action"])
def test_missing_parameters(sts_world: StsWorld, missing: str) -> None:
    params = sts_world.oidc_params(sts_world.issuer.mint_token())
    del params[missing]
    assert_sts_error(sts_world.get(params), 400, f"Missing{missing}")


def test_unknown_action_and_version(sts_world: StsWorld) -> None:
    assert_sts_error(sts_world.get({"Action": "GetCallerIdentityX", "Version": "2015-04-01"}),
                     400, "InvalidAction.NotFound")
    params = sts_world.oidc_params(sts_world.issuer.mint_token(), Version="2014-01-01")
    assert_sts_error(sts_world.get(params), 400, "InvalidVersion")


def test_host_header_with_scheme_is_accepted(sts_world: StsWorld) -> None:
    response = requests.get(sts_world.sts_url + "/",
                            params=sts_world.oidc_params(sts_world.issuer.mint_token()),
                            headers={"Host": sts_world.sts_url}, timeout=10)
    assert response.status_code == 200, response.text


def test_sdk_refresh_sends_the_rotated_token(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file(lifetime=600)
    # 900 s credentials are stale at once for the SDK: every call goes to STS.
    provider = sts_world.oidc_credentials(str(token_file.path), duration_seconds=900)
    assert provider.get_credentials()
    sts_world.issuer.rotate_key()  # the token in the file now has an unknown signature
    _expect_sdk_failure(provider, 401, "AuthenticationFail.OIDCToken.InvalidSignature")
    before = token_file.rotations
    sts_world.controls.clock.advance(500)  # past 80% of 600 s: the kubelet rewrites the file
    assert token_file.refresh_if_due()  # the rotation thread's step, run here
    assert token_file.rotations == before + 1
    credentials = provider.get_credentials()  # re-reads the file: new token, new key
    assert sts_world.iam.principal_for(credentials.get_access_key_id()) is not None
    statuses = [e.status for e in sts_world.controls.log.entries(service="sts")]
    assert statuses == [200, 401, 200]


def test_injected_error_surfaces_through_the_sdk(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file()
    sts_world.controls.faults.add("sts", "AssumeRoleWithOIDC", status=500, code="InternalError",
                                  message="The request processing has failed.")
    document = _expect_sdk_failure(sts_world.oidc_credentials(str(token_file.path)),
                                   500, "InternalError")
    assert set(document) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert document["Message"] == "The request processing has failed."
    assert sts_world.iam.session_count() == 0
    # The fault fired once; the next refresh succeeds.
    assert sts_world.oidc_credentials(str(token_file.path)).get_credentials()


def test_unreachable_sts_surfaces_as_a_network_error(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file()
    sts_world.controls.faults.add("sts", "AssumeRoleWithOIDC", unreachable=True)
    with pytest.raises(RetryError):
        sts_world.oidc_credentials(str(token_file.path)).get_credentials()
    assert sts_world.iam.session_count() == 0


def test_32_concurrent_calls(sts_world: StsWorld) -> None:
    tokens = [sts_world.issuer.mint_token() for _ in range(32)]

    def call(token: str) -> tuple[int, str]:
        response = sts_world.get(sts_world.oidc_params(token))
        return response.status_code, response.json()["Credentials"]["AccessKeyId"]

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(call, tokens))
    assert {status for status, _ in results} == {200}
    assert len({key for _, key in results}) == 32
    assert sts_world.iam.session_count() == 32
