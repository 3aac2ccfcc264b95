"""The emulator's image processing, through oss2's get_object(process=...) and plain
HTTP: every emulated action with its size and format checked, chains, styles, the
errors OSS answers for bad input, and processing under ACLs and signatures."""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import oss2
import pytest

from .conftest import fetch, make_image, opened

SOURCE = (400, 300)


@pytest.fixture
def bucket(emu) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(emu.access_key_id, emu.access_key_secret), emu.endpoint,
                       emu.bucket_name)


@pytest.fixture
def key(bucket: oss2.Bucket) -> Iterator[str]:
    name = f"img/{uuid.uuid4().hex}.png"
    bucket.put_object(name, make_image(SOURCE))
    yield name
    bucket.delete_object(name)


def processed(bucket: oss2.Bucket, key: str, process: str) -> Any:
    return opened(bucket.get_object(key, process=process).read())


def refused(bucket: oss2.Bucket, key: str, process: str) -> oss2.exceptions.OssError:
    with pytest.raises(oss2.exceptions.OssError) as raised:
        bucket.get_object(key, process=process).read()
    return raised.value


RESIZES = [
    ("image/resize,w_100", (100, 75)),
    ("image/resize,h_100", (133, 100)),
    ("image/resize,w_100,h_100", (100, 75)),              # lfit: inside the box
    ("image/resize,m_lfit,w_100,h_50", (67, 50)),
    ("image/resize,m_mfit,w_100,h_100", (133, 100)),      # covers the box
    ("image/resize,m_fill,w_100,h_100", (100, 100)),      # covers, then center crop
    ("image/resize,m_pad,w_100,h_100", (100, 100)),       # inside, then padded
    ("image/resize,m_fixed,w_100,h_20", (100, 20)),
    ("image/resize,m_fixed,w_50", (50, 50)),               # fixed/fill/pad: h = w
    ("image/resize,l_200", (200, 150)),                   # the longer side
    ("image/resize,s_150", (200, 150)),                   # the shorter side
    ("image/resize,p_25", (100, 75)),
    ("image/resize,w_800", SOURCE),                       # limit_1 (default): no enlarging
    ("image/resize,w_800,limit_0", (800, 600)),
    ("image/resize,p_200", SOURCE),
    ("image/resize,p_200,limit_0", (800, 600)),
]


@pytest.mark.parametrize(("process", "size"), RESIZES, ids=[p for p, _ in RESIZES])
def test_resize(bucket: oss2.Bucket, key: str, process: str, size: tuple[int, int]) -> None:
    image = processed(bucket, key, process)
    assert (image.format, image.size) == ("PNG", size)


def test_pad_uses_the_color(bucket: oss2.Bucket, key: str) -> None:
    image = processed(bucket, key, "image/resize,m_pad,w_100,h_100,color_00FF00")
    assert image.convert("RGB").getpixel((50, 2)) == (0, 255, 0)   # the padding
    assert image.convert("RGB").getpixel((50, 50)) == (200, 30, 30)  # the image


CROPS = [
    ("image/crop,w_100,h_50", (100, 50)),
    ("image/crop,x_350,y_280", (50, 20)),                 # to the edges
    ("image/crop,w_1000,h_1000,x_100", (300, 300)),       # clipped to the image
    ("image/crop,w_100,h_100,g_center", (100, 100)),
    ("image/crop,w_100,h_100,g_se,x_10,y_10", (100, 100)),
]


@pytest.mark.parametrize(("process", "size"), CROPS, ids=[p for p, _ in CROPS])
def test_crop(bucket: oss2.Bucket, key: str, process: str, size: tuple[int, int]) -> None:
    assert processed(bucket, key, process).size == size


def test_crop_gravity_picks_the_region(bucket: oss2.Bucket) -> None:
    from PIL import Image

    source = Image.new("RGB", (300, 300), (255, 255, 255))
    source.paste((0, 0, 255), (200, 200, 300, 300))  # a blue bottom-right corner
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    name = f"img/{uuid.uuid4().hex}.png"
    bucket.put_object(name, buffer.getvalue())
    corner = processed(bucket, name, "image/crop,w_50,h_50,g_se").convert("RGB")
    origin = processed(bucket, name, "image/crop,w_50,h_50").convert("RGB")
    middle = processed(bucket, name, "image/crop,w_50,h_50,g_center,x_100,y_100")
    assert corner.getpixel((25, 25)) == (0, 0, 255)
    assert origin.getpixel((25, 25)) == (255, 255, 255)
    assert middle.convert("RGB").getpixel((25, 25)) == (0, 0, 255)


