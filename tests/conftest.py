"""Shared fixtures: repository paths, the tiny transformer and random inputs for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pixwizard.model.config import tiny
from pixwizard.model.transformer import PixWizardTransformer

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
PARITY_GQA = FIXTURES / "official_parity"
PARITY_MHA = FIXTURES / "official_parity_mha"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _pin_tiny_random(monkeypatch):
    """Tests pin tiny-random: a command or context given no model runs it, not the shipped pixwizard-world.

    Tests of the default model itself remove ``PIXWIZARD_MODEL`` again (e.g. the ``cli`` fixture).
    """
    monkeypatch.setenv("PIXWIZARD_MODEL", "tiny-random")


@pytest.fixture
def tiny_model() -> PixWizardTransformer:
    """The tiny preset with every parameter random (all paths live), float32, eval mode."""
    torch.manual_seed(0)
    return PixWizardTransformer(**tiny()).randomize_(seed=1).eval()


@pytest.fixture
def conditions():
    """The `make_conditions` function (tests call it with their own batch sizes)."""
    return make_conditions


def make_conditions(
    model: PixWizardTransformer, batch: int, *, seed: int = 0, clip_tokens: int = 16, text_tokens: int = 5
) -> dict[str, torch.Tensor]:
    """Random encoder outputs for ``model``: CLIP tokens, text features with a ragged mask, pooled text."""
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    lengths = torch.tensor([text_tokens - i % (text_tokens - 1) for i in range(batch)])
    mask = (torch.arange(text_tokens)[None] < lengths[:, None]).float()  # ragged, at least 2 tokens each
    return {
        "input_clip_x": torch.randn(batch, clip_tokens, cfg.image_token_dim, generator=g),
        "cap_feats": torch.randn(batch, text_tokens, cfg.cap_feat_dim, generator=g),
        "cap_mask": mask,
        "cap_pooled_feats": torch.randn(batch, cfg.cap_clip_feat_dim, generator=g),
    }
