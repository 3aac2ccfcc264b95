"""``storage.url(name, process=...)`` and the ``oss_image`` filter, end to end: the URLs
are fetched from the emulator (real IMG semantics, real signature checks) and the
images that come back are checked for size and format."""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import oss2
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.db.models.fields.files import FieldFile
from django.template import engines
from django.test import override_settings

from django_alioss.storage import OSSStorage
from django_alioss.templatetags.alioss import oss_image

from .conftest import fetch, make_image, opened

StorageFactory = Callable[..., OSSStorage]
THUMB = "image/resize,m_fill,w_40,h_40/format,webp"


def error_code(text: str) -> str:
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in text else ""


@pytest.fixture
def photo(storage_v: OSSStorage) -> OSSStorage:
    storage_v.save("photos/red square.png", ContentFile(make_image((400, 300))))
    return storage_v


def test_signed_url_with_process_fetches_the_processed_image(photo: OSSStorage) -> None:
    url = photo.url("photos/red square.png", process="image/resize,w_100/format,jpg")
    assert "x-oss-process=image%2Fresize%2Cw_100%2Fformat%2Cjpg" in url
    response = fetch(url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/jpeg"
    image = opened(response.content)
    assert (image.format, image.size) == ("JPEG", (100, 75))


def test_process_is_covered_by_the_signature(photo: OSSStorage) -> None:
    url = photo.url("photos/red square.png", process="image/resize,w_100")
    tampered = url.replace("w_100", "w_300")
    response = fetch(tampered)
    assert response.status_code == 403 and error_code(response.text) == "SignatureDoesNotMatch"
    # The SDKs' most reported bug: x-oss-process appended after signing.
    appended = photo.url("photos/red square.png") + "&x-oss-process=image%2Fresize%2Cw_100"
    assert fetch(appended).status_code == 403


def test_a_style_name_from_image_styles(make_storage: StorageFactory) -> None:
    storage = make_storage(image_styles={"thumb": THUMB})
    storage.save("p.png", ContentFile(make_image((64, 48))))
    url = storage.url("p.png", process="thumb")
    assert parse_qs(urlsplit(url).query)["x-oss-process"] == [THUMB]
    image = opened(fetch(url).content)
    assert (image.format, image.size) == ("WEBP", (40, 40))


def test_positional_parameters_still_work_with_process(photo: OSSStorage) -> None:
    url = photo.url("photos/red square.png",
                    {"response-content-disposition": "attachment; filename=t.png"}, 60, "GET",
                    process="image/resize,h_30")
    response = fetch(url)
    assert response.status_code == 200, response.text
    assert opened(response.content).size == (40, 30)
    assert parse_qs(urlsplit(url).query)["response-content-disposition"] == [
        "attachment; filename=t.png"]


def test_unsigned_url_carries_process_as_a_plain_parameter(make_storage: StorageFactory) -> None:
    storage = make_storage(querystring_auth=False, default_acl="public-read")
    storage.save("public.png", ContentFile(make_image((200, 100))))
    url = storage.url("public.png", process="image/rotate,90/format,png")
    assert set(parse_qs(urlsplit(url).query)) == {"x-oss-process"}
    image = opened(fetch(url).content)
    assert (image.format, image.size) == ("PNG", (100, 200))


def test_bad_process_raises_before_any_request(photo: OSSStorage, emu) -> None:
    before = emu.controls.log.count()
    with pytest.raises(ValueError, match=r"w must be 1\.\.16384"):
        photo.url("photos/red square.png", process="image/resize,w_0")
    with pytest.raises(ValueError, match="unknown image style 'thumb'"):
        photo.url("photos/red square.png", process="thumb")
    with pytest.raises(ValueError, match="given twice"):
        photo.url("photos/red square.png", {"x-oss-process": "image/info"},
                  process="image/info")
    assert emu.controls.log.count() == before


def test_sdk_reads_the_same_processed_image(photo: OSSStorage, emu) -> None:
    """oss2's own get_object(process=...) and the library's URL agree."""
    bucket = oss2.Bucket(oss2.Auth(emu.access_key_id, emu.access_key_secret), emu.endpoint,
                         emu.bucket_name)
    key = photo.object_key("photos/red square.png")
    through_sdk = bucket.get_object(key, process="image/crop,w_50,h_20,g_center").read()
    through_url = fetch(photo.url("photos/red square.png",
                                  process="image/crop,w_50,h_20,g_center")).content
    assert through_sdk == through_url
    assert opened(through_url).size == (50, 20)


# --- the template filter -----------------------------------------------------------------------
def field_file(storage: object, name: str) -> FieldFile:
    field = models.FileField(storage=storage)
    return FieldFile(None, field, name)


def test_oss_image_filter_in_a_template(make_storage: StorageFactory) -> None:
    storage = make_storage(image_styles={"thumb": THUMB})
    storage.save("t.png", ContentFile(make_image((120, 90))))
    with override_settings(TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]):
        template = engines["django"].from_string(
            '{% load alioss %}<img src="{{ f|oss_image:"thumb" }}">'
            '<img src="{{ f|oss_image:"image/resize,w_60" }}">')
        rendered = template.render({"f": field_file(storage, "t.png")})
    first, second = (html.unescape(part.split('"')[1]) for part in rendered.split("<img ")[1:])
    thumb, small = opened(fetch(first).content), opened(fetch(second).content)
    assert (thumb.format, thumb.size) == ("WEBP", (40, 40))
    assert (small.format, small.size) == ("PNG", (60, 45))


def test_oss_image_on_other_storages_and_empty_fields(tmp_path, storage: OSSStorage) -> None:
    local = FileSystemStorage(location=tmp_path, base_url="/media/")
    assert oss_image(field_file(local, "a/b.png"), "thumb") == "/media/a/b.png"
    assert oss_image(field_file(storage, ""), "image/resize,w_10") == ""
    assert oss_image(None, "image/resize,w_10") == ""
    with pytest.raises(ValueError, match="unknown image style 'nope'"):
        oss_image(field_file(storage, "x.png"), "nope")
