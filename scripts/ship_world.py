"""Put a finished `pixwizard train world` run into the package as the built-in model ``pixwizard-world``.

    python scripts/ship_world.py runs/world

Writes ``pixwizard/models/pixwizard_world/``: the EMA transformer as float16 safetensors with its
config.json, ``training_log.jsonl`` (the run's log: loss, throughput, PixWorld scores during training),
``training.json`` (preset, steps, wall time, world version, encoders), and ``reference.json``: the weights'
SHA-256 and the scores of a small PixWorld sample computed from the shipped (float16) weights, which
``tests/pipeline/test_world_model.py`` checks. The model card (``README.md`` there) is written by hand from
the pre-registered evaluation (``protocol.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pixwizard" / "models" / "pixwizard_world"
WEIGHTS = "diffusion_pytorch_model.safetensors"
SAMPLE = {"tasks": ["denoise", "ground_mask", "segment", "depth"], "n": 4, "steps": 12, "seed": 3}
"""The small sample whose scores the checksum test reproduces (world seed 3: neither training's nor the
protocol's)."""
BUDGET_BYTES = 25 * 1024 * 1024


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sample_scores(pipe) -> dict[str, float]:
    """``task/metric`` → the model's score on `SAMPLE` (template phrasings)."""
    from pixwizard.eval.harness import evaluate_world

    report = evaluate_world("pixwizard-world", pipe=pipe, **SAMPLE)
    return {
        f"{row.task}/{row.metric}": row.value
        for row in report.rows
        if row.system == "pixwizard-world" and row.phrasing == "template"
    }


def training_summary(run: Path) -> dict:
    """Steps, chunk wall times and throughput from the run's log."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in records if "loss" in r]
    chunks = [r["chunk"] for r in records if "chunk" in r]
    evals = [r for r in records if "eval" in r]
    rates = sorted(r["items_per_s"] for r in steps)
    curve = [{"step": r["step"], **r["eval"]} for r in evals]
    slopes = {}
    if len(curve) >= 2:
        a, b = curve[-2], curve[-1]
        slopes = {k: round((b[k] - a[k]) / (b["step"] - a["step"]) * 1000, 4) for k in a if k != "step"}
    return {
        "learning_curve": curve,
        "slope_per_1000_steps_last_interval": slopes,
        "last_step": max((r["step"] for r in steps), default=0),
        "chunks": chunks,
        "wall_s_logged_chunks": round(sum(c["wall_s"] for c in chunks), 1),
        "eval_s": round(sum(r.get("eval_s", 0) for r in evals), 1),
        "median_items_per_s": rates[len(rates) // 2] if rates else None,
        "final_loss_mean_last_10_logs": round(
            sum(r["loss"] for r in steps[-10:]) / max(1, len(steps[-10:])), 4
        ),
    }


def curve_table(curve: list[dict]) -> str:
    """The PixWorld scores logged during training (EMA weights, world seed 2) as a Markdown table."""
    if not curve:
        return ""
    keys = [k for k in curve[0] if k != "step"]
    lines = ["| step | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| {c['step']} | " + " | ".join(f"{c[k]:.3f}" for k in keys) + " |" for c in curve]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="The run folder (out_dir of pixwizard train world).")
    parser.add_argument("--out", type=Path, default=PACKAGE)
    args = parser.parse_args(argv)

    import torch

    from pixwizard.model.checkpoint import load_transformer
    from pixwizard.pipeline import PixWizardPipeline
    from pixwizard.trainer.config import load_config
    from pixwizard.world import WORLD_VERSION

    export = args.run / "export"
    if not (export / "config.json").is_file():
        print(
            f"{export} holds no export: finish the run first (pixwizard train world --resume)",
            file=sys.stderr,
        )
        return 1
    transformer = load_transformer(export, dtype=torch.float32)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / "config.json", out / WEIGHTS):
        stale.unlink(missing_ok=True)
    transformer.to(torch.float16).save_pretrained(out)
    size = (out / WEIGHTS).stat().st_size
    if size > BUDGET_BYTES:
        print(f"{out / WEIGHTS} is {size / 2**20:.1f} MiB, above the 25 MiB budget", file=sys.stderr)
        return 1
    shutil.copyfile(args.run / "log.jsonl", out / "training_log.jsonl")
    config = load_config("world", [])
    summary = training_summary(args.run)
    (out / "training.json").write_text(
        json.dumps(
            {
                "preset": "world",
                "config_steps": config.steps,
                "global_batch": config.global_batch,
                "lr": config.optim.lr,
                "ema_decay": config.ema_decay,
                "world_seed": config.data.world.seed,
                "world_version": WORLD_VERSION,
                "sizes": config.data.world.sizes,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                **summary,
            },
            indent=1,
        )
        + "\n"
    )
    pipe = PixWizardPipeline.from_pretrained("pixwizard-world")  # what users get: the shipped float16 file
    pipe.set_progress_bar_config(disable=True)
    scores = sample_scores(pipe)
    reference = {
        "weights": WEIGHTS,
        "sha256": sha256(out / WEIGHTS),
        "bytes": size,
        "dtype": "float16",
        "sample": SAMPLE,
        "scores": {k: round(v, 6) for k, v in scores.items()},
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {out} ({size / 2**20:.1f} MiB of weights); sample scores {reference['scores']}")
    print(curve_table(summary["learning_curve"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
