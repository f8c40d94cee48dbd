"""PixWizard agents: plans as data, their validation and execution, object recipes, and planners.

`Plan` is a list of tool calls whose arguments may reference the request's inputs and earlier steps'
outputs; `validate_plan` checks it against a registry before anything runs; `execute` runs it with a
resumable run record. The recipes (`remove_object`, `replace_object`, `add_object`, `restore_then`) and
the `plan` / `run_plan` tools are registered into `pixwizard.tools` through the ``pixwizard.tools`` entry
point (`register`). This folder sits at the repository root and is installed as ``pixwizard.agents``;
import it only by that name.
"""

if __name__ != "pixwizard.agents":
    raise ImportError(f"import this package as pixwizard.agents, not as {__name__!r} (see README, Layout)")

from .plan import Plan, PlanError, Question, Step, parse_ref

PLAN_SCHEMA_URI = "pixwizard://plan-schema"


def register(registry) -> None:
    """Add the agent tools (recipes, plans, lineage, run_instruction) to a tool registry."""
    from pixwizard.tools.registry import TextResource

    from .tools import AGENT_TOOLS

    for spec in AGENT_TOOLS:
        registry.add(spec)
    registry.add_resource(
        TextResource(
            PLAN_SCHEMA_URI,
            "The JSON Schema of a plan (the plan argument of run_plan).",
            "application/schema+json",
            plan_schema_json,
        )
    )


def plan_schema_json() -> str:
    """The published JSON Schema of `Plan` (``pixwizard agent --schema``, MCP ``pixwizard://plan-schema``)."""
    import json

    return json.dumps(Plan.model_json_schema(), indent=2)


__all__ = [
    "PLAN_SCHEMA_URI",
    "Plan",
    "PlanError",
    "Question",
    "Step",
    "parse_ref",
    "plan_schema_json",
    "register",
]
