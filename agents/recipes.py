"""Object recipes that check their own work: remove, replace and add an object; restore then analyse.

Each recipe is a short fixed chain of registry tools (ground → mask → inpaint → composite), so every
intermediate image is stored with provenance and returned by id. The final image is a composite of the
input and the inpainted result through the edited region, so every pixel outside the region is the input's,
exactly. After an edit the recipe grounds on the result: the removed target must no longer be found in the
region (IoU with the region below τ), a replacement or added object must be found there (IoU ≥ τ). A
failed check is retried with new seeds (``retries``, default 2); the typed output says what was checked,
the score, τ, the seeds and the attempts, and a check that still fails is reported, not raised.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pixwizard.tools import imageops
from pixwizard.tools.catalog import ToolContext, call_registry, invoke, store_call_result
from pixwizard.tools.schemas import Generation, ImageOut, ImageRef, Restoration, image_ref
from pixwizard.tools.spec import ToolError
from pydantic import BaseModel, Field

# A region given as a mask instead of found by grounding (remove_object and replace_object share it).
RegionRef = image_ref(
    "The object's mask (white), e.g. painted by a person: used as the region instead of grounding "
    "`target` (and not grown), which then only names the object for the check.",
    optional=True,
)

Box = tuple[int, int, int, int]
DEFAULT_THRESHOLD = 0.3


class RecipeArgs(Generation):
    """Options every object recipe shares."""

    dilate: int = Field(8, ge=0, le=256, description="Grow the region by this many pixels before filling.")
    threshold: float = Field(
        DEFAULT_THRESHOLD, gt=0, lt=1, description="τ: the IoU with the region the verification compares to."
    )
    retries: int = Field(2, ge=0, le=5, description="New seeds to try when the verification fails.")
    verify: bool = Field(True, description="Ground on the result to check the edit.")


class RemoveArgs(RecipeArgs):
    """Arguments of remove_object."""

    image: str = ImageRef
    target: str = Field(min_length=1, max_length=300, description="What to remove, e.g. 'the red car'.")
    region: str | None = RegionRef


class ReplaceArgs(RecipeArgs):
    """Arguments of replace_object."""

    image: str = ImageRef
    target: str = Field(min_length=1, max_length=300, description="What to replace, e.g. 'the dog'.")
    replacement: str = Field(min_length=1, max_length=300, description="What to put there, e.g. 'a cat'.")
    region: str | None = RegionRef


class AddArgs(RecipeArgs):
    """Arguments of add_object."""

    image: str = ImageRef
    what: str = Field(min_length=1, max_length=300, description="What to add, e.g. 'a yellow star'.")
    where: str | Box = Field(
        json_schema_extra={"format": "image-ref"},  # a plan may pass a mask output here
        description=(
            "Where: a box [x0, y0, x1, y1], a mask image reference (img_... id, pixwizard:// URI, path or "
            "data: URI), or words such as 'top left', 'center', 'next to the red car', 'above the table'."
        ),
    )


class Verification(BaseModel):
    """What a recipe checked on its result."""

    check: str = Field(description="The rule, in words.")
    referring: str = Field(description="What was grounded on the result.")
    score: float = Field(description="IoU of the grounded object with the edited region (0: not found).")
    threshold: float
    passed: bool
    attempts: int
    seeds: list[int] = Field(description="The seed of each attempt, in order.")
    scores: list[float] = Field(description="The score of each attempt.")


class Intermediate(BaseModel):
    """An image a recipe stored on its way (by id)."""

    step: str
    tool: str
    id: str


class RecipeOutput(BaseModel):
    """An object edit: the final image, the region, every intermediate image and the verification."""

    image: ImageOut = Field(description="The result (the input itself when nothing was found to edit).")
    found: bool = Field(description="Whether the target (or the anchor of 'where') was found.")
    edited: bool = Field(description="Whether the image was changed.")
    region: ImageOut | None = Field(description="The edited region as a mask (white).")
    box: Box | None = Field(description="The bounding box of the region.")
    intermediates: list[Intermediate]
    verification: Verification | None
    changed_outside: int = Field(description="Pixels outside the region that differ from the input (0).")
    warnings: list[str] = Field(default_factory=list)


class RestoreThenArgs(Generation):
    """Arguments of restore_then."""

    image: str = ImageRef
    problems: list[Restoration] | Literal["auto"] = Field(
        "auto",
        description="Restorations to run in order, or 'auto' to measure noise, blur, low light and haze.",
    )
    then: Literal["depth", "segment", "ground", "normal", "canny", "hed", "sketch", "lineart", "pose"] = (
        Field(description="The analysis to run on the restored image.")
    )
    referring: str | None = Field(None, max_length=300, description="The object to find when then='ground'.")


class RestoreThenOutput(BaseModel):
    """Restoration steps and one analysis."""

    image: ImageOut = Field(description="The restored image (the input when nothing needed restoring).")
    problems: list[str] = Field(description="The restorations that ran, in order.")
    measurements: list[dict] | None = Field(description="With problems='auto': what was measured and found.")
    restored: list[ImageOut] = Field(description="The image after each restoration.")
    then: str
    analysis: dict = Field(description="The analysis tool's output.")
    analysis_image: ImageOut | None = Field(
        description="The analysis map (depth, segmentation, mask, edges)."
    )


# ----------------------------------------------------------------------------------------------------


def _call(name: str, args: dict, ctx: ToolContext, progress=None, cancel=None):
    registry = call_registry()
    return invoke(registry.get(name), args, ctx, progress, cancel, registry=registry)


def _generation(args) -> dict:
    return {
        key: getattr(args, key)
        for key in ("steps", "text_guidance", "image_guidance")
        if getattr(args, key) is not None
    }


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _mask_of(ctx: ToolContext, image_id: str) -> np.ndarray:
    return imageops.to_mask(ctx.store.load(image_id).image)


def _grounded_iou(
    ctx: ToolContext, image_id: str, referring: str, region: np.ndarray, seed: int, extra, cancel
):
    ground = _call(
        "ground", {"image": image_id, "referring": referring, "seed": seed, **extra}, ctx, cancel=cancel
    )
    if not ground.found or not ground.objects:
        return 0.0, ground
    best = max(_iou(_mask_of(ctx, obj.mask.id), region) for obj in ground.objects if obj.mask is not None)
    return best, ground


class _Progress:
    """Spreads a recipe's model calls over one progress bar (each call gets an equal share)."""

    def __init__(self, progress, calls: int):
        self.progress, self.calls, self.done = progress, max(calls, 1), 0

    def part(self):
        base = self.done
        self.done += 1

        def report(done: float, total: float) -> None:
            if self.progress is not None and total:
                self.progress(base + min(done / total, 1.0), self.calls)

        return report


