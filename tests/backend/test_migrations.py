"""No secret in migrations, and no new migration when credentials change (issue 8,
defect 1).

``FileField(storage=storages["default"])`` makes Django serialize the storage through
``deconstruct()``, which ``@deconstructible`` fills with the constructor's options:
the AccessKey secret used to land in clear in the migration file.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import storages
from django.db import models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter
from django.test import override_settings

from django_alioss.options import CREDENTIAL_OPTIONS
from django_alioss.storage import OSSStorage

SECRET = "s3cr3t-AccessKeySecret-value"
KEY_ID = "LTAI5tKeyIdForMigrations"
TOKEN = "CAISsecurityTokenValueForMigrationTests0123456789"


def _options(emu: Any, **overrides: Any) -> dict[str, Any]:
    options = {
        "endpoint": emu.endpoint, "bucket_name": emu.bucket_name, "region": emu.region,
        "location": "media", "access_key_id": KEY_ID, "access_key_secret": SECRET,
        "security_token": TOKEN, "role_arn": "acs:ram::1:role/app", "role_duration": 7200,
    }
    options.update(overrides)
    return options


def _serialized(storage: OSSStorage) -> str:
    field = models.FileField(storage=storage, upload_to="docs/")
    text, _imports = MigrationWriter.serialize(field)
    return text


def test_deconstruct_holds_no_credential_option(emu) -> None:
    path, _args, kwargs = OSSStorage(**_options(emu)).deconstruct()
    assert path == "django_alioss.storage.OSSStorage"
    assert not set(kwargs) & set(CREDENTIAL_OPTIONS)
    assert kwargs["bucket_name"] == emu.bucket_name and kwargs["location"] == "media"


def test_configured_storage_in_a_migration_holds_no_secret(emu) -> None:
    config = {"default": {"BACKEND": "django_alioss.storage.OSSStorage",
                          "OPTIONS": _options(emu)},
              "staticfiles": {"BACKEND":
                              "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=config):
        storages._storages = {}
        storages._backends = None
        try:
            text = _serialized(storages.create_storage(config["default"]))
        finally:
            storages._storages = {}
            storages._backends = None
    for secret in (SECRET, KEY_ID, TOKEN, "acs:ram::1:role/app"):
        assert secret not in text
    assert "django_alioss.storage.OSSStorage(" in text


def test_changing_credentials_makes_no_new_migration(emu) -> None:
    before = OSSStorage(**_options(emu))
    after = OSSStorage(**_options(emu, access_key_id="LTAI5tRotatedKeyId000",
                                  access_key_secret="rotated-secret", security_token=None,
                                  role_arn="acs:ram::1:role/other"))
    assert _serialized(before) == _serialized(after)

    def state(storage: OSSStorage) -> ProjectState:
        project = ProjectState()
        project.add_model(ModelState("gallery", "Doc", [
            ("id", models.AutoField(primary_key=True)),
            ("file", models.FileField(storage=storage)),
        ]))
        return project

    def changes(old: OSSStorage, new: OSSStorage) -> dict[str, Any]:
        questioner = NonInteractiveMigrationQuestioner(specified_apps={"gallery"})
        return MigrationAutodetector(state(old), state(new), questioner).changes(
            graph=MigrationGraph())

    assert changes(before, after) == {}
    # The detector does see a change of where files go.
    assert changes(before, OSSStorage(**_options(emu, location="elsewhere"))) != {}


def test_pickled_storage_keeps_no_credential_arguments(emu) -> None:
    import pickle

    storage = OSSStorage(**_options(emu))
    data = pickle.dumps(storage)
    for secret in (SECRET, TOKEN):
        assert secret.encode() not in data
    assert pickle.loads(data).deconstruct() == storage.deconstruct()
