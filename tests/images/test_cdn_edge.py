"""CDN URLs end to end: a storage with ``custom_domain`` and ``cdn_auth_*`` signs URLs
(no OSS credentials needed) that the emulated CDN edge serves, for each type; tampered
or late URLs get the CDN's 403; the edge in the CLI, the Python API and the plugin."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.files.base import ContentFile

import django_alioss
from django_alioss.emulator import Emulator
from django_alioss.storage import OSSStorage

from .conftest import KEYS, fetch, make_image, opened, use_cdn_auth

TYPES = ("A", "B", "C")
README = Path(django_alioss.__file__).resolve().parent.parent / "README.md"


def cdn_storage(emu: Emulator, **options: object) -> OSSStorage:
    """A storage on ``emu``'s bucket whose URLs go through its CDN edge. Its credentials
    can never be obtained (RRSA without an environment, no fallback): CDN URLs must not
    need them."""
    return OSSStorage(endpoint=emu.endpoint, bucket_name=emu.bucket_name, region=emu.region,
                      credentials_provider="rrsa", rrsa_fallback=False,
                      location=f"cdn/{uuid.uuid4().hex[:8]}", **{**emu.cdn_options(), **options})


def upload(emu: Emulator, storage: OSSStorage, name: str, data: bytes) -> None:
    """Put the object with the emulator's own store (the CDN storage has no credentials)."""
    emu.store.put_object_bytes(emu.bucket_name, storage.object_key(name), data)


@pytest.fixture(params=TYPES)
def edge(request: pytest.FixtureRequest, cdn_edge: Emulator) -> Emulator:
    use_cdn_auth(cdn_edge, request.param)
    return cdn_edge


def test_cdn_url_fetches_the_object_without_oss_credentials(edge: Emulator) -> None:
    storage = cdn_storage(edge)
    upload(edge, storage, "docs/read me.txt", b"through the edge")
    before = edge.controls.log.count()
    url = storage.url("docs/read me.txt")
    assert edge.controls.log.count() == before  # no STS, no OSS request to sign
    assert url.startswith(edge.cdn_url + "/")
    response = fetch(url)
    assert response.status_code == 200, response.text
    assert response.content == b"through the edge"
    assert edge.controls.log.count(service="cdn", operation="GetObject") == 1
    assert edge.controls.log.count(service="sts") == 0


def test_cdn_url_with_process_fetches_the_processed_image(edge: Emulator) -> None:
    storage = cdn_storage(edge, image_styles={"thumb": "image/resize,m_fill,w_40,h_40/format,webp"})
    upload(edge, storage, "p.png", make_image((120, 90)))
    for process, size, fmt in (("thumb", (40, 40), "WEBP"),
                               ("image/resize,w_60/format,jpg", (60, 45), "JPEG")):
        response = fetch(storage.url("p.png", process=process))
        assert response.status_code == 200, response.text
        image = opened(response.content)
        assert (image.format, image.size) == (fmt, size)


def tamper(url: str, auth_type: str) -> str:
    """The URL with one hex digit of its hash changed."""
    parts = urlsplit(url)
    if auth_type == "A":
        query = re.sub(r"-([0-9a-f])([0-9a-f]{31})$",
                       lambda m: "-" + ("0" if m[1] != "0" else "1") + m[2], parts.query)
        return urlunsplit(parts._replace(query=query))
    segments = parts.path.split("/")
    index = 2 if auth_type == "B" else 1
    digest = segments[index]
    segments[index] = ("0" if digest[0] != "0" else "1") + digest[1:]
    return urlunsplit(parts._replace(path="/".join(segments)))