def _edit_region(
    ctx: ToolContext,
    args,
    input_id: str,
    region_id: str,
    check_id: str,
    caption: str | None,
    verify_referring: str,
    wants_found: bool,
    intermediates: list[Intermediate],
    progress,
    cancel,
) -> tuple[str, Verification | None, list[str]]:
    """Inpaint the region, composite it over the input, verify, retry with new seeds. Returns the final id.

    The verification compares what grounding finds on the result with ``check_id``: the object's own
    mask (before it was grown) for remove and replace, the region for add.
    """
    region = _mask_of(ctx, region_id)
    checked = _mask_of(ctx, check_id)
    extra = _generation(args)
    seeds, scores, final, warnings = [], [], None, []
    meter = _Progress(progress, (1 + int(args.verify)) * (1 + args.retries))
    for attempt in range(1 + args.retries):
        seed = (args.seed + attempt) % (2**31)
        fill = {"image": input_id, "mask": region_id, "seed": seed, **extra}
        if caption:
            fill["caption"] = caption
        painted = _call("inpaint", fill, ctx, meter.part(), cancel)
        intermediates.append(Intermediate(step=f"inpaint_{attempt + 1}", tool="inpaint", id=painted.image.id))
        other = painted.image.id
        if (painted.image.width, painted.image.height) != region.shape[::-1]:
            resized = _call(
                "resize", {"image": other, "width": region.shape[1], "height": region.shape[0]}, ctx
            )
            other = resized.image.id
            intermediates.append(Intermediate(step=f"resize_{attempt + 1}", tool="resize", id=other))
        merged = _call("composite", {"image": input_id, "other": other, "mask": region_id}, ctx)
        intermediates.append(
            Intermediate(step=f"composite_{attempt + 1}", tool="composite", id=merged.image.id)
        )
        final = merged.image.id
        seeds.append(seed)
        if not args.verify:
            return final, None, warnings
        score, _ = _grounded_iou(ctx, final, verify_referring, checked, seed, extra, cancel)
        meter.part()
        scores.append(round(score, 4))
        passed = score >= args.threshold if wants_found else score < args.threshold
        if passed:
            break
    check = (
        f"'{verify_referring}' is found in the region (IoU >= {args.threshold})"
        if wants_found
        else f"'{verify_referring}' is no longer found in the region (IoU < {args.threshold})"
    )
    verification = Verification(
        check=check,
        referring=verify_referring,
        score=scores[-1],
        threshold=args.threshold,
        passed=passed,
        attempts=len(seeds),
        seeds=seeds,
        scores=scores,
    )
    if not passed:
        warnings.append(
            f"verification failed after {len(seeds)} attempts (seeds {seeds}): {check} did not hold"
        )
    return final, verification, warnings


