"""The benchmark harness cannot rot: ``benchmarks/run.py --quick`` runs every benchmark on
tiny sizes (a few seconds) and writes its JSON. Behaviour only: targets are not judged
here (figures on a loaded CI machine mean nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_of_every_benchmark_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only",
         "reads,small_ops,uploads,crc,url,emulator,credentials", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True
    benchmarks = {r["benchmark"] for r in report["results"]}
    assert benchmarks == {"reads", "small_ops", "uploads", "crc", "url", "emulator",
                          "credentials"}
    for row in report["results"]:
        assert row["ours_min"] > 0 and row["floor_min"] > 0 and row["ratio"] > 0, row
        assert row["target"].split()[0] in {">=", "<="} and isinstance(row["met"], bool)
    assert "| benchmark | case |" in result.stdout  # the Markdown table
