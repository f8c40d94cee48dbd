"""The tools: pure functions over typed arguments, and the registry of their specs.

Each generating tool loads its input reference (confined, size-checked), runs one task of
`pixwizard.tasks` through the shared backend, stores every image it produces under a new id with its
parents, and returns a typed output with provenance. ``wait=false`` turns any of them into a job.
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

from .backend import Backend, Job
from .schemas import (
    AnnotateArgs,
    AnnotateOutput,
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
    InstructionArgs,
    InstructionOutput,
    JobArgs,
    JobOutput,
    ObjectOut,
    OutpaintArgs,
    Provenance,
    RestoreArgs,
    SegmentOutput,
    TextToImageArgs,
    Timings,
    ToolOutput,
)
from .spec import Hints, ToolError, ToolSpec, validation_message
from .store import ImageStore, Loaded, StoredImage

Progress = Callable[[int, int], None] | None
CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("pixwizard_caller", default=None)


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


def _run(
    ctx: ToolContext,
    args,
    task: str,
    loaded: Loaded | None,
    progress: Progress,
    cancel: threading.Event | None,
    extra_inputs: tuple[Loaded, ...] = (),
    **task_kwargs,
) -> _Run:
    from pixwizard.tasks import get_task, run_task

    spec = get_task(task)
    image = None if loaded is None else loaded.image
    steps = args.steps or spec.steps
    used = [x for x in (loaded, *extra_inputs) if x is not None]

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
        parents = [ctx.store.adopt(loaded)] if loaded is not None else []
        provenance = Provenance(
            model=ctx.backend.model,
            task=task,
            instruction=result.instruction,
            seed=args.seed,
            steps=steps,
            text_guidance=spec.text_guidance if args.text_guidance is None else args.text_guidance,
            image_guidance=spec.image_guidance if args.image_guidance is None else args.image_guidance,
            processed_resolution=result.processed_resolution,
            timings=Timings(queued_s=queued, run_s=ran),
            parents=parents,
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
    return ctx.store.put(
        image, parents=[run.stored.id, *run.parents], meta={"task": run.provenance.task, "source": kind}
    )


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
    """Label every pixel with an ADE20K class."""
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
        (mask,),
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
    extra = {}
    if args.kind.value == "normal":
        npy = io.BytesIO()
        np.save(npy, result.normals.astype(np.float32))
        extra = {
            "mean_normal": result.mean_normal,
            "npy_path": str(ctx.store.put_file(run.stored.id, "normals.npy", npy.getvalue())),
        }
    else:
        extra = {"edge_density": result.edge_density}
    return AnnotateOutput(**extra, **_common(run))


def run_instruction(
    args: InstructionArgs, ctx: ToolContext, progress: Progress = None, cancel=None
) -> InstructionOutput:
    """Route a free-form request to a task and run it."""
    from pixwizard.tasks import get_task, route
    from pixwizard.tasks.registry import InputKind

    routed = route(args.request)
    if routed.unsure:
        options = [f"{c.task} ({c.confidence:.2f})" for c in routed.candidates]
        raise ToolError(
            f"not sure which image task this is: {routed.reason}",
            suggestions=[f"rephrase, or call a specific tool; closest: {', '.join(options)}"],
        )
    spec = get_task(routed.task)
    if spec.input is InputKind.MASKED:
        raise ToolError("inpainting needs a mask", suggestions=["call the inpaint tool with image and mask"])
    image = None if spec.input is InputKind.BLANK else args.image
    if image is None and spec.input is not InputKind.BLANK:
        raise ToolError(f"{routed.task} needs an input image; pass image")
    missing = [s for s in spec.required if s not in routed.slots]
    if missing:
        raise ToolError(f"{routed.task} needs {', '.join(missing)}, which the request does not state")
    (loaded,) = _inputs(ctx, args, image)
    run = _run(ctx, args, routed.task, loaded, progress, cancel, instruction=args.request, **routed.slots)
    details = run.result.model_dump(
        mode="json",
        exclude={
            "task",
            "instruction",
            "warnings",
            "input_size",
            "processed_resolution",
            "changed_fraction",
            "similarity_outside",
            "preserved",
        },
    )
    return InstructionOutput(
        task=routed.task, confidence=routed.candidates[0].confidence, details=details, **_common(run)
    )


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
    view = JobOutput(job_id=job.id, status=status, progress=job.progress)
    if status in ("failed", "cancelled"):
        view.error = str(job.future.exception())
    elif status == "done" and with_result:
        view.result = job.future.result().model_dump(mode="json")
    return view


def job_status(args: JobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """Where a background job is."""
    return _job_view(ctx, ctx.backend.job(args.job_id, CALLER.get()), with_result=False)


def job_result(args: JobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """A background job's result (``status`` says if it is not done yet)."""
    return _job_view(ctx, ctx.backend.job(args.job_id, CALLER.get()), with_result=True)


