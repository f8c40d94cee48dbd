"""A photo on disk and a runner for the tool commands (tiny-random, two steps, a private store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from pixwizard.cli import app


@pytest.fixture
def photo(tmp_path) -> Path:
    """``in/photo.png``: an 80x60 RGB gradient."""
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "photo.png"
    Image.radial_gradient("L").resize((80, 60)).convert("RGB").save(path)
    return path


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli(*args)``: a tool command through Typer's runner, with a store, ``--device cpu`` and steps."""
    monkeypatch.delenv("PIXWIZARD_MODEL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, steps: int | None = 2, env: dict | None = None):
        extra = ["--store", str(tmp_path / "store")] + ([] if "--device" in args else ["--device", "cpu"])
        extra += [] if steps is None else ["--steps", str(steps)]
        return runner.invoke(app, [*args, *extra], env=env)

    return invoke
