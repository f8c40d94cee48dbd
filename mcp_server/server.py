"""The MCP server: every tool with input and output schemas, images as resources, workflow prompts.

Each tool result carries structured content (the tool's output model), the same JSON as text, a preview
image capped in bytes (so hosts that show images can), and a link to the full image resource
``pixwizard://images/{id}``. Generation runs in a worker thread; progress is reported per step and a
cancelled request stops the model within one step.
"""

from __future__ import annotations

import base64
import copy
import ctypes
import ctypes.util
import inspect
import json
import logging
import re
import secrets
import sys
import threading
import weakref
from typing import Annotated, Any

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError as MCPToolError
from mcp.types import CallToolResult, ImageContent, ResourceLink, TextContent, ToolAnnotations
from pixwizard.tools import Registry, ToolContext, ToolError, ToolSpec, invoke
from pixwizard.tools.preview import preview_png
from pixwizard.tools.schemas import ImageOut
from pixwizard.tools.spec import validation_message
from pydantic import BaseModel, ValidationError

from pixwizard import __version__

from .app import shows_image, workbench_apps, workbench_meta

logger = logging.getLogger(__name__)
DEFAULT_PREVIEW_BYTES = 256_000
STATUS_URI = "pixwizard://status"
MODELS_URI = "pixwizard://models"
# One limit per transport, for a whole JSON-RPC message: data: URIs count against it, paths and ids do not.
REQUEST_LIMITS = {"stdio": 16 * 2**20, "streamable-http": 16 * 2**20}
REQUEST_TOO_LARGE = "pixwizard/request_too_large"
STATELESS_FROM = "2026-07-28"  # the first protocol revision without sessions (a connection per request)

INSTRUCTIONS = (
    "PixWizard image tools. Pass images as file paths inside the allowed folders, data: URIs, or the ids / "
    "pixwizard://images/{id} URIs returned by earlier calls (chain calls by id). Results are stored images: "
    "read full resolution with resources/read. For several steps, call plan then run_plan (the plan's JSON "
    "Schema is the resource pixwizard://plan-schema). start_job runs a long call in the background."
)


def _result(output: BaseModel, ctx: ToolContext, preview_bytes: int) -> CallToolResult:
    """The MCP result of a tool output (reads and encodes files: call it off the event loop)."""
    content: list = [TextContent(text=output.model_dump_json())]
    image = getattr(output, "image", None)
    if isinstance(image, ImageOut):
        data = ctx.store.read_bytes(image.id)
        content.append(
            ImageContent(
                data=base64.b64encode(preview_png(data, preview_bytes)).decode(), mime_type="image/png"
            )
        )
        content.append(ResourceLink(name=image.id, uri=image.uri, mime_type="image/png", size=len(data)))
    return CallToolResult(content=content, structured_content=output.model_dump(mode="json"))


def _adapter(spec: ToolSpec, tctx: ToolContext, registry: Registry, preview_bytes: int):
    """An async MCP tool function whose signature is the spec's input model, field by field."""

    async def call(ctx: Context, **kwargs) -> Annotated[CallToolResult, spec.output_model]:
        args = spec.input_model.model_validate(kwargs)  # already checked in PixWizardServer.call_tool
        cancel = threading.Event()
        caller = caller_id(ctx)

        def progress(done: float, total: float) -> None:
            message = f"step {done:g}/{total:g}" if float(done).is_integer() else f"{done:.2f}/{total:g}"
            anyio.from_thread.run(ctx.report_progress, done, total, message)

        def work() -> CallToolResult:
            output = invoke(spec, args, tctx, progress, cancel, caller=caller, registry=registry)
            result = _result(output, tctx, preview_bytes)
            tctx.store.apply_cap()
            release_memory()
            return result

        try:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except ToolError as exc:
            raise MCPToolError(str(exc)) from None
        except anyio.get_cancelled_exc_class():
            cancel.set()  # the model stops within one step; nothing is stored
            raise
        except Exception as exc:  # unexpected: log the traceback, tell the client what failed
            logger.exception("tool %s failed", spec.name)
            raise MCPToolError(f"{spec.name} failed: {type(exc).__name__}: {exc}") from None

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


