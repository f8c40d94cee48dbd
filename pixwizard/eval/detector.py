"""A classical shape-and-colour detector for PixWorld images (no learning), to score generated images.

Notable features:
- Colour first: every pixel takes the nearest of the world's named colours or their stripe shades
  (``TEXTURE_SHADE``), within ``COLOR_TOLERANCE``; nearest-wins keeps close pairs apart (white's shade
  against gray, orange's shade against brown). A colour's mask is its flat and its shaded pixels, so
  striped objects are whole.
- Shape by model fitting against the world's own analytic shapes (``pixwizard.world.shapes``): centre
  from the centroid, radius from the area, a rotation search over each shape's symmetry period, then a
  local refinement of centre, radius and rotation. The fit is scored by an occlusion-aware IoU: model
  pixels showing another named colour may be hidden by an object in front, so they cost only
  ``OCCLUDED_WEIGHT``.
- A component that no shape explains well may be an object merged with a background close to its
  colour: it is refitted from a second labelling at the tighter ``STRICT_TOLERANCE``, and the better
  explanation of the same pixels wins. Touching objects of one colour are not split: they read as one
  blob, and captions leave them out (``pixwizard.world.captions.merges_with_same_color``).
- Speed: squared colour distances from one matrix product; each placement's model is tested only on the
  pixels of its circumscribed circle, in float32, and counted against the component by one matrix
  product; only the shapes close to the best coarse fit are refined.
- The best-fitting shape wins; a request is found when a distinct component's best shape is the
  requested one with a score of at least ``IOU_THRESHOLD`` and its circumscribed circle inside the image
  (as the world places every object). Blank canvases, backgrounds and other shapes therefore fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pixwizard.world.scenes import COLORS, SHAPES, TEXTURE_SHADE
from pixwizard.world.shapes import (
    CROSS_HALF_LENGTH,
    CROSS_HALF_WIDTH,
    ELLIPSE_MINOR,
    RING_INNER,
    SHAPE_FNS,
    STAR_INNER,
    STAR_POINTS,
)

__all__ = ["COLOR_TOLERANCE", "IOU_THRESHOLD", "Detection", "detect", "detection_rate"]

COLOR_TOLERANCE = 32.0
"""Largest Euclidean RGB distance from a named colour (or its shade) for a pixel to take that colour.

Wide enough for mild noise and blur; the closest background can get to most named colours is beyond it
(backgrounds are mixed 50% towards grey), and nearest-wins resolves the named pairs closer than it."""
STRICT_TOLERANCE = 12.0
"""Tolerance of a second pass over poorly fitted components, for a background close to their colour."""
IOU_THRESHOLD = 0.6
"""Smallest occlusion-aware IoU of the best shape for a detection to count as found."""
OCCLUDED_WEIGHT = 0.3
"""Cost, in the IoU's union, of a model pixel that shows another named colour (possibly an occluder)."""
MIN_AREA = 12
"""Fewest pixels of a component worth fitting (the smallest captioned object has about 30)."""
STRIPE_REACH = 5
"""Pixels a stripe shade may lie from its flat colour (a stripe is a third of the radius wide)."""
PINHOLE_NEIGHBOURS = 5
"""Fewest of its 8 neighbours in a colour's mask for an unlabelled pixel to be filled in as a pinhole."""
BORDER_SLACK = 1.0
"""Pixels by which a fitted circumscribed circle may leave the image and still count."""
ROTATION_STEP = math.radians(10.0)
"""Step of the coarse rotation search."""
GOOD_FIT = 0.93
"""A component fitted at least this well is taken as it is: the strict pass does not revisit it."""
SUPPRESS_OVERLAP = 0.3
"""Share of a candidate's pixels already explained by a better candidate that removes it."""
REFINE_MARGIN = 0.08
"""Shapes whose coarse score is within this of the best coarse score are refined; the rest cannot win."""
REFINE_ITERATIONS = 12
"""Most pattern-search steps of a refinement."""

_PERIODS: dict[str, float] = {
    "circle": 0.0,
    "ring": 0.0,
    "square": math.pi / 2,
    "cross": math.pi / 2,
    "hexagon": math.pi / 3,
    "triangle": 2 * math.pi / 3,
    "star": 2 * math.pi / STAR_POINTS,
    "ellipse": math.pi,
}
"""Rotation symmetry period of each shape (0: every rotation is the same)."""

