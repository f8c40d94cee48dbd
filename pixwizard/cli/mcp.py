"""``pixwizard mcp``: serve every tool over MCP (stdio or streamable HTTP)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import handle_errors

EXAMPLES = [
    "pixwizard mcp --model tiny-random --allow-dir ~/Pictures",
    "pixwizard mcp --model ~/models/pixwizard --allow-dir ./in --transport streamable-http --port 8000",
]


@handle_errors
def mcp(
    model: Annotated[
        str, typer.Option(help="tiny-random, a folder from `pixwizard models fetch`, or a Hub id.")
    ] = ("tiny-random"),
    allow_dir: Annotated[
        list[Path] | None,
        typer.Option("--allow-dir", help="A folder the tools may read images from (repeat)."),
    ] = None,
    allow_broad_dir: Annotated[bool, typer.Option(help="Allow / or the home folder as --allow-dir.")] = False,
    output_dir: Annotated[
        list[Path] | None, typer.Option("--output-dir", help="A folder results may be copied to (repeat).")
    ] = None,
    store: Annotated[Path | None, typer.Option(help="Where results are stored.")] = None,
    allow_network: Annotated[bool, typer.Option(help="Fetch public http(s) image URLs.")] = False,
    transport: Annotated[str, typer.Option(help="stdio or streamable-http.")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    device: Annotated[str, typer.Option(help="auto, cuda, mps or cpu.")] = "auto",
    memory: Annotated[
        str, typer.Option(help="keep (models stay on the GPU) or offload (between calls).")
    ] = "keep",
) -> None:
    """Serve the PixWizard tools over MCP. Logs go to stderr; stdout carries the protocol."""
    from pixwizard.mcp_server.server import build_server
    from pixwizard.tools import make_context

    if transport not in ("stdio", "streamable-http"):
        raise ValueError(f"--transport must be stdio or streamable-http, got {transport!r}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    ctx = make_context(
        model,
        store_dir=store,
        allow_dirs=allow_dir or [],
        output_dirs=output_dir or [],
        allow_broad_dir=allow_broad_dir,
        allow_network=allow_network,
        device=device,
        memory=memory,
    )
    server = build_server(ctx)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)


def run_app(prog_name: str) -> None:
    """Run ``mcp`` as a standalone command (``python -m pixwizard.mcp_server``)."""
    app = typer.Typer(add_completion=False)
    app.command()(mcp)
    app(prog_name=prog_name)