def test_crop_outside_the_image_is_refused(bucket: oss2.Bucket, key: str) -> None:
    error = refused(bucket, key, "image/crop,x_400,w_10")
    assert (error.status, error.code) == (400, "BadRequest")
    assert error.message == "Advance cut's position is out of image."


def test_rotate_and_auto_orient(bucket: oss2.Bucket, key: str) -> None:
    assert processed(bucket, key, "image/rotate,90").size == (300, 400)
    assert processed(bucket, key, "image/rotate,180").size == SOURCE
    width, height = processed(bucket, key, "image/rotate,45").size  # the canvas grows
    assert abs(width - 495) <= 1 and abs(height - 495) <= 1
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    name = f"img/{uuid.uuid4().hex}.jpg"
    bucket.put_object(name, make_image(SOURCE, "JPEG", exif=exif.tobytes()))
    assert processed(bucket, name, "image/auto-orient,1").size == (300, 400)
    assert processed(bucket, name, "image/auto-orient,0").size == SOURCE


FORMATS = [("jpg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png"),
           ("webp", "WEBP", "image/webp"), ("gif", "GIF", "image/gif"),
           ("bmp", "BMP", "image/bmp"), ("tiff", "TIFF", "image/tiff")]


@pytest.mark.parametrize(("name", "pillow", "content_type"), FORMATS)
def test_format(bucket: oss2.Bucket, key: str, name: str, pillow: str, content_type: str) -> None:
    result = bucket.get_object(key, process=f"image/resize,w_40/format,{name}")
    assert result.headers["Content-Type"] == content_type
    image = opened(result.read())
    assert (image.format, image.size) == (pillow, (40, 30))


def test_quality_relative_and_absolute(bucket: oss2.Bucket) -> None:
    from django_alioss.emulator.oss.imaging import estimate_jpeg_quality

    name = f"img/{uuid.uuid4().hex}.jpg"
    bucket.put_object(name, make_image(SOURCE, "JPEG", quality=80))

    def quality(process: str) -> int | None:
        return estimate_jpeg_quality(processed(bucket, name, process))

    assert quality("image/resize,w_200") == 80                # the source's quality is kept
    assert quality("image/quality,q_50") == 40                # relative: 80% of 50
    assert quality("image/quality,Q_50") == 50                # absolute
    assert quality("image/quality,Q_95") == 80                # never above the source's
    png = f"img/{uuid.uuid4().hex}.png"
    bucket.put_object(png, make_image(SOURCE))
    assert estimate_jpeg_quality(processed(bucket, png, "image/format,jpg/quality,q_60")) == 60


def test_info_is_json_as_oss_returns_it(bucket: oss2.Bucket, key: str) -> None:
    size = bucket.head_object(key).content_length
    result = bucket.get_object(key, process="image/info")
    assert result.headers["Content-Type"] == "application/json"
    assert json.loads(result.read()) == {
        "FileSize": {"value": str(size)}, "Format": {"value": "png"},
        "ImageHeight": {"value": "300"}, "ImageWidth": {"value": "400"}}
    after = json.loads(bucket.get_object(key, process="image/resize,w_100/format,jpg/info")
                       .read())
    assert (after["ImageWidth"], after["ImageHeight"], after["Format"]) == (
        {"value": "100"}, {"value": "75"}, {"value": "jpg"})


def test_actions_apply_in_order(bucket: oss2.Bucket, key: str) -> None:
    assert processed(bucket, key, "image/crop,w_200,h_300/resize,w_100").size == (100, 150)
    assert processed(bucket, key, "image/resize,w_100/crop,w_200,h_300").size == (100, 75)
    image = processed(bucket, key, "image/resize,w_200/rotate,90/crop,h_100/format,webp")
    assert (image.format, image.size) == ("WEBP", (150, 100))


def test_styles_saved_through_the_controls(emu, bucket: oss2.Bucket, key: str) -> None:
    emu.controls.styles.put(emu.bucket_name, "thumb", "image/resize,m_fill,w_32,h_32/format,webp")
    try:
        image = processed(bucket, key, "style/thumb")
        assert (image.format, image.size) == ("WEBP", (32, 32))
        assert emu.controls.styles.names(emu.bucket_name) == ["thumb"]
    finally:
        emu.controls.styles.delete(emu.bucket_name, "thumb")
    error = refused(bucket, key, "style/thumb")
    assert (error.status, error.code) == (404, "NoSuchStyle")
    with pytest.raises(ValueError, match=r"image/\.\.\. processing string"):
        emu.controls.styles.put(emu.bucket_name, "bad", "resize,w_10")


