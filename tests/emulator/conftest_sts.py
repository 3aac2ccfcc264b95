"""Fixtures for the STS and OIDC-issuer tests: an account, an issuer, STS, both on 127.0.0.1.

Imported by ``test_oidc_*.py`` and ``test_sts_*.py``. Credentials are obtained with
the real alibabacloud-credentials providers over HTTP; raw calls use requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import (
    OIDCRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
)
from alibabacloud_credentials.utils import parameter_helper

from django_alioss.emulator.controls import Controls
from django_alioss.emulator.httpserver import ServiceServer
from django_alioss.emulator.iam import IAM, OIDCProvider, Role, User
from django_alioss.emulator.oidc import OIDCIssuer, ProjectedTokenFile
from django_alioss.emulator.sts import STSService

# The SDK attaches stream handlers at import; keep test output readable.
for _name in ("credentials", "alibabacloud-tea"):
    _logger = logging.getLogger(_name)
    _logger.handlers.clear()
    _logger.addHandler(logging.NullHandler())
    _logger.setLevel(logging.CRITICAL)

ALLOW_OSS = {"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": ["oss:*"], "Resource": ["*"]}]}
SERVICE_ACCOUNT = "alioss"
NAMESPACE = "default"
CLIENT_ID = "sts.aliyuncs.com"
# Environment variables the SDK (or requests underneath it) would otherwise pick up.
_SDK_ENV = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
            "NO_PROXY", "no_proxy", "DEBUG")


def ack_trust_policy(provider: OIDCProvider, issuer_url: str, subject: str,
                     operator: str = "StringEquals") -> dict[str, Any]:
    """The trust policy ACK writes for an RRSA role (conditions on iss, aud and sub)."""
    return {"Version": "1", "Statement": [{
        "Action": "sts:AssumeRole", "Effect": "Allow",
        "Principal": {"Federated": [provider.arn]},
        "Condition": {
            "StringEquals": {"oidc:iss": issuer_url, "oidc:aud": CLIENT_ID},
            operator: {"oidc:sub": subject},
        },
    }]}


def ram_trust_policy(*principals: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Action": "sts:AssumeRole", "Effect": "Allow",
                                 "Principal": {"RAM": list(principals)}}
    if condition:
        statement["Condition"] = condition
    return {"Version": "1", "Statement": [statement]}


def assume_policy(resource: str) -> dict[str, Any]:
    return {"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resource}]}


def sdk_error(exc_info: pytest.ExceptionInfo[CredentialException]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the JSON error body out of the SDK's CredentialException text."""
    text = str(exc_info.value)
    status = int(text.split("http_code: ", 1)[1].split(",", 1)[0])
    return status, json.loads(text.split("result: ", 1)[1])


