"""The transformer's own configuration and diffusers-layout files, without diffusers."""

from __future__ import annotations

import inspect
import json

import pytest
import torch
from torch import nn

from pixwizard.model.config import tiny
from pixwizard.model.configured import WEIGHTS_NAME, empty_weights
from pixwizard.model.transformer import PixWizardTransformer


def test_the_configuration_is_every_argument_with_defaults_and_read_only():
    model = PixWizardTransformer(**tiny())
    assert model.config.dim == tiny()["dim"] and model.config["patch_size"] == tiny()["patch_size"]
    assert model.config.prediction == "velocity"  # a default, not passed
    assert set(model.config) == set(inspect.signature(PixWizardTransformer.__init__).parameters) - {"self"}
    with pytest.raises(AttributeError):
        model.config.dim = 8
    with pytest.raises(TypeError):
        model.config["dim"] = 8
    assert PixWizardTransformer.from_config(model.config).config == model.config


def test_a_diffusers_written_folder_loads_and_ours_is_the_same_layout(tmp_path):
    torch.manual_seed(0)
    model = PixWizardTransformer(**tiny())
    model.save_pretrained(tmp_path / "ours")
    written = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert written["_class_name"] == "PixWizardTransformer" and "_diffusers_version" in written
    # a folder as diffusers wrote it before: extra private keys, another version
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / WEIGHTS_NAME).write_bytes((tmp_path / "ours" / WEIGHTS_NAME).read_bytes())
    (legacy / "config.json").write_text(json.dumps({**written, "_diffusers_version": "0.30.0", "_x": 1}))
    loaded = PixWizardTransformer.from_pretrained(legacy)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert not any(p.is_meta for p in loaded.parameters()) and not loaded.training
    assert PixWizardTransformer.from_pretrained(
        tmp_path, subfolder="ours", torch_dtype=torch.float16
    ).dtype == (torch.float16)


def test_bad_folders_are_refused_in_words(tmp_path):
    model = PixWizardTransformer(**tiny())
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "depth": 3}))
    with pytest.raises(ValueError, match="takes no depth"):
        PixWizardTransformer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "_class_name": "UNet2DModel"}))
    with pytest.raises(ValueError, match="describes a UNet2DModel"):
        PixWizardTransformer.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_layers": 3}))
    with pytest.raises(RuntimeError, match="Missing key"):
        PixWizardTransformer.from_pretrained(tmp_path)
    (tmp_path / WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=WEIGHTS_NAME):
        PixWizardTransformer.from_pretrained(tmp_path)


def test_empty_weights_builds_on_meta_and_restores_the_initialisers():
    normal = nn.init.normal_
    with empty_weights():
        layer = nn.Embedding(4, 3)
    assert layer.weight.is_meta and nn.init.normal_ is normal
    assert nn.Embedding(4, 3).weight.abs().sum() > 0  # initialisation works again afterwards
