"""Quality against model calls: PixWorld scores of each solver and step count beside Euler at 60 points.

    python benchmarks/quality_speed.py --json                  # pixwizard-world, six tasks, 20 paired seeds
    python benchmarks/quality_speed.py --model tiny-random --n 2 --tasks denoise,depth   # a quick run

Every setting scores the same scenes with the same starting noise (item ``i`` seeded ``seed + i``), so the
settings are paired. A setting *holds* when each task's first metric is within ``--tolerance`` (2%) of the
Euler-60 score: at least 0.98× for higher-is-better metrics, at most 1.02× for lower-is-better ones
(PSNR on its gain over the degraded input, as the protocol compares restorations). Model calls are the
transformer evaluations per sample (each one batches the guidance rows): Euler and the scheduler make one
per step, Heun and midpoint two. The fewest model calls that hold is reported; ``quality="fast"`` in the
pipeline names it.

Solvers: ``euler`` (the authors'), ``heun``, ``midpoint``, and ``unipc``: diffusers'
``UniPCMultistepScheduler`` for flow matching through `SchedulerSolver` (a multistep method: one call per
step, reusing earlier velocities).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

DEFAULT_TASKS = ["denoise", "ground_mask", "depth", "segment", "inpaint", "text_to_image"]
"""Six tasks across the families: restoration, grounding, two dense predictions, inpainting, generation."""
SETTINGS = [("euler", 60), ("euler", 31), ("euler", 21), ("euler", 13), ("euler", 9)]
SETTINGS += [("heun", 16), ("heun", 11), ("heun", 7), ("heun", 5)]
SETTINGS += [("midpoint", 16), ("midpoint", 11), ("midpoint", 7), ("midpoint", 5)]
SETTINGS += [("unipc", 31), ("unipc", 21), ("unipc", 13), ("unipc", 9), ("unipc", 6)]
"""``(solver, time-grid points)``: model calls are ``points − 1`` per step method, twice that for Heun and
midpoint, so the rows line up at 30, 20, 12 and 8 calls (and 5 for UniPC)."""


def make_solver(name: str):
    """A solver for the pipeline: a built-in name, or ``unipc`` (diffusers' UniPC for flow matching)."""
    if name != "unipc":
        return name
    from diffusers import UniPCMultistepScheduler

    from pixwizard.pipeline.sampling import SchedulerSolver

    scheduler = UniPCMultistepScheduler(
        use_flow_sigmas=True, prediction_type="flow_prediction", final_sigmas_type="zero", flow_shift=1.0
    )
    return SchedulerSolver(scheduler)


def model_calls(solver: str, points: int) -> int:
    """Transformer evaluations of one sample."""
    return (points - 1) * (2 if solver in ("heun", "midpoint") else 1)


def first_scores(report, model: str) -> dict[str, float]:
    """Per task, its first metric (PSNR as the gain over identity for restorations)."""
    from pixwizard.eval.scoring import metrics_for
    from pixwizard.tasks import TASKS, Family

    out = {}
    for task in dict.fromkeys(row.task for row in report.rows):
        metric = metrics_for(task)[0]
        value = report.value(task, model, metric)
        if TASKS[task].family is Family.RESTORATION:
            value -= report.value(task, "identity", metric)
        out[task] = value
    return out


def holds(scores: dict[str, float], reference: dict[str, float], tolerance: float) -> bool:
    """Every task within ``tolerance`` of the reference in the direction that matters."""
    from pixwizard.eval.scoring import LOWER_IS_BETTER, metrics_for

    for task, value in scores.items():
        ref = reference[task]
        if metrics_for(task)[0] in LOWER_IS_BETTER:
            if value > ref * (1 + tolerance) + 1e-12:
                return False
        elif value < ref - abs(ref) * tolerance - 1e-12:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pixwizard-world")
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS))
    parser.add_argument("--n", type=int, default=20, help="Paired seeds (scenes) per task.")
    parser.add_argument(
        "--seed", type=int, default=11, help="World seed (not training's 1 or the protocol's 0)."
    )
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from pixwizard.eval.harness import evaluate_world
    from pixwizard.pipeline import PixWizardPipeline

    torch.set_num_threads(args.threads)
    pipe = PixWizardPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    tasks = args.tasks.split(",")
    rows, reference = [], None
    for solver, points in SETTINGS:
        start = time.perf_counter()
        report = evaluate_world(
            args.model,
            tasks=tasks,
            n=args.n,
            steps=points,
            seed=args.seed,
            pipe=pipe,
            solver=make_solver(solver),
        )
        scores = first_scores(report, args.model)
        reference = reference or scores
        row = {
            "solver": solver,
            "points": points,
            "model_calls": model_calls(solver, points),
            "seconds": round(time.perf_counter() - start, 1),
            "scores": {k: round(v, 4) for k, v in scores.items()},
            "holds": holds(scores, reference, args.tolerance),
        }
        rows.append(row)
        if not args.json:
            print(json.dumps(row), flush=True)
    base = rows[0]["model_calls"]
    passing = [r for r in rows if r["holds"]]
    best = min(passing, key=lambda r: (r["model_calls"], r["seconds"]))
    result = {
        "model": args.model,
        "tasks": tasks,
        "n": args.n,
        "seed": args.seed,
        "tolerance": args.tolerance,
        "machine": f"{platform.machine()}, {args.threads} threads, torch {torch.__version__}",
        "rows": rows,
        "fewest_calls_within_tolerance": {
            "solver": best["solver"],
            "points": best["points"],
            "model_calls": best["model_calls"],
            "fraction_of_default_calls": round(best["model_calls"] / base, 3),
        },
    }
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
