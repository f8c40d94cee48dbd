"""The shipped ``pixwizard-world`` weights (issue 12, acceptance 4): the recorded checksum, within the size
budget, and the recorded scores of a small PixWorld sample reproduced from them."""

from __future__ import annotations

import hashlib
import json

import pytest

from pixwizard.eval.harness import evaluate_world
from pixwizard.pipeline import PixWizardPipeline
from pixwizard.pipeline.names import choose_model, world_weights_path, world_weights_present

FOLDER = world_weights_path()


@pytest.fixture(scope="module")
def reference():
    assert world_weights_present(), f"the pixwizard-world weights are missing from {FOLDER}"
    return json.loads((FOLDER / "reference.json").read_text())


def test_the_weights_match_their_recorded_checksum_and_fit_the_budget(reference):
    weights = FOLDER / reference["weights"]
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == reference["sha256"]
    shipped = sum(p.stat().st_size for p in FOLDER.glob("*.safetensors"))
    assert shipped == reference["bytes"] <= 25 * 1024 * 1024


def test_the_weights_reproduce_the_recorded_scores(reference):
    pipe = PixWizardPipeline.from_pretrained("pixwizard-world")
    pipe.set_progress_bar_config(disable=True)
    assert not pipe.config.random_weights and pipe.config.encoder_kind == "world"
    report = evaluate_world("pixwizard-world", pipe=pipe, **reference["sample"])
    scores = {
        f"{row.task}/{row.metric}": row.value
        for row in report.rows
        if row.system == "pixwizard-world" and row.phrasing == "template"
    }
    assert set(scores) == set(reference["scores"])
    for key, expected in reference["scores"].items():
        # Same weights and sampler; float summation order may differ across CPUs, not the score.
        assert scores[key] == pytest.approx(expected, rel=0.02, abs=0.02), key


def test_pixwizard_world_is_the_default_model(monkeypatch, tmp_path):
    monkeypatch.delenv("PIXWIZARD_MODEL", raising=False)
    monkeypatch.setenv("PIXWIZARD_HOME", str(tmp_path))
    choice = choose_model()
    assert (choice.model, choice.source) == ("pixwizard-world", "built-in")
    assert "trained on synthetic PixWorld scenes" in choice.notice()
