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
    for piece in ("tiny.py", "weights.py", "names.py", "loading.py", "encoders.py", "roles.py"):
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
