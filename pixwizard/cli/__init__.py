"""The ``pixwizard`` command line: thin Typer commands over library functions.

Commands import their heavy dependencies inside the function body, so ``pixwizard --help`` is fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pixwizard import __version__
from pixwizard.cli import agent as agent_cli
from pixwizard.cli import eval as eval_cli
from pixwizard.cli import mcp as mcp_cli
from pixwizard.cli import models as models_cli
from pixwizard.cli import store as store_cli
from pixwizard.cli import tools as tools_cli
from pixwizard.cli import train as train_cli
from pixwizard.cli import world as world_cli

app = typer.Typer(
    name="pixwizard",
    help="PixWizard: one instruction-following image model as tools, an MCP server and a library.",
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pixwizard {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """PixWizard command line."""


app.command("convert-checkpoint", rich_help_panel="Models")(models_cli.convert_checkpoint)
app.command("parity", rich_help_panel="Evaluation")(eval_cli.parity)
app.add_typer(eval_cli.app, name="eval", rich_help_panel="Evaluation")
app.add_typer(world_cli.app, name="world", rich_help_panel="Evaluation")
app.add_typer(models_cli.app, name="models", rich_help_panel="Models")
app.command("mcp", rich_help_panel="Servers")(mcp_cli.mcp)
app.command("agent", rich_help_panel="Agents")(agent_cli.agent)
app.add_typer(store_cli.app, name="store", rich_help_panel="Servers")
app.command("train", rich_help_panel="Training")(train_cli.train)
tools_cli.register(app)
