"""STS as the OpenAPI SDK (``alibabacloud_sts20150401``) calls it: AssumeRole signed with
OpenAPI signature V3 (ACS3-HMAC-SHA256, the action in ``x-acs-action``), and
AssumeRoleWithOIDC both as the SDK sends it (RPC style) and as a V3 request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from alibabacloud_sts20150401 import models
from alibabacloud_sts20150401.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from darabonba.runtime import RuntimeOptions

from django_alioss.emulator.iam import Session

if TYPE_CHECKING:
    from django_alioss.emulator.emulator import Emulator


def _client(emu: Emulator, key_id: str = "", secret: str = "", token: str | None = None,
            cls: type[Any] = Client) -> Any:
    config = openapi_models.Config(
        access_key_id=key_id or emu.access_key_id,
        access_key_secret=secret or emu.access_key_secret, security_token=token,
        endpoint=emu.sts_endpoint.removeprefix("http://"), protocol="http")
    return cls(config)


def _error_code(exc: BaseException) -> str:
    return getattr(exc, "code", "") or ""


def test_assume_role_signed_v3_by_the_sdk(emu: Emulator) -> None:
    request = models.AssumeRoleRequest(role_arn=emu.ram_role_arn,
                                       role_session_name="openapi-sdk", duration_seconds=900)
    answer = _client(emu).assume_role(request).body
    session = emu.iam.principal_for(answer.credentials.access_key_id)
    assert isinstance(session, Session) and session.role is emu.ram_role
    assert answer.assumed_role_user.arn.endswith("role/alioss-app/openapi-sdk")
    entry = emu.controls.log.entries(service="sts")[-1]
    assert (entry.operation, entry.status, entry.access_key_id) == \
        ("AssumeRole", 200, emu.access_key_id)


def test_assume_role_v3_with_a_wrong_secret_is_refused(emu: Emulator) -> None:
    request = models.AssumeRoleRequest(role_arn=emu.ram_role_arn, role_session_name="wrong-key")
    with pytest.raises(Exception) as raised:
        _client(emu, secret="not-the-secret").assume_role(request)
    assert _error_code(raised.value) == "SignatureDoesNotMatch"


def test_assume_role_v3_timestamp_is_checked(emu: Emulator) -> None:
    emu.controls.clock.advance(3600)  # the SDK's x-acs-date is now an hour behind STS
    request = models.AssumeRoleRequest(role_arn=emu.ram_role_arn, role_session_name="skewed")
    try:
        with pytest.raises(Exception) as raised:
            _client(emu).assume_role(request)
    finally:  # the token file may have rotated meanwhile: one valid now, for later tests
        emu.controls.clock.set_offset(0)
        emu.token_file.write()
    assert _error_code(raised.value) == "InvalidTimeStamp.Expired"


def test_assume_role_v3_with_sts_credentials_checks_the_security_token(emu: Emulator) -> None:
    first = _client(emu).assume_role(models.AssumeRoleRequest(
        role_arn=emu.ram_role_arn, role_session_name="first-hop")).body.credentials
    request = models.AssumeRoleRequest(role_arn=emu.ram_role_arn, role_session_name="second")
    with pytest.raises(Exception) as wrong:
        _client(emu, first.access_key_id, first.access_key_secret,
                token="not-the-token").assume_role(request)
    assert _error_code(wrong.value) == "InvalidSecurityToken.MismatchWithAccessKey"
    with pytest.raises(Exception) as denied:  # the token is right; the role may not chain
        _client(emu, first.access_key_id, first.access_key_secret,
                token=first.security_token).assume_role(request)
    assert _error_code(denied.value) == "NoPermission"


def test_assume_role_with_oidc_by_the_sdk(emu: Emulator) -> None:
    token = Path(emu.oidc_token_file).read_text()
    answer = _client(emu).assume_role_with_oidc(models.AssumeRoleWithOIDCRequest(
        role_arn=emu.role_arn, oidcprovider_arn=emu.oidc_provider_arn, oidctoken=token,
        role_session_name="oidc-sdk")).body
    assert answer.oidctoken_info.subject == emu.subject
    assert emu.controls.log.entries(service="sts")[-1].operation == "AssumeRoleWithOIDC"


def test_assume_role_with_oidc_as_a_v3_request(emu: Emulator) -> None:
    """The generic OpenAPI client sends the action in x-acs-action, unsigned (Anonymous)."""
    token = Path(emu.oidc_token_file).read_text()
    params = openapi_models.Params(
        action="AssumeRoleWithOIDC", version="2015-04-01", protocol="HTTP", pathname="/",
        method="POST", auth_type="Anonymous", style="RPC", req_body_type="formData",
        body_type="json")
    request = openapi_models.OpenApiRequest(query={
        "RoleArn": emu.role_arn, "OIDCProviderArn": emu.oidc_provider_arn,
        "OIDCToken": token, "RoleSessionName": "oidc-v3"})
    answer = _client(emu, cls=OpenApiClient).call_api(params, request, RuntimeOptions())
    assert answer["statusCode"] == 200
    assert answer["body"]["Credentials"]["AccessKeyId"].startswith("STS.")
    entry = emu.controls.log.entries(service="sts")[-1]
    assert (entry.operation, entry.status) == ("AssumeRoleWithOIDC", 200)
