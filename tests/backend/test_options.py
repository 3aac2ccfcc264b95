"""Configuration: OPTIONS > ALIOSS_* setting > ALIOSS_* environment > default, parsing
of every option type, clear errors, and no network while configuring."""

from __future__ import annotations

import json

import django
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages

from django_alioss.options import OPTIONS, region_from_endpoint
from django_alioss.storage import OSSManifestStaticStorage, OSSStaticStorage, OSSStorage

BASE = {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "bucket_name": "my-bucket",
        "access_key_id": "LTAIexample0000", "access_key_secret": "s3cr3t-value-xyz"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OPTIONS:
        monkeypatch.delenv(OPTIONS[name].setting_name, raising=False)


# (option, OPTIONS value, setting value, environment text, parsed: option, setting, env, default)
PRECEDENCE = [
    ("location", "from-options", "from-setting", "from-env",
     ("from-options", "from-setting", "from-env", "")),
    ("file_overwrite", False, "no", "off", (False, False, False, True)),
    ("querystring_auth", "0", True, "false", (False, True, False, True)),
    ("querystring_expire", 60, "120", "1_800", (60, 120, 1800, 3600)),
    ("multipart_chunksize", "1048576", 2 * 1024 * 1024, "4194304",
     (1024 * 1024, 2 * 1024 * 1024, 4 * 1024 * 1024, 8 * 1024 * 1024)),
    ("connect_timeout", 2, "3.5", "4.25", (2.0, 3.5, 4.25, 10.0)),
    ("object_parameters", {"Cache-Control": "no-cache"}, '{"Cache-Control": "max-age=60"}',
     '{"Cache-Control": "max-age=1", "x-oss-meta-a": "b"}',
     ({"Cache-Control": "no-cache"}, {"Cache-Control": "max-age=60"},
      {"Cache-Control": "max-age=1", "x-oss-meta-a": "b"}, {})),
    ("gzip_content_types", ["text/css"], ("text/css", "text/javascript"),
     " text/css , image/svg+xml ,",
     (("text/css",), ("text/css", "text/javascript"), ("text/css", "image/svg+xml"),
      OPTIONS["gzip_content_types"].default)),
    ("signature_version", "v1", "v4", "v1", ("v1", "v4", "v1", "v4")),
]


@pytest.mark.parametrize(("name", "option_value", "setting_value", "env_text", "expected"),
                         PRECEDENCE, ids=[row[0] for row in PRECEDENCE])
def test_precedence_and_parsing(name: str, option_value, setting_value, env_text: str,
                                expected: tuple, settings, monkeypatch: pytest.MonkeyPatch
                                ) -> None:
    setting = OPTIONS[name].setting_name
    assert getattr(OSSStorage(**BASE), name) == expected[3]
    monkeypatch.setenv(setting, env_text)
    assert getattr(OSSStorage(**BASE), name) == expected[2]
    setattr(settings, setting, setting_value)
    assert getattr(OSSStorage(**BASE), name) == expected[1]
    assert getattr(OSSStorage(**BASE, **{name: option_value}), name) == expected[0]


def test_required_options_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIOSS_ENDPOINT", "oss-cn-beijing.aliyuncs.com")
    monkeypatch.setenv("ALIOSS_BUCKET_NAME", "env-bucket")
    storage = OSSStorage(access_key_id="LTAIx", access_key_secret="y")
    assert (storage.endpoint, storage.bucket_name, storage.region) == (
        "https://oss-cn-beijing.aliyuncs.com", "env-bucket", "cn-beijing")


def test_storages_setting_reaches_the_backend(settings) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {"BACKEND": "django_alioss.storage.OSSStorage",
                  "OPTIONS": {**BASE, "location": "media", "querystring_expire": "90"}},
        "static": {"BACKEND": "django_alioss.storage.OSSManifestStaticStorage",
                   "OPTIONS": {**BASE, "location": "static"}},
    }
    media = storages["media"]
    assert isinstance(media, OSSStorage)
    assert (media.location, media.querystring_expire) == ("media", 90)
    static = storages["static"]
    assert isinstance(static, OSSManifestStaticStorage) and static.querystring_auth is False


@pytest.mark.skipif(django.VERSION >= (5, 1),
                    reason="DEFAULT_FILE_STORAGE/STATICFILES_STORAGE were removed in Django 5.1; "
                           "tox runs this on Django 4.2")
