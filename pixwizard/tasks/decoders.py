"""Decoders: the model's image answers → numbers, labels, masks and boxes (NumPy and OpenCV, no torch).

Every decoder reads the output at the processed (bucket) size, compares it with the input resized to the
same size where it needs to, and returns maps at the *input* size: label maps and masks resized
nearest-neighbour, boxes scaled exactly, depth and normals bilinearly (normals renormalised).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import cv2
import numpy as np
from PIL import Image, ImageColor

from pixwizard.tasks.answers import (
    Answer,
    DepthAnswer,
    EdgeAnswer,
    ImageAnswer,
    LabelAnswer,
    NormalAnswer,
    Region,
    RegionsAnswer,
)
from pixwizard.tasks.inputs import Prepared
from pixwizard.tasks.registry import DEFAULT_COLOR, InputKind, OutputKind, get_task

Size = tuple[int, int]  # (width, height)


def as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB."""
    if isinstance(image, np.ndarray):
        return image
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def resize_nearest(array: np.ndarray, size: Size) -> np.ndarray:
    """Resize a label map or mask to ``(w, h)`` without inventing labels."""
    if array.shape[1::-1] == tuple(size):
        return array
    dtype = array.dtype
    work = array.astype(np.int32) if dtype == np.bool_ or dtype == np.int16 else array
    out = cv2.resize(work, size, interpolation=cv2.INTER_NEAREST)
    return out.astype(dtype)


def resize_linear(array: np.ndarray, size: Size) -> np.ndarray:
    """Resize a float map (or a stack of them on the last axis) bilinearly to ``(w, h)``."""
    if array.shape[1::-1] == tuple(size):
        return array
    return cv2.resize(array.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)


def scale_box(box: tuple[int, int, int, int], src: Size, dst: Size) -> tuple[int, int, int, int]:
    """Map an ``(x0, y0, x1, y1)`` box (``x1, y1`` exclusive) from a ``src`` image to a ``dst`` image."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    x0, y0, x1, y1 = box
    return (
        int(np.floor(x0 * sx + 1e-9)),
        int(np.floor(y0 * sy + 1e-9)),
        min(dst[0], int(np.ceil(x1 * sx - 1e-9))),
        min(dst[1], int(np.ceil(y1 * sy - 1e-9))),
    )


def color_rgb(name: str) -> np.ndarray:
    """RGB of a colour name (CSS names; ``grey`` and ``gray`` both work)."""
    try:
        return np.array(ImageColor.getrgb(name.strip().lower()), dtype=np.float32)[:3]
    except ValueError:
        raise ValueError(
            f"unknown colour {name!r}; use a common colour name such as red, green or blue"
        ) from None


# ----------------------------------------------------------------------------------------------------
# Depth and normals
# ----------------------------------------------------------------------------------------------------


@dataclass
class DepthMap:
    """Normalised depth at the input size (1 = nearest) and the raw grey range it came from."""

    depth: np.ndarray
    raw_range: tuple[float, float]


def decode_depth(output: np.ndarray, size: Size) -> DepthMap:
    """Mean of the output's channels (the model draws depth as grey), min-max normalised, resized."""
    raw = output.astype(np.float32).mean(axis=-1) / 255.0
    low, high = float(raw.min()), float(raw.max())
    normalised = (raw - low) / (high - low) if high - low > 1e-6 else np.zeros_like(raw)
    return DepthMap(np.clip(resize_linear(normalised, size), 0, 1), (low, high))


def decode_normals(output: np.ndarray, size: Size) -> np.ndarray:
    """RGB → unit vectors ``(H, W, 3)``: ``n = 2·rgb/255 − 1``, resized bilinearly, renormalised."""
    vectors = resize_linear(output.astype(np.float32) / 127.5 - 1.0, size)
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.where(norm > 1e-6, vectors / np.maximum(norm, 1e-6), np.array([0, 0, 1], np.float32))


def normals_to_rgb(normals: np.ndarray) -> Image.Image:
    """Unit vectors → the usual RGB visualisation."""
    return Image.fromarray(np.clip(np.round((normals + 1) * 127.5), 0, 255).astype(np.uint8))


# ----------------------------------------------------------------------------------------------------
# Segmentation
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Palette:
    """Class names and colours; label = index (0 = background)."""

    names: tuple[str, ...]
    colors: np.ndarray  # (K, 3) float32
    verified: bool