def _finish(
    ctx, args, input_id, final_id, region_id, box, found, intermediates, verification, warnings, ids=None
) -> RecipeOutput:
    from pixwizard.tools.catalog import image_out

    before = ctx.store.load(input_id).image
    after = ctx.store.load(final_id).image
    if final_id != input_id:  # the result carries the recipe's own provenance, so regenerate re-runs it
        final_id = _publish(ctx, args, {"image": input_id, **(ids or {})}, after, final_id).id
    changed_outside = 0
    if region_id is not None:
        outside = ~_mask_of(ctx, region_id)
        diff = np.any(np.asarray(before.convert("RGB")) != np.asarray(after.convert("RGB")), axis=-1)
        changed_outside = int(np.logical_and(diff, outside).sum())
    return RecipeOutput(
        image=image_out(ctx.store.get(final_id)),
        found=found,
        edited=final_id != input_id,
        region=image_out(ctx.store.get(region_id)) if region_id else None,
        box=box,
        intermediates=intermediates,
        verification=verification,
        changed_outside=changed_outside,
        warnings=warnings,
    )


def _publish(ctx, args, ids: dict, image, composite_id: str):
    stored, _ = store_call_result(
        ctx,
        args,
        ids,
        image,
        parents=[composite_id, *dict.fromkeys(ids.values())],
        model=ctx.backend.model,
        seed=args.seed,
        steps=args.steps,
        text_guidance=args.text_guidance,
        image_guidance=args.image_guidance,
    )
    return stored


def _input_id(ctx: ToolContext, reference: str) -> str:
    return ctx.store.adopt(ctx.store.load(reference))


def _ground_region(ctx, args, input_id, referring, intermediates, cancel):
    """Ground an object and grow its mask: (found, region id, object mask id, box)."""
    ground = _call(
        "ground",
        {"image": input_id, "referring": referring, "seed": args.seed, **_generation(args)},
        ctx,
        cancel=cancel,
    )
    intermediates.append(Intermediate(step="ground", tool="ground", id=ground.image.id))
    if not ground.found or not ground.objects or ground.objects[0].mask is None:
        return False, None, None, None
    obj = ground.objects[0]
    intermediates.append(Intermediate(step="mask", tool="ground", id=obj.mask.id))
    region_id = obj.mask.id
    if args.dilate:
        grown = _call("mask_dilate", {"mask": region_id, "radius": args.dilate}, ctx)
        region_id = grown.image.id
        intermediates.append(Intermediate(step="dilate", tool="mask_dilate", id=region_id))
    return True, region_id, obj.mask.id, _bbox(_mask_of(ctx, region_id)) or obj.box


def _given_region(ctx: ToolContext, input_id: str, reference: str) -> tuple[str, Box]:
    """Store a given region mask; its id and box. It must have the image's size and select something."""
    region_id = _input_id(ctx, reference.strip())
    mask = _mask_of(ctx, region_id)
    size = ctx.store.load(input_id).image.size
    if mask.shape[::-1] != size:
        raise ToolError(f"the region is {mask.shape[1]}x{mask.shape[0]} but the image is {size[0]}x{size[1]}")
    box = _bbox(mask)
    if box is None:
        raise ToolError("the region mask is empty: paint the region white")
    return region_id, box


def _bbox(mask: np.ndarray) -> Box | None:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _object_edit(ctx, args, caption: str | None, verify: str, wants_found: bool, progress, cancel):
    """Ground ``args.target``, fill its grown mask (with ``caption``), composite, verify ``verify``."""
    input_id = _input_id(ctx, args.image)
    steps: list[Intermediate] = []
    if args.region is not None:
        region_id, box = _given_region(ctx, input_id, args.region)
        found, object_id = True, region_id
    else:
        found, region_id, object_id, box = _ground_region(ctx, args, input_id, args.target, steps, cancel)
    if not found:
        warning = f"'{args.target}' was not found; the image is unchanged"
        return _finish(ctx, args, input_id, input_id, None, None, False, steps, None, [warning])
    final, verification, warnings = _edit_region(
        ctx, args, input_id, region_id, object_id, caption, verify, wants_found, steps, progress, cancel
    )
    return _finish(ctx, args, input_id, final, region_id, box, True, steps, verification, warnings)


