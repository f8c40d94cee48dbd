"""Classical baselines for the restoration, inpainting, outpainting, edge and grounding tasks.

Notable features:
- Pure functions on ``(H, W, 3)`` uint8 RGB arrays (NumPy and OpenCV only): each returns a new array of
  the input's size and never modifies its input.
- Parameters are chosen blind, from the image alone (noise level, block size, exposure), so a baseline
  sees exactly what a model sees: the degraded input, never the degradation's parameters.
- ``BASELINES`` names the baseline of each restoration task that has one; the evaluation compares a
  model against it and against the identity (the degraded input itself).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import cv2
import numpy as np

from pixwizard.world.scenes import COLORS, TEXTURE_SHADE

NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
"""Immerkær's noise-estimation mask: it cancels smooth image structure up to second order."""
NLM_H_PER_SIGMA = 0.45
NLM_TEMPLATE = 5
NLM_SEARCH = 21
"""NLM filter strength per unit of estimated noise sigma (0-255 scale), template and search windows.

Tuned on PixWorld: its flat regions and sharp edges favour a weaker filter than the usual ``h ≈ sigma``,
which smears the fine checker and stripe backgrounds."""
WIENER_SIGMA = 1.2
"""Standard deviation of the Gaussian PSF that ``wiener_deblur`` assumes, in pixels."""
WIENER_NSR = 0.01
"""Noise-to-signal power ratio of the Wiener filter at the Nyquist frequency (see ``wiener_deblur``)."""
UNSHARP_SIGMA = 1.5
UNSHARP_AMOUNT = 1.0
"""Unsharp masking's blur (pixels) and gain: the deblur baseline (it beats identity on both blur kinds,
where a Gaussian-PSF Wiener filter over-sharpens across the direction of a motion blur)."""
DCP_PATCH = 9
DCP_OMEGA = 0.8
DCP_T_MIN = 0.5
"""Dark channel patch (pixels), the share of haze removed, and the transmission floor.

He et al. use ``omega = 0.95`` and 15-pixel patches on large photos. PixWorld's backgrounds are muted
(their dark channel is well above 0, against the prior), so more haze is kept; the patch must stay wider
than thin bright objects, which would otherwise be taken for the airlight. The floor of 0.5 (He et al.: 0.1)
caps the amplification at 2x: where the prior fails on a scene (a large bright object), a low floor loses
up to 6 dB, while the mean gain over 48 scenes drops only from 2.1 to 1.9 dB."""
GUIDED_RADIUS = 8
GUIDED_EPS = 1e-3
"""Guided filter radius (pixels) and regulariser (on [0, 1] intensities) that refine the transmission."""
TARGET_MEAN = 0.45
"""Mean brightness (0-1) that ``gamma_clahe``'s gamma brings a dark image to."""
CLAHE_CLIP = 2.0
CLAHE_TILES = 4
CANNY_SIGMA = 0.33
"""Canny's automatic thresholds: ``(1 ± CANNY_SIGMA) · median``."""
COLOR_DISTANCE = 40.0
"""RGB distance within which a pixel counts as a named colour (or its texture shade)."""
COLOR_SYNONYMS = {"grey": "gray"}


def _check_rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be an (H, W, 3) uint8 RGB array")
    return image


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# Denoising and deblurring
# ----------------------------------------------------------------------------------------------------


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Blind noise sigma (0-255) from the median absolute response of Immerkær's mask on the grey image.

    The median (rather than the mean) ignores the strong responses of object edges.
    """
    grey = cv2.cvtColor(_check_rgb(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    response = cv2.filter2D(grey, -1, NOISE_KERNEL, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    # The mask's L2 norm is 6 and a Gaussian's median |x| is 0.6745 sigma. Grey averaging of i.i.d.
    # per-channel noise shrinks it by sqrt(0.299² + 0.587² + 0.114²) ≈ 0.668, which is undone here.
    grey_gain = math.sqrt(0.299**2 + 0.587**2 + 0.114**2)
    return float(np.median(np.abs(response)) / (0.6745 * 6 * grey_gain))


def nlm_denoise(image: np.ndarray) -> np.ndarray:
    """OpenCV's colour non-local means with a strength set from the estimated noise sigma."""
    h = max(3.0, NLM_H_PER_SIGMA * estimate_noise_sigma(image))
    return cv2.fastNlMeansDenoisingColored(_check_rgb(image), None, h, h, NLM_TEMPLATE, NLM_SEARCH)