_STAR_AREA = STAR_POINTS * STAR_INNER * math.sin(math.pi / STAR_POINTS)
_UNIT_AREAS: dict[str, float] = {
    "circle": math.pi,
    "ring": math.pi * (1 - RING_INNER**2),
    "square": 2.0,
    "cross": 2 * (2 * CROSS_HALF_WIDTH) * (2 * CROSS_HALF_LENGTH) - (2 * CROSS_HALF_WIDTH) ** 2,
    "hexagon": 3 * math.sqrt(3) / 2,
    "triangle": 3 * math.sqrt(3) / 4,
    "star": _STAR_AREA,
    "ellipse": math.pi * ELLIPSE_MINOR,
}
"""Area of each shape in its unit frame (radius 1), to turn a pixel area into a radius."""


@dataclass(frozen=True)
class Detection:
    """The outcome of one requested ``(color, shape)``."""

    color: str
    shape: str
    found: bool
    mask: np.ndarray | None
    """``(H, W)`` bool pixels of the matched component, or ``None`` when nothing matched."""
    score: float
    """Occlusion-aware IoU of the best candidate of this colour fitted as this shape (0 without one)."""


@dataclass(frozen=True)
class _Fit:
    shape: str
    score: float
    center: tuple[float, float]
    radius: float
    rotation: float


@dataclass(frozen=True)
class _Candidate:
    """One component of a colour (from either labelling) with its per-shape fits."""

    mask: np.ndarray
    fits: dict[str, _Fit]
    best: str
    inside: bool

    @property
    def quality(self) -> float:
        """The best shape's score, 0 when the fit leaves the image (no world object does)."""
        return self.fits[self.best].score if self.inside else 0.0


def _palette() -> np.ndarray:
    # (2 * len(COLORS), 3): the named colours, then their stripe shades in the same order.
    flat = np.array(list(COLORS.values()), dtype=np.uint8)
    shade = (flat * TEXTURE_SHADE).astype(np.uint8)  # the renderer's own rounding (truncation)
    return np.concatenate([flat, shade]).astype(np.float32)


_PALETTE_RGB = _palette()
_PALETTE_SQ = (_PALETTE_RGB**2).sum(1)[None, :]
_RING8 = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32)
_COLOR_INDEX = {name: i for i, name in enumerate(COLORS)}


def _label_pixels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # (H, W) palette entry of the nearest named colour (i) or its shade (i + len(COLORS)), -1 where none
    # is within tolerance: once for COLOR_TOLERANCE, once for STRICT_TOLERANCE. Squared distances come
    # from one small matrix product, |p|^2 - 2 p.c + |c|^2.
    pix = image.reshape(-1, 3).astype(np.float32)
    d2 = (pix * pix).sum(1, keepdims=True) - 2.0 * pix @ _PALETTE_RGB.T + _PALETTE_SQ
    nearest = d2.argmin(1)
    best = np.take_along_axis(d2, nearest[:, None], 1)[:, 0]
    shape = image.shape[:2]
    wide = np.where(best <= COLOR_TOLERANCE**2, nearest, -1).reshape(shape)
    strict = np.where(best <= STRICT_TOLERANCE**2, nearest, -1).reshape(shape)
    return wide, strict


def _color_mask(labels: np.ndarray, color: int) -> np.ndarray:
    flat = labels == color
    # Shaded pixels count only next to flat ones (within a stripe's width): a shade alone is more
    # likely a dim background (white's shade is a mid grey) than a stripe.
    near = cv2.dilate(flat.astype(np.uint8), np.ones((2 * STRIPE_REACH + 1,) * 2, np.uint8)) > 0
    return flat | ((labels == color + len(COLORS)) & near)


def _shape_masks(
    shape: str, xs: np.ndarray, ys: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: np.ndarray, rot: np.ndarray
) -> np.ndarray:
    # Inside tests of P candidate placements on the window's pixel centres: (P, h, w) bool, in float32
    # (plenty for pixel coordinates, and twice as fast as float64).
    f32 = np.float32
    dx = xs.astype(f32)[None, None, :] - cx.astype(f32)[:, None, None]
    dy = ys.astype(f32)[None, :, None] - cy.astype(f32)[:, None, None]
    inv = (1.0 / r).astype(f32)[:, None, None]
    c, s = (np.cos(rot).astype(f32)[:, None, None] * inv), (np.sin(rot).astype(f32)[:, None, None] * inv)
    u = c * dx - s * dy
    v = s * dx + c * dy
    return SHAPE_FNS[shape](u, v)[0]


