"""Degraded/clean pairs for the restoration tasks (NumPy, OpenCV and PIL only).

Notable features:
- One degradation *kind* per physical effect (``noise``, ``blur``, ``haze``, ...), each mapped to the task
  of ``pixwizard.tasks`` that undoes it (``DEGRADATIONS``); every restoration task has at least one kind.
- Every random draw comes from the caller's ``numpy.random.Generator`` and every range from the frozen
  ``Difficulty``, so a pair is reproducible from ``(seed, difficulty version)``; ``clean`` is never modified.
- ``Degraded.params`` records the drawn scalars (JSON-safe floats; flags are 0.0/1.0), so analytics such as
  the noise PSNR can be computed from them.
- All kinds work in float on the 0-255 scale and round and clip to uint8 once, at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pixwizard.world.difficulty import DIFFICULTY_V1, Difficulty

Params = dict[str, float]
KindFn = Callable[
    [np.ndarray, np.random.Generator, Difficulty, "np.ndarray | None"], tuple[np.ndarray, Params]
]

FIELD_NEAR = 4.0
FIELD_FAR = 12.0
"""Depth range (scene units, as ``depth_map``) of the smooth field that hazes an image without depth."""
DROP_VIEW_SIGMA = 2.0
"""Blur of the out-of-focus view seen through a raindrop, in pixels."""
MOIRE_DETUNE = 1.08
MOIRE_TILT = 0.12
"""The second grating's period ratio and extra angle (radians) relative to the first: a small detuning
is what makes the slow beat bands of a moiré pattern."""
WATERMARK_WORDS = ("PIXWORLD", "SAMPLE", "PROOF", "DRAFT", "(c) PW")
"""Texts that ``watermark`` stamps (a logo otherwise)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Degraded:
    """A degraded image with the parameters that made it (compared by identity: it holds an array)."""

    image: np.ndarray
    """``(H, W, 3)`` uint8 RGB, the size of the clean image."""
    kind: str
    """The degradation kind, a key of ``DEGRADATIONS``."""
    params: dict[str, float]
    """The drawn parameters (JSON-safe floats; 0.0/1.0 for flags)."""


# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], name: str) -> float:
    low, high = bounds
    if not low <= high:
        raise ValueError(f"difficulty.{name} must be (low, high) with low <= high, got {bounds!r}")
    return float(rng.uniform(low, high))


def _integer(rng: np.random.Generator, bounds: tuple[int, int], name: str) -> int:
    low, high = bounds
    if not low <= high:
        raise ValueError(f"difficulty.{name} must be (low, high) with low <= high, got {bounds!r}")
    return int(rng.integers(low, high + 1))


