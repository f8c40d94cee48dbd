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
