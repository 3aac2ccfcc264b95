"""The timing loop the benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_call_ns(func: Callable[[], object], repeats: int = 7, seconds: float = 0.2) -> float:
    """Minimum over ``repeats`` of the mean ns per call, iterations calibrated to ``seconds``."""
    iterations = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            func()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= seconds * 1e9 / 4:
            break
        iterations *= 2
    iterations = max(1, int(iterations * seconds * 1e9 / elapsed))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            func()
        best = min(best, (time.perf_counter_ns() - start) / iterations)
    return best
