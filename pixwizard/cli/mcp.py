"""``pixwizard mcp``: serve every tool over MCP (stdio or streamable HTTP)."""

from __future__ import annotations

import enum
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import Model, chosen_model, handle_errors

EXAMPLES = [
    "pixwizard mcp --model tiny-random --allow-dir ~/Pictures",
    "pixwizard mcp --model ~/models/pixwizard --allow-dir ./in --transport streamable-http --port 8000",
    "PIXWIZARD_TOKEN=secret pixwizard mcp --transport streamable-http --host 0.0.0.0 --allow-dir ./in",
]


class Transport(str, enum.Enum):
    """How clients connect."""

    stdio = "stdio"
    streamable_http = "streamable-http"


class Memory(str, enum.Enum):
    """Where the models live between calls."""

    keep = "keep"
    offload = "offload"


@handle_errors
def mcp(
    model: Model = None,
    allow_dir: Annotated[
        list[Path] | None,
        typer.Option("--allow-dir", help="A folder the tools may read images from (repeat)."),
    ] = None,
    allow_broad_dir: Annotated[bool, typer.Option(help="Allow / or the home folder as --allow-dir.")] = False,
    output_dir: Annotated[
        list[Path] | None, typer.Option("--output-dir", help="A folder results may be copied to (repeat).")
    ] = None,
    store: Annotated[Path | None, typer.Option(help="Where results are stored.")] = None,
    store_max_size: Annotated[
        str | None, typer.Option(help="Prune the oldest stored images beyond this size (e.g. 5GB).")
    ] = None,
    store_max_age: Annotated[
        str | None, typer.Option(help="Prune stored images older than this (e.g. 30d, 12h).")
    ] = None,
    allow_network: Annotated[bool, typer.Option(help="Fetch public http(s) image URLs.")] = False,
    transport: Annotated[Transport, typer.Option(help="How clients connect.")] = Transport.stdio,
    host: Annotated[str, typer.Option(help="HTTP bind address (off loopback a --token is required).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="PIXWIZARD_TOKEN", help="Bearer token HTTP clients must send.", show_default=False
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cuda, mps or cpu.")] = "auto",
    memory: Annotated[Memory, typer.Option(help="keep (models stay on the GPU) or offload.")] = Memory.keep,
    tools: Annotated[
        str | None, typer.Option("--tools", help="Serve only these tools (comma-separated names).")
    ] = None,
    exclude_tools: Annotated[
        str | None, typer.Option("--exclude-tools", help="Do not serve these tools (comma-separated).")
    ] = None,
) -> None:
    """Serve the PixWizard tools over MCP. Logs go to stderr; stdout carries the protocol."""
    import anyio

    from pixwizard.mcp_server.server import build_server
    from pixwizard.mcp_server.transport import is_loopback, serve_http, serve_stdio
    from pixwizard.tools import StoreCap, default_registry, make_context
    from pixwizard.tools.store import parse_age, parse_size

    if transport is Transport.streamable_http and token is None and not is_loopback(host):
        raise ValueError(
            f"--host {host} accepts connections from other machines: set a bearer token with --token or "
            "PIXWIZARD_TOKEN, or bind to 127.0.0.1"
        )
    registry = default_registry().select(_names(tools), _names(exclude_tools) or None)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    model = chosen_model(model)
    cap = StoreCap(
        max_bytes=parse_size(store_max_size) if store_max_size else None,
        max_age_s=parse_age(store_max_age) if store_max_age else None,
    )
    ctx = make_context(
        model,
        store_dir=store,
        allow_dirs=allow_dir or [],
        output_dirs=output_dir or [],
        allow_broad_dir=allow_broad_dir,
        allow_network=allow_network,
        device=device,
        memory=memory.value,
        store_cap=cap,
    )
    server = build_server(registry, ctx)
    if transport is Transport.stdio:
        anyio.run(serve_stdio, server)
    else:
        anyio.run(lambda: serve_http(server, host=host, port=port, token=token or None))


def _names(text: str | None) -> list[str] | None:
    """Comma-separated tool names, or None."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def run_app(prog_name: str) -> None:
    """Run ``mcp`` as a standalone command (``python -m pixwizard.mcp_server``)."""
    app = typer.Typer(add_completion=False)
    app.command()(mcp)
    app(prog_name=prog_name)
