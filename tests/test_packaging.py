"""The built wheel: only `pixwizard/` at the top level, and every module imports from it alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a clean copy: setuptools builds in-tree, and a stale build/ folder could smuggle deleted
    # modules into the wheel.
    source = tmp_path_factory.mktemp("src") / "pixwizard"
    junk = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests"
    )
    shutil.copytree(REPO, source, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (path,) = out.glob("pixwizard-*.whl")
    return path


def test_wheel_holds_only_pixwizard(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"pixwizard"}
    for sub in ("tools", "agents", "mcp_server"):
        assert f"pixwizard/{sub}/__init__.py" in names
    assert not any(name.startswith(("tests/", "scripts/")) for name in names)
    # Package data the installed server and the built-in model need.
    for part in ("index.html", "workbench.css", "bridge.js", "workbench.js"):
        assert f"pixwizard/mcp_server/workbench/{part}" in names, part
    for part in ("diffusion_pytorch_model.safetensors", "config.json", "protocol.json", "evaluation.md"):
        assert f"pixwizard/models/pixwizard_world/{part}" in names, part


def test_every_module_imports_from_the_installed_wheel(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    probe = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        import pixwizard
        assert pixwizard.__file__.startswith({str(target)!r}), pixwizard.__file__
        names = [m.name for m in pkgutil.walk_packages(pixwizard.__path__, "pixwizard.")]
        for name in names:
            if not name.endswith(".__main__"):  # entry points run their CLI on import
                module = importlib.import_module(name)
                assert module.__file__.startswith({str(target)!r}), (name, module.__file__)
        for sub in ("tools", "agents", "mcp_server", "model", "cli", "pipeline.tiny"):
            assert "pixwizard." + sub in names, sub
        from PIL import Image
        from pixwizard.tasks import TASKS
        from pixwizard.tasks.route_eval import load_requests
        from pixwizard.tasks.decoders import ade20k_palette
        assert all(len(spec.templates) >= 6 for spec in TASKS.values())
        assert len(load_requests()) > 200 and len(ade20k_palette().names) == 151
        from pixwizard.pipeline import tiny_random
        pipe = tiny_random()
        pipe.set_progress_bar_config(disable=True)
        result = pipe("Remove the rain", image=Image.new("RGB", (50, 40)), num_inference_steps=3)
        assert result.images[0].size == (50, 40), result.images[0].size
        from pixwizard.mcp_server.app import workbench_html
        html = workbench_html()  # (doubled braces: this probe is an f-string)
        assert "class McpAppBridge" in html and "{{{{CSS}}}}" not in html and "{{{{CSP}}}}" not in html
        print(len(names))
        """
    )
    unrelated = tmp_path / "elsewhere"
    unrelated.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=unrelated,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 15