@dataclass
class StsWorld:
    """One emulated account with an OIDC issuer and STS, each on its own server."""

    controls: Controls
    iam: IAM
    issuer: OIDCIssuer
    sts: STSService
    issuer_url: str
    sts_url: str
    provider: OIDCProvider
    oidc_role: Role
    app_role: Role
    alice: User  # may assume app_role
    bob: User  # may only use OSS
    tmp_path: Any
    token_files: list[ProjectedTokenFile] = field(default_factory=list)

    # --- OIDC ---------------------------------------------------------------------
    def token_file(self, name: str = "token", **options: Any) -> ProjectedTokenFile:
        """A written (not started) projected token file; stopped at teardown."""
        options.setdefault("namespace", NAMESPACE)
        options.setdefault("service_account", SERVICE_ACCOUNT)
        token_file = ProjectedTokenFile(self.issuer, self.tmp_path / name, **options)
        token_file.write()
        self.token_files.append(token_file)
        return token_file

    def write_token(self, token: str, name: str = "raw-token") -> str:
        path = self.tmp_path / name
        path.write_text(token)
        return str(path)

    def oidc_credentials(self, token_path: str, **options: Any) -> OIDCRoleArnCredentialsProvider:
        options.setdefault("role_arn", self.oidc_role.arn)
        options.setdefault("oidc_provider_arn", self.provider.arn)
        options.setdefault("role_session_name", "rrsa-test")
        return OIDCRoleArnCredentialsProvider(
            oidc_token_file_path=token_path, sts_endpoint=self.sts_url, **options)

    def oidc_params(self, token: str, **overrides: str) -> dict[str, str]:
        """The query alibabacloud-credentials sends for AssumeRoleWithOIDC."""
        params = {
            "Action": "AssumeRoleWithOIDC", "Format": "JSON", "Version": "2015-04-01",
            "DurationSeconds": "3600", "RoleArn": self.oidc_role.arn,
            "OIDCProviderArn": self.provider.arn, "OIDCToken": token,
            "RoleSessionName": "rrsa-test", "Timestamp": parameter_helper.get_iso_8061_date(),
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    # --- AssumeRole -------------------------------------------------------------------
    def ram_credentials(self, user: User, **options: Any) -> RamRoleArnCredentialsProvider:
        options.setdefault("access_key_id", user.access_key_id)
        options.setdefault("access_key_secret", user.access_key_secret)
        options.setdefault("role_arn", self.app_role.arn)
        options.setdefault("role_session_name", "app-test")
        return RamRoleArnCredentialsProvider(sts_endpoint=self.sts_url, **options)

    def signed_params(self, access_key_id: str, secret: str, method: str = "GET",
                      **overrides: str) -> dict[str, str]:
        """An AssumeRole query signed the way RamRoleArnCredentialsProvider signs it."""
        params = {
            "Action": "AssumeRole", "Format": "JSON", "Version": "2015-04-01",
            "DurationSeconds": "3600", "RoleArn": self.app_role.arn,
            "RoleSessionName": "app-test", "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0", "Timestamp": parameter_helper.get_iso_8061_date(),
            "SignatureNonce": parameter_helper.get_uuid(), "AccessKeyId": access_key_id,
        }
        params.update(overrides)
        params = {k: v for k, v in params.items() if v is not None}
        string_to_sign = parameter_helper.compose_string_to_sign(method, params)
        params["Signature"] = parameter_helper.sign_string(string_to_sign, secret + "&")
        return params

    # --- raw HTTP -----------------------------------------------------------------------
    def get(self, params: dict[str, str]) -> requests.Response:
        return requests.get(self.sts_url + "/", params=params, timeout=10)

    def post(self, params: dict[str, str]) -> requests.Response:
        return requests.post(self.sts_url + "/", data=params, timeout=10)


def assert_sts_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Check STS's JSON error shape, status and code; return the document."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert document["Code"] == code, document
    assert document["HostId"] == "sts.aliyuncs.com"
    assert len(document["RequestId"]) == 24 and document["Message"]
    assert code in document["Recommend"]
    return document


@dataclass
class StsServers:
    """The issuer and STS servers, shared by the tests of one module."""

    controls: Controls
    issuer: OIDCIssuer
    sts: STSService
    issuer_url: str
    sts_url: str


@pytest.fixture(scope="module")
def sts_servers() -> Iterator[StsServers]:
    """An OIDC issuer and STS on 127.0.0.1:0 for a whole module (state is reset per test)."""
    controls = Controls()
    issuer = OIDCIssuer(controls)
    issuer_server = ServiceServer(issuer, controls)
    issuer_server.start()
    issuer.issuer_url = issuer_server.url
    sts = STSService(iam=IAM(), controls=controls)
    sts_server = ServiceServer(sts, controls)
    sts_server.start()
    try:
        yield StsServers(controls, issuer, sts, issuer_server.url, sts_server.url)
    finally:
        sts_server.stop()
        issuer_server.stop()


@pytest.fixture
def sts_world(sts_servers: StsServers, tmp_path, monkeypatch) -> Iterator[StsWorld]:
    """A fresh account (RRSA role, RAM users) on the shared servers, with clean controls."""
    for name in _SDK_ENV:
        monkeypatch.delenv(name, raising=False)
    controls, issuer, sts = sts_servers.controls, sts_servers.issuer, sts_servers.sts
    controls.reset()
    iam = IAM()
    sts.iam = iam
    sts.issuers.clear()
    sts.issuers[issuer.issuer_url] = issuer
    provider = iam.add_oidc_provider("ack-rrsa-test", issuer.issuer_url, [CLIENT_ID])
    oidc_role = iam.add_role(
        "rrsa-app", ack_trust_policy(provider, issuer.issuer_url,
                                     f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"),
        [ALLOW_OSS])
    app_role = iam.add_role("ram-app", ram_trust_policy(f"acs:ram::{iam.account_id}:root"),
                            [ALLOW_OSS])
    alice = iam.add_user("alice", [assume_policy(app_role.arn)])
    bob = iam.add_user("bob", [ALLOW_OSS])
    world = StsWorld(controls=controls, iam=iam, issuer=issuer, sts=sts,
                     issuer_url=sts_servers.issuer_url, sts_url=sts_servers.sts_url,
                     provider=provider, oidc_role=oidc_role, app_role=app_role, alice=alice,
                     bob=bob, tmp_path=tmp_path)
    try:
        yield world
    finally:
        for token_file in world.token_files:
            token_file.stop()
        controls.reset()


__all__ = [
    "ALLOW_OSS", "CLIENT_ID", "NAMESPACE", "SERVICE_ACCOUNT", "StsServers", "StsWorld",
    "ack_trust_policy", "assert_sts_error", "assume_policy", "ram_trust_policy", "sdk_error",
    "sts_servers", "sts_world",
]