class PixWizardServer(MCPServer):
    """`MCPServer` with PixWizard's argument checks and a per-session status resource.

    Arguments are validated against the tool's own input model before the SDK sees them, so an unknown
    argument is refused by name (the SDK would drop it silently) and every refusal is one line per field.
    """

    def __init__(self, tctx: ToolContext, registry: Registry, **kwargs):
        super().__init__(**kwargs)
        self.tctx = tctx
        self.registry = registry

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None):
        """Check the arguments, then call the tool."""
        if name == REQUEST_TOO_LARGE or REQUEST_TOO_LARGE in arguments:
            info = arguments.get(REQUEST_TOO_LARGE, {})
            raise MCPToolError(request_too_large_message(info.get("bytes"), info.get("transport", "stdio")))
        spec = self.registry.get(name) if name in self.registry else None
        if spec is not None:
            try:
                spec.input_model.model_validate(arguments)
            except ValidationError as exc:
                raise MCPToolError(f"{name}: {validation_message(exc)}") from None
        return await super().call_tool(name, arguments, context)

    async def read_resource(self, uri, context: Context | None = None):
        """Read a resource; ``pixwizard://status`` shows the reading session's own jobs."""
        if str(uri) == STATUS_URI:
            caller = caller_id(context) if context is not None else None
            return [
                ReadResourceContents(content=status_json(self.tctx, caller), mime_type="application/json")
            ]
        return await super().read_resource(uri, context)


_CALLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def caller_id(ctx: Context) -> str | None:
    """A stable id for the MCP session of a request; None where the protocol has no sessions.

    Over HTTP the transport's session id; over stdio or in memory, the connection itself. The 2026
    protocol revision is stateless (a connection per request): there the job id alone is the handle, which
    is why job ids are long random tokens, and the status resource lists no job ids to such callers.
    """
    try:
        version = ctx.request_context.protocol_version or ""
        connection = ctx.session._connection  # the SDK exposes the connection only privately
    except Exception:  # no request context (called outside a request)
        return None
    if version >= STATELESS_FROM or connection is None:
        return None
    if connection.session_id:
        return f"http_{connection.session_id}"
    return _CALLERS.setdefault(connection, f"session_{secrets.token_hex(8)}")


def status_json(ctx: ToolContext, caller: str | None) -> str:
    """The status resource for one session: model, queue, its own jobs and the store."""
    backend = ctx.backend
    own = backend.jobs_of(caller) if caller is not None else {}
    jobs = {job_id: backend.status(job) for job_id, job in own.items()}
    return json.dumps(
        {
            "model": backend.model,
            "loaded": backend.loaded,
            "active_generations": backend.active,
            "generations_run": len(backend.intervals),
            "jobs": jobs,
            "jobs_of_other_sessions": len(backend.jobs) - len(jobs),
            "store": str(ctx.store.root),
            "allowed_dirs": [str(d) for d in ctx.store.access.read_dirs],
        }
    )


def request_too_large_message(size: int | None, transport: str) -> str:
    """The one message for a request above a transport's limit."""
    limit = REQUEST_LIMITS[transport]
    got = f" ({size / 2**20:.0f} MiB)" if size else ""
    return (
        f"the request{got} is larger than the {limit / 2**20:.0f} MiB limit of the {transport} transport; "
        "pass images as file paths in an allowed folder or as ids of stored images instead of data: URIs"
    )


def release_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps large freed decode buffers in per-thread arenas)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


