"""The MCP server: every tool with input and output schemas, images as resources, workflow prompts.

Each tool result carries structured content (the tool's output model), the same JSON as text, a preview
image capped in bytes (so hosts that show images can), and a link to the full image resource
``pixwizard://images/{id}``. Generation runs in a worker thread; progress is reported per step and a
cancelled request stops the model within one step.
"""

from __future__ import annotations

import base64
import copy
import inspect
import io
import json
import logging
import threading
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent, ToolAnnotations
from PIL import Image
from pixwizard.tools import REGISTRY, ToolContext, ToolError, ToolSpec, invoke
from pydantic import BaseModel, ValidationError

from pixwizard import __version__

logger = logging.getLogger(__name__)
DEFAULT_PREVIEW_BYTES = 256_000

INSTRUCTIONS = (
    "PixWizard image tools. Pass images as file paths inside the allowed folders, data: URIs, or the ids / "
    "pixwizard://images/{id} URIs returned by earlier calls (chain calls by id). Results are stored images: "
    "read full resolution with resources/read. Long calls accept wait=false and return a job id."
)


def preview_png(path, max_bytes: int) -> bytes:
    """A PNG of the image, downscaled until it fits in ``max_bytes``."""
    image = Image.open(path)
    image.load()
    while True:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        if buffer.tell() <= max_bytes or min(image.size) <= 16:
            return buffer.getvalue()
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS
        )


def _result(output: BaseModel, ctx: ToolContext, preview_bytes: int) -> CallToolResult:
    content: list = [TextContent(text=output.model_dump_json())]
    image = getattr(output, "image", None)
    if image is not None:
        stored = ctx.store.get(image.id)
        data = preview_png(stored.path, preview_bytes)
        content.append(ImageContent(data=base64.b64encode(data).decode(), mime_type="image/png"))
        content.append(
            ResourceLink(name=image.id, uri=image.uri, mime_type="image/png", size=stored.path.stat().st_size)
        )
    return CallToolResult(content=content, structured_content=output.model_dump(mode="json"))


def _adapter(spec: ToolSpec, tctx: ToolContext, preview_bytes: int):
    """An async MCP tool function whose signature is the spec's input model, field by field."""

    async def call(ctx: Context, **kwargs) -> Annotated[CallToolResult, spec.output_model]:
        try:
            args = spec.input_model.model_validate(kwargs)
        except ValidationError as exc:
            raise MCPToolError(str(exc)) from None
        cancel = threading.Event()

        def progress(step: int, total: int) -> None:
            anyio.from_thread.run(ctx.report_progress, step, total, f"step {step}/{total}")

        try:
            output = await anyio.to_thread.run_sync(
                lambda: invoke(spec, args, tctx, progress, cancel), abandon_on_cancel=True
            )
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None
        except anyio.get_cancelled_exc_class():
            cancel.set()  # the model stops within one step; nothing is stored
            raise
        except Exception as exc:  # unexpected: log the traceback, tell the client what failed
            logger.exception("tool %s failed", spec.name)
            raise MCPToolError(f"{spec.name} failed: {type(exc).__name__}: {exc}") from None
        return _result(output, tctx, preview_bytes)

    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    for name, field in spec.input_model.model_fields.items():
        info = copy.copy(field)
        default = inspect.Parameter.empty if field.is_required() else field.default
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[field.annotation, info],
            )
        )
    returns = Annotated[CallToolResult, spec.output_model]
    call.__signature__ = inspect.Signature(params, return_annotation=returns)
    call.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    call.__name__ = spec.name
    return call


def build_server(ctx: ToolContext, *, preview_bytes: int = DEFAULT_PREVIEW_BYTES) -> MCPServer:
    """An `MCPServer` exposing every registered tool, image resources and workflow prompts."""
    server = MCPServer("pixwizard", version=__version__, instructions=INSTRUCTIONS)
    for spec in REGISTRY.values():
        hints = ToolAnnotations(
            read_only_hint=spec.hints.read_only,
            destructive_hint=spec.hints.destructive,
            idempotent_hint=spec.hints.idempotent,
            open_world_hint=spec.hints.open_world,
        )
        server.add_tool(
            _adapter(spec, ctx, preview_bytes),
            name=spec.name,
            description=spec.description,
            annotations=hints,
            structured_output=True,
        )

    @server.resource(
        "pixwizard://images/{image_id}", mime_type="image/png", description="A stored image (PNG)."
    )
    def image(image_id: str) -> bytes:
        try:
            return ctx.store.get(image_id).path.read_bytes()
        except ToolError as exc:
            raise ValueError(str(exc)) from None

    @server.resource("pixwizard://status", mime_type="application/json", description="Model, queue and jobs.")
    def status() -> str:
        backend = ctx.backend
        jobs = {job_id: backend.status(job) for job_id, job in backend.jobs.items()}
        return json.dumps(
            {
                "model": backend.model,
                "loaded": backend.loaded,
                "active_generations": backend.active,
                "generations_run": len(backend.intervals),
                "jobs": jobs,
                "store": str(ctx.store.root),
                "allowed_dirs": [str(d) for d in ctx.store.access.read_dirs],
            }
        )

    @server.prompt(description="Remove an object: find its mask, then inpaint it away.")
    def remove_object(image: str, target: str) -> str:
        return (
            f"Remove {target} from the image {image}. First call ground with mode='mask' and "
            f"referring='{target}'. If found, call inpaint on the same image with mask set to the first "
            "object's mask id and no caption. Report the final image id."
        )

    @server.prompt(description="Replace an object with something else.")
    def replace_object(image: str, target: str, replacement: str) -> str:
        return (
            f"Replace {target} in the image {image} with {replacement}. Call ground with mode='mask' and "
            f"referring='{target}', then inpaint with that mask id and caption='{replacement}'."
        )

    @server.prompt(description="Add an object inside a region.")
    def add_object(image: str, what: str, mask: str) -> str:
        return f"Add {what} to the image {image}: call inpaint with mask='{mask}' and caption='{what}'."

    @server.prompt(description="Restore a damaged photo, then analyse it.")
    def restore_then_analyse(image: str, problem: str) -> str:
        return (
            f"Restore the image {image} with restore (problem='{problem}'), then call depth and segment on "
            "the restored image id and summarise the scene."
        )

    return server
