"""Target 2: small operations at the cost of raw HTTP requests.

Against the emulator in its own process, interleaved, per call: ``storage.save`` of 1
KiB, ``storage.open(name).read()`` of 1 KiB, ``storage.exists``, ``storage.size`` and
``storage.delete``, each against the same request sent with a plain ``requests``
session on a URL presigned beforehand (PUT, GET, HEAD, HEAD, DELETE): the floor pays
for no signing at all. Target: ours <= 1.15x the floor's time, per operation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Comparison,
    Target,
    calibrate,
    compare,
    emulator_process,
    interleaved,
    raw_session,
    setup_django,
    storage_for,
)

TARGET = Target("<=", 1.15)


def operations(storage: Any, http: Any) -> dict[str, tuple[Callable[[], object],
                                                           Callable[[], object]]]:
    """Operation -> (ours, floor)."""
    from django.core.files.base import ContentFile

    data = os.urandom(1024)
    storage.save("small/read.bin", ContentFile(data))
    get_url = storage.url("small/read.bin")
    head_url = storage.url("small/read.bin", http_method="HEAD")
    put_url = storage.url("small/put.bin", http_method="PUT")
    delete_url = storage.url("small/gone.bin", http_method="DELETE")

    def open_read() -> None:
        with storage.open("small/read.bin") as handle:
            assert len(handle.read()) == 1024

    def raw_get() -> None:
        assert len(http.get(get_url, timeout=10).content) == 1024

    def raw_put() -> None:
        http.put(put_url, data=data, timeout=10).raise_for_status()

    def raw_head() -> None:
        http.head(head_url, timeout=10).raise_for_status()

    return {
        "save 1 KiB": (lambda: storage.save("small/put.bin", ContentFile(data)), raw_put),
        "open+read 1 KiB": (open_read, raw_get),
        "exists": (lambda: storage.exists("small/read.bin"), raw_head),
        "size": (lambda: storage.size("small/read.bin"), raw_head),
        "delete": (lambda: storage.delete("small/gone.bin"),
                   lambda: http.delete(delete_url, timeout=10).raise_for_status()),
    }


def run(quick: bool = False, repeats: int | None = None, **_: Any) -> list[Comparison]:
    setup_django()
    repeats = repeats or (2 if quick else 9)
    results = []
    with emulator_process() as env:
        storage = storage_for(env)
        http = raw_session()
        for name, (ours, floor) in operations(storage, http).items():
            for _ in range(20):  # warm: connections, credentials, caches
                ours()
                floor()
            calls = 20 if quick else calibrate(ours, 0.25)
            samples = interleaved({"ours": ours, "raw": floor}, repeats, calls)
            results.append(compare("small_ops", name, samples, "ours", "raw", TARGET,
                                   extra={"calls_per_repetition": calls}))
    for result in results:
        result.floor_label = "raw requests, presigned"
    return results


if __name__ == "__main__":
    from run import print_table

    print_table(run(quick="--quick" in sys.argv))
