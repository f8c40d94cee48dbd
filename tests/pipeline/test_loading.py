"""One place turns a model name into a pipeline (`pipeline.loading`), and the encoders play roles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pixwizard.errors import PixWizardError
from pixwizard.pipeline import loading
from pixwizard.pipeline.roles import ImageTokens, LatentCodec, PooledText, TextTokens

PIPELINE = Path(loading.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_pieces_import_neither_the_pipeline_nor_the_loader():
    for piece in ("tiny.py", "weights.py", "names.py", "loading.py", "encoders.py", "roles.py", "small.py"):
        imported = _imports(PIPELINE / piece)
        assert "pixwizard.pipeline.pipeline" not in imported, piece
        if piece != "loading.py":
            assert "pixwizard.pipeline.loading" not in imported, piece


def test_each_name_goes_to_its_source(tmp_path):
    assert loading.resolve("tiny-random").build is loading._tiny
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "model_index.json").write_text("{}")
    assert loading.resolve(str(tmp_path / "ours")).build is loading._ours
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "pixwizard_export.json").write_text("{}")
    assert loading.resolve(str(tmp_path / "export")).build is loading._export
    assert loading.resolve("Afeng-x/PixWizard").build is loading._released
    assert loading.resolve("someone/some-model").build is loading._hub
    (tmp_path / "empty").mkdir()
    with pytest.raises(PixWizardError, match="neither a pipeline folder"):
        loading.resolve(str(tmp_path / "empty"))
    assert len({s.name for s in loading.SOURCES}) == len(loading.SOURCES)


def test_the_tiny_pipeline_fills_every_role(pipe):
    assert isinstance(pipe.text_tokens, TextTokens) and isinstance(pipe.pooled_text, PooledText)
    assert isinstance(pipe.image_tokens, ImageTokens) and isinstance(pipe.codec, LatentCodec)
    assert (pipe.codec.factor, pipe.codec.channels) == (8, pipe.transformer.config.in_channels)
    features = pipe.text_tokens(["a red circle"])
    assert features.feats.shape[-1] == pipe.transformer.config.cap_feat_dim


def test_the_world_encoders_fill_the_roles_offline():
    import torch

    from pixwizard.pipeline import small
    from pixwizard.tasks.router import _encoder

    model, tokenizer = small.load_minilm()
    tokens, pooled = small.MiniLMTokens(model, tokenizer), small.MiniLMPooled(model, tokenizer)
    assert isinstance(tokens, TextTokens) and isinstance(pooled, PooledText)
    features = tokens(["a red circle", "remove the blue star behind the triangle"])
    assert features.feats.shape[-1] == small.MINILM_WIDTH and features.feats.shape[1] % 8 == 0
    assert features.mask[0].sum() < features.mask[1].sum()
    texts = ["make it brighter", "a star"]
    torch.testing.assert_close(pooled(texts), _encoder()(texts), atol=1e-5, rtol=0)  # the router's embedding
    images = torch.rand(2, 3, 96, 64) * 2 - 1
    patches = small.PatchTokens()(images)
    assert isinstance(small.PatchTokens(), ImageTokens) and patches.shape == (2, 64, 192)
    flat = torch.full((1, 3, 64, 64), 0.25)
    assert torch.allclose(small.PatchTokens()(flat), torch.full((1, 64, 192), 0.25))
    codec = small.PixelCodec()
    assert isinstance(codec, LatentCodec) and (codec.factor, codec.channels) == (1, 3)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(codec.decode(codec.encode(images, generator=g)), images)


def test_pixwizard_world_without_weights_says_how_to_get_them(monkeypatch, tmp_path):
    """A copy without the package data (e.g. a partial install): the error says how to get the weights."""
    from pixwizard.pipeline import PixWizardPipeline, names

    monkeypatch.setattr(names, "world_weights_path", lambda: tmp_path / "pixwizard_world")
    with pytest.raises(PixWizardError, match="pixwizard train world"):
        PixWizardPipeline.from_pretrained("pixwizard-world")
