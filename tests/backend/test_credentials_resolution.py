"""Which credentials source ``build_provider`` picks, without touching the network.

Every test passes its own ``environ`` so nothing depends on the machine's environment.
"""

from __future__ import annotations

import ast
import copy
import logging
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

import django_alioss.credentials
from django_alioss.credentials import (
    CredentialsProvider,
    CredentialsUnavailable,
    build_provider,
    ensure_sdk_logging_quiet,
)
from django_alioss.options import OPTIONS

AK = "LTAI5tResolutionKey0001"
SK = "resolution-secret-value-1"
ENV_AK = "LTAI5tEnvironmentKey002"
ENV_SK = "environment-secret-value-2"
ROLE = "acs:ram::1234567890123456:role/app"
PROVIDER_ARN = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1"


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")
    return str(path)


def rrsa_env(token_file: str, prefix: str = "ALIBABA_CLOUD_") -> dict[str, str]:
    return {f"{prefix}ROLE_ARN": ROLE, f"{prefix}OIDC_PROVIDER_ARN": PROVIDER_ARN,
            f"{prefix}OIDC_TOKEN_FILE": token_file}


def build(options: dict[str, object], **kwargs: object) -> CredentialsProvider:
    options.setdefault("environ", {})
    return build_provider(options, shared=False, **kwargs)


# --- static keys -------------------------------------------------------------------------------
def test_static_keys() -> None:
    provider = build({"access_key_id": AK, "access_key_secret": SK})
    creds = provider.get_credentials()
    assert (creds.get_access_key_id(), creds.get_access_key_secret()) == (AK, SK)
    assert not creds.get_security_token()
    snap = provider.snapshot()
    assert snap.security_token is None and snap.expiration is None and snap.source == "static"
    info = provider.describe()
    assert info["source"] == "static" and info["access_key_id"] == "LTAI****0001"
    assert info["sts_calls"] == 0
    assert not hasattr(provider, "_lock"), "static sources need no lock"


def test_static_keys_with_security_token() -> None:
    provider = build({"access_key_id": "STS.StaticKey00000001", "access_key_secret": SK,
                      "security_token": "CAISstatictokenvalue"})
    assert provider.get_credentials().get_security_token() == "CAISstatictokenvalue"
    assert provider.snapshot().security_token == "CAISstatictokenvalue"


@pytest.mark.parametrize("options", [
    {"access_key_id": AK},
    {"access_key_secret": SK},
    {"access_key_id": AK, "access_key_secret": "rrsa"},
    {"access_key_id": "rrsa", "access_key_secret": SK},
])
def test_half_a_key_pair_is_improperly_configured(options: dict[str, object]) -> None:
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build(dict(options))
    assert SK not in str(excinfo.value)


