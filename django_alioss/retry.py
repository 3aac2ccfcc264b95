"""One backoff formula for every retry loop of the library (OSS requests, credential refreshes)."""

from __future__ import annotations

import random


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): ``base`` doubling up to ``cap``,
    with equal jitter (between half the delay and the whole delay), so that clients that
    failed together do not retry together and no retry comes immediately."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)
