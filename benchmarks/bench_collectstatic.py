"""``collectstatic`` of Django admin's static files into OSS: request counts and wall time.

Run from the repository root: ``.venv/bin/python benchmarks/bench_collectstatic.py
[--latency 0.03] [--repeats 3] [--storage manifest|static] [--quick]``.

The emulator runs in its own process (``python -m django_alioss.emulator --admin``, objects
in memory), so its threads never compete with the client for the GIL; request counts come
from its request log (``GET /_emulator/log``) and the per-PUT latency from its fault
injection (``POST /_emulator/faults``). Django admin's 127 static files are copied into a
temporary ``STATICFILES_DIRS`` directory (so one of them can be edited), and the target is
``OSSManifestStaticStorage`` (``--storage static``: ``OSSStaticStorage``).

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
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

ADMIN_STATIC = Path(django.__file__).parent / "contrib" / "admin" / "static"
CHANGED_FILE = "admin/css/dashboard.css"
WRITES = ("PutObject", "DeleteObject", "InitiateMultipartUpload", "UploadPart",
          "CompleteMultipartUpload", "CopyObject", "DeleteMultipleObjects")


@contextlib.contextmanager
def emulator_process() -> Iterator[dict[str, str]]:
    """``python -m django_alioss.emulator --admin`` on free ports; yields its environment."""
    process = subprocess.Popen(
        [sys.executable, "-m", "django_alioss.emulator", "--port", "0", "--admin"],
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


def configure(env: dict[str, str], static_dir: Path, backend: str) -> None:
    settings.configure(
        DEBUG=False, SECRET_KEY="bench", USE_TZ=True,
        INSTALLED_APPS=["django_alioss", "django.contrib.staticfiles"],
        STATIC_URL="/static/", STATICFILES_DIRS=[str(static_dir)],
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": backend, "OPTIONS": {
                "endpoint": env["ALIOSS_ENDPOINT"], "bucket_name": env["ALIOSS_BUCKET_NAME"],
                "region": env["ALIOSS_REGION"],
                "access_key_id": env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                "access_key_secret": env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]}},
        },
        LOGGING_CONFIG=None,
    )
    django.setup()


def collect(command: str, location: str, **options: Any) -> None:
    """One ``collectstatic --noinput`` into ``location`` with a storage of its own."""
    from django.conf import settings as live
    from django.contrib.staticfiles.management.commands import collectstatic as stock
    from django.core.management import call_command
    from django.utils.module_loading import import_string

    config = live.STORAGES["staticfiles"]
    storage = import_string(config["BACKEND"])(**config["OPTIONS"], location=location, **options)
    if command == "django":
        cmd: Any = stock.Command()
    else:
        from django_alioss.management.commands import collectstatic as ours
        cmd = ours.Command()
    cmd.storage = storage
    call_command(cmd, interactive=False, verbosity=0, stdout=io.StringIO())


class Bench:
    """Runs the scenarios and keeps one row per (command, scenario)."""

    def __init__(self, control: Control, static_dir: Path, repeats: int, latency: float) -> None:
        self.control = control
        self.static_dir = static_dir
        self.repeats = repeats
        self.latency = latency
        self.rows: list[tuple[str, str, dict[str, int], float]] = []

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
                collect(command, f"bench/{uuid.uuid4().hex[:8]}", **options)

        return self.measure(label, f"first run, {self.latency * 1000:g} ms/PUT", run, repeats)

    def reruns(self, label: str, command: str) -> None:
        location = f"bench/{uuid.uuid4().hex[:8]}"
        collect(command, location)
        self.measure(label, "rerun, nothing changed", lambda: collect(command, location))
        edited = self.static_dir / CHANGED_FILE
        original = edited.read_text()

        def change_and_run() -> None:
            edited.write_text(original + f"\n/* {uuid.uuid4().hex} */\n")
            collect(command, location)

        try:
            self.measure(label, "rerun, one file changed", change_and_run)
        finally:
            edited.write_text(original)


def print_table(rows: list[tuple[str, str, dict[str, int], float]]) -> None:
    print(f"\n{'command':34} {'scenario':28} {'requests':>8} {'writes':>6} {'seconds':>8}  by "
          "operation")
    for label, scenario, counts, seconds in rows:
        writes = sum(n for op, n in counts.items() if op in WRITES)
        detail = ", ".join(f"{op} {n}" for op, n in sorted(counts.items(), key=lambda x: -x[1]))
        print(f"{label:34} {scenario:28} {sum(counts.values()):8d} {writes:6d} {seconds:8.2f}  "
              f"{detail}")


def print_targets(rows: list[tuple[str, str, dict[str, int], float]]) -> None:
    found = {(label, scenario.split(",")[0] + ("" if "first" in scenario else
                                                 scenario.split(",")[1])): (counts, seconds)
             for label, scenario, counts, seconds in rows}
    ours, sequential = "alioss collectstatic", "alioss collectstatic, 1 worker"
    counts, seconds = found[(ours, "rerun nothing changed")]
    writes = sum(n for op, n in counts.items() if op in WRITES)
    print(f"\n1. rerun, nothing changed: {sum(counts.values())} requests (<= 10), {writes} "
          f"writes (0), {seconds:.2f} s (< 1 s)")
    first = found[(ours, "first run")][1]
    print(f"2. first run: {found[(sequential, 'first run')][1] / first:.1f}x faster than "
          "sequential uploads (>= 3x)", end="")
    if ("django collectstatic", "first run") in found:
        print(f", {found[('django collectstatic', 'first run')][1] / first:.1f}x faster than "
              "Django's collectstatic", end="")
    counts, _ = found[(ours, "rerun one file changed")]
    print(f"\n3. one file changed: PutObject {counts.get('PutObject', 0)} (the file, its hashed "
          "copy, the manifest), other writes "
          f"{sum(n for op, n in counts.items() if op in WRITES and op != 'PutObject')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--storage", choices=("manifest", "static"), default="manifest")
    parser.add_argument("--quick", action="store_true",
                        help="skip Django's first run with latency")
    args = parser.parse_args()
    backend = {"manifest": "django_alioss.storage.OSSManifestStaticStorage",
               "static": "django_alioss.storage.OSSStaticStorage"}[args.storage]

    with emulator_process() as env, tempfile.TemporaryDirectory() as tmp:
        static_dir = Path(tmp) / "static"
        shutil.copytree(ADMIN_STATIC, static_dir)
        configure(env, static_dir, backend)
        bench = Bench(Control(env["ALIOSS_ENDPOINT"]), static_dir, args.repeats, args.latency)
        files = sum(1 for p in static_dir.rglob("*") if p.is_file())
        print(f"collectstatic of {files} files into {backend.rsplit('.', 1)[1]} "
              f"(emulator in its own process, loopback)")
        bench.reruns("django collectstatic", "django")
        bench.reruns("alioss collectstatic", "alioss")
        bench.first_run("alioss collectstatic, 1 worker", "alioss", repeats=1,
                        collectstatic_concurrency=1)
        bench.first_run("alioss collectstatic", "alioss")
        if not args.quick:
            bench.first_run("django collectstatic", "django", repeats=1)
        print_table(bench.rows)
        print_targets(bench.rows)


if __name__ == "__main__":
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    main()
