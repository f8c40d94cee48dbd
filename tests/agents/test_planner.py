"""The offline planner: clause splitting, routing to tools, references, questions, and its evaluation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pixwizard.agents.plan_eval import load_rows, normalise, score, slot_matches
from pixwizard.agents.planner import Planned, plan_offline, split_clauses
from pixwizard.agents.validate import validate_plan
from pixwizard.tools.registry import default_registry

# ----------------------------------------------------------------------------------------------------
# Clauses (pure text rules: no router)
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        "denoise it then segment it",
        "denoise it and then segment it",
        "denoise it; segment it",
        "denoise it, after that segment it",
        "first denoise it, then segment it",
        "denoise it and also segment it",
        "denoise it, next segment it",
        "denoise it, and finally segment it",
        "denoise it; once that's done, segment it",
        "denoise it, segment it",
        "denoise it and segment it",
        "Denoise it. Then segment it.",
        "Could you denoise it and then please segment it?",
    ],
)
def test_split_at_each_connector(request_):
    assert [c.text.lower() for c in split_clauses(request_)] == ["denoise it", "segment it"]


@pytest.mark.parametrize(
    "request_",
    [
        "make the whole photo black and white",
        "find the cat and the dog",
        "put a balloon next to the red barn",
        "make me a new picture from the segmentation map: a city at dusk",
    ],
)
def test_no_split_inside_one_action(request_):
    assert len(split_clauses(request_)) == 1


def test_descriptive_sentence_is_context_not_a_step():
    clauses = split_clauses("This is a sketch I drew. Turn it into a castle, then extend it to the right.")
    assert [c.text for c in clauses] == ["Turn it into a castle", "extend it to the right"]
    assert clauses[0].context == "This is a sketch I drew"


@pytest.mark.parametrize(
    "request_",
    [
        "denoise -> segment",
        "denoise => segment",
        "denoise \u2192 segment",
        "1) denoise 2) segment",
        "(1) denoise (2) segment",
        "Step 1: denoise. Step 2: segment.",
        "- denoise\n- segment",
        "denoise\nsegment",
        "denoise + segment",
        "denoise, plus segment",
    ],
)
def test_split_at_arrows_numbering_bullets_and_newlines(request_):
    assert [c.text.lower() for c in split_clauses(request_)] == ["denoise", "segment"]


def test_quotes_and_parentheses_are_never_split():
    clauses = split_clauses("t2i 'a bowl of ramen, top-down' -> crop to (0, 0, 64, 48), then canny")
    assert [c.text for c in clauses] == ["t2i 'a bowl of ramen, top-down'", "crop to (0, 0, 64, 48)", "canny"]


def test_statements_are_context_unless_nothing_else_is_asked():
    clauses = split_clauses(
        "It's way too dark in here. There's a dog somewhere. Brighten it, then find the dog."
    )
    assert [c.text for c in clauses] == ["Brighten it", "find the dog"]
    assert "too dark" in clauses[0].context
    assert [c.text for c in split_clauses("It's all grainy.")] == ["It's all grainy"]


def test_a_summary_before_a_colon_is_not_a_step():
    assert [c.text for c in split_clauses("zoom out: outpaint on all sides")] == ["outpaint on all sides"]


# ----------------------------------------------------------------------------------------------------
# Plans
# ----------------------------------------------------------------------------------------------------


def _tools(planned: Planned) -> list[str]:
    assert planned.plan is not None, planned.question
    return [step.tool for step in planned.plan.steps]


def _args(planned: Planned, i: int) -> dict:
    assert planned.plan is not None, planned.question
    return planned.plan.steps[i].args


def test_find_and_remove_it_is_one_recipe_step():
    planned = plan_offline("find the red car and remove it")
    assert _tools(planned) == ["remove_object"]
    assert _args(planned, 0) == {"image": "$input", "target": "the red car"}
    assert planned.plan.steps[0].id == "s1"
    assert planned.plan.request == "find the red car and remove it"


def test_remove_a_degradation_restores_and_remove_an_object_is_a_recipe():
    planned = plan_offline("Remove the rain streaks, then remove the blurry man on the left.")
    assert _tools(planned) == ["restore", "remove_object"]
    assert _args(planned, 0)["problem"] == "derain"
    assert _args(planned, 1) == {"image": "$s1.image", "target": "the blurry man on the left"}


def test_it_is_the_latest_image_and_the_original_is_the_input():
    planned = plan_offline("Dehaze it, then extend it to the left, and compare the result with the original.")
    assert _tools(planned) == ["restore", "outpaint", "compare"]
    assert _args(planned, 0)["image"] == "$input"
    assert _args(planned, 1) == {"image": "$s1.image", "direction": "left"}
    assert _args(planned, 2) == {"a": "$s2.image", "b": "$input"}


def test_analysis_is_not_the_image_later_edits_work_on_but_a_map_can_be_generated_from():
    planned = plan_offline(
        "Estimate depth, then make the sky purple, and generate a forest from the depth map."
    )
    assert _tools(planned) == ["depth", "edit", "control_generate"]
    assert _args(planned, 1)["image"] == "$input"
    assert _args(planned, 2) == {
        "image": "$s1.image",
        "condition": "depth",
        "caption": "a forest",
        "from_photo": False,
    }


def test_the_second_image():
    planned = plan_offline("Find the white cat in the second picture and crop the image to it.", inputs=2)
    assert _tools(planned) == ["ground", "crop"]
    assert _args(planned, 0)["image"] == "$input.1"
    assert _args(planned, 0)["referring"] == "the white cat"
    assert _args(planned, 1) == {"image": "$input.1", "box": "$s1.objects.0.box"}


def test_restore_ground_inpaint_chain_passes_the_mask():
    planned = plan_offline("Remove the noise, then mask the bench and inpaint it with a flower bed.")
    assert _tools(planned) == ["restore", "ground", "inpaint"]
    assert _args(planned, 1)["image"] == "$s1.image"
    assert _args(planned, 2) == {
        "image": "$s1.image",
        "mask": "$s2.objects.0.mask",
        "caption": "a flower bed",
    }


def test_mask_operations_chain_their_outputs():
    planned = plan_offline("Get a mask of the tree, grow it by 15 pixels, then fill that area with a bench.")
    assert _tools(planned) == ["ground", "mask_dilate", "inpaint"]
    assert _args(planned, 1) == {"mask": "$s1.objects.0.mask", "radius": 15}
    assert _args(planned, 2)["mask"] == "$s2.image"
    assert _args(planned, 2)["image"] == "$input"  # a mask is never the image to edit


def test_automatic_restoration_folds_the_analysis_into_restore_then():
    planned = plan_offline("Fix whatever is wrong with this photo automatically, then segment it.")
    assert _tools(planned) == ["restore_then"]
    assert _args(planned, 0) == {"image": "$input", "problems": "auto", "then": "segment"}


@pytest.mark.parametrize(
    ("request_", "tools"),
    [
        ("Give me a depth map and a segmentation map.", ["depth", "segment"]),
        ("Remove the snowflakes and the fog, then find the skier.", ["restore", "restore", "ground"]),
        ("Find the cat and the dog and remove them.", ["remove_object", "remove_object"]),
        ("Locate the teapot, highlight it in blue, then crop to it.", ["ground", "crop"]),
        ("Blur the background.", ["edit"]),
        ("Resize it to 640 pixels wide, then pad the top by 40 px.", ["resize", "pad"]),
    ],
)
def test_rule_readings(request_, tools):
    assert _tools(plan_offline(request_)) == tools


@pytest.mark.parametrize(
    ("request_", "problems"),
    [
        ("It's all grainy.", ["denoise"]),
        ("My camera shook and it came out blurry. Could you sharpen it?", ["deblur"]),
        ("The photo is tiny, like a thumbnail. Make it bigger and sharper.", ["super_resolution"]),
        ("It's really dark and streaky from the rain. Fix both of those problems.", ["lowlight", "derain"]),
        ("Photo of my monitor, full of wavy lines. Get rid of the ripples.", ["demoire"]),
        ("de-fog, de-noise, super-res", ["dehaze", "denoise", "super_resolution"]),
        ("strip the watermark", ["watermark_removal"]),
        (
            "there's a reflection from the glass, can you remove the window reflection",
            ["flash_reflection_removal"],
        ),
    ],
)
def test_described_and_named_problems_restore_once_each(request_, problems):
    planned = plan_offline(request_)
    assert _tools(planned) == ["restore"] * len(problems)
    assert [step.args["problem"] for step in planned.plan.steps] == problems


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ("resize to 512x512", {"width": 512, "height": 512}),
        ("resize by 0.5", {"scale": 0.5}),
        ("downscale scale 2", {"scale": 2.0}),
        ("resize to 50%", {"scale": 0.5}),
    ],
)
def test_inline_sizes(request_, expected):
    planned = plan_offline(request_)
    assert _tools(planned) == ["resize"]
    assert {k: v for k, v in _args(planned, 0).items() if k != "image"} == expected


def test_inline_pixels_boxes_and_quoted_values():
    planned = plan_offline("pad 32px top and bottom -> crop to (0, 0, 640, 480)")
    assert _args(planned, 0) == {"image": "$input", "top": 32, "bottom": 32}
    assert _args(planned, 1) == {"image": "$s1.image", "box": [0, 0, 640, 480]}
    planned = plan_offline("mask 'the tree' and 'the shadow on the grass', intersect them, erode by 3px")
    assert _tools(planned) == ["ground", "ground", "mask_intersect", "mask_erode"]
    assert _args(planned, 1)["referring"] == "the shadow on the grass"
    assert _args(planned, 3)["radius"] == 3


def test_terse_tool_names_and_quoted_captions():
    planned = plan_offline(
        "canny edge map -> generate 'a cyberpunk alley at night' from the edges -> describe_image"
    )
    assert _tools(planned) == ["annotate", "control_generate", "describe_image"]
    assert _args(planned, 1) == {
        "image": "$s1.image",
        "condition": "canny",
        "caption": "a cyberpunk alley at night",
        "from_photo": False,
    }
    planned = plan_offline("text-to-image: 'a desert highway' => outpaint all sides", inputs=0)
    assert _tools(planned) == ["text_to_image", "outpaint"]
    assert _args(planned, 0) == {"caption": "a desert highway"}
    planned = plan_offline("restore_then: dehaze + denoise, then segment")
    assert _args(planned, 0) == {"image": "$input", "problems": ["dehaze", "denoise"], "then": "segment"}


def test_image_numbers_and_a_mask_given_as_input():
    planned = plan_offline("mask the cat in image 2 -> feather 4px -> composite", inputs=2)
    assert _args(planned, 0) == {"image": "$input.1", "referring": "the cat", "mode": "mask"}
    planned = plan_offline("image 2 is a binary mask for image 1. dilate it by 6px", inputs=2)
    assert _tools(planned) == ["mask_dilate"]
    assert _args(planned, 0) == {"mask": "$input.1", "radius": 6}


def test_a_remark_the_router_cannot_place_is_no_question():
    planned = plan_offline("Two pictures here. Find the cat in the first picture.", inputs=2)
    assert _tools(planned) == ["ground"]


def test_an_input_the_request_calls_a_map_is_the_condition():
    planned = plan_offline("This image is a pose skeleton; generate a ballerina in that pose.")
    assert _tools(planned) == ["control_generate"]
    assert _args(planned, 0) == {
        "image": "$input",
        "condition": "pose",
        "caption": "a ballerina",
        "from_photo": False,
    }


@pytest.mark.parametrize(
    "request_", ["make it better", "Restore it.", "Fix whatever is wrong automatically."]
)
def test_ambiguous_request_gets_a_question_with_candidates(request_):
    planned = plan_offline(request_)
    assert planned.plan is None
    assert planned.question is not None
    assert planned.question.candidates
    assert planned.question.clause


def test_planned_holds_exactly_one_answer():
    with pytest.raises(ValueError, match="exactly one"):
        Planned()


# ----------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------


def test_slot_matching_rules():
    assert normalise("The TV!") == "tv"
    assert slot_matches("target", "the tv", "The TV")
    assert slot_matches("caption", "futuristic city", "a futuristic city at dusk")
    assert not slot_matches("target", "the car", "the red car")
    assert slot_matches("problems", ["deshadow", "lowlight"], ["lowlight", "deshadow"])
    assert slot_matches("width", 1920, 1920.0)
    assert not slot_matches("radius", 5, None)


def test_score_on_the_packaged_set_and_every_plan_validates():
    rows = load_rows()
    result = score(rows)
    print(f"exact={result['exact']:.3f} slots={result['slots']:.3f} n={result['n']}")
    assert result["n"] == len(rows) > 100
    assert result["exact"] >= 0.90
    registry = default_registry()
    for row in rows:  # the router's answers are cached: this second pass is quick
        planned = plan_offline(row["request"], inputs=row["inputs"])
        if planned.plan is not None:
            validate_plan(planned.plan, registry, row["inputs"])


def test_plan_eval_runs_as_a_module(tmp_path):
    rows = [
        {
            "request": "denoise it then segment it",
            "inputs": 1,
            "acceptable": [
                [{"tool": "restore", "slots": {"problem": "denoise"}}, {"tool": "segment", "slots": {}}]
            ],
        },
        {"request": "make it better", "inputs": 1, "acceptable": [[{"tool": "edit", "slots": {}}]]},
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pixwizard.agents.plan_eval", str(data), "--verbose"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "exact=0.500 slots=0.500 n=2 questions=1" in done.stdout
    assert "MISS" in done.stdout


def test_without_an_image_a_request_about_it_is_a_question_and_drawing_still_plans():
    asked = plan_offline("denoise it, then estimate depth", inputs=0)
    assert asked.plan is None and "input image" in asked.question.question
    drawn = plan_offline("draw a red boat, then estimate its depth", inputs=0)
    assert [s.tool for s in drawn.plan.steps] == ["text_to_image", "depth"]
