"""Upload/download throughput of OSSStorage against the emulator, and memory while streaming.

Run from the repository root: ``python benchmarks/bench_upload.py [--size-mib 64]
[--stream-mib 256] [--repeats 3]``. The emulator runs in its own process (``python -m
django_alioss.emulator``, objects in memory) so that its buffers never count against the
client. Prints:

1. MB/s for a ``--size-mib`` object saved through ``OSSStorage`` with the multipart
   threshold above the size (one PutObject, CRC-64 checked) and below it (8 MiB parts, 4
   in flight), read back through ``storage.open()`` (whole and in 1 MiB reads), against a
   raw ``requests.put``/``requests.get`` of the same bytes on a presigned URL (the
   floor: HTTP to the same emulator, no SDK). Best of ``--repeats``.
2. Peak memory while saving a ``--stream-mib`` streamed file (``storage.save`` of a
   generated stream, and ``storage.open(name, "wb")`` written 1 MiB at a time), each in a
   fresh child process: growth of peak RSS and the tracemalloc peak, against the bound
   chunksize x (concurrency + 1). Peak RSS is the kernel's high-water mark (VmHWM) reset
   just before the upload (``/proc/self/clear_refs``): ``getrusage``'s ``ru_maxrss``
   cannot be reset and a child started with exec inherits its parent's peak. Without
   /proc it falls back to ``ru_maxrss``.
Takes about 30-60 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.files.base import ContentFile, File  # noqa: E402

from django_alioss.storage import OSSStorage  # noqa: E402

MiB = 1024 * 1024
CHUNKSIZE = 8 * MiB
CONCURRENCY = 4


@contextmanager
def emulator_process() -> Iterator[dict[str, str]]:
    """Start ``python -m django_alioss.emulator`` on free ports; yield its environment."""
    process = subprocess.Popen(
        [sys.executable, "-m", "django_alioss.emulator", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        env: dict[str, str] = {}
        assert process.stdout is not None
        while "ALIBABA_CLOUD_ACCESS_KEY_SECRET" not in env:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the emulator exited before printing its endpoints")
            words = shlex.split(line)
            if words[:1] == ["export"]:
                name, _, value = words[1].partition("=")
                env[name] = value
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_storage(env: dict[str, str], **options: Any) -> OSSStorage:
    return OSSStorage(
        endpoint=env["ALIOSS_ENDPOINT"], bucket_name=env["ALIOSS_BUCKET_NAME"],
        region=env["ALIOSS_REGION"], access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], location="bench",
        multipart_chunksize=CHUNKSIZE, multipart_concurrency=CONCURRENCY, **options)


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


def best_of(repeats: int, run: Callable[[], Any]) -> float:
    """The shortest wall time of ``repeats`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def throughput(env: dict[str, str], size_mib: int, repeats: int) -> list[tuple[str, float]]:
    data = os.urandom(size_mib * MiB)
    single = make_storage(env, multipart_threshold=2 * size_mib * MiB)
    multi = make_storage(env, multipart_threshold=CHUNKSIZE)
    http = requests.Session()
    http.trust_env = False
    name = "throughput.bin"

    def raw_put() -> None:
        response = http.put(single.url(name, http_method="PUT"), data=data, timeout=120)
        response.raise_for_status()

    def raw_get() -> None:
        with http.get(single.url(name), timeout=120, stream=True) as response:
            assert len(response.raw.read()) == len(data)

    def whole_read() -> None:
        with single.open(name) as handle:
            assert len(handle.read()) == len(data)

    def chunked_read() -> None:
        total = 0
        with single.open(name) as handle:
            while chunk := handle.read(MiB):
                total += len(chunk)
        assert total == len(data)

    results = [
        ("raw requests.put (presigned URL)", best_of(repeats, raw_put)),
        ("OSSStorage.save, one PutObject", best_of(
            repeats, lambda: single.save(name, ContentFile(data)))),
        ("OSSStorage.save, multipart 8 MiB x4", best_of(
            repeats, lambda: multi.save(name, ContentFile(data)))),
        ("raw requests.get (presigned URL)", best_of(repeats, raw_get)),
        ("OSSStorage.open().read()", best_of(repeats, whole_read)),
        ("OSSStorage.open().read(1 MiB) loop", best_of(repeats, chunked_read)),
    ]
    assert single.open(name).read() == data  # the last save round-trips
    single.delete(name)
    return [(label, len(data) / seconds / 1e6) for label, seconds in results]


def _status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_rss() -> Callable[[], int]:
    """Start measuring peak RSS growth; the returned callable gives it in bytes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        baseline = _status_bytes("VmRSS")
        return lambda: _status_bytes("VmHWM") - baseline
    except OSError:
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline


def memory_case(case: str, stream_mib: int) -> dict[str, float]:
    """Run in a fresh child: peak RSS growth and tracemalloc peak while streaming."""
    env = json.loads(os.environ["BENCH_EMULATOR_ENV"])
    storage = make_storage(env, multipart_threshold=CHUNKSIZE)
    storage.save("warm-up.bin", ContentFile(b"x"))  # session, credentials, imports
    block = os.urandom(MiB)
    peak_growth = reset_peak_rss()
    tracemalloc.start()
    started = time.perf_counter()
    if case == "save":
        name = storage.save("stream.bin", File(GeneratedStream(stream_mib * MiB), "s.bin"))
    else:
        with storage.open("stream.bin", "wb") as handle:
            for _ in range(stream_mib):
                handle.write(block)
        name = "stream.bin"
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = peak_growth()
    assert storage.size(name) == stream_mib * MiB
    storage.delete(name)
    storage.delete("warm-up.bin")
    return {"rss_growth": rss_growth, "traced_peak": traced_peak,
            "mb_per_s": stream_mib * MiB / seconds / 1e6}


def memory(env: dict[str, str], stream_mib: int) -> dict[str, dict[str, float]]:
    results = {}
    for case in ("save", "write"):
        child = subprocess.run(
            [sys.executable, __file__, "--memory-case", case, "--stream-mib", str(stream_mib)],
            env={**os.environ, "BENCH_EMULATOR_ENV": json.dumps(env)}, cwd=ROOT,
            capture_output=True, text=True, timeout=600, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"memory case {case} failed:\n{child.stderr}")
        results[case] = json.loads(child.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--stream-mib", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-case", choices=("save", "write"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_case:
        print(json.dumps(memory_case(args.memory_case, args.stream_mib)))
        return

    with emulator_process() as env:
        rates = throughput(env, args.size_mib, args.repeats)
        footprint = memory(env, args.stream_mib)

    floors = {"put": rates[0][1], "get": rates[3][1]}
    print(f"\nThroughput, {args.size_mib} MiB object, best of {args.repeats} "
          "(emulator in its own process, loopback)")
    print(f"{'case':40} {'MB/s':>8} {'x raw':>7}")
    for label, rate in rates:
        floor = floors["put"] if ".save" in label or ".put" in label else floors["get"]
        print(f"{label:40} {rate:8.0f} {rate / floor:7.2f}")

    bound = CHUNKSIZE * (CONCURRENCY + 1)
    print(f"\nMemory while streaming {args.stream_mib} MiB (chunksize {CHUNKSIZE // MiB} MiB, "
          f"concurrency {CONCURRENCY}: bound {bound / MiB:.0f} MiB)")
    print(f"{'case':40} {'RSS growth':>11} {'x bound':>8} {'traced peak':>12} {'x bound':>8} "
          f"{'MB/s (traced)':>14}")
    for case, label in (("save", "storage.save(streamed content)"),
                        ("write", 'storage.open(name, "wb").write(1 MiB)')):
        result = footprint[case]
        print(f"{label:40} {result['rss_growth'] / MiB:7.1f} MiB "
              f"{result['rss_growth'] / bound:8.2f} {result['traced_peak'] / MiB:8.1f} MiB "
              f"{result['traced_peak'] / bound:8.2f} {result['mb_per_s']:14.0f}")


if __name__ == "__main__":
    main()
