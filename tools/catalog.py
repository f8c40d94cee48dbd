"""The tools: pure functions over typed arguments, and the registry of their specs.

Each generating tool loads its input reference (confined, size-checked), runs one task of
`pixwizard.tasks` through the shared backend, stores every image it produces under a new id with its
parents, and returns a typed output with provenance that can be replayed (the tool and its validated
arguments, references resolved to ids). ``start_job`` runs any generating tool in the background.
"""

from __future__ import annotations

import contextvars
import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pydantic import ValidationError

from pixwizard.tasks.registry import Family, tasks_in

from .backend import Backend, Job
from .registry import Registry
from .schemas import (
    AnnotateArgs,
    AnnotateOutput,
    Annotation,
    ControlArgs,
    DepthOutput,
    DescribeArgs,
    DescribeOutput,
    EditArgs,
    GroundArgs,
    GroundOutput,
    ImageArgs,
    ImageOut,
    InpaintArgs,
    JobArgs,
    JobOutput,
    ObjectOut,
    OutpaintArgs,
    Provenance,
    RestoreArgs,
    SegmentOutput,
    StartJobArgs,
    TextToImageArgs,
    Timings,
    ToolOutput,
)
from .spec import Hints, ToolError, ToolSpec, validation_message
from .store import ImageStore, Loaded, StoredImage

Progress = Callable[[float, float], None] | None


@dataclass(frozen=True)
class Call:
    """The call in progress: which tool, for whom, through which registry, and inside which plan step."""

    tool: str
    caller: str | None = None
    registry: Registry | None = None
    run_id: str | None = None
    step_id: str | None = None


CALL: contextvars.ContextVar[Call | None] = contextvars.ContextVar("pixwizard_call", default=None)


def current_call() -> Call:
    """The call in progress (a bare one outside `invoke`)."""
    return CALL.get() or Call(tool="")


@dataclass
class ToolContext:
    """What every tool call shares: the image store and the model backend."""

    store: ImageStore
    backend: Backend


def image_out(stored: StoredImage) -> ImageOut:
    """The JSON view of a stored image."""
    return ImageOut(
        id=stored.id,
        uri=stored.uri,
        path=str(stored.path),
        width=stored.width,
        height=stored.height,
        mode=stored.mode,
    )


# ----------------------------------------------------------------------------------------------------
# The shared path of every generating tool
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    result: object  # a pixwizard.tasks result
    stored: StoredImage
    parents: list[str]
    provenance: Provenance
    exported: str | None


def _inputs(ctx: ToolContext, args, *refs: str | None) -> list[Loaded | None]:
    """Every check that needs no model, in order: the output folder, then each input (read and decoded).

    A refused call therefore costs no model time and leaves nothing behind.
    """
    if getattr(args, "output_dir", None):
        ctx.store.check_output_dir(args.output_dir)
    return [None if ref is None else ctx.store.load(ref) for ref in refs]


def resolved_args(args, ids: dict[str, str]) -> dict:
    """The validated arguments as JSON, image references replaced by the store ids they were read as."""
    return args.model_dump(mode="json") | ids


def model_provenance(ctx: ToolContext, args, ids: dict[str, str], parents: list[str], **fields) -> Provenance:
    """Provenance of a call in progress (`current_call` gives the tool and the plan step)."""
    call = current_call()
    return Provenance(
        tool=call.tool,
        args=resolved_args(args, ids),
        parents=parents,
        run_id=call.run_id,
        step_id=call.step_id,
        **fields,
    )


_MODEL_FIELDS = ("model", "task", "instruction", "seed", "steps", "text_guidance", "image_guidance")


