"""The example site in a real browser: Playwright driving Debian's Chromium.

Log into the admin of a freshly started demo, upload an image through the admin form,
see its thumbnail load from a signed OSS URL, and the 40 x 40 WebP thumbnail OSS image
processing makes (the ``oss_image`` filter, signed with its ``x-oss-process``) in the
admin and on the public page, see it on the public page, delete it in the admin and
check the object left the bucket. Screenshots go to ``test-artifacts/``.

The browser and the demo come from ``conftest.py`` (skipped without Chromium, except
under CI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from ..example.demo import Demo, object_name
from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

SIZE = "img => [img.naturalWidth, img.naturalHeight]"
LOADED = """selector => {
    const img = document.querySelector(selector);
    return img !== null && img.complete && img.naturalWidth > 0;
}"""


@pytest.fixture
def png(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "sunset.png"
    image = Image.new("RGB", (64, 48), (250, 120, 30))
    for x in range(64):
        image.putpixel((x, 24), (30, 30, 160))
    image.save(path)
    return path


def test_upload_view_and_delete_an_image_in_the_admin(chromium: Any, demo: Demo,
                                                      png: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = chromium.new_page()
    endpoint = demo.env["ALIOSS_ENDPOINT"]
    oss_answers: list[tuple[int, str]] = []
    page.on("response", lambda r: oss_answers.append((r.status, r.url.split("?")[0]))
            if r.url.startswith(endpoint) else None)
    webp_answers: list[str] = []
    page.on("response", lambda r: webp_answers.append(r.url)
            if r.url.startswith(endpoint) and r.headers.get("content-type") == "image/webp"
            else None)
    try:
        page.goto(demo.url + "admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", demo.password)
        page.click("input[type=submit]")
        page.wait_for_url(demo.url + "admin/")

        page.goto(demo.url + "admin/gallery/photo/add/")
        page.fill("#id_title", "Sunset")
        page.set_input_files("#id_image", str(png))
        page.click("input[name=_save]")
        page.wait_for_url(demo.url + "admin/gallery/photo/")

        thumb = "img.gallery-thumb"
        page.wait_for_function(LOADED, arg=thumb, timeout=15000)
        assert page.eval_on_selector(thumb, "img => img.naturalWidth") == 64
        signed_url = page.get_attribute(thumb, "src")
        assert signed_url.startswith(endpoint) and "x-oss-signature" in signed_url
        processed = "img.gallery-oss-thumb"
        page.wait_for_function(LOADED, arg=processed, timeout=15000)
        assert page.eval_on_selector(processed, SIZE) == [40, 40]  # the 64 x 48 PNG, filled
        processed_url = page.get_attribute(processed, "src")
        assert "x-oss-process=image%2Fresize%2Cm_fill" in processed_url
        assert "x-oss-signature" in processed_url
        page.screenshot(path=str(ARTIFACTS / "admin-photo-list.png"), full_page=True)

        page.goto(demo.url)
        public_thumb = "#thumbnails img[alt='Thumbnail of Sunset']"
        page.wait_for_function(LOADED, arg=public_thumb, timeout=15000)
        assert page.eval_on_selector(public_thumb, SIZE) == [40, 40]
        public_img = "#photos img[alt='Sunset']"
        page.wait_for_function(LOADED, arg=public_img, timeout=15000)
        assert page.eval_on_selector(public_img, "img => img.naturalHeight") == 48
        assert page.inner_text("#photos figcaption") == "Sunset"
        page.screenshot(path=str(ARTIFACTS / "public-page.png"), full_page=True)

        name = object_name(signed_url)
        storage = demo.storage()
        assert storage.exists(name)

        page.goto(demo.url + "admin/gallery/photo/")
        page.click("text=Sunset")
        page.click("a.deletelink")
        page.click("input[type=submit]")
        page.wait_for_url(demo.url + "admin/gallery/photo/")
        assert "was deleted successfully" in page.inner_text(".messagelist")
        page.screenshot(path=str(ARTIFACTS / "admin-after-delete.png"), full_page=True)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise

    assert not storage.exists(name)
    gone = requests.get(signed_url, timeout=30)
    assert gone.status_code == 404 and "<Code>NoSuchKey</Code>" in gone.text
    # Static files (admin CSS/JS, unsigned) and thumbnails (signed) all came from OSS.
    assert any("/static/admin/css/" in url for _, url in oss_answers)
    assert [answer for answer in oss_answers if answer[0] >= 400] == []
    assert webp_answers, "the thumbnails came from OSS as WebP"
