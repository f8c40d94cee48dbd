"""The catalogue, instructions, routing evaluation, and the package's import boundaries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pixwizard.tasks import TASKS, Family, build_instruction, get_task
from pixwizard.tasks.registry import template_slots

NAMES = """denoise derain demoire dehaze deblur desnow deshadow lowlight flash_reflection_removal
face_restoration watermark_removal super_resolution ground_highlight ground_box ground_mask depth normal
segment pose canny hed sketch lineart canny_to_image depth_to_image hed_to_image sketch_to_image
pose_to_image segment_to_image normal_to_image lineart_to_image edit inpaint outpaint text_to_image""".split()


def test_the_catalogue_has_exactly_the_named_tasks():
    assert list(TASKS) == NAMES and len(NAMES) == 35
    assert {spec.family for spec in TASKS.values()} == set(Family)


@pytest.mark.parametrize("name", NAMES)
def test_every_spec_is_complete(name):
    spec = get_task(name)
    assert spec.description and len(spec.templates) >= 6
    for template in spec.templates:
        assert template_slots(template) <= set(spec.slots), template
    for slot in spec.required:  # every template mentions what the task cannot do without
        assert all(slot in template_slots(t) for t in spec.templates), (name, slot)


def test_build_instruction_is_seeded_and_uses_the_slots():
    a = build_instruction("ground_box", referring="the dog", seed=3)
    assert a == build_instruction("ground_box", referring="the dog", seed=3)
    assert "the dog" in a and "red" in a  # the default colour
    assert {build_instruction("derain", seed=s) for s in range(30)} == set(get_task("derain").templates)
    assert "the left" in build_instruction("outpaint", direction="left", caption="a beach", seed=0)
    assert "a vase" in build_instruction("inpaint", caption="a vase", seed=1)
    assert "{" not in build_instruction("inpaint", seed=1)


@pytest.mark.parametrize(
    "task, slots, message",
    [
        ("ground_box", {}, "needs referring"),
        ("derain", {"caption": "x"}, "takes slots"),
        ("outpaint", {"direction": "up"}, "direction must be"),
        ("edit", {"edit": "  "}, "needs edit"),
    ],
)
def test_build_instruction_refuses_bad_slots(task, slots, message):
    with pytest.raises(ValueError, match=message):
        build_instruction(task, **slots)


def test_unknown_task():
    with pytest.raises(KeyError, match="known tasks"):
        get_task("colorize")


@pytest.fixture(scope="module")
def route_eval_run():
    """The evaluation command run once, in this process: its report and what it printed.

    Both checks below read this one run (the evaluation takes most of a minute on two cores).
    """
    import contextlib
    import io

    from pixwizard.tasks import route_eval

    reports = []
    evaluate = route_eval.evaluate

    def recording(requests):
        reports.append(evaluate(requests))
        return reports[-1]

    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(route_eval, "evaluate", recording)
        assert route_eval.main([]) == 0
    assert len(reports) == 1
    return reports[0], printed.getvalue()


def test_route_eval_meets_the_bar(route_eval_run):
    from pixwizard.tasks.route_eval import load_requests

    requests = load_requests()
    in_scope = [r for r in requests if r["task"] != "unsure"]
    assert len(requests) - len(in_scope) >= 20
    assert all(sum(r["task"] == name for r in in_scope) >= 5 for name in NAMES)
    report, _ = route_eval_run
    assert report.template_overlap == 0
    assert report.top1 >= 0.90 and report.slots_exact >= 0.80 and report.unsure_rate >= 0.80, report.lines()


def test_route_eval_on_the_held_out_set_does_not_regress():
    """A second set, never used to tune the router: a floor against regressions, not a target."""
    from pathlib import Path

    import pixwizard.tasks
    from pixwizard.tasks.route_eval import evaluate, load_requests

    report = evaluate(load_requests(Path(pixwizard.tasks.__file__).parent / "data" / "route_holdout.jsonl"))
    assert report.top1 >= 0.65 and report.unsure_rate >= 0.8, report.lines()


def test_route_eval_command_prints_the_report(route_eval_run):
    report, printed = route_eval_run
    for key in ("top1=", "slots_exact=", "unsure_rate=", "per-family accuracy:", "confusions"):
        assert key in printed
    assert printed.splitlines() == report.lines()


def test_route_examples():
    from pixwizard.tasks import route

    r = route("put a green box around the tallest tree")
    assert r.task == "ground_box" and r.slots == {"referring": "the tallest tree", "color": "green"}
    assert r.candidates[0].task == "ground_box" and 0 < r.candidates[0].confidence <= 1
    r = route("use this depth map to render a quiet harbour at dawn")
    assert r.task == "depth_to_image" and r.slots["caption"] == "a quiet harbour at dawn"
    assert route("make a depth map of this photo").task == "depth"
    assert route("what time is it in Tokyo?").unsure and route("").unsure


def test_tasks_imports_no_torch_mcp_or_langchain():
    code = (
        "import sys; import pixwizard.tasks, pixwizard.tasks.results, pixwizard.tasks.registry, "
        "pixwizard.tasks.decoders, pixwizard.tasks.answers, pixwizard.eval.metrics, pixwizard.tasks.inputs; "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('mcp', 'langchain', "
        "'pixwizard.tools', 'pixwizard.mcp_server', 'pixwizard.agents'))]; print(bad); assert not bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    code = (
        "import sys; import pixwizard.tasks.runner, pixwizard.tasks.router; "
        "bad = [m for m in sys.modules if m.startswith(('mcp', 'langchain', 'pixwizard.tools', "
        "'pixwizard.mcp_server', 'pixwizard.agents'))]; assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
