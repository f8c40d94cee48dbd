"""Images in and out of the pipeline: the only place where value ranges and modes change.

Inputs become 8-bit RGB: ``RGBA``/``LA``/``PA`` and palette images with transparency are composited on
white, ``L``/``P``/``CMYK``/``YCbCr`` are converted, 16- and 32-bit greyscale (``I;16``, ``I``) are scaled
from their full range to 8 bits, and float images (``F``) from [0, 1]. Other modes are refused with a
message. Sizes outside ``[MIN_SIDE, MAX_PIXELS]`` are refused before any pixel is decoded.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

MIN_SIDE = 8
MAX_PIXELS = 64_000_000  # larger inputs are refused before decoding (decompression bombs, OOM)
_CONVERTIBLE = {"RGB", "RGBX", "L", "P", "CMYK", "YCbCr", "LAB", "HSV", "1"}
_WITH_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}


def check_image_size(width: int, height: int, *, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse sizes the pipeline cannot or should not process, with the fix in the message."""
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"image is {width}x{height}; both sides must be at least {MIN_SIDE} px")
    if width * height > max_pixels:
        raise ValueError(
            f"image is {width}x{height} ({width * height / 1e6:.1f} MP), above the {max_pixels / 1e6:.0f} MP "
            "limit; downscale it first (it is resized to at most ~1 MP for sampling anyway)"
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any supported PIL mode to 8-bit RGB (see the module docstring for the rules)."""
    check_image_size(*image.size)
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _WITH_ALPHA:
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")  # La → RGBA is not direct
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in _CONVERTIBLE:
        return image.convert("RGB")
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I (32-bit)
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max() <= 65535 else float(2**31 - 1)
        return Image.fromarray((np.clip(array / peak, 0, 1) * 255).round().astype(np.uint8)).convert("RGB")
    if mode == "F":
        array = np.asarray(image, dtype=np.float64)
        return Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)).convert("RGB")
    raise ValueError(f"image mode {mode!r} is not supported; convert it to RGB first")


def pil_to_tensor(image: Image.Image) -> Tensor:
    """8-bit RGB → ``(3, H, W)`` float32 in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1) * 2 - 1


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize directly to ``(w, h)`` with Lanczos, as the authors' sampler (no crop, slight squash)."""
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def tensor_to_pil(images: Tensor) -> list[Image.Image]:
    """``(B, 3, H, W)`` in [-1, 1] → 8-bit RGB: ``(x+1)/2``, clamped, ×255, truncated (as the authors)."""
    pixels = ((images.float() + 1) / 2).clamp(0, 1).mul(255).to(torch.uint8)
    return [Image.fromarray(p.permute(1, 2, 0).cpu().numpy()) for p in pixels]
