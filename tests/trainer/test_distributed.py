"""Two CPU processes with torchrun (gloo): DDP and FSDP2 match one process on the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file


def _run(dataset, out, nproc: int, mode: str) -> list[float]:
    args = [
        f"data.annotations={dataset}",
        f"out_dir={out}",
        "steps=20",
        "log_every=1",
        "p_text=0.1",
        "p_image=0.1",
        "p_both=0.1",
        "token_selection=gumbel",
        f"parallel.mode={mode}",
    ]
    if nproc == 1:
        command = [sys.executable, "-m", "pixwizard.trainer", "debug", *args]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "pixwizard.trainer",
            "debug",
            *args,
        ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env={"OMP_NUM_THREADS": "1", **__import__("os").environ},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    final = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"final_step"')]
    return final[0]["losses"]


@pytest.fixture(scope="module")
def single(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    return _run(dataset, out, 1, "none"), load_file(
        str(out / "checkpoints" / "step_0000020" / "model.safetensors")
    )


@pytest.mark.parametrize("mode", ["ddp", "fsdp2"])
def test_two_processes_match_one(dataset, tmp_path, single, mode):
    losses, weights = single
    dist_losses = _run(dataset, tmp_path, 2, mode)
    assert len(dist_losses) == len(losses) == 20
    assert max(abs(a - b) for a, b in zip(dist_losses, losses, strict=True)) < 1e-4
    gathered = load_file(str(tmp_path / "checkpoints" / "step_0000020" / "model.safetensors"))
    assert gathered.keys() == weights.keys()
    worst = max(float((gathered[k] - weights[k]).abs().max()) for k in weights)
    assert worst < 1e-4, worst
    assert not torch.equal(gathered["x_embedder.weight"], torch.zeros_like(gathered["x_embedder.weight"]))