def _squared_frequency(shape: tuple[int, int]) -> np.ndarray:
    """``|f|²`` in cycles per pixel on the half-spectrum grid of ``numpy.fft.rfft2`` for ``shape``."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return fx**2 + fy**2


def wiener_deblur(image: np.ndarray) -> np.ndarray:
    """Wiener deconvolution with an assumed Gaussian PSF (``WIENER_SIGMA``), on a reflect-padded image.

    The noise-to-signal ratio follows the ``1/|f|²`` power spectrum of natural images, so it grows like
    ``|f|²`` (``WIENER_NSR`` at Nyquist) and the mean colour passes unchanged, unlike a constant ratio.
    The padding keeps the FFT's periodic wrap-around from ringing at the borders.
    """
    src = _check_rgb(image).astype(np.float32)
    pad = int(math.ceil(4 * WIENER_SIGMA))
    padded = cv2.copyMakeBorder(src, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    f2 = _squared_frequency(padded.shape[:2])
    otf = np.exp(-2 * (math.pi * WIENER_SIGMA) ** 2 * f2)  # a Gaussian's transform is a Gaussian
    gain = otf / (otf**2 + WIENER_NSR * f2 / 0.25)  # Nyquist: |f|² = 0.5² = 0.25
    out = np.empty_like(padded)
    for c in range(3):
        out[..., c] = np.fft.irfft2(np.fft.rfft2(padded[..., c]) * gain, s=padded.shape[:2])
    return _to_uint8(out[pad:-pad, pad:-pad])


def unsharp(image: np.ndarray, sigma: float = UNSHARP_SIGMA, amount: float = UNSHARP_AMOUNT) -> np.ndarray:
    """Unsharp masking: ``image + amount · (image − gaussian(image, sigma))``."""
    src = _check_rgb(image).astype(np.float32)
    soft = cv2.GaussianBlur(src, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return _to_uint8(src + amount * (src - soft))


# ----------------------------------------------------------------------------------------------------
# Dehazing and low light
# ----------------------------------------------------------------------------------------------------


def _dark_channel(image: np.ndarray) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (DCP_PATCH, DCP_PATCH))
    return cv2.erode(image.min(axis=2), kernel, borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of ``src`` by a grey ``guide`` (both ``(H, W)`` float32 in [0, 1])."""

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(src)
    a = (mean(guide * src) - mean_i * mean_p) / (mean(guide * guide) - mean_i**2 + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


def dark_channel_dehaze(image: np.ndarray) -> np.ndarray:
    """He et al.'s dark channel prior, with the transmission refined by a guided filter.

    The airlight is the brightest input pixel among the 0.1% with the highest dark channel.
    """
    src = _check_rgb(image).astype(np.float32) / 255.0
    dark = _dark_channel(src)
    top = max(1, dark.size // 1000)
    candidates = np.argsort(dark, axis=None)[-top:]
    flat = src.reshape(-1, 3)
    airlight = np.maximum(flat[candidates[np.argmax(flat[candidates].sum(axis=1))]], 1e-3)
    raw_t = 1.0 - DCP_OMEGA * _dark_channel(src / airlight)
    grey = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
    t = np.clip(guided_filter(grey, raw_t.astype(np.float32), GUIDED_RADIUS, GUIDED_EPS), DCP_T_MIN, 1.0)
    return _to_uint8(((src - airlight) / t[..., None] + airlight) * 255.0)


def gamma_clahe(image: np.ndarray) -> np.ndarray:
    """Low-light enhancement: a gamma that brings the mean to ``TARGET_MEAN``, then CLAHE on L of Lab."""
    src = _check_rgb(image).astype(np.float32) / 255.0
    mean = float(np.clip(src.mean(), 1e-3, 0.999))
    gamma = min(1.0, math.log(TARGET_MEAN) / math.log(mean))  # only ever brightens
    bright = _to_uint8(255.0 * src**gamma)
    lab = cv2.cvtColor(bright, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(CLAHE_TILES, CLAHE_TILES))
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


# ----------------------------------------------------------------------------------------------------
# Super-resolution, inpainting and outpainting
# ----------------------------------------------------------------------------------------------------


def block_size(image: np.ndarray, factors: tuple[int, ...] = (2, 3, 4)) -> int:
    """The largest ``f`` in ``factors`` for which ``image`` is constant on the ``f×f`` grid from (0, 0).

    Returns 1 when the image is constant on none of them (it is not pixelated).
    """
    h, w = image.shape[:2]
    for f in sorted(factors, reverse=True):
        rows = np.repeat(image[::f], f, axis=0)[:h]
        if np.array_equal(np.repeat(rows[:, ::f], f, axis=1)[:, :w], image):
            return f
    return 1


def bicubic_upsample(image: np.ndarray) -> np.ndarray:
    """Undo nearest up-sampling: estimate the block size, take one pixel per block, up-sample bicubically.

    An image with no block structure comes back as an unchanged copy.
    """
    src = _check_rgb(image)
    f = block_size(src)
    if f == 1:
        return src.copy()
    low = np.ascontiguousarray(src[::f, ::f])
    h, w = src.shape[:2]
    # Up-sampling to exactly f times the low-res size keeps each block's centre on its low-res pixel.
    up = cv2.resize(low, (low.shape[1] * f, low.shape[0] * f), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(up[:h, :w])


def telea_inpaint(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the hole (``mask`` True) with OpenCV's Telea fast-marching inpainting (radius 3)."""
    src = _check_rgb(image)
    hole = np.asarray(mask)
    if hole.shape != src.shape[:2] or hole.dtype != np.bool_:
        raise ValueError(f"mask must be a bool (H, W) = {src.shape[:2]} array, True in the hole")
    return cv2.inpaint(src, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)


def replicate_outpaint(canvas: np.ndarray, placement: tuple[int, int, int, int]) -> np.ndarray:
    """Fill the canvas outside ``placement`` by replicating the original's edge pixels outwards.

    Args:
        canvas: ``(H, W, 3)`` uint8, the extended image; only the ``placement`` window is read.
        placement: ``(x0, y0, x1, y1)`` of the original inside the canvas (exclusive ends).

    Returns:
        The canvas with the original kept and the new area filled.

    Raises:
        ValueError: If the placement is empty or leaves the canvas.
    """
    src = _check_rgb(canvas)
    h, w = src.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in placement)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise ValueError(f"placement {placement!r} must be a non-empty (x0, y0, x1, y1) inside {w}x{h}")
    original = src[y0:y1, x0:x1]
    return cv2.copyMakeBorder(original, y0, h - y1, x0, w - x1, cv2.BORDER_REPLICATE)


# ----------------------------------------------------------------------------------------------------
# Edges and grounding
# ----------------------------------------------------------------------------------------------------


def canny_edges(image: np.ndarray) -> np.ndarray:
    """Colour Canny with the automatic thresholds ``(1 ± CANNY_SIGMA) · median`` of the grey image.

    The gradient at each pixel is that of its strongest channel (3×3 Sobel), so edges between colours of
    equal brightness (purple on grey-blue) are found too, where a grey-image Canny sees none.
    """
    src = _check_rgb(image)
    dx = np.stack([cv2.Sobel(src[..., c], cv2.CV_16S, 1, 0) for c in range(3)])
    dy = np.stack([cv2.Sobel(src[..., c], cv2.CV_16S, 0, 1) for c in range(3)])
    strongest = (dx.astype(np.int32) ** 2 + dy.astype(np.int32) ** 2).argmax(axis=0)[None]
    gx = np.take_along_axis(dx, strongest, axis=0)[0]
    gy = np.take_along_axis(dy, strongest, axis=0)[0]
    median = float(np.median(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)))
    low = max(0.0, (1 - CANNY_SIGMA) * median)
    high = min(255.0, (1 + CANNY_SIGMA) * median)
    return cv2.Canny(gx, gy, low, high, L2gradient=True) > 0


def mentioned_color(referring: str) -> str | None:
    """The first colour name of ``COLORS`` (or a synonym such as ``grey``) that ``referring`` mentions."""
    names = "|".join(sorted({*COLORS, *COLOR_SYNONYMS}, key=len, reverse=True))
    match = re.search(rf"\b({names})\b", referring.lower())
    return None if match is None else COLOR_SYNONYMS.get(match.group(1), match.group(1))


def color_threshold_ground(image: np.ndarray, referring: str) -> np.ndarray:
    """The largest connected region of the colour the text names (or its texture's darker shade).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        referring: A referring expression such as "the red circle".

    Returns:
        ``(H, W)`` bool; all False when the text names no colour of ``COLORS`` or nothing matches.
    """
    src = _check_rgb(image).astype(np.float32)
    name = mentioned_color(referring)
    if name is None:
        return np.zeros(src.shape[:2], bool)
    rgb = np.array(COLORS[name], np.float32)
    near = np.zeros(src.shape[:2], bool)
    for target in (rgb, np.floor(rgb * TEXTURE_SHADE)):
        near |= np.linalg.norm(src - target, axis=-1) <= COLOR_DISTANCE
    count, labels, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8), connectivity=8)
    if count <= 1:
        return near
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


BASELINES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "denoise": ("nlm", nlm_denoise),
    "deblur": ("unsharp", unsharp),
    "dehaze": ("dark_channel", dark_channel_dehaze),
    "lowlight": ("gamma_clahe", gamma_clahe),
    "super_resolution": ("bicubic", bicubic_upsample),
}
"""Restoration task → (baseline name, function) for the tasks that have a classical baseline."""
