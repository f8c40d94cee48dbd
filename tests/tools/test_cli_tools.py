"""Every tool command of the CLI through Typer's runner."""

from __future__ import annotations

import json

import pytest
from pixwizard.tools import REGISTRY
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.cli.tools import SERVER_ONLY

runner = CliRunner()
ARGS = {
    "restore": ["--problem", "denoise"],
    "ground": ["--referring", "the bright centre", "--mode", "box"],
    "segment": [],
    "depth": [],
    "edit": ["--instruction", "make it snowy"],
    "control_generate": ["--condition", "canny", "--caption", "a lamp", "--from-photo"],
    "inpaint": ["--mask", "MASK", "--caption", "a window"],
    "outpaint": ["--direction", "left", "--ratio", "0.25"],
    "text_to_image": ["--caption", "a red boat", "--width", "64", "--height", "64"],
    "annotate": ["--kind", "hed"],
    "run_instruction": ["--request", "estimate the depth of this photo"],
    "describe_image": [],
}


def test_every_tool_has_a_command_with_a_test():
    assert set(ARGS) == set(REGISTRY) - SERVER_ONLY


@pytest.mark.parametrize("name", list(ARGS))
def test_tool_command(workspace, name):
    photo, mask = str(workspace / "in" / "photo.png"), str(workspace / "in" / "mask.png")
    args = [a if a != "MASK" else mask for a in ARGS[name]]
    positional = [] if name == "text_to_image" else [photo]
    steps = [] if name == "describe_image" else ["--steps", "2"]
    result = runner.invoke(
        app,
        [
            name,
            *positional,
            *args,
            *steps,
            "--json",
            "--device",
            "cpu",
            "--store",
            str(workspace / "store"),
            "-o",
            str(workspace / "out" / name),
        ],
    )
    assert result.exit_code == 0, result.output
    (payload,) = json.loads(result.stdout)
    if name == "describe_image":  # the fixture's photo, as it is on disk; no model is loaded for it
        assert (payload["width"], payload["height"], payload["mode"]) == (80, 60, "RGB")
        assert payload["input"] == photo and payload["lineage"] == [] and payload["written"] == []
        assert "no model given" not in result.stderr
    else:
        assert payload["image"]["width"] > 0 and payload["provenance"]["model"] == "tiny-random"
        assert payload["exported_to"].startswith(str(workspace / "out" / name))
        assert payload["exported_to"] == payload["written"][0]


def test_depth_on_two_images_prints_a_json_list(workspace):
    photo = workspace / "in" / "photo.png"
    second = workspace / "in" / "second.png"
    second.write_bytes(photo.read_bytes())
    result = runner.invoke(
        app,
        [
            "depth",
            str(photo),
            str(second),
            "--json",
            "--steps",
            "2",
            "--device",
            "cpu",
            "--store",
            str(workspace / "store"),
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert isinstance(payload, list) and len(payload) == 2 and all(p["stats"] for p in payload)


def test_globs_and_plain_output(workspace):
    result = runner.invoke(
        app,
        [
            "annotate",
            str(workspace / "in" / "*.png"),
            "--kind",
            "canny",
            "--steps",
            "2",
            "--device",
            "cpu",
            "--store",
            str(workspace / "store"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len([line for line in result.stdout.splitlines() if "->" in line]) == 2


def test_bad_input_is_one_line_and_exit_one(workspace):
    missing = str(workspace / "in" / "missing.png")
    result = runner.invoke(app, ["depth", missing, "--store", str(workspace / "s"), "--model", "tiny-random"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {missing}: ")
    bad = runner.invoke(app, ["restore", str(workspace / "in" / "photo.png"), "--problem", "sparkle"])
    assert bad.exit_code == 2  # a usage error from the option's choices


def test_tools_list():
    result = runner.invoke(app, ["tools", "list", "--json"])
    assert result.exit_code == 0
    assert {row["name"] for row in json.loads(result.stdout)} == set(REGISTRY)
    assert "depth" in runner.invoke(app, ["tools", "list"]).stdout


def test_mcp_command_help():
    result = runner.invoke(app, ["mcp", "--help"])
    assert result.exit_code == 0 and "--allow-dir" in result.stdout and "--transport" in result.stdout
