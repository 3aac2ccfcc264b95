"""Django integration: models with FileField/ImageField, and collectstatic with the
static storages, all against the emulator."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import django
import pytest
import requests
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.management import call_command
from PIL import Image

from django_alioss.storage import OSSManifestStaticStorage, OSSStaticStorage, OSSStorage
from tests.testapp.models import Document, Photo

#: Static files django_alioss itself ships (collected along with the project's).
PACKAGE_STATIC = ("django_alioss/direct_upload.js",)


def fetch(url: str) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=10)


def backend(path: str, **options: Any) -> dict[str, Any]:
    return {"BACKEND": path, "OPTIONS": options}


def set_storages(settings, **aliases: dict[str, Any]) -> None:
    """Override STORAGES aliases for one test.

    Django 4.2's settings override also sets DEFAULT_FILE_STORAGE/STATICFILES_STORAGE from
    STORAGES, and its storage handler then rebuilds those aliases from the BACKEND alone,
    dropping OPTIONS; give the handler the STORAGES dict itself, as a project's
    settings.py would.
    """
    settings.STORAGES = {**settings.STORAGES, **aliases}
    if django.VERSION < (5, 1):
        storages._backends = dict(settings.STORAGES)


@pytest.fixture
def media(settings, emu, location: str) -> OSSStorage:
    """STORAGES["default"] pointed at the emulator under this test's location."""
    set_storages(settings, default=backend(
        "django_alioss.storage.OSSStorage", endpoint=emu.endpoint, bucket_name=emu.bucket_name,
        region=emu.region, access_key_id=emu.access_key_id,
        access_key_secret=emu.access_key_secret, location=location))
    assert default_storage.location == location  # evaluates the lazy default storage
    storage = default_storage._wrapped
    assert isinstance(storage, OSSStorage)
    return storage


def png(width: int, height: int, noise: bool = False) -> bytes:
    buffer = io.BytesIO()
    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (200, 30, 30))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_file_field_round_trip(db, media: OSSStorage, emu, ops) -> None:
    doc = Document(title="contract")
    doc.attachment.save("contract v1.pdf", ContentFile(b"%PDF-1.7 contract"), save=True)
    assert doc.attachment.name == "documents/contract_v1.pdf"  # Django's get_valid_name
    key = f"{media.location}/documents/contract_v1.pdf"
    assert emu.store.get_object_bytes(emu.bucket_name, key) == b"%PDF-1.7 contract"
    assert ops["PutObject"] == 1 and ops.total() == 1  # overwrite mode: no HEAD before

    again = Document.objects.get(pk=doc.pk)
    assert again.attachment.size == len(b"%PDF-1.7 contract")
    with again.attachment.open("rb") as handle:
        assert handle.read() == b"%PDF-1.7 contract"
    response = fetch(again.attachment.url)
    assert response.status_code == 200 and response.content == b"%PDF-1.7 contract"

    again.attachment.delete(save=True)
    assert not emu.store.exists(emu.bucket_name, key)
    assert Document.objects.get(pk=doc.pk).attachment.name == ""


def test_file_field_without_overwrite_keeps_both(db, media: OSSStorage, emu) -> None:
    media.file_overwrite = False
    first = Document.objects.create(attachment=ContentFile(b"one", name="same.txt"))
    second = Document.objects.create(attachment=ContentFile(b"two", name="same.txt"))
    assert first.attachment.name == "documents/same.txt"
    assert second.attachment.name != first.attachment.name
    assert len(second.attachment.name) <= Document._meta.get_field("attachment").max_length
    assert Document.objects.get(pk=first.pk).attachment.read() == b"one"
    assert Document.objects.get(pk=second.pk).attachment.read() == b"two"


def test_image_field_round_trip(db, media: OSSStorage, emu, ops) -> None:
    data = png(320, 200, noise=True)
    photo = Photo(image=ContentFile(data, name="holiday.png"))
    photo.save()
    assert photo.image.name == "photos/holiday.png"
    assert (photo.width, photo.height) == (320, 200)
    # Dimensions come from the upload itself; Django 4.2 re-reads them once after the
    # save (one small ranged GET of the image's head).
    assert ops["GetObject"] == (0 if django.VERSION >= (5, 0) else 1)

    again = Photo.objects.get(pk=photo.pk)
    assert (again.width, again.height) == (320, 200)
    ops.reset()
    fresh = Photo.objects.get(pk=photo.pk).image
    assert (fresh.width, fresh.height) == (320, 200)
    assert ops.changed() == {"GetObject": 1}  # one ranged read of the image's head
    assert fetch(fresh.url).content == data


