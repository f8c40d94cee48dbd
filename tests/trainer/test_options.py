"""Training options: accumulation, activation checkpointing, bf16, time samplers, retention, fine-tuning."""

from __future__ import annotations

import torch

from pixwizard.model.flow import TimeSampler, sample_path, sample_time
from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer


def _losses(dataset, out, *extra):
    trainer = Trainer(
        load_config("debug", [f"data.annotations={dataset}", f"out_dir={out}", "steps=4", *extra])
    )
    return [m.loss for m in trainer.fit()], trainer


def test_accumulation_and_activation_checkpointing_change_nothing(dataset, tmp_path):
    reference, ref_trainer = _losses(dataset, tmp_path / "a")
    accumulated, acc_trainer = _losses(dataset, tmp_path / "b", "micro_batch=1")
    checkpointed, ckpt_trainer = _losses(dataset, tmp_path / "c", "parallel.activation_checkpointing=true")
    for other in (accumulated, checkpointed):
        assert max(abs(a - b) for a, b in zip(reference, other, strict=True)) < 1e-5
    for trainer in (acc_trainer, ckpt_trainer):
        for name, value in trainer.model.state_dict().items():
            torch.testing.assert_close(value, ref_trainer.model.state_dict()[name], rtol=1e-4, atol=1e-5)


def test_bf16_autocast_trains_on_cpu(dataset, tmp_path):
    losses, trainer = _losses(dataset, tmp_path, "precision=bf16")
    assert all(torch.isfinite(torch.tensor(losses)))
    assert next(trainer.model.parameters()).dtype == torch.float32  # master weights stay float32


def test_time_samplers_and_path():
    g = torch.Generator().manual_seed(0)
    for kind in TimeSampler:
        values = [sample_time(kind, g) for _ in range(2000)]
        assert 0 <= min(values) and max(values) <= 1
    shifted = sum(sample_time("shifted", g, shift=3.0) for _ in range(2000)) / 2000
    assert shifted < 0.45  # a shift > 1 favours the noisy end (t near 0)
    noise, data = torch.randn(2, 4), torch.randn(2, 4)
    path = sample_path(noise, data, torch.tensor([0.0, 1.0]))
    assert torch.equal(path.x_t[0], noise[0]) and torch.equal(path.x_t[1], data[1])
    assert torch.equal(path.velocity, data - noise)


def test_only_the_newest_checkpoints_are_kept_and_finetuning_starts_from_one(dataset, tmp_path):
    _, trainer = _losses(dataset, tmp_path / "run", "ckpt_every=1", "keep_last=2")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step_0000003",
        "step_0000004",
    ]
    folder = trainer.export(tmp_path / "export", ema=False)
    config = load_config(
        "debug", [f"data.annotations={dataset}", f"out_dir={tmp_path / 'ft'}", f"init=pixwizard:{folder}"]
    )
    tuned = Trainer(config)
    for name, value in tuned.model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[name])
