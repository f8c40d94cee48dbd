"""`pixwizard models fetch` and released-layout loading against a fake Hugging Face cache, network refused."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.pipeline import PixWizardPipeline
from pixwizard.pipeline.tiny import tiny_components
from pixwizard.pipeline.weights import MissingWeightsError, fetch_released

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _snapshot(cache: Path, repo_id: str) -> Path:
    """The cache layout huggingface_hub reads offline: refs/main → snapshots/<commit>/files."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    folder = repo / "snapshots" / COMMIT
    folder.mkdir(parents=True)
    return folder


def _fake_cache(cache: Path, skip: tuple[str, ...] = ()) -> dict:
    from transformers import CLIPConfig, CLIPModel

    parts = tiny_components(seed=3)
    if "checkpoint" not in skip:
        folder = _snapshot(cache, "Afeng-x/PixWizard")
        torch.save(parts["transformer"].state_dict(), folder / "consolidated_ema.00-of-01.pth")
        args = argparse.Namespace(
            model="PixWizard_tiny_patch2", qk_norm=True, sample_tokens=8, image_size="512"
        )
        torch.save(args, folder / "model_args.pth")
    if "gemma" not in skip:
        folder = _snapshot(cache, "google/gemma-2b")
        parts["text_encoder"].save_pretrained(folder)
        parts["tokenizer"].save_pretrained(folder)
    if "clip" not in skip:
        folder = _snapshot(cache, "openai/clip-vit-large-patch14-336")
        text, vision = parts["clip_text_encoder"].config, parts["clip_image_encoder"].config
        config = CLIPConfig(
            text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=text.projection_dim
        )
        CLIPModel(config).save_pretrained(folder)
        parts["clip_tokenizer"].save_pretrained(folder)
    if "vae" not in skip:
        parts["vae"].save_pretrained(_snapshot(cache, "stabilityai/sdxl-vae"))
    return parts


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty cache, the Hub in offline mode, and any socket connection refused."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return cache


def test_complete_cache_converts_into_a_loadable_folder(offline_hub, tmp_path):
    parts = _fake_cache(offline_hub)
    out = fetch_released(tmp_path / "model", pipeline_cls=PixWizardPipeline, dtype=torch.float32)
    assert sorted(p.name for p in out.iterdir()) == [
        "clip_image_encoder",
        "clip_text_encoder",
        "clip_tokenizer",
        "model_index.json",
        "text_encoder",
        "tokenizer",
        "transformer",
        "vae",
    ]
    pipe = PixWizardPipeline.from_pretrained(out, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    source = parts["transformer"].state_dict()
    assert all(torch.equal(v, source[k]) for k, v in pipe.transformer.state_dict().items())
    assert pipe.config.model_id == "Afeng-x/PixWizard" and not pipe.config.random_weights
    result = pipe(
        "Remove the rain", resolution=64, num_inference_steps=3, generator=torch.Generator().manual_seed(0)
    )
    assert result.images[0].size == (64, 64)


def test_the_authors_layout_loads_straight_from_the_cache(offline_hub):
    _fake_cache(offline_hub)
    pipe = PixWizardPipeline.from_pretrained("Afeng-x/PixWizard", device="cpu")
    assert pipe.transformer.config.sample_tokens == 8 and pipe.config.resolution == [768]


def test_incomplete_cache_names_each_missing_piece(offline_hub, tmp_path):
    _fake_cache(offline_hub, skip=("gemma", "vae"))
    with pytest.raises(MissingWeightsError) as info:
        fetch_released(tmp_path / "model", pipeline_cls=PixWizardPipeline)
    message = str(info.value)
    assert [source.key for source, _ in info.value.missing] == ["gemma", "vae"]
    assert (
        "Gemma-2B text encoder (google/gemma-2b)" in message and "SDXL VAE (stabilityai/sdxl-vae)" in message
    )
    assert "gated" in message and "hf auth login" in message
    assert "hf download google/gemma-2b" in message and "pixwizard models fetch --dir DIR" in message
    assert "CLIP" not in message.split("missing:")[1].split("or fetch")[0]
    assert not (tmp_path / "model").exists()


def test_a_folder_missing_files_is_reported(offline_hub, tmp_path):
    _fake_cache(offline_hub)
    vae = next(offline_hub.glob("models--stabilityai--sdxl-vae/snapshots/*"))
    (vae / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(MissingWeightsError, match="lacks diffusion_pytorch_model"):
        fetch_released(tmp_path / "model", pipeline_cls=PixWizardPipeline)


def test_cli_models_fetch(offline_hub, tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["models", "fetch", "--dir", str(tmp_path / "m")])
    assert missing.exit_code == 1
    assert "PixWizard checkpoint" in missing.stderr and "Traceback" not in missing.output
    _fake_cache(offline_hub)
    done = runner.invoke(app, ["models", "fetch", "--dir", str(tmp_path / "m"), "--dtype", "fp32"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "m" / "model_index.json").is_file()
    again = runner.invoke(app, ["models", "fetch", "--dir", str(tmp_path / "m")])
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_offline_released_repo_fails_at_once(offline_hub):
    with pytest.raises(MissingWeightsError) as info:
        PixWizardPipeline.from_pretrained("Afeng-x/PixWizard")
    assert [source.key for source, _ in info.value.missing] == ["checkpoint", "gemma", "clip", "vae"]


def test_the_authors_folder_with_local_encoder_folders(offline_hub):
    _fake_cache(offline_hub)
    snapshot = lambda repo: next(offline_hub.glob(f"models--{repo.replace('/', '--')}/snapshots/*"))  # noqa: E731
    pipe = PixWizardPipeline.from_pretrained(
        snapshot("Afeng-x/PixWizard"),
        device="cpu",
        gemma=snapshot("google/gemma-2b"),
        clip=snapshot("openai/clip-vit-large-patch14-336"),
        vae=snapshot("stabilityai/sdxl-vae"),
    )
    pipe.set_progress_bar_config(disable=True)
    assert pipe("Remove the rain", resolution=64, num_inference_steps=2).images[0].size == (64, 64)


def test_a_folder_of_neither_layout_is_refused(tmp_path):
    from pixwizard.errors import PixWizardError

    with pytest.raises(PixWizardError, match="neither a pipeline folder"):
        PixWizardPipeline.from_pretrained(tmp_path)
