"""``pixwizard agent`` end to end and dry; the plan schema; history and regenerate; run_instruction."""

from __future__ import annotations

import json

from pixwizard.tools import invoke
from typer.testing import CliRunner

from pixwizard.cli import app

REQUEST = "denoise it, then find the red car and remove it, then estimate depth"


def _images(store) -> list:
    return sorted(store.glob("img_*.png")) if store.exists() else []


def test_agent_runs_a_multi_step_request_end_to_end(workspace):
    store = workspace / "store"
    photo = str(workspace / "in" / "photo.png")
    runner = CliRunner()
    dry = runner.invoke(
        app,
        [
            "agent",
            REQUEST,
            "--image",
            photo,
            "--model",
            "tiny-random",
            "--store",
            str(store),
            "--dry-run",
            "--json",
        ],
    )
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert [s["tool"] for s in plan["steps"]] == ["restore", "remove_object", "depth"]
    assert plan["steps"][0]["args"] == {"image": "$input", "problem": "denoise"}
    assert (
        plan["steps"][1]["args"]["target"] == "the red car"
        and plan["steps"][2]["args"]["image"] == "$s2.image"
    )
    assert plan["model_calls"] == 5
    assert _images(store) == [], "the dry run called the model"

    ran = runner.invoke(
        app, ["agent", REQUEST, "--image", photo, "--model", "tiny-random", "--store", str(store), "--json"]
    )
    assert ran.exit_code == 0, ran.output
    out = json.loads(ran.stdout)
    assert out["status"] == "done" and [s["tool"] for s in out["steps"]] == [
        "restore",
        "remove_object",
        "depth",
    ]
    assert all(s["output_id"] and s["output_id"].startswith("img_") for s in out["steps"])
    lineage = [a["id"] for a in out["lineage"]]
    assert out["steps"][0]["output_id"] in lineage  # the depth map descends from the denoised image
    assert out["image"]["id"] == out["steps"][2]["output_id"]


def test_agent_prints_the_plan_schema_and_refuses_what_it_cannot_plan(workspace):
    runner = CliRunner()
    schema = runner.invoke(app, ["agent", "--schema"])
    assert schema.exit_code == 0 and json.loads(schema.stdout)["properties"]["steps"]
    asked = runner.invoke(
        app, ["agent", "restore it", "--image", str(workspace / "in" / "photo.png"), "--dry-run"]
    )
    assert asked.exit_code == 2 and "question:" in asked.stdout


def test_history_and_regenerate_replay_a_step(ctx, registry, workspace):
    photo = str(workspace / "in" / "photo.png")
    first = invoke(registry.get("restore"), {"image": photo, "problem": "deblur", "steps": 2, "seed": 4}, ctx)
    second = invoke(registry.get("depth"), {"image": first.image.id, "steps": 2}, ctx)
    history = invoke(registry.get("history"), {"image": second.image.id}, ctx)
    tools = [s.tool for s in history.steps]
    assert tools[:2] == ["depth", "restore"] and history.steps[1].seed == 4
    assert history.steps[1].args["image"].startswith("img_")  # the input, resolved to its stored id
    again = invoke(registry.get("regenerate"), {"image": first.image.id}, ctx, registry=registry)
    assert again.tool == "restore" and again.args["seed"] == 5 and again.args["problem"] == "deblur"
    assert again.image.id != first.image.id
    assert again.output["provenance"]["args"]["image"] == first.provenance.args["image"]
    other = invoke(
        registry.get("regenerate"),
        {"image": first.image.id, "seed": 9, "overrides": {"steps": 3}},
        ctx,
        registry=registry,
    )
    assert other.args["seed"] == 9 and other.output["provenance"]["steps"] == 3


def test_run_instruction_keeps_single_tasks_and_plans_multi_step_requests(ctx, registry, workspace):
    photo = str(workspace / "in" / "photo.png")
    single = invoke(
        registry.get("run_instruction"),
        {"request": "please remove the rain from this photo", "image": photo, "steps": 2},
        ctx,
        registry=registry,
    )
    assert (
        single.task == "derain"
        and single.confidence > 0.5
        and single.run is None
        and single.image is not None
    )
    multi = invoke(
        registry.get("run_instruction"),
        {"request": "make this old scan look clean and then estimate the depth", "image": photo, "steps": 2},
        ctx,
        registry=registry,
    )
    assert multi.task == "plan" and multi.run.status == "done" and len(multi.run.steps) == 2
    assert multi.run.steps[-1].tool in ("depth", "restore_then")
