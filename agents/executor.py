"""Running a plan: step by step through the registry, with a resumable run record.

The run record (``<run id>.run.json`` in the image store, format `RECORD_VERSION`) holds the plan, the
inputs as store ids, and each step's status, resolved arguments and output; it is written atomically after
every step, so a failed or cancelled run resumes at its first unfinished step without running the finished
ones again. Progress is reported per plan step: for sampling step k of K inside plan step i of n,
``progress(i - 1 + k / K, n)``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any, Literal

from pixwizard.tools.backend import MODEL_CALLS
from pixwizard.tools.catalog import ToolContext, invoke
from pixwizard.tools.registry import Registry
from pixwizard.tools.schemas import ImageOut, image_fields
from pixwizard.tools.spec import ToolError
from pydantic import BaseModel, Field

from .plan import Plan, PlanError, Ref, parse_ref
from .validate import validate_plan

logger = logging.getLogger(__name__)
RECORD_VERSION = 1
Progress = Callable[[float, float], None] | None


class StepRun(BaseModel):
    """One step of a run: what it called with (references resolved) and what came out."""

    id: str
    tool: str
    status: Literal["pending", "done", "failed", "cancelled"]
    args: dict | None = Field(None, description="The arguments it ran with, references resolved to ids.")
    output: dict | None = Field(None, description="The tool's output.")
    error: str | None = None
    images: list[str] = Field(default_factory=list, description="Ids of every image the step returned.")


class RunOutput(BaseModel):
    """A plan's run: its id (to resume), status, every step, and the last image produced."""

    run_id: str
    status: Literal["done", "failed", "cancelled"]
    steps: list[StepRun]
    image: ImageOut | None = Field(description="The last image a step produced (null if none did).")
    failed_step: str | None = Field(None, description="The step that failed or was cancelled.")
    failed_index: int | None = Field(None, description="Its position, counted from 1.")
    error: str | None = None
    model_calls: int = Field(description="Model calls this invocation made (a resume skips finished steps).")
    lineage: list[dict] = Field(
        default_factory=list, description="Ancestors of the last image, nearest first."
    )


def count_model_calls(plan: Plan, registry: Registry) -> int:
    """The least number of model calls the plan makes (recipes count their internal calls)."""
    total = 0
    for step in plan.steps:
        spec = registry.get(step.tool)
        calls = spec.model_calls
        total += calls(step.args) if callable(calls) else spec.calls
    return total


def new_run_id() -> str:
    """A fresh run id."""
    return f"run_{secrets.token_hex(8)}"


