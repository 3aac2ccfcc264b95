"""AssumeRole (AccessKey -> role) against the emulated STS: RPC signatures and permissions."""

from __future__ import annotations

import json
import logging
import time

import pytest
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider
from Tea.exceptions import RetryError

from django_alioss.emulator.iam import Session, authorize
from django_alioss.redaction import mask_key_id
from tests.emulator.conftest_sts import (
    ALLOW_OSS,
    StsWorld,
    assert_sts_error,
    assume_policy,
    ram_trust_policy,
    sdk_error,
)


def _expect_sdk_failure(provider: RamRoleArnCredentialsProvider, status: int, code: str) -> dict:
    with pytest.raises(CredentialException) as exc_info:
        provider.get_credentials()
    got_status, document = sdk_error(exc_info)
    assert (got_status, document["Code"]) == (status, code), document
    return document


def test_sdk_assume_role_success(sts_world: StsWorld) -> None:
    sts_world.controls.clock.advance(600)  # within the 15 min timestamp tolerance
    credentials = sts_world.ram_credentials(sts_world.alice).get_credentials()
    session = sts_world.iam.principal_for(credentials.get_access_key_id())
    assert isinstance(session, Session)
    assert session.role is sts_world.app_role
    assert session.session_name == "app-test"
    assert session.security_token == credentials.get_security_token()
    assert session.access_key_secret == credentials.get_access_key_secret()
    assert session.expiration == credentials.get_expiration()
    assert abs(credentials.get_expiration() - (sts_world.controls.clock.now() + 3600)) < 5
    entry = sts_world.controls.log.entries(service="sts")[-1]
    assert (entry.operation, entry.status, entry.access_key_id) == \
        ("AssumeRole", 200, sts_world.alice.access_key_id)


def test_raw_success_shape(sts_world: StsWorld) -> None:
    alice = sts_world.alice
    response = sts_world.get(sts_world.signed_params(alice.access_key_id,
                                                     alice.access_key_secret))
    assert response.status_code == 200, response.text
    document = response.json()
    assert set(document) == {"RequestId", "AssumedRoleUser", "Credentials"}
    role = sts_world.app_role
    assert document["AssumedRoleUser"] == {
        "Arn": f"acs:ram::{role.account_id}:role/{role.name}/app-test",
        "AssumedRoleId": f"{role.role_id}:app-test",
    }


def test_post_form_signed_with_post(sts_world: StsWorld) -> None:
    alice = sts_world.alice
    params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret, method="POST")
    assert sts_world.post(params).status_code == 200
    # Signed for POST, sent as GET: the method is part of the string to sign.
    params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret, method="POST")
    assert_sts_error(sts_world.get(params), 400, "SignatureDoesNotMatch")


def test_wrong_secret(sts_world: StsWorld) -> None:
    provider = sts_world.ram_credentials(sts_world.alice, access_key_secret="not-the-secret")
    document = _expect_sdk_failure(provider, 400, "SignatureDoesNotMatch")
    assert "GET&%2F&" in document["Message"]
    assert sts_world.iam.session_count() == 0


def test_logs_show_access_key_ids_masked(sts_world: StsWorld,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="django_alioss.emulator")
    alice = sts_world.alice
    issued = sts_world.ram_credentials(alice).get_credentials().get_access_key_id()
    bad = sts_world.ram_credentials(alice, access_key_secret="not-the-secret")
    _expect_sdk_failure(bad, 400, "SignatureDoesNotMatch")  # its message holds the query
    # The emulator's own records (the SDK may log STS's answer, which quotes the query).
    text = "\n".join(r.getMessage() for r in caplog.records
                     if r.name.startswith("django_alioss.emulator"))
    assert "sts issued " + mask_key_id(issued) in text
    for key_id in (issued, alice.access_key_id):
        assert key_id not in text
    assert "SignatureDoesNotMatch" in text and mask_key_id(alice.access_key_id) in text


def test_unknown_access_key(sts_world: StsWorld) -> None:
    provider = sts_world.ram_credentials(sts_world.alice, access_key_id="LTAI5tUnknownKey000000")
    _expect_sdk_failure(provider, 404, "InvalidAccessKeyId.NotFound")


def test_tampered_parameter_breaks_the_signature(sts_world: StsWorld) -> None:
    alice = sts_world.alice
    params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret)
    params["DurationSeconds"] = "900"
    assert_sts_error(sts_world.get(params), 400, "SignatureDoesNotMatch")


