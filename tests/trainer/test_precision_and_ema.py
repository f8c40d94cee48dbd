"""Trainer options inside a step: bf16 autocast reaches the forward, the EMA follows the model."""

from __future__ import annotations

import pytest
import torch

from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer

DECAY = 0.9  # far from 1, so that one step moves the EMA visibly


@pytest.fixture(scope="module")
def trainer(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("precision")
    overrides = [f"data.annotations={dataset}", f"out_dir={out}", "precision=bf16", f"ema_decay={DECAY}"]
    return Trainer(load_config("debug", overrides))


def _seen_in_forward(trainer) -> dict:
    """One step, recording what the model's forward saw: autocast state and the dtype of an activation."""
    seen = {}
    model = trainer.model

    def before(module, args, kwargs):
        seen["autocast"] = torch.is_autocast_enabled(trainer.device.type)

    def after(module, args, output):
        seen["activation"] = output.dtype

    hooks = [
        model.register_forward_pre_hook(before, with_kwargs=True),
        model.x_embedder.register_forward_hook(after),
    ]
    try:
        trainer.train_step()
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_bf16_runs_the_forward_under_autocast(trainer):
    assert _seen_in_forward(trainer) == {"autocast": True, "activation": torch.bfloat16}
    assert next(trainer.model.parameters()).dtype == torch.float32  # master weights stay float32
    trainer.config.precision = "fp32"
    try:
        assert _seen_in_forward(trainer) == {"autocast": False, "activation": torch.float32}
    finally:
        trainer.config.precision = "bf16"


def test_the_ema_follows_the_model_by_the_configured_decay(trainer):
    start = {name: value.clone() for name, value in trainer.state_dict()["ema"].items()}
    expected = dict(start)
    for _ in range(3):
        trainer.train_step()
        for name, param in trainer.model.named_parameters():
            expected[name] = DECAY * expected[name] + (1 - DECAY) * param.detach().cpu()
    ema = trainer.state_dict()["ema"]
    model = {name: p.detach().cpu() for name, p in trainer.model.named_parameters()}
    assert ema.keys() == model.keys()
    for name, value in ema.items():
        torch.testing.assert_close(value, expected[name], rtol=1e-6, atol=1e-7)
    # An EMA left where it was, or one copying the model, is far outside that tolerance.
    for stale in (start, model):
        gap = max(float((expected[name] - stale[name]).abs().max()) for name in model)
        assert gap > 1e-5
