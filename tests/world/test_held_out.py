"""Held-out PixWorld phrasings: coverage, exact placeholders, and distance from the training templates."""

from __future__ import annotations

import importlib.util
import string
from pathlib import Path

import pytest

from pixwizard.tasks import TASKS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_held_out.py"
MIN_PHRASINGS = 8
LIMIT = 0.9

GROUNDING_WITH_COLOR = {"ground_highlight", "ground_box"}


def _load_checker():
    # The script is not a package module: load it by path so the numbers come from one copy of the logic.
    spec = importlib.util.spec_from_file_location("check_held_out", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


def expected_slots(task: str) -> set[str]:
    """The placeholders a phrasing of ``task`` must use, exactly."""
    if task in GROUNDING_WITH_COLOR:
        return {"referring", "color"}
    if task == "ground_mask":
        return {"referring"}
    if task == "edit":
        return {"edit"}
    if task == "outpaint":
        return {"direction"}
    if task == "inpaint" or task == "text_to_image" or task.endswith("_to_image"):
        return {"caption"}
    return set()


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@pytest.fixture(scope="module")
def phrasings() -> dict[str, list[str]]:
    return checker.load_phrasings()


@pytest.fixture(scope="module")
def cosines(phrasings) -> dict[str, list[float]]:
    return checker.max_template_cosines(phrasings)


def test_every_task_has_enough_distinct_phrasings(phrasings):
    assert set(phrasings) == set(TASKS)
    for task, items in phrasings.items():
        assert len(items) >= MIN_PHRASINGS, f"{task}: {len(items)} phrasings, need {MIN_PHRASINGS}"
        lowered = [text.strip().lower() for text in items]
        assert len(set(lowered)) == len(lowered), f"{task}: duplicate phrasings"


def test_placeholders_are_exactly_the_task_slots(phrasings):
    wrong = [
        f"{task}[{index}] uses {sorted(placeholders(text))}, expected {sorted(expected_slots(task))}"
        for task, items in phrasings.items()
        for index, text in enumerate(items)
        if placeholders(text) != expected_slots(task)
    ]
    assert not wrong, "\n".join(wrong)


def test_every_phrasing_formats_with_the_fillers(phrasings):
    for task, items in phrasings.items():
        for text in items:
            filled = text.format(**checker.FILLERS)
            assert "{" not in filled and "}" not in filled, f"{task}: {text!r} left braces after filling"
            assert filled == checker.fill(text)


def test_fill_rejects_an_unknown_slot():
    with pytest.raises(ValueError, match="unknown slot"):
        checker.fill("Paint {thing} now")


def test_no_phrasing_equals_a_template(phrasings):
    copies = [
        f"{task}[{index}]"
        for task, items in phrasings.items()
        for index, text in enumerate(items)
        if checker.fill(text).strip().lower()
        in {template.strip().lower() for template in checker.filled_templates(task)}
    ]
    assert not copies, f"phrasings equal to a template of their own task: {copies}"


def test_cosines_are_one_per_phrasing_and_in_range(phrasings, cosines):
    assert set(cosines) == set(phrasings)
    for task, values in cosines.items():
        assert len(values) == len(phrasings[task])
        assert all(-1.0 - 1e-4 <= value <= 1.0 + 1e-4 for value in values)


def test_every_phrasing_stays_away_from_its_task_templates(phrasings, cosines):
    offenders = [
        f"{task}[{index}] cosine {value:.3f}"
        for task, values in cosines.items()
        for index, value in enumerate(values)
        if value > LIMIT
    ]
    assert not offenders, f"phrasings above cosine {LIMIT} to a template: " + ", ".join(offenders)


def test_a_template_itself_would_be_caught():
    # Guards the measurement: a template of a task submitted as a phrasing must score (about) 1.
    task = "denoise"
    template = TASKS[task].templates[0]
    (value,) = checker.max_template_cosines({task: [template]})[task]
    assert value > 0.999
