"""PixWizard agents: plan and run multi-step image workflows over the tools.

Workflows such as remove, replace or add an object, or restore then analyse, are added by a later issue.
This folder sits at the repository root and is installed as ``pixwizard.agents``; import it only by that
name.
"""

if __name__ != "pixwizard.agents":
    raise ImportError(f"import this package as pixwizard.agents, not as {__name__!r} (see README, Layout)")
