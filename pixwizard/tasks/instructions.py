"""Writing instructions: a task and its slots → a natural sentence from one of our templates."""

from __future__ import annotations

import random

from pixwizard.tasks.registry import DEFAULT_COLOR, DIRECTIONS, get_task, template_slots

# How a direction slot reads inside a sentence ("Extend the image to the left: ...").
DIRECTION_PHRASES = {
    "left": "to the left",
    "right": "to the right",
    "top": "upward",
    "bottom": "downward",
    "all": "on every side",
}


def build_instruction(task: str, *, seed: int | None = None, **slots: str) -> str:
    """A natural instruction for ``task`` from a template chosen by ``seed``.

    Templates are used only when every placeholder they have is given, so optional slots change the
    choice (an inpaint caption picks a template that mentions it). Grounding tasks that show a colour get
    ``red`` unless ``color`` is given; outpainting without ``direction`` extends on every side.

    Args:
        task: A task name.
        seed: Seed of the template choice (None: the first fitting template).
        **slots: ``caption``, ``referring``, ``color``, ``edit``, ``direction`` as the task needs.

    Returns:
        The instruction.

    Raises:
        ValueError: If a required slot is missing or empty, a slot does not belong to the task, or the
            direction is unknown.
    """
    spec = get_task(task)
    given = slot_values(task, **slots)
    fitting = [t for t in spec.templates if template_slots(t) <= set(given)]
    # Prefer templates that use every given slot, so nothing the caller said is dropped.
    complete = [t for t in fitting if template_slots(t) == set(given)] or fitting
    template = complete[0] if seed is None else random.Random(seed).choice(complete)
    return fill(template, given)


def all_instructions(task: str, **slots: str) -> tuple[str, ...]:
    """Every template of ``task`` that the slots can fill, filled (``build_instruction`` picks one of them).

    Raises:
        ValueError: As `build_instruction`.
    """
    given = slot_values(task, **slots)
    return tuple(fill(t, given) for t in get_task(task).templates if template_slots(t) <= set(given))


def slot_values(task: str, **slots: str) -> dict[str, str]:
    """The values a template of ``task`` is filled with: stripped, checked, with the defaults added.

    Grounding tasks that show a colour get ``red`` unless ``color`` is given; a ``direction`` becomes its
    phrase ("to the left"), ``all`` when none is given.

    Raises:
        ValueError: If a required slot is missing or empty, a slot does not belong to the task, or the
            direction is unknown.
    """
    spec = get_task(task)
    given = {k: v.strip() for k, v in slots.items() if v is not None and str(v).strip()}
    unknown = set(given) - set(spec.slots)
    if unknown:
        raise ValueError(f"task {task!r} takes slots {list(spec.slots) or 'none'}, not {sorted(unknown)}")
    missing = [slot for slot in spec.required if slot not in given]
    if missing:
        raise ValueError(f"task {task!r} needs {', '.join(missing)}")
    if "color" in spec.slots:
        given.setdefault("color", DEFAULT_COLOR)
    if "direction" in spec.slots:
        direction = given.setdefault("direction", "all").lower()
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
        given["direction"] = DIRECTION_PHRASES[direction]
    return given


def fill(text: str, values: dict[str, str]) -> str:
    """A template or phrasing filled with slot values, its first letter capitalised."""
    text = text.format(**values)
    return text[0].upper() + text[1:]
