"""Target 3: save() at raw PUT speed with integrity checks on, multipart memory bounded.

Against the emulator in its own process, interleaved: ``storage.save`` of a
``--size-mib`` object (256 MiB) as one PutObject (threshold above the size) and as a
multipart upload (8 MiB parts, 4 in flight), each checked by CRC-64, against the
faster of two raw ``requests.put`` floors on a presigned URL (the bytes at once, and
the same bytes in 1 MiB chunks). Target: ours >= 0.9x the floor's throughput.

Then, each in a fresh child process, the peak RSS growth while streaming a generated
file through ``storage.save`` (256 MiB and 1 GiB) and through ``storage.open(name,
"wb")`` (256 MiB), multipart: target <= concurrency x chunksize + 8 MiB (40 MiB).
Peak RSS is the kernel's high-water mark reset just before the upload.
"""

from __future__ import annotations

import argparse
import io
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

CHUNKSIZE = 8 * MiB
CONCURRENCY = 4
MEMORY_BOUND = CONCURRENCY * CHUNKSIZE + 8 * MiB


class GeneratedStream(io.RawIOBase):
    """``size`` bytes of a repeating 1 MiB random block, produced on demand (never held)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._block = os.urandom(MiB)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence] \
            + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self._pos, MiB)
        start = self._pos % MiB
        first = min(count, MiB - start)
        view = memoryview(buffer)
        view[:first] = self._block[start:start + first]
        view[first:count] = self._block[:count - first]
        self._pos += count
        return count


class Chunks:
    """``data`` as a sized iterable of 1 MiB views: requests sends Content-Length and
    the chunks as they come."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)

    def __len__(self) -> int:
        return len(self._view)

    def __iter__(self) -> Any:
        return (self._view[i:i + MiB] for i in range(0, len(self._view), MiB))


def throughput(env: dict[str, str], size: int, repeats: int) -> list[Comparison]:
    from django.core.files.base import ContentFile

    data = os.urandom(size)
    single = storage_for(env, multipart_threshold=2 * size)
    multi = storage_for(env, multipart_threshold=CHUNKSIZE, multipart_chunksize=CHUNKSIZE,
                        multipart_concurrency=CONCURRENCY)
    http = raw_session()
    url = single.url("uploads/raw.bin", http_method="PUT")

    cases = {
        "bytes": lambda: http.put(url, data=data, timeout=300).raise_for_status(),
        "chunks": lambda: http.put(url, data=Chunks(data), timeout=300).raise_for_status(),
        "single": lambda: single.save("uploads/single.bin", ContentFile(data)),
        "multipart": lambda: multi.save("uploads/multi.bin", ContentFile(data)),
    }
    samples = interleaved(cases, repeats)
    assert single.size("uploads/multi.bin") == size
    # The floor: the faster raw PUT of each repetition.
    floor = "raw requests.put (best of bytes, 1 MiB chunks)"
    samples[floor] = [min(a, b) for a, b in zip(samples["bytes"], samples["chunks"], strict=True)]
    label = f"{size // MiB} MiB"
    return [compare("uploads", f"save(), one PutObject, {label}", samples, "single", floor,
                    Target(">=", 0.9), unit="MB/s", work=size),
            compare("uploads", f"save(), multipart 8 MiB x4, {label}", samples, "multipart",
                    floor, Target(">=", 0.9), unit="MB/s", work=size)]


def memory_child(case: str, stream_mib: int) -> dict[str, float]:
    """In a fresh process: peak RSS growth while streaming ``stream_mib`` MiB."""
    from django.core.files.base import ContentFile, File

    setup_django()
    storage = storage_for(json.loads(os.environ["BENCH_EMULATOR_ENV"]),
                          multipart_threshold=CHUNKSIZE, multipart_chunksize=CHUNKSIZE,
                          multipart_concurrency=CONCURRENCY)
    storage.save("uploads/warm-up.bin", ContentFile(b"x"))  # session, credentials, imports
    block = os.urandom(MiB)
    growth = peak_rss_growth()
    if case == "save":
        name = storage.save("uploads/stream.bin",
                            File(GeneratedStream(stream_mib * MiB), "s.bin"))
    else:
        name = "uploads/stream.bin"
        with storage.open(name, "wb") as handle:
            for _ in range(stream_mib):
                handle.write(block)
    result = {"rss_growth": growth()}
    assert storage.size(name) == stream_mib * MiB
    storage.delete(name)
    return result


def run(quick: bool = False, size_mib: int | None = None, repeats: int | None = None,
        **_: Any) -> list[Comparison]:
    setup_django()
    size = (size_mib or (8 if quick else 256)) * MiB
    repeats = repeats or (2 if quick else 5)
    streams = [("save", 32)] if quick else [("save", 256), ("save", 1024), ("write", 256)]
    with emulator_process() as env:
        results = throughput(env, size, repeats)
        for case, mib in streams:
            growth = in_child("bench_upload.py", "--memory-child", case, str(mib),
                              env={"BENCH_EMULATOR_ENV": json.dumps(env)})["rss_growth"]
            what = ("save(streamed file)" if case == "save" else 'open(name, "wb").write(1 MiB)')
            results.append(bound_check(
                "uploads", f"peak RSS growth, multipart {what}, {mib} MiB", [growth / MiB],
                MEMORY_BOUND / MiB, "4 x 8 MiB + 8 MiB"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size-mib", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        case, mib = args.memory_child
        print(json.dumps(memory_child(case, int(mib))))
        return
    from run import print_table

    print_table(run(args.quick, args.size_mib, args.repeats))


if __name__ == "__main__":
    main()
