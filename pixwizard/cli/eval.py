"""``pixwizard parity``: compare the transformer with reference numbers from the authors' model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import Model, handle_errors
from pixwizard.cli.world import Tasks, split_tasks

ReportDir = Annotated[
    Path | None, typer.Option("--out", help="Write report.md, report.html and results.json here.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the results as JSON.")]
Batch = Annotated[
    int, typer.Option(min=1, help="Items per model call (each keeps its seed: the scores do not change).")
]

app = typer.Typer(no_args_is_help=True, help="Score a model on PixWorld or on benchmark pairs.")

EXAMPLES = ["pixwizard parity tests/fixtures/official_parity tests/fixtures/official_parity_mha"]


@handle_errors
def parity(
    folders: Annotated[
        list[Path], typer.Argument(help="Parity folders (tiny.json + tiny.safetensors + manifests).")
    ],
) -> None:
    """Run every parity case and manifest; exit 1 if any fails."""
    from pixwizard.eval.parity import run_parity

    reports = [run_parity(folder, log=typer.echo) for folder in folders]
    if not all(report.ok for report in reports):
        raise typer.Exit(code=1)


def _quiet_pipeline(name: str):
    """The pipeline with its per-call progress bar off and its random-weights warning said once."""
    import logging

    from pixwizard.pipeline import PixWizardPipeline

    pipe = PixWizardPipeline.from_pretrained(name)
    pipe.set_progress_bar_config(disable=True)
    if pipe.config.random_weights:
        typer.echo(f"warning: {name} has random weights: its outputs are noise", err=True)
        logging.getLogger("pixwizard.pipeline.pipeline").setLevel(logging.ERROR)
    return pipe


def _emit(report, out: Path | None, as_json: bool) -> None:
    import json

    if out is not None:
        from pixwizard.eval.report import write_report

        write_report(report, out)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    else:
        from pixwizard.eval.report import markdown_table

        typer.echo(markdown_table(report))
        if out is not None:
            typer.echo(f"report: {out / 'report.md'} and {out / 'report.html'}")


@app.command("world")
@handle_errors
def world(
    model: Model = None,
    tasks: Tasks = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Scenes per task.")] = 8,
    steps: Annotated[int | None, typer.Option(min=2, help="Sampler steps (default: each task's).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="World seed (the model's noise: seed + item).")] = 0,
    phrasing: Annotated[str, typer.Option(help="template, held_out or both.")] = "template",
    out: ReportDir = None,
    as_json: AsJson = False,
    batch: Batch = 8,
) -> None:
    """Score a model on PixWorld, per task, beside identity, classical baselines, constant and oracle."""
    from pixwizard.cli._options import chosen_model
    from pixwizard.cli._progress import progress_reporter
    from pixwizard.eval.harness import evaluate_world

    name = chosen_model(model)
    pipe = _quiet_pipeline(name)
    with progress_reporter() as start:
        report_progress = start("eval world")
        report = evaluate_world(
            name,
            tasks=split_tasks(tasks),
            n=n,
            steps=steps,
            seed=seed,
            phrasing=phrasing,
            pipe=pipe,
            batch=batch,
            progress=lambda task, done, total: report_progress(done, total),
        )
    _emit(report, out, as_json)


@app.command("pairs")
@handle_errors
def pairs(
    annotations: Annotated[
        Path, typer.Option("--annotations", help="JSON/JSONL of {input_path, target_path, prompt}.")
    ],
    task: Annotated[str, typer.Option("--task", help="The task the pairs are for.")],
    model: Model = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Score only the first N pairs.")] = None,
    steps: Annotated[int | None, typer.Option(min=2, help="Sampler steps (default: the task's).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="The model's noise: seed + pair index.")] = 0,
    palette: Annotated[str, typer.Option(help="Segmentation classes: world or ade20k.")] = "world",
    depth_scale: Annotated[
        float, typer.Option(min=1e-9, help="Divides 16-bit depth targets into distances (1000: mm → m).")
    ] = 1000.0,
    out: ReportDir = None,
    as_json: AsJson = False,
    batch: Batch = 8,
) -> None:
    """Score a model on benchmark pairs in the authors' annotation format, with the metrics of eval world."""
    from pixwizard.cli._options import chosen_model
    from pixwizard.cli._progress import progress_reporter
    from pixwizard.eval.harness import evaluate_pairs

    name = chosen_model(model)
    pipe = _quiet_pipeline(name)
    with progress_reporter() as start:
        report = evaluate_pairs(
            name,
            annotations,
            task,
            limit=limit,
            steps=steps,
            seed=seed,
            palette=palette,
            depth_scale=depth_scale,
            pipe=pipe,
            batch=batch,
            progress=start("eval pairs"),
        )
    _emit(report, out, as_json)
