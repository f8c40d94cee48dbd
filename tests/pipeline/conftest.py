"""A shared tiny pipeline (built once per module: construction imports transformers and diffusers)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from pixwizard.pipeline import tiny_random


@pytest.fixture(scope="module")
def pipe():
    p = tiny_random()
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture
def photo() -> Image.Image:
    """A deterministic 80×60 RGB test image with structure (gradient + a square)."""
    image = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    image.paste((200, 40, 40), (10, 10, 30, 30))
    return image


@pytest.fixture
def seeded():
    return lambda seed=0: torch.Generator().manual_seed(seed)
