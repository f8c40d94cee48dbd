"""Model commands: ``pixwizard convert-checkpoint`` and ``pixwizard models fetch``."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import Overwrite, handle_errors

EXAMPLES = [
    "pixwizard convert-checkpoint ~/ckpt/PixWizard ~/models/pixwizard-transformer",
    "pixwizard convert-checkpoint ~/ckpt/PixWizard out/ --dtype fp32 --no-ema",
    "pixwizard models list",
    "pixwizard models fetch",
    "pixwizard models fetch --dir ~/models/pixwizard",
    "pixwizard models fetch --dir ~/models/pixwizard --gemma ~/hf/gemma-2b --no-ema",
]

app = typer.Typer(no_args_is_help=True)


@app.callback()
def models() -> None:
    """List the models available offline and get the released weights."""


class Dtype(str, enum.Enum):
    """Stored dtypes (Typer shows and checks the choices)."""

    bf16 = "bf16"
    fp32 = "fp32"


_DTYPES = {Dtype.bf16: "bfloat16", Dtype.fp32: "float32"}


def _dtype(name: Dtype):
    import torch

    return getattr(torch, _DTYPES[Dtype(name)])


@handle_errors
def convert_checkpoint(
    official_dir: Annotated[Path, typer.Argument(help="Folder with consolidated*.pth and model_args.pth.")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder (config.json + safetensors).")],
    dtype: Annotated[Dtype, typer.Option(help="Stored dtype.")] = Dtype.bf16,
    ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="Convert the EMA weights (the authors sample with them).")
    ] = True,
    overwrite: Overwrite = False,
) -> None:
    """Convert the authors' checkpoint to safetensors + config.json, written atomically."""
    from pixwizard.model.checkpoint import convert_official_checkpoint

    out = convert_official_checkpoint(
        official_dir, out_dir, ema=ema, dtype=_dtype(dtype), overwrite=overwrite
    )
    typer.echo(f"wrote {out}")


Location = Annotated[str | None, typer.Option(help="A folder or Hub repository id instead of the default.")]


@app.command("fetch")
@handle_errors
def fetch(
    dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Folder to write the complete model to (default: models/pixwizard under PIXWIZARD_HOME, "
            "else the user's cache; models there are used when no --model is given).",
        ),
    ] = None,
    ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="Use the EMA weights (the authors sample with them).")
    ] = True,
    dtype: Annotated[Dtype, typer.Option(help="Stored dtype of the transformer and Gemma.")] = Dtype.bf16,
    checkpoint: Location = None,
    gemma: Location = None,
    clip: Location = None,
    vae: Location = None,
    overwrite: Overwrite = False,
) -> None:
    """Download the checkpoint, Gemma-2B (gated), CLIP-L/14-336 and the SDXL VAE into one loadable folder.

    Without --dir it writes the folder that every command uses when no --model is given (`pixwizard models
    list` shows it). Offline, or with pieces missing, it fails at once and lists each missing piece with the
    command that fetches it. The folder loads with PixWizardPipeline.from_pretrained(DIR) and --model DIR.
    """
    from pixwizard.pipeline import PixWizardPipeline
    from pixwizard.pipeline.names import default_fetch_dir
    from pixwizard.pipeline.weights import fetch_released

    target = dir or default_fetch_dir()
    typer.echo(f"fetching the released PixWizard into {target}", err=True)
    out = fetch_released(
        target,
        pipeline_cls=PixWizardPipeline,
        ema=ema,
        dtype=_dtype(dtype),
        overwrite=overwrite,
        checkpoint=checkpoint,
        gemma=gemma,
        clip=clip,
        vae=vae,
    )
    typer.echo(f"wrote {out}")


@app.command("list")
@handle_errors
def list_models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The models available offline, where they are, and which runs when no --model is given."""
    import json

    from pixwizard.pipeline.names import available_models

    rows = available_models()
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        mark = "*" if row["default"] else " "
        where = f"  ({row['location']})" if row["location"] else ""
        typer.echo(f"{mark} {row['name']}: {row['note']}{where}")
    typer.echo(
        "(*: what runs when no --model is given: PIXWIZARD_MODEL, the fetched folder, pixwizard-world)"
    )