def execute(
    plan: Plan | dict,
    registry: Registry,
    ctx: ToolContext,
    inputs: list[str] = (),
    *,
    progress: Progress = None,
    cancel: threading.Event | None = None,
    run_id: str | None = None,
    resume: str | None = None,
) -> RunOutput:
    """Run a plan, or resume a run at its first unfinished step.

    Args:
        plan: The plan (ignored when resuming: the record's plan runs).
        registry: The tools steps may call.
        ctx: The store and backend.
        inputs: Image references for ``$input``, ``$input.1``, ...
        progress: ``progress(done, total)`` in plan steps.
        cancel: Set it to stop; the running step stops within one sampling step and writes nothing.
        run_id: Use this id for a new run (default: a fresh one).
        resume: The id of a failed or cancelled run to continue.

    Raises:
        PlanError: The plan is invalid (nothing ran).
        ToolError: An input cannot be read, or the run to resume is unknown.
    """
    if resume is not None:
        record = ctx.store.get_run(resume)
        if record.get("version") != RECORD_VERSION:
            raise ToolError(
                f"run {resume} has record version {record.get('version')}; expected {RECORD_VERSION}"
            )
        plan = validate_plan(record["plan"], registry, len(record["inputs"]))
        input_ids = list(record["inputs"])
        steps = [StepRun.model_validate(s) for s in record["steps"]]
        run_id = resume
    else:
        plan = validate_plan(plan, registry, len(inputs))
        input_ids = [ctx.store.adopt(ctx.store.load(ref)) for ref in inputs]
        steps = [StepRun(id=s.id, tool=s.tool, status="pending") for s in plan.steps]
        run_id = run_id or new_run_id()
        record = {"version": RECORD_VERSION, "run_id": run_id, "created": _now()}
    record |= {"plan": plan.model_dump(mode="json"), "inputs": input_ids}
    outputs = {s.id: s.output for s in steps if s.status == "done"}
    n = len(plan.steps)
    counter = [0]
    counting = MODEL_CALLS.set(counter)
    status, failed, error = "done", None, None
    with ctx.store.pinned(input_ids), _counting_reset(counting):
        for i, (step, run) in enumerate(zip(plan.steps, steps, strict=True), start=1):
            if run.status == "done":
                continue
            if cancel is not None and cancel.is_set():
                run.status, run.error = "cancelled", "cancelled before it started"
                status, failed, error = "cancelled", i, f"step {i} ({step.id}, {step.tool}): {run.error}"
                _save(ctx, record, steps, status)
                break
            spec = registry.get(step.tool)
            run.error = None

            def inner(done: float, total: float, i: int = i) -> None:
                if progress is not None and total:
                    progress(i - 1 + min(done / total, 1.0), n)

            try:
                args = resolve_args(step.args, outputs, input_ids, image_fields(spec.input_model))
                run.args = args
                output = invoke(spec, args, ctx, inner, cancel, registry=registry, step=(run_id, step.id))
            except Exception as exc:  # a refusal, or a bug deeper down: the run record says which step
                if not isinstance(exc, ToolError):
                    logger.exception("plan step %s (%s) failed", step.id, step.tool)
                    exc = ToolError(f"{type(exc).__name__}: {exc}")
                cancelled = cancel is not None and cancel.is_set()
                run.status, run.error = ("cancelled" if cancelled else "failed"), str(exc)
                status, failed, error = run.status, i, f"step {i} ({step.id}, {step.tool}): {exc}"
                _save(ctx, record, steps, status)
                break
            run.status = "done"
            run.output = output.model_dump(mode="json")
            run.images = _image_ids(run.output)
            outputs[step.id] = run.output
            if progress is not None:
                progress(float(i), float(n))
            _save(ctx, record, steps, "running" if i < n else "done")
    last = _last_image(steps)
    return RunOutput(
        run_id=run_id,
        status=status,
        steps=steps,
        image=last,
        failed_step=plan.steps[failed - 1].id if failed else None,
        failed_index=failed,
        error=error,
        model_calls=counter[0],
        lineage=ctx.store.lineage(last.id) if last is not None else [],
    )


@contextlib.contextmanager
def _counting_reset(token):
    try:
        yield
    finally:
        MODEL_CALLS.reset(token)


def resolve_args(args: dict, outputs: dict[str, dict], inputs: list[str], images: list[str]) -> dict:
    """A step's arguments with every reference replaced by its value (an image by its id).

    Raises:
        ToolError: A reference whose value is missing at run time (e.g. ``objects.0`` when nothing was
            found).
    """

    def value_of(ref: Ref, argument: str) -> Any:
        if ref.is_input:
            return inputs[ref.input_index or 0]
        value: Any = outputs[ref.source]
        for part in ref.path:
            try:
                value = value[int(part)] if isinstance(value, list) else value[part]
            except (KeyError, IndexError, TypeError):
                raise ToolError(
                    f"argument {argument}: {ref} has no value in this run ({part!r} is missing"
                    + (": the list is empty" if isinstance(value, list) and not value else "")
                    + ")"
                ) from None
        if isinstance(value, dict) and "id" in value and "uri" in value:
            return value["id"]
        return value

    def walk(item: Any, argument: str) -> Any:
        ref = parse_ref(item) if isinstance(item, str) else None
        if ref is not None:
            return value_of(ref, argument)
        if isinstance(item, list):
            return [walk(x, argument) for x in item]
        if isinstance(item, dict):
            return {k: walk(x, argument) for k, x in item.items()}
        return item

    return {name: walk(value, name) for name, value in args.items()}


def _image_ids(output: Any) -> list[str]:
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if isinstance(item.get("id"), str) and "uri" in item and item["id"] not in found:
                found.append(item["id"])
            for value in item.values():
                walk(value)
        elif isinstance(item, list):
            for value in item:
                walk(value)

    walk(output)
    return found


def _last_image(steps: list[StepRun]) -> ImageOut | None:
    for step in reversed(steps):
        if step.status == "done" and step.output and isinstance(step.output.get("image"), dict):
            return ImageOut.model_validate(step.output["image"])
    return None


def _save(ctx: ToolContext, record: dict, steps: list[StepRun], status: str) -> None:
    record["status"] = status
    record["updated"] = _now()
    record["steps"] = [s.model_dump(mode="json") for s in steps]
    ctx.store.put_run(record["run_id"], record)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


__all__ = ["RECORD_VERSION", "PlanError", "RunOutput", "StepRun", "count_model_calls", "execute"]
