"""A tiny mixed-aspect dataset built by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIZES = [(64, 64), (96, 48), (48, 96), (80, 64), (64, 80), (72, 72)]


def build_dataset(root: Path, count: int = 12, sizes=SIZES) -> Path:
    """Pairs (photo → its colour negative) with list-valued prompts; returns the annotation file."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    entries = []
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        base = np.zeros((h, w, 3), np.uint8)
        base[..., 0] = np.linspace(0, 255, w)[None]
        base[..., 1] = np.linspace(0, 255, h)[:, None]
        x, y = rng.integers(0, w - 16), rng.integers(0, h - 16)
        base[y : y + 16, x : x + 16] = 255
        Image.fromarray(base).save(root / f"in_{i}.png")
        Image.fromarray(255 - base).save(root / f"out_{i}.png")
        entries.append(
            {
                "input_path": f"in_{i}.png",
                "target_path": f"out_{i}.png",
                "prompt": ["Invert the colours", "Make a negative of it"],
            }
        )
    path = root / "pairs.json"
    path.write_text(json.dumps(entries))
    return path


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("data"))
