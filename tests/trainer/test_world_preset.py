"""The `world` preset: the embedded model's configuration trains on PixWorld with its offline encoders."""

from __future__ import annotations

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
