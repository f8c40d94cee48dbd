"""Official checkpoint folders: safe reading, configuration inference, conversion, loading."""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.errors import CheckpointError
from pixwizard.eval.parity import model_from_fixture
from pixwizard.model.checkpoint import (
    OFFICIAL_ARGS,
    OFFICIAL_EMA_WEIGHTS,
    OFFICIAL_WEIGHTS,
    WEIGHTS_NAME,
    convert_official_checkpoint,
    infer_config,
    load_official,
    load_transformer,
    read_official_args,
    read_official_state_dict,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "official_parity"
MHA_FIXTURE = Path(__file__).parents[1] / "fixtures" / "official_parity_mha"


def _official_folder(root: Path, fixture: Path = FIXTURE) -> tuple[Path, dict]:
    """An official-format folder (two .pth state dicts + a pickled Namespace) built from a parity fixture.

    Shapes cannot tell sample_tokens or norm_eps; the authors never changed them, so their model_args
    lack them. These tiny configurations differ, so the Namespace carries them, as our trainer's does.
    """
    model, cases = model_from_fixture(fixture)
    folder = root / "official"
    folder.mkdir()
    state = model.state_dict()
    torch.save(state, folder / OFFICIAL_EMA_WEIGHTS)
    torch.save({k: v + 0.01 for k, v in state.items()}, folder / OFFICIAL_WEIGHTS)  # non-EMA differs
    torch.save(
        argparse.Namespace(
            model="PixWizard_tiny_patch2",
            qk_norm=model.config.qk_norm,
            norm_eps=model.config.norm_eps,
            sample_tokens=model.config.sample_tokens,
            image_size="512-768",
            lr=1e-4,
            vae="sdxl",
            caption_dropout_prob=0.05,
        ),
        folder / OFFICIAL_ARGS,
    )
    return folder, cases


def _run(model, cases):
    c = {k.removeprefix("case.batch."): v for k, v in cases.items() if k.startswith("case.batch.")}
    with torch.no_grad():
        return model(
            c["x"],
            c["t"],
            c["input_x"],
            c["input_clip_x"],
            c["cap_feats"],
            c["cap_mask"],
            c["cap_pooled_feats"],
        ), c["out"]


def test_conversion_reproduces_the_original_outputs_exactly(tmp_path):
    folder, cases = _official_folder(tmp_path)
    original = load_official(folder)
    ours, ref = _run(original, cases)
    assert ((ours - ref).abs().max() / ref.abs().max()) < 1e-5
    out = convert_official_checkpoint(folder, tmp_path / "converted", dtype=torch.float32)
    assert sorted(os.listdir(out)) == ["config.json", WEIGHTS_NAME, "pixwizard_conversion.json"]
    converted = load_transformer(out)
    assert torch.equal(_run(converted, cases)[0], ours)
    assert converted.config.sample_tokens == 6 and converted.config.qk_norm


def test_mha_fixture_config_is_inferred_from_shapes(tmp_path):
    folder, cases = _official_folder(tmp_path, MHA_FIXTURE)
    model = load_official(folder)
    assert model.config.n_kv_heads == model.config.n_heads == 5
    assert not model.config.qk_norm and not model.config.learn_sigma
    ours, ref = _run(model, cases)
    assert ((ours - ref).abs().max() / ref.abs().max()) < 1e-5


def test_bf16_conversion_and_ema_choice(tmp_path):
    folder, _ = _official_folder(tmp_path)
    out = convert_official_checkpoint(folder, tmp_path / "bf16", ema=False)
    with safe_open(str(out / WEIGHTS_NAME), "pt") as f:
        key = "x_embedder.weight"
        stored = f.get_tensor(key)
    non_ema = read_official_state_dict(folder / OFFICIAL_WEIGHTS)[key]
    assert stored.dtype == torch.bfloat16
    assert torch.equal(stored, non_ema.to(torch.bfloat16))
    assert load_transformer(out).dtype == torch.bfloat16


def test_output_folder_rules(tmp_path):
    folder, _ = _official_folder(tmp_path)
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        convert_official_checkpoint(folder, folder / "inside")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("x")
    with pytest.raises(CheckpointError, match="already exists"):
        convert_official_checkpoint(folder, tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "x"
    convert_official_checkpoint(folder, tmp_path / "taken", overwrite=True)
    assert not (tmp_path / "taken" / "keep.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial folders left


def test_missing_weights_say_how_to_get_them(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="hf download Afeng-x/PixWizard"):
        load_official(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="holds no PixWizard transformer"):
        load_transformer(tmp_path / "empty")


def test_truncated_weights_are_a_checkpoint_error(tmp_path):
    folder, _ = _official_folder(tmp_path)
    data = (folder / OFFICIAL_EMA_WEIGHTS).read_bytes()
    (folder / OFFICIAL_EMA_WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot read"):
        load_official(folder)


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['PW_MARKER']}",))


def test_arbitrary_pickles_are_not_executed(tmp_path, monkeypatch):
    marker = tmp_path / "executed"
    monkeypatch.setenv("PW_MARKER", str(marker))
    evil = tmp_path / OFFICIAL_ARGS
    with open(evil, "wb") as f:
        pickle.dump(argparse.Namespace(model=_Payload()), f, protocol=2)
    torch.save({"weights": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError):
        read_official_args(evil)
    with pytest.raises(CheckpointError):
        read_official_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()


def test_infer_config_needs_a_pixwizard_state_dict():
    with pytest.raises(CheckpointError, match="x_embedder.weight"):
        infer_config({"foo": torch.zeros(1)})


def test_cli_convert_checkpoint(tmp_path):
    folder, _ = _official_folder(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["convert-checkpoint", str(folder), str(tmp_path / "cli"), "--dtype", "fp32"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / WEIGHTS_NAME).is_file()
    again = runner.invoke(app, ["convert-checkpoint", str(folder), str(tmp_path / "cli")])
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "Traceback" not in again.output
    bad = runner.invoke(app, ["convert-checkpoint", str(folder), str(tmp_path / "x"), "--dtype", "fp8"])
    assert bad.exit_code == 2 and "fp8" in bad.output and "bf16" in bad.output and "fp32" in bad.output
    shown = runner.invoke(app, ["convert-checkpoint", "--help"], env={"COLUMNS": "200"})
    assert "bf16" in shown.output and "fp32" in shown.output  # the choices are in the help
