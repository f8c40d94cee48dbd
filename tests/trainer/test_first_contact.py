"""A trained export loads wherever a model is accepted; config mistakes are one line (issue 9: 3.2, 3.6)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.errors import CheckpointError, ConfigError
from pixwizard.pipeline import PixWizardPipeline
from pixwizard.pipeline.weights import EXPORT_MANIFEST
from pixwizard.trainer.config import load_config
from pixwizard.trainer.trainer import Trainer

runner = CliRunner()


def test_an_export_loads_with_from_pretrained_and_with_model(dataset, tmp_path):
    config = load_config("debug", [f"data.annotations={dataset}", f"out_dir={tmp_path / 'run'}", "steps=2"])
    trainer = Trainer(config)
    trainer.fit()
    folder = trainer.export(tmp_path / "export")
    manifest = json.loads((folder / EXPORT_MANIFEST).read_text())
    encoders = manifest["encoders"]
    assert encoders["id"] == "tiny-random" and encoders["digest"].startswith("sha256:")
    assert sum(f.stat().st_size for f in folder.iterdir()) < 2**20  # the encoders are named, not copied

    pipe = PixWizardPipeline.from_pretrained(folder, device="cpu")
    ema = trainer.state_dict()["ema"]
    for name, value in pipe.transformer.state_dict().items():
        assert torch.equal(value, ema[name]), name
    assert pipe.config.resolution == [64] and not pipe.config.random_weights
    out = pipe("Invert the colours", image=Image.open(dataset.parent / "in_0.png"), num_inference_steps=2)
    assert out.images[0].size == (64, 64)

    result = runner.invoke(
        app,
        ["depth", str(dataset.parent / "in_0.png"), "--model", str(folder), "--steps", "2", "--json"]
        + ["--device", "cpu", "--store", str(tmp_path / "store")],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["provenance"]["model"] == str(folder)


def test_an_export_refuses_encoders_other_than_its_own(dataset, tmp_path):
    config = load_config("debug", [f"data.annotations={dataset}", f"out_dir={tmp_path / 'run'}", "steps=1"])
    folder = Trainer(config).export(tmp_path / "export")
    manifest = json.loads((folder / EXPORT_MANIFEST).read_text())
    manifest["encoders"]["digest"] = "sha256:" + "0" * 64
    (folder / EXPORT_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="not the ones .* was trained with"):
        PixWizardPipeline.from_pretrained(folder, device="cpu")


def test_an_unknown_config_key_is_one_line_with_close_matches(dataset, tmp_path):
    bogus = runner.invoke(app, ["train", "debug", "bogus.key=1"])
    assert bogus.exit_code == 1 and "Traceback" not in bogus.output
    assert bogus.stderr.startswith("error: unknown config key 'bogus.key'") and bogus.stderr.count("\n") == 1
    typo = runner.invoke(app, ["train", "debug", "optim.lrr=1"])
    assert typo.exit_code == 1 and "did you mean optim.lr?" in typo.stderr
    with pytest.raises(ConfigError, match="did you mean global_batch or micro_batch"):
        load_config("debug", ["data.batch_size=3"])


def test_too_few_items_name_the_override_that_fixes_it(dataset, tmp_path):
    three = tmp_path / "three.json"
    three.write_text(json.dumps(json.loads(dataset.read_text())[:3]))
    args = [f"data.annotations={three}", f"data.root={dataset.parent}", f"out_dir={tmp_path / 'run'}"]
    result = runner.invoke(app, ["train", "debug", *args])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "3 items cannot fill a global batch of 4: add items or pass global_batch=3" in result.stderr
