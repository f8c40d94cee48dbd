"""Smoke test of benchmarks/sampler.py on a reduced workload: it runs and both loops agree (no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sampler.py"


def test_benchmark_reports_json_and_the_loops_agree():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", "--repeats", "1", "--latent", "16", "--steps", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "reference_s",
        "ours_s",
        "speedup",
        "max_abs_diff",
        "nfe_reference",
        "nfe_ours",
        "stages",
        "peak_mem_mb",
    ):
        assert key in report
    assert report["max_abs_diff"] < 1e-4
    assert report["nfe_reference"] == report["nfe_ours"] == 3
    assert (report["rows_reference"], report["rows_ours"]) == (3, 2)
