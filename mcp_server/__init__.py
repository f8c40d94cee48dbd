"""PixWizard MCP server: every tool, image resources and workflow prompts over MCP.

Started with ``pixwizard mcp`` or ``python -m pixwizard.mcp_server`` once the Tool layer issue adds it.
This folder sits at the repository root and is installed as ``pixwizard.mcp_server``; import it only by
that name.
"""

if __name__ != "pixwizard.mcp_server":
    raise ImportError(f"import this package as pixwizard.mcp_server, not as {__name__!r} (README, Layout)")
