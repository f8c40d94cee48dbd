"""A workspace with an allowed folder, an allowed output folder and a secret one, and a tool context on it."""

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
    """``in/`` (allowed, with ``photo.png`` and ``sub/photo.png``), ``out/`` (allowed output), ``secret/``."""
    for name in ("in", "in/sub", "out", "secret"):
        (tmp_path / name).mkdir()
    photo = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    photo.save(tmp_path / "in" / "photo.png")
    photo.save(tmp_path / "in" / "sub" / "photo.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:60] = 255
    Image.fromarray(mask).save(tmp_path / "in" / "mask.png")
    # The secret has another size, so a leak is visible in any answer.
    Image.new("RGB", (33, 17), "red").save(tmp_path / "secret" / "photo.png")
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
