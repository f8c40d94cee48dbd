"""World version 1 is frozen: the same (task, seed, index) gives the same input, target, truth and text.

If this fails, the world changed: a change of the world is a new entry in ``DIFFICULTIES`` under a new
``world_version``, never an edit of version 1. The fingerprint (instructions exactly, then the mean of
every image and truth array) tolerates last-bit float differences between machines, not real changes.
Regenerate it only together with a new world version: ``PIXWIZARD_UPDATE_WORLD=1 pytest <this file>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from pixwizard.tasks import TASKS
from pixwizard.tasks.answers import save_answer
from pixwizard.world import WORLD_VERSION
from pixwizard.world.samples import instruction, sample

FINGERPRINT = Path(__file__).with_name("frozen_v1.json")


def fingerprint(tmp_path) -> dict:
    out = {}
    for task in TASKS:
        for index in range(6):
            s = sample(task, 0, index)
            path = tmp_path / f"{task}-{index}.npz"
            save_answer(path, s.truth)
            with np.load(path) as data:
                truth = {
                    key: float(np.asarray(data[key], np.float64).mean())
                    for key in data.files
                    if key != "meta"
                }
            out[f"{task}/{index}"] = {
                "instruction": instruction(s),
                "held_out": instruction(s, "held_out"),
                "slots": s.slots,
                "input": float(np.asarray(s.prepared.image, np.float64).mean()),
                "target": float(np.asarray(s.target, np.float64).mean()),
                "truth": truth,
            }
    return out


def test_world_version_1_is_frozen(tmp_path):
    assert WORLD_VERSION == "1"
    current = fingerprint(tmp_path)
    if os.environ.get("PIXWIZARD_UPDATE_WORLD"):
        FINGERPRINT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(FINGERPRINT.read_text())
    assert set(current) == set(recorded)
    for key, now in current.items():
        then = recorded[key]
        for text in ("instruction", "held_out", "slots"):
            assert now[text] == then[text], (key, text)
        for name in ("input", "target"):
            assert now[name] == pytest.approx(then[name], abs=2e-3), (key, name)
        assert now["truth"] == pytest.approx(then["truth"], abs=1e-3, rel=1e-4), key