def test_django_42_default_file_storage(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.files.storage import default_storage

    for name, value in BASE.items():
        monkeypatch.setenv(OPTIONS[name].setting_name, value)
    settings.DEFAULT_FILE_STORAGE = "django_alioss.storage.OSSStorage"
    settings.STATICFILES_STORAGE = "django_alioss.storage.OSSStaticStorage"
    assert default_storage.bucket_name == BASE["bucket_name"]  # evaluates the lazy object
    assert type(storages["default"]) is OSSStorage
    assert staticfiles_storage.querystring_auth is False
    assert type(storages["staticfiles"]) is OSSStaticStorage


def test_unknown_options_name_the_valid_ones() -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        OSSStorage(**BASE, bucket="typo", querystring_expires=5)
    message = str(caught.value)
    assert "'bucket'" in message and "'querystring_expires'" in message
    for valid in ("bucket_name", "querystring_expire", "multipart_threshold", "public_endpoint"):
        assert valid in message


BAD_VALUES = [
    ("querystring_expire", "soon", "expected an integer"),
    ("querystring_expire", 0, "at least 1"),
    ("querystring_expire", 8 * 24 * 3600, "at most 604800"),
    ("file_overwrite", "maybe", "expected a boolean"),
    ("signature_version", "v2", "must be one of v4, v1"),
    ("default_acl", "public", "must be one of"),
    ("multipart_chunksize", 1024, "at least 102400"),
    ("multipart_concurrency", 0, "at least 1"),
    ("object_parameters", "{not json", "invalid value"),
    ("object_parameters", ["Cache-Control"], "expected a dict"),
    ("gzip_content_types", [1, 2], "expected a list of strings"),
    ("connect_timeout", "fast", "expected a number"),
    ("url_protocol", "ftp:", "must be one of"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_VALUES,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES])
def test_bad_values_name_option_and_source(name: str, value, reason: str, settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    setting = OPTIONS[name].setting_name
    with pytest.raises(ImproperlyConfigured) as from_options:
        OSSStorage(**BASE, **{name: value})
    assert f"'{name}' from OPTIONS['{name}']" in str(from_options.value)
    assert reason in str(from_options.value)
    setattr(settings, setting, value)
    with pytest.raises(ImproperlyConfigured) as from_setting:
        OSSStorage(**BASE)
    assert f"from setting {setting}" in str(from_setting.value)
    delattr(settings, setting)
    if isinstance(value, str):
        monkeypatch.setenv(setting, value)
        with pytest.raises(ImproperlyConfigured) as from_env:
            OSSStorage(**BASE)
        assert f"from environment variable {setting}" in str(from_env.value)


def test_bad_secret_values_are_not_shown() -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        OSSStorage(**{**BASE, "access_key_secret": 1234567890})
    assert "1234567890" not in str(caught.value)
    assert "(hidden)" in str(caught.value) and "access_key_secret" in str(caught.value)


@pytest.mark.parametrize("missing", ["endpoint", "bucket_name"])
def test_missing_required_options(missing: str) -> None:
    options = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ImproperlyConfigured) as caught:
        OSSStorage(**options)
    message = str(caught.value)
    assert repr(missing) in message and OPTIONS[missing].setting_name in message


def test_v4_needs_a_region() -> None:
    options = {**BASE, "endpoint": "http://127.0.0.1:9000"}
    with pytest.raises(ImproperlyConfigured) as caught:
        OSSStorage(**options)
    assert "region" in str(caught.value) and "ALIOSS_REGION" in str(caught.value)
    assert OSSStorage(**options, signature_version="v1").region is None
    assert OSSStorage(**options, region="cn-beijing").region == "cn-beijing"
    public = OSSStorage(**options, public_endpoint="oss-eu-central-1.aliyuncs.com")
    assert public.region == "eu-central-1"
    assert public.public_endpoint == "https://oss-eu-central-1.aliyuncs.com"


@pytest.mark.parametrize(("endpoint", "region"), [
    ("oss-cn-shanghai-internal.aliyuncs.com", "cn-shanghai"),
    ("https://oss-cn-shanghai-internal.aliyuncs.com", "cn-shanghai"),
    ("http://oss-ap-southeast-1.aliyuncs.com/", "ap-southeast-1"),
    ("oss-cn-hangzhou.aliyuncs.com:443", "cn-hangzhou"),
    ("cdn.example.com", None),
    ("oss-accelerate.aliyuncs.com", "accelerate"),
])
def test_region_from_endpoint(endpoint: str, region: str | None) -> None:
    assert region_from_endpoint(endpoint) == region


def test_derived_region_and_scheme() -> None:
    storage = OSSStorage(**{**BASE, "endpoint": "oss-cn-shanghai-internal.aliyuncs.com"})
    assert storage.region == "cn-shanghai"
    assert storage.endpoint == "https://oss-cn-shanghai-internal.aliyuncs.com"


def test_invalid_location_and_bucket() -> None:
    with pytest.raises(ImproperlyConfigured, match="cannot begin with '/'"):
        OSSStorage(**BASE, location="/media")
    with pytest.raises(ImproperlyConfigured, match="invalid bucket_name"):
        OSSStorage(**{**BASE, "bucket_name": "Bad_Bucket"})


def test_subclass_attributes_are_defaults(settings) -> None:
    class Media(OSSStorage):
        location = "media"
        file_overwrite = False

    settings.ALIOSS_LOCATION = "ignored-by-subclass"
    media = Media(**BASE)
    assert (media.location, media.file_overwrite) == ("media", False)
    assert Media(**BASE, location="opt").location == "opt"
    assert OSSStaticStorage(**BASE).querystring_auth is False
    assert OSSStaticStorage(**BASE, querystring_auth=True).querystring_auth is True


def test_init_makes_no_request(emu) -> None:
    before = emu.controls.log.count()
    static = OSSStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name, region=emu.region,
                        access_key_id=emu.access_key_id, access_key_secret=emu.access_key_secret)
    rrsa = OSSStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name, region=emu.region,
                      role_arn=emu.role_arn, oidc_provider_arn=emu.oidc_provider_arn,
                      oidc_token_file=emu.oidc_token_file, sts_endpoint=emu.sts_endpoint)
    OSSManifestStaticStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name,
                             region=emu.region)
    repr(static), repr(rrsa)
    assert emu.controls.log.count() == before


