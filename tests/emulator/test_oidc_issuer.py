"""The emulated OIDC issuer over HTTP and the kubelet-style projected token file."""

from __future__ import annotations

import os
import stat
import threading
import time

import jwt
import pytest
import requests

from django_alioss.emulator.oidc import OIDCIssuer, ProjectedTokenFile
from tests.emulator.conftest_sts import (
    CLIENT_ID,
    StsWorld,
)


def _verify(world: StsWorld, token: str) -> dict:
    """Verify ``token`` with the key the issuer publishes over HTTP, as a relying party would.

    Time claims are left to the tests: they follow the emulator clock, not the wall clock.
    """
    discovery = requests.get(world.issuer_url + "/.well-known/openid-configuration",
                             timeout=5).json()
    jwks = requests.get(discovery["jwks_uri"], timeout=5).json()
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [k for k in jwks["keys"] if k["kid"] == kid]
    if not matching:
        raise jwt.InvalidSignatureError(f"kid {kid} is not in the JWKS")
    return jwt.decode(token, jwt.PyJWK(matching[0]).key, algorithms=["RS256"],
                      audience=CLIENT_ID, issuer=discovery["issuer"],
                      options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})


def test_discovery_document_and_jwks(sts_world: StsWorld) -> None:
    response = requests.get(sts_world.issuer_url + "/.well-known/openid-configuration", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document == {
        "issuer": sts_world.issuer_url,
        "jwks_uri": sts_world.issuer_url + "/keys",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    jwks = requests.get(document["jwks_uri"], timeout=5).json()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kid"] == sts_world.issuer.kid
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert jwt.PyJWK(key).key.key_size == 2048
    operations = [e.operation for e in sts_world.controls.log.entries(service="oidc")]
    assert operations == ["Discovery", "JWKS"]


def test_minted_token_has_projected_service_account_claims(sts_world: StsWorld) -> None:
    sts_world.controls.clock.advance(5000)
    token = sts_world.issuer.mint_token(namespace="shop", service_account="web",
                                        audience=[CLIENT_ID, "other"], lifetime=1800,
                                        pod_name="web-7d9f")
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": sts_world.issuer.kid,
                                                "typ": "JWT"}
    claims = _verify(sts_world, token)
    assert claims["iss"] == sts_world.issuer_url
    assert claims["sub"] == "system:serviceaccount:shop:web"
    assert claims["aud"] == [CLIENT_ID, "other"]
    assert claims["exp"] - claims["iat"] == 1800
    assert claims["nbf"] == claims["iat"]
    # Times follow the emulator clock, not the wall clock.
    assert abs(claims["iat"] - sts_world.controls.clock.now()) < 5
    assert claims["iat"] > time.time() + 4000
    k8s = claims["kubernetes.io"]
    assert k8s["namespace"] == "shop"
    assert k8s["pod"]["name"] == "web-7d9f" and k8s["pod"]["uid"]
    assert k8s["serviceaccount"]["name"] == "web" and k8s["serviceaccount"]["uid"]
    again = jwt.decode(sts_world.issuer.mint_token(namespace="shop", service_account="web"),
                       options={"verify_signature": False})
    assert again["jti"] != claims["jti"]
    assert again["kubernetes.io"]["serviceaccount"]["uid"] == k8s["serviceaccount"]["uid"]


@pytest.mark.parametrize("lifetime", [0, 599, 43201])
def test_token_lifetime_outside_kubernetes_bounds_is_refused(sts_world: StsWorld,
                                                             lifetime: int) -> None:
    with pytest.raises(ValueError):
        sts_world.issuer.mint_token(lifetime=lifetime)
    with pytest.raises(ValueError):
        ProjectedTokenFile(sts_world.issuer, sts_world.tmp_path / "t", lifetime=lifetime)


@pytest.mark.parametrize("lifetime", [600, 43200])
def test_token_lifetime_bounds_are_inclusive(sts_world: StsWorld, lifetime: int) -> None:
    claims = _verify(sts_world, sts_world.issuer.mint_token(lifetime=lifetime))
    assert claims["exp"] - claims["iat"] == lifetime


def test_rotate_key_drops_the_old_public_key(sts_world: StsWorld) -> None:
    old_kid = sts_world.issuer.kid
    old_token = sts_world.issuer.mint_token()
    assert _verify(sts_world, old_token)["sub"].endswith(":alioss")
    new_kid = sts_world.issuer.rotate_key()
    assert new_kid != old_kid and sts_world.issuer.kid == new_kid
    keys = requests.get(sts_world.issuer_url + "/keys", timeout=5).json()["keys"]
    assert [k["kid"] for k in keys] == [new_kid]
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(sts_world, old_token)
    # Even with the old kid forced onto the new key, the old signature does not verify.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(old_token, jwt.PyJWK(keys[0]).key, algorithms=["RS256"], audience=CLIENT_ID)
    assert _verify(sts_world, sts_world.issuer.mint_token())["iss"] == sts_world.issuer_url


def test_unknown_paths_and_methods_get_json_errors(sts_world: StsWorld) -> None:
    missing = requests.get(sts_world.issuer_url + "/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFound"
    wrong_method = requests.post(sts_world.issuer_url + "/keys", data=b"x", timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "MethodNotAllowed"


def test_issuer_without_url_refuses_to_mint(sts_world: StsWorld) -> None:
    with pytest.raises(ValueError):
        OIDCIssuer(sts_world.controls).mint_token()


def test_injected_fault_on_jwks(sts_world: StsWorld) -> None:
    sts_world.controls.faults.add("oidc", "JWKS", status=503, code="ServiceUnavailable")
    failed = requests.get(sts_world.issuer_url + "/keys", timeout=5)
    assert failed.status_code == 503
    assert failed.json()["error"] == "ServiceUnavailable"
    assert requests.get(sts_world.issuer_url + "/keys", timeout=5).status_code == 200


def test_token_file_is_written_atomically_with_claims(sts_world: StsWorld) -> None:
    token_file = sts_world.token_file("rrsa-token", namespace="shop", service_account="web",
                                      lifetime=900)
    path = sts_world.tmp_path / "rrsa-token"
    content = path.read_text()
    assert content == token_file.token
    assert not content.endswith("\n") and content.count(".") == 2
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(sts_world.tmp_path) == ["rrsa-token"]  # no temporary file left behind
    claims = _verify(sts_world, content)
    assert claims["sub"] == "system:serviceaccount:shop:web"
    assert claims["exp"] - claims["iat"] == 900
    assert token_file.rotations == 1

    # Readers never see a partial file while it is being rewritten.
    stop = threading.Event()
    seen: list[str] = []

    def read_continuously() -> None:
        while not stop.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for _ in range(30):
            token_file.write()
    finally:
        stop.set()
        reader.join()
    assert token_file.rotations == 31
    assert seen
    for text in seen:
        assert _looks_complete(text), text
    assert os.listdir(sts_world.tmp_path) == ["rrsa-token"]


def _looks_complete(token: str) -> bool:
    try:
        jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return True


def _wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_token_file_rotates_at_80_percent_of_lifetime_on_the_emulator_clock(
        sts_world: StsWorld) -> None:
    token_file = sts_world.token_file(lifetime=1000)
    first = token_file.token
    path = sts_world.tmp_path / "token"
    clock = sts_world.controls.clock
    assert token_file.rotations == 1
    assert token_file.refresh_due_at == _verify(sts_world, first)["iat"] + 800
    clock.advance(700)
    assert token_file.refresh_if_due() is False  # 700 s of 1000: not yet
    assert token_file.rotations == 1 and path.read_text() == first
    clock.advance(120)  # 820 s of 1000: past the 80% mark
    assert token_file.refresh_if_due() is True
    second = path.read_text()
    assert token_file.rotations == 2
    assert second != first and second == token_file.token
    claims = _verify(sts_world, second)
    assert abs(claims["iat"] - clock.now()) < 5
    assert token_file.refresh_if_due() is False  # the new token is fresh


def test_token_file_thread_rotates_on_the_emulator_clock_until_stopped(
        sts_world: StsWorld) -> None:
    token_file = sts_world.token_file(lifetime=1000)
    token_file.start()
    try:
        assert token_file.running and token_file.rotations == 1  # a fresh file is kept
        sts_world.controls.clock.advance(900)
        assert _wait_for(lambda: token_file.rotations == 2)  # the thread did the step
    finally:
        token_file.stop()
    assert not token_file.running  # joined: nothing rotates the file any more
    assert token_file.rotations == 2


def test_token_file_start_writes_when_missing(sts_world: StsWorld) -> None:
    path = sts_world.tmp_path / "fresh"
    with ProjectedTokenFile(sts_world.issuer, path, lifetime=600) as token_file:
        assert token_file.rotations == 1
        assert _verify(sts_world, path.read_text())["sub"] == \
            "system:serviceaccount:default:alioss"
