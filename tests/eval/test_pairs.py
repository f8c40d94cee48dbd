"""`pixwizard eval pairs` on pairs exported from the world gives the numbers of `eval world` on them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.eval.harness import evaluate_pairs, evaluate_world
from pixwizard.world.export import export

TASKS = (
    "denoise",
    "ground_highlight",
    "depth",
    "segment",
    "canny",
    "canny_to_image",
    "edit",
    "inpaint",
    "outpaint",
    "text_to_image",
)
N, STEPS, SEED = 3, 3, 2


def test_pairs_reproduce_eval_world(tmp_path, tiny_pipe):
    export(tmp_path, n=N, tasks=TASKS, seed=SEED)
    world = evaluate_world("tiny-random", tasks=TASKS, n=N, steps=STEPS, seed=SEED, pipe=tiny_pipe)
    for task in TASKS:
        pairs = evaluate_pairs(
            "tiny-random", tmp_path / task / "annotations.jsonl", task, steps=STEPS, seed=SEED, pipe=tiny_pipe
        )
        assert pairs.rows, task
        for row in pairs.rows:
            assert row.value == pytest.approx(world.value(task, row.system, row.metric), abs=1e-9), (
                task,
                row,
            )


def test_pairs_cli_without_truth_files_reads_the_targets(tmp_path):
    export(tmp_path, n=2, tasks=("ground_mask",), seed=0)
    path = tmp_path / "ground_mask" / "annotations.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    for entry in entries:  # a benchmark has images only: the target mask is the answer
        del entry["truth_path"]
    path.write_text("\n".join(json.dumps(e) for e in entries))
    run = CliRunner().invoke(
        app,
        [
            "eval",
            "pairs",
            "--annotations",
            str(path),
            "--task",
            "ground_mask",
            "--steps",
            "2",
            "--limit",
            "1",
            "--json",
        ],
    )
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout[run.stdout.index("{") :])
    oracle = [r for r in data["results"] if r["system"] == "oracle"]
    assert oracle[0]["metric"] == "ciou" and oracle[0]["value"] == 1.0 and oracle[0]["n"] == 1
    bad = CliRunner().invoke(
        app, ["eval", "pairs", "--annotations", str(tmp_path / "none.jsonl"), "--task", "depth"]
    )
    assert bad.exit_code != 0 and "none.jsonl" in bad.output
