"""Running a task end to end: instruction → prepared input → pipeline → decoded, typed result.

Uses only the pipeline's public API (``pipe(...)`` and ``pipe.codec`` for the VAE round trip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pixwizard.pipeline.image_processing import resize_to, to_rgb
from pixwizard.tasks import decoders as dec
from pixwizard.tasks import inputs
from pixwizard.tasks.instructions import build_instruction
from pixwizard.tasks.registry import DEFAULT_COLOR, InputKind, OutputKind, TaskSpec, get_task
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

CHANGE_THRESHOLD = 0.12  # |Δ| (0-1, max over channels) that counts as a change in edit results
DILATION = 0.02  # of the processed image's longer side: margin kept around changed pixels


@dataclass
class _Prepared:
    image: Image.Image  # what the model sees (before its bucket resize)
    region: np.ndarray | None  # pixels meant to change (inpaint mask, outpaint border), at image size
    original: Image.Image | None  # the user's photo, when the prepared image embeds it
    placement: tuple[int, int, int, int] | None = None


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
    prepared = _prepare(
        pipe, spec, image, mask, slots, seed, canvas_size, ratio, fill, condition_from_photo, resolution
    )
    out = pipe(
        instruction,
        image=prepared.image,
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=steps or spec.steps,
        text_guidance_scale=spec.text_guidance if text_guidance_scale is None else text_guidance_scale,
        image_guidance_scale=spec.image_guidance if image_guidance_scale is None else image_guidance_scale,
        resolution=resolution,
        callback_on_step_end=callback_on_step_end,
    )
    bucket_image, bucket = out.bucket_images[0], out.buckets[0]
    size = prepared.image.size
    base = {
        "task": task,
        "instruction": instruction,
        "input_size": size,
        "processed_resolution": bucket,
        "warnings": list(out.notes),
        "bucket_image": bucket_image,
    }
    if size[0] * size[1] > 2 * bucket[0] * bucket[1]:
        base["warnings"].append(_size_warning(spec, size, bucket))
    output = dec.as_array(bucket_image)
    reference = dec.as_array(resize_to(prepared.image, bucket))
    preserve = spec.preserve_unchanged if preserve_unchanged is None else preserve_unchanged
    decode = _DECODERS[spec.output]
    return decode(pipe, spec, prepared, output, reference, out.images[0], base, slots, preserve)


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
) -> _Prepared:
    kind = spec.input
    if kind is InputKind.BLANK:
        centre = resolution if isinstance(resolution, int) else (resolution or pipe.config.resolution)[0]
        size = canvas_size or (image.size if image is not None else (centre, centre))
        return _Prepared(inputs.blank_canvas(size, fill=fill), None, None)
    if image is None:
        raise ValueError(f"task {spec.name!r} needs an input image")
    image = to_rgb(image)
    if kind is InputKind.MASKED:
        if mask is None:
            raise ValueError("inpaint needs a mask of the region to fill (white = fill)")
        masked, region = inputs.inpaint_input(image, mask, fill)
        return _Prepared(masked, region, image)
    if kind is InputKind.EXTENDED:
        canvas = inputs.outpaint_canvas(image, slots.get("direction") or "all", ratio, fill)
        return _Prepared(canvas.image, canvas.new_area, image, canvas.placement)
    if kind is InputKind.CONDITION and from_photo:
        source = spec.name.removesuffix("_to_image")
        if source == "canny":
            return _Prepared(inputs.canny_map(image), None, None)
        dense = run_task(pipe, source, image, seed=seed, resolution=resolution)
        return _Prepared(dense.image, None, None)
    return _Prepared(image, None, image)


# ----------------------------------------------------------------------------------------------------
# Decoders per output kind
# ----------------------------------------------------------------------------------------------------


def _changes(result: np.ndarray, original: np.ndarray, threshold: float = CHANGE_THRESHOLD) -> np.ndarray:
    return (np.abs(result.astype(np.int16) - original.astype(np.int16)).max(-1) / 255.0) > threshold


def _similarity_outside(result: np.ndarray, original: np.ndarray, changed: np.ndarray) -> float:
    outside = ~changed
    if not outside.any():
        return 1.0
    diff = np.abs(result.astype(np.float32) - original.astype(np.float32))[outside]
    return float(1.0 - diff.mean() / 255.0)


def _dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    if pixels <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def vae_roundtrip(pipe, image: np.ndarray) -> np.ndarray:
    """``image`` encoded (posterior mean) and decoded by the pipeline's VAE, as uint8 RGB."""
    pixels = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
    decoded = pipe.codec.decode(pipe.codec.encode(pixels, sample=False)).float().clamp(-1, 1)
    return ((decoded[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8)


def edit_region(output: np.ndarray, roundtrip: np.ndarray) -> np.ndarray:
    """Where an edit changed the picture, at the processed size.

    The output is compared with the VAE round trip of the input (not the input itself), so that what the
    VAE alone alters (fine texture, noise) does not count as an edit; the thresholded difference is
    cleaned of isolated pixels and dilated by 2% of the longer side.
    """
    import cv2

    changed = _changes(output, roundtrip)
    changed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    return _dilate(changed, max(1, round(DILATION * max(output.shape[:2]))))


def _image_result(pipe, spec, prepared, output, reference, final, base, slots, preserve) -> ImageResult:
    size = prepared.image.size
    result = np.asarray(final.convert("RGB"))
    original = np.asarray(prepared.original) if prepared.original is not None else None
    if spec.input is InputKind.EXTENDED and original is not None:
        embedded = np.asarray(prepared.image)  # the photo on its canvas
        region = prepared.region
        if preserve:
            result = np.where(region[..., None], result, embedded)
        return ImageResult(
            image=Image.fromarray(result),
            changed_fraction=float(region.mean()),
            similarity_outside=_similarity_outside(result, embedded, region),
            preserved=preserve,
            **base,
        )
    if original is None:  # generation: nothing to preserve
        return ImageResult(image=final, changed_fraction=1.0, similarity_outside=1.0, **base)
    if spec.input is InputKind.MASKED:
        region = prepared.region
    elif preserve:
        region = dec.resize_nearest(edit_region(output, vae_roundtrip(pipe, reference)), size)
    else:
        region = _changes(result, original)
    if preserve:
        result = np.where(region[..., None], result, original)
    return ImageResult(
        image=Image.fromarray(result.astype(np.uint8)),
        changed_fraction=float(region.mean()),
        similarity_outside=_similarity_outside(result, original, region),
        preserved=preserve,
        **base,
    )


def _simple_base(final, prepared, base) -> dict:
    original = np.asarray(prepared.image)
    result = np.asarray(final.convert("RGB"))
    changed = _changes(result, original)
    return {
        "image": final,
        "changed_fraction": float(changed.mean()),
        "similarity_outside": _similarity_outside(result, original, changed),
        **base,
    }


def _edges(pipe, spec, prepared, output, reference, final, base, slots, preserve) -> EdgeResult:
    return EdgeResult(edge_density=dec.edge_density(output), **_simple_base(final, prepared, base))


def _depth(pipe, spec, prepared, output, reference, final, base, slots, preserve) -> DepthResult:
    depth = dec.decode_depth(output, prepared.image.size)
    values = depth.depth
    p5, p50, p95 = (float(v) for v in np.percentile(values, [5, 50, 95]))
    stats = DepthStats(
        min=float(values.min()), max=float(values.max()), mean=float(values.mean()), p5=p5, p50=p50, p95=p95
    )
    if depth.raw_range[1] - depth.raw_range[0] < 0.05:
        base["warnings"].append("the depth output is nearly flat; the map carries little information")
    return DepthResult(
        depth=values, raw_range=depth.raw_range, stats=stats, **_simple_base(final, prepared, base)
    )


def _normal(pipe, spec, prepared, output, reference, final, base, slots, preserve) -> NormalResult:
    normals = dec.decode_normals(output, prepared.image.size)
    mean = normals.reshape(-1, 3).mean(0)
    mean = mean / max(float(np.linalg.norm(mean)), 1e-6)
    simple = _simple_base(final, prepared, base)
    simple["image"] = dec.normals_to_rgb(normals)
    return NormalResult(normals=normals, mean_normal=tuple(float(v) for v in mean), **simple)


def _segment(pipe, spec, prepared, output, reference, final, base, slots, preserve) -> SegmentResult:
    palette = dec.ade20k_palette()
    labels = dec.decode_segment(output, prepared.image.size, palette)
    shares, unknown = dec.class_shares(labels, palette)
    return SegmentResult(
        labels=labels,
        classes=[ClassShare(label=label, name=name, fraction=fraction) for label, name, fraction in shares],
        unknown_fraction=unknown,
        palette_verified=palette.verified,
        overlay=dec.overlay_labels(np.asarray(prepared.image), labels, palette),
        **_simple_base(final, prepared, base),
    )


def _grounding(pipe, spec, prepared, output, reference, final, base, slots, preserve) -> GroundingResult:
    size = prepared.image.size
    color = slots.get("color") or DEFAULT_COLOR
    if spec.output is OutputKind.MASK:
        regions, mode = dec.decode_mask(output, size), "mask"
    elif spec.output is OutputKind.HIGHLIGHT:
        regions, mode = dec.decode_highlight(output, reference, color, size), "highlight"
    else:
        regions, mode = dec.decode_box(output, reference, color, size), "box"
    objects = []
    for region in regions:
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
        mode=mode,
        found=bool(objects),
        objects=objects,
        **_simple_base(final, prepared, base),
    )


_DECODERS = {
    OutputKind.IMAGE: _image_result,
    OutputKind.EDGES: _edges,
    OutputKind.DEPTH: _depth,
    OutputKind.NORMAL: _normal,
    OutputKind.SEGMENT: _segment,
    OutputKind.HIGHLIGHT: _grounding,
    OutputKind.BOX: _grounding,
    OutputKind.MASK: _grounding,
}