class _Window:
    """A component's pixels, with the pixels that may hide it, scored against shape placements."""

    def __init__(self, v: np.ndarray, o: np.ndarray) -> None:
        # Weights per pixel: (H*W, 3) columns for "in the component", "may hide it" and "any pixel", so
        # one matrix product of the flattened model masks counts all three for every placement.
        self.v = v
        self.count = int(np.count_nonzero(v))
        self.weights = np.stack([v, o, np.ones_like(v)], axis=-1).astype(np.float32)
        h, w = v.shape
        self.xs = np.arange(w, dtype=np.float64) + 0.5
        self.ys = np.arange(h, dtype=np.float64) + 0.5

    def score(self, shape: str, params: np.ndarray) -> np.ndarray:
        """Occlusion-aware IoUs of ``(P, 4)`` placements ``(cx, cy, r, rotation)``."""
        cx, cy, r, rot = params.T
        # Every shape lies inside its circumscribed circle, so only the pixels of the placements'
        # circles are tested; model pixels beyond the image do not count (as in the renderer).
        h, w = self.v.shape
        x0, x1 = max(0, math.floor((cx - r).min())), min(w, math.ceil((cx + r).max()) + 1)
        y0, y1 = max(0, math.floor((cy - r).min())), min(h, math.ceil((cy + r).max()) + 1)
        if x0 >= x1 or y0 >= y1:
            return np.zeros(len(params))
        masks = _shape_masks(shape, self.xs[x0:x1], self.ys[y0:y1], cx, cy, r, rot)
        counts = masks.reshape(len(params), -1).astype(np.float32) @ self.weights[y0:y1, x0:x1].reshape(-1, 3)
        inter, hidden, total = counts.T
        exposed = total - inter - hidden
        return inter / (self.count + exposed + OCCLUDED_WEIGHT * hidden)


def _refine(win: _Window, shape: str, start: np.ndarray, score: float) -> tuple[np.ndarray, float]:
    # Pattern search: all +-step moves of the four parameters at once, halving the steps on no gain.
    steps = np.array([1.0, 1.0, 0.06 * start[2], ROTATION_STEP / 2 if _PERIODS[shape] else 0.0])
    best, best_score = start, score
    for _ in range(REFINE_ITERATIONS):
        moves = np.concatenate([np.diag(steps), -np.diag(steps)])
        moves = moves[np.any(moves != 0, axis=1)]
        cand = best[None, :] + moves
        cand[:, 2] = np.maximum(cand[:, 2], 1.5)
        scores = win.score(shape, cand)
        i = int(scores.argmax())
        if scores[i] > best_score + 1e-9:
            best, best_score = cand[i], float(scores[i])
        else:
            steps = steps / 2
            if steps[0] < 0.2:
                break
    return best, best_score


def _coarse(win: _Window, shape: str, cx: float, cy: float) -> tuple[np.ndarray, float]:
    r = math.sqrt(win.count / _UNIT_AREAS[shape])
    period = _PERIODS[shape]
    rots = np.arange(0.0, period, ROTATION_STEP) if period else np.zeros(1)
    params = np.stack([np.full_like(rots, cx), np.full_like(rots, cy), np.full_like(rots, r), rots], axis=1)
    scores = win.score(shape, params)
    i = int(scores.argmax())
    return params[i], float(scores[i])


def _fit_all(win: _Window) -> dict[str, _Fit]:
    ys, xs = np.nonzero(win.v)
    cx, cy = float(win.xs[xs].mean()), float(win.ys[ys].mean())
    coarse = {shape: _coarse(win, shape, cx, cy) for shape in SHAPES}
    # Only the shapes close to the best coarse fit can still win, so only they are refined.
    top = max(score for _, score in coarse.values())
    fits = {}
    for shape, (params, score) in coarse.items():
        if score >= top - REFINE_MARGIN:
            params, score = _refine(win, shape, params, score)
        fits[shape] = _Fit(
            shape, score, (float(params[0]), float(params[1])), float(params[2]), float(params[3])
        )
    return fits


def _candidate(region: np.ndarray, hidden: np.ndarray) -> _Candidate:
    fits = _fit_all(_Window(region, hidden))
    best = max(fits.values(), key=lambda f: f.score)
    h, w = region.shape
    (cx, cy), r = best.center, best.radius
    inside = (
        cx - r >= -BORDER_SLACK and cy - r >= -BORDER_SLACK and cx + r <= w + BORDER_SLACK
    ) and cy + r <= h + BORDER_SLACK
    return _Candidate(mask=region, fits=fits, best=best.shape, inside=inside)