BAD_INPUT = [
    ("image/resize,w_0", 400, "InvalidArgument",
     "The value: 0 of parameter: w is invalid.reason:Value must be in [1, 16384]"),
    ("image/resize,w_abc", 400, "InvalidArgument",
     "The value: abc of parameter: w is invalid.reason:Value must be digit"),
    ("image/resize,m_stretch,w_10", 400, "InvalidArgument", None),
    ("image/resize", 400, "MissingArgument", None),
    ("image/rotate,400", 400, "InvalidArgument", None),
    ("image/format,xyz", 400, "InvalidArgument", None),
    ("image/quality,q_101", 400, "InvalidArgument", None),
    ("image/resise,w_10", 400, "InvalidArgument", None),
    ("image/info/resize,w_10", 400, "InvalidArgument", None),
    ("resize,w_10", 400, "InvalidArgument", None),
    ("image/watermark,text_SGk", 501, "NotImplemented",
     "The emulator does not implement the image action 'watermark'."),
    ("image/blur,r_3,s_2", 501, "NotImplemented", None),
    ("image/format,heic", 501, "NotImplemented", None),
    ("video/snapshot,t_1000", 501, "NotImplemented", None),
]


@pytest.mark.parametrize(("process", "status", "code", "message"), BAD_INPUT,
                         ids=[row[0] for row in BAD_INPUT])
def test_bad_processing_gets_the_service_error(bucket: oss2.Bucket, key: str, process: str,
                                               status: int, code: str,
                                               message: str | None) -> None:
    error = refused(bucket, key, process)
    assert (error.status, error.code) == (status, code)
    if message is not None:
        assert error.message == message


def test_source_limits(bucket: oss2.Bucket, emu) -> None:
    text = f"img/{uuid.uuid4().hex}.txt"
    bucket.put_object(text, b"not an image at all")
    error = refused(bucket, text, "image/resize,w_10")
    assert (error.status, error.code) == (400, "BadRequest")

    wide = f"img/{uuid.uuid4().hex}.png"
    bucket.put_object(wide, make_image((30_001, 1), color=(0, 0, 0)))
    error = refused(bucket, wide, "image/info")
    assert (error.status, error.code) == (400, "ImageTooLarge")
    bucket.put_object(wide, make_image((30_000, 1), color=(0, 0, 0)))
    assert processed(bucket, wide, "image/resize,w_300").size == (300, 1)

    large = f"img/{uuid.uuid4().hex}.bmp"
    emu.store.put_object_bytes(emu.bucket_name, large, make_image((2600, 2700), "BMP"))
    assert bucket.head_object(large).content_length > 20 * 1024 * 1024
    error = refused(bucket, large, "image/resize,w_10")
    assert (error.status, error.code) == (400, "ImageTooLarge")


def test_processing_respects_acls_and_signatures(bucket: oss2.Bucket, key: str, emu) -> None:
    url = f"{emu.endpoint}/{emu.bucket_name}/{key}?x-oss-process=image%2Fresize%2Cw_10"
    anonymous = fetch(url)
    assert anonymous.status_code == 403 and "<Code>AccessDenied</Code>" in anonymous.text
    bucket.put_object_acl(key, oss2.OBJECT_ACL_PUBLIC_READ)
    public = fetch(url)
    assert public.status_code == 200 and opened(public.content).size == (10, 8)
    for signer in (oss2.Auth, oss2.AuthV4):
        signed_bucket = oss2.Bucket(signer(emu.access_key_id, emu.access_key_secret),
                                    emu.endpoint, emu.bucket_name, region=emu.region)
        signed = signed_bucket.sign_url("GET", key, 60,
                                        params={"x-oss-process": "image/resize,w_20"})
        assert opened(fetch(signed).content).size == (20, 15)
        tampered = fetch(signed.replace("w_20", "w_30"))
        assert tampered.status_code == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in tampered.text


def test_without_pillow_the_answer_names_the_extra(bucket: oss2.Bucket, key: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    error = refused(bucket, key, "image/resize,w_10")
    assert (error.status, error.code) == (501, "NotImplemented")
    assert "needs Pillow" in error.message and "django-alioss[emulator]" in error.message
    monkeypatch.undo()
    assert bucket.get_object(key).read() == make_image(SOURCE)  # plain GETs never need it