def test_describe_masks_secrets() -> None:
    storage = OSSStorage(**BASE)
    described = storage.describe()
    assert described["access_key_id"] == "LTAI****0000"
    assert "access_key_secret" not in described
    assert "s3cr3t-value-xyz" not in repr(described) + repr(storage)


def test_every_option_is_a_typed_attribute() -> None:
    """``OptionValues`` declares each option of the table, with a type that fits its kind."""
    import types
    import typing

    from django_alioss.options import OptionValues

    hints = typing.get_type_hints(OptionValues)
    assert set(hints) == set(OPTIONS)
    python_type = {"str": str, "bool": bool, "int": int, "float": float, "dict": dict,
                   "list": tuple, "provider": str, "policy": str}
    for name, option in OPTIONS.items():
        declared = hints[name]
        members = (typing.get_args(declared)
                   if typing.get_origin(declared) in (typing.Union, types.UnionType)
                   else (declared,))
        allowed = {typing.get_origin(t) or t for t in members}
        assert python_type[option.kind] in allowed, (name, declared)
        if option.default is None and not option.required:  # required: checked at init
            assert type(None) in allowed, f"{name} defaults to None but is not Optional"


def test_pickled_secrets_leave_with_their_storage() -> None:
    """The stash that lets a same-process unpickled copy get its secrets back does not
    outlive the storage that was pickled."""
    import gc
    import pickle

    from django_alioss import storage as storage_module

    storage = OSSStorage(**BASE)
    token = storage._token
    copy = pickle.loads(pickle.dumps(storage))
    assert copy.access_key_secret == BASE["access_key_secret"]
    assert token in storage_module._PICKLED_SECRETS
    del storage, copy
    gc.collect()
    assert token not in storage_module._PICKLED_SECRETS


def test_role_policy_and_provider_objects_are_options_like_any_other() -> None:
    """A dict session policy is written as JSON and a provider object is accepted, at the
    storage as at ``build_provider``; a policy that is not a JSON object fails at once."""

    class Vault:
        def get_credentials(self) -> object:
            return object()

    policy = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "oss:GetObject",
                                             "Resource": "*"}]}
    storage = OSSStorage(**BASE, role_policy=policy, credentials_provider=Vault())
    assert json.loads(storage.role_policy) == policy
    assert isinstance(storage.credentials_provider, Vault)
    for bad in ("[1, 2]", "{not json", 42):
        with pytest.raises(ImproperlyConfigured, match="role_policy"):
            OSSStorage(**BASE, role_policy=bad)
    with pytest.raises(ImproperlyConfigured, match="credentials_provider"):
        OSSStorage(**BASE, credentials_provider=42)
