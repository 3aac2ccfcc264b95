"""``collectstatic`` of Django admin's static files into OSS: request counts and wall time.

Run from the repository root: ``.venv/bin/python benchmarks/bench_collectstatic.py
[--latency 0.03] [--repeats 3] [--storage manifest|static] [--quick]``; ``run()`` returns
the three targets as :class:`harness.Comparison` records for ``run.py``.

The emulator runs in its own process (``harness.emulator_process("--admin")``, objects in
memory), so its threads never compete with the client for the GIL; request counts come
from its request log (``GET /_emulator/log``) and the per-PUT latency from its fault
injection (``POST /_emulator/faults``). Django admin's static files (127 on Django 5.2)
are copied into a temporary ``STATICFILES_DIRS`` directory (so one of them can be
edited), and the target is ``OSSManifestStaticStorage`` (``--storage static``:
``OSSStaticStorage``).

Two commands are compared, each on a fresh ``location``:

- ``django``: Django's own ``collectstatic`` (what runs when ``django_alioss`` is listed
  after ``django.contrib.staticfiles``): a HEAD/GetObjectMeta per file, delete and re-PUT
  of every hashed copy, one PUT at a time.
- ``alioss``: django-alioss's ``collectstatic`` (``django_alioss`` listed first), with its
  default ``collectstatic_concurrency`` and with 1 worker (sequential uploads).

Scenarios, each timed with the shared loop of ``timing.py`` (best of ``--repeats`` after
one warm-up run, or of 1 for the slow sequential first runs; every first run gets a
location of its own):

1. first run, ``--latency`` seconds injected per PutObject;
2. rerun with nothing changed (loopback, no latency);
3. rerun after one source file changed (``admin/css/dashboard.css``, new content each run).

Prints requests by operation and wall time per scenario, then the three targets. About a
minute; ``--quick`` skips Django's first run with latency (about 16 s a run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Comparison, Target, emulator_process, setup_django

CHANGED_FILE = "admin/css/dashboard.css"
WRITES = ("PutObject", "DeleteObject", "InitiateMultipartUpload", "UploadPart",
          "CompleteMultipartUpload", "CopyObject", "DeleteMultipleObjects")
BACKENDS = {"manifest": "django_alioss.storage.OSSManifestStaticStorage",
            "static": "django_alioss.storage.OSSStaticStorage"}
OURS, SEQUENTIAL, DJANGO = ("alioss collectstatic", "alioss collectstatic, 1 worker",
                            "django collectstatic")
Row = tuple[str, str, dict[str, int], float]


class Control:
    """The emulator's HTTP control endpoint: request counters and fault rules."""

    def __init__(self, endpoint: str) -> None:
        self.base = endpoint.rstrip("/") + "/_emulator/"
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        with self.opener.open(request, timeout=30) as answer:
            return json.loads(answer.read())

    def counters(self) -> dict[str, int]:
        counts = self._call("GET", "log")["counters"]
        return {k.removeprefix("oss:"): n for k, n in counts.items() if k.startswith("oss:")}

    @contextlib.contextmanager
    def latency(self, seconds: float) -> Iterator[None]:
        if seconds <= 0:
            yield
            return
        rule = self._call("POST", "faults", {"service": "oss", "operation": "PutObject",
                                             "latency": seconds, "times": None})
        try:
            yield
        finally:
            self._call("DELETE", f"faults/{rule['id']}")


