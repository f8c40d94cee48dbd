"""A tool context on a temporary store and folder, with the tiny-random model."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import make_context


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def workspace(tmp_path):
    """``in/`` (allowed, with a photo and a mask), ``out/`` (allowed output), ``secret/`` (not allowed)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "secret").mkdir()
    photo = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    photo.save(tmp_path / "in" / "photo.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:60] = 255
    Image.fromarray(mask).save(tmp_path / "in" / "mask.png")
    photo.save(tmp_path / "secret" / "private.png")
    return tmp_path


@pytest.fixture
def ctx(workspace):
    return make_context(
        "tiny-random",
        store_dir=workspace / "store",
        allow_dirs=[workspace / "in"],
        output_dirs=[workspace / "out"],
        device="cpu",
    )


TOOL_CALLS = {
    "restore": {"problem": "derain"},
    "ground": {"referring": "the bright centre"},
    "segment": {},
    "depth": {},
    "edit": {"instruction": "make the sky purple"},
    "control_generate": {"condition": "canny", "caption": "a glowing orb", "from_photo": True},
    "inpaint": {"mask": "MASK", "caption": "a window"},
    "outpaint": {"direction": "right", "ratio": 0.25},
    "text_to_image": {"caption": "a red boat", "width": 64, "height": 64},
    "annotate": {"kind": "canny"},
    "run_instruction": {"request": "please remove the rain from this photo"},
}


@pytest.fixture
def tool_calls():
    """Extra arguments that make each one-call model tool's call valid (besides image and steps)."""
    return TOOL_CALLS


@pytest.fixture
def ideal_grounding(monkeypatch):
    """Ground's real mask decoder fed what a trained model would draw: one white object on black.

    tiny-random draws noise, in which the decoder (rightly) finds nothing; this keeps everything after the
    model (the decoder, the typed result, the stored masks) real.
    """
    from pixwizard.tasks import decoders

    real = decoders.decode_mask

    def decode_an_ideal_answer(output, size, **kwargs):
        ideal = np.zeros_like(output)
        h, w = ideal.shape[:2]
        ideal[h // 6 : h // 2, w // 4 : w * 5 // 8] = 1.0 if ideal.dtype.kind == "f" else 255
        return real(ideal, size, **kwargs)

    monkeypatch.setattr(decoders, "decode_mask", decode_an_ideal_answer)


@pytest.fixture
def png_header():
    """``png_header(width, height)``: a 200-byte PNG that declares that size (a bomb if anyone decoded it)."""
    return _png_header


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_header(width: int, height: int) -> bytes:
    """A 200-byte PNG that declares width×height (a decompression bomb if anyone decoded it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )
