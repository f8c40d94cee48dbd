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


def _write_pairs(folder, entries):
    path = folder / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in entries))
    return path


def test_benchmark_depth_is_metric_and_regions_come_from_white_pixels(tmp_path, tiny_pipe):
    import numpy as np
    from PIL import Image

    from pixwizard.world.samples import sample

    s = sample("depth", 0, 0)
    s.image.save(tmp_path / "in.png")
    Image.fromarray(np.round(s.truth.depth * 1000).astype(np.uint16)).save(tmp_path / "depth_mm.png")
    s.target.save(tmp_path / "depth_8bit.png")
    path = _write_pairs(
        tmp_path, [{"input_path": "in.png", "target_path": "depth_mm.png", "prompt": "depth map"}]
    )
    report = evaluate_pairs("tiny-random", path, "depth", steps=2, pipe=tiny_pipe)
    assert {r.system for r in report.rows} == {"identity", "tiny-random"}  # a metric map is no model output
    assert all(r.value > 0 for r in report.rows if r.metric == "rmse")
    eight = _write_pairs(
        tmp_path, [{"input_path": "in.png", "target_path": "depth_8bit.png", "prompt": "depth"}]
    )
    with pytest.raises(ValueError, match="must be metric"):
        evaluate_pairs("tiny-random", eight, "depth", pipe=tiny_pipe)
    # Inpainting without a truth file: the hole is the input's white pixels.
    s = sample("inpaint", 0, 1)
    s.prepared.image.save(tmp_path / "masked.png")
    s.target.save(tmp_path / "full.png")
    holes = _write_pairs(
        tmp_path, [{"input_path": "masked.png", "target_path": "full.png", "prompt": ["fill it"]}]
    )
    report = evaluate_pairs("tiny-random", holes, "inpaint", steps=2, pipe=tiny_pipe)
    assert report.value("inpaint", "oracle", "psnr_hole") == 100.0
    # Generation needs to know what was asked for; an empty prompt is refused.
    s.target.save(tmp_path / "scene.png")
    gen = _write_pairs(
        tmp_path, [{"input_path": "scene.png", "target_path": "scene.png", "prompt": "a red ring"}]
    )
    with pytest.raises(ValueError, match="truth_path"):
        evaluate_pairs("tiny-random", gen, "text_to_image", pipe=tiny_pipe)
    empty = _write_pairs(tmp_path, [{"input_path": "in.png", "target_path": "full.png", "prompt": []}])
    with pytest.raises(ValueError, match="prompt is empty"):
        evaluate_pairs("tiny-random", empty, "denoise", pipe=tiny_pipe)


def test_segmentation_pairs_in_the_ade20k_palette(tmp_path, tiny_pipe):
    import numpy as np
    from PIL import Image

    from pixwizard.tasks.decoders import ade20k_palette

    colors = ade20k_palette().colors.astype(np.uint8)
    labels = np.zeros((64, 64), np.int64)
    labels[10:40, 10:40], labels[40:, :] = 3, 7
    Image.fromarray(colors[labels]).save(tmp_path / "labels.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "photo.png")
    path = _write_pairs(
        tmp_path, [{"input_path": "photo.png", "target_path": "labels.png", "prompt": "segment"}]
    )
    report = evaluate_pairs("tiny-random", path, "segment", steps=2, palette="ade20k", pipe=tiny_pipe)
    assert report.value("segment", "oracle", "miou") == 1.0
    with pytest.raises(ValueError, match="palette"):
        evaluate_pairs("tiny-random", path, "segment", palette="coco", pipe=tiny_pipe)
