"""Answers: what a task's output means, as plain arrays (NumPy only; no torch, no run record).

One answer type per output family. The decoders produce them from a model's image, and the world's
ground truth, the evaluation baselines and the oracle produce the same types, so one metric compares any
two of them (`pixwizard.eval.metrics`). The typed results of `run_task` wrap an answer with its run record.

Conventions: sizes are ``(width, height)``, arrays are ``(H, W[, C])`` at the input size, boxes are
``(x0, y0, x1, y1)`` with ``x1, y1`` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class Region:
    """One found region with the decoder's confidence (1 for ground truth)."""

    mask: np.ndarray
    """``(H, W)`` bool."""
    box: tuple[int, int, int, int]
    confidence: float = 1.0


def region_of(mask: np.ndarray, confidence: float = 1.0) -> Region:
    """A region from a non-empty mask, with its tight box."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("a region needs at least one pixel")
    return Region(
        np.asarray(mask, bool),
        (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
        confidence,
    )


def box_region(box: tuple[int, int, int, int], size: tuple[int, int], confidence: float = 1.0) -> Region:
    """A region that fills ``box`` in an image of ``size`` ``(w, h)``."""
    mask = np.zeros(size[::-1], bool)
    mask[box[1] : box[3], box[0] : box[2]] = True
    return Region(mask, tuple(int(v) for v in box), confidence)


@dataclass(frozen=True)
class ImageAnswer:
    """An image (restoration, editing, inpainting, outpainting, generation)."""

    image: np.ndarray
    """``(H, W, 3)`` uint8 RGB."""
    region: np.ndarray | None = None
    """``(H, W)`` bool: the pixels meant to change (hole, new canvas area, edited region), when known."""


@dataclass(frozen=True)
class RegionsAnswer:
    """Where the referred object is: zero or more regions (several for a split or repeated object)."""

    regions: tuple[Region, ...]
    size: tuple[int, int]
    mode: Literal["mask", "box", "highlight"] = "mask"

    @property
    def mask(self) -> np.ndarray:
        """The union of the regions' masks ``(H, W)`` bool (all False when nothing was found)."""
        union = np.zeros(self.size[::-1], bool)
        for region in self.regions:
            union |= region.mask
        return union


@dataclass(frozen=True)
class LabelAnswer:
    """A semantic label map; ``names[i]`` is label ``i``'s class and -1 marks an unknown colour."""

    labels: np.ndarray
    """``(H, W)`` int16."""
    names: tuple[str, ...]
    palette: Any = None
    """The `decoders.Palette` the colours were read in (None: ADE20K)."""


@dataclass(frozen=True)
class DepthAnswer:
    """A depth map in one of two conventions; metrics align either to the truth by scale and shift."""

    depth: np.ndarray
    """``(H, W)`` float32."""
    convention: Literal["distance", "inverse"] = "distance"
    """``distance``: positive, larger is farther (ground truth); ``inverse``: relative inverse depth
    (disparity) normalised to [0, 1] with 1 the nearest (what the model draws as grey)."""


@dataclass(frozen=True)
class NormalAnswer:
    """Unit surface normals: x right, y up, z toward the camera."""

    normals: np.ndarray
    """``(H, W, 3)`` float32."""


@dataclass(frozen=True)
class EdgeAnswer:
    """A stroke map: edges, sketch, line art or pose skeleton."""

    edges: np.ndarray
    """``(H, W)`` bool, True on strokes."""


Answer = ImageAnswer | RegionsAnswer | LabelAnswer | DepthAnswer | NormalAnswer | EdgeAnswer
"""Any task's answer."""


def save_answer(path, answer: Answer, **extra) -> None:
    """Write an answer (and extra arrays or JSON-safe values) to an ``.npz`` file, atomically.

    ``load_answer`` reads it back exactly; the export of PixWorld stores each item's truth this way.
    """
    import io
    import json

    from pixwizard.tasks.results import atomic_write_bytes

    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"type": type(answer).__name__, "extra": {}}
    if isinstance(answer, RegionsAnswer):
        meta.update(size=list(answer.size), mode=answer.mode, boxes=[list(r.box) for r in answer.regions])
        meta["confidences"] = [r.confidence for r in answer.regions]
        for i, region in enumerate(answer.regions):
            arrays[f"region_{i}"] = region.mask
    elif isinstance(answer, ImageAnswer):
        arrays["image"] = answer.image
        if answer.region is not None:
            arrays["region"] = answer.region
    elif isinstance(answer, LabelAnswer):
        arrays["labels"], meta["names"] = answer.labels, list(answer.names)
    elif isinstance(answer, DepthAnswer):
        arrays["depth"], meta["convention"] = answer.depth, answer.convention
    elif isinstance(answer, NormalAnswer):
        arrays["normals"] = answer.normals
    else:
        arrays["edges"] = answer.edges
    for key, value in extra.items():
        if isinstance(value, np.ndarray):
            arrays[f"extra_{key}"] = value
        else:
            meta["extra"][key] = value
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_answer(path) -> tuple[Answer, dict]:
    """An answer written by `save_answer`, and its extras."""
    import json

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {key: data[key] for key in data.files if key != "meta"}
    extra = dict(meta["extra"])
    extra.update({key.removeprefix("extra_"): v for key, v in arrays.items() if key.startswith("extra_")})
    kind = meta["type"]
    if kind == "RegionsAnswer":
        regions = tuple(
            Region(arrays[f"region_{i}"], tuple(box), conf)
            for i, (box, conf) in enumerate(zip(meta["boxes"], meta["confidences"], strict=True))
        )
        return RegionsAnswer(regions, tuple(meta["size"]), meta["mode"]), extra
    if kind == "ImageAnswer":
        return ImageAnswer(arrays["image"], arrays.get("region")), extra
    if kind == "LabelAnswer":
        return LabelAnswer(arrays["labels"], tuple(meta["names"])), extra
    if kind == "DepthAnswer":
        return DepthAnswer(arrays["depth"], meta["convention"]), extra
    if kind == "NormalAnswer":
        return NormalAnswer(arrays["normals"]), extra
    if kind == "EdgeAnswer":
        return EdgeAnswer(arrays["edges"]), extra
    raise ValueError(f"{path}: unknown answer type {kind!r}")
