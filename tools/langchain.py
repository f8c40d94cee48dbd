"""LangChain face: every tool as a ``StructuredTool`` with the same schema, returning content and artifact.

The content (what the LLM reads) is the tool's JSON result, and, with ``image_content=True``, also a
capped PNG preview of the result as an image content block, so a multimodal model can see it. The artifact
(kept by the app, never sent to the model) is the same result as a JSON-safe dict with paths and ids, so
checkpointers can store it. Every failure (a refused argument, an unreadable image, an error inside the
model) comes back as an error ``ToolMessage`` the model can read, never as an exception into the agent
loop. langchain-core is imported here only.
"""

from __future__ import annotations

import asyncio
import base64
import logging

from langchain_core.tools import StructuredTool, ToolException
from pydantic import ValidationError

from .catalog import ToolContext, invoke
from .preview import preview_png
from .registry import Registry, default_registry
from .schemas import ImageOut
from .spec import ToolError, ToolSpec, validation_message

logger = logging.getLogger(__name__)
DEFAULT_PREVIEW_BYTES = 256_000


def _preview_block(ctx: ToolContext, output, max_bytes: int) -> dict | None:
    from langchain_core.messages.content import create_image_block

    image = getattr(output, "image", None)
    if not isinstance(image, ImageOut):
        return None
    data = preview_png(ctx.store.read_bytes(image.id), max_bytes)
    return create_image_block(base64=base64.b64encode(data).decode(), mime_type="image/png")


def _tool(
    spec: ToolSpec, ctx: ToolContext, registry: Registry, image_content: bool, preview_bytes: int
) -> StructuredTool:
    def run(**kwargs):
        try:
            output = invoke(spec, kwargs, ctx, registry=registry)
            text = output.model_dump_json()
            block = _preview_block(ctx, output, preview_bytes) if image_content else None
        except ToolError as exc:
            raise ToolException(str(exc)) from None
        except (OSError, ValueError) as exc:  # an unreadable file or a refused value deeper down
            raise ToolException(f"{spec.name} failed: {exc}") from None
        except Exception as exc:  # unexpected: keep the traceback in the log, tell the model what failed
            logger.exception("tool %s failed", spec.name)
            raise ToolException(f"{spec.name} failed: {type(exc).__name__}: {exc}") from None
        content = text if block is None else [{"type": "text", "text": text}, block]
        return content, output.model_dump(mode="json")

    async def arun(**kwargs):
        return await asyncio.to_thread(run, **kwargs)

    def validation_error(exc: ValidationError) -> str:
        return f"{spec.name}: {validation_message(exc)}"

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=spec.name,
        description=spec.description,
        args_schema=spec.input_model,
        response_format="content_and_artifact",
        handle_tool_error=True,
        handle_validation_error=validation_error,
    )


def get_tools(
    ctx: ToolContext | None = None,
    *,
    registry: Registry | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    image_content: bool = False,
    preview_bytes: int = DEFAULT_PREVIEW_BYTES,
    **context_options,
) -> list:
    """The PixWizard tools for a LangChain agent.

    Args:
        ctx: A shared `ToolContext` (default: a new one from ``context_options``, see
            `pixwizard.tools.make_context`).
        registry: The tools to offer (default: `pixwizard.tools.default_registry`, which includes the agent
            tools: recipes, plan and run_plan).
        include: Only these tools (default: all of the registry).
        exclude: Leave these out.
        image_content: Put a PNG preview of each result image (at most ``preview_bytes``) into the tool
            message as an image content block, for multimodal models.
        preview_bytes: The preview's size cap.
        **context_options: Passed to `make_context` when ``ctx`` is None (e.g. ``model``, ``allow_dirs``).

    Returns:
        ``StructuredTool`` objects.
    """
    if ctx is not None and context_options:
        raise TypeError(f"get_tools got both a ctx and context options {sorted(context_options)}")
    if ctx is None:
        from . import make_context

        ctx = make_context(**context_options)
    chosen = (registry or default_registry()).select(include, exclude)
    return [_tool(spec, ctx, chosen, image_content, preview_bytes) for spec in chosen]