@functools.cache
def ade20k_palette() -> Palette:
    """The ADE20K palette shipped as package data (150 classes + background; see its ``source``)."""
    data = json.loads(resources.files("pixwizard.tasks").joinpath("data", "ade20k_palette.json").read_text())
    classes = sorted(data["classes"], key=lambda c: c["id"])
    return Palette(
        tuple(c["name"] for c in classes),
        np.array([c["rgb"] for c in classes], np.float32),
        bool(data["verified"]),
    )


UNKNOWN = -1


def decode_segment(
    output: np.ndarray,
    size: Size,
    palette: Palette | None = None,
    *,
    max_distance: float = 60.0,
    smooth: bool = True,
    exact_distance: float = 6.0,
) -> np.ndarray:
    """Nearest palette colour per pixel → int16 labels at the input size (``UNKNOWN`` when too far).

    Args:
        output: ``(H, W, 3)`` uint8 model output at the bucket size.
        size: The input ``(w, h)``.
        palette: Palette (default ADE20K).
        max_distance: RGB distance beyond which a pixel is unknown.
        smooth: A 3×3 majority vote on pixels farther than ``exact_distance`` from their colour, which
            removes isolated errors from noise and compression.
        exact_distance: RGB distance within which a pixel's colour is taken as exact.

    Returns:
        ``(h, w)`` int16 labels.
    """
    palette = palette or ade20k_palette()
    pixels = output.reshape(-1, 3).astype(np.float32)
    labels = np.empty(len(pixels), np.int16)
    distances = np.empty(len(pixels), np.float32)
    colors = palette.colors
    for start in range(0, len(pixels), 65536):  # chunks keep the (N, K) distance matrix small
        chunk = pixels[start : start + 65536]
        d = ((chunk[:, None, :] - colors[None]) ** 2).sum(-1)
        labels[start : start + 65536] = d.argmin(1)  # ties (duplicate colours) go to the lower label
        distances[start : start + 65536] = np.sqrt(d.min(1))
    labels[distances > max_distance] = UNKNOWN
    labels = labels.reshape(output.shape[:2])
    if smooth:
        # Only pixels that are not an exact palette colour are voted on, so clean maps stay exact.
        uncertain = distances.reshape(labels.shape) > exact_distance
        labels = np.where(uncertain, majority_filter(labels), labels)
    return resize_nearest(labels, size)


def majority_filter(labels: np.ndarray, k: int = 3) -> np.ndarray:
    """Each pixel takes the most frequent label of its ``k×k`` neighbourhood (ties keep the pixel's own)."""
    present = np.unique(labels)
    if len(present) <= 1:
        return labels
    counts = np.stack(
        [cv2.boxFilter((labels == v).astype(np.float32), -1, (k, k), normalize=False) for v in present]
    )
    own = (present[:, None, None] == labels[None]).astype(
        np.float32
    ) * 0.5  # tie-break toward the pixel's label
    return present[(counts + own).argmax(0)].astype(labels.dtype)


def class_shares(
    labels: np.ndarray, palette: Palette | None = None
) -> tuple[list[tuple[int, str, float]], float]:
    """Classes present, largest first, as ``(label, name, fraction)``, and the unknown fraction."""
    palette = palette or ade20k_palette()
    values, counts = np.unique(labels, return_counts=True)
    total = labels.size
    shares = [
        (int(v), palette.names[v], c / total) for v, c in zip(values, counts, strict=True) if v != UNKNOWN
    ]
    unknown = float(counts[values == UNKNOWN].sum() / total)
    return sorted(shares, key=lambda s: -s[2]), unknown


def overlay_labels(
    image: np.ndarray, labels: np.ndarray, palette: Palette | None = None, alpha: float = 0.5
) -> Image.Image:
    """The image with class colours blended over it (unknown pixels left as they are)."""
    palette = palette or ade20k_palette()
    colors = palette.colors[np.clip(labels, 0, None)]
    blended = image.astype(np.float32) * (1 - alpha) + colors * alpha
    blended[labels == UNKNOWN] = image[labels == UNKNOWN]
    return Image.fromarray(np.clip(np.round(blended), 0, 255).astype(np.uint8))


# ----------------------------------------------------------------------------------------------------
# Grounding
# ----------------------------------------------------------------------------------------------------


def otsu(values: np.ndarray) -> tuple[float, float]:
    """Otsu's threshold of values in [0, 1] and its separability ``σ²_between / σ²_total`` (0-1).

    The separability is 1 for a perfectly two-level map and falls as noise fills the gap between the
    levels (about 0.64 for pure Gaussian noise): it is the confidence of the mask decoders.
    """
    hist, edges = np.histogram(np.clip(values, 0, 1), bins=256, range=(0, 1))
    p = hist.astype(np.float64) / max(1, hist.sum())
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    total_mu, total_var = mu[-1], (p * (centres - mu[-1]) ** 2).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mu * w0 - mu) ** 2 / (w0 * (1 - w0))
    between = np.nan_to_num(between)
    k = int(between.argmax())
    return float(edges[k + 1]), float(between[k] / total_var) if total_var > 0 else 0.0


