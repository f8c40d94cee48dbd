"""Running a task end to end: instruction → prepared input → pipeline → decoded, typed result.

Uses only the pipeline's public API (``pipe(...)`` and ``pipe.codec`` for the VAE round trip).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from pixwizard.pipeline.image_processing import to_rgb
from pixwizard.tasks import decoders as dec
from pixwizard.tasks import inputs
from pixwizard.tasks.answers import (
    DepthAnswer,
    EdgeAnswer,
    ImageAnswer,
    LabelAnswer,
    NormalAnswer,
    RegionsAnswer,
)
from pixwizard.tasks.inputs import Prepared
from pixwizard.tasks.instructions import build_instruction
from pixwizard.tasks.registry import InputKind, OutputKind, TaskSpec, get_task
from pixwizard.tasks.results import (
    ClassShare,
    DepthResult,
    DepthStats,
    EdgeResult,
    GroundedObject,
    GroundingResult,
    ImageResult,
    NormalResult,
    SegmentResult,
)


def run_task(
    pipe,
    task: str,
    image: Image.Image | None = None,
    *,
    mask: Image.Image | np.ndarray | None = None,
    instruction: str | None = None,
    seed: int = 0,
    steps: int | None = None,
    text_guidance_scale: float | None = None,
    image_guidance_scale: float | None = None,
    preserve_unchanged: bool | None = None,
    resolution: int | list[int] | None = None,
    canvas_size: tuple[int, int] | None = None,
    ratio: float = 0.5,
    fill: str = "white",
    condition_from_photo: bool = False,
    callback_on_step_end=None,
    **slots: str,
) -> ImageResult:
    """Run ``task`` and decode its answer.

    Args:
        pipe: A `PixWizardPipeline`.
        task: A task name (see `pixwizard.tasks.TASKS`).
        image: The input (a photo, or for ``*_to_image`` the condition map; None for text-to-image).
        mask: For ``inpaint``: the region to fill (white/True), the image's size.
        instruction: Use this instruction instead of writing one from the slots.
        seed: Seed of the template choice and of the sampling noise.
        steps: Time-grid points (default: the task's).
        text_guidance_scale: Default: the task's.
        image_guidance_scale: Default: the task's.
        preserve_unchanged: Keep the original pixels outside the changed region (default: the task's;
            on for edit and inpaint).
        resolution: Resolution centres (default: the pipeline's).
        canvas_size: ``(w, h)`` for text-to-image (default: a square at the pipeline's centre).
        ratio: Outpainting: how much to add (see `inputs.outpaint_canvas`).
        fill: ``white`` or ``black`` for blank regions (inpaint, outpaint, canvases).
        condition_from_photo: For ``*_to_image``: ``image`` is a photo; compute its condition map first
            (Canny with OpenCV, the others with the model's own dense-prediction task).
        callback_on_step_end: Passed to the pipeline (progress, cancellation).
        **slots: The task's slots (caption, referring, color, edit, direction).

    Returns:
        The task's typed result (`DepthResult`, `SegmentResult`, `GroundingResult`, ...).
    """
    spec = get_task(task)
    instruction = instruction or build_instruction(task, seed=seed, **slots)
    # 1. Prepare the input the model sees.
    prepared = _prepare(
        pipe, spec, image, mask, slots, seed, canvas_size, ratio, fill, condition_from_photo, resolution
    )
    # 2. Run the model.
    out = call_model(
        pipe,
        spec,
        instruction,
        prepared,
        seed=seed,
        steps=steps,
        text_guidance_scale=text_guidance_scale,
        image_guidance_scale=image_guidance_scale,
        resolution=resolution,
        callback_on_step_end=callback_on_step_end,
    )
    bucket_image, bucket = out.bucket_images[0], out.buckets[0]
    # 3. Decode the answer, then wrap it with its run record.
    answer = dec.decode(
        task,
        bucket_image,
        prepared,
        color=slots.get("color"),
        preserve=preserve_unchanged,
        palette=label_palette(pipe),
        roundtrip=lambda array: vae_roundtrip(pipe, array),
    )
    size = prepared.image.size
    base = {
        "task": task,
        "instruction": instruction,
        "input_size": size,
        "processed_resolution": bucket,
        "warnings": list(out.notes),
        "bucket_image": bucket_image,
        "answer": answer,
    }
    if size[0] * size[1] > 2 * bucket[0] * bucket[1]:
        base["warnings"].append(_size_warning(spec, size, bucket))
    preserve = spec.preserve_unchanged if preserve_unchanged is None else preserve_unchanged
    return _WRAPPERS[spec.output](spec, prepared, answer, out.images[0], base, slots, preserve)


def call_model(
    pipe,
    spec: TaskSpec,
    instruction: str,
    prepared: Prepared,
    *,
    seed: int = 0,
    steps: int | None = None,
    text_guidance_scale: float | None = None,
    image_guidance_scale: float | None = None,
    resolution: int | list[int] | None = None,
    callback_on_step_end=None,
):
    """The model step of a task run: the pipeline on the prepared input with the task's defaults.

    Returns:
        The pipeline's output (``images``, ``bucket_images``, ``buckets``, ``notes``).
    """
    return pipe(
        instruction,
        image=prepared.image,
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=steps or spec.steps,
        text_guidance_scale=spec.text_guidance if text_guidance_scale is None else text_guidance_scale,
        image_guidance_scale=spec.image_guidance if image_guidance_scale is None else image_guidance_scale,
        resolution=resolution,
        callback_on_step_end=callback_on_step_end,
    )


def call_model_batch(
    pipe,
    spec: TaskSpec,
    instructions: Sequence[str],
    prepared: Sequence[Prepared],
    *,
    seeds: Sequence[int],
    steps: int | None = None,
    solver="euler",
):
    """`call_model` on several inputs of one task in one pipeline call (item ``i`` seeded with ``seeds[i]``).

    Each item draws its noise from its own generator, so its result is the one `call_model` gives it alone
    (up to floating-point summation order).
    """
    return pipe(
        list(instructions),
        image=[p.image for p in prepared],
        generator=[torch.Generator().manual_seed(seed) for seed in seeds],
        num_inference_steps=steps or spec.steps,
        text_guidance_scale=spec.text_guidance,
        image_guidance_scale=spec.image_guidance,
        solver=solver,
    )


def _size_warning(spec: TaskSpec, size: tuple[int, int], bucket: tuple[int, int]) -> str:
    """What it means that the model worked at fewer than half the pixels of the image it was given."""
    if spec.input is InputKind.BLANK:  # no input: the canvas is only the requested output size
        return (
            f"the model drew at {bucket[0]}x{bucket[1]} and the result was enlarged to the requested "
            f"{size[0]}x{size[1]}; ask for a size nearer the model's resolution for a sharper result"
        )
    return (
        f"the input ({size[0]}x{size[1]}) has more than twice the pixels the model processed "
        f"({bucket[0]}x{bucket[1]}): fine detail is lost; crop the region of interest for a sharper result"
    )


# ----------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------


def _prepare(
    pipe, spec: TaskSpec, image, mask, slots, seed, canvas_size, ratio, fill, from_photo, resolution
) -> Prepared:
    if spec.input is InputKind.BLANK:
        centre = resolution if isinstance(resolution, int) else (resolution or pipe.config.resolution)[0]
        return inputs.prepare(spec.name, image, canvas_size=canvas_size, default_side=centre, fill=fill)
    if image is None:
        raise ValueError(f"task {spec.name!r} needs an input image")
    image = to_rgb(image)
    if spec.input is InputKind.CONDITION and from_photo:
        source = spec.name.removesuffix("_to_image")
        if source == "canny":
            return Prepared(inputs.canny_map(image))
        dense = run_task(pipe, source, image, seed=seed, resolution=resolution)
        return Prepared(dense.image)
    direction = slots.get("direction") or "all"
    return inputs.prepare(spec.name, image, mask=mask, direction=direction, ratio=ratio, fill=fill)


def vae_roundtrip(pipe, image: np.ndarray) -> np.ndarray:
    """``image`` encoded (posterior mean) and decoded by the pipeline's VAE, as uint8 RGB."""
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
    decoded = pipe.codec.decode(pipe.codec.encode(pixels, sample=False)).float().clamp(-1, 1)
    return ((decoded[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# Typed results: an answer with its run record
# ----------------------------------------------------------------------------------------------------


def _similarity_outside(result: np.ndarray, original: np.ndarray, changed: np.ndarray) -> float:
    outside = ~changed
    if not outside.any():
        return 1.0
    diff = np.abs(result.astype(np.float32) - original.astype(np.float32))[outside]
    return float(1.0 - diff.mean() / 255.0)


def _image_result(spec, prepared, answer: ImageAnswer, final, base, slots, preserve) -> ImageResult:
    if prepared.original is None:  # generation: nothing to preserve
        return ImageResult(image=final, changed_fraction=1.0, similarity_outside=1.0, **base)
    kept = dec.as_array(prepared.image if spec.input is InputKind.EXTENDED else prepared.original)
    region = answer.region
    return ImageResult(
        image=Image.fromarray(answer.image),
        changed_fraction=float(region.mean()),
        similarity_outside=_similarity_outside(answer.image, kept, region),
        preserved=preserve,
        **base,
    )


def _simple_base(final, prepared, base) -> dict:
    original = np.asarray(prepared.image)
    result = np.asarray(final.convert("RGB"))
    changed = dec.changes(result, original)
    return {
        "image": final,
        "changed_fraction": float(changed.mean()),
        "similarity_outside": _similarity_outside(result, original, changed),
        **base,
    }


def _edges(spec, prepared, answer: EdgeAnswer, final, base, slots, preserve) -> EdgeResult:
    return EdgeResult(edge_density=float(answer.edges.mean()), **_simple_base(final, prepared, base))


def _depth(spec, prepared, answer: DepthAnswer, final, base, slots, preserve) -> DepthResult:
    values = answer.depth
    raw = dec.as_array(base["bucket_image"]).astype(np.float32).mean(-1) / 255.0
    raw_range = (float(raw.min()), float(raw.max()))
    p5, p50, p95 = (float(v) for v in np.percentile(values, [5, 50, 95]))
    stats = DepthStats(
        min=float(values.min()), max=float(values.max()), mean=float(values.mean()), p5=p5, p50=p50, p95=p95
    )
    if raw_range[1] - raw_range[0] < 0.05:
        base["warnings"].append("the depth output is nearly flat; the map carries little information")
    return DepthResult(depth=values, raw_range=raw_range, stats=stats, **_simple_base(final, prepared, base))


def _normal(spec, prepared, answer: NormalAnswer, final, base, slots, preserve) -> NormalResult:
    normals = answer.normals
    mean = normals.reshape(-1, 3).mean(0)
    mean = mean / max(float(np.linalg.norm(mean)), 1e-6)
    simple = _simple_base(final, prepared, base)
    simple["image"] = dec.normals_to_rgb(normals)
    return NormalResult(normals=normals, mean_normal=tuple(float(v) for v in mean), **simple)


def label_palette(pipe) -> dec.Palette:
    """The classes a model's segmentation colours stand for: PixWorld's for a model trained on it."""
    if pipe.config.encoder_kind == "world":
        from pixwizard.world.samples import world_palette  # the world builds on the tasks

        return world_palette()
    return dec.ade20k_palette()


def _segment(spec, prepared, answer: LabelAnswer, final, base, slots, preserve) -> SegmentResult:
    palette = answer.palette or dec.ade20k_palette()
    labels = answer.labels
    shares, unknown = dec.class_shares(labels, palette)
    return SegmentResult(
        labels=labels,
        classes=[
            ClassShare(
                label=label, name=name, fraction=fraction, color=tuple(int(c) for c in palette.colors[label])
            )
            for label, name, fraction in shares
        ],
        unknown_fraction=unknown,
        palette_verified=palette.verified,
        overlay=dec.overlay_labels(np.asarray(prepared.image), labels, palette),
        **_simple_base(final, prepared, base),
    )


def _grounding(spec, prepared, answer: RegionsAnswer, final, base, slots, preserve) -> GroundingResult:
    objects = []
    for region in answer.regions:
        ys, xs = np.nonzero(region.mask)
        objects.append(
            GroundedObject(
                box=region.box,
                area=int(region.mask.sum()),
                centroid=(float(xs.mean()), float(ys.mean())),
                confidence=round(region.confidence, 4),
                rle=dec.mask_to_rle(region.mask),
                mask=region.mask,
            )
        )
    return GroundingResult(
        referring=slots.get("referring", ""),
        mode=answer.mode,
        found=bool(objects),
        objects=objects,
        **_simple_base(final, prepared, base),
    )


_WRAPPERS = {
    OutputKind.IMAGE: _image_result,
    OutputKind.EDGES: _edges,
    OutputKind.DEPTH: _depth,
    OutputKind.NORMAL: _normal,
    OutputKind.SEGMENT: _segment,
    OutputKind.HIGHLIGHT: _grounding,
    OutputKind.BOX: _grounding,
    OutputKind.MASK: _grounding,
}
