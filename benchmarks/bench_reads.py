"""Target 1: streaming reads at wire speed, CRC-64 checked, bounded memory.

A ``--size-mib`` object (256 MiB) in the emulator (its own process) is read, interleaved:

- floor: ``requests.get(presigned URL, stream=True).iter_content(1 MiB)``, bytes counted;
- ours: ``storage.open(name).read(1 MiB)`` in a loop, and ``for chunk in
  storage.open(name).chunks()`` (each checks the whole object's CRC-64 at its end).

Target: ours >= 0.9x the floor's throughput. Then, in a fresh child process, the peak
RSS growth of a ``read(1 MiB)`` loop over the object: target <= 16 MiB.
``python benchmarks/bench_reads.py [--quick]`` prints the figures; ``run.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Comparison,
    MiB,
    Target,
    bound_check,
    compare,
    emulator_process,
    in_child,
    interleaved,
    peak_rss_growth,
    raw_session,
    setup_django,
    storage_for,
)

NAME = "reads/big.bin"
READ_SIZE = MiB
RSS_BOUND = 16 * MiB


def read_loop(storage: Any, size: int) -> None:
    total = 0
    with storage.open(NAME) as handle:
        while chunk := handle.read(READ_SIZE):
            total += len(chunk)
        verified = handle.file.raw.crc_check.verified
    assert total == size and verified, (total, verified)


def chunks_loop(storage: Any, size: int) -> None:
    total = 0
    with storage.open(NAME) as handle:
        for chunk in handle.chunks():
            total += len(chunk)
    assert total == size


def run(quick: bool = False, size_mib: int | None = None, repeats: int | None = None,
        **_: Any) -> list[Comparison]:
    setup_django()
    size = (size_mib or (8 if quick else 256)) * MiB
    repeats = repeats or (2 if quick else 7)
    data = os.urandom(size)
    with emulator_process() as env:
        storage = storage_for(env)
        storage.save(NAME, _content(data))
        del data
        http = raw_session()
        url = storage.url(NAME)

        def raw() -> None:
            total = 0
            with http.get(url, stream=True, timeout=120) as response:
                for chunk in response.iter_content(READ_SIZE):
                    total += len(chunk)
            assert total == size

        samples = interleaved({"raw": raw, "read": lambda: read_loop(storage, size),
                               "chunks": lambda: chunks_loop(storage, size)}, repeats)
        growth = in_child("bench_reads.py", "--memory-child", str(size),
                          env={"BENCH_EMULATOR_ENV": json.dumps(env)})["rss_growth"]
        storage.delete(NAME)
    floor = "raw requests iter_content(1 MiB)"
    samples[floor] = samples.pop("raw")
    label = f"{size // MiB} MiB"
    return [
        compare("reads", f"open().read(1 MiB) loop, {label}", samples, "read", floor,
                Target(">=", 0.9), unit="MB/s", work=size, extra={"crc64_verified": True}),
        compare("reads", f"open().chunks(), {label}", samples, "chunks", floor,
                Target(">=", 0.9), unit="MB/s", work=size),
        bound_check("reads", f"peak RSS growth, read(1 MiB) loop of {label}",
                    [growth / MiB], RSS_BOUND / MiB, "16 MiB"),
    ]


def _content(data: bytes) -> Any:
    from django.core.files.base import ContentFile

    return ContentFile(data)


def memory_child(size: int) -> dict[str, float]:
    """In a fresh process: peak RSS growth while reading the object in 1 MiB reads."""
    setup_django()
    storage = storage_for(json.loads(os.environ["BENCH_EMULATOR_ENV"]))
    storage.exists(NAME)  # session, credentials, imports
    growth = peak_rss_growth()
    read_loop(storage, size)
    return {"rss_growth": growth()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size-mib", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return
    from run import print_table

    print_table(run(args.quick, args.size_mib, args.repeats))


if __name__ == "__main__":
    main()
