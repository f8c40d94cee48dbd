"""``pixwizard train CONFIG [key=value ...] [--resume]``: one process; use torchrun for several."""

from __future__ import annotations

from typing import Annotated

import typer

from pixwizard.cli._options import handle_errors

EXAMPLES = [
    "pixwizard train debug data.annotations=pairs.json out_dir=runs/try",
    "pixwizard train configs/finetune.yaml optim.lr=5e-5 --resume",
    "torchrun --nproc-per-node 8 -m pixwizard.trainer configs/finetune.yaml",
]


@handle_errors
def train(
    config: Annotated[
        str, typer.Argument(help="A config YAML file or a preset (debug, finetune, stage1, world).")
    ],
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides, dotted keys.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run's newest checkpoint.")] = False,
    minutes: Annotated[
        float | None, typer.Option(help="End this chunk after about this many minutes, at a checkpoint.")
    ] = None,
) -> None:
    """Train or fine-tune PixWizard (logs JSON lines; checkpoints and an export in out_dir)."""
    from pixwizard.trainer.run import main

    chunk = ["--minutes", str(minutes)] if minutes is not None else []
    raise typer.Exit(main([config, *(overrides or []), *(["--resume"] if resume else []), *chunk]))
