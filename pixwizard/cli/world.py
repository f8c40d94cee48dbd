"""``pixwizard world``: export PixWorld to the trainer's annotation format, and look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import handle_errors

app = typer.Typer(no_args_is_help=True, help="PixWorld: procedural scenes with exact ground truth.")

Tasks = Annotated[
    str | None, typer.Option("--tasks", help="Comma-separated task names (default: every task).")
]


def split_tasks(tasks: str | None) -> list[str] | None:
    """``a,b`` → ``["a", "b"]`` (None stays None)."""
    if tasks is None:
        return None
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise ValueError("--tasks is empty; give task names separated by commas")
    return names


def parse_size(size: str) -> tuple[int, int]:
    """``64`` → (64, 64); ``96x64`` → (96, 64)."""
    try:
        parts = [int(v) for v in size.lower().split("x")]
    except ValueError:
        raise ValueError(f"--size must be S or WxH in pixels, got {size!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 64:
        raise ValueError(f"--size must be S or WxH with sides of at least 64 px, got {size!r}")
    return parts[0], parts[1]


@app.command("export")
@handle_errors
def export_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder to write (created).")],
    n: Annotated[int, typer.Option("--n", min=1, help="Items per task.")] = 100,
    tasks: Tasks = None,
    size: Annotated[str, typer.Option("--size", help="Scene size: S or WxH (at least 64).")] = "64",
    seed: Annotated[
        int, typer.Option(min=0, help="World seed (1: a training seed; eval world scores seed 0).")
    ] = 1,
) -> None:
    """Write N items per task: input and target PNGs, the exact truth, annotations and meta.yaml."""
    from pixwizard.cli._progress import progress_reporter
    from pixwizard.world.export import export

    with progress_reporter() as start:
        info = export(
            out, n=n, tasks=split_tasks(tasks), size=parse_size(size), seed=seed, progress=start("export")
        )
    typer.echo(
        f"wrote {info['n'] * len(info['tasks'])} items of world version {info['world_version']} to {out}"
    )


@app.command("show")
@handle_errors
def show_cmd(
    task: Annotated[str, typer.Option("--task", help="A task name.")],
    seed: Annotated[int, typer.Option(min=0, help="World seed.")] = 0,
    count: Annotated[int, typer.Option(min=1, max=32, help="Samples on the sheet.")] = 6,
    size: Annotated[str, typer.Option("--size", help="Scene size: S or WxH.")] = "64",
    out: Annotated[
        Path | None, typer.Option("--out", help="PNG to write (default: world-<task>-<seed>.png).")
    ] = None,
) -> None:
    """Write a contact sheet (input | target, with the instruction) of a task's samples."""
    from pixwizard.tasks.results import atomic_write_bytes, png_bytes
    from pixwizard.world.export import contact_sheet

    path = out or Path(f"world-{task}-{seed}.png")
    atomic_write_bytes(
        path, png_bytes(contact_sheet(task, seed, count=count, size=parse_size(size)), compress_level=1)
    )
    typer.echo(str(path))