def job_cancel(args: JobArgs, ctx: ToolContext, progress: Progress = None, cancel=None) -> JobOutput:
    """Cancel a background job; it stops within one sampling step and writes nothing."""
    job = ctx.backend.job(args.job_id, CALLER.get())
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
):
    """Validate ``args`` (a model or a dict) and call the tool; ``wait=false`` submits a job instead.

    Args:
        spec: The tool.
        args: Its arguments.
        ctx: The shared store and backend.
        progress: ``progress(step, total)`` per sampling step.
        cancel: Set it to stop the model within one step.
        caller: Who calls (an MCP session): jobs are seen and cancelled only by the caller that started them.

    Raises:
        ToolError: A refused argument (one line per field) or a failed call.
    """
    if not isinstance(args, spec.input_model):
        try:
            args = spec.input_model.model_validate(args)
        except ValidationError as exc:
            raise ToolError(validation_message(exc)) from None
    token = CALLER.set(caller)
    try:
        return _call(spec, args, ctx, progress, cancel, caller)
    finally:
        CALLER.reset(token)


def _call(spec: ToolSpec, args, ctx: ToolContext, progress, cancel, caller):
    if spec.generates and not args.wait:

        def work(job: Job):
            def track(step: int, total: int) -> None:
                job.progress = (step, total)

            return spec.fn(args.model_copy(update={"wait": True}), ctx, track, job.cancel)

        job = ctx.backend.submit(work, owner=caller)
        return spec.output_model(status="queued", job_id=job.id)
    return spec.fn(args, ctx, progress, cancel)


_W = Hints(read_only=False, destructive=False, idempotent=False)
_R = Hints(read_only=True, destructive=False, idempotent=True)

REGISTRY: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec(
            "restore",
            "Repair a damaged photo: noise, rain, moiré, haze, blur, snow, shadows, low light, "
            "glare, degraded faces, watermarks, or low resolution. Returns the restored image.",
            RestoreArgs,
            ToolOutput,
            restore,
            _W,
            examples=({"image": "photo.png", "problem": "derain"},),
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
        ),
        ToolSpec(
            "segment",
            "Semantic segmentation with the 150 ADE20K classes: classes by area, a colour map "
            "and an overlay.",
            ImageArgs,
            SegmentOutput,
            segment,
            _W,
        ),
        ToolSpec(
            "depth",
            "Estimate a depth map: statistics (1 = nearest), a greyscale image, .npy and 16-bit PNG files.",
            ImageArgs,
            DepthOutput,
            depth,
            _W,
        ),
        ToolSpec(
            "edit",
            "Edit a photo with an instruction (add, remove, replace, background, style, colour). "
            "Pixels outside the changed region are kept exactly.",
            EditArgs,
            ToolOutput,
            edit,
            _W,
        ),
        ToolSpec(
            "control_generate",
            "Generate an image from a condition map (canny, depth, hed, sketch, pose, "
            "segment, normal, lineart) and a caption; from_photo computes the map from a photo first.",
            ControlArgs,
            ToolOutput,
            control_generate,
            _W,
        ),
        ToolSpec(
            "inpaint",
            "Fill the white region of a mask with new content (optionally described); the rest "
            "of the photo is kept exactly.",
            InpaintArgs,
            ToolOutput,
            inpaint,
            _W,
        ),
        ToolSpec(
            "outpaint",
            "Extend a photo beyond its borders (left, right, top, bottom or all sides).",
            OutpaintArgs,
            ToolOutput,
            outpaint,
            _W,
        ),
        ToolSpec(
            "text_to_image",
            "Draw a new image from a description.",
            TextToImageArgs,
            ToolOutput,
            text_to_image,
            _W,
        ),
        ToolSpec(
            "annotate",
            "Draw an annotation map of a photo: surface normals, Canny or HED edges, a sketch, "
            "line art, or human pose.",
            AnnotateArgs,
            AnnotateOutput,
            annotate,
            _W,
        ),
        ToolSpec(
            "run_instruction",
            "Do what a free-form request asks (the task is recognised automatically); "
            "says which task ran. Refuses requests it cannot map to one task.",
            InstructionArgs,
            InstructionOutput,
            run_instruction,
            _W,
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
            "job_status",
            "Status and progress of a job started with wait=false.",
            JobArgs,
            JobOutput,
            job_status,
            _R,
            generates=False,
        ),
        ToolSpec(
            "job_result",
            "The result of a job started with wait=false (status says if it is not done).",
            JobArgs,
            JobOutput,
            job_result,
            _R,
            generates=False,
        ),
        ToolSpec(
            "job_cancel",
            "Cancel a job started with wait=false; it stops within one step and writes nothing.",
            JobArgs,
            JobOutput,
            job_cancel,
            Hints(idempotent=True),
            generates=False,
        ),
    ]
}


def get_tool(name: str) -> ToolSpec:
    """A tool spec by name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ToolError(f"unknown tool {name!r}", suggestions=[f"one of: {', '.join(REGISTRY)}"]) from None
