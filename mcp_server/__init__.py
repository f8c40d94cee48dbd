"""PixWizard the MCP server (`pixwizard mcp`, `python -m pixwizard.mcp_server`) that serves every tool, image resources and workflow prompts. Filled by the Tool layer issue.

This folder sits at the repository root and is installed as ``pixwizard.mcp_server``; import it only by that name.
"""

if __name__ != "pixwizard.mcp_server":
    raise ImportError(f"import this package as pixwizard.mcp_server, not as {__name__!r} (see README, Layout)")
