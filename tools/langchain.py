"""LangChain face: every tool as a ``StructuredTool`` with the same schema, returning content and artifact.

The content (what the LLM reads) is the tool's JSON result; the artifact (kept by the app, never sent to
the model) is the same result as a JSON-safe dict with paths and ids, so checkpointers can store it.
langchain-core is imported here only.
"""

from __future__ import annotations

import asyncio

from langchain_core.tools import StructuredTool, ToolException

from .catalog import REGISTRY, ToolContext, invoke
from .spec import ToolError, ToolSpec


def _tool(spec: ToolSpec, ctx: ToolContext) -> StructuredTool:
    def run(**kwargs):
        try:
            output = invoke(spec, kwargs, ctx)
        except ToolError as exc:
            raise ToolException(str(exc)) from None
        return output.model_dump_json(), output.model_dump(mode="json")

    async def arun(**kwargs):
        return await asyncio.to_thread(run, **kwargs)

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=spec.name,
        description=spec.description,
        args_schema=spec.input_model,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )


def get_tools(ctx: ToolContext | None = None, *, names: list[str] | None = None, **context_options) -> list:
    """The PixWizard tools for a LangChain agent.

    Args:
        ctx: A shared `ToolContext` (default: a new one from ``context_options``, see
            `pixwizard.tools.make_context`).
        names: Only these tools (default: all).
        **context_options: Passed to `make_context` when ``ctx`` is None (e.g. ``model``, ``allow_dirs``).

    Returns:
        ``StructuredTool`` objects.
    """
    if ctx is None:
        from . import make_context

        ctx = make_context(**context_options)
    specs = [REGISTRY[name] for name in names] if names else list(REGISTRY.values())
    return [_tool(spec, ctx) for spec in specs]
