"""``pixwizard convert-checkpoint``: the authors' checkpoint folder → safetensors + config.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import Overwrite, handle_errors

EXAMPLES = [
    "pixwizard convert-checkpoint ~/ckpt/PixWizard ~/models/pixwizard-transformer",
    "pixwizard convert-checkpoint ~/ckpt/PixWizard out/ --dtype fp32 --no-ema",
]


@handle_errors
def convert_checkpoint(
    official_dir: Annotated[Path, typer.Argument(help="Folder with consolidated*.pth and model_args.pth.")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder (config.json + safetensors).")],
    dtype: Annotated[str, typer.Option(help="Stored dtype: bf16 or fp32.")] = "bf16",
    ema: Annotated[
        bool, typer.Option("--ema/--no-ema", help="Convert the EMA weights (the authors sample with them).")
    ] = True,
    overwrite: Overwrite = False,
) -> None:
    """Convert the authors' checkpoint to safetensors + config.json, written atomically."""
    import torch

    from pixwizard.model.checkpoint import convert_official_checkpoint

    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    if dtype not in dtypes:
        raise ValueError(f"--dtype must be bf16 or fp32, got {dtype!r}")
    out = convert_official_checkpoint(
        official_dir, out_dir, ema=ema, dtype=dtypes[dtype], overwrite=overwrite
    )
    typer.echo(f"wrote {out}")
