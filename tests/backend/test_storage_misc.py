"""Gzip, pickling, thread safety, and storages with different buckets, endpoints and
credentials side by side."""

from __future__ import annotations

import gzip
import io
import logging
import os
import pickle
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile

from django_alioss.emulator.emulator import Emulator, bucket_policy
from django_alioss.storage import OSSStorage

StorageFactory = Callable[..., OSSStorage]
KiB = 1024
CSS = b"".join(b".rule-%d { color: #%06x; margin: %dpx; }\n" % (i, i * 2654435 % 0xFFFFFF, i)
               for i in range(3000))
REPO = Path(__file__).resolve().parents[2]


def stored(emu, key: str) -> bytes:
    return emu.store.get_object_bytes(emu.bucket_name, key)


# --- gzip --------------------------------------------------------------------------------------
def test_gzip_css_round_trip(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(gzip=True)
    storage.save("css/site.css", ContentFile(CSS))
    storage.save("img/logo.png", ContentFile(b"\x89PNG not compressed"))
    key = f"{storage.location}/css/site.css"
    record = emu.store.head_object(emu.bucket_name, key)
    assert record.headers.get("Content-Encoding") == "gzip"
    assert record.content_type == "text/css"
    raw = stored(emu, key)
    assert len(raw) < len(CSS) // 3 and gzip.decompress(raw) == CSS
    png = emu.store.head_object(emu.bucket_name, f"{storage.location}/img/logo.png")
    assert "Content-Encoding" not in png.headers
    with storage.open("css/site.css") as handle:
        assert handle.read() == CSS
    with storage.open("css/site.css") as handle:  # seek within the decompressed stream
        handle.seek(100_000)
        assert handle.read(50) == CSS[100_000:100_050]
    with storage.open("css/site.css", "r") as handle:
        assert handle.readline() == CSS.split(b"\n")[0].decode() + "\n"
    response = requests.get(storage.url("css/site.css"), timeout=10)
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content == CSS  # decoded by the HTTP client, as a browser would


def test_gzip_large_content_goes_multipart(make_storage: StorageFactory, emu, ops) -> None:
    storage = make_storage(gzip=True, multipart_threshold=100 * KiB,
                           multipart_chunksize=100 * KiB)
    data = os.urandom(300 * KiB).hex().encode()  # compresses to about half
    name = storage.save("big.js", ContentFile(data))
    assert ops["UploadPart"] >= 3
    assert gzip.decompress(stored(emu, f"{storage.location}/{name}")) == data
    assert storage.open(name).read() == data


def test_gzip_respects_explicit_content_encoding(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(gzip=True, object_parameters={"Content-Encoding": "identity"})
    storage.save("plain.css", ContentFile(CSS))
    assert stored(emu, f"{storage.location}/plain.css") == CSS


def test_precompressed_objects_read_as_stored(storage: OSSStorage, emu) -> None:
    packed = gzip.compress(CSS)
    name = storage.save("bundle.css.gz", ContentFile(packed))
    record = emu.store.head_object(emu.bucket_name, f"{storage.location}/{name}")
    assert record.headers.get("Content-Encoding") == "gzip"  # guessed from ".gz"
    with storage.open(name) as handle:  # gzip=False: the bytes as stored
        assert handle.read(100) == packed[:100]
        handle.seek(len(packed) // 2)
        assert handle.read() == packed[len(packed) // 2:]
    assert storage.size(name) == len(packed)


def test_update_mode_on_gzipped_object_keeps_content(make_storage: StorageFactory, emu) -> None:
    storage = make_storage(gzip=True)
    storage.save("edit.css", ContentFile(b"a { }\n"))
    with storage.open("edit.css", "ab") as handle:
        handle.write(b"b { }\n")
    assert storage.open("edit.css").read() == b"a { }\nb { }\n"


# --- pickling --------------------------------------------------------------------------------
def test_pickled_storage_has_no_secrets_and_works(storage: OSSStorage, emu) -> None:
    storage.save("p.txt", ContentFile(b"before pickling"))
    data = pickle.dumps(storage)
    assert emu.access_key_secret.encode() not in data
    copy = pickle.loads(data)
    assert copy._client is None  # the session was dropped and is rebuilt on use
    assert copy.open("p.txt").read() == b"before pickling"
    copy.save("q.txt", ContentFile(b"after"))
    assert requests.get(copy.url("q.txt"), timeout=10).content == b"after"


def test_pickled_rrsa_storage_has_no_sts_secrets(rrsa_storage_options, emu) -> None:
    storage = OSSStorage(**rrsa_storage_options())
    storage.save("r.txt", ContentFile(b"rrsa"))
    snapshot = storage.credentials.snapshot()
    data = pickle.dumps(storage)
    for secret in (snapshot.access_key_secret, snapshot.security_token,
                   Path(emu.oidc_token_file).read_text().strip()):
        assert secret.encode() not in data
    assert pickle.loads(data).open("r.txt").read() == b"rrsa"


def test_unpickled_in_another_process_reads_secrets_from_environment(storage: OSSStorage,
                                                                     emu, tmp_path) -> None:
    storage.save("x.txt", ContentFile(b"cross-process"))
    blob = tmp_path / "storage.pickle"
    blob.write_bytes(pickle.dumps(storage))
    script = (
        "import pickle, sys, django\n"
        "django.setup()\n"
        "storage = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "sys.stdout.write(storage.open('x.txt').read().decode())\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(REPO),
           "ALIOSS_ACCESS_KEY_SECRET": emu.access_key_secret}
    result = subprocess.run([sys.executable, "-c", script, str(blob)], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cross-process"


# --- threads ---------------------------------------------------------------------------------
def test_thirty_two_threads_share_one_session(storage: OSSStorage, emu,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    clients: set[int] = set()
    sessions: set[int] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(32)

    def work(number: int) -> bytes:
        barrier.wait()
        payload = f"thread {number} ".encode() * (number + 1) * 50
        name = storage.save(f"threads/{number}.txt", ContentFile(payload))
        read = storage.open(name).read()
        assert storage.exists(name) and storage.size(name) == len(payload)
        with lock:
            clients.add(id(storage.client))
            sessions.add(id(storage.client.bucket.session))
        return read == payload

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(work, range(32)))
    assert all(results)
    assert len(clients) == 1 and len(sessions) == 1
    assert len(storage.listdir("threads")[1]) == 32
    assert "Connection pool is full" not in caplog.text


# --- several storages in one process ------------------------------------------------------------
@pytest.fixture
def second_bucket(emu) -> Iterator[str]:
    name = f"second-{uuid.uuid4().hex[:12]}"
    emu.store.create_bucket(name)
    yield name
    for key in emu.store.list_keys(name):
        emu.store.delete_object(name, key)
    emu.store.delete_bucket(name)


def test_storages_with_different_buckets_credentials_and_endpoints(
        make_storage: StorageFactory, emu, second_bucket: str) -> None:
    other_user = emu.iam.add_user(f"user-{second_bucket}", [bucket_policy(second_bucket)])
    first = make_storage()
    second = make_storage(bucket_name=second_bucket, access_key_id=other_user.access_key_id,
                          access_key_secret=other_user.access_key_secret)
    with Emulator() as elsewhere:
        third = make_storage(endpoint=elsewhere.endpoint, bucket_name=elsewhere.bucket_name,
                             access_key_id=elsewhere.access_key_id,
                             access_key_secret=elsewhere.access_key_secret)
        for storage, payload in ((first, b"one"), (second, b"two"), (third, b"three")):
            storage.save("same-name.txt", ContentFile(payload))
        assert first.open("same-name.txt").read() == b"one"
        assert second.open("same-name.txt").read() == b"two"
        assert third.open("same-name.txt").read() == b"three"
        assert elsewhere.controls.log.count("oss", "PutObject") == 1
    key = f"{first.location}/same-name.txt"
    assert emu.store.get_object_bytes(second_bucket, key) == b"two"
    signers = {e.access_key_id for e in emu.controls.log.entries("oss", "PutObject")
               if e.path.startswith(f"/{second_bucket}/")}
    assert signers == {other_user.access_key_id}
    with pytest.raises(PermissionError):  # the second user cannot reach the first bucket
        make_storage(access_key_id=other_user.access_key_id,
                     access_key_secret=other_user.access_key_secret).open("same-name.txt")
    text = io.StringIO()
    print(first.describe(), second.describe(), file=text)
    assert other_user.access_key_secret not in text.getvalue()
