"""The console script and `python -m` entry points, and the CLI commands through Typer's runner."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pixwizard import __version__
from pixwizard.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("convert-checkpoint", "parity", "mcp", "agent"):
        assert command in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"pixwizard {__version__}"


def test_parity_command():
    result = runner.invoke(app, ["parity", str(REPO / "tests/fixtures/official_parity_mha")])
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip().splitlines()[-1]
        == "parity: 6/6 cases within 1e-05, no shape manifests in this folder"
    )


def test_parity_command_on_a_bad_folder_is_one_line(tmp_path):
    result = runner.invoke(app, ["parity", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and "not a parity folder" in result.stderr
    assert "Traceback" not in result.output


def test_agent_command_plans_without_a_model(tmp_path):
    import json

    schema = runner.invoke(app, ["agent", "--schema"])
    assert schema.exit_code == 0 and "steps" in json.loads(schema.stdout)["properties"]
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"")  # a dry run reads no image
    result = runner.invoke(
        app,
        ["agent", "denoise it, then estimate depth", "--image", str(photo), "--dry-run", "--json"]
        + ["--store", str(tmp_path / "store")],
    )
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)
    assert [s["tool"] for s in planned["steps"]] == ["restore", "depth"] and planned["model_calls"] == 2


def test_console_script_and_module_entry_points():
    script = shutil.which("pixwizard", path=str(Path(sys.executable).parent))
    assert script is not None, "the pixwizard console script is not installed"
    assert subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=120
    ).stdout.strip() == (f"pixwizard {__version__}")
    module = subprocess.run(
        [sys.executable, "-m", "pixwizard", "--help"], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert module.returncode == 0 and "convert-checkpoint" in module.stdout
