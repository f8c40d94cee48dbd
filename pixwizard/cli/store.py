"""``pixwizard store``: what the image store holds, and pruning it by age or size."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import handle_errors

EXAMPLES = [
    "pixwizard store list",
    "pixwizard store prune --older-than 30d",
    "pixwizard store prune --max-size 2GB --dry-run",
]

app = typer.Typer(no_args_is_help=True, help="The image store: list and prune stored results.")
StoreDir = Annotated[Path | None, typer.Option("--store", help="The store folder [default: the server's].")]


def _store(folder: Path | None):
    from pixwizard.tools import DEFAULT_STORE
    from pixwizard.tools.store import ImageStore

    return ImageStore(folder or DEFAULT_STORE)


@app.command("list")
@handle_errors
def list_store(
    store: StoreDir = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List stored images, oldest first, with their size and the task that made them."""
    rows = _store(store).entries()
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        when = _dt.datetime.fromtimestamp(row["created"]).strftime("%Y-%m-%d %H:%M")
        kind = "input" if row["input"] else row["task"] or "-"
        typer.echo(f"{row['id']}  {when}  {row['bytes'] / 1e6:8.2f} MB  {kind}")
    typer.echo(f"{len(rows)} images, {sum(r['bytes'] for r in rows) / 1e6:.1f} MB", err=True)


@app.command("prune")
@handle_errors
def prune(
    store: StoreDir = None,
    older_than: Annotated[
        str | None, typer.Option(help="Remove images older than this (e.g. 30d, 12h, 90m).")
    ] = None,
    max_size: Annotated[
        str | None, typer.Option(help="Remove the oldest images until the store is at most this (e.g. 2GB).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be removed.")] = False,
) -> None:
    """Remove the oldest stored images beyond an age or a total size."""
    from pixwizard.tools.store import parse_age, parse_size

    if older_than is None and max_size is None:
        raise ValueError("say what to prune: --older-than D and/or --max-size S")
    removed = _store(store).prune(
        older_than_s=parse_age(older_than) if older_than else None,
        max_bytes=parse_size(max_size) if max_size else None,
        dry_run=dry_run,
    )
    for image_id in removed:
        typer.echo(image_id)
    typer.echo(f"{'would remove' if dry_run else 'removed'} {len(removed)} images", err=True)
