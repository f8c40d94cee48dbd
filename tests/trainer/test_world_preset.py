"""The `world` preset: the embedded model's configuration trains on PixWorld with its offline encoders."""

from __future__ import annotations

import json
import logging

import numpy as np

from pixwizard.pipeline import PixWizardPipeline
from pixwizard.pipeline.small import PixelCodec
from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer


def test_a_few_steps_of_the_world_preset_train_and_export(tmp_path):
    config = load_config(
        "world",
        [
            f"out_dir={tmp_path}",
            "steps=3",
            "global_batch=4",
            "data.world.n=2",
            "data.world.tasks=[denoise,segment]",
        ],
    )
    trainer = Trainer(config)
    assert isinstance(trainer.encoders.codec, PixelCodec) and trainer.model.config.patch_size == 8
    losses = [m.loss for m in trainer.fit()]
    assert len(losses) == 3 and all(np.isfinite(losses))
    folder = trainer.export(tmp_path / "export", ema=False)
    pipe = PixWizardPipeline.from_pretrained(folder)
    assert pipe.config.encoder_kind == "world" and pipe.transformer.config.cap_feat_dim == 384


def test_chunks_end_at_a_checkpoint_log_their_time_and_the_eval_scores(tmp_path, caplog):
    overrides = [
        f"out_dir={tmp_path}",
        "steps=4",
        "global_batch=2",
        "ckpt_every=0",
        "data.world.n=2",
        "data.world.tasks=[denoise,segment]",
        "eval_world.every=2",
        "eval_world.tasks=[denoise]",
        "eval_world.n=1",
        "eval_world.steps=2",
    ]
    trainer = Trainer(load_config("world", overrides))
    trainer.fit(minutes=0)  # out of time after the first step
    assert trainer.step == 1 and (tmp_path / "checkpoints" / "step_0000001").is_dir()
    again = Trainer(load_config("world", overrides))
    assert again.resume() and again.step == 1
    with caplog.at_level(logging.WARNING, logger="pixwizard.pipeline.pipeline"):
        again.fit()
    assert "random weights" not in caplog.text  # the scored weights are the trained EMA's
    assert again.encoders.config.random_weights  # and the encoders' own flag is restored
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    chunks = [r["chunk"] for r in records if "chunk" in r]
    assert [(c["from_step"], c["to_step"]) for c in chunks] == [(0, 1), (1, 4)]
    assert all(c["wall_s"] >= 0 for c in chunks)
    evals = [r for r in records if "eval" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert set(evals[0]["eval"]) == {"denoise/psnr", "denoise/ssim"}


def test_the_rate_warms_up_stays_flat_then_falls_to_its_final_ratio():
    from pixwizard.trainer.config import OptimConfig
    from pixwizard.trainer.trainer import lr_factor

    optim = OptimConfig(lr=1.0, warmup_steps=10, decay_fraction=0.2, final_lr_ratio=0.1)
    factors = [lr_factor(s, optim=optim, steps=100) for s in range(100)]
    assert factors[0] == 0.1 and factors[9] == 1.0 and factors[79] == 1.0
    assert factors[80] < 1.0 and abs(factors[99] - 0.1) < 1e-9
    assert all(a >= b for a, b in zip(factors[9:-1], factors[10:], strict=True))
    assert lr_factor(99, optim=OptimConfig(lr=1.0), steps=100) == 1.0  # no decay by default


def test_world_items_take_the_sizes_in_turn():
    from pixwizard.trainer.data import world_items

    items = world_items(1, 3, ["denoise"], (64, 64), [[64, 64], [96, 64]])
    assert [item.world[3:] for item in items] == [(64, 64), (96, 64), (64, 64)]
