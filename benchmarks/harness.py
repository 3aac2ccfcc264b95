"""What every benchmark shares: the emulator in its own process, interleaved timing of
ours against its floors, peak-memory probes, and the result records that ``run.py``
prints and writes as JSON.

A benchmark times ours and each floor in turn within one repetition (the order
alternating between repetitions), so that load from other processes hits both alike;
a comparison's ratio is the median over repetitions of the ratio within each one.
Nothing here asserts: the figures are printed and written, the targets judged.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """``ratio <op> value``: ``op`` is ``">="`` (ours must be at least that share of the
    floor, e.g. throughput) or ``"<="`` (at most that multiple, e.g. time)."""

    op: str
    value: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.op == ">=" else ratio <= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass
class Comparison:
    """One target: ours against a floor, in ``unit``; ``ratio`` is ours / floor."""

    benchmark: str
    name: str
    unit: str
    ours_min: float
    ours_median: float
    floor_label: str
    floor_min: float
    floor_median: float
    ratio: float
    target: Target
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool:
        return self.target.met(self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target": str(self.target), "met": self.met}


def interleaved(cases: dict[str, Callable[[], object]], repeats: int,
                calls: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each case, one sample per repetition; within a repetition
    every case runs ``calls`` times back to back, the cases' order alternating."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases)
    for repetition in range(repeats):
        for name in (order if repetition % 2 == 0 else reversed(order)):
            func = cases[name]
            started = time.perf_counter()
            for _ in range(calls):
                func()
            samples[name].append((time.perf_counter() - started) / calls)
    return samples


def calibrate(func: Callable[[], object], seconds: float) -> int:
    """How many calls of ``func`` take about ``seconds`` (at least 1)."""
    calls = 1
    while True:
        started = time.perf_counter()
        for _ in range(calls):
            func()
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4 or calls >= 1 << 20:
            return max(1, int(calls * seconds / max(elapsed, 1e-9)))
        calls *= 2


def compare(benchmark: str, name: str, samples: dict[str, list[float]], ours: str, floor: str,
            target: Target, *, unit: str = "µs", work: float = 1.0,
            extra: dict[str, Any] | None = None) -> Comparison:
    """A :class:`Comparison` from per-call seconds: ``unit`` ``"µs"`` reports time per
    call (ratio ours / floor time); ``"MB/s"`` reports ``work`` bytes over the time
    (ratio ours / floor throughput)."""
    if unit == "MB/s":
        values = {k: [work / s / 1e6 for s in v] for k, v in samples.items()}
        best = max
    else:
        values = {k: [s * 1e6 for s in v] for k, v in samples.items()}
        best = min
    ratios = [o / f for o, f in zip(values[ours], values[floor], strict=True)]
    return Comparison(
        benchmark=benchmark, name=name, unit=unit,
        ours_min=best(values[ours]), ours_median=statistics.median(values[ours]),
        floor_label=floor, floor_min=best(values[floor]),
        floor_median=statistics.median(values[floor]),
        ratio=statistics.median(ratios), target=target, extra=extra or {})


def goal_check(benchmark: str, name: str, seconds: Sequence[float], work: float,
               goal_mb_s: float, target: Target) -> Comparison:
    """Throughput (``work`` bytes in each of ``seconds``) against a fixed goal in MB/s:
    the ratio is the median throughput over the goal."""
    rates = [work / s / 1e6 for s in seconds]
    median = statistics.median(rates)
    return Comparison(
        benchmark=benchmark, name=name, unit="MB/s", ours_min=max(rates), ours_median=median,
        floor_label=f"{goal_mb_s / 1000:g} GB/s goal", floor_min=goal_mb_s,
        floor_median=goal_mb_s, ratio=median / goal_mb_s, target=target)


def bound_check(benchmark: str, name: str, measured: Sequence[float], bound: float,
                bound_label: str, unit: str = "MiB", **extra: Any) -> Comparison:
    """A measurement against a fixed bound (e.g. memory): ratio measured / bound <= 1."""
    return Comparison(
        benchmark=benchmark, name=name, unit=unit, ours_min=min(measured),
        ours_median=statistics.median(measured), floor_label=bound_label, floor_min=bound,
        floor_median=bound, ratio=statistics.median(measured) / bound,
        target=Target("<=", 1.0), extra=dict(extra))


# --- the emulator in its own process ------------------------------------------------------
@contextmanager
def emulator_process(*extra_args: str) -> Iterator[dict[str, str]]:
    """``python -m django_alioss.emulator`` on free ports, objects in memory; yields the
    environment it prints (endpoint, bucket, keys). Its own process: its threads never
    compete with the client's for the GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "django_alioss.emulator", "--port", "0", *extra_args],
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
                key, _, value = words[1].partition("=")
                env[key] = value
        env["EMULATOR_PID"] = str(process.pid)
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def storage_for(env: dict[str, str], **options: Any) -> Any:
    """An ``OSSStorage`` on the emulator process's bucket (static keys, V4)."""
    from django_alioss.storage import OSSStorage

    return OSSStorage(
        endpoint=env["ALIOSS_ENDPOINT"], bucket_name=env["ALIOSS_BUCKET_NAME"],
        region=env["ALIOSS_REGION"], access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        access_key_secret=env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], location="bench", **options)


def raw_session() -> Any:
    """The floors' HTTP client: a plain ``requests`` session that does not read the
    environment per request."""
    import requests

    session = requests.Session()
    session.trust_env = False
    return session


# --- memory ---------------------------------------------------------------------------------
def _status_bytes(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(name)


def peak_rss_growth() -> Callable[[], int]:
    """Start measuring this process's peak RSS growth; the callable returns it in bytes.

    The kernel's high-water mark (VmHWM) is reset first (``/proc/self/clear_refs``):
    ``getrusage``'s ``ru_maxrss`` cannot be reset, and a child started with exec inherits
    its parent's. Without /proc, ``ru_maxrss`` (an upper bound).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        baseline = _status_bytes("VmRSS")
        return lambda: _status_bytes("VmHWM") - baseline
    except OSError:
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline


def in_child(script: str, *args: str, env: dict[str, str] | None = None,
             timeout: float = 900) -> Any:
    """Run ``benchmarks/<script> *args`` in a fresh interpreter; its last stdout line is
    JSON, returned parsed."""
    child = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        env={**os.environ, **(env or {})}, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{child.stderr[-4000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def setup_django() -> None:
    """Django settings for the benchmarks (the test settings), once per process."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