def _color_candidates(labels: np.ndarray, color: int, within: np.ndarray | None = None) -> list[_Candidate]:
    # Components of one colour, fitted; with ``within``, only those that overlap it.
    mask = _color_mask(labels, color)
    # Pinholes from noise are filled: an unlabelled pixel mostly surrounded by the colour joins it. Unlike
    # a closing, this never bridges a gap between two objects (a gap pixel has at most 3 such neighbours
    # on either side), nor covers pixels that show another colour.
    neighbours = cv2.filter2D(mask.astype(np.uint8), -1, _RING8, borderType=cv2.BORDER_CONSTANT)
    mask = mask | ((neighbours >= PINHOLE_NEIGHBOURS) & (labels < 0))
    others = (labels >= 0) & ~mask
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out: list[_Candidate] = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < MIN_AREA:
            continue
        region = comp == i
        if within is None or np.any(region & within):
            out.append(_candidate(region, others))
    return out


def _suppress(cands: list[_Candidate]) -> list[_Candidate]:
    # Competing explanations of the same pixels (a component of the wide labelling and those of the
    # strict pass inside it): the best fit keeps them, as in non-maximum suppression.
    kept: list[_Candidate] = []
    taken: np.ndarray | None = None
    for cand in sorted(cands, key=lambda c: -c.quality):
        area = np.count_nonzero(cand.mask)
        if taken is not None and np.count_nonzero(cand.mask & taken) > SUPPRESS_OVERLAP * area:
            continue
        kept.append(cand)
        taken = cand.mask if taken is None else taken | cand.mask
    return kept


def _check_request(color: str, shape: str) -> None:
    if color not in COLORS:
        raise ValueError(f"unknown colour {color!r}; use one of {tuple(COLORS)}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = getattr(image, "shape", type(image).__name__), getattr(image, "dtype", None)
        raise ValueError(f"image must be an (H, W, 3) uint8 array (np.asarray(pil_rgb)), got {got}")


def _matches(cand: _Candidate, shape: str) -> bool:
    return cand.inside and cand.best == shape and cand.fits[shape].score >= IOU_THRESHOLD


def _pool(labels: np.ndarray, strict: np.ndarray, color: str) -> list[_Candidate]:
    idx = _COLOR_INDEX[color]
    cands = _color_candidates(labels, idx)
    poor = [c.mask for c in cands if c.quality < GOOD_FIT]
    if poor:
        # A poor fit may be an object merged with a background close to its colour: the strict
        # tolerance refits just those pixels.
        cands += _color_candidates(strict, idx, within=np.logical_or.reduce(poor))
    return _suppress(cands)


def detect(image: np.ndarray, objects: Sequence[tuple[str, str]]) -> list[Detection]:
    """Look for each requested ``(color, shape)`` in an image.

    Each request needs its own component: two requested "red circle"s are found only if two red
    components are each best explained as a circle.

    Args:
        image: ``(H, W, 3)`` uint8 RGB image.
        objects: Requested ``(color, shape)`` pairs; colours are ``COLORS`` keys, shapes ``SHAPES``.

    Returns:
        One ``Detection`` per request, in order.

    Raises:
        ValueError: If the image is not ``(H, W, 3)`` uint8, or a colour or shape is unknown.
    """
    _check_image(image)
    requests = [tuple(pair) for pair in objects]
    for color, shape in requests:
        _check_request(color, shape)
    labels, strict = _label_pixels(image)
    pools = {color: _pool(labels, strict, color) for color in dict.fromkeys(c for c, _ in requests)}
    used: set[int] = set()
    out: list[Detection] = []
    for color, shape in requests:
        ranked = sorted(pools[color], key=lambda c: -c.fits[shape].score)
        match = next((c for c in ranked if id(c) not in used and _matches(c, shape)), None)
        if match is not None:
            used.add(id(match))
        score = ranked[0].fits[shape].score if ranked else 0.0
        chosen = match.fits[shape].score if match is not None else score
        mask = match.mask if match is not None else None
        out.append(Detection(color=color, shape=shape, found=match is not None, mask=mask, score=chosen))
    return out


def detection_rate(detections: Sequence[Detection]) -> float:
    """Share of detections that were found (0 for none)."""
    return sum(d.found for d in detections) / len(detections) if detections else 0.0