def test_explicit_static_takes_keys_from_environ() -> None:
    provider = build({"credentials_provider": "static",
                      "environ": {"ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK,
                                  "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SK}})
    assert provider.get_credentials().get_access_key_id() == ENV_AK
    with pytest.raises(ImproperlyConfigured, match="ALIBABA_CLOUD_ACCESS_KEY_ID"):
        build({"credentials_provider": "static"})


# --- RRSA detection ------------------------------------------------------------------------------
@pytest.mark.parametrize(("ak", "sk"), [
    (None, None), ("", ""), ("rrsa", "rrsa"), ("RRSA", "RRSA"), ("rrsa", ""), (" Rrsa ", None),
])
def test_empty_or_rrsa_keys_mean_rrsa(ak: str | None, sk: str | None, token_file: str) -> None:
    provider = build({"access_key_id": ak, "access_key_secret": sk,
                      "environ": rrsa_env(token_file)})
    info = provider.describe()
    assert info["source"] == "rrsa"
    assert (info["role_arn"], info["oidc_provider_arn"], info["oidc_token_file"]) == (
        ROLE, PROVIDER_ARN, token_file)
    assert info["sts_calls"] == 0, "building does not call STS"


def test_rrsa_sources_options_then_alibaba_cloud_then_alicloud_env(tmp_path: Path,
                                                                    token_file: str) -> None:
    other = tmp_path / "other-token"
    other.write_text("x.y.z")
    environ = {**rrsa_env(str(other), "ALICLOUD_"), "ALIBABA_CLOUD_ROLE_ARN": ROLE + "-env"}
    info = build({"environ": environ}).describe()
    assert info["role_arn"] == ROLE + "-env"  # ALIBABA_CLOUD_* wins over ALICLOUD_*
    assert info["oidc_provider_arn"] == PROVIDER_ARN  # from ALICLOUD_*
    assert info["oidc_token_file"] == str(other)
    info = build({"environ": environ, "role_arn": ROLE + "-opt",
                  "oidc_token_file": token_file}).describe()
    assert info["role_arn"] == ROLE + "-opt" and info["oidc_token_file"] == token_file


def test_session_name_from_option_env_or_sanitised_hostname(token_file: str) -> None:
    env = rrsa_env(token_file)
    assert build({"environ": env, "role_session_name": "my.app@prod"}).describe()[
        "role_session_name"] == "my.app@prod"
    assert build({"environ": {**env, "ALIBABA_CLOUD_ROLE_SESSION_NAME": "from-env"}}).describe()[
        "role_session_name"] == "from-env"
    assert build({"environ": {**env, "HOSTNAME": "web/7 pod:a"}}).describe()[
        "role_session_name"] == "django-alioss-web-7-pod-a"
    long_name = build({"environ": {**env, "HOSTNAME": "h" * 100}}).describe()["role_session_name"]
    assert len(long_name) == 64 and long_name.startswith("django-alioss-hhh")
    expected = ("django-alioss-" + re.sub(r"[^A-Za-z0-9.@_-]", "-", socket.gethostname()))[:64]
    assert build({"environ": env}).describe()["role_session_name"] == expected
    for bad in ("x", "has space", "é-accent", "a" * 65):
        with pytest.raises(ImproperlyConfigured, match="role_session_name"):
            build({"environ": env, "role_session_name": bad})


def test_sts_endpoint_derivation(token_file: str) -> None:
    env = rrsa_env(token_file)

    def endpoint(options: dict[str, object], extra_env: dict[str, str] | None = None) -> str:
        return build({"environ": {**env, **(extra_env or {})}, **options}).describe()[
            "sts_endpoint"]

    assert endpoint({}) == "sts.aliyuncs.com"
    assert endpoint({}, {"ALIBABA_CLOUD_STS_REGION": "cn-shanghai"}) == \
        "sts.cn-shanghai.aliyuncs.com"
    assert endpoint({}, {"ALIBABA_CLOUD_STS_REGION": "cn-shanghai",
                         "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED": "true"}) == \
        "sts-vpc.cn-shanghai.aliyuncs.com"
    assert endpoint({"sts_region": "cn-beijing", "sts_vpc_endpoint": False},
                    {"ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED": "true"}) == \
        "sts.cn-beijing.aliyuncs.com"
    assert endpoint({"sts_endpoint": "http://127.0.0.1:9/"}) == "http://127.0.0.1:9"


@pytest.mark.parametrize("duration", [899, 43201, "abc", -1])
def test_role_duration_out_of_range(duration: object, token_file: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="role_duration"):
        build({"environ": rrsa_env(token_file), "role_duration": duration})


@pytest.mark.parametrize("duration", [900, 43200, "1800", None])
def test_role_duration_in_range(duration: object, token_file: str) -> None:
    info = build({"environ": rrsa_env(token_file), "role_duration": duration}).describe()
    assert info["duration"] == (3600 if duration is None else int(duration))


def test_options_are_parsed_by_the_option_table(token_file: str) -> None:
    # Strings, as settings or the environment give them, parsed by OPTIONS' rules.
    info = build({"environ": rrsa_env(token_file), "role_duration": "1_800",
                  "sts_region": "cn-beijing", "sts_vpc_endpoint": "yes",
                  "connect_timeout": "2.5"}).describe()
    assert info["duration"] == 1800 and info["sts_endpoint"] == "sts-vpc.cn-beijing.aliyuncs.com"
    environ = {"ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SK}
    no_fallback = build({"environ": environ, "rrsa_fallback": "off"})
    with pytest.raises(CredentialsUnavailable) as excinfo:
        no_fallback.get_credentials()
    assert "fallback" not in str(excinfo.value)
    # Missing values take the table's defaults.
    assert build({"environ": rrsa_env(token_file)}).describe()["duration"] == \
        OPTIONS["role_duration"].default


@pytest.mark.parametrize(("name", "value", "complaint"), [
    ("role_duration", 899, "must be at least 900"),
    ("role_duration", 43201, "must be at most 43200"),
    ("role_duration", "abc", "expected an integer"),
    ("rrsa_fallback", "maybe", "expected a boolean"),
    ("sts_vpc_endpoint", "sometimes", "expected a boolean"),
    ("connect_timeout", 0, "must be at least 0.1"),
    ("read_timeout", "slow", "expected a number"),
    ("role_arn", 12, "expected a string"),
])
def test_invalid_options_get_the_option_tables_message(
        name: str, value: object, complaint: str, token_file: str) -> None:
    with pytest.raises(ImproperlyConfigured) as excinfo:
        build({"environ": rrsa_env(token_file), name: value})
    message = str(excinfo.value)
    assert f"django-alioss option {name!r}" in message and complaint in message
    # The same words as the storage's own check of that option.
    with pytest.raises(ImproperlyConfigured) as direct:
        OPTIONS[name].parse(value, "the options given to build_provider")
    assert message == str(direct.value)


def test_an_invalid_secret_option_is_not_echoed() -> None:
    with pytest.raises(ImproperlyConfigured, match="access_key_secret") as excinfo:
        build({"access_key_id": AK, "access_key_secret": 9876543210})
    assert "9876543210" not in str(excinfo.value) and "(hidden)" in str(excinfo.value)


def test_role_policy_must_be_a_json_object(token_file: str) -> None:
    env = rrsa_env(token_file)
    build({"environ": env, "role_policy": {"Version": "1", "Statement": []}})
    build({"environ": env, "role_policy": '{"Version": "1", "Statement": []}'})
    for bad in ("{not json", "[1, 2]"):
        with pytest.raises(ImproperlyConfigured, match="role_policy"):
            build({"environ": env, "role_policy": bad})


# --- fallback decided at build time ------------------------------------------------------------
def test_incomplete_env_falls_back_to_static_with_one_warning(
        caplog: pytest.LogCaptureFixture, token_file: str) -> None:
    environ = {"ALIBABA_CLOUD_ROLE_ARN": ROLE, "ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK,
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SK}
    with caplog.at_level(logging.DEBUG):
        provider = build_provider({"environ": environ})
        again = build_provider({"environ": dict(environ)})
        for _ in range(3):
            provider.get_credentials()
    assert again is provider, "one shared provider per configuration"
    assert provider.get_credentials().get_access_key_id() == ENV_AK
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert warnings[0].name == "django_alioss"
    assert "ALIBABA_CLOUD_OIDC_PROVIDER_ARN" in message
    assert "ALIBABA_CLOUD_OIDC_TOKEN_FILE" in message
    assert "ALIBABA_CLOUD_ROLE_ARN" not in message.split("missing", 1)[1]
    assert "LTAI****y002" in message
    assert ENV_SK not in caplog.text and ENV_AK not in caplog.text
    info = provider.describe()
    assert info["source"] == "static-fallback"
    assert "ALIBABA_CLOUD_OIDC_TOKEN_FILE" in info["why"]


def test_unreadable_token_file_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ = {**rrsa_env(str(tmp_path / "missing")), "ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK,
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SK}
    with caplog.at_level(logging.WARNING, logger="django_alioss"):
        provider = build({"environ": environ})
    assert provider.describe()["source"] == "static-fallback"
    assert "not readable" in caplog.text


def test_no_rrsa_and_no_static_keys_fails_at_first_use_listing_both() -> None:
    provider = build({"environ": {"ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK}})
    with pytest.raises(CredentialsUnavailable) as excinfo:
        provider.get_credentials()
    message = str(excinfo.value)
    assert "RRSA environment incomplete" in message and "ALIBABA_CLOUD_ROLE_ARN" in message
    assert "static fallback" in message and "ALIBABA_CLOUD_ACCESS_KEY_SECRET not set" in message
    with pytest.raises(CredentialsUnavailable):
        provider.snapshot()


def test_rrsa_fallback_false_raises_the_rrsa_error(caplog: pytest.LogCaptureFixture) -> None:
    environ = {"ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SK}
    with caplog.at_level(logging.WARNING):
        provider = build({"environ": environ, "rrsa_fallback": False})
    with pytest.raises(CredentialsUnavailable, match="RRSA environment incomplete") as excinfo:
        provider.get_credentials()
    assert "fallback" not in str(excinfo.value)
    assert not caplog.records


# --- explicit sources -----------------------------------------------------------------------------
def test_unknown_credentials_provider_lists_the_valid_ones() -> None:
    for bad in ("kerberos", "no.such.module.func", "os.no_such_function"):
        with pytest.raises(ImproperlyConfigured) as excinfo:
            build({"credentials_provider": bad})
        for valid in ("'rrsa'", "'static'", "'ram_role_arn'", "'ecs_ram_role'",
                      "'default_chain'", "dotted path"):
            assert valid in str(excinfo.value)


def test_ram_role_arn_needs_role_and_keys() -> None:
    with pytest.raises(ImproperlyConfigured, match="role_arn"):
        build({"credentials_provider": "ram_role_arn", "access_key_id": AK,
               "access_key_secret": SK})
    with pytest.raises(ImproperlyConfigured, match="AccessKey"):
        build({"credentials_provider": "ram_role_arn", "role_arn": ROLE})
    provider = build({"credentials_provider": "ram_role_arn", "role_arn": ROLE,
                      "access_key_id": AK, "access_key_secret": SK})
    info = provider.describe()
    assert info["source"] == "ram_role_arn" and info["role_arn"] == ROLE
    assert info["signing_access_key_id"] == "LTAI****0001" and info["sts_calls"] == 0
    assert SK not in repr(info)


def test_default_chain_reads_keys_from_the_given_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIprocessEnvironment")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "process-secret")
    provider = build({"credentials_provider": "default_chain",
                      "environ": {"ALIBABA_CLOUD_ACCESS_KEY_ID": ENV_AK,
                                  "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ENV_SK}})
    creds = provider.get_credentials()
    assert (creds.get_access_key_id(), creds.get_access_key_secret()) == (ENV_AK, ENV_SK)
    assert provider.describe()["source"] == "default_chain"
    # With os.environ as the environ, keys set after import are honoured too.
    process = build_provider({"credentials_provider": "default_chain"}, shared=False)
    assert process.get_credentials().get_access_key_id() == "LTAIprocessEnvironment"


def test_default_chain_without_anything_reports_every_link(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    provider = build({"credentials_provider": "default_chain", "environ": environ})
    assert provider.describe()["chain"] == ["cli_profile", "credentials_file"]
    with pytest.raises(CredentialsUnavailable) as excinfo:
        provider.get_credentials()
    assert "cli_profile" in str(excinfo.value) and "credentials_file" in str(excinfo.value)


def test_default_chain_reads_the_cli_profile_under_home(tmp_path: Path) -> None:
    config = tmp_path / ".aliyun" / "config.json"
    config.parent.mkdir()
    config.write_text('{"current": "p", "profiles": [{"name": "p", "mode": "AK", '
                      f'"access_key_id": "{AK}", "access_key_secret": "{SK}"}}]}}')
    environ = {"HOME": str(tmp_path), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
    provider = build({"credentials_provider": "default_chain", "environ": environ})
    assert provider.get_credentials().get_access_key_id() == AK
    assert provider.describe()["chain_link"] == "cli_profile"


def test_ecs_ram_role_builds_without_network() -> None:
    provider = build({"credentials_provider": "ecs_ram_role", "ecs_role_name": "worker-role"})
    info = provider.describe()
    assert info["source"] == "ecs_ram_role" and info["ecs_role_name"] == "worker-role"
    assert info["sts_calls"] == 0


def test_a_provider_instance_is_used_as_is() -> None:
    inner = build({"access_key_id": AK, "access_key_secret": SK})
    assert build({"credentials_provider": inner}) is inner


# --- sharing, copying, pickling ---------------------------------------------------------------
def test_identical_configurations_share_one_provider(token_file: str) -> None:
    env = rrsa_env(token_file)
    first = build_provider({"environ": env, "role_session_name": "share-test"})
    assert build_provider({"environ": dict(env), "role_session_name": "share-test"}) is first
    other_role = build_provider({"environ": env, "role_session_name": "share-test",
                                 "role_arn": ROLE + "-2"})
    assert other_role is not first
    static_a = build_provider({"access_key_id": AK, "access_key_secret": SK})
    static_b = build_provider({"access_key_id": AK, "access_key_secret": SK + "x"})
    assert static_a is not static_b
    assert build_provider({"access_key_id": AK, "access_key_secret": SK}) is static_a
    config_id = static_a.describe()["config_id"]
    assert len(config_id) == 32 and SK not in config_id and AK not in config_id


def test_copies_are_the_same_provider() -> None:
    provider = build({"access_key_id": AK, "access_key_secret": SK})
    assert copy.copy(provider) is provider and copy.deepcopy(provider) is provider


def test_pickled_static_provider_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = build_provider({"access_key_id": AK, "access_key_secret": SK,
                             "security_token": "CAISpickletoken1234"})
    data = pickle.dumps(shared)
    assert SK.encode() not in data and b"CAISpickletoken1234" not in data
    assert pickle.loads(data) is shared

    unshared = build({"access_key_id": AK, "access_key_secret": SK})
    data = pickle.dumps(unshared)
    assert SK.encode() not in data
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_ID", raising=False)
    restored = pickle.loads(data)
    with pytest.raises(CredentialsUnavailable, match="never pickled"):
        restored.get_credentials()
    # Where the environment holds the same AccessKey, the secret is re-resolved from it.
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SK)
    assert pickle.loads(data).get_credentials().get_access_key_secret() == SK


def test_pickled_rrsa_provider_is_rebuilt_from_options(token_file: str) -> None:
    provider = build({"environ": rrsa_env(token_file), "role_arn": ROLE,
                      "oidc_provider_arn": PROVIDER_ARN, "oidc_token_file": token_file,
                      "role_session_name": "pickled"})
    restored = pickle.loads(pickle.dumps(provider))
    info = restored.describe()
    assert (info["source"], info["role_arn"], info["role_session_name"]) == (
        "rrsa", ROLE, "pickled")


def test_reprs_hide_secrets() -> None:
    provider = build({"access_key_id": AK, "access_key_secret": SK,
                      "security_token": "CAISreprtoken0000"})
    texts = [repr(provider), str(provider), repr(provider.snapshot()), str(provider.snapshot()),
             repr(provider.get_credentials()), repr(provider.describe())]
    for text in texts:
        assert SK not in text and "CAISreprtoken0000" not in text and AK not in text


# --- the package ---------------------------------------------------------------------------------
LAYERS = ("errors", "snapshot", "environment", "sdk", "sources", "providers", "registry",
          "resolve", "build")


def test_package_modules_import_only_earlier_layers() -> None:
    """No import cycle: each module of the package imports only modules before it."""
    package = Path(django_alioss.credentials.__file__).parent
    assert sorted(p.stem for p in package.glob("*.py")) == sorted((*LAYERS, "__init__"))
    for position, name in enumerate(LAYERS):
        tree = ast.parse((package / f"{name}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module} if node.module else {a.name for a in node.names}
        assert imported <= set(LAYERS[:position]), (name, imported - set(LAYERS[:position]))


@pytest.mark.parametrize("name", LAYERS)
def test_each_module_imports_first_in_a_fresh_interpreter(name: str) -> None:
    code = f"import django_alioss.credentials.{name}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- the SDK's logging -------------------------------------------------------------------------
def test_importing_the_module_does_not_import_the_sdk() -> None:
    code = ("import sys, django_alioss.credentials as c; "
            "c.build_provider({'access_key_id': 'LTAIxxxxxxxxxxxx', 'access_key_secret': 's', "
            "'environ': {}}).get_credentials(); "
            "assert 'alibabacloud_credentials' not in sys.modules, 'SDK imported'")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_sdk_logging_neutralised_and_idempotent() -> None:
    import alibabacloud_credentials.provider  # noqa: F401  (attaches the SDK handlers)
    from alibabacloud_credentials.provider import refreshable
    from Tea import core

    logging.getLogger("credentials").addHandler(refreshable.ch)
    ensure_sdk_logging_quiet()
    ensure_sdk_logging_quiet()
    for name in ("credentials", "alibabacloud-tea"):
        sdk_logger = logging.getLogger(name)
        assert refreshable.ch not in sdk_logger.handlers and core.ch not in sdk_logger.handlers
        assert [type(h) for h in sdk_logger.handlers] == [logging.NullHandler]
        assert sdk_logger.level == logging.NOTSET and sdk_logger.propagate
    assert logging.getLogger("urllib3.connectionpool").filters


def test_sdk_logger_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    ensure_sdk_logging_quiet()
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlX3ZhbHVl"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            '%s://%s:%s "%s %s %s" %s %s', "http", "127.0.0.1", 1, "GET",
            f"/?Action=AssumeRoleWithOIDC&OIDCToken={token}&RoleSessionName=x", "HTTP/1.1",
            200, 10)
        try:
            raise ConnectionError(f"Max retries exceeded with url: /?OIDCToken={token}")
        except ConnectionError as exc:
            logging.getLogger("credentials").exception(exc)
    assert "AssumeRoleWithOIDC" in caplog.text
    assert token not in caplog.text
    assert "eyJzdWIiOiJzZWNyZXQifQ" not in caplog.text
