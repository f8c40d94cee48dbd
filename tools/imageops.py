"""Pure, model-free image operations: masks, geometry, compositing, comparison and quick diagnostics.

Nothing here reads or writes files, touches the image store or imports torch. Every function returns a new
object and leaves its inputs alone; every refusal is a one-line `ValueError` naming the argument and what
is allowed. Conventions:

- A *mask* is a 2-D bool array of shape ``(H, W)``; a *soft mask* is a float array in ``[0, 1]``.
- Sizes are ``(width, height)`` as PIL writes them; boxes are ``(x0, y0, x1, y1)`` with ``x1``/``y1``
  exclusive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

MAX_SIDE = 16384
"""The largest width or height `resize` will produce."""

# Thresholds of `measure_degradations`, calibrated on the synthetic photos of tests/tools/test_imageops.py.
# Per-channel noise of sigma s reads about 0.67 s on the grey image, which averages the three channels.
NOISE_SIGMA = 6.0  # grey levels (0..255); clean scenes read 1-2, sigma-25 colour noise about 16
SHARPNESS_RATIO = 0.7  # Laplacian variance / gradient energy; sharp scenes read 4-5, a sigma-3 blur 0.1-0.2
FLAT_STD = 2.0  # grey levels; below this there is no structure to judge sharpness or haze by
LOW_LIGHT = 0.25  # mean luminance as a share of full scale
HAZE_DARK = 0.45  # mean dark channel, share of full scale; clean scenes read 0.1-0.3, 60% haze 0.55+
HAZE_CONTRAST = 0.1  # grey std, share of full scale; clean scenes read 0.12-0.16, 60% haze about 0.05
HAZE_PATCH = 15  # dark-channel window, as in He et al., "Single Image Haze Removal Using Dark Channel Prior"

_BLEND_MODES = ("1", "L", "LA", "RGB", "RGBA", "I", "F")
_SIDES = ("left", "top", "right", "bottom")


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _check_image(image: object, name: str) -> Image.Image:
    if not isinstance(image, Image.Image):
        raise ValueError(f"{name} must be a PIL image, got {type(image).__name__}")
    return image


def _check_mask(mask: object, name: str, soft: bool = False) -> np.ndarray:
    """A bool mask as it is, or with ``soft`` also a float one in [0, 1], as float64 weights."""
    if isinstance(mask, np.ndarray) and mask.ndim == 2:
        if mask.dtype == bool:
            return mask.astype(np.float64) if soft else mask
        if soft and np.issubdtype(mask.dtype, np.floating):
            if not np.all((mask >= 0) & (mask <= 1)):  # also refuses NaN
                raise ValueError(f"{name} holds values outside [0, 1]: a soft mask must lie in [0, 1]")
            return mask.astype(np.float64)
    got = f"{mask.dtype} array of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
    allowed = "a 2-D bool or [0, 1] float array" if soft else "a 2-D bool array (to_mask makes one)"
    raise ValueError(f"{name} must be {allowed}, got {got}")


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def _check_same_size(size: tuple[int, int], ref: tuple[int, int], name: str, ref_name: str) -> None:
    if tuple(size) != tuple(ref):
        raise ValueError(
            f"{name} is {_size_text(size)} but {ref_name} is {_size_text(ref)}: they must have the same size"
        )


def _mask_size(mask: np.ndarray) -> tuple[int, int]:
    return mask.shape[1], mask.shape[0]


def _clip_box(box: Sequence[float], size: tuple[int, int], name: str = "box") -> tuple[int, int, int, int]:
    """The box clipped to an image of ``size``, widened outwards to whole pixels; refuses empty results."""
    if len(box) != 4:
        raise ValueError(f"{name} must be (x0, y0, x1, y1), got {box!r}")
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"{name} {tuple(box)} is empty or inverted: x1 must exceed x0 and y1 must exceed y0")
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(size[0], math.ceil(x1)), min(size[1], math.ceil(y1))
    if right <= left or bottom <= top:
        raise ValueError(f"{name} {tuple(box)} lies outside the {_size_text(size)} image: it must overlap it")
    return left, top, right, bottom


def to_mask(image: Image.Image) -> np.ndarray:
    """A bool ``(H, W)`` mask of an image: True where its grey (``L``) value exceeds 127; alpha is ignored."""
    return np.asarray(_check_image(image, "image").convert("L")) > 127


def mask_image(mask: np.ndarray) -> Image.Image:
    """An ``L`` image of a bool mask (0/255) or of a soft float mask in [0, 1] (rounded to 0..255)."""
    return Image.fromarray(np.rint(_check_mask(mask, "mask", soft=True) * 255).astype(np.uint8))


def _morph(operation: Callable[..., np.ndarray], mask: np.ndarray, radius: int) -> np.ndarray:
    mask, radius = _check_mask(mask, "mask"), _check_int(radius, "radius", 0)
    if radius == 0:
        return mask.copy()
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return operation(mask.astype(np.uint8), ellipse).astype(bool)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a mask by an ellipse of diameter ``2 * radius + 1`` (radius 0 returns a copy)."""
    return _morph(cv2.dilate, mask, radius)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrink a mask by an ellipse of diameter ``2 * radius + 1``; the image border does not erode."""
    return _morph(cv2.erode, mask, radius)


def feather(mask: np.ndarray, radius: int) -> np.ndarray:
    """A float32 soft mask in [0, 1]: the mask blurred with sigma ``radius / 2`` (radius 0: unblurred)."""
    mask, radius = _check_mask(mask, "mask"), _check_int(radius, "radius", 0)
    soft = mask.astype(np.float32)
    if radius == 0:
        return soft
    sigma = radius / 2
    ksize = 2 * math.ceil(3 * sigma) + 1  # the kernel reaches three sigmas either side
    return np.clip(cv2.GaussianBlur(soft, (ksize, ksize), sigma), 0.0, 1.0)


def invert(mask: np.ndarray) -> np.ndarray:
    """The complement of a mask."""
    return ~_check_mask(mask, "mask")


def union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels in either mask; the masks must have the same size."""
    _check_same_size(_mask_size(_check_mask(b, "b")), _mask_size(_check_mask(a, "a")), "b", "a")
    return a | b


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels in both masks; the masks must have the same size."""
    _check_same_size(_mask_size(_check_mask(b, "b")), _mask_size(_check_mask(a, "a")), "b", "a")
    return a & b


def box_to_mask(size: tuple[int, int], box: Sequence[float]) -> np.ndarray:
    """A ``(height, width)`` mask, True inside ``box`` clipped to the image; fractional edges widen."""
    if len(size) != 2:
        raise ValueError(f"size must be (width, height), got {size!r}")
    width, height = _check_int(size[0], "size[0]", 1), _check_int(size[1], "size[1]", 1)
    x0, y0, x1, y1 = _clip_box(box, (width, height))
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def crop(image: Image.Image, box: Sequence[float]) -> Image.Image:
    """The part of ``image`` inside ``box`` (clipped to the image; it must overlap it)."""
    image = _check_image(image, "image")
    return image.crop(_clip_box(box, image.size))


def resize(
    image: Image.Image,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    *,
    resample: Image.Resampling = Image.Resampling.LANCZOS,
) -> Image.Image:
    """Resize by a ``scale`` factor or to ``width`` and/or ``height``; one side alone keeps the aspect.

    Args:
        image: The image to resize.
        width: Target width in pixels.
        height: Target height in pixels.
        scale: Factor for both sides; give it or width/height, not both.
        resample: PIL filter; LANCZOS suits photos, NEAREST keeps masks binary.

    Returns:
        A new image of at least 1x1 and at most `MAX_SIDE` per side.
    """
    image = _check_image(image, "image")
    old_w, old_h = image.size
    if (scale is None) == (width is None and height is None):
        raise ValueError("resize needs either scale or width/height (one or both), not both and not neither")
    width = None if width is None else _check_int(width, "width", 1)
    height = None if height is None else _check_int(height, "height", 1)
    if scale is not None:
        if not scale > 0 or not math.isfinite(scale):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        width, height = max(1, round(old_w * scale)), max(1, round(old_h * scale))
    elif height is None:
        height = max(1, round(old_h * width / old_w))
    elif width is None:
        width = max(1, round(old_w * height / old_h))
    if max(width, height) > MAX_SIDE:
        raise ValueError(f"resize to {width}x{height} exceeds {MAX_SIDE} pixels per side: ask for less")
    return image.resize((int(width), int(height)), resample=resample)


def pad(
    image: Image.Image,
    left: int,
    top: int,
    right: int,
    bottom: int,
    color: str | int | tuple[int, ...] = (0, 0, 0),
) -> Image.Image:
    """Add borders of ``color`` (non-negative widths in pixels); an RGB colour is converted for grey modes."""
    image = _check_image(image, "image")
    border = tuple(_check_int(v, n, 0) for v, n in zip((left, top, right, bottom), _SIDES, strict=True))
    if isinstance(color, tuple) and len(color) != len(image.getbands()) and image.mode != "P":
        color = Image.new("RGBA", (1, 1), color).convert(image.mode).getpixel((0, 0))
    return ImageOps.expand(image, border=border, fill=color)


def composite(image: Image.Image, other: Image.Image, mask: np.ndarray | Image.Image) -> Image.Image:
    """``other`` where the mask is set, ``image`` elsewhere; a soft mask blends linearly.

    Args:
        image: The base; the result has its mode. Palette images must be converted first.
        other: The image to show through the mask, converted to ``image``'s mode.
        mask: A bool or float ``[0, 1]`` array, or an image read as grey / 255.

    Returns:
        A new image in which pixels under a 0 mask are byte-identical to ``image``.
    """
    image, other = _check_image(image, "image"), _check_image(other, "other")
    if image.mode not in _BLEND_MODES:
        raise ValueError(f"image mode {image.mode} cannot be blended: use one of {', '.join(_BLEND_MODES)}")
    if isinstance(mask, Image.Image):
        weight = np.asarray(mask.convert("L"), np.float64) / 255
    else:
        weight = _check_mask(mask, "mask", soft=True)
    _check_same_size(other.size, image.size, "other", "image")
    _check_same_size(_mask_size(weight), image.size, "mask", "image")
    base = np.asarray(image)
    top = np.asarray(other.convert(image.mode))
    w = weight if base.ndim == 2 else weight[..., None]
    blended = base + (top.astype(np.float64) - base) * w
    if base.dtype == bool:
        out = blended >= 0.5
    elif np.issubdtype(base.dtype, np.integer):
        out = np.rint(blended).astype(base.dtype)
    else:
        out = blended.astype(base.dtype)
    # Keep 0-weight pixels exact even where float maths cannot (inf * 0 is NaN in an F image).
    out = np.where(w == 0, base, out)
    return Image.fromarray(out)


def draw_boxes(
    image: Image.Image,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str] | None = None,
    color: str | tuple[int, int, int] = "red",
    width: int = 2,
) -> Image.Image:
    """An RGB copy of ``image`` with rectangles (``x1``/``y1`` exclusive) and optional labels drawn on it."""
    canvas = _check_image(image, "image").convert("RGB")
    if labels is not None and len(labels) != len(boxes):
        raise ValueError(f"labels has {len(labels)} entries but boxes has {len(boxes)}: give one per box")
    width = _check_int(width, "width", 1)
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for i, box in enumerate(boxes):
        if len(box) != 4 or not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"boxes[{i}] must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box!r}")
        x0, y0, x1, y1 = box
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=color, width=width)  # PIL's corners are inclusive
        if labels is not None and labels[i]:
            left, top, right, bottom = draw.textbbox((0, 0), labels[i], font=font)
            text_y = y0 - (bottom - top) - 2 if y0 >= bottom - top + 2 else y0 + width  # above when it fits
            draw.rectangle((x0, text_y, x0 + right - left + 3, text_y + bottom - top + 1), fill=color)
            draw.text((x0 + 2 - left, text_y - top), labels[i], fill="white", font=font)
    return canvas


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Float luminance (ITU-R BT.601 weights, 0..255) of an ``(H, W, 3)`` array."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _region_stats(
    a: np.ndarray, b: np.ndarray, changed: np.ndarray, ssim: np.ndarray, region: np.ndarray
) -> dict[str, float | int | None]:
    pixels = int(region.sum())
    if pixels == 0:
        return {"pixels": 0, "changed_fraction": None, "psnr": None, "ssim": None}
    mse = float(np.mean((a[region].astype(np.float64) - b[region]) ** 2))
    return {
        "pixels": pixels,
        "changed_fraction": float(changed[region].mean()),
        "psnr": None if mse == 0 else 10 * math.log10(255**2 / mse),
        "ssim": float(ssim[region].mean()),
    }


def compare(
    a: Image.Image, b: Image.Image, mask: np.ndarray | Image.Image | None = None
) -> dict[str, object]:
    """How much two same-size images differ, compared as RGB uint8.

    Args:
        a: The reference image.
        b: The image compared with it.
        mask: Optional bool array or image (read with `to_mask`) splitting the result into ``inside`` and
            ``outside``. SSIM near the region's edge still sees pixels across it through its window.

    Returns:
        ``changed_fraction`` (share of pixels with any channel different), ``psnr`` (dB, None when
        identical), ``ssim`` (mean of the luminance SSIM map), ``identical``, and with a mask ``inside``
        and ``outside``, each ``{"pixels", "changed_fraction", "psnr", "ssim"}`` (None when empty).
    """
    a, b = _check_image(a, "a"), _check_image(b, "b")
    _check_same_size(b.size, a.size, "b", "a")
    rgb_a, rgb_b = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))
    changed = np.any(rgb_a != rgb_b, axis=-1)
    from pixwizard.eval.metrics import ssim_map

    ssim = ssim_map(_luma(rgb_a), _luma(rgb_b))
    whole = _region_stats(rgb_a, rgb_b, changed, ssim, np.ones(changed.shape, bool))
    result: dict[str, object] = {key: whole[key] for key in ("changed_fraction", "psnr", "ssim")}
    result["identical"] = not bool(changed.any())
    if mask is not None:
        region = to_mask(mask) if isinstance(mask, Image.Image) else _check_mask(mask, "mask")
        _check_same_size(_mask_size(region), a.size, "mask", "a")
        result["inside"] = _region_stats(rgb_a, rgb_b, changed, ssim, region)
        result["outside"] = _region_stats(rgb_a, rgb_b, changed, ssim, ~region)
    return result


def _finding(problem: str, value: float, threshold: float, present: bool, measure: str) -> dict[str, object]:
    return dict(problem=problem, value=value, threshold=threshold, present=present, measure=measure)


def measure_degradations(image: Image.Image) -> list[dict[str, object]]:
    """Cheap measurements that hint at what is wrong with a photo: noise, blur, low light, haze.

    - ``denoise``: noise sigma in grey levels by Immerkær's fast estimate (J. Immerkær, "Fast Noise Variance
      Estimation", CVIU 1996); present above `NOISE_SIGMA`.
    - ``deblur``: Laplacian variance over mean squared gradient. Plain Laplacian variance also falls when
      an image is merely dark or hazy; the ratio depends on detail, not contrast. Present below
      `SHARPNESS_RATIO`, never for a nearly flat image (grey std below `FLAT_STD`).
    - ``lowlight``: mean luminance as a share of full scale; present below `LOW_LIGHT`.
    - ``dehaze``: mean dark channel (He et al. 2009) as a share of full scale; present above `HAZE_DARK`
      when the grey contrast (std / 255) is also below `HAZE_CONTRAST`, so bright scenes with contrast pass;
      never for a nearly flat image, which has nothing to recover.

    Args:
        image: A PIL image of at least 3x3 pixels (converted to RGB).

    Returns:
        One dict per problem: ``problem``, ``value``, ``threshold``, ``present``, ``measure``.
    """
    rgb = np.asarray(_check_image(image, "image").convert("RGB"))
    if min(image.size) < 3:
        raise ValueError(f"image is {_size_text(image.size)}: measurements need at least 3x3 pixels")
    grey = _luma(rgb)
    height, width = grey.shape

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = cv2.filter2D(grey, -1, kernel)[1:-1, 1:-1]
    noise = math.sqrt(math.pi / 2) * float(np.abs(response).sum()) / (6 * (width - 2) * (height - 2))

    laplacian = cv2.Laplacian(grey, cv2.CV_64F)
    gx, gy = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3) / 8, cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3) / 8
    gradient_energy = float(np.mean(gx**2 + gy**2))
    sharpness = float(laplacian.var()) / max(gradient_energy, 1e-12)
    flat = float(grey.std()) < FLAT_STD
    blurry = sharpness < SHARPNESS_RATIO and not flat

    brightness = float(grey.mean()) / 255
    dark = cv2.erode(rgb.min(axis=-1), np.ones((HAZE_PATCH, HAZE_PATCH), np.uint8))
    dark_mean, contrast = float(dark.mean()) / 255, float(grey.std()) / 255
    hazy = dark_mean > HAZE_DARK and contrast < HAZE_CONTRAST and not flat
    return [
        _finding("denoise", noise, NOISE_SIGMA, noise > NOISE_SIGMA, "immerkaer_sigma"),
        _finding("deblur", sharpness, SHARPNESS_RATIO, blurry, "laplacian_ratio"),
        _finding("lowlight", brightness, LOW_LIGHT, brightness < LOW_LIGHT, "mean_luminance"),
        _finding("dehaze", dark_mean, HAZE_DARK, hazy, "dark_channel"),
    ]