def test_tampered_urls_are_forbidden(edge: Emulator) -> None:
    auth_type = edge.cdn.auth.auth_type if edge.cdn else ""
    storage = cdn_storage(edge)
    upload(edge, storage, "a.txt", b"a")
    upload(edge, storage, "b.txt", b"b")
    url = storage.url("a.txt")
    for bad in (tamper(url, auth_type), url.replace("/a.txt", "/b.txt")):
        response = fetch(bad)
        assert response.status_code == 403, bad
        assert "403 Forbidden" in response.text
        assert response.headers["X-Tengine-Error"].startswith("denied by req auth: invalid")
    unsigned = f"{edge.cdn_url}/{storage.object_key('a.txt')}"
    assert fetch(unsigned).status_code == 403
    other_key = cdn_storage(edge, cdn_auth_key=KEYS[auth_type] + "x" if auth_type != "C"
                            else "ffffffffffffffff")
    assert fetch(other_key.url("a.txt")).status_code == 403
    assert fetch(url).status_code == 200


def test_a_url_stops_working_after_expire_seconds(edge: Emulator) -> None:
    auth_type = edge.cdn.auth.auth_type if edge.cdn else ""
    storage = cdn_storage(edge)
    upload(edge, storage, "t.txt", b"timely")
    url = storage.url("t.txt", expire=600)
    edge.controls.clock.advance(540 if auth_type == "B" else 599)  # B: minute precision
    assert fetch(url).status_code == 200
    edge.controls.clock.set_offset(601)
    late = fetch(url)
    assert late.status_code == 403
    assert late.headers["X-Tengine-Error"].startswith("denied by req auth: expired")
    default = storage.url("t.txt")  # querystring_expire (3600 s)
    edge.controls.clock.set_offset(3000)
    assert fetch(default).status_code == 200
    edge.controls.clock.set_offset(3601)
    assert fetch(default).status_code == 403


def test_the_ttl_option_matches_the_console(cdn_edge: Emulator) -> None:
    """A URL signed for a longer TTL than the CDN's is accepted for less time than asked."""
    use_cdn_auth(cdn_edge, "A", ttl=300)
    storage = cdn_storage(cdn_edge)  # cdn_options(): ttl 300, as the edge
    upload(cdn_edge, storage, "ttl.txt", b"ttl")
    mismatched = cdn_storage(cdn_edge, cdn_auth_ttl=1800)
    good, bad = storage.url("ttl.txt", expire=600), mismatched.url("ttl.txt", expire=600)
    cdn_edge.controls.clock.advance(590)
    assert fetch(good).status_code == 200
    assert fetch(bad).status_code == 403  # signed at T - 1800, so it ended at T - 1500


def test_edge_serves_private_objects_and_passes_origin_errors(cdn_edge: Emulator) -> None:
    storage = cdn_storage(cdn_edge)
    upload(cdn_edge, storage, "private.txt", b"private")
    key = storage.object_key("private.txt")
    direct = fetch(f"{cdn_edge.endpoint}/{cdn_edge.bucket_name}/{key}")
    assert direct.status_code == 403  # private in OSS: the CDN's back-to-origin reads it
    assert fetch(storage.url("private.txt")).content == b"private"
    missing = fetch(storage.url("missing.txt"))
    assert missing.status_code == 404 and "<Code>NoSuchKey</Code>" in missing.text
    upload(cdn_edge, storage, "not-an-image.png", b"text")
    broken = fetch(storage.url("not-an-image.png", process="image/resize,w_10"))
    assert broken.status_code == 400 and "<Code>BadRequest</Code>" in broken.text


def test_edge_faults_and_methods(cdn_edge: Emulator) -> None:
    storage = cdn_storage(cdn_edge)
    upload(cdn_edge, storage, "f.txt", b"f")
    cdn_edge.controls.faults.add("cdn", "GetObject", status=503, code="ServiceUnavailable")
    assert fetch(storage.url("f.txt")).status_code == 503
    assert fetch(storage.url("f.txt")).status_code == 200
    import requests

    assert requests.put(storage.url("f.txt"), data=b"x", timeout=30).status_code == 405


