"""Every tool command of the CLI through Typer's runner."""

from __future__ import annotations

import json

import pytest
from pixwizard.tools import default_registry, invoke
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.cli.tools import SERVER_ONLY

runner = CliRunner()
TOOLS = default_registry()
# Each command's options; PHOTO and MASK stand for the workspace's files. A command whose tool takes an
# image gets the photo as its argument (history and regenerate: an id a depth call stored).
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
    "describe_image": [],
    "mask_dilate": ["--mask", "MASK", "--radius", "2"],
    "mask_erode": ["--mask", "MASK", "--radius", "2"],
    "mask_feather": ["--mask", "MASK", "--radius", "2"],
    "mask_invert": ["--mask", "MASK"],
    "mask_union": ["--mask", "MASK", "--other", "MASK"],
    "mask_intersect": ["--mask", "MASK", "--other", "MASK"],
    "box_to_mask": ["--box", "[10, 10, 40, 30]"],
    "crop": ["--box", "[10, 10, 40, 30]"],
    "resize": ["--scale", "0.5"],
    "pad": ["--left", "4", "--top", "2"],
    "composite": ["--other", "PHOTO", "--mask", "MASK"],
    "draw_boxes": ["--boxes", "[[10, 10, 40, 30]]", "--labels", '["lamp"]'],
    "compare": ["--a", "PHOTO", "--b", "PHOTO", "--mask", "MASK"],
    "remove_object": ["--target", "the bright centre"],
    "replace_object": ["--target", "the bright centre", "--replacement", "a moon"],
    "add_object": ["--what", "a star", "--where", "top left"],
    "restore_then": ["--problems", '["denoise"]', "--then", "depth"],
    "run_instruction": ["--request", "estimate the depth of this photo"],
    "history": [],
    "regenerate": ["--overrides", '{"steps": 2}'],
}
FROM_THE_STORE = {"history", "regenerate"}


def test_every_tool_has_a_command_with_a_test():
    assert set(ARGS) == set(TOOLS.names) - SERVER_ONLY


@pytest.mark.parametrize("name", list(ARGS))
def test_tool_command(ctx, workspace, name):
    photo, mask = str(workspace / "in" / "photo.png"), str(workspace / "in" / "mask.png")
    fields = TOOLS.get(name).input_model.model_fields
    args = [{"MASK": mask, "PHOTO": photo}.get(a, a) for a in ARGS[name]]
    positional = [photo] if "image" in fields else []
    if name in FROM_THE_STORE:
        stored = invoke(TOOLS.get("depth"), {"image": photo, "steps": 2}, ctx)
        positional = [stored.image.id]
    steps = ["--steps", "2"] if "steps" in fields else []
    out = workspace / "out" / name
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
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    (payload,) = json.loads(result.stdout)
    if name == "describe_image":  # the fixture's photo, as it is on disk; no model is loaded for it
        assert (payload["width"], payload["height"], payload["mode"]) == (80, 60, "RGB")
        assert payload["input"] == photo and payload["lineage"] == [] and payload["written"] == []
        assert "no model given" not in result.stderr
        return
    if name == "compare":  # a measurement: no image, nothing written
        assert payload["identical"] and payload["inside"]["pixels"] == 600 and payload["written"] == []
        return
    if name == "history":
        assert payload["image_id"] == stored.image.id and payload["steps"][0]["tool"] == "depth"
        assert payload["written"] == []
        return
    assert payload["image"]["width"] > 0
    assert payload["exported_to"].startswith(str(out)) and payload["exported_to"] == payload["written"][0]
    provenance = payload.get("provenance")
    if name == "regenerate":  # the depth call again, with the next seed and the override
        assert payload["tool"] == "depth" and payload["args"]["seed"] == 1 and payload["args"]["steps"] == 2
        provenance = payload["output"]["provenance"]
        assert provenance["tool"] == "depth" and provenance["parents"] == stored.provenance.parents
    elif provenance is not None:  # a model tool (tiny-random) or an image operation (no model)
        assert provenance["tool"] == name
        assert provenance["model"] == ("tiny-random" if TOOLS.get(name).generates else None)
    if name == "run_instruction":
        assert payload["task"] == "depth"


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
    assert [row["name"] for row in json.loads(result.stdout)] == TOOLS.names
    assert "depth" in runner.invoke(app, ["tools", "list"]).stdout


def test_mcp_command_help():
    result = runner.invoke(app, ["mcp", "--help"])
    assert result.exit_code == 0 and "--allow-dir" in result.stdout and "--transport" in result.stdout
