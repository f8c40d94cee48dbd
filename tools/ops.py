"""Model-free image operations as tools: masks, crop, resize, pad, composite, boxes, compare.

They are instant (no model, no queue), read their inputs through the store's confinement like every tool,
never change an input, and store each result under a new id with its parents and replayable provenance.
The pixel work is in `pixwizard.tools.imageops`; this module is the tool layer around it.
"""

from __future__ import annotations

import time

from PIL import Image, ImageColor
from pydantic import BaseModel, Field

from . import imageops
from .catalog import ToolContext, image_out, store_call_result
from .schemas import ImageOut, ImageRef, Provenance, _Args, image_ref
from .spec import Hints, ToolError, ToolSpec

Box = tuple[int, int, int, int]
_BOX = "x0, y0, x1, y1 in pixels (x1, y1 exclusive), e.g. a ground result's objects.0.box."


class MaskRadiusArgs(_Args):
    """Arguments of mask_dilate, mask_erode and mask_feather."""

    mask: str = image_ref("The mask (white = inside).")
    radius: int = Field(8, ge=0, le=512, description="How far to grow, shrink or soften, in pixels.")


class MaskArgs(_Args):
    """Arguments of mask_invert."""

    mask: str = image_ref("The mask (white = inside).")


class MaskPairArgs(_Args):
    """Arguments of mask_union and mask_intersect."""

    mask: str = image_ref("The first mask.")
    other: str = image_ref("The second mask (same size).")


class BoxToMaskArgs(_Args):
    """Arguments of box_to_mask."""

    image: str = ImageRef
    box: Box = Field(description="The box to fill white; " + _BOX)


class CropArgs(_Args):
    """Arguments of crop."""

    image: str = ImageRef
    box: Box = Field(description="The region to keep; " + _BOX)


class ResizeArgs(_Args):
    """Arguments of resize."""

    image: str = ImageRef
    width: int | None = Field(None, ge=1, le=16384, description="New width (alone: keeps the aspect).")
    height: int | None = Field(None, ge=1, le=16384, description="New height (alone: keeps the aspect).")
    scale: float | None = Field(None, gt=0, le=16, description="Or a factor for both sides, e.g. 0.5.")


class PadArgs(_Args):
    """Arguments of pad."""

    image: str = ImageRef
    left: int = Field(0, ge=0, le=8192)
    top: int = Field(0, ge=0, le=8192)
    right: int = Field(0, ge=0, le=8192)
    bottom: int = Field(0, ge=0, le=8192)
    color: str = Field("black", max_length=30, description="Border colour (a name or #rrggbb).")


class CompositeArgs(_Args):
    """Arguments of composite."""

    image: str = ImageRef
    other: str = image_ref("The image whose pixels go where the mask is white (same size).")
    mask: str = image_ref("Where to take other's pixels (white; grey blends).")


class DrawBoxesArgs(_Args):
    """Arguments of draw_boxes."""

    image: str = ImageRef
    boxes: list[Box] = Field(min_length=1, max_length=200, description="Boxes; " + _BOX)
    labels: list[str] | None = Field(None, max_length=200, description="A label per box (optional).")
    color: str = Field("red", max_length=30, description="Line colour (a name or #rrggbb).")


class CompareArgs(_Args):
    """Arguments of compare."""

    a: str = image_ref("The first image.")
    b: str = image_ref("The second image (same size).")
    mask: str | None = image_ref("Also measure inside and outside this mask (optional).", optional=True)


class OpOutput(BaseModel):
    """The image an operation made."""

    image: ImageOut
    provenance: Provenance


class RegionStats(BaseModel):
    """A comparison restricted to a region."""

    pixels: int
    changed_fraction: float | None
    psnr: float | None = Field(description="dB; null when the region is identical or empty.")
    ssim: float | None


class CompareOutput(BaseModel):
    """How two images differ: share of changed pixels, PSNR, SSIM, and inside/outside a mask."""

    identical: bool
    changed_fraction: float
    psnr: float | None = Field(description="dB; null when the images are identical.")
    ssim: float
    inside: RegionStats | None
    outside: RegionStats | None


def _load(ctx: ToolContext, args, *fields: str):
    loaded = {name: ctx.store.load(getattr(args, name)) for name in fields if getattr(args, name) is not None}
    return loaded


