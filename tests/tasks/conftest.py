"""Synthetic images with known answers, and a shared tiny pipeline."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from pixwizard.pipeline import tiny_random


@pytest.fixture(scope="module")
def pipe():
    p = tiny_random()
    p.set_progress_bar_config(disable=True)
    return p


def textured_photo(w: int = 160, h: int = 120, seed: int = 0) -> np.ndarray:
    """A natural-ish photo: smooth gradients plus mild texture, muted colours (no pure primaries)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([90 + 60 * x / w, 110 + 40 * y / h, 100 + 30 * np.sin(x / 13) * np.cos(y / 17)], -1)
    base += cv2.GaussianBlur(rng.normal(0, 12, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(base, 0, 255).astype(np.uint8)


def degrade(image: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """The degradations of the Tasks acceptance: noise σ=10/255, 1 px blur, JPEG quality 75, hue shift."""
    if kind == "clean":
        return image
    if kind == "noise":
        rng = np.random.default_rng(seed)
        return np.clip(image.astype(np.float32) + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
    if kind == "blur":
        return cv2.GaussianBlur(image, (3, 3), 1.0)
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=75)
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    if kind in ("hue+15", "hue-15"):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL).astype(np.int32)
        shift = round(15 / 360 * 256) * (1 if kind == "hue+15" else -1)
        hsv[..., 0] = (hsv[..., 0] + shift) % 256
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    raise ValueError(kind)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return float((a & b).sum() / max(1, (a | b).sum()))


def box_iou(a, b) -> float:
    ix0, iy0, ix1, iy1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, ix1 - ix0) * max(0, iy1 - iy0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture
def helpers():
    return type(
        "Helpers",
        (),
        {
            "photo": staticmethod(textured_photo),
            "degrade": staticmethod(degrade),
            "iou": staticmethod(iou),
            "box_iou": staticmethod(box_iou),
        },
    )
