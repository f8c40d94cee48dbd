"""Tools built from other tools: under a selection, in plans (run and step ids), regenerated, as jobs."""

from __future__ import annotations

import numpy as np
import pytest
from pixwizard.agents.executor import execute
from pixwizard.agents.recipes import _place_box, parse_relation
from pixwizard.tools import ToolError, invoke


def _photo(workspace) -> str:
    return str(workspace / "in" / "photo.png")


def _remover(kit):
    def script(task, seed, image):
        if task == "ground_mask":
            return kit.red_mask(image)
        if task == "inpaint":
            return kit.fill_hole(image, kit.BACKGROUND)
        return None

    return script


def test_a_recipe_works_when_only_it_is_offered(ctx, registry, scripted, workspace, kit):
    scripted(_remover(kit))
    only = registry.select(include=["remove_object"])
    out = invoke(
        only.get("remove_object"),
        {"image": _photo(workspace), "target": "the red car", "steps": 2},
        ctx,
        registry=only,
    )
    assert out.found and out.edited and out.verification.passed
    with pytest.raises(ToolError, match="unknown tool 'depth'"):
        invoke(
            registry.get("start_job"),
            {"tool": "depth", "args": {}},
            ctx,
            registry=registry.select(include=["start_job"]),
        )


def test_a_recipe_result_regenerates_the_recipe_and_its_inner_calls_keep_the_plan_step(
    ctx, registry, scripted, workspace, kit
):
    pipe = scripted(_remover(kit))
    plan = {
        "steps": [
            {
                "id": "rm",
                "tool": "remove_object",
                "args": {"image": "$input", "target": "the red car", "steps": 2},
            }
        ]
    }
    run = execute(plan, registry, ctx, [_photo(workspace)])
    out = run.steps[0].output
    assert out["image"]["id"] not in {i["id"] for i in out["intermediates"]}
    final = ctx.store.get(out["image"]["id"]).meta["provenance"]
    assert final["tool"] == "remove_object" and final["args"]["target"] == "the red car"
    for item in out["intermediates"]:
        prov = ctx.store.get(item["id"]).meta.get("provenance")
        assert prov and (prov["run_id"], prov["step_id"]) == (run.run_id, "rm"), item
    before = len(pipe.calls)
    again = invoke(registry.get("regenerate"), {"image": out["image"]["id"]}, ctx, registry=registry)
    assert again.tool == "remove_object" and again.args["seed"] == 1
    assert [t for t, _ in pipe.calls[before:]] == ["ground_mask", "inpaint", "ground_mask"]
    a = np.asarray(ctx.store.load(again.image.id).image)
    assert a.shape == np.asarray(ctx.store.load(out["image"]["id"]).image).shape


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("top left", (0, 0, 26, 19)),
        ("upper right corner", (38, 0, 64, 19)),
        ("centre-left", (0, 14, 26, 34)),
        ("top center", (19, 0, 45, 19)),
        ("the bottom of the image", (19, 29, 45, 48)),
        ("on the left", (0, 14, 26, 34)),
    ],
)
def test_place_words(words, expected):
    assert _place_box(words, (64, 48)) == expected


@pytest.mark.parametrize(
    ("words", "side", "anchor"),
    [
        ("next to the red car", "beside", "the red car"),
        ("to the left of the car", "left", "the car"),
        ("to the right of the tree", "right", "the tree"),
        ("on the table", "over", "the table"),
        ("in front of the house", "over", "the house"),
        ("behind the fence", "over", "the fence"),
        ("above the door", "above", "the door"),
        ("under the bench", "below", "the bench"),
    ],
)
def test_relation_words(words, side, anchor):
    assert parse_relation(words) == (side, anchor)


def test_add_object_takes_a_mask_output_from_a_plan(ctx, registry, scripted, workspace, kit):
    gold = (230, 200, 20)

    def script(task, seed, image):
        a = np.asarray(image.convert("RGB")).astype(int)
        golden = (a[..., 0] > 200) & (a[..., 1] > 170) & (a[..., 2] < 60)
        if task == "ground_mask":
            return (
                kit.red_mask(image)
                if not golden.any()
                else kit.red_mask(image).point(lambda v: 0).convert("RGB")
            )
        if task == "inpaint":
            return kit.fill_hole(image, gold)
        return None

    scripted(script)
    plan = {
        "steps": [
            {
                "id": "g",
                "tool": "ground",
                "args": {"image": "$input", "referring": "the red car", "steps": 2},
            },
            {
                "id": "add",
                "tool": "add_object",
                "args": {
                    "image": "$input",
                    "what": "a gold star",
                    "where": "$g.objects.0.mask",
                    "steps": 2,
                    "verify": False,
                },
            },
        ]
    }
    run = execute(plan, registry, ctx, [_photo(workspace)])
    assert run.status == "done", run.error
    out = run.steps[1].output
    assert out["edited"] and out["changed_outside"] == 0
    assert run.steps[1].args["where"] == run.steps[0].output["objects"][0]["mask"]["id"]


def test_run_instruction_asks_instead_of_squeezing_several_steps_into_one(ctx, registry, workspace):
    request = "make this old scan look clean and then tell me where the people are"
    try:
        out = invoke(
            registry.get("run_instruction"),
            {"request": request, "image": _photo(workspace), "steps": 2},
            ctx,
            registry=registry,
        )
    except ToolError as exc:
        assert "candidates" in str(exc)
    else:
        assert out.task == "plan" and len(out.run.steps) >= 2, out.task


def test_start_job_validates_a_plan_before_queuing_it(ctx, registry, workspace):
    bad = {"steps": [{"id": "s1", "tool": "depth", "args": {"image": "$s2.image"}}]}
    with pytest.raises(ToolError, match="invalid plan: step s1, argument image"):
        invoke(
            registry.get("start_job"),
            {"tool": "run_plan", "args": {"plan": bad, "images": [_photo(workspace)]}},
            ctx,
            registry=registry,
        )
    with pytest.raises(ToolError, match="needs plan, request or resume"):
        invoke(registry.get("start_job"), {"tool": "run_plan", "args": {}}, ctx, registry=registry)
    assert not ctx.backend.jobs
