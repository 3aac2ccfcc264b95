"""Target 7: 32 threads across a refresh-ahead of RRSA credentials: exactly one STS call,
and the threads that do not refresh are not slowed down.

RRSA against the emulator (its own process, with ``--admin``): the provider is built
with a clock of our own, ``time.time()`` plus an offset, and handed to an ``OSSStorage``
as its ``credentials_provider``. Each repetition runs two rounds, in alternating order,
of 32 threads released together, each timing ``--calls`` calls of ``storage.url()``
(V4, signed with the STS credentials):

- steady: the credentials are fresh;
- refresh: just before it, the offset of our clock and of the emulator's clock (through
  its control endpoint) moves 2,800 s on, into the refresh-ahead window of the current
  credentials (900 s before their expiry; they stay valid for another 890 s), and the
  projected OIDC token is rewritten as the kubelet would. The first call of the round
  refreshes (one AssumeRoleWithOIDC, counted in the emulator's request log); the other
  threads go on signing with the credentials still valid.

The refreshing call (the thread that logged ``credentials refreshed``) is left out and
shown apart. Targets: exactly 1 STS call per refresh; p99 latency of the other calls
<= 1.2x the steady round's p99.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Comparison, Target, emulator_process, raw_session, setup_django

THREADS = 32
SHIFT = 2800.0  # a fetch at t: refresh-ahead from t + 2,700 s, usable until t + 3,590 s
OIDC_CALLS = "sts:AssumeRoleWithOIDC"


class ShiftedClock:
    """``time.time()`` plus an offset that the benchmark moves."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class RefreshMarker(logging.Handler):
    """Marks the thread that refreshed (the provider logs ``credentials refreshed`` on it)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("credentials refreshed"):
            self.local.refreshed = True

    def take(self) -> bool:
        """Whether this thread refreshed since the last call (and forget it)."""
        refreshed = getattr(self.local, "refreshed", False)
        self.local.refreshed = False
        return refreshed


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


Call = tuple[int, float, bool]  # started (perf_counter_ns), latency (µs), refreshed


def timed_round(call: Callable[[], object], calls: int, marker: RefreshMarker) -> list[Call]:
    """:data:`THREADS` threads released together, each timing ``calls`` calls."""
    barrier = threading.Barrier(THREADS)
    timed: list[list[Call]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            mine = timed[index]
            for _ in range(calls):
                started = time.perf_counter_ns()
                call()
                elapsed = (time.perf_counter_ns() - started) / 1000
                mine.append((started, elapsed, marker.take()))
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [one for mine in timed for one in mine]


def during_refresh(round_calls: list[Call]) -> tuple[list[float], list[float]]:
    """The latencies of the calls that refreshed, and of the other threads' calls that
    started while a refresh was in progress."""
    refreshing = [(started, latency) for started, latency, refreshed in round_calls
                  if refreshed]
    windows = [(started, started + latency * 1000) for started, latency in refreshing]
    during = [latency for started, latency, refreshed in round_calls if not refreshed
              and any(low <= started <= high for low, high in windows)]
    return [latency for _, latency in refreshing], during


class Emulated:
    """The emulator process's controls: clock offset, token file, STS call count."""

    def __init__(self, admin_url: str) -> None:
        self.admin = admin_url
        self.http = raw_session()

    def sts_calls(self) -> int:
        counters = self.http.get(self.admin + "log", timeout=10).json()["counters"]
        return int(counters.get(OIDC_CALLS, 0))

    def shift(self, offset: float) -> None:
        """The emulator's clock to ``offset``, then a fresh projected token."""
        self.http.post(self.admin + "clock", json={"offset": offset},
                       timeout=10).raise_for_status()
        self.http.post(self.admin + "token", timeout=10).raise_for_status()


def rrsa_storage(env: dict[str, str], clock: ShiftedClock) -> Any:
    """An ``OSSStorage`` signing with RRSA credentials from the emulator's STS."""
    from django_alioss.credentials import build_provider
    from django_alioss.storage import OSSStorage

    provider = build_provider({
        "access_key_id": None, "access_key_secret": None,
        "role_arn": env["ALIBABA_CLOUD_ROLE_ARN"],
        "oidc_provider_arn": env["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"],
        "oidc_token_file": env["ALIBABA_CLOUD_OIDC_TOKEN_FILE"],
        "sts_endpoint": env["ALIOSS_STS_ENDPOINT"], "role_session_name": "bench",
        "environ": {}}, clock=clock, shared=False)
    return OSSStorage(endpoint=env["ALIOSS_ENDPOINT"], bucket_name=env["ALIOSS_BUCKET_NAME"],
                      region=env["ALIOSS_REGION"], credentials_provider=provider,
                      location="bench")