def _regions(mask: np.ndarray, confidence: float, size: Size, min_fraction: float) -> list[Region]:
    """Connected components of a bucket-size mask → regions at the input size, largest first."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    min_area = max(4, min_fraction * mask.size)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return []
    largest = max(stats[i, cv2.CC_STAT_AREA] for i in keep)
    regions = []
    for i in sorted(keep, key=lambda i: -stats[i, cv2.CC_STAT_AREA]):
        if stats[i, cv2.CC_STAT_AREA] < 0.05 * largest:
            continue
        full = resize_nearest(labels == i, size)
        ys, xs = np.nonzero(full)
        if len(xs) == 0:
            continue
        regions.append(
            Region(full, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), confidence)
        )
    return regions


def decode_mask(
    output: np.ndarray, size: Size, *, min_confidence: float = 0.8, min_fraction: float = 0.002
) -> list[Region]:
    """A binary-mask answer (white object on black): Otsu threshold of the grey level, then components.

    Confidence = Otsu separability × coherence (the share of white pixels in solid areas). Returns no
    region when it is below ``min_confidence``, or when nearly everything or nothing is white.
    """
    grey = output.astype(np.float32).mean(-1) / 255.0
    threshold, separability = otsu(grey)
    mask = grey > threshold
    confidence = separability * _coherence(mask)
    if confidence < min_confidence or not 0 < mask.mean() < 0.98:
        return []
    return _regions(mask, confidence, size, min_fraction)


def decode_highlight(
    output: np.ndarray,
    reference: np.ndarray,
    color: str,
    size: Size,
    *,
    min_confidence: float = 0.75,
    min_fraction: float = 0.002,
) -> list[Region]:
    """A coloured-overlay answer: where the output moved from the input toward the colour.

    The authors' data blends the colour at 50% over the object. For each pixel, the opacity is estimated
    by projecting ``output − input`` onto ``colour − input``; a pixel counts when that opacity clears Otsu's
    threshold and, in HSV, its hue moved toward the colour's (for grey colours: its value did).
    """
    target = color_rgb(color)
    out, ref = output.astype(np.float32), reference.astype(np.float32)
    direction = target - ref
    length2 = (direction**2).sum(-1)
    alpha = np.where(length2 > 900, ((out - ref) * direction).sum(-1) / np.maximum(length2, 1e-6), 0.0)
    alpha = np.clip(alpha, 0, 1)
    threshold, separability = otsu(alpha)
    moved = alpha > max(threshold, 0.1)
    moved &= _toward_in_hsv(out, ref, target)
    confidence = separability * _coherence(moved)
    if confidence < min_confidence or not 0 < moved.mean() < 0.98:
        return []
    # Closing fills pinholes left by noise; pixels that did not move toward the colour at all (the concave
    # corners a closing also fills) stay out.
    closed = cv2.morphologyEx(moved.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    return _regions(closed & (alpha > 0.05), confidence, size, min_fraction)


def _coherence(mask: np.ndarray) -> float:
    """Share of mask pixels that survive a 2×2 opening: ~1 for solid regions, low for scattered noise.

    A 2×2 (not 3×3) structuring element keeps strokes two pixels wide (a small ring, a star's points), which
    a clean answer has at 64 px, while random noise still loses most of its pixels.
    """
    if not mask.any():
        return 0.0
    opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    return float(opened.sum() / mask.sum())


def _hsv(rgb: np.ndarray) -> np.ndarray:
    return (
        cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8).reshape(-1, 1, 3), cv2.COLOR_RGB2HSV_FULL)
        .reshape(rgb.shape)
        .astype(np.float32)
    )


def _hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 256
    return np.minimum(d, 256 - d) * (360 / 256)


def _toward_in_hsv(out: np.ndarray, ref: np.ndarray, target: np.ndarray) -> np.ndarray:
    out_hsv, ref_hsv = _hsv(out), _hsv(ref)
    target_hsv = _hsv(target[None, None])[0, 0]
    if target_hsv[1] < 40:  # grey, white or black: compare brightness instead of hue
        return np.abs(out_hsv[..., 2] - target_hsv[2]) < np.abs(ref_hsv[..., 2] - target_hsv[2])
    closer = (
        _hue_distance(out_hsv[..., 0], target_hsv[0]) < _hue_distance(ref_hsv[..., 0], target_hsv[0]) + 1e-3
    )
    grey_input = ref_hsv[..., 1] < 40  # a grey pixel has no hue to move from
    return closer | (grey_input & (_hue_distance(out_hsv[..., 0], target_hsv[0]) < 60))


def decode_box(
    output: np.ndarray, reference: np.ndarray, color: str, size: Size, *, min_confidence: float = 0.5
) -> list[Region]:
    """A drawn-box answer: pixels of the box colour that the input did not have, then the framed rectangle.

    The box is the bounding rectangle of the largest stroke component; its confidence is the share of that
    rectangle's outline (a 2 px band) covered by stroke pixels, which is near 1 for a clean box.
    """
    target = color_rgb(color)
    out, ref = output.astype(np.float32), reference.astype(np.float32)
    target_hsv = _hsv(target[None, None])[0, 0]
    out_hsv = _hsv(out)
    if target_hsv[1] < 40:
        like = np.abs(out - target).max(-1) < 60
    else:
        like = (
            (_hue_distance(out_hsv[..., 0], target_hsv[0]) < 35)
            & (out_hsv[..., 1] > 90)
            & (out_hsv[..., 2] > 70)
        )
    stroke = like & (np.abs(out - ref).max(-1) > 40)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(stroke.astype(np.uint8), connectivity=8)
    if count <= 1:
        return []
    best = max(range(1, count), key=lambda i: stats[i, cv2.CC_STAT_WIDTH] * stats[i, cv2.CC_STAT_HEIGHT])
    x, y, w, h = (
        int(stats[best, k])
        for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT)
    )
    if w < 3 or h < 3:
        return []
    band = np.zeros_like(stroke)
    band[y : y + h, x : x + w] = True
    band[y + 2 : y + h - 2, x + 2 : x + w - 2] = False
    covered = (labels == best) & band
    confidence = float(covered.sum() / max(1, band.sum()))
    if confidence < min_confidence:
        return []
    bucket = output.shape[1::-1]
    box = scale_box((x, y, x + w, y + h), bucket, size)
    full = np.zeros(size[::-1], bool)
    full[box[1] : box[3], box[0] : box[2]] = True
    return [Region(full, box, confidence)]


# ----------------------------------------------------------------------------------------------------
# Edges and masks helpers
# ----------------------------------------------------------------------------------------------------


def edge_density(image: np.ndarray) -> float:
    """Share of stroke pixels: grey levels above Otsu's threshold (light strokes on dark) or below it."""
    grey = image.astype(np.float32).mean(-1) / 255.0
    threshold, _ = otsu(grey)
    light = grey > threshold
    # Strokes are the minority: on a white page they are the dark pixels.
    return float(min(light.mean(), 1 - light.mean()))


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE: ``{"size": [h, w], "counts": [...]}``, column-major, starting with zeros."""
    flat = np.asarray(mask, bool).flatten(order="F")
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_to_mask(rle: dict) -> np.ndarray:
    """Inverse of `mask_to_rle`."""
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    position, value = 0, False
    for count in rle["counts"]:
        flat[position : position + count] = value
        position += count
        value = not value
    return flat.reshape((h, w), order="F")


# ----------------------------------------------------------------------------------------------------
# One decoder per output kind: a model's image → an answer
# ----------------------------------------------------------------------------------------------------

CHANGE_THRESHOLD = 0.12  # |Δ| (0-1, max over channels) that counts as a change in edit results
DILATION = 0.02  # of the processed image's longer side: margin kept around changed pixels


def changes(result: np.ndarray, original: np.ndarray, threshold: float = CHANGE_THRESHOLD) -> np.ndarray:
    """Pixels whose largest channel difference exceeds ``threshold`` (0-1)."""
    return (np.abs(result.astype(np.int16) - original.astype(np.int16)).max(-1) / 255.0) > threshold


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """A bool mask grown by a disc of radius ``pixels``."""
    if pixels <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def edit_region(output: np.ndarray, roundtrip: np.ndarray) -> np.ndarray:
    """Where an edit changed the picture, at the processed size.

    The output is compared with the VAE round trip of the input (not the input itself), so that what the
    VAE alone alters (fine texture, noise) does not count as an edit; the thresholded difference is
    cleaned of isolated pixels and dilated by 2% of the longer side.
    """
    changed = changes(output, roundtrip)
    changed = cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    return dilate(changed, max(1, round(DILATION * max(output.shape[:2]))))


def _resize_image(array: np.ndarray, size: Size) -> np.ndarray:
    # The pipeline's own resize of a result back to the input size (Lanczos), so decoding agrees with it.
    if array.shape[1::-1] == tuple(size):
        return array
    return as_array(Image.fromarray(array).resize(size, Image.Resampling.LANCZOS))


def _image_answer(spec, output, prepared, options) -> ImageAnswer:
    size = prepared.image.size
    result = _resize_image(output, size)
    if spec.input is InputKind.EXTENDED and prepared.original is not None:
        region = prepared.region
        if options["preserve"]:
            result = np.where(region[..., None], result, as_array(prepared.image))
        return ImageAnswer(result, region)
    if prepared.original is None:  # generation: nothing to preserve
        return ImageAnswer(result)
    original = as_array(prepared.original)
    if spec.input is InputKind.MASKED:
        region = prepared.region
    elif options["preserve"]:
        reference = options["reference"]
        roundtrip = options["roundtrip"]
        base = roundtrip(reference) if roundtrip is not None else reference
        region = resize_nearest(edit_region(output, base), size)
    else:
        region = changes(result, original)
    if options["preserve"]:
        result = np.where(region[..., None], result, original)
    return ImageAnswer(result.astype(np.uint8), region)


def _edges_answer(spec, output, prepared, options) -> EdgeAnswer:
    grey = resize_linear(output.astype(np.float32).mean(-1) / 255.0, prepared.image.size)
    threshold, _ = otsu(grey)
    light = grey > threshold
    # Strokes are the minority: light strokes on a dark page, or dark ones on a white page.
    return EdgeAnswer(light if light.mean() <= 0.5 else ~light)


def _depth_answer(spec, output, prepared, options) -> DepthAnswer:
    depth = decode_depth(output, prepared.image.size)
    return DepthAnswer(depth.depth.astype(np.float32), "inverse")


def _normal_answer(spec, output, prepared, options) -> NormalAnswer:
    return NormalAnswer(decode_normals(output, prepared.image.size).astype(np.float32))


def _segment_answer(spec, output, prepared, options) -> LabelAnswer:
    palette = options["palette"] or ade20k_palette()
    return LabelAnswer(decode_segment(output, prepared.image.size, palette), palette.names, palette)


def _regions_answer(spec, output, prepared, options) -> RegionsAnswer:
    size = prepared.image.size
    color = options["color"] or DEFAULT_COLOR
    if spec.output is OutputKind.MASK:
        regions, mode = decode_mask(output, size), "mask"
    elif spec.output is OutputKind.HIGHLIGHT:
        regions, mode = decode_highlight(output, options["reference"], color, size), "highlight"
    else:
        regions, mode = decode_box(output, options["reference"], color, size), "box"
    return RegionsAnswer(tuple(regions), size, mode)


_ANSWER_DECODERS = {
    OutputKind.IMAGE: _image_answer,
    OutputKind.EDGES: _edges_answer,
    OutputKind.DEPTH: _depth_answer,
    OutputKind.NORMAL: _normal_answer,
    OutputKind.SEGMENT: _segment_answer,
    OutputKind.HIGHLIGHT: _regions_answer,
    OutputKind.BOX: _regions_answer,
    OutputKind.MASK: _regions_answer,
}


def decode(
    task: str,
    output: Image.Image | np.ndarray,
    prepared: Prepared,
    *,
    color: str | None = None,
    palette: Palette | None = None,
    preserve: bool | None = None,
    roundtrip: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Answer:
    """Decode a model's image for ``task`` into its answer, at the prepared input's size.

    Args:
        task: A task name.
        output: The model's image at the processed size (any size: it is compared with the prepared input
            resized to it, and its answer is returned at the input size).
        prepared: The input the model was given (`pixwizard.tasks.inputs.prepare`).
        color: Grounding: the colour the highlight or box was asked in (default: red).
        palette: Segmentation classes (default ADE20K; PixWorld passes its own).
        preserve: Keep the original pixels outside the changed region (default: the task's).
        roundtrip: Editing with ``preserve``: the model's encode-decode of an image, so changes the codec
            alone makes are not taken for the edit (default: none, compare with the input itself).
    """
    spec = get_task(task)
    output = as_array(output)
    reference = _resize_image(as_array(prepared.image), output.shape[1::-1])
    options = {
        "color": color,
        "palette": palette,
        "preserve": spec.preserve_unchanged if preserve is None else preserve,
        "roundtrip": roundtrip,
        "reference": reference,
    }
    return _ANSWER_DECODERS[spec.output](spec, output, prepared, options)