def store_call_result(
    ctx: ToolContext,
    args,
    ids: dict[str, str],
    image: Image.Image,
    *,
    parents: list[str] | None = None,
    run_s: float = 0.0,
    **fields,
) -> tuple[StoredImage, Provenance]:
    """Store an image made by the call in progress without a model run of its own, with its provenance.

    For the image operations and a recipe's final result; the model fields default to null.

    Args:
        ctx: The store.
        args: The call's validated arguments.
        ids: Its image arguments as store ids.
        image: The image to store.
        parents: Default: the ids, in order, once each.
        run_s: Seconds the work took.
        **fields: Provenance model fields to set (``model``, ``seed``, ...).
    """
    parents = parents if parents is not None else list(dict.fromkeys(ids.values()))
    fields = dict.fromkeys(_MODEL_FIELDS) | {"processed_resolution": None} | fields
    timings = Timings(queued_s=0.0, run_s=run_s)
    provenance = model_provenance(ctx, args, ids, parents, timings=timings, **fields)
    meta = {"task": None, "source": provenance.tool, "provenance": provenance.model_dump(mode="json")}
    return ctx.store.put(image, parents=parents, meta=meta), provenance


def call_registry() -> Registry:
    """The registry a tool built from other tools takes its building blocks from.

    The full registry of the calling face, even when the face offers only a selection of tools.
    """
    registry = current_call().registry
    if registry is not None:
        return registry.full
    from .registry import default_registry

    return default_registry()


def _run(
    ctx: ToolContext,
    args,
    task: str,
    loaded: Loaded | None,
    progress: Progress,
    cancel: threading.Event | None,
    extra_inputs: dict[str, Loaded] | None = None,
    **task_kwargs,
) -> _Run:
    from pixwizard.tasks import get_task, run_task

    spec = get_task(task)
    image = None if loaded is None else loaded.image
    steps = args.steps or spec.steps
    extra_inputs = extra_inputs or {}
    used = [x for x in (loaded, *extra_inputs.values()) if x is not None]

    def work(pipe, callback):
        return run_task(
            pipe,
            task,
            image,
            seed=args.seed,
            steps=steps,
            text_guidance_scale=args.text_guidance,
            image_guidance_scale=args.image_guidance,
            callback_on_step_end=callback,
            **task_kwargs,
        )

    with ctx.store.pinned([x.id for x in used]):
        try:
            result, queued, ran = ctx.backend.generate(work, progress, cancel, total=steps - 1)
        except ValueError as exc:  # bad slots, sizes or modes, refused by the task layer
            raise ToolError(str(exc)) from None
        ids = {"image": ctx.store.adopt(loaded)} if loaded is not None else {}
        ids |= {name: ctx.store.adopt(extra) for name, extra in extra_inputs.items()}
        parents = list(dict.fromkeys(ids.values()))
        provenance = model_provenance(
            ctx,
            args,
            ids,
            parents,
            model=ctx.backend.model,
            task=task,
            instruction=result.instruction,
            seed=args.seed,
            steps=steps,
            text_guidance=spec.text_guidance if args.text_guidance is None else args.text_guidance,
            image_guidance=spec.image_guidance if args.image_guidance is None else args.image_guidance,
            processed_resolution=result.processed_resolution,
            timings=Timings(queued_s=queued, run_s=ran),
        )
        meta = {"task": task, "source": "pixwizard", "provenance": provenance.model_dump(mode="json")}
        stored = ctx.store.put(result.image, parents=parents, meta=meta)
        exported = str(ctx.store.export(stored, args.output_dir)) if args.output_dir else None
    return _Run(result, stored, parents, provenance, exported)


def _common(run: _Run) -> dict:
    result = run.result
    return {
        "image": image_out(run.stored),
        "provenance": run.provenance,
        "changed_fraction": result.changed_fraction,
        "similarity_outside": result.similarity_outside,
        "exported_to": run.exported,
        "warnings": result.warnings,
    }


def _child(ctx: ToolContext, run: _Run, image: Image.Image, kind: str) -> StoredImage:
    meta = {"task": run.provenance.task, "source": kind, "provenance": run.provenance.model_dump(mode="json")}
    return ctx.store.put(image, parents=[run.stored.id, *run.parents], meta=meta)


# ----------------------------------------------------------------------------------------------------
# Tools
# ----------------------------------------------------------------------------------------------------