def test_image_field_dimensions_when_not_cached(db, media: OSSStorage, emu, ops) -> None:
    media.save("photos/raw.png", ContentFile(png(64, 48, noise=True)))
    Photo.objects.create(image="photos/raw.png")
    Photo.objects.update(width=None, height=None)  # e.g. rows imported without dimensions
    ops.reset()
    photo = Photo.objects.get()  # post_init reads the missing dimensions from OSS
    assert (photo.width, photo.height) == (64, 48)
    assert ops.changed() == {"GetObject": 1}


# --- collectstatic -----------------------------------------------------------------------------
LOGO = png(16, 16)
CSS = b'body { background: url("../img/logo.png"); }\n@import url("base.css");\n'


@pytest.fixture
def static_sources(tmp_path: Path, settings) -> Path:
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "js").mkdir()
    (root / "css" / "site.css").write_bytes(CSS)
    (root / "css" / "base.css").write_bytes(b"html { margin: 0; }\n")
    (root / "img" / "logo.png").write_bytes(LOGO)
    (root / "js" / "app.js").write_bytes(b"console.log('hi');\n")
    settings.STATICFILES_DIRS = [str(root)]
    settings.STATIC_ROOT = None
    return root


def static_settings(settings, emu, location: str, cls: str, **options: Any) -> None:
    set_storages(settings, staticfiles=backend(
        cls, endpoint=emu.endpoint, bucket_name=emu.bucket_name, region=emu.region,
        access_key_id=emu.access_key_id, access_key_secret=emu.access_key_secret,
        location=location, **options))


def test_collectstatic_with_manifest_storage(static_sources: Path, settings, emu,
                                             location: str) -> None:
    static_settings(settings, emu, location, "django_alioss.storage.OSSManifestStaticStorage",
                    default_acl="public-read")
    call_command("collectstatic", interactive=False, verbosity=0)
    keys = set(emu.store.list_keys(emu.bucket_name, location + "/"))
    relative = {key[len(location) + 1:] for key in keys}
    assert "staticfiles.json" in relative
    manifest = json.loads(emu.store.get_object_bytes(
        emu.bucket_name, f"{location}/staticfiles.json"))
    paths = manifest["paths"]
    assert set(paths) == {"css/site.css", "css/base.css", "img/logo.png", "js/app.js",
                          *PACKAGE_STATIC}
    for original, hashed in paths.items():
        stem, ext = os.path.splitext(original)
        assert re.fullmatch(re.escape(stem) + r"\.[0-9a-f]{12}" + re.escape(ext), hashed)
        assert hashed in relative and original in relative
    site_css = emu.store.get_object_bytes(emu.bucket_name, f"{location}/{paths['css/site.css']}")
    logo_hashed = paths["img/logo.png"].rsplit("/", 1)[1]
    assert f'url("../img/{logo_hashed}")'.encode() in site_css
    assert f'url("{paths["css/base.css"].rsplit("/", 1)[1]}")'.encode() in site_css

    assert staticfiles_storage.location == location
    storage = staticfiles_storage._wrapped
    assert isinstance(storage, OSSManifestStaticStorage)
    url = storage.url("img/logo.png")
    assert "?" not in url and url.endswith(paths["img/logo.png"])
    response = fetch(url)  # public-read: anonymous
    assert response.status_code == 200 and response.content == LOGO


def test_collectstatic_twice_skips_unmodified(static_sources: Path, settings, emu,
                                              location: str, ops) -> None:
    static_settings(settings, emu, location, "django_alioss.storage.OSSStaticStorage")
    call_command("collectstatic", interactive=False, verbosity=0)
    assert ops["PutObject"] == 4 + len(PACKAGE_STATIC)
    ops.reset()
    call_command("collectstatic", interactive=False, verbosity=0)
    # django-alioss' collectstatic: unchanged by content, from one listing (tests/static).
    assert ops.changed() == {"ListObjectsV2": 1}


def test_collectstatic_with_static_storage_gives_unsigned_urls(static_sources: Path, settings,
                                                               emu, location: str) -> None:
    static_settings(settings, emu, location, "django_alioss.storage.OSSStaticStorage",
                    default_acl="public-read")
    call_command("collectstatic", interactive=False, verbosity=0)
    assert set(emu.store.list_keys(emu.bucket_name, location + "/")) == {
        f"{location}/{name}" for name in
        ("css/base.css", "css/site.css", "img/logo.png", "js/app.js", *PACKAGE_STATIC)}
    assert staticfiles_storage.bucket_name == emu.bucket_name
    assert isinstance(staticfiles_storage._wrapped, OSSStaticStorage)
    url = staticfiles_storage.url("css/site.css")
    assert "?" not in url
    response = fetch(url)
    assert response.status_code == 200 and response.content == CSS
    assert response.headers["Content-Type"] == "text/css"
