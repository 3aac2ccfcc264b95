"""Target 5: the emulator is never what limits a benchmark (>= 1 GB/s on loopback).

Against the emulator in its own process, with a plain ``requests`` session on URLs
presigned beforehand, interleaved, ``--size-mib`` (256 MiB) of random bytes:

- PutObject: ``requests.put`` of the bytes (the emulator checks the size, computes the
  MD5 for the ETag and the CRC-64, and keeps the bytes);
- UploadPart: the same bytes as 4 parts sent at once from 4 threads (each part's MD5 on
  a core of its own where there is one);
- GetObject: ``requests.get(stream=True).iter_content(1 MiB)``;
- the floors: the same PUT and GET against ``discard_server.py`` (its own process, bodies
  thrown away: what Python moves through loopback here) and MD5 alone (``hashlib`` over
  the bytes in 1 MiB updates, in this process): one stream's MD5 cannot be split, so a
  PutObject, whose answer carries the MD5 as its ETag, cannot finish faster than it.

Targets: each >= 1 GB/s (1,000 MB/s); PutObject >= 0.9x MD5 alone (the emulator adds
little to the hashing it cannot avoid). The discard-server ratios are shown for
comparison.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    ROOT,
    Comparison,
    MiB,
    Target,
    compare,
    emulator_process,
    goal_check,
    interleaved,
    raw_session,
    setup_django,
    storage_for,
)

GOAL_MB_S = 1000.0
PARTS = 4
READ_SIZE = MiB


@contextmanager
def discard_process() -> Iterator[str]:
    """``discard_server.py`` in its own process; yields its base URL. It stops when its
    standard input is closed, here or by this process's exit."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "discard_server.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


def _drain(http: Any, url: str) -> int:
    total = 0
    with http.get(url, stream=True, timeout=300) as response:
        response.raise_for_status()
        for chunk in response.iter_content(READ_SIZE):
            total += len(chunk)
    return total


def _md5_alone(data: bytes) -> Callable[[], object]:
    view = memoryview(data)

    def md5() -> None:
        digest = hashlib.md5()
        for start in range(0, len(view), MiB):
            digest.update(view[start:start + MiB])

    return md5


def _parallel_parts(storage: Any, data: bytes) -> Callable[[], object]:
    """UploadPart of ``data`` as :data:`PARTS` parts, all at once from as many threads."""
    name = "emulator/parts.bin"
    upload_id = storage.client.init_multipart(storage.object_key(name), {}).upload_id
    size = len(data) // PARTS
    pieces = [memoryview(data)[n * size:(n + 1) * size] for n in range(PARTS)]
    urls = [storage.url(name, {"partNumber": str(n + 1), "uploadId": upload_id},
                        http_method="PUT") for n in range(PARTS)]
    sessions = [raw_session() for _ in range(PARTS)]
    pool = ThreadPoolExecutor(PARTS)

    def send(n: int) -> None:
        sessions[n].put(urls[n], data=pieces[n], timeout=300).raise_for_status()

    def parts() -> None:
        list(pool.map(send, range(PARTS)))

    return parts


def cases(env: dict[str, str], discard: str, data: bytes) -> dict[str, Callable[[], object]]:
    """Case -> one run of it."""
    storage = storage_for(env)
    http = raw_session()
    size = len(data)
    put_url = storage.url("emulator/put.bin", http_method="PUT")
    get_url = storage.url("emulator/put.bin")
    http.put(put_url, data=data, timeout=300).raise_for_status()
    expected = f'"{hashlib.md5(data).hexdigest().upper()}"'

    def put() -> None:
        response = http.put(put_url, data=data, timeout=300)
        response.raise_for_status()
        assert response.headers["ETag"] == expected

    def get() -> None:
        assert _drain(http, get_url) == size

    return {
        "PutObject": put,
        "discard PUT": lambda: http.put(discard, data=data, timeout=300).raise_for_status(),
        "UploadPart x4": _parallel_parts(storage, data),
        "GetObject": get,
        "discard GET": lambda: _drain(http, f"{discard}/{size // MiB}"),
        "MD5 alone": _md5_alone(data),
    }


def run(quick: bool = False, size_mib: int | None = None, repeats: int | None = None,
        **_: Any) -> list[Comparison]:
    setup_django()
    size = (size_mib or (8 if quick else 256)) * MiB
    repeats = repeats or (2 if quick else 7)
    data = os.urandom(size)
    with emulator_process() as env, discard_process() as discard:
        samples = interleaved(cases(env, discard, data), repeats)
    label = f"{size // MiB} MiB"
    goal = Target(">=", 1.0)
    shown = Target(">=", 0.0)
    return [
        goal_check("emulator", f"PutObject {label} (requests.put)", samples["PutObject"],
                   size, GOAL_MB_S, goal),
        compare("emulator", f"PutObject {label} vs MD5 alone (its bound)", samples,
                "PutObject", "MD5 alone", Target(">=", 0.9), unit="MB/s", work=size),
        compare("emulator", f"PutObject {label} vs a discard server (for comparison)",
                samples, "PutObject", "discard PUT", shown, unit="MB/s", work=size),
        goal_check("emulator", f"UploadPart, {PARTS} parts of {size // PARTS // MiB} MiB "
                   "at once", samples["UploadPart x4"], size, GOAL_MB_S, goal),
        goal_check("emulator", f"GetObject {label} (iter_content 1 MiB)",
                   samples["GetObject"], size, GOAL_MB_S, goal),
        compare("emulator", f"GetObject {label} vs a discard server (for comparison)",
                samples, "GetObject", "discard GET", shown, unit="MB/s", work=size),
    ]


if __name__ == "__main__":
    from run import print_table

    print_table(run(quick="--quick" in sys.argv))
