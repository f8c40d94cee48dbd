"""PixWizard the tool layer: one typed spec per capability (restore, ground, segment, depth, edit, control_generate, inpaint, outpaint, text_to_image, ...) from which the MCP, LangChain and CLI faces are generated. Filled by the Tool layer issue.

This folder sits at the repository root and is installed as ``pixwizard.tools``; import it only by that name.
"""

if __name__ != "pixwizard.tools":
    raise ImportError(f"import this package as pixwizard.tools, not as {__name__!r} (see README, Layout)")
