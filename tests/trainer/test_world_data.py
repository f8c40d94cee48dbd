"""The trainer reads PixWorld directly (``data.world``): items from ``(seed, index)``, no files."""

from __future__ import annotations

import numpy as np
import torch

from pixwizard.trainer import data as data_lib
from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer
from pixwizard.world.samples import sample


def test_world_items_train_and_match_the_samples(tmp_path):
    config = load_config(
        "debug",
        [
            f"out_dir={tmp_path}",
            "data.world.n=4",
            "data.world.seed=3",
            "data.world.tasks=[denoise,outpaint,depth]",
            "steps=4",
        ],
    )
    trainer = Trainer(config)
    assert len(trainer.items) == 12 and not list(tmp_path.glob("**/*.png"))
    item = trainer.items[1]
    assert (item.type, item.world) == ("outpaint", (3, "outpaint", 0, 64, 64))
    s = sample("outpaint", 3, 0)
    source, target = data_lib.load_pair(item, s.target.size, torch.Generator().manual_seed(0), center=True)
    assert np.array_equal(np.asarray(source), np.asarray(s.prepared.image))
    assert np.array_equal(np.asarray(target), np.asarray(s.target))
    prompts = data_lib.item_prompt(item)
    assert isinstance(prompts, tuple) and prompts and all("{" not in p for p in prompts)
    assert (
        data_lib.item_bucket(item, config.data.centres)
        == data_lib.choose_bucket(*s.target.size, config.data.centres)[0]
    )
    losses = [m.loss for m in trainer.fit()]
    assert len(losses) == 4 and all(np.isfinite(losses))