def test_emulator_without_cdn_edge() -> None:
    with Emulator() as emu:
        assert emu.cdn is None and emu.cdn_url is None
        assert "ALIOSS_EMULATOR_CDN_URL" not in emu.env()
        with pytest.raises(ValueError, match="no CDN edge"):
            emu.cdn_options()
    with pytest.raises(ValueError, match="16 to 32 letters"):
        Emulator(cdn_auth_type="C", cdn_auth_key="short")
    with pytest.raises(ValueError, match="needs cdn_auth_key"):
        Emulator(cdn_auth_type="A")


def test_edge_url_is_described_and_exported(cdn_emu: Emulator) -> None:
    assert cdn_emu.env()["ALIOSS_EMULATOR_CDN_URL"] == cdn_emu.cdn_url
    assert f"export ALIOSS_EMULATOR_CDN_URL={cdn_emu.cdn_url}\n" in cdn_emu.export_lines()
    assert f"CDN edge {cdn_emu.cdn_url}" in cdn_emu.describe()
    assert "`ALIOSS_EMULATOR_CDN_URL`" in README.read_text(encoding="utf-8")


def test_cli_serves_the_edge(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "django_alioss.emulator", "--port", "0",
               "--cdn-auth-type", "C", "--cdn-auth-key", KEYS["C"], "--cdn-auth-ttl", "600"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        while "ALIOSS_EMULATOR_CDN_URL" not in exports:
            line = process.stdout.readline()
            assert line.startswith("export "), process.stderr.read() if process.stderr else line
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
        edge_url = exports["ALIOSS_EMULATOR_CDN_URL"]
        storage = OSSStorage(endpoint=exports["ALIOSS_ENDPOINT"],
                             bucket_name=exports["ALIOSS_BUCKET_NAME"],
                             region=exports["ALIOSS_REGION"],
                             access_key_id=exports["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                             access_key_secret=exports["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                             custom_domain=edge_url.removeprefix("http://"),
                             url_protocol="http:", cdn_auth_type="C",
                             cdn_auth_key=KEYS["C"], cdn_auth_ttl=600)
        storage.save("cli.txt", ContentFile(b"from the CLI's edge"))
        assert fetch(storage.url("cli.txt")).content == b"from the CLI's edge"
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode == 0
    bad = subprocess.run([*command[:-4], "--cdn-auth-key", "short"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "16 to 32 letters and digits" in bad.stderr


def test_pytest_plugin_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_edge="""
        def test_edge(alioss_emulator):
            assert alioss_emulator.cdn_url
            options = alioss_emulator.cdn_options()
            assert options["cdn_auth_type"] == "B" and options["cdn_auth_ttl"] == 900
            assert options["cdn_auth_key"] == "plugin-key"

        def test_env(alioss_env):
            assert alioss_env["ALIOSS_EMULATOR_CDN_URL"].startswith("http://127.0.0.1:")
    """)
    result = pytester.runpytest_subprocess(
        "-p", "no:django", "-p", "no:cacheprovider", "--alioss-cdn-auth-type", "B",
        "--alioss-cdn-auth-key", "plugin-key", "--alioss-cdn-auth-ttl", "900")
    result.assert_outcomes(passed=2)
    pytester.makeini("[pytest]\nalioss_cdn_auth_type = A\nalioss_cdn_auth_key = from-ini\n")
    pytester.makepyfile(test_edge="""
        def test_edge(alioss_emulator):
            assert alioss_emulator.cdn_options()["cdn_auth_key"] == "from-ini"
    """)
    result = pytester.runpytest_subprocess("-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_edge_verifier_never_imports_the_signer() -> None:
    """The deliberate twin: a signing bug must not pass by being made on both sides."""
    package = Path(django_alioss.__file__).resolve().parent
    for path, forbidden in ((package / "emulator" / "cdn.py", "django_alioss.cdn"),
                            (package / "cdn.py", "emulator")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [node.module or "" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
        assert not [name for name in imported if forbidden in name or
                    (forbidden == "django_alioss.cdn" and name in ("..cdn", "cdn"))], path