class Bench:
    """Runs the scenarios and keeps one row per (command, scenario)."""

    def __init__(self, env: dict[str, str], static_dir: Path, backend: str, repeats: int,
                 latency: float) -> None:
        self.env = env
        self.control = Control(env["ALIOSS_ENDPOINT"])
        self.static_dir = static_dir
        self.backend = backend
        self.repeats = repeats
        self.latency = latency
        self.rows: list[Row] = []

    def collect(self, command: str, location: str, **options: Any) -> None:
        """One ``collectstatic --noinput`` into ``location`` with a storage of its own."""
        from django.contrib.staticfiles.management.commands import collectstatic as stock
        from django.core.management import call_command
        from django.utils.module_loading import import_string

        from django_alioss.management.commands import collectstatic as ours

        storage = import_string(self.backend)(
            endpoint=self.env["ALIOSS_ENDPOINT"], bucket_name=self.env["ALIOSS_BUCKET_NAME"],
            region=self.env["ALIOSS_REGION"],
            access_key_id=self.env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
            access_key_secret=self.env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
            location=location, **options)
        cmd: Any = stock.Command() if command == "django" else ours.Command()
        cmd.storage = storage
        call_command(cmd, interactive=False, verbosity=0, stdout=io.StringIO())

    def measure(self, label: str, scenario: str, run: Callable[[], None],
                repeats: int | None = None) -> float:
        """Best wall time of ``run`` (shared timing loop); requests counted per call."""
        from timing import per_call_ns

        per_call: list[dict[str, int]] = []

        def counted() -> None:
            before = self.control.counters()
            run()
            after = self.control.counters()
            per_call.append({op: after[op] - before.get(op, 0) for op in after
                             if after[op] != before.get(op, 0)})

        seconds = per_call_ns(counted, repeats=repeats or self.repeats, seconds=0) / 1e9
        counts = per_call[-1]
        if any(calls != counts for calls in per_call):
            print(f"  (request counts differ between runs: {per_call})")
        self.rows.append((label, scenario, counts, seconds))
        print(f"  {label:34} {scenario:28} {sum(counts.values()):6d} requests {seconds:7.2f} s",
              flush=True)
        return seconds

    def first_run(self, label: str, command: str, repeats: int | None = None,
                  **options: Any) -> float:
        def run() -> None:
            with self.control.latency(self.latency):
                self.collect(command, f"bench/{uuid.uuid4().hex[:8]}", **options)

        return self.measure(label, f"first run, {self.latency * 1000:g} ms/PUT", run, repeats)

    def reruns(self, label: str, command: str) -> None:
        location = f"bench/{uuid.uuid4().hex[:8]}"
        self.collect(command, location)
        self.measure(label, "rerun, nothing changed", lambda: self.collect(command, location))
        edited = self.static_dir / CHANGED_FILE
        original = edited.read_text()

        def change_and_run() -> None:
            edited.write_text(original + f"\n/* {uuid.uuid4().hex} */\n")
            self.collect(command, location)

        try:
            self.measure(label, "rerun, one file changed", change_and_run)
        finally:
            edited.write_text(original)

    def all(self, quick: bool) -> None:
        self.reruns(DJANGO, "django")
        self.reruns(OURS, "alioss")
        self.first_run(SEQUENTIAL, "alioss", repeats=1, collectstatic_concurrency=1)
        self.first_run(OURS, "alioss")
        if not quick:
            self.first_run(DJANGO, "django", repeats=1)


@contextlib.contextmanager
def bench(storage: str, repeats: int, latency: float) -> Iterator[Bench]:
    """A :class:`Bench` on a fresh emulator process and a copy of admin's static files."""
    setup_django()
    import django
    from django.test import override_settings

    admin_static = Path(django.__file__).parent / "contrib" / "admin" / "static"
    with emulator_process("--admin") as env, tempfile.TemporaryDirectory() as tmp:
        static_dir = Path(tmp) / "static"
        shutil.copytree(admin_static, static_dir)
        with override_settings(STATICFILES_DIRS=[str(static_dir)]):
            yield Bench(env, static_dir, BACKENDS[storage], repeats, latency)


def by_scenario(rows: list[Row]) -> dict[tuple[str, str], tuple[dict[str, int], float]]:
    """(command label, "first run" / "rerun, nothing changed" / ...) -> (counts, seconds)."""
    return {(label, "first run" if scenario.startswith("first") else scenario):
            (counts, seconds) for label, scenario, counts, seconds in rows}


