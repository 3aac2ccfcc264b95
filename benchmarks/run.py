"""Run the performance benchmarks of issue 9 and judge each target.

From the repository root::

    .venv/bin/python benchmarks/run.py            # everything, about two minutes
    .venv/bin/python benchmarks/run.py --quick    # tiny sizes, seconds (what the tests run)
    .venv/bin/python benchmarks/run.py --only reads,small_ops --json out.json

Each benchmark runs ours and its floors interleaved in this process (the emulator in a
process of its own), prints the min and the median over repetitions of each side and
the ratio ours / floor (median of the per-repetition ratios) with its target, and all
results are written as JSON (``--json``, default ``benchmarks/results/latest.json``).
The exit status is 0 even when a target is missed: the table says which.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, Comparison

#: Benchmark name -> module (each has ``run(quick=False, **options) -> list[Comparison]``).
BENCHMARKS = {
    "reads": "bench_reads",
    "small_ops": "bench_small_ops",
    "uploads": "bench_upload",
    "crc": "bench_crc",
    "url": "bench_storage_url",
    "emulator": "bench_emulator",
    "credentials": "bench_credentials",
}
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


def _figure(value: float, unit: str) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def print_table(results: Sequence[Comparison], out: Any = None) -> None:
    """The results as a Markdown table (the README's performance section shows one)."""
    out = out or sys.stdout
    print("| benchmark | case | unit | ours min / median | floor | floor min / median "
          "| ratio | target | met |", file=out)
    print("|---|---|---|---|---|---|---|---|---|", file=out)
    for r in results:
        print(f"| {r.benchmark} | {r.name} | {r.unit} "
              f"| {_figure(r.ours_min, r.unit)} / {_figure(r.ours_median, r.unit)} "
              f"| {r.floor_label} "
              f"| {_figure(r.floor_min, r.unit)} / {_figure(r.floor_median, r.unit)} "
              f"| {r.ratio:.3g} | {r.target} | {'yes' if r.met else '**no**'} |", file=out)


def run(names: Sequence[str], quick: bool) -> list[Comparison]:
    results: list[Comparison] = []
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        started = time.perf_counter()
        found = module.run(quick=quick)
        print(f"# {name}: {len(found)} results in {time.perf_counter() - started:.1f} s",
              file=sys.stderr, flush=True)
        results.extend(found)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and repeats")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")
    command = "benchmarks/run.py" + (" --quick" if args.quick else "") + (
        f" --only {args.only}" if args.only != ",".join(BENCHMARKS) else "")
    results = run(names, args.quick)
    print(f"\n`{command}` on {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.machine()}:\n")
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "command": command, "quick": args.quick, "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": [r.as_dict() for r in results]}, indent=2) + "\n")
    missed = [r for r in results if not r.met]
    print(f"\n{len(results) - len(missed)} of {len(results)} targets met; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
