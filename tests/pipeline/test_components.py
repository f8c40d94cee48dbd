"""The pipeline's own base: the folder layout, component overrides, and an embedded path free of diffusers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from pixwizard.errors import PixWizardError
from pixwizard.pipeline.pipeline import PixWizardPipeline, tiny_random
from pixwizard.world.samples import sample

HEAVY = ("diffusers", "transformers", "scipy", "accelerate", "torch._dynamo")

PROBE = f"""
import sys
import torch
from pixwizard.pipeline.pipeline import PixWizardPipeline
from pixwizard.world.samples import sample
pipe = PixWizardPipeline.from_pretrained("pixwizard-world", device="cpu")
pipe.set_progress_bar_config(disable=True)
item = sample("depth", 4, 0)
generator = torch.Generator().manual_seed(0)
pipe("Estimate the depth of this image", item.image, num_inference_steps=3, generator=generator)
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_the_embedded_model_runs_without_diffusers_transformers_or_dynamo():
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_the_index_names_each_component_and_the_configuration(tmp_path):
    pipe = tiny_random()
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "PixWizardPipeline"
    assert index["transformer"] == ["pixwizard.model.transformer", "PixWizardTransformer"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"] and index["text_encoder"] == [
        "transformers",
        "GemmaModel",
    ]
    assert index["resolution"] == [64] and index["random_weights"] is True
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == sorted(pipe.components)


def test_a_given_component_is_used_instead_of_the_folders(tmp_path):
    pipe = tiny_random()
    pipe.save_pretrained(tmp_path)
    other = tiny_random(seed=1).transformer
    loaded = PixWizardPipeline.from_pretrained(tmp_path, device="cpu", transformer=other)
    assert loaded.transformer is other
    with pytest.raises(TypeError, match="takes no unet"):
        PixWizardPipeline.from_pretrained(tmp_path, device="cpu", unet=other)


def test_broken_folders_are_refused_in_words(tmp_path):
    tiny_random().save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    for sub in (tmp_path / "vae").iterdir():
        sub.unlink()
    (tmp_path / "vae").rmdir()
    with pytest.raises(PixWizardError, match="no vae/ folder"):
        PixWizardPipeline.from_pretrained(tmp_path, device="cpu")
    del index["vae"]
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(PixWizardError, match="names no vae"):
        PixWizardPipeline.from_pretrained(tmp_path, device="cpu")
    (tmp_path / "model_index.json").write_text("[1, 2")
    with pytest.raises(PixWizardError, match="cannot be read"):
        PixWizardPipeline.from_pretrained(tmp_path, device="cpu")


def test_the_world_pipeline_round_trips_through_a_folder(tmp_path):
    pipe = PixWizardPipeline.from_pretrained("pixwizard-world", device="cpu")
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["text_encoder"] == ["pixwizard.pipeline.minilm", "MiniLM"] and index["vae"] == [None, None]
    again = PixWizardPipeline.from_pretrained(tmp_path, device="cpu")
    for p in (pipe, again):
        p.set_progress_bar_config(disable=True)
    kwargs = dict(num_inference_steps=3, output_type="latent")
    item = sample("denoise", 2, 0)
    first = pipe("Remove the noise", item.image, generator=torch.Generator().manual_seed(0), **kwargs)
    second = again("Remove the noise", item.image, generator=torch.Generator().manual_seed(0), **kwargs)
    assert torch.equal(first.images[0], second.images[0])
    assert again.config.encoder_kind == "world" and again.config.model_id == "pixwizard-world"