_PROMPTS = {
    "remove_object": ("Remove an object.", "Call the remove_object tool on {image} with target='{target}'."),
    "replace_object": (
        "Replace an object with something else.",
        "Call the replace_object tool on {image} with target='{target}' and replacement='{replacement}'.",
    ),
    "add_object": (
        "Add an object at a place.",
        "Call the add_object tool on {image} with what='{what}' and where='{where}'.",
    ),
    "restore_then": (
        "Restore a damaged photo, then analyse it.",
        "Call the restore_then tool on {image} with problems='auto' (or the problems you see) and "
        "then='{then}'.",
    ),
}


def _text_resource(read):
    def resource() -> str:
        return read()

    return resource


def _prompt(text: str):
    """A prompt function whose parameters are the placeholders of ``text``."""
    names = re.findall(r"\{(\w+)\}", text)

    def prompt(**kwargs) -> str:
        return text.format(**kwargs)

    prompt.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=str) for n in names]
    )
    prompt.__annotations__ = dict.fromkeys(names, str) | {"return": str}
    return prompt


def models_json(ctx: ToolContext) -> str:
    """``pixwizard://models``: `available_models` with ``serving`` marking this server's model."""
    from pixwizard.pipeline.names import available_models

    rows = available_models()
    for row in rows:
        row["serving"] = row["name"] == ctx.backend.model
    if not any(row["serving"] for row in rows):
        rows.append(
            {"name": ctx.backend.model, "kind": "given", "location": ctx.backend.model, "note": "--model"}
            | {"default": False, "serving": True}
        )
    return json.dumps({"serving": ctx.backend.model, "models": rows}, indent=1)


def build_server(
    registry: Registry,
    ctx: ToolContext,
    *,
    preview_bytes: int = DEFAULT_PREVIEW_BYTES,
    workbench: bool = True,
) -> PixWizardServer:
    """A `PixWizardServer` exposing the registry's tools, image resources, the plan schema and prompts.

    Args:
        registry: The tools to serve (`pixwizard.tools.default_registry`, or a selection of it).
        ctx: The store and backend the tools share.
        preview_bytes: Cap of the PNG preview in each result.
        workbench: Offer the workbench MCP App (`mcp_server.app`) on every tool that returns an image.
            Its tools are the same for clients without Apps; only their ``_meta`` names the app.
    """
    apps = workbench_apps() if workbench else None
    server = PixWizardServer(
        ctx,
        registry,
        name="pixwizard",
        version=__version__,
        instructions=INSTRUCTIONS,
        extensions=[apps] if apps is not None else None,
    )
    for spec in registry:  # in the registry's order, which clients see
        hints = ToolAnnotations(
            read_only_hint=spec.hints.read_only,
            destructive_hint=spec.hints.destructive,
            idempotent_hint=spec.hints.idempotent,
            open_world_hint=spec.hints.open_world,
        )
        server.add_tool(
            _adapter(spec, ctx, registry, preview_bytes),
            name=spec.name,
            description=spec.description,
            annotations=hints,
            structured_output=True,
            meta=workbench_meta() if apps is not None and shows_image(spec) else None,
        )

    @server.resource(
        "pixwizard://images/{image_id}", mime_type="image/png", description="A stored image (PNG)."
    )
    async def image(image_id: str) -> bytes:
        try:
            return await anyio.to_thread.run_sync(ctx.store.read_bytes, image_id)
        except ToolError as exc:
            raise ValueError(str(exc)) from None

    @server.resource(
        STATUS_URI,
        mime_type="application/json",
        description="Model, queue, this session's jobs and the store (JSON).",
    )
    def status() -> str:
        return status_json(ctx, None)  # served by PixWizardServer.read_resource with the session

    @server.resource(
        MODELS_URI,
        mime_type="application/json",
        description="The models available offline, where they are, and which one this server runs (JSON).",
    )
    def models() -> str:
        return models_json(ctx)

    for resource in registry.resources:
        server.resource(resource.uri, mime_type=resource.mime_type, description=resource.description)(
            _text_resource(resource.read)
        )

    for name, (description, text) in _PROMPTS.items():
        if name in registry:
            server.prompt(name=name, description=description)(_prompt(text))
    return server
