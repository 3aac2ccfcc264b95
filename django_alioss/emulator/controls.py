"""Test controls shared by the emulated services: clock, fault injection, request log,
and the image styles saved in buckets (``x-oss-process=style/<name>``).

Everything here is thread-safe: the HTTP servers handle each request on its own thread.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

SERVICES = ("oss", "sts", "oidc", "ecs", "cdn")
STYLE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Clock:
    """The emulator's notion of "now": wall-clock time plus an adjustable offset.

    Advancing the clock expires STS credentials, OIDC tokens and presigned URLs
    without waiting, and makes header dates look skewed.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = float(seconds)


@dataclass
class Fault:
    """One fault-injection rule.

    A rule matches requests of ``service`` (``"oss"``, ``"sts"``, ``"oidc"``, ``"ecs"``) whose
    operation name equals ``operation`` (``"*"`` matches any). When it fires:

    - ``latency`` seconds are slept first (alone, that is a slow response);
    - ``unreachable``: the connection is reset before any response is sent;
    - ``status`` (with ``code``/``message``): an error in the service's own shape is
      returned instead of running the operation;
    - ``drop_response``: the operation runs (and takes effect), then the connection is
      reset before any byte of the answer: the client cannot tell whether it worked;
    - ``reset_after``: the operation runs, but the connection is reset after that
      many bytes of the response body.

    ``times`` bounds how often it fires (``None``: unbounded); ``probability`` makes
    it fire on only that share of matching requests.
    """

    service: str
    operation: str = "*"
    status: int | None = None
    code: str | None = None
    message: str | None = None
    latency: float = 0.0
    unreachable: bool = False
    reset_after: int | None = None
    drop_response: bool = False
    times: int | None = 1
    probability: float = 1.0
    fired: int = 0
    id: int = 0

    def matches(self, service: str, operation: str) -> bool:
        return self.service == service and self.operation in ("*", operation)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Faults:
    """The active fault rules; the first matching rule with firings left applies."""

    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self._random = random.Random(seed)

    def add(self, service: str, operation: str = "*", **options: Any) -> Fault:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}: expected one of {', '.join(SERVICES)}")
        unknown = set(options) - {
            "status", "code", "message", "latency", "unreachable", "reset_after", "drop_response",
            "times", "probability",
        }
        if unknown:
            raise ValueError(f"unknown fault options: {sorted(unknown)}")
        with self._lock:
            fault = Fault(service=service, operation=operation, id=self._next_id, **options)
            self._next_id += 1
            self._rules.append(fault)
        return fault

    def remove(self, fault_id: int) -> None:
        with self._lock:
            self._rules = [f for f in self._rules if f.id != fault_id]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    def take(self, service: str, operation: str) -> Fault | None:
        """Return the rule that fires for this request (consuming one firing), if any."""
        with self._lock:
            for fault in self._rules:
                if not fault.matches(service, operation):
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                if fault.probability < 1.0 and self._random.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
        return None


@dataclass(frozen=True)
class LoggedRequest:
    time: float
    service: str
    operation: str
    method: str
    path: str
    status: int
    access_key_id: str | None = None


class RequestLog:
    """Every request the emulator answered, newest last (bounded), with counters."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)
            self._counts[(entry.service, entry.operation)] += 1

    def entries(self, service: str | None = None,
                operation: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [
                e for e in self._entries
                if (service is None or e.service == service)
                and (operation is None or e.operation == operation)
            ]

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        """How many requests of that service/operation were answered (``None``: any)."""
        with self._lock:
            return sum(
                n for (s, o), n in self._counts.items()
                if (service is None or s == service) and (operation is None or o == operation)
            )

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {f"{s}:{o}": n for (s, o), n in sorted(self._counts.items())}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()


class ImageStyles:
    """Image processing styles saved per bucket, as OSS's PutStyle saves them:
    ``x-oss-process=style/<name>`` applies the style's ``image/...`` string.

    Like objects, styles are bucket state: :meth:`Controls.reset` keeps them.
    """

    def __init__(self) -> None:
        self._styles: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def put(self, bucket: str, name: str, process: str) -> None:
        """Save (or replace) style ``name`` of ``bucket``: ``process`` is ``image/...``."""
        if not STYLE_NAME.fullmatch(name):
            raise ValueError(f"invalid style name {name!r}: 1 to 64 letters, digits, '_', "
                             "'-' or '.'")
        if not process.startswith("image/") or process == "image/":
            raise ValueError(f"a style is an image/... processing string, got {process!r}")
        with self._lock:
            self._styles[(bucket, name)] = process

    def get(self, bucket: str, name: str) -> str | None:
        with self._lock:
            return self._styles.get((bucket, name))

    def delete(self, bucket: str, name: str) -> None:
        with self._lock:
            self._styles.pop((bucket, name), None)

    def names(self, bucket: str) -> list[str]:
        with self._lock:
            return sorted(name for owner, name in self._styles if owner == bucket)


@dataclass
class Controls:
    """The knobs a test turns: one set shared by all services of an emulator."""

    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    log: RequestLog = field(default_factory=RequestLog)
    styles: ImageStyles = field(default_factory=ImageStyles)

    def reset(self) -> None:
        """Clear faults and the log and put the clock back to real time (styles stay)."""
        self.faults.clear()
        self.log.clear()
        self.clock.set_offset(0)
