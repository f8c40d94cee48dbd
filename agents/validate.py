"""Checking a plan against a registry before anything runs.

Every problem is found, not only the first, and each names the step, the argument and what was expected:
an unknown tool, an unknown or missing argument, a value of the wrong type, a reference to an input that
was not given, to a missing or later step, to a field the step's output does not have or of the wrong
type, and reference cycles.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pixwizard.tools.registry import Registry
from pixwizard.tools.schemas import ImageOut, image_fields
from pydantic import BaseModel, ValidationError

from .plan import Plan, PlanError, Ref, Step, refs_in

_ALSO_TEXT = {"where"}  # image-reference arguments that also take plain values
NOT_IN_PLANS = {"start_job", "job_status", "job_result", "job_cancel", "plan", "run_plan"}
_PLACEHOLDER_ID = "img_000000000000"


def validate_plan(plan: Plan | dict, registry: Registry, inputs: int = 1) -> Plan:
    """Check a plan; returns it as a `Plan`.

    Args:
        plan: The plan (a model or its JSON).
        registry: The tools it may call.
        inputs: How many input images come with it (``$input`` ... ``$input.<inputs-1>``).

    Raises:
        PlanError: Every problem found, one per entry of ``problems``.
    """
    if not isinstance(plan, Plan):
        try:
            plan = Plan.model_validate(plan)
        except ValidationError as exc:
            raise PlanError([_plan_shape_message(error) for error in exc.errors(include_url=False)]) from None
    problems: list[str] = []
    order = {step.id: i for i, step in enumerate(plan.steps)}
    seen: set[str] = set()
    for step in plan.steps:
        if step.id in seen:
            problems.append(f"step {step.id}: the id is used twice; give every step its own id")
        seen.add(step.id)
    edges: dict[str, set[str]] = {step.id: set() for step in plan.steps}
    arguments: dict[tuple[str, str], str] = {}  # (step, referenced step) -> the argument that refers
    for i, step in enumerate(plan.steps):
        if step.tool in NOT_IN_PLANS:
            problems.append(
                f"step {step.id}: {step.tool} cannot be a plan step (plans never use jobs or nest plans)"
            )
            continue
        if step.tool not in registry:
            problems.append(
                f"step {step.id}: unknown tool {step.tool!r}; "
                f"expected one of: {', '.join(_plannable(registry))}"
            )
            continue
        spec = registry.get(step.tool)
        problems += _check_args(step, spec.input_model)
        for argument, value in step.args.items():
            try:
                found = refs_in(value)
            except ValueError as exc:
                problems.append(f"step {step.id}, argument {argument}: {exc}")
                continue
            for where, ref in found:
                name = f"{argument}.{where}" if where else argument
                problem = _check_ref(
                    step, i, name, ref, spec.input_model, argument, where, plan, order, registry, inputs
                )
                if problem:
                    problems.append(problem)
                if not ref.is_input and ref.source in order:
                    edges[step.id].add(ref.source)
                    arguments.setdefault((step.id, ref.source), name)
    problems += _cycles(plan, edges, order, arguments)
    if problems:
        raise PlanError(problems)
    return plan


def _plannable(registry: Registry) -> list[str]:
    return [name for name in registry.names if name not in NOT_IN_PLANS]


def _plan_shape_message(error: dict) -> str:
    loc = list(error.get("loc", ()))
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        where = f"step {loc[1] + 1}" + (f", {'.'.join(str(p) for p in loc[2:])}" if loc[2:] else "")
    else:
        where = ".".join(str(p) for p in loc) or "plan"
    return f"{where}: {error.get('msg', 'is invalid')}"


def _check_args(step: Step, model: type[BaseModel]) -> list[str]:
    """Unknown, missing and mistyped arguments (references stand in as values of the right type)."""
    images = set(image_fields(model))
    stand_in: dict[str, Any] = {}
    referenced: set[str] = set()
    for argument, value in step.args.items():
        try:
            has_ref = bool(refs_in(value))
        except ValueError:
            has_ref = True  # reported by the reference check
        if has_ref:
            referenced.add(argument)
            if argument in images:
                stand_in[argument] = _PLACEHOLDER_ID
            elif argument in model.model_fields:
                continue  # its type is checked against the referenced field instead
            else:
                stand_in[argument] = value
        else:
            stand_in[argument] = value
    problems = []
    try:
        model.model_validate(stand_in)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = error.get("loc", ())
            argument = str(loc[0]) if loc else "arguments"
            kind = error.get("type", "")
            if kind == "missing" and argument in referenced:
                continue
            if kind == "extra_forbidden":
                known = ", ".join(model.model_fields)
                problems.append(
                    f"step {step.id}, argument {argument}: unknown argument; expected one of: {known}"
                )
            elif kind == "missing":
                description = model.model_fields[argument].description or "required"
                problems.append(f"step {step.id}, argument {argument}: missing; expected {description}")
            else:
                name = ".".join(str(p) for p in loc)
                value = error.get("input")
                problems.append(
                    f"step {step.id}, argument {name}: {value!r} is invalid: {error.get('msg', '')[:200]}"
                )
    return problems


def _check_ref(
    step: Step,
    index: int,
    name: str,
    ref: Ref,
    model: type[BaseModel],
    argument: str,
    where: str,
    plan: Plan,
    order: dict[str, int],
    registry: Registry,
    inputs: int,
) -> str | None:
    here = f"step {step.id}, argument {name}"
    if argument not in model.model_fields:
        return None  # reported as an unknown argument
    expected = _target_type(model, argument, where)
    wants_image = argument in image_fields(model) and not where
    if ref.is_input:
        number = ref.input_index
        if number is None:
            return f"{here}: {ref} is not an input reference; expected $input or $input.N"
        if number >= inputs:
            given = f"{inputs} input image{'s' if inputs != 1 else ''}"
            return f"{here}: {ref} refers to input {number}, but the request has {given}"
        if not wants_image:
            return f"{here}: {ref} is an image, but {argument} expects {_type_name(expected)}"
        return None
    if ref.source not in order:
        return f"{here}: {ref} refers to step {ref.source!r}, which the plan does not have"
    if order[ref.source] >= index:
        if ref.source == step.id:
            return f"{here}: {ref} refers to its own step (a cycle); use an earlier step's output"
        return None  # a forward reference: reported once as a cycle or an order problem
    source = plan.steps[order[ref.source]]
    if source.tool not in registry:
        return None  # reported as an unknown tool
    output = registry.get(source.tool).output_model
    try:
        found = field_type(output, ref.path)
    except LookupError as exc:
        return f"{here}: {ref} does not exist: {exc}"
    if wants_image:
        if _unwrap(found) is ImageOut or (
            _unwrap(found) is str and ref.path[-1:] in (("id",), ("uri",), ("path",))
        ):
            return None
        if argument in _ALSO_TEXT and _compatible(found, expected):
            return None  # e.g. add_object's where: a mask, or words
        return f"{here}: {ref} is {_type_name(found)}, but {argument} expects an image"
    if not _compatible(found, expected):
        return f"{here}: {ref} is {_type_name(found)}, but {name} expects {_type_name(expected)}"
    return None


def _cycles(
    plan: Plan, edges: dict[str, set[str]], order: dict[str, int], arguments: dict[tuple[str, str], str]
) -> list[str]:
    """Forward references: a cycle (named step by step) or a use of a step before it runs."""
    problems = []
    for step in plan.steps:
        for target in sorted(edges[step.id]):
            if target == step.id or order[target] < order[step.id]:
                continue
            here = f"step {step.id}, argument {arguments[(step.id, target)]}"
            path = _path(edges, target, step.id)
            if path:
                cycle = " -> ".join([step.id, *path])
                problems.append(f"{here}: its references form a cycle ({cycle}); reorder the steps")
            else:
                problems.append(
                    f"{here}: refers to the later step {target}; a step can use only earlier outputs"
                )
    return problems


def _path(edges: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack.extend((n, [*path, n]) for n in edges.get(node, ()))
    return None


# ----------------------------------------------------------------------------------------------------
# Types along a path
# ----------------------------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return annotation


def field_type(model: type[BaseModel], path: tuple[str, ...]) -> Any:
    """The type at ``path`` (field names and list indices) inside an output model.

    Raises:
        LookupError: Saying which part of the path does not exist and what does.
    """
    current: Any = model
    walked = []
    for part in path:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                fields = ", ".join(current.model_fields)
                raise LookupError(f"{current.__name__} has no field {part!r} (it has: {fields})")
            current = current.model_fields[part].annotation
        elif origin in (list, tuple):
            if not part.isdigit():
                raise LookupError(f"{'.'.join(walked) or 'it'} is a list: expected an index, not {part!r}")
            args = typing.get_args(current)
            if origin is tuple and args and args[-1] is not Ellipsis:
                if int(part) >= len(args):
                    raise LookupError(f"{'.'.join(walked)} has {len(args)} items, no index {part}")
                current = args[int(part)]
            else:
                current = args[0] if args else Any
        elif origin is dict or current is dict or current is Any:
            return Any
        else:
            raise LookupError(
                f"{'.'.join(walked) or 'the output'} is {_type_name(current)}, with no {part!r}"
            )
        walked.append(part)
    return current


def _target_type(model: type[BaseModel], argument: str, where: str) -> Any:
    current: Any = model.model_fields[argument].annotation
    for part in [p for p in where.split(".") if p]:
        current = _unwrap(current)
        args = typing.get_args(current)
        if typing.get_origin(current) in (list, tuple) and args:
            if typing.get_origin(current) is tuple and args[-1] is not Ellipsis and part.isdigit():
                current = args[min(int(part), len(args) - 1)]
            else:
                current = args[0]
        else:
            return Any
    return current


def _compatible(found: Any, expected: Any) -> bool:
    found, expected = _unwrap(found), _unwrap(expected)
    if found is Any or expected is Any or found == expected:
        return True
    if typing.get_origin(expected) in (typing.Union, types.UnionType):
        return any(_compatible(found, option) for option in typing.get_args(expected))
    if expected is float and found is int:
        return True
    if typing.get_origin(expected) is typing.Literal or (
        isinstance(expected, type) and issubclass(expected, enum.Enum)
    ):
        return found is str
    f_origin, e_origin = typing.get_origin(found), typing.get_origin(expected)
    if f_origin in (list, tuple) and e_origin in (list, tuple):
        f_args, e_args = typing.get_args(found), typing.get_args(expected)
        if e_origin is tuple and f_origin is tuple and len(f_args) != len(e_args):
            return False
        return all(_compatible(f, e) for f, e in zip(f_args or [Any], e_args or [Any], strict=False))
    return False


def _type_name(annotation: Any) -> str:
    annotation = _unwrap(annotation)
    if annotation is ImageOut:
        return "an image"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"an object ({annotation.__name__})"
    origin = typing.get_origin(annotation)
    if origin is tuple:
        args = typing.get_args(annotation)
        return (
            f"a tuple of {len(args)} {_type_name(args[0]).removeprefix('a ').removeprefix('an ')}s"
            if args
            else "a tuple"
        )
    if origin is list:
        return "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in annotation)
    names = {str: "text", int: "an integer", float: "a number", bool: "true or false", dict: "an object"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))