def restore(args: RestoreArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> ToolOutput:
    """Repair a photo."""
    (loaded,) = _inputs(ctx, args, args.image)
    return ToolOutput(**_common(_run(ctx, args, args.problem.value, loaded, progress, cancel)))


def ground(args: GroundArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> GroundOutput:
    """Find the referred object."""
    task = {"mask": "ground_mask", "box": "ground_box", "highlight": "ground_highlight"}[args.mode]
    slots = {"referring": args.referring} | ({} if args.mode == "mask" else {"color": args.color})
    try:
        from pixwizard.tasks.decoders import color_rgb

        color_rgb(args.color)
    except ValueError as exc:
        raise ToolError(str(exc)) from None
    (loaded,) = _inputs(ctx, args, args.image)
    run = _run(ctx, args, task, loaded, progress, cancel, **slots)
    objects = []
    for obj in run.result.objects:
        mask = _child(ctx, run, Image.fromarray(obj.mask.astype(np.uint8) * 255), "mask")
        objects.append(
            ObjectOut(
                box=obj.box,
                area=obj.area,
                centroid=obj.centroid,
                confidence=obj.confidence,
                mask=image_out(mask),
                rle=obj.rle,
            )
        )
    return GroundOutput(found=run.result.found, objects=objects, **_common(run))


def segment(args: ImageArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> SegmentOutput:
    """Label every pixel with a class (ADE20K; PixWorld's shapes with pixwizard-world)."""
    (loaded,) = _inputs(ctx, args, args.image)
    run = _run(ctx, args, "segment", loaded, progress, cancel)
    overlay = _child(ctx, run, run.result.overlay, "overlay")
    return SegmentOutput(
        classes=run.result.classes,
        unknown_fraction=run.result.unknown_fraction,
        palette_verified=run.result.palette_verified,
        overlay=image_out(overlay),
        **_common(run),
    )


def depth(args: ImageArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> DepthOutput:
    """Estimate depth."""
    (loaded,) = _inputs(ctx, args, args.image)
    run = _run(ctx, args, "depth", loaded, progress, cancel)
    result = run.result
    npy = io.BytesIO()
    np.save(npy, result.depth.astype(np.float32))
    npy_path = ctx.store.put_file(run.stored.id, "depth.npy", npy.getvalue())
    png16 = io.BytesIO()
    Image.fromarray(np.round(result.depth * 65535).astype(np.uint16)).save(png16, format="PNG")
    png16_path = ctx.store.put_file(run.stored.id, "depth16.png", png16.getvalue())
    grey = _child(ctx, run, Image.fromarray(np.round(result.depth * 255).astype(np.uint8)), "depth")
    common = _common(run) | {"image": image_out(grey)}
    return DepthOutput(
        convention=result.convention,
        stats=result.stats,
        npy_path=str(npy_path),
        png16_path=str(png16_path),
        **common,
    )


def edit(args: EditArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> ToolOutput:
    """Change the photo as instructed."""
    (loaded,) = _inputs(ctx, args, args.image)
    run = _run(
        ctx,
        args,
        "edit",
        loaded,
        progress,
        cancel,
        edit=args.instruction,
        preserve_unchanged=args.preserve_unchanged,
    )
    return ToolOutput(**_common(run))


def control_generate(
    args: ControlArgs, ctx: ToolContext, progress: Progress = None, cancel=None
) -> ToolOutput:
    """Generate from a condition map and a caption."""
    (loaded,) = _inputs(ctx, args, args.image)
    run = _run(
        ctx,
        args,
        f"{args.condition.value}_to_image",
        loaded,
        progress,
        cancel,
        caption=args.caption,
        condition_from_photo=args.from_photo,
    )
    return ToolOutput(**_common(run))


def inpaint(args: InpaintArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> ToolOutput:
    """Fill a masked region."""
    loaded, mask = _inputs(ctx, args, args.image, args.mask)
    slots = {"caption": args.caption} if args.caption else {}
    run = _run(
        ctx,
        args,
        "inpaint",
        loaded,
        progress,
        cancel,
        {"mask": mask},
        mask=mask.image,
        fill=args.fill,
        preserve_unchanged=args.preserve_unchanged,
        **slots,
    )
    return ToolOutput(**_common(run))


def outpaint(args: OutpaintArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> ToolOutput:
    """Extend the photo beyond its borders."""
    slots = {"caption": args.caption} if args.caption else {}
    (loaded,) = _inputs(ctx, args, args.image)
    _check_outpaint_size(loaded.image.size, args.direction, args.ratio, ctx.store.limits.max_pixels)
    run = _run(
        ctx,
        args,
        "outpaint",
        loaded,
        progress,
        cancel,
        direction=args.direction,
        ratio=args.ratio,
        **slots,
    )
    return ToolOutput(**_common(run))


def text_to_image(
    args: TextToImageArgs, ctx: ToolContext, progress: Progress = None, cancel=None
) -> ToolOutput:
    """Draw from a description."""
    _inputs(ctx, args)
    run = _run(
        ctx,
        args,
        "text_to_image",
        None,
        progress,
        cancel,
        caption=args.caption,
        canvas_size=(args.width, args.height),
    )
    return ToolOutput(**_common(run))


def annotate(args: AnnotateArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> AnnotateOutput:
    """Draw an annotation map (normals, edges, sketch, line art, pose)."""
    (loaded,) = _inputs(ctx, args, args.image)
    run = _run(ctx, args, args.kind.value, loaded, progress, cancel)
    result = run.result
    extra = {"edge_density": None, "mean_normal": None, "npy_path": None}
    if args.kind.value == "normal":
        npy = io.BytesIO()
        np.save(npy, result.normals.astype(np.float32))
        extra["mean_normal"] = result.mean_normal
        extra["npy_path"] = str(ctx.store.put_file(run.stored.id, "normals.npy", npy.getvalue()))
    else:
        extra["edge_density"] = result.edge_density
    return AnnotateOutput(**extra, **_common(run))


def describe_image(
    args: DescribeArgs, ctx: ToolContext, progress: Progress = None, cancel=None
) -> DescribeOutput:
    """Size, mode and lineage of an image; nothing is written (an outside input is only hashed)."""
    loaded = ctx.store.load(args.image)
    if loaded.id is not None:  # a stored image: describe it, not its loading
        stored = ctx.store.get(loaded.id)
        return DescribeOutput(
            id=stored.id,
            width=stored.width,
            height=stored.height,
            mode=stored.mode,
            parents=stored.parents,
            lineage=ctx.store.lineage(stored.id),
            task=stored.meta.get("task"),
        )
    image = loaded.image
    return DescribeOutput(
        id=None,
        width=image.width,
        height=image.height,
        mode=image.mode,
        parents=[],
        lineage=[],
        source=loaded.source,
        sha256=loaded.sha256,
        bytes=loaded.size,
    )


def _check_outpaint_size(size: tuple[int, int], direction: str, ratio: float, max_pixels: int) -> None:
    """Refuse an outpaint whose result would exceed the pixel limit, naming the largest ratio that fits."""
    w, h = size
    grow = (1 + ratio) ** 2 if direction == "all" else 1 + ratio
    if w * h * grow <= max_pixels:
        return
    room = max_pixels / (w * h)
    best = (room**0.5 if direction == "all" else room) - 1
    hint = f"use ratio <= {math.floor(best * 100) / 100:g}" if best >= 0.01 else "downscale the image first"
    raise ToolError(
        f"outpainting {w}x{h} by ratio {ratio:g} ({direction}) would give about {w * h * grow / 1e6:.3g} MP, "
        f"above the {max_pixels / 1e6:.3g} MP limit; {hint}"
    )


def _job_view(ctx: ToolContext, job: Job, with_result: bool) -> JobOutput:
    status = ctx.backend.status(job)
    view = JobOutput(job_id=job.id, tool=job.tool, status=status, progress=job.progress)
    if status in ("failed", "cancelled"):
        view.error = str(job.future.exception())
    elif status == "done" and with_result:
        view.result = job.future.result().model_dump(mode="json")
    return view


def start_job(args: StartJobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """Run a generating tool (or a whole plan) in the background; returns the job at once.

    The arguments are validated now, so a bad call fails here and not later in the job.
    """
    call = current_call()
    registry = call.registry
    if registry is None:
        raise ToolError("start_job needs the registry of the face that called it")
    spec = registry.get(args.tool)
    if not spec.generates:
        runnable = [s.name for s in registry if s.generates]
        raise ToolError(
            f"{args.tool} is instant and needs no job; call it directly",
            suggestions=[f"start_job runs: {', '.join(runnable)}"],
        )
    try:
        tool_args = spec.input_model.model_validate(args.args)
    except ValidationError as exc:
        raise ToolError(f"{args.tool}: {validation_message(exc)}") from None
    if spec.precheck is not None:
        spec.precheck(tool_args, registry)  # e.g. run_plan validates its plan before the job is queued

    def work(job: Job):
        def track(done: float, total: float) -> None:
            job.progress = (done, total)

        token = CALL.set(Call(tool=spec.name, caller=call.caller, registry=registry))
        try:
            return spec.fn(tool_args, ctx, track, job.cancel)
        finally:
            CALL.reset(token)

    job = ctx.backend.submit(work, owner=call.caller, tool=spec.name)
    return _job_view(ctx, job, with_result=False)


def job_status(args: JobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """Where a background job is."""
    return _job_view(ctx, ctx.backend.job(args.job_id, current_call().caller), with_result=False)


def job_result(args: JobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """A background job's result (``status`` says if it is not done yet)."""
    return _job_view(ctx, ctx.backend.job(args.job_id, current_call().caller), with_result=True)


def job_cancel(args: JobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """Cancel a background job; it stops within one sampling step and writes nothing."""
    job = ctx.backend.job(args.job_id, current_call().caller)
    job.cancel.set()
    return _job_view(ctx, job, with_result=False)


# ----------------------------------------------------------------------------------------------------
# Calling a spec (the one path every face uses)
# ----------------------------------------------------------------------------------------------------


def invoke(
    spec: ToolSpec,
    args,
    ctx: ToolContext,
    progress: Progress = None,
    cancel: threading.Event | None = None,
    *,
    caller: str | None = None,
    registry: Registry | None = None,
    step: tuple[str, str] | None = None,
):
    """Validate ``args`` (a model or a dict) and call the tool.

    Args:
        spec: The tool.
        args: Its arguments.
        ctx: The shared store and backend.
        progress: ``progress(done, total)`` per sampling step.
        cancel: Set it to stop the model within one step.
        caller: Who calls (an MCP session): jobs are seen and cancelled only by the caller that started them.
        registry: The tools of the calling face (``start_job`` and plans look tools up there).
        step: ``(run_id, step_id)`` when a plan makes the call (recorded in provenance).

    Raises:
        ToolError: A refused argument (one line per field) or a failed call.
    """
    if not isinstance(args, spec.input_model):
        try:
            args = spec.input_model.model_validate(args)
        except ValidationError as exc:
            raise ToolError(validation_message(exc)) from None
    outer = CALL.get()
    if registry is None and outer is not None:
        registry = outer.registry
    if caller is None and outer is not None:
        caller = outer.caller
    # A call made inside another (a recipe's ground, a plan step's inner calls) belongs to the same step.
    run_id, step_id = step or ((outer.run_id, outer.step_id) if outer is not None else (None, None))
    token = CALL.set(Call(spec.name, caller, registry, run_id, step_id))
    try:
        return spec.fn(args, ctx, progress, cancel)
    finally:
        CALL.reset(token)


_W = Hints(read_only=False, destructive=False, idempotent=False)
_R = Hints(read_only=True, destructive=False, idempotent=True)


def _tasks(family: Family | None = None, *names: str) -> tuple[str, ...]:
    if family is None:
        return names
    return tuple(spec.name for spec in tasks_in(family) if not names or spec.name in names)


_ANNOTATIONS = tuple(a.value for a in Annotation)

BUILTIN: list[ToolSpec] = [
    ToolSpec(
        "restore",
        "Repair a damaged photo: noise, rain, moiré, haze, blur, snow, shadows, low light, "
        "glare, degraded faces, watermarks, or low resolution. Returns the restored image.",
        RestoreArgs,
        ToolOutput,
        restore,
        _W,
        examples=({"image": "photo.png", "problem": "derain"},),
        tasks=_tasks(Family.RESTORATION),
    ),
    ToolSpec(
        "ground",
        "Find an object described in words. Returns whether it was found, its box, area, "
        "centroid and confidence, and its mask as an image id usable as an inpaint mask.",
        GroundArgs,
        GroundOutput,
        ground,
        _W,
        examples=({"image": "photo.png", "referring": "the dog"},),
        tasks=_tasks(Family.GROUNDING),
    ),
    ToolSpec(
        "segment",
        "Semantic segmentation with the 150 ADE20K classes (pixwizard-world: PixWorld's shape classes): "
        "classes by area with their colours, a colour map and an overlay.",
        ImageArgs,
        SegmentOutput,
        segment,
        _W,
        tasks=("segment",),
    ),
    ToolSpec(
        "depth",
        "Estimate a depth map: statistics (1 = nearest), a greyscale image, .npy and 16-bit PNG files.",
        ImageArgs,
        DepthOutput,
        depth,
        _W,
        tasks=("depth",),
    ),
    ToolSpec(
        "edit",
        "Edit a photo with an instruction (add, remove, replace, background, style, colour). "
        "Pixels outside the changed region are kept exactly.",
        EditArgs,
        ToolOutput,
        edit,
        _W,
        tasks=("edit",),
    ),
    ToolSpec(
        "control_generate",
        "Generate an image from a condition map (canny, depth, hed, sketch, pose, "
        "segment, normal, lineart) and a caption; from_photo computes the map from a photo first.",
        ControlArgs,
        ToolOutput,
        control_generate,
        _W,
        tasks=_tasks(Family.CONTROL),
    ),
    ToolSpec(
        "inpaint",
        "Fill the white region of a mask with new content (optionally described); the rest "
        "of the photo is kept exactly.",
        InpaintArgs,
        ToolOutput,
        inpaint,
        _W,
        tasks=("inpaint",),
    ),
    ToolSpec(
        "outpaint",
        "Extend a photo beyond its borders (left, right, top, bottom or all sides).",
        OutpaintArgs,
        ToolOutput,
        outpaint,
        _W,
        tasks=("outpaint",),
    ),
    ToolSpec(
        "text_to_image",
        "Draw a new image from a description.",
        TextToImageArgs,
        ToolOutput,
        text_to_image,
        _W,
        tasks=("text_to_image",),
    ),
    ToolSpec(
        "annotate",
        "Draw an annotation map of a photo: surface normals, Canny or HED edges, a sketch, "
        "line art, or human pose.",
        AnnotateArgs,
        AnnotateOutput,
        annotate,
        _W,
        tasks=_ANNOTATIONS,
    ),
    ToolSpec(
        "describe_image",
        "Size, mode and lineage (which calls produced it from which images) of an image.",
        DescribeArgs,
        DescribeOutput,
        describe_image,
        _R,
        generates=False,
    ),
    ToolSpec(
        "start_job",
        "Run a long tool call (any model tool, or run_plan) in the background: returns a job id at once; "
        "poll job_status, fetch job_result, or job_cancel.",
        StartJobArgs,
        JobOutput,
        start_job,
        _W,
        generates=False,
        examples=({"tool": "depth", "args": {"image": "photo.png"}},),
    ),
    ToolSpec(
        "job_status",
        "Status and progress of a job started with start_job.",
        JobArgs,
        JobOutput,
        job_status,
        _R,
        generates=False,
    ),
    ToolSpec(
        "job_result",
        "The result of a job started with start_job (status says if it is not done).",
        JobArgs,
        JobOutput,
        job_result,
        _R,
        generates=False,
    ),
    ToolSpec(
        "job_cancel",
        "Cancel a job started with start_job; it stops within one step and writes nothing.",
        JobArgs,
        JobOutput,
        job_cancel,
        Hints(idempotent=True),
        generates=False,
    ),
]