def _count(density: float, image: np.ndarray) -> int:
    # At least one element, so a tiny density still degrades the image.
    return max(1, round(density * image.shape[0] * image.shape[1]))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _towards_white(image: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Pull each pixel towards 255 by ``weight`` ``(H, W)`` in [0, 1]."""
    return image + (255.0 - image) * weight[..., None]


def _grid(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    return np.arange(w, dtype=np.float32)[None, :] + 0.5, np.arange(h, dtype=np.float32)[:, None] + 0.5


# ----------------------------------------------------------------------------------------------------
# Kinds: each takes the clean image as float32 (H, W, 3) on 0-255 and returns (image, params)
# ----------------------------------------------------------------------------------------------------


def _noise(img, rng, d, depth):
    sigma = _uniform(rng, d.noise_sigma, "noise_sigma")
    return img + rng.normal(0.0, sigma, img.shape), {"sigma": sigma}


def _gaussian_blur(img, rng, d, depth):
    sigma = _uniform(rng, d.blur_sigma, "blur_sigma")
    return _blur(img, sigma), {"sigma": sigma}


def motion_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised linear motion kernel: a line of ``length`` pixels at ``angle`` radians, anti-aliased.

    Args:
        length: Line length in pixels (at least 1).
        angle: Direction, counter-clockwise from the x axis.

    Returns:
        ``(k, k)`` float32 kernel summing to 1, ``k`` the smallest odd size that holds the line.
    """
    if length < 1:
        raise ValueError(f"motion length must be >= 1 pixel, got {length}")
    size = length if length % 2 else length + 1
    c = (size - 1) / 2
    t = np.linspace(-(length - 1) / 2, (length - 1) / 2, 4 * length)
    x, y = c + t * math.cos(angle), c - t * math.sin(angle)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((size + 1, size + 1), np.float64)
    # Bilinear splatting of points along the line keeps off-axis angles smooth.
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        weight = (fx if dx else 1 - fx) * (fy if dy else 1 - fy)
        np.add.at(kernel, (y0 + dy, x0 + dx), weight)
    kernel = kernel[:size, :size]
    return (kernel / kernel.sum()).astype(np.float32)


def _motion_blur(img, rng, d, depth):
    length = _integer(rng, d.motion_length, "motion_length")
    angle = float(rng.uniform(0.0, math.pi))
    out = cv2.filter2D(img, -1, motion_kernel(length, angle), borderType=cv2.BORDER_REFLECT)
    return out, {"length": float(length), "angle": angle}


def _rain_streaks(img, rng, d, depth):
    density = _uniform(rng, d.rain_density, "rain_density")
    length = _uniform(rng, d.rain_length, "rain_length")
    tilt = _uniform(rng, d.rain_angle, "rain_angle")
    opacity = _uniform(rng, d.rain_opacity, "rain_opacity")
    n = _count(density, img)
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    # Starts above and left of the frame too, so streaks enter from the edges; 4 bits of sub-pixel shift.
    starts = rng.uniform((-length, -length), (w + length, h), size=(n, 2))
    step = np.array([math.sin(tilt), math.cos(tilt)]) * length
    for p0 in starts:
        a, b = np.round(p0 * 16).astype(int), np.round((p0 + step) * 16).astype(int)
        cv2.line(layer, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 1.0, 1, cv2.LINE_AA, 4)
    layer = np.clip(_blur(layer, 0.5), 0.0, 1.0) * opacity
    params = {"count": float(n), "density": density, "length": length, "angle": tilt, "opacity": opacity}
    return _towards_white(img, layer), params


def _discs(img: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Union ``(H, W)`` in [0, 1] of anti-aliased discs (a one-pixel soft edge)."""
    x, y = _grid(img)
    cover = np.zeros(img.shape[:2], np.float32)
    for (cx, cy), r in zip(centres, radii, strict=True):
        dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        cover = np.maximum(cover, np.clip(r - dist + 0.5, 0.0, 1.0))
    return cover


def _raindrops(img, rng, d, depth):
    density = _uniform(rng, d.drop_density, "drop_density")
    brightness = _uniform(rng, d.drop_brightness, "drop_brightness")
    n = _count(density, img)
    h, w = img.shape[:2]
    radii = rng.uniform(*d.drop_radius, size=n)
    centres = rng.uniform((0, 0), (w, h), size=(n, 2))
    cover = _discs(img, centres, radii)[..., None]
    view = _blur(img, DROP_VIEW_SIGMA) * (1 - brightness) + 255.0 * brightness
    params = {"count": float(n), "density": density, "radius": float(radii.mean()), "brightness": brightness}
    return img * (1 - cover) + view * cover, params


def _smooth_field(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A smooth pseudo-depth in ``[FIELD_NEAR, FIELD_FAR]``: a random ramp plus low-frequency noise."""
    h, w = img.shape[:2]
    x, y = _grid(img)
    angle = rng.uniform(0.0, 2 * math.pi)
    ramp = (x * math.cos(angle) + y * math.sin(angle)) / max(h, w)
    coarse = cv2.resize(rng.random((4, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    field = 0.6 * ramp + 0.4 * coarse
    field = (field - field.min()) / max(float(field.max() - field.min()), 1e-6)
    return FIELD_NEAR + (FIELD_FAR - FIELD_NEAR) * field


def _haze(img, rng, d, depth):
    beta = _uniform(rng, d.haze_beta, "haze_beta")
    airlight = _uniform(rng, d.haze_airlight, "haze_airlight")
    distance = depth if depth is not None else _smooth_field(img, rng)
    t = np.exp(-beta * distance.astype(np.float32))[..., None]
    params = {"beta": beta, "airlight": airlight, "from_depth": float(depth is not None)}
    return img * t + airlight * (1 - t), params


def _low_light(img, rng, d, depth):
    scale = _uniform(rng, d.lowlight_scale, "lowlight_scale")
    gamma = _uniform(rng, d.lowlight_gamma, "lowlight_gamma")
    sigma = _uniform(rng, d.lowlight_noise, "lowlight_noise")
    dark = 255.0 * scale * (img / 255.0) ** gamma
    return dark + rng.normal(0.0, sigma, img.shape), {"scale": scale, "gamma": gamma, "noise_sigma": sigma}


def _snow(img, rng, d, depth):
    density = _uniform(rng, d.snow_density, "snow_density")
    veil = _uniform(rng, d.snow_veil, "snow_veil")
    n = _count(density, img)
    h, w = img.shape[:2]
    radii = rng.uniform(*d.snow_radius, size=n)
    centres = rng.uniform((0, 0), (w, h), size=(n, 2))
    shades = rng.uniform(0.6, 1.0, size=n)  # flakes nearer the lens are whiter
    layer = np.zeros((h, w), np.float32)
    for (cx, cy), r, s in zip(centres, radii, shades, strict=True):
        centre = (round(cx * 16), round(cy * 16))
        cv2.circle(layer, centre, max(1, round(r * 16)), float(s), -1, cv2.LINE_AA, 4)
    layer = np.clip(_blur(layer, 0.6), 0.0, 1.0)
    veiled = img * (1 - veil) + 255.0 * veil
    params = {"count": float(n), "density": density, "radius": float(radii.mean()), "veil": veil}
    return _towards_white(veiled, layer), params


def _moire(img, rng, d, depth):
    amplitude = _uniform(rng, d.moire_amplitude, "moire_amplitude")
    period = _uniform(rng, d.moire_period, "moire_period")
    angle = float(rng.uniform(0.0, math.pi))
    phases = rng.uniform(0.0, 2 * math.pi, size=3)  # one per channel: the colour fringes of screen moiré
    x, y = _grid(img)
    first = 2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period
    tilted = angle + MOIRE_TILT
    second = 2 * math.pi * (x * math.cos(tilted) + y * math.sin(tilted)) / (period * MOIRE_DETUNE)
    pattern = np.stack([(np.cos(first + p) + np.cos(second + p)) / 2 for p in phases], axis=-1)
    return img * (1 + amplitude * pattern), {"amplitude": amplitude, "period": period, "angle": angle}


def _shadow(img, rng, d, depth):
    strength = _uniform(rng, d.shadow_strength, "shadow_strength")
    softness = _uniform(rng, d.shadow_softness, "shadow_softness")
    h, w = img.shape[:2]
    vertices = int(rng.integers(3, 7))
    centre = rng.uniform((0.2 * w, 0.2 * h), (0.8 * w, 0.8 * h))
    # Evenly spread, jittered vertex angles: a solid polygon rather than a sliver.
    slots = np.arange(vertices) + rng.uniform(-0.3, 0.3, size=vertices)
    angles = rng.uniform(0.0, 2 * math.pi) + 2 * math.pi * slots / vertices
    radii = rng.uniform(0.3, 0.7, size=vertices) * min(h, w)
    points = centre + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    mask = np.zeros((h, w), np.float32)
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    mask = np.clip(_blur(mask, softness), 0.0, 1.0)
    params = {"strength": strength, "softness": softness, "vertices": float(vertices)}
    return img * (1 - strength * mask)[..., None], params


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _watermark_mask(h: int, w: int, rng: np.random.Generator, logo: bool) -> np.ndarray:
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    short = min(h, w)
    if logo:
        r = rng.uniform(0.15, 0.3) * short
        cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=max(2, round(r / 5)))
        draw.line(
            (cx - 0.6 * r, cy + 0.6 * r, cx + 0.6 * r, cy - 0.6 * r), fill=255, width=max(2, round(r / 5))
        )
    else:
        word = WATERMARK_WORDS[int(rng.integers(len(WATERMARK_WORDS)))]
        font = _font(max(8, round(short / 5)))
        x0, y0, x1, y1 = draw.textbbox((0, 0), word, font=font)
        x = rng.uniform(-x0, max(-x0 + 1, w - x1))
        y = rng.uniform(-y0, max(-y0 + 1, h - y1))
        draw.text((x, y), word, fill=255, font=font)
    return np.asarray(canvas, np.float32) / 255.0


def _watermark(img, rng, d, depth):
    opacity = _uniform(rng, d.watermark_opacity, "watermark_opacity")
    logo = bool(rng.random() < 0.5)
    white = bool(rng.random() < 0.7)
    alpha = (_watermark_mask(img.shape[0], img.shape[1], rng, logo) * opacity)[..., None]
    ink = 255.0 if white else 0.0
    return img * (1 - alpha) + ink * alpha, {"opacity": opacity, "logo": float(logo), "white": float(white)}


def _downsample(img, rng, d, depth):
    f = _integer(rng, d.downsample_factor, "downsample_factor")
    h, w = img.shape[:2]
    hl, wl = -(-h // f), -(-w // f)
    padded = np.pad(img, ((0, hl * f - h), (0, wl * f - w), (0, 0)), mode="edge")
    # Box averaging over exact f×f blocks, then NEAREST (block repetition) back: blocks align with (0, 0).
    low = np.rint(padded.reshape(hl, f, wl, f, 3).mean(axis=(1, 3)))
    return np.repeat(np.repeat(low, f, axis=0), f, axis=1)[:h, :w], {"factor": float(f)}


def _jpeg(img, rng, d, depth):
    quality = _integer(rng, d.jpeg_quality, "jpeg_quality")
    sigma = _uniform(rng, d.jpeg_blur, "jpeg_blur")
    soft = np.clip(np.rint(_blur(img, sigma)), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", soft[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode the image")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return decoded.astype(np.float32), {"quality": float(quality), "blur_sigma": sigma}


def _reflection(img, rng, d, depth):
    alpha = _uniform(rng, d.reflection_alpha, "reflection_alpha")
    sigma = _uniform(rng, d.reflection_blur, "reflection_blur")
    strength = _uniform(rng, d.glare_strength, "glare_strength")
    radius = _uniform(rng, d.glare_radius, "glare_radius")
    vertical = bool(rng.random() < 0.5)
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    ghost = _blur(np.ascontiguousarray(img[::-1] if vertical else img[:, ::-1]), sigma)
    mixed = (1 - alpha) * img + alpha * ghost
    x, y = _grid(img)
    glare = strength * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
    params = {
        "alpha": alpha,
        "blur_sigma": sigma,
        "glare_strength": strength,
        "glare_radius": radius,
        "flip_vertical": float(vertical),
    }
    return _towards_white(mixed, glare), params


_KINDS: dict[str, tuple[str, KindFn]] = {
    "noise": ("denoise", _noise),
    "blur": ("deblur", _gaussian_blur),
    "motion_blur": ("deblur", _motion_blur),
    "rain_streaks": ("derain", _rain_streaks),
    "raindrops": ("derain", _raindrops),
    "haze": ("dehaze", _haze),
    "low_light": ("lowlight", _low_light),
    "snow": ("desnow", _snow),
    "moire": ("demoire", _moire),
    "shadow": ("deshadow", _shadow),
    "watermark": ("watermark_removal", _watermark),
    "downsample": ("super_resolution", _downsample),
    "jpeg": ("face_restoration", _jpeg),
    "reflection": ("flash_reflection_removal", _reflection),
}

DEGRADATIONS: dict[str, str] = {kind: task for kind, (task, _) in _KINDS.items()}
"""Degradation kind → the ``pixwizard.tasks`` task that undoes it."""

TASK_DEGRADATIONS: dict[str, tuple[str, ...]] = {
    task: tuple(k for k, t in DEGRADATIONS.items() if t == task)
    for task in dict.fromkeys(DEGRADATIONS.values())
}
"""Restoration task → its degradation kinds (the inverse view of ``DEGRADATIONS``)."""


# ----------------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------------


def _as_rgb(clean: np.ndarray | Image.Image) -> np.ndarray:
    array = np.asarray(clean.convert("RGB")) if isinstance(clean, Image.Image) else clean
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError("clean must be an (H, W, 3) uint8 RGB array (or a PIL image), got a different array")
    return array


def _check_depth(depth: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if depth is None:
        return None
    depth = np.asarray(depth)
    if depth.shape != shape[:2] or not np.all(np.isfinite(depth)) or not np.all(depth > 0):
        raise ValueError(
            f"depth must be a finite, positive (H, W) = {shape[:2]} map, got shape {depth.shape}"
        )
    return depth


def degrade(
    kind: str,
    clean: np.ndarray | Image.Image,
    rng: np.random.Generator,
    difficulty: Difficulty = DIFFICULTY_V1,
    *,
    depth: np.ndarray | None = None,
) -> Degraded:
    """Degrade ``clean`` with one kind; the result is deterministic given the state of ``rng``.

    Kinds (``DEGRADATIONS`` maps each to its task):

    - ``noise``: additive Gaussian noise, ``params["sigma"]`` on 0-255. The output is rounded and clipped
      to [0, 255], so its error has variance ``sigma² + 1/12`` only where the clean colours stay a few
      sigma away from 0 and 255; clipping lowers it elsewhere.
    - ``blur``: Gaussian defocus; ``motion_blur``: a linear kernel (``length`` pixels, ``angle`` radians).
    - ``rain_streaks``: bright tilted lines; ``raindrops``: discs showing a blurred, brightened view.
    - ``haze``: ``I = J·t + A·(1 − t)`` with ``t = exp(−beta·depth)``; ``depth`` is the scene's
      (``pixwizard.world.depth_map``) when given, else a smooth field in ``[FIELD_NEAR, FIELD_FAR]``.
    - ``low_light``: ``255·scale·(J/255)^gamma`` plus a little sensor noise.
    - ``snow``: white flakes over a light white veil; ``moire``: two detuned sinusoidal gratings that
      modulate the brightness, with a phase per channel; ``shadow``: a soft-edged polygon darkened.
    - ``watermark``: semi-transparent text or a ring logo, white or black.
    - ``downsample``: box down-sampling by an integer factor of 2-4, then NEAREST up-sampling back to the
      clean size (pixelated blocks aligned with the top-left corner).
    - ``jpeg``: mild blur plus low-quality JPEG, "restore a degraded photo" for ``face_restoration``:
      PixWorld has no faces, so this is generic photo restoration.
    - ``reflection``: a faint, blurred, flipped copy of the image blended in, plus a bright glare spot.

    Args:
        kind: A key of ``DEGRADATIONS``.
        clean: ``(H, W, 3)`` uint8 RGB (a PIL image is converted); never modified.
        rng: The only source of randomness.
        difficulty: Supplies every parameter range (its degradation fields).
        depth: Optional ``(H, W)`` positive distance (larger = farther), used by ``haze``.

    Returns:
        The degraded uint8 image, same size as ``clean``, with the drawn parameters.

    Raises:
        ValueError: If the kind is unknown, or an input or a difficulty range is malformed.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown degradation kind {kind!r}; use one of {sorted(_KINDS)}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(seed)")
    array = _as_rgb(clean)
    checked = _check_depth(depth, array.shape)
    out, params = _KINDS[kind][1](array.astype(np.float32), rng, difficulty, checked)
    image = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return Degraded(image=image, kind=kind, params={k: float(v) for k, v in params.items()})


def degrade_for_task(
    task: str,
    clean: np.ndarray | Image.Image,
    rng: np.random.Generator,
    difficulty: Difficulty = DIFFICULTY_V1,
    *,
    depth: np.ndarray | None = None,
) -> Degraded:
    """Pick one of ``task``'s kinds with ``rng`` (uniformly), then ``degrade`` with it.

    Args:
        task: A restoration task name, a key of ``TASK_DEGRADATIONS``.
        clean: ``(H, W, 3)`` uint8 RGB; never modified.
        rng: The only source of randomness (the kind is drawn first).
        difficulty: Supplies every parameter range.
        depth: Optional scene depth for ``haze``.

    Returns:
        The degraded image; ``Degraded.kind`` says which kind was picked.

    Raises:
        ValueError: If the task has no degradation.
    """
    if task not in TASK_DEGRADATIONS:
        raise ValueError(f"task {task!r} has no degradation; use one of {sorted(TASK_DEGRADATIONS)}")
    kinds = TASK_DEGRADATIONS[task]
    kind = kinds[int(rng.integers(len(kinds)))]
    return degrade(kind, clean, rng, difficulty, depth=depth)
