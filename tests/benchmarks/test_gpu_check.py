"""benchmarks/gpu_check.py without a GPU: it says so in its JSON summary and exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_without_cuda_it_reports_no_gpu_and_exits_zero(tmp_path):
    out = tmp_path / "summary.json"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # the no-GPU path, even on a machine with one
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # stdout holds the summary only
    summary = json.loads(lines[0])
    assert summary["cuda"] is False and "no CUDA device" in summary["message"]
    assert json.loads(out.read_text()) == summary
