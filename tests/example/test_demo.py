"""The one-command demo, end to end over HTTP (no browser): start, use the admin,
stop with Ctrl-C leaving nothing behind, start again with the uploads kept, delete."""

from __future__ import annotations

import html
import io
import re
import socket
from pathlib import Path

import pytest
import requests

from ..processes import Child, python
from .demo import CSRF, DEMO, Demo, object_name, start_demo

IMG = re.compile(r'<img src="([^"]+)" alt="Red square"')
THUMB = re.compile(r'<img class="gallery-thumb" src="([^"]+)" alt="Red square"')
DOC = re.compile(r'<a href="([^"]+)">Release notes</a>')


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 20, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def login(demo: Demo) -> requests.Session:
    session = requests.Session()
    page = session.get(demo.url + "admin/login/", timeout=30)
    assert page.status_code == 200 and "Django administration" in page.text
    token = CSRF.search(page.text).group(1)
    answer = session.post(demo.url + "admin/login/", timeout=30, data={
        "csrfmiddlewaretoken": token, "username": "admin", "password": demo.password,
        "next": "/admin/"})
    assert answer.url == demo.url + "admin/", answer.text[:2000]
    return session


def add(session: requests.Session, demo: Demo, model: str, title: str, field: str,
        filename: str, content: bytes, content_type: str) -> None:
    url = f"{demo.url}admin/gallery/{model}/add/"
    token = CSRF.search(session.get(url, timeout=30).text).group(1)
    answer = session.post(url, timeout=60, data={"csrfmiddlewaretoken": token, "title": title},
                          files={field: (filename, content, content_type)})
    assert answer.url == f"{demo.url}admin/gallery/{model}/", answer.text[:3000]


def fetch(url: str) -> requests.Response:
    return requests.get(html.unescape(url), timeout=30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.mark.slow  # the whole demo, twice, in child processes: deselect with -m "not slow"
def test_demo_serves_persists_and_stops_cleanly(tmp_path: Path, data_dir: Path) -> None:
    image, notes = png_bytes(), b"django-alioss demo notes\n" * 100

    demo = start_demo(data_dir, tmp_path)
    try:
        log = "\n".join(demo.child.lines)
        assert "Credentials: rrsa (role acs:ram::" in log and "OIDC token file" in log
        assert "ALIBABA_CLOUD_ACCESS_KEY" not in log
        assert demo.password
        public = requests.get(demo.url, timeout=30)
        assert public.status_code == 200 and "No photos yet." in public.text
        css = re.search(r'<link rel="stylesheet" href="([^"]+)"', public.text).group(1)
        assert css.startswith(demo.env["ALIOSS_ENDPOINT"]) and fetch(css).status_code == 200

        session = login(demo)
        add(session, demo, "photo", "Red square", "image", "red square.png", image, "image/png")
        add(session, demo, "document", "Release notes", "file", "notes.txt", notes, "text/plain")

        changelist = session.get(demo.url + "admin/gallery/photo/", timeout=30).text
        thumb = THUMB.search(changelist).group(1)
        assert "x-oss-signature" in thumb
        assert fetch(thumb).content == image
        documents = session.get(demo.url + "admin/gallery/document/", timeout=30).text
        assert "2.4\xa0KB" in documents or "2.4 KB" in documents
    finally:
        status = demo.stop()
    assert status == 0, demo.child.log()[-3000:]
    assert "Demo stopped." in "\n".join(demo.child.lines)

    again = start_demo(data_dir, tmp_path, port=demo.port)  # as a user would: same port
    try:
        assert again.password == demo.password
        assert "Admin login: admin / " in "\n".join(again.child.lines)
        public = requests.get(again.url, timeout=30).text
        photo_url = IMG.search(public).group(1)
        assert fetch(photo_url).content == image
        assert fetch(DOC.search(public).group(1)).content == notes
        name = object_name(html.unescape(photo_url))
        storage = again.storage()
        assert storage.exists(name)

        session = login(again)
        change = session.get(again.url + "admin/gallery/photo/", timeout=30).text
        photo_id = re.search(r'href="/admin/gallery/photo/(\d+)/change/"', change).group(1)
        delete_url = f"{again.url}admin/gallery/photo/{photo_id}/delete/"
        token = CSRF.search(session.get(delete_url, timeout=30).text).group(1)
        session.post(delete_url, data={"csrfmiddlewaretoken": token, "post": "yes"}, timeout=30)
        assert "No photos yet." in requests.get(again.url, timeout=30).text
        assert not storage.exists(name)
        gone = fetch(photo_url)
        assert gone.status_code == 404 and "<Code>NoSuchKey</Code>" in gone.text
    finally:
        assert again.stop() == 0, again.child.log()[-3000:]


def test_demo_reports_a_port_in_use(tmp_path: Path) -> None:
    """The port is checked first: no emulator, no data directory, status 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        child = Child([python(), str(DEMO), "--port", str(port), "--data-dir",
                       str(tmp_path / "data")], cwd=tmp_path, log_path=tmp_path / "demo.log")
        try:
            assert child.wait(timeout=60) == 1
        finally:
            child.kill()
    assert f"Port {port} on 127.0.0.1 is already in use" in "\n".join(child.lines)
    assert not (tmp_path / "data").exists()
