"""Small previews of result images, for hosts and models that look at pixels.

MCP image content and LangChain image blocks both use `preview_png`. Nothing here imports torch.
"""

from __future__ import annotations

import io

from PIL import Image


def preview_png(data: bytes, max_bytes: int) -> bytes:
    """A PNG of the image that fits in ``max_bytes``: downscaled first, then encoded once (twice at most).

    The first size assumes one byte per pixel after compression; if the encoded preview is still too
    large, the measured bytes per pixel give the size for the second (and usually last) encode. Nothing is
    encoded at full resolution, so a 2048² result costs milliseconds, not the minutes that repeated
    ``optimize=True`` encodes of the full image took.
    """
    image = Image.open(io.BytesIO(data))
    image.load()
    pixels = max_bytes  # about one byte per pixel for photos; noise needs the second pass
    while True:
        preview = _shrunk(image, pixels)
        buffer = io.BytesIO()
        preview.save(buffer, format="PNG", compress_level=6)
        size = buffer.tell()
        if size <= max_bytes or min(preview.size) <= 16:
            return buffer.getvalue()
        per_pixel = size / (preview.width * preview.height)
        pixels = min(int(max_bytes / per_pixel * 0.95), preview.width * preview.height // 2)


def _shrunk(image: Image.Image, pixels: int) -> Image.Image:
    if image.width * image.height <= pixels:
        return image
    scale = (pixels / (image.width * image.height)) ** 0.5
    size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