def pin_apart(emulator_pid: int) -> bool:
    """On a machine with two cores or more, this process on one and the emulator on
    another: STS's work during the refresh does not take the CPU the threads measured run
    on (with the GIL they use one core at a time). ``False`` where that cannot be done."""
    cores = sorted(getattr(os, "sched_getaffinity", lambda _: set())(0))
    if len(cores) < 2:
        return False
    os.sched_setaffinity(emulator_pid, {cores[-1]})
    os.sched_setaffinity(0, set(cores[:-1]))
    return True


def measure(env: dict[str, str], repeats: int, calls: int) -> dict[str, list[float]]:
    """Per repetition: the p99 of a steady round and of the calls made during the
    refresh (µs), the calls made during it and the STS calls it made; and the latencies
    of the refreshing calls."""
    clock = ShiftedClock()
    storage = rrsa_storage(env, clock)
    emulated = Emulated(env["ALIOSS_ENDPOINT"] + "/_emulator/")  # served with --admin
    marker = RefreshMarker()
    logger = logging.getLogger("django_alioss")
    level = logger.level
    logger.addHandler(marker)
    logger.setLevel(logging.DEBUG)

    def sign() -> None:
        storage.url("credentials/object.bin")

    found: dict[str, list[float]] = {"steady": [], "during": [], "refreshing": [],
                                     "sts_calls": [], "calls_during": []}
    try:
        timed_round(sign, calls, marker)  # warm: first STS call, imports, caches
        for repetition in range(repeats):
            for phase in (("steady", "refresh") if repetition % 2 == 0
                          else ("refresh", "steady")):
                if phase == "steady":
                    found["steady"].append(p99([lat for _, lat, _ in
                                                timed_round(sign, calls, marker)]))
                    continue
                before = emulated.sts_calls()
                clock.offset += SHIFT
                emulated.shift(clock.offset)
                refreshing, during = during_refresh(timed_round(sign, calls, marker))
                found["sts_calls"].append(emulated.sts_calls() - before)
                found["refreshing"] += refreshing
                found["during"].append(p99(during) if len(during) > 1 else math.nan)
                found["calls_during"].append(len(during))
    finally:
        logger.removeHandler(marker)
        logger.setLevel(level)
    return found


def run(quick: bool = False, repeats: int | None = None, calls: int | None = None,
        **_: Any) -> list[Comparison]:
    setup_django()
    repeats = repeats or (2 if quick else 31)
    calls = calls or (20 if quick else 300)
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        with emulator_process("--admin") as env:
            pinned = pin_apart(int(env["EMULATOR_PID"]))
            found = measure(env, repeats, calls)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    ratios = [d / s for d, s in zip(found["during"], found["steady"], strict=True)
              if not math.isnan(d)]
    if min(found["sts_calls"]) < 1 or not ratios:
        raise RuntimeError(f"the refresh-ahead did not happen: {found['sts_calls']} STS calls")
    sts_calls = found["sts_calls"]
    during = [d for d in found["during"] if not math.isnan(d)]
    return [
        Comparison(
            benchmark="credentials", name=f"STS calls per refresh-ahead, {THREADS} threads",
            unit="calls", ours_min=min(sts_calls), ours_median=statistics.median(sts_calls),
            floor_label="exactly 1", floor_min=1, floor_median=1, ratio=max(sts_calls),
            target=Target("<=", 1.0), extra={"per_refresh": sts_calls}),
        Comparison(
            benchmark="credentials",
            name=f"p99 url() of the other threads during a refresh-ahead, {THREADS} threads",
            unit="µs", ours_min=min(during), ours_median=statistics.median(during),
            floor_label="p99 url(), steady state", floor_min=min(found["steady"]),
            floor_median=statistics.median(found["steady"]),
            ratio=statistics.median(ratios), target=Target("<=", 1.2),
            extra={"calls_per_thread": calls, "pinned_apart": pinned,
                   "calls_during_each_refresh": found["calls_during"],
                   "refreshing_call_us_median": statistics.median(found["refreshing"]),
                   "refreshing_calls": len(found["refreshing"])}),
    ]


if __name__ == "__main__":
    from run import print_table

    print_table(run(quick="--quick" in sys.argv))
