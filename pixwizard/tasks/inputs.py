"""Preparing a task's input image: masked photos, extended canvases, blank canvases, condition maps.

The authors trained inpainting and outpainting on regions painted black or white (paper §3, data
construction); ``fill`` chooses which. Text-to-image runs on a blank white canvas, as their sampler does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

FILLS = {"white": (255, 255, 255), "black": (0, 0, 0)}


def _fill(fill: str) -> tuple[int, int, int]:
    if fill not in FILLS:
        raise ValueError(f"fill must be 'white' or 'black', got {fill!r}")
    return FILLS[fill]


def load_mask(mask: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask as ``(h, w)`` bool (True = the region to change); any non-zero pixel counts.

    Raises:
        ValueError: If its size differs from the image's or it is empty.
    """
    array = np.asarray(mask.convert("L") if isinstance(mask, Image.Image) else mask)
    if array.ndim == 3:
        array = array.max(-1)
    if array.shape[::-1] != tuple(size):
        raise ValueError(
            f"mask is {array.shape[1]}x{array.shape[0]} but the image is {size[0]}x{size[1]}; "
            "give a mask of the same size"
        )
    region = array > (0.5 if array.dtype == bool or array.max() <= 1 else 127)
    if not region.any():
        raise ValueError("the mask is empty: paint the region to fill in white (or True)")
    return region


def inpaint_input(
    image: Image.Image, mask: Image.Image | np.ndarray, fill: str = "white"
) -> tuple[Image.Image, np.ndarray]:
    """The photo with the masked region painted ``fill``, and the mask as bool."""
    region = load_mask(mask, image.size)
    array = np.asarray(image.convert("RGB")).copy()
    array[region] = _fill(fill)
    return Image.fromarray(array), region


@dataclass
class Canvas:
    """An extended canvas: the image, the mask of the new area, and where the original sits."""

    image: Image.Image
    new_area: np.ndarray  # (h, w) bool
    placement: tuple[int, int, int, int]  # (x0, y0, x1, y1) of the original photo


def outpaint_canvas(
    image: Image.Image, direction: str = "all", ratio: float = 0.5, fill: str = "white"
) -> Canvas:
    """A larger canvas with ``ratio`` of the photo's width (left/right) or height (top/bottom) added.

    ``all`` adds ``ratio/2`` on each of the four sides. ``ratio`` is in (0, 2].
    """
    if not 0 < ratio <= 2:
        raise ValueError(f"ratio must be in (0, 2], got {ratio}")
    w, h = image.size
    add_w, add_h = round(w * ratio), round(h * ratio)
    pads = {
        "left": (add_w, 0, 0, 0),
        "right": (0, 0, add_w, 0),
        "top": (0, add_h, 0, 0),
        "bottom": (0, 0, 0, add_h),
        "all": (add_w // 2, add_h // 2, add_w - add_w // 2, add_h - add_h // 2),
    }
    if direction not in pads:
        raise ValueError(f"direction must be one of {', '.join(pads)}, got {direction!r}")
    left, top, right, bottom = pads[direction]
    canvas = Image.new("RGB", (w + left + right, h + top + bottom), _fill(fill))
    canvas.paste(image.convert("RGB"), (left, top))
    new_area = np.ones(canvas.size[::-1], bool)
    new_area[top : top + h, left : left + w] = False
    return Canvas(canvas, new_area, (left, top, left + w, top + h))


def blank_canvas(
    size: tuple[int, int] | None = None,
    *,
    aspect: float | None = None,
    area: int = 768 * 768,
    fill: str = "white",
) -> Image.Image:
    """A blank canvas of ``size`` ``(w, h)``, or of ``aspect`` (w/h) with about ``area`` pixels."""
    if size is None:
        aspect = aspect or 1.0
        if not 0.25 <= aspect <= 4:
            raise ValueError(f"aspect must be between 1/4 and 4, got {aspect}")
        width = round((area * aspect) ** 0.5)
        size = (width, round(width / aspect))
    if min(size) < 8:
        raise ValueError(f"canvas size must be at least 8x8, got {size}")
    return Image.new("RGB", tuple(size), _fill(fill))


def canny_map(image: Image.Image, low: int = 100, high: int = 200) -> Image.Image:
    """Canny edges with OpenCV (white edges on black), the condition of ``canny_to_image``."""
    grey = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(grey, low, high)
    return Image.fromarray(edges).convert("RGB")


@dataclass
class Prepared:
    """A task's input as the model sees it, and what decoding needs to know about it."""

    image: Image.Image
    """What the model is given (before its bucket resize)."""
    region: np.ndarray | None = None
    """``(h, w)`` bool at ``image``'s size: pixels meant to change (inpaint hole, outpaint border)."""
    original: Image.Image | None = None
    """The user's photo when ``image`` embeds it (None for generation and condition maps)."""
    placement: tuple[int, int, int, int] | None = None
    """Outpainting: where the photo sits on the canvas."""


def prepare(
    task: str,
    image: Image.Image | None = None,
    *,
    mask: Image.Image | np.ndarray | None = None,
    direction: str | None = None,
    canvas_size: tuple[int, int] | None = None,
    default_side: int = 768,
    ratio: float = 0.5,
    fill: str = "white",
) -> Prepared:
    """The model's input for ``task`` (condition maps are taken as given; see `run_task` for photos).

    Args:
        task: A task name.
        image: The photo or condition map (None for text-to-image).
        mask: Inpainting: the region to fill.
        direction: Outpainting: ``left``, ``right``, ``top``, ``bottom`` or ``all`` (default).
        canvas_size: Text-to-image: ``(w, h)`` of the canvas (default: the image's, else a square).
        default_side: Side of the square text-to-image canvas when neither size is given.
        ratio: Outpainting: how much to add (see `outpaint_canvas`).
        fill: ``white`` or ``black`` for blank regions.

    Raises:
        ValueError: For a missing image or mask.
    """
    from pixwizard.tasks.registry import InputKind, get_task

    kind = get_task(task).input
    if kind is InputKind.BLANK:
        size = canvas_size or (image.size if image is not None else (default_side, default_side))
        return Prepared(blank_canvas(size, fill=fill))
    if image is None:
        raise ValueError(f"task {task!r} needs an input image")
    image = image.convert("RGB")
    if kind is InputKind.MASKED:
        if mask is None:
            raise ValueError("inpaint needs a mask of the region to fill (white = fill)")
        masked, region = inpaint_input(image, mask, fill)
        return Prepared(masked, region, image)
    if kind is InputKind.EXTENDED:
        canvas = outpaint_canvas(image, direction or "all", ratio, fill)
        return Prepared(canvas.image, canvas.new_area, image, canvas.placement)
    if kind is InputKind.CONDITION:
        return Prepared(image)
    return Prepared(image, None, image)
