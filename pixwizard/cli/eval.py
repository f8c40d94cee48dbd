"""``pixwizard parity``: compare the transformer with reference numbers from the authors' model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import handle_errors

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
