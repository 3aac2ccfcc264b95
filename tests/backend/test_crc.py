"""CRC-64/XZ (OSS's crc64ecma): both implementations agree with crcmod as oss2 configures
it, chained and combined, on random data including empty and odd sizes; the fallback
is chosen where fastcrc is missing, and which one is used is logged."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable

import crcmod
import oss2.models
import oss2.utils
import pytest

from django_alioss import crc

SIZES = [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4095, 4097, 65_537, 1_048_579]


def reference(data: bytes) -> int:
    """crcmod configured exactly as oss2 configures it."""
    function = crcmod.Crc(crc.POLY, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)
    function.update(data)
    return int(function.crcValue)


def backends() -> list[tuple[str, Callable[..., int]]]:
    found = [crc.select_backend("crcmod")]
    try:
        import fastcrc  # noqa: F401
    except ImportError:
        pass
    else:
        found.append(crc.select_backend("fastcrc"))
    return found


@pytest.fixture(params=backends(), ids=lambda backend: backend[0].split()[0])
def crc_function(request: pytest.FixtureRequest) -> Callable[..., int]:
    return request.param[1]


def test_known_values(crc_function: Callable[..., int]) -> None:
    assert crc_function(b"123456789") == 11051210869376104954
    assert crc_function(b"") == 0
    assert crc_function(b"", 12345) == 12345


@pytest.mark.parametrize("size", SIZES)
def test_matches_crcmod_whole_and_chained(crc_function: Callable[..., int], size: int) -> None:
    data = os.urandom(size)
    expected = reference(data)
    assert crc_function(data) == expected
    assert crc_function(memoryview(bytearray(data))) == expected
    cut = random.Random(size).randint(0, size)
    assert crc_function(data[cut:], crc_function(data[:cut])) == expected


def test_module_functions_use_the_selected_backend() -> None:
    data = os.urandom(100_003)
    running = crc.Crc64()
    for start in range(0, len(data), 4099):
        running.update(data[start:start + 4099])
    assert running.value == crc.crc64(data) == reference(data)
    assert crc.BACKEND.split()[0] in {"fastcrc", "crcmod"}


def test_combined_parts_match_crcmod_and_oss2() -> None:
    rng = random.Random(9)
    parts = [os.urandom(size) for size in (0, 1, 100_001, 7, 0, 262_147, 3)]
    pieces = [(crc.crc64(part), len(part)) for part in parts]
    whole = b"".join(parts)
    assert crc.combine_all(pieces) == reference(whole)
    infos = [oss2.models.PartInfo(n + 1, "etag", size=size, part_crc=value)
             for n, (value, size) in enumerate(pieces) if size]  # oss2 gives up on empty parts
    assert oss2.utils.calc_obj_crc_from_parts(infos) == reference(whole)
    first, second = whole[:rng.randint(0, len(whole))], None
    second = whole[len(first):]
    assert crc.combine(crc.crc64(first), crc.crc64(second), len(second)) == reference(whole)
    assert crc.combine(crc.crc64(first), 0, 0) == crc.crc64(first)


def _import_in_child(env: dict[str, str], block_fastcrc: bool = False) -> str:
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout, "
            "format='%(message)s')\n")
    if block_fastcrc:  # as on a platform without a fastcrc wheel
        code += "sys.modules['fastcrc'] = None\n"
    code += ("from django_alioss import crc\n"
             "assert crc.crc64(b'123456789') == 11051210869376104954\n"
             "print('BACKEND=' + crc.BACKEND)\n")
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def test_fallback_to_crcmod_without_fastcrc_is_logged_once() -> None:
    output = _import_in_child({}, block_fastcrc=True)
    assert "BACKEND=crcmod" in output
    lines = [line for line in output.splitlines() if line.startswith("CRC-64:")]
    assert len(lines) == 1 and "crcmod" in lines[0] and "pip install fastcrc" in lines[0]


def test_forced_fallback_and_fastcrc_logged() -> None:
    assert "BACKEND=crcmod" in _import_in_child({crc.FORCE_ENV: "crcmod"})
    pytest.importorskip("fastcrc")
    output = _import_in_child({crc.FORCE_ENV: ""})
    assert "BACKEND=fastcrc" in output and "CRC-64: fastcrc" in output


def test_client_checks_uploads_with_the_fallback(make_storage, emu,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads and whole-object reads verify CRC-64 with crcmod too."""
    from django.core.files.base import ContentFile

    from django_alioss import files
    from django_alioss.client import core as client

    _, function = crc.select_backend("crcmod")
    used: list[int] = []

    def with_crcmod(data: bytes, value: int = 0) -> int:
        used.append(len(data))
        return function(data, value)

    # The client's side only: the in-process emulator computes its CRC-64 with fastcrc.
    monkeypatch.setattr(client, "crc64", with_crcmod)
    monkeypatch.setattr(files, "crc64", with_crcmod)
    storage = make_storage(multipart_threshold=256 * 1024, multipart_chunksize=128 * 1024)
    data = os.urandom(300_001)
    storage.save("multi.bin", ContentFile(data))
    storage.save("single.bin", ContentFile(data[:1000]))
    with storage.open("multi.bin") as handle:
        assert handle.read() == data
        assert handle.file.raw.crc_check.verified
    assert sum(used) >= 2 * len(data)  # every byte uploaded and read went through crcmod


@pytest.mark.parametrize("threshold", [1 << 30, 256 * 1024], ids=["put", "multipart"])
def test_upload_whose_crc_differs_from_the_servers_fails(make_storage, emu, ops, threshold: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The client compares its CRC-64 with the server's: a difference (data changed in
    transit) is retried, then raised; nothing wrong is left behind."""
    from django.core.files.base import ContentFile

    from django_alioss.client import core as client
    from django_alioss.exceptions import OSSError

    # Only the client's CRC is off (the in-process emulator computes its own correctly).
    monkeypatch.setattr(client, "crc64", lambda data, value=0: crc.crc64(data, value) ^ 1)
    storage = make_storage(multipart_threshold=threshold, multipart_chunksize=128 * 1024,
                           max_retries=1)
    with pytest.raises(OSSError) as caught:
        storage.save("bad.bin", ContentFile(os.urandom(300_001)))
    assert (caught.value.status, caught.value.code) == (-3, "InconsistentError")
    operation = "PutObject" if threshold > 300_001 else "UploadPart"
    assert ops[operation] >= 2  # retried once
    assert emu.store.in_progress_uploads(emu.bucket_name) == []
