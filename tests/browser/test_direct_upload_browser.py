"""A browser upload straight to the bucket, in Chromium: the demo admin's Attachment form
(DirectUploadField) POSTs the chosen file to the emulator from the page's origin (another
port, so CORS rules and headers are at work), shows progress, and saving the form sends
only a token and a name; the object ends up attached to the row, never passing through
the site."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from ..example.demo import Demo, object_name
from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

SIZE = 3 * 1024 * 1024 + 17


def login(page: Any, demo: Demo) -> None:
    page.goto(demo.url + "admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", demo.password)
    page.click("input[type=submit]")
    page.wait_for_url(demo.url + "admin/")


def test_admin_uploads_straight_to_the_bucket(chromium: Any, demo: Demo, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    content = os.urandom(SIZE)
    path = tmp_path / "release notes.bin"
    path.write_bytes(content)
    bucket_url = f"{demo.env['ALIOSS_ENDPOINT']}/{demo.env['ALIOSS_BUCKET_NAME']}/"
    page = chromium.new_page()
    to_oss: list[Any] = []
    page.on("response", lambda r: to_oss.append(r) if r.url == bucket_url else None)
    to_site: list[int] = []
    page.on("request", lambda r: to_site.append(len(r.post_data_buffer or b""))
            if r.method == "POST" and r.url.startswith(demo.url) else None)
    try:
        login(page, demo)
        page.goto(demo.url + "admin/gallery/attachment/add/")
        page.fill("#id_title", "Release notes")
        page.set_input_files("#id_file", str(path))
        page.wait_for_selector(".alioss-direct-upload[data-state=done]", timeout=30000)
        assert page.inner_text(".alioss-direct-upload-status") == "Uploaded release_notes.bin"
        assert page.eval_on_selector(".alioss-direct-upload-progress", "p => p.value") == 100
        page.screenshot(path=str(ARTIFACTS / "direct-upload-done.png"), full_page=True)
        page.click("input[name=_save]")
        page.wait_for_url(demo.url + "admin/gallery/attachment/")
        page.screenshot(path=str(ARTIFACTS / "direct-upload-list.png"), full_page=True)
        href = page.get_attribute("a.attachment-link", "href")
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "direct-upload-failure.png"), full_page=True)
        raise

    # The page's POST to the bucket was cross-origin: the rule alioss_cors set added
    # for the demo's origin answered it, so the script could read the 204.
    (upload,) = to_oss
    assert (upload.request.method, upload.status) == ("POST", 204)
    assert upload.headers["access-control-allow-origin"] == demo.url.rstrip("/")
    assert "origin" in upload.headers["vary"].lower()
    # The bytes went to OSS; the site only saw the form (a token and a name).
    assert max(to_site) < 10_000 < SIZE
    name = object_name(href)
    assert name.startswith("direct-uploads/") and name.endswith("/release_notes.bin")
    # prefix (the ticket's random folder) / slot (this upload's, 8 hex digits) / file name
    assert re.fullmatch(r"direct-uploads/[0-9a-f]{32}/[0-9a-f]{8}/release_notes\.bin", name)
    with demo.storage().open(name) as attached:
        assert attached.read() == content