def writes_of(counts: dict[str, int]) -> int:
    return sum(n for op, n in counts.items() if op in WRITES)


def comparisons(rows: list[Row]) -> list[Comparison]:
    """The three targets as records for ``run.py`` (ratio = ours / floor or bound)."""
    found = by_scenario(rows)
    counts, seconds = found[(OURS, "rerun, nothing changed")]
    first, sequential = found[(OURS, "first run")][1], found[(SEQUENTIAL, "first run")][1]
    changed = writes_of(found[(OURS, "rerun, one file changed")][0])

    def record(name: str, unit: str, ours: float, floor_label: str, floor: float,
               target: Target) -> Comparison:
        return Comparison("collectstatic", name, unit, ours, ours, floor_label, floor, floor,
                          ours / floor, target)

    return [
        record("rerun, nothing changed: requests", "requests", sum(counts.values()),
               "bound", 10, Target("<=", 1.0)),
        record("rerun, nothing changed: writes + 1", "requests", writes_of(counts) + 1,
               "bound (no write)", 1, Target("<=", 1.0)),
        record("rerun, nothing changed: time", "s", seconds, "bound", 1.0, Target("<=", 1.0)),
        record("first run, 30 ms/PUT", "s", first, "1 worker", sequential,
               Target("<=", 1 / 3)),
        record("one file changed: writes", "requests", changed,
               "the file, its hashed copy, the manifest", 3, Target("<=", 1.0)),
    ]


def print_table(rows: list[Row]) -> None:
    print(f"\n{'command':34} {'scenario':28} {'requests':>8} {'writes':>6} {'seconds':>8}  by "
          "operation")
    for label, scenario, counts, seconds in rows:
        detail = ", ".join(f"{op} {n}" for op, n in sorted(counts.items(), key=lambda x: -x[1]))
        print(f"{label:34} {scenario:28} {sum(counts.values()):8d} {writes_of(counts):6d} "
              f"{seconds:8.2f}  {detail}")


def print_targets(rows: list[Row]) -> None:
    found = by_scenario(rows)
    counts, seconds = found[(OURS, "rerun, nothing changed")]
    print(f"\n1. rerun, nothing changed: {sum(counts.values())} requests (<= 10), "
          f"{writes_of(counts)} writes (0), {seconds:.2f} s (< 1 s)")
    first = found[(OURS, "first run")][1]
    print(f"2. first run: {found[(SEQUENTIAL, 'first run')][1] / first:.1f}x faster than "
          "sequential uploads (>= 3x)", end="")
    if (DJANGO, "first run") in found:
        print(f", {found[(DJANGO, 'first run')][1] / first:.1f}x faster than Django's "
              "collectstatic", end="")
    counts = found[(OURS, "rerun, one file changed")][0]
    print(f"\n3. one file changed: {writes_of(counts)} writes: PutObject "
          f"{counts.get('PutObject', 0)} (the file, its hashed copy, the manifest)")


def run(quick: bool = False, repeats: int | None = None, **_: Any) -> list[Comparison]:
    """For ``run.py``: the targets (``quick``: 1 repeat, without Django's first run)."""
    with bench("manifest", repeats or (1 if quick else 3), 0.03) as running:
        running.all(quick=True)
        return comparisons(running.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--storage", choices=tuple(BACKENDS), default="manifest")
    parser.add_argument("--quick", action="store_true",
                        help="skip Django's first run with latency")
    args = parser.parse_args()
    with bench(args.storage, args.repeats, args.latency) as running:
        files = sum(1 for p in running.static_dir.rglob("*") if p.is_file())
        print(f"collectstatic of {files} files into {running.backend.rsplit('.', 1)[1]} "
              f"(emulator in its own process, loopback)")
        running.all(args.quick)
        print_table(running.rows)
        print_targets(running.rows)


if __name__ == "__main__":
    main()
