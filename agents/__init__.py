"""PixWizard agents that plan and run multi-step image workflows (remove, replace or add an object; restore then analyse) over the tools. Filled by a later issue.

This folder sits at the repository root and is installed as ``pixwizard.agents``; import it only by that name.
"""

if __name__ != "pixwizard.agents":
    raise ImportError(f"import this package as pixwizard.agents, not as {__name__!r} (see README, Layout)")