def remove_object(args: RemoveArgs, ctx: ToolContext, progress=None, cancel=None) -> RecipeOutput:
    """Ground the target, grow its mask, inpaint it away, composite, and check it is gone."""
    return _object_edit(ctx, args, None, args.target, False, progress, cancel)


def replace_object(args: ReplaceArgs, ctx: ToolContext, progress=None, cancel=None) -> RecipeOutput:
    """Ground the target, inpaint the replacement there, composite, and check the replacement is found."""
    return _object_edit(ctx, args, args.replacement, args.replacement, True, progress, cancel)


# Where words. A place is a vertical band and a horizontal band of the image (fractions x0, x1 / y0, y1).
_ROWS = {"top": (0.0, 0.4), "middle": (0.3, 0.7), "bottom": (0.6, 1.0)}
_COLUMNS = {"left": (0.0, 0.4), "middle": (0.3, 0.7), "right": (0.6, 1.0)}
_SYNONYMS = {"upper": "top", "lower": "bottom", "center": "middle", "centre": "middle", "central": "middle"}
_FILLER = {"the", "in", "at", "of", "on", "to", "corner", "side", "part", "area", "edge", "half"}
_FILLER |= {"image", "picture", "photo", "frame", "somewhere", "near", "towards", "toward"}
# Relations to an anchor object, longest first: the box goes on that side of it, or over it.
_RELATIONS = {
    "to the left of": "left",
    "left of": "left",
    "to the right of": "right",
    "right of": "right",
    "next to": "beside",
    "beside": "beside",
    "by": "beside",
    "near": "beside",
    "on top of": "above",
    "above": "above",
    "over": "above",
    "below": "below",
    "beneath": "below",
    "underneath": "below",
    "under": "below",
    "in front of": "over",
    "behind": "over",
    "on": "over",
}
_REFERENCE = re.compile(
    r"^(img_[0-9a-f]{12}|pixwizard://|data:|file:|/|\./|~)|\.(png|jpe?g|webp|bmp|gif|tiff?)$", re.I
)


def _place_box(text: str, size: tuple[int, int]) -> Box | None:
    """The box of a place such as 'top left', 'upper right corner', 'centre-left', 'bottom'."""
    words = [_SYNONYMS.get(w, w) for w in re.sub(r"[^a-z ]", " ", text.lower()).split()]
    words = [w for w in words if w not in _FILLER]
    if not words or any(w not in _ROWS and w not in _COLUMNS for w in words) or len(words) > 2:
        return None
    row = next((w for w in words if w in ("top", "bottom")), "middle")
    column = next((w for w in words if w in ("left", "right")), "middle")
    (y0, y1), (x0, x1) = _ROWS[row], _COLUMNS[column]
    w, h = size
    return round(x0 * w), round(y0 * h), max(round(x1 * w), 1), max(round(y1 * h), 1)


def parse_relation(text: str) -> tuple[str, str] | None:
    """``(side, anchor)`` for words such as 'to the left of the car' or 'on the table', else None."""
    text = re.sub(r"\s+", " ", text.strip().lower().rstrip(".!"))
    for words, side in _RELATIONS.items():
        if text.startswith(words + " "):
            anchor = text[len(words) :].strip()
            return (side, anchor) if anchor else None
    return None


def needs_anchor(where) -> bool:
    """Whether an add_object ``where`` names an object to ground first (for counting model calls)."""
    return (
        isinstance(where, str) and not _REFERENCE.search(where.strip()) and parse_relation(where) is not None
    )


