"""PixWizard tools: one typed spec per capability, from which the MCP, LangChain and CLI faces are made.

The capabilities (restore, ground, segment, depth, edit, control_generate, inpaint, outpaint,
text_to_image, ...) are added by the Tool layer issue. This folder sits at the repository root and is
installed as ``pixwizard.tools``; import it only by that name.
"""

if __name__ != "pixwizard.tools":
    raise ImportError(f"import this package as pixwizard.tools, not as {__name__!r} (see README, Layout)")