def _color(text: str, argument: str = "color") -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ToolError(f"invalid {argument}={text!r}: use a colour name such as 'red' or #rrggbb") from None


def _store(ctx: ToolContext, args, loaded: dict, image: Image.Image, started: float) -> OpOutput:
    ids = {name: ctx.store.adopt(x) for name, x in loaded.items()}
    stored, provenance = store_call_result(ctx, args, ids, image, run_s=time.perf_counter() - started)
    return OpOutput(image=image_out(stored), provenance=provenance)


def _pixels(fn):
    """Run a pixel operation, turning its refusals (ValueError) into tool errors."""
    try:
        return fn()
    except ValueError as exc:
        raise ToolError(str(exc)) from None


def _mask_radius(operation):
    def tool(args: MaskRadiusArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
        started = time.perf_counter()
        loaded = _load(ctx, args, "mask")
        mask = imageops.to_mask(loaded["mask"].image)
        image = _pixels(lambda: imageops.mask_image(operation(mask, args.radius)))
        return _store(ctx, args, loaded, image, started)

    return tool


def mask_invert(args: MaskArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """White becomes black and black white."""
    started = time.perf_counter()
    loaded = _load(ctx, args, "mask")
    image = imageops.mask_image(imageops.invert(imageops.to_mask(loaded["mask"].image)))
    return _store(ctx, args, loaded, image, started)


def _mask_pair(operation):
    def tool(args: MaskPairArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
        started = time.perf_counter()
        loaded = _load(ctx, args, "mask", "other")
        a, b = (imageops.to_mask(loaded[name].image) for name in ("mask", "other"))
        image = _pixels(lambda: imageops.mask_image(operation(a, b)))
        return _store(ctx, args, loaded, image, started)

    return tool


def box_to_mask(args: BoxToMaskArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """A mask of the image's size, white inside the box."""
    started = time.perf_counter()
    loaded = _load(ctx, args, "image")
    image = _pixels(lambda: imageops.mask_image(imageops.box_to_mask(loaded["image"].image.size, args.box)))
    return _store(ctx, args, loaded, image, started)


def crop(args: CropArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """Keep the pixels inside a box."""
    started = time.perf_counter()
    loaded = _load(ctx, args, "image")
    image = _pixels(lambda: imageops.crop(loaded["image"].image, args.box))
    return _store(ctx, args, loaded, image, started)


def resize(args: ResizeArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """Scale to a width and/or height, or by a factor."""
    started = time.perf_counter()
    if args.scale is None and args.width is None and args.height is None:
        raise ToolError("resize needs width, height or scale")
    if args.scale is not None and (args.width is not None or args.height is not None):
        raise ToolError("give either scale or width/height, not both")
    loaded = _load(ctx, args, "image")
    source = loaded["image"].image
    w, h = source.size
    if args.scale is not None:
        target = (round(w * args.scale), round(h * args.scale))
    else:
        target = (args.width or round(w * args.height / h), args.height or round(h * args.width / w))
    if target[0] * target[1] > ctx.store.limits.max_pixels:
        raise ToolError(
            f"resizing to {target[0]}x{target[1]} exceeds the "
            f"{ctx.store.limits.max_pixels / 1e6:.3g} MP limit"
        )
    image = _pixels(lambda: imageops.resize(source, width=args.width, height=args.height, scale=args.scale))
    return _store(ctx, args, loaded, image, started)


def pad(args: PadArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """Add borders."""
    started = time.perf_counter()
    color = _color(args.color)
    loaded = _load(ctx, args, "image")
    w, h = loaded["image"].image.size
    pixels = (w + args.left + args.right) * (h + args.top + args.bottom)
    if pixels > ctx.store.limits.max_pixels:
        raise ToolError(f"the padded image would exceed the {ctx.store.limits.max_pixels / 1e6:.3g} MP limit")
    image = _pixels(
        lambda: imageops.pad(loaded["image"].image, args.left, args.top, args.right, args.bottom, color)
    )
    return _store(ctx, args, loaded, image, started)


def composite(args: CompositeArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """``other`` where the mask is white, ``image`` elsewhere (exactly)."""
    started = time.perf_counter()
    loaded = _load(ctx, args, "image", "other", "mask")
    mask = loaded["mask"].image  # read as grey / 255: 0 and 255 stay exact, grey blends
    image = _pixels(lambda: imageops.composite(loaded["image"].image, loaded["other"].image, mask))
    return _store(ctx, args, loaded, image, started)


def draw_boxes(args: DrawBoxesArgs, ctx: ToolContext, progress=None, cancel=None) -> OpOutput:
    """Draw boxes (and labels) on a copy of the image."""
    started = time.perf_counter()
    _color(args.color)
    if args.labels is not None and len(args.labels) != len(args.boxes):
        raise ToolError(
            f"labels has {len(args.labels)} entries but boxes has {len(args.boxes)}: give one per box"
        )
    loaded = _load(ctx, args, "image")
    image = _pixels(lambda: imageops.draw_boxes(loaded["image"].image, args.boxes, args.labels, args.color))
    return _store(ctx, args, loaded, image, started)


def compare(args: CompareArgs, ctx: ToolContext, progress=None, cancel=None) -> CompareOutput:
    """How two images differ; nothing is stored."""
    loaded = _load(ctx, args, "a", "b", "mask")
    mask = imageops.to_mask(loaded["mask"].image) if "mask" in loaded else None
    stats = _pixels(lambda: imageops.compare(loaded["a"].image, loaded["b"].image, mask))
    return CompareOutput(
        identical=stats["identical"],
        changed_fraction=stats["changed_fraction"],
        psnr=stats["psnr"],
        ssim=stats["ssim"],
        inside=RegionStats(**stats["inside"]) if "inside" in stats else None,
        outside=RegionStats(**stats["outside"]) if "outside" in stats else None,
    )


_OP = Hints(read_only=False, destructive=False, idempotent=True)


def _op(name: str, description: str, args, fn, output=OpOutput, **kwargs) -> ToolSpec:
    return ToolSpec(name, description, args, output, fn, _OP, generates=False, **kwargs)


OPERATIONS: list[ToolSpec] = [
    _op(
        "mask_dilate",
        "Grow a mask by a radius in pixels (instant, no model).",
        MaskRadiusArgs,
        _mask_radius(imageops.dilate),
    ),
    _op(
        "mask_erode",
        "Shrink a mask by a radius in pixels (instant, no model).",
        MaskRadiusArgs,
        _mask_radius(imageops.erode),
    ),
    _op(
        "mask_feather",
        "Soften a mask's edge over a radius in pixels: grey values blend in composite (instant).",
        MaskRadiusArgs,
        _mask_radius(imageops.feather),
    ),
    _op("mask_invert", "Invert a mask (instant, no model).", MaskArgs, mask_invert),
    _op(
        "mask_union",
        "Union of two masks: white where either is (instant).",
        MaskPairArgs,
        _mask_pair(imageops.union),
    ),
    _op(
        "mask_intersect",
        "Intersection of two masks: white where both are (instant).",
        MaskPairArgs,
        _mask_pair(imageops.intersect),
    ),
    _op(
        "box_to_mask",
        "A mask of the image's size that is white inside a box, e.g. a ground result's box (instant).",
        BoxToMaskArgs,
        box_to_mask,
    ),
    _op("crop", "Crop an image to a box (instant, no model).", CropArgs, crop),
    _op("resize", "Resize an image to a width and/or height, or by a scale (instant).", ResizeArgs, resize),
    _op("pad", "Add borders of a colour around an image (instant, no model).", PadArgs, pad),
    _op(
        "composite",
        "Paste other's pixels where a mask is white and keep image's pixels elsewhere, exactly (instant).",
        CompositeArgs,
        composite,
    ),
    _op(
        "draw_boxes",
        "Draw boxes with optional labels on a copy of an image (instant, no model).",
        DrawBoxesArgs,
        draw_boxes,
    ),
    ToolSpec(
        "compare",
        "Compare two images of the same size: share of changed pixels, PSNR, SSIM, and the same inside "
        "and outside a mask (instant; stores nothing).",
        CompareArgs,
        CompareOutput,
        compare,
        Hints(read_only=True, idempotent=True),
        generates=False,
    ),
]
