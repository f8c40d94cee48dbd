"""Smoke test of benchmarks/sampler.py on a reduced workload: it runs and both loops agree (no timing)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sampler.py"
SMALL = {"repeats": 1, "latent": 16, "steps": 4}


def _check(report: dict, selection: str) -> None:
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
    assert report["selection"] == selection
    assert report["max_abs_diff"] < 1e-4  # in Gumbel mode too: both loops use the same draws
    assert report["nfe_reference"] == report["nfe_ours"] == 3
    assert (report["rows_reference"], report["rows_ours"]) == (3, 2)


def test_benchmark_command_reports_json_and_the_loops_agree():
    """The command, with its default selection (the pipeline's: Gumbel)."""
    args = [f"--{key}={value}" for key, value in SMALL.items()]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    _check(json.loads(result.stdout.strip().splitlines()[-1]), "gumbel")


def test_benchmark_top_k_mode_agrees_too():
    """The fast option, in this process (the command's start-up is covered above)."""
    spec = importlib.util.spec_from_file_location("sampler_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()  # run() sets the thread count: keep this process's
    _check(module.run("cpu", threads=threads, selection="topk", **SMALL), "topk")
