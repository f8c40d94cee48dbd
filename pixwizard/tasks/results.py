"""Typed results of tasks (pydantic; importable without torch).

Every result has JSON-safe fields (what a tool returns to an LLM) and the data itself (PIL images, NumPy
arrays) in fields excluded from serialisation, with ``save_*`` methods that write files atomically.
Conventions: sizes are ``(width, height)``; boxes are ``(x0, y0, x1, y1)`` in input pixels with ``x1, y1``
exclusive; depth is normalised to [0, 1] with **1 = nearest** (the model renders near as bright).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def png_bytes(image: Image.Image | np.ndarray, compress_level: int = 6) -> bytes:
    """An image (PIL, or a uint8 array) encoded as PNG (``compress_level`` 0-9; 6 is PIL's default)."""
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


class _Result(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)


class ImageResult(_Result):
    """An image answer (restoration, editing, generation, edges, and the base of every result).

    Attributes:
        task: The task name.
        instruction: The instruction the model was given.
        input_size: ``(w, h)`` of the user's image (or of the canvas).
        processed_resolution: ``(w, h)`` the model ran at (the bucket).
        changed_fraction: Share of input pixels the result changed (beyond small noise).
        similarity_outside: ``1 − mean |Δ| / 255`` over the pixels outside the changed region (1 = identical).
        preserved: Whether original pixels outside the changed region were kept.
        warnings: Remarks for the caller (e.g. heavy downscaling, random weights).
        image: The result at the input size.
        bucket_image: The raw result at the processed resolution.
        answer: The decoded answer (`pixwizard.tasks.answers`) that the evaluation metrics compare.
    """

    task: str
    instruction: str
    input_size: tuple[int, int]
    processed_resolution: tuple[int, int]
    changed_fraction: float
    similarity_outside: float
    preserved: bool = False
    warnings: list[str] = Field(default_factory=list)
    image: Any = Field(default=None, exclude=True, repr=False)
    bucket_image: Any = Field(default=None, exclude=True, repr=False)
    answer: Any = Field(default=None, exclude=True, repr=False)

    def save_image(self, path: str | Path) -> Path:
        """Write the result image as PNG, atomically."""
        return atomic_write_bytes(path, png_bytes(self.image))


class EdgeResult(ImageResult):
    """Edges, sketch, line art or pose drawing, with the share of pixels that are strokes."""

    edge_density: float


class DepthStats(BaseModel):
    """Statistics of the normalised depth map (1 = nearest)."""

    min: float
    max: float
    mean: float
    p5: float
    p50: float
    p95: float


class DepthResult(ImageResult):
    """A depth map as numbers.

    Attributes:
        convention: How to read the values.
        raw_range: Range of the model's grey levels (0-1) before normalisation; a tiny range means a
            flat, uninformative output.
        stats: Statistics of the normalised map.
        depth: ``(H, W)`` float32 in [0, 1], 1 = nearest, at the input size.
    """

    convention: Literal["normalised inverse depth: 1 = nearest, 0 = farthest"] = (
        "normalised inverse depth: 1 = nearest, 0 = farthest"
    )
    raw_range: tuple[float, float]
    stats: DepthStats
    depth: Any = Field(default=None, exclude=True, repr=False)

    def to_metres(self, scale: float, shift: float = 0.0) -> np.ndarray:
        """An affine map of the normalised values to metres, ``scale·d + shift`` (calibrate both yourself)."""
        return (self.depth * scale + shift).astype(np.float32)

    def save_png16(self, path: str | Path) -> Path:
        """16-bit greyscale PNG (0-65535 = 0-1), atomically."""
        values = np.clip(np.round(self.depth * 65535), 0, 65535).astype(np.uint16)
        return atomic_write_bytes(path, png_bytes(Image.fromarray(values)))

    def save_npy(self, path: str | Path) -> Path:
        """The float32 map as ``.npy``, atomically."""
        buffer = io.BytesIO()
        np.save(buffer, self.depth.astype(np.float32))
        return atomic_write_bytes(path, buffer.getvalue())


class NormalResult(ImageResult):
    """Surface normals as unit vectors ``(H, W, 3)``: x right, y up, z toward the camera; RGB = (n+1)/2."""

    mean_normal: tuple[float, float, float]
    normals: Any = Field(default=None, exclude=True, repr=False)

    def save_npy(self, path: str | Path) -> Path:
        """The float32 ``(H, W, 3)`` unit vectors as ``.npy``, atomically."""
        buffer = io.BytesIO()
        np.save(buffer, self.normals.astype(np.float32))
        return atomic_write_bytes(path, buffer.getvalue())


class ClassShare(BaseModel):
    """One class of a segmentation and the share of pixels it covers."""

    label: int
    name: str
    fraction: float
    color: tuple[int, int, int] | None = Field(None, description="The class's colour in the map (RGB).")


class SegmentResult(ImageResult):
    """A semantic segmentation as labels.

    Attributes:
        classes: Classes present, largest first (``background`` is label 0).
        unknown_fraction: Share of pixels whose colour is far from every palette colour.
        palette_verified: Whether the palette was checked against the released weights.
        labels: ``(H, W)`` int16 label map at the input size (-1 = unknown colour).
        overlay: The input with the coloured segmentation blended over it.
    """

    classes: list[ClassShare]
    unknown_fraction: float
    palette_verified: bool
    labels: Any = Field(default=None, exclude=True, repr=False)
    overlay: Any = Field(default=None, exclude=True, repr=False)


class GroundedObject(BaseModel):
    """One found region.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in input pixels, ``x1, y1`` exclusive.
        area: Pixels in the mask (for a box answer: the box area).
        centroid: ``(x, y)`` centre of mass of the mask.
        confidence: 0-1; falls as the model's output gets noisier (see the decoder docs).
        rle: COCO run-length encoding of the mask (uncompressed, column-major ``counts``).
        mask: ``(H, W)`` bool at the input size.
    """

    box: tuple[int, int, int, int]
    area: int
    centroid: tuple[float, float]
    confidence: float
    rle: dict = Field(default_factory=dict)
    mask: Any = Field(default=None, exclude=True, repr=False)

    def save_mask(self, path: str | Path) -> Path:
        """The mask as a black-and-white PNG, atomically."""
        return atomic_write_bytes(path, png_bytes(Image.fromarray(self.mask.astype(np.uint8) * 255)))


class GroundingResult(ImageResult):
    """Where the referred object is; ``found=False`` with no objects when nothing was found."""

    referring: str
    mode: Literal["highlight", "box", "mask"]
    found: bool
    objects: list[GroundedObject] = Field(default_factory=list)
