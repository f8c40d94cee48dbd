"""A tool context on a temporary store and folder, with the tiny-random model."""

from __future__ import annotations

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
    """Extra arguments that make each generating tool's call valid (besides image and steps)."""
    return TOOL_CALLS