def _beside(anchor: Box, relation: str, size: tuple[int, int]) -> Box:
    """A box the size of the anchor on the named side of it (clipped to the image)."""
    w, h = size
    x0, y0, x1, y1 = anchor
    bw, bh = max(x1 - x0, w // 8), max(y1 - y0, h // 8)
    if relation == "over":  # on, in front of, behind: over the anchor itself
        box = anchor
    elif relation == "left":
        box = (x0 - bw, y0, x0, y1)
    elif relation == "right":
        box = (x1, y0, x1 + bw, y1)
    elif relation == "above":
        box = (x0, y0 - bh, x1, y0)
    elif relation == "below":
        box = (x0, y1, x1, y1 + bh)
    else:  # beside: the right side, or the left when there is no room
        box = (x1, y0, x1 + bw, y1) if x1 + bw <= w or x0 - bw < 0 else (x0 - bw, y0, x0, y1)
    bx0, by0 = max(0, box[0]), max(0, box[1])
    bx1, by1 = min(w, box[2]), min(h, box[3])
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        raise ToolError(f"there is no room {relation} the anchor inside the image; give a box instead")
    return bx0, by0, bx1, by1


def add_object(args: AddArgs, ctx: ToolContext, progress=None, cancel=None) -> RecipeOutput:
    """Find the region (a box, a mask or words), inpaint the object there, composite, check it is there."""
    input_id = _input_id(ctx, args.image)
    size = ctx.store.load(input_id).image.size
    steps: list[Intermediate] = []
    where, box, region_id = args.where, None, None
    where_is_mask = isinstance(where, str) and bool(_REFERENCE.search(where.strip()))
    if isinstance(where, tuple):
        box = where
    elif where_is_mask:
        region_id, box = _given_region(ctx, input_id, where)
    else:
        box = _place_box(where, size)
        if box is None:
            parsed = parse_relation(where)
            if parsed is None:
                raise ToolError(
                    f"cannot tell where {where!r} is",
                    suggestions=[
                        "give a box [x0, y0, x1, y1]",
                        "a mask id",
                        "'top left', 'center', 'next to the car', 'on the table'",
                    ],
                )
            relation, anchor = parsed
            found, _, _, anchor_box = _ground_region(
                ctx, args.model_copy(update={"dilate": 0}), input_id, anchor, steps, cancel
            )
            if not found:
                warning = f"the anchor '{anchor}' was not found; the image is unchanged"
                return _finish(ctx, args, input_id, input_id, None, None, False, steps, None, [warning])
            box = _beside(anchor_box, relation, size)
    if region_id is None:
        made = _call("box_to_mask", {"image": input_id, "box": list(box)}, ctx)
        region_id = made.image.id
        steps.append(Intermediate(step="region", tool="box_to_mask", id=region_id))
    final, verification, warnings = _edit_region(
        ctx, args, input_id, region_id, region_id, args.what, args.what, True, steps, progress, cancel
    )
    ids = {"where": region_id} if where_is_mask else {}
    return _finish(
        ctx, args, input_id, final, region_id, tuple(box), True, steps, verification, warnings, ids
    )


_ANNOTATE = {"normal", "canny", "hed", "sketch", "lineart", "pose"}


def restore_then(args: RestoreThenArgs, ctx: ToolContext, progress=None, cancel=None) -> RestoreThenOutput:
    """Restore (the given problems, or those measured), then run one analysis on the result."""
    if args.then == "ground" and not args.referring:
        raise ToolError("then='ground' needs referring (what to find)")
    input_id = _input_id(ctx, args.image)
    measurements = None
    if args.problems == "auto":
        measurements = imageops.measure_degradations(ctx.store.load(input_id).image)
        problems = [m["problem"] for m in measurements if m["present"]]
    else:
        problems = [p.value for p in args.problems]
    meter = _Progress(progress, len(problems) + 1)
    extra = _generation(args) | {"seed": args.seed}
    current, restored = input_id, []
    for problem in problems:
        out = _call("restore", {"image": current, "problem": problem, **extra}, ctx, meter.part(), cancel)
        restored.append(out.image)
        current = out.image.id
    analysis_args = {"image": current, **extra}
    if args.then in _ANNOTATE:
        tool, analysis_args = "annotate", analysis_args | {"kind": args.then}
    elif args.then == "ground":
        tool, analysis_args = "ground", analysis_args | {"referring": args.referring}
    else:
        tool = args.then
    analysis = _call(tool, analysis_args, ctx, meter.part(), cancel)
    from pixwizard.tools.catalog import image_out

    return RestoreThenOutput(
        image=restored[-1] if restored else image_out(ctx.store.get(input_id)),
        problems=problems,
        measurements=measurements,
        restored=restored,
        then=args.then,
        analysis=analysis.model_dump(mode="json"),
        analysis_image=getattr(analysis, "image", None),
    )


def recipe_calls(kind: str):
    """The least number of model calls of a recipe (for a plan's dry run)."""

    def count(args: dict) -> int:
        if kind == "restore_then":
            problems = args.get("problems", "auto")
            return (len(problems) if isinstance(problems, list) else 0) + 1
        grounds = 1 if kind != "add" else int(needs_anchor(args.get("where")))
        return grounds + 1 + int(args.get("verify", True))

    return count


__all__ = [
    "AddArgs",
    "RecipeOutput",
    "RemoveArgs",
    "ReplaceArgs",
    "RestoreThenArgs",
    "RestoreThenOutput",
    "add_object",
    "remove_object",
    "replace_object",
    "restore_then",
]