def test_denied_by_the_callers_policy(sts_world: StsWorld) -> None:
    _expect_sdk_failure(sts_world.ram_credentials(sts_world.bob), 403, "NoPermission")
    # A policy for another role does not help either.
    carol = sts_world.iam.add_user("carol", [assume_policy(
        f"acs:ram::{sts_world.iam.account_id}:role/other")])
    _expect_sdk_failure(sts_world.ram_credentials(carol), 403, "NoPermission")
    # An explicit deny beats the allow.
    dave = sts_world.iam.add_user("dave", [assume_policy("*"), {"Version": "1", "Statement": [
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": sts_world.app_role.arn}]}])
    _expect_sdk_failure(sts_world.ram_credentials(dave), 403, "NoPermission")


def test_denied_by_the_trust_policy(sts_world: StsWorld) -> None:
    foreign = sts_world.iam.add_role("foreign-trust", ram_trust_policy(
        "acs:ram::1111111111111111:root"), [ALLOW_OSS])
    user = sts_world.iam.add_user("erin", [assume_policy("*")])
    document = _expect_sdk_failure(sts_world.ram_credentials(user, role_arn=foreign.arn),
                                   403, "NoPermission")
    assert "trust policy" in document["Message"]
    # The OIDC-only role trusts no RAM principal.
    _expect_sdk_failure(sts_world.ram_credentials(user, role_arn=sts_world.oidc_role.arn),
                        403, "NoPermission")


def test_trust_policy_naming_one_user(sts_world: StsWorld) -> None:
    frank = sts_world.iam.add_user("frank", [assume_policy("*")])
    grace = sts_world.iam.add_user("grace", [assume_policy("*")])
    role = sts_world.iam.add_role("frank-only", ram_trust_policy(frank.arn), [ALLOW_OSS])
    assert sts_world.ram_credentials(frank, role_arn=role.arn).get_credentials()
    _expect_sdk_failure(sts_world.ram_credentials(grace, role_arn=role.arn), 403, "NoPermission")


def test_external_id_condition(sts_world: StsWorld) -> None:
    role = sts_world.iam.add_role("with-external-id", ram_trust_policy(
        f"acs:ram::{sts_world.iam.account_id}:root",
        condition={"StringEquals": {"sts:ExternalId": "abcd1234"}}), [ALLOW_OSS])
    user = sts_world.iam.add_user("heidi", [assume_policy(role.arn)])
    assert sts_world.ram_credentials(user, role_arn=role.arn,
                                     external_id="abcd1234").get_credentials()
    _expect_sdk_failure(sts_world.ram_credentials(user, role_arn=role.arn, external_id="wrong"),
                        403, "NoPermission")
    _expect_sdk_failure(sts_world.ram_credentials(user, role_arn=role.arn), 403, "NoPermission")


def test_nonce_cannot_be_reused(sts_world: StsWorld) -> None:
    alice = sts_world.alice
    params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret)
    assert sts_world.get(params).status_code == 200
    assert_sts_error(sts_world.get(params), 400, "SignatureNonceUsed")
    assert sts_world.iam.session_count() == 1


@pytest.mark.parametrize("offset", [-1000, 1000])
def test_timestamp_outside_15_minutes(sts_world: StsWorld, offset: int) -> None:
    sts_world.controls.clock.advance(offset)
    _expect_sdk_failure(sts_world.ram_credentials(sts_world.alice),
                        400, "InvalidTimeStamp.Expired")


def test_malformed_timestamp(sts_world: StsWorld) -> None:
    alice = sts_world.alice
    params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret,
                                     Timestamp="yesterday")
    assert_sts_error(sts_world.get(params), 400, "InvalidTimeStamp.Format")


@pytest.mark.parametrize("missing", ["AccessKeyId", "Signature", "SignatureNonce", "Timestamp",
                                     "RoleArn", "RoleSessionName"])
def test_missing_parameters(sts_world: StsWorld, missing: str) -> None:
    alice = sts_world.alice
    if missing == "Signature":
        params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret)
        del params["Signature"]
    else:
        params = sts_world.signed_params(alice.access_key_id, alice.access_key_secret,
                                         **{missing: None})
    assert_sts_error(sts_world.get(params), 400, f"Missing{missing}")


@pytest.mark.parametrize(("options", "code"), [
    ({"duration_seconds": 3601}, "InvalidParameter.DurationSeconds"),
    ({"role_session_name": "x"}, "InvalidParameter.RoleSessionName"),
    ({"policy": '{"Statement": "nope"}'}, "InvalidParameter.PolicyGrammar"),
])
def test_parameter_checks(sts_world: StsWorld, options: dict, code: str) -> None:
    _expect_sdk_failure(sts_world.ram_credentials(sts_world.alice, **options), 400, code)


def test_unknown_role(sts_world: StsWorld) -> None:
    provider = sts_world.ram_credentials(
        sts_world.alice, role_arn=f"acs:ram::{sts_world.iam.account_id}:role/missing")
    _expect_sdk_failure(provider, 404, "EntityNotExist.Role")


def test_inline_policy_with_spaces_narrows_the_session(sts_world: StsWorld) -> None:
    # json.dumps puts spaces in the policy: the SDK's quote_plus signing must still verify.
    policy = {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:media/*"]}]}
    credentials = sts_world.ram_credentials(sts_world.alice,
                                            policy=json.dumps(policy)).get_credentials()
    session = sts_world.iam.principal_for(credentials.get_access_key_id())
    assert session.session_policy == policy
    assert authorize(session, "oss:GetObject", "acs:oss:*:*:media/x").allowed
    assert not authorize(session, "oss:DeleteObject", "acs:oss:*:*:media/x").allowed


def test_role_chaining_with_sts_credentials(sts_world: StsWorld) -> None:
    chained = sts_world.iam.add_role("chained", ram_trust_policy(
        f"acs:ram::{sts_world.iam.account_id}:root"), [ALLOW_OSS])
    hop = sts_world.iam.add_role(
        "hop", ram_trust_policy(f"acs:ram::{sts_world.iam.account_id}:root"),
        [assume_policy(chained.arn)])
    user = sts_world.iam.add_user("ivan", [assume_policy(hop.arn)])
    first = sts_world.ram_credentials(user, role_arn=hop.arn).get_credentials()
    provider = RamRoleArnCredentialsProvider(
        access_key_id=first.get_access_key_id(), access_key_secret=first.get_access_key_secret(),
        security_token=first.get_security_token(), role_arn=chained.arn,
        role_session_name="second-hop", sts_endpoint=sts_world.sts_url)
    second = provider.get_credentials()
    session = sts_world.iam.principal_for(second.get_access_key_id())
    assert session.role is chained and session.session_name == "second-hop"
    # Without its security token, or with another one, an STS key is refused.
    params = sts_world.signed_params(first.get_access_key_id(), first.get_access_key_secret(),
                                     RoleArn=chained.arn)
    assert_sts_error(sts_world.get(params), 400, "MissingSecurityToken")
    params = sts_world.signed_params(first.get_access_key_id(), first.get_access_key_secret(),
                                     RoleArn=chained.arn,
                                     SecurityToken=second.get_security_token())
    assert_sts_error(sts_world.get(params), 400, "InvalidSecurityToken.MismatchWithAccessKey")


def test_expired_sts_credentials_cannot_assume_roles(sts_world: StsWorld) -> None:
    hop = sts_world.iam.add_role(
        "hop2", ram_trust_policy(f"acs:ram::{sts_world.iam.account_id}:root"),
        [assume_policy("*")])
    user = sts_world.iam.add_user("judy", [assume_policy(hop.arn)])
    first = sts_world.ram_credentials(user, role_arn=hop.arn,
                                      duration_seconds=900).get_credentials()
    session = sts_world.iam.principal_for(first.get_access_key_id())
    session.expiration = sts_world.controls.clock.now() - 1  # expired, timestamp still fresh
    params = sts_world.signed_params(first.get_access_key_id(), first.get_access_key_secret(),
                                     SecurityToken=first.get_security_token())
    assert_sts_error(sts_world.get(params), 400, "InvalidSecurityToken.Expired")


def test_injected_faults(sts_world: StsWorld) -> None:
    sts_world.controls.faults.add("sts", "AssumeRole", status=503, code="ServiceUnavailable")
    _expect_sdk_failure(sts_world.ram_credentials(sts_world.alice), 503, "ServiceUnavailable")
    sts_world.controls.faults.add("sts", "AssumeRole", unreachable=True)
    with pytest.raises(RetryError):
        sts_world.ram_credentials(sts_world.alice).get_credentials()
    assert sts_world.ram_credentials(sts_world.alice).get_credentials()
    assert sts_world.iam.session_count() == 1


def test_slow_sts_still_answers(sts_world: StsWorld) -> None:
    sts_world.controls.faults.add("sts", "AssumeRole", latency=0.3)
    started = time.monotonic()
    assert sts_world.ram_credentials(sts_world.alice).get_credentials()
    assert time.monotonic() - started >= 0.3
