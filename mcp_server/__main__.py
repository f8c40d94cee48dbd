"""``python -m pixwizard.mcp_server``: the same options as ``pixwizard mcp``."""

from pixwizard.cli.mcp import run_app

run_app(prog_name="python -m pixwizard.mcp_server")
