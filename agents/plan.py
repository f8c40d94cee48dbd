"""A plan: tool calls in order, whose arguments may reference the inputs and earlier outputs.

``{"steps": [{"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise"}},
{"id": "s2", "tool": "ground", "args": {"image": "$s1.image", "referring": "the red car"}}]}``

A reference is a string argument that starts with ``$``: ``$input`` (the first input image), ``$input.N``
(input N, counted from 0), or ``$<step id>.<field>[.<field or index>...]`` (a field of an earlier step's
output, e.g. ``$s2.objects.0.mask``). A reference to an image output (``{"id", "uri", ...}``) given to an
image argument becomes that image's id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STEP_ID = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"
_REF = re.compile(r"^\$([A-Za-z][A-Za-z0-9_]{0,31})((?:\.[A-Za-z0-9_]+)*)$")
MAX_STEPS = 32


class Step(BaseModel):
    """One tool call of a plan."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=STEP_ID, description="A name for this step, unique in the plan (s1, s2, ...).")
    tool: str = Field(min_length=1, max_length=64, description="The tool to call.")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "The tool's arguments. A string starting with $ references an input ($input, $input.1) or an "
            "earlier step's output field ($s1.image, $s2.objects.0.mask, $s2.objects.0.box)."
        ),
    )


class Plan(BaseModel):
    """Tool calls in order; later steps may use earlier steps' outputs through references."""

    model_config = ConfigDict(extra="forbid")

    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    request: str | None = Field(None, max_length=2000, description="The request the plan answers.")


class Question(BaseModel):
    """What a planner asks instead of guessing: the ambiguous clause and the readings it could have."""

    question: str
    clause: str
    candidates: list[str]


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``source`` is ``input`` or a step id; ``path`` the fields and indices after it."""

    source: str
    path: tuple[str, ...]

    @property
    def is_input(self) -> bool:
        """Whether it refers to an input image."""
        return self.source == "input"

    @property
    def input_index(self) -> int | None:
        """The input number of an ``$input`` / ``$input.N`` reference, else None."""
        if not self.is_input:
            return None
        if not self.path:
            return 0
        return int(self.path[0]) if self.path[0].isdigit() and len(self.path) == 1 else None

    def __str__(self) -> str:
        return "$" + ".".join((self.source, *self.path))


def parse_ref(value: Any) -> Ref | None:
    """The reference a value is, or None for a plain value (a string not starting with ``$``)."""
    if not isinstance(value, str) or not value.startswith("$"):
        return None
    match = _REF.match(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not a reference: write $input, $input.N or $<step>.<field>[.<field>...]"
        )
    source, rest = match.group(1), match.group(2)
    return Ref(source, tuple(p for p in rest.split(".") if p))


def refs_in(value: Any) -> list[tuple[str, Ref]]:
    """Every reference inside an argument value (also inside lists and dicts), with where it sits."""
    found: list[tuple[str, Ref]] = []

    def walk(item: Any, where: str) -> None:
        if isinstance(item, str):
            ref = parse_ref(item)
            if ref is not None:
                found.append((where, ref))
        elif isinstance(item, list):
            for i, x in enumerate(item):
                walk(x, f"{where}.{i}")
        elif isinstance(item, dict):
            for k, x in item.items():
                walk(x, f"{where}.{k}")

    walk(value, "")
    return [(where.lstrip("."), ref) for where, ref in found]


class PlanError(ValueError):
    """A plan that cannot run, with every problem found: each names the step, the argument and the rule."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))
