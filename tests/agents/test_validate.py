"""Plan validation: every error class names the step and the argument, and says what was expected."""

from __future__ import annotations

import pytest
from pixwizard.agents import Plan, PlanError
from pixwizard.agents.validate import validate_plan


def _problems(steps, registry, inputs=1) -> list[str]:
    with pytest.raises(PlanError) as caught:
        validate_plan({"steps": steps}, registry, inputs)
    return caught.value.problems


def test_a_valid_plan_with_every_kind_of_reference_passes(registry):
    plan = validate_plan(
        {
            "steps": [
                {"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise"}},
                {"id": "s2", "tool": "ground", "args": {"image": "$s1.image", "referring": "the car"}},
                {"id": "s3", "tool": "inpaint", "args": {"image": "$s1.image", "mask": "$s2.objects.0.mask"}},
                {"id": "s4", "tool": "crop", "args": {"image": "$input.1", "box": "$s2.objects.0.box"}},
                {
                    "id": "s5",
                    "tool": "draw_boxes",
                    "args": {"image": "$s3.image", "boxes": ["$s2.objects.0.box"]},
                },
            ]
        },
        registry,
        inputs=2,
    )
    assert isinstance(plan, Plan) and len(plan.steps) == 5


CASES = {
    "unknown tool": (
        [{"id": "s1", "tool": "sharpen", "args": {"image": "$input"}}],
        ["step s1", "unknown tool 'sharpen'", "expected one of", "restore"],
    ),
    "unknown argument": (
        [{"id": "s1", "tool": "depth", "args": {"image": "$input", "colour": "red"}}],
        ["step s1", "argument colour", "unknown argument", "expected one of"],
    ),
    "missing argument": (
        [{"id": "s1", "tool": "restore", "args": {"image": "$input"}}],
        ["step s1", "argument problem", "missing", "expected"],
    ),
    "wrong type": (
        [{"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "sharpen"}}],
        ["step s1", "argument problem", "'sharpen'", "denoise"],
    ),
    "missing step": (
        [{"id": "s1", "tool": "depth", "args": {"image": "$s9.image"}}],
        ["step s1", "argument image", "$s9.image", "'s9'", "does not have"],
    ),
    "later step": (
        [
            {"id": "s1", "tool": "depth", "args": {"image": "$s2.image"}},
            {"id": "s2", "tool": "restore", "args": {"image": "$input", "problem": "denoise"}},
        ],
        ["step s1, argument image", "later step s2", "earlier"],
    ),
    "missing field": (
        [
            {"id": "s1", "tool": "depth", "args": {"image": "$input"}},
            {"id": "s2", "tool": "inpaint", "args": {"image": "$input", "mask": "$s1.mask"}},
        ],
        ["step s2", "argument mask", "$s1.mask", "DepthOutput has no field 'mask'", "image"],
    ),
    "field of the wrong type": (
        [
            {"id": "s1", "tool": "ground", "args": {"image": "$input", "referring": "the car"}},
            {"id": "s2", "tool": "inpaint", "args": {"image": "$input", "mask": "$s1.objects.0.box"}},
        ],
        ["step s2", "argument mask", "$s1.objects.0.box", "tuple of 4", "expects an image"],
    ),
    "an image where text is expected": (
        [
            {"id": "s1", "tool": "depth", "args": {"image": "$input"}},
            {"id": "s2", "tool": "ground", "args": {"image": "$input", "referring": "$s1.image"}},
        ],
        ["step s2", "argument referring", "an image", "expects text"],
    ),
    "text where an image is expected": (
        [
            {"id": "s1", "tool": "depth", "args": {"image": "$input"}},
            {"id": "s2", "tool": "segment", "args": {"image": "$s1.provenance.tool"}},
        ],
        ["step s2", "argument image", "$s1.provenance.tool", "is text", "expects an image"],
    ),
    "missing input": (
        [{"id": "s1", "tool": "depth", "args": {"image": "$input.2"}}],
        ["step s1", "argument image", "$input.2", "input 2", "1 input image"],
    ),
    "cycle": (
        [
            {
                "id": "s1",
                "tool": "composite",
                "args": {"image": "$input", "other": "$s2.image", "mask": "$input"},
            },
            {"id": "s2", "tool": "resize", "args": {"image": "$s1.image", "scale": 0.5}},
        ],
        ["step s1, argument other", "cycle", "s1 -> s2 -> s1"],
    ),
    "self reference": (
        [{"id": "s1", "tool": "resize", "args": {"image": "$s1.image", "scale": 0.5}}],
        ["step s1", "argument image", "its own step"],
    ),
    "duplicate id": (
        [
            {"id": "s1", "tool": "depth", "args": {"image": "$input"}},
            {"id": "s1", "tool": "segment", "args": {"image": "$input"}},
        ],
        ["step s1", "used twice"],
    ),
    "jobs in a plan": (
        [{"id": "s1", "tool": "start_job", "args": {"tool": "depth", "args": {}}}],
        ["step s1", "start_job", "never use jobs"],
    ),
    "bad reference syntax": (
        [{"id": "s1", "tool": "depth", "args": {"image": "$s1..image"}}],
        ["step s1", "argument image", "not a reference"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_error_names_the_step_the_argument_and_what_was_expected(registry, case):
    steps, words = CASES[case]
    problems = _problems(steps, registry)
    text = " | ".join(problems)
    for word in words:
        assert word in text, f"{case}: {word!r} not in {text!r}"


def test_every_problem_is_reported_not_only_the_first(registry):
    problems = _problems(
        [
            {"id": "s1", "tool": "restore", "args": {"image": "$input"}},
            {"id": "s2", "tool": "sharpen", "args": {}},
            {"id": "s3", "tool": "depth", "args": {"image": "$s7.image"}},
        ],
        registry,
    )
    assert [p.split(":")[0].split(",")[0] for p in problems] == ["step s1", "step s2", "step s3"]


def test_a_malformed_plan_is_refused_with_the_step_number(registry):
    with pytest.raises(PlanError, match="step 1, id"):
        validate_plan({"steps": [{"id": "1 bad", "tool": "depth"}]}, registry)
