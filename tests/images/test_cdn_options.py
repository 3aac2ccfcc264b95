"""The image and CDN options: the system checks (E008-E011, W004), errors at first use
of a broken configuration, and ``cdn_auth_key`` kept secret (never deconstructed into a
migration, pickled, logged, described or quoted in an error)."""

from __future__ import annotations

import logging
import os
import pickle
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.migrations.writer import MigrationWriter
from django.test import override_settings

from django_alioss.checks import check_storages
from django_alioss.options import OPTIONS, SECRET_OPTIONS
from django_alioss.storage import OSSStorage

CDN_KEY = "CdnSecretKey0123456789abcd"
BASE = {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "bucket_name": "media-bucket",
        "access_key_id": "LTAI5tExampleExampleAb", "access_key_secret": "not-a-real-secret"}
CDN = {"custom_domain": "img.example.com", "cdn_auth_type": "A", "cdn_auth_key": CDN_KEY}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ALIOSS_", "ALIBABA_CLOUD_")):
            monkeypatch.delenv(name)


def check(**options: Any) -> list[Any]:
    config = {"default": {"BACKEND": "django_alioss.storage.OSSStorage",
                          "OPTIONS": {**BASE, **options}},
              "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=config):
        return check_storages()


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_a_valid_cdn_and_style_configuration_has_no_message() -> None:
    assert check(**CDN, image_styles={"thumb": "image/resize,w_100"}) == []
    assert check(**{**CDN, "cdn_auth_type": "C", "cdn_auth_key": "0123456789abcdefXYZ"}) == []


@pytest.mark.parametrize(("options", "expected", "text"), [
    ({**CDN, "cdn_auth_key": None}, ["django_alioss.E008"], "cdn_auth_key is not set"),
    ({**CDN, "custom_domain": None}, ["django_alioss.E009"], "custom_domain is not set"),
    ({"cdn_auth_type": "B"}, ["django_alioss.E008", "django_alioss.E009"], "cdn_auth_type"),
    ({**CDN, "cdn_auth_type": "C", "cdn_auth_key": "tooshort"}, ["django_alioss.E010"],
     "cdn_auth_key has 8 characters; a type C key is 16 to 32 letters and digits"),
    ({**CDN, "cdn_auth_type": "C", "cdn_auth_key": "with-dashes-0123456789"},
     ["django_alioss.E010"], "letters and digits"),
    ({"image_styles": {"thumb": "image/resise,w_100"}}, ["django_alioss.E011"],
     "image style 'thumb': invalid x-oss-process 'image/resise,w_100': unknown image action"),
    ({"image_styles": {"big": "image/resize,w_99999"}}, ["django_alioss.E011"],
     "w must be 1..16384"),
    ({"image_styles": {"no name": "image/resize,w_10"}}, ["django_alioss.E011"],
     "invalid style name"),
    ({"cdn_auth_key": CDN_KEY}, ["django_alioss.W004"], "cdn_auth_type is not"),
])
def test_checks(options: dict[str, Any], expected: list[str], text: str) -> None:
    messages = check(**options)
    assert ids(messages) == expected
    assert text in messages[0].msg
    for message in messages:
        assert CDN_KEY not in f"{message.msg} {message.hint}"
        assert "tooshort" not in message.msg and "with-dashes" not in message.msg


def test_checks_read_settings_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIOSS_CDN_AUTH_TYPE", "A")
    monkeypatch.setenv("ALIOSS_IMAGE_STYLES", '{"t": "image/resize,w_0"}')
    assert ids(check()) == ["django_alioss.E008", "django_alioss.E009", "django_alioss.E011"]
    with override_settings(ALIOSS_CDN_AUTH_KEY=CDN_KEY, ALIOSS_CUSTOM_DOMAIN="cdn.example.com",
                           ALIOSS_IMAGE_STYLES={"t": "image/resize,w_10"}):
        assert check() == []


@pytest.mark.parametrize(("options", "message"), [
    ({**CDN, "cdn_auth_key": None}, "type A needs a key"),
    ({**CDN, "custom_domain": None}, "'custom_domain' is not set"),
    ({**CDN, "cdn_auth_type": "C", "cdn_auth_key": "tooshort"}, "16 to 32 letters"),
    ({"image_styles": {"thumb": "image/resize"}}, "image style 'thumb'"),
])
def test_broken_configuration_fails_at_the_first_url(options: dict[str, Any],
                                                     message: str) -> None:
    storage = OSSStorage(**BASE, **options)  # creating it still sends and checks nothing
    with pytest.raises(ImproperlyConfigured, match=message) as raised:
        storage.url("a.png")
    assert "tooshort" not in str(raised.value)


def test_option_table() -> None:
    assert OPTIONS["cdn_auth_key"].secret and "cdn_auth_key" in SECRET_OPTIONS
    assert OPTIONS["cdn_auth_ttl"].default == 1800
    assert OPTIONS["cdn_auth_type"].choices == ("A", "B", "C")
    with pytest.raises(ImproperlyConfigured, match="must be one of A, B, C"):
        OSSStorage(**BASE, cdn_auth_type="D")
    with pytest.raises(ImproperlyConfigured, match="must be at least 1"):
        OSSStorage(**BASE, cdn_auth_ttl=0)


def test_cdn_key_is_never_deconstructed_pickled_or_described(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="django_alioss")
    storage = OSSStorage(**BASE, **CDN, cdn_auth_ttl=600)
    signed = storage.url("a.png")
    _path, _args, kwargs = storage.deconstruct()
    assert "cdn_auth_key" not in kwargs
    assert kwargs["cdn_auth_type"] == "A" and kwargs["cdn_auth_ttl"] == 600
    migration, _imports = MigrationWriter.serialize(models.FileField(storage=storage))
    assert CDN_KEY not in migration
    assert CDN_KEY not in repr(storage) and CDN_KEY not in repr(storage.urls)
    assert "cdn_auth_key" not in storage.describe()
    data = pickle.dumps(storage)
    assert CDN_KEY.encode() not in data
    assert pickle.loads(data).url("a.png").split("auth_key=")[0] == signed.split("auth_key=")[0]
    assert CDN_KEY not in caplog.text


def test_pickled_elsewhere_reads_the_key_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from django_alioss import storage as storage_module

    storage = OSSStorage(**BASE, **CDN)
    data = pickle.dumps(storage)
    monkeypatch.setattr(storage_module, "_PICKLED_SECRETS", {})  # as in another process
    monkeypatch.setenv("ALIOSS_CDN_AUTH_KEY", "KeyFromTheEnvironment")
    restored = pickle.loads(data)
    assert restored.cdn_auth_key == "KeyFromTheEnvironment"


@pytest.fixture
def cdn_settings(settings: Any) -> None:
    """A project whose media go through a real CDN with URL authentication."""
    settings.STORAGES = {
        "default": {"BACKEND": "django_alioss.storage.OSSStorage",
                    "OPTIONS": {**BASE, **CDN, "location": "cdn-project"}},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


def test_alioss_storages_takes_a_cdn_project_to_the_emulator(cdn_settings: None,
                                                              alioss_storages: Any) -> None:
    """The fixture clears the real CDN domain, and its URL authentication with it: URLs
    are the emulator's signed OSS URLs, not an error about a CDN without a domain."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from .conftest import fetch

    default_storage.save("via-fixture.txt", ContentFile(b"emulated"))
    url = default_storage.url("via-fixture.txt")
    assert "x-oss-signature" in url and "img.example.com" not in url
    assert fetch(url).content == b"emulated"
