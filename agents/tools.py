"""The agent tools: recipes, plans, lineage and free-form requests, registered into the tool registry.

`register` (the ``pixwizard.tools`` entry point) adds them, so every face (MCP, LangChain, CLI) offers
them without `pixwizard.tools` importing this package.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pixwizard.tools.catalog import (
    ToolContext,
    _common,
    _inputs,
    _run,
    call_registry,
    invoke,
)
from pixwizard.tools.registry import Registry
from pixwizard.tools.schemas import Generation, ImageOut, ImageRef, Provenance, _Args
from pixwizard.tools.spec import Hints, ToolError, ToolSpec
from pydantic import BaseModel, Field

from . import recipes
from .executor import RunOutput, count_model_calls, execute
from .plan import Plan, PlanError, Question
from .validate import validate_plan

_W = Hints(read_only=False, destructive=False, idempotent=False)
_R = Hints(read_only=True, destructive=False, idempotent=True)


# ----------------------------------------------------------------------------------------------------
# plan and run_plan
# ----------------------------------------------------------------------------------------------------


class PlanArgs(_Args):
    """Arguments of plan."""

    request: str = Field(min_length=1, max_length=2000, description="What to do, in your own words.")
    inputs: int = Field(1, ge=0, le=16, description="How many input images come with the request.")


class PlanOutput(BaseModel):
    """A plan for a request (no model was called), or a question when the request is ambiguous."""

    plan: Plan | None = Field(description="The plan: pass it to run_plan.")
    question: Question | None = Field(description="What to ask the user instead of guessing.")
    model_calls: int = Field(description="The least number of model calls the plan makes.")


class RunPlanArgs(_Args):
    """Arguments of run_plan."""

    plan: Plan | None = Field(None, description="The plan to run (or give request to plan it first).")
    request: str | None = Field(None, max_length=2000, description="Plan this request offline, then run it.")
    images: list[str] = Field(
        default_factory=list, max_length=16, description="The input images for $input, $input.1, ..."
    )
    resume: str | None = Field(None, max_length=40, description="Resume this failed or cancelled run id.")
    dry_run: bool = Field(False, description="Only validate the plan and count its model calls.")


class RunPlanOutput(RunOutput):
    """A run (or, for a dry run, the validated plan and its model-call count with no steps run)."""

    status: Literal["done", "failed", "cancelled", "planned"] = Field(
        description="'planned' for a dry run (nothing ran)."
    )
    plan: Plan
    planned_model_calls: int


def _check_run_plan(args: RunPlanArgs, registry: Registry) -> None:
    """Validate a run_plan call's plan before start_job queues it."""
    if args.plan is not None:
        try:
            validate_plan(args.plan, registry.full, len(args.images))
        except PlanError as exc:
            raise ToolError(f"invalid plan: {exc}") from None
    elif not args.request and not args.resume:
        raise ToolError("run_plan needs plan, request or resume")


def make_plan(request: str, inputs: int, registry: Registry) -> PlanOutput:
    """Plan a request offline and validate the plan against ``registry``."""
    from .planner import plan_offline

    planned = plan_offline(request, inputs=inputs)
    if planned.plan is None:
        return PlanOutput(plan=None, question=planned.question, model_calls=0)
    plan = validate_plan(planned.plan, registry, inputs)
    return PlanOutput(plan=plan, question=None, model_calls=count_model_calls(plan, registry))


def plan_tool(args: PlanArgs, ctx: ToolContext, progress=None, cancel=None) -> PlanOutput:
    """Turn a request into a plan (no model call)."""
    try:
        return make_plan(args.request, args.inputs, call_registry())
    except PlanError as exc:
        raise ToolError(f"the planner made an invalid plan: {exc}") from None


def run_plan(args: RunPlanArgs, ctx: ToolContext, progress=None, cancel=None) -> RunPlanOutput:
    """Validate and run a plan step by step (or resume a run)."""
    registry = call_registry()
    if args.resume is None:
        plan = args.plan
        if plan is None:
            if not args.request:
                raise ToolError("run_plan needs plan, request or resume")
            planned = plan_tool(PlanArgs(request=args.request, inputs=len(args.images)), ctx)
            if planned.plan is None:
                q = planned.question
                raise ToolError(q.question, suggestions=[f"candidates: {', '.join(q.candidates)}"])
            plan = planned.plan
        try:
            plan = validate_plan(plan, registry, len(args.images))
        except PlanError as exc:
            raise ToolError(f"invalid plan: {exc}") from None
    else:
        plan = Plan.model_validate(ctx.store.get_run(args.resume)["plan"])
    planned_calls = count_model_calls(plan, registry)
    if args.dry_run:
        return RunPlanOutput(
            run_id="",
            status="planned",
            steps=[],
            image=None,
            model_calls=0,
            plan=plan,
            planned_model_calls=planned_calls,
        )
    try:
        run = execute(plan, registry, ctx, args.images, progress=progress, cancel=cancel, resume=args.resume)
    except PlanError as exc:
        raise ToolError(f"invalid plan: {exc}") from None
    return RunPlanOutput(**run.model_dump(), plan=plan, planned_model_calls=planned_calls)


# ----------------------------------------------------------------------------------------------------
# run_instruction: one routed task, or a plan
# ----------------------------------------------------------------------------------------------------


class InstructionArgs(Generation):
    """Arguments of run_instruction."""

    request: str = Field(min_length=1, max_length=1000, description="What to do, in your own words.")
    image: str | None = Field(
        None,
        description="The input image reference (omit for text-to-image).",
        json_schema_extra={"format": "image-ref"},
    )


class InstructionOutput(BaseModel):
    """A routed request: which task ran (or ``plan`` for a multi-step request) and its results."""

    task: str = Field(description="The task that ran, or 'plan' when the request needed several steps.")
    confidence: float | None = Field(description="How sure the router was (single tasks).")
    image: ImageOut | None
    provenance: Provenance | None
    changed_fraction: float | None = None
    similarity_outside: float | None = None
    exported_to: str | None = None
    warnings: list[str] = Field(default_factory=list)
    details: dict = Field(default_factory=dict, description="The task's typed fields.")
    run: RunOutput | None = Field(None, description="The plan's run, for a multi-step request.")


def run_instruction(args: InstructionArgs, ctx: ToolContext, progress=None, cancel=None) -> InstructionOutput:
    """Route a single-task request to its task, or plan and run a multi-step one."""
    from pixwizard.tasks import get_task, route
    from pixwizard.tasks.registry import InputKind

    from .planner import plan_offline, split_clauses

    inputs = 0 if args.image is None else 1
    planned = plan_offline(args.request, inputs=inputs)
    if planned.question is not None and len(split_clauses(args.request)) > 1:
        q = planned.question  # several steps, one unclear: ask, never squeeze it into one task
        raise ToolError(q.question, suggestions=[f"candidates: {', '.join(q.candidates)}", "or call plan"])
    if planned.plan is not None and len(planned.plan.steps) > 1:
        registry = call_registry()
        try:
            plan = validate_plan(planned.plan, registry, inputs)
        except PlanError as exc:
            raise ToolError(f"the planner made an invalid plan: {exc}") from None
        run = execute(
            plan, registry, ctx, [args.image] if args.image else [], progress=progress, cancel=cancel
        )
        return InstructionOutput(
            task="plan", confidence=None, image=run.image, provenance=None, run=run, warnings=[]
        )
    routed = route(args.request)
    if routed.unsure:
        options = [f"{c.task} ({c.confidence:.2f})" for c in routed.candidates]
        raise ToolError(
            f"not sure which image task this is: {routed.reason}",
            suggestions=[f"rephrase, or call a specific tool; closest: {', '.join(options)}"],
        )
    spec = get_task(routed.task)
    if spec.input is InputKind.MASKED:
        raise ToolError("inpainting needs a mask", suggestions=["call the inpaint tool with image and mask"])
    image = None if spec.input is InputKind.BLANK else args.image
    if image is None and spec.input is not InputKind.BLANK:
        raise ToolError(f"{routed.task} needs an input image; pass image")
    missing = [s for s in spec.required if s not in routed.slots]
    if missing:
        raise ToolError(f"{routed.task} needs {', '.join(missing)}, which the request does not state")
    (loaded,) = _inputs(ctx, args, image)
    run = _run(ctx, args, routed.task, loaded, progress, cancel, instruction=args.request, **routed.slots)
    details = run.result.model_dump(
        mode="json",
        exclude={
            "task",
            "instruction",
            "warnings",
            "input_size",
            "processed_resolution",
            "changed_fraction",
            "similarity_outside",
            "preserved",
        },
    )
    return InstructionOutput(
        task=routed.task, confidence=routed.candidates[0].confidence, details=details, **_common(run)
    )


# ----------------------------------------------------------------------------------------------------
# Lineage: history and regenerate
# ----------------------------------------------------------------------------------------------------


class HistoryArgs(_Args):
    """Arguments of history."""

    image: str = ImageRef
    depth: int = Field(20, ge=1, le=200, description="How many ancestors to follow at most.")


class HistoryStep(BaseModel):
    """A call that made an image of the history."""

    image: str
    tool: str | None = Field(description="The tool that made it (null for an input).")
    args: dict | None = Field(description="Its arguments, references resolved to ids.")
    task: str | None
    seed: int | None
    run_id: str | None
    step_id: str | None
    parents: list[str]
    source: str | None = Field(description="Where an input came from.")


class HistoryOutput(BaseModel):
    """The steps that led to an image, the image's own first, then its ancestors."""

    image_id: str = Field(description="The image whose history this is.")
    steps: list[HistoryStep]


def history(args: HistoryArgs, ctx: ToolContext, progress=None, cancel=None) -> HistoryOutput:
    """Walk an image's provenance back through its parents."""
    loaded = ctx.store.load(args.image)
    if loaded.id is None:
        raise ToolError("this image is not in the store, so it has no history; pass an id a tool returned")
    steps, queue, seen, calls = [], [loaded.id], set(), set()
    while queue and len(steps) < args.depth:
        image_id = queue.pop(0)
        if image_id in seen:
            continue
        seen.add(image_id)
        try:
            stored = ctx.store.get(image_id)
        except ToolError:
            continue
        prov = stored.meta.get("provenance") or {}
        queue.extend(stored.parents)
        call = json.dumps(prov, sort_keys=True) if prov else image_id
        if call in calls:
            continue  # another image of the same call (a depth map's grey view, a ground mask)
        calls.add(call)
        steps.append(
            HistoryStep(
                image=image_id,
                tool=prov.get("tool"),
                args=prov.get("args"),
                task=stored.meta.get("task"),
                seed=prov.get("seed"),
                run_id=prov.get("run_id"),
                step_id=prov.get("step_id"),
                parents=stored.parents,
                source=stored.meta.get("source") if stored.meta.get("input") else None,
            )
        )
    return HistoryOutput(image_id=loaded.id, steps=steps)


class RegenerateArgs(_Args):
    """Arguments of regenerate."""

    image: str = ImageRef
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="A new seed (default: the old one + 1).")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Other arguments to change, e.g. {'steps': 30, 'caption': '...'}."
    )


class RegenerateOutput(BaseModel):
    """The call that made the image, run again with the overrides."""

    tool: str
    args: dict = Field(description="The arguments it ran with.")
    image: ImageOut | None = Field(description="The new main image.")
    output: dict = Field(description="The tool's full output.")


def regenerate(args: RegenerateArgs, ctx: ToolContext, progress=None, cancel=None) -> RegenerateOutput:
    """Re-run the step that produced an image from its provenance, with a new seed or other settings."""
    loaded = ctx.store.load(args.image)
    if loaded.id is None:
        raise ToolError("this image is not in the store; regenerate takes an id a tool returned")
    prov = ctx.store.get(loaded.id).meta.get("provenance")
    if not prov or not prov.get("tool"):
        raise ToolError(f"{loaded.id} has no replayable provenance (an input, or made by an older version)")
    registry = call_registry()
    spec = registry.get(prov["tool"])
    call_args = dict(prov["args"]) | args.overrides
    if "seed" in spec.input_model.model_fields:
        old = prov["args"].get("seed") or 0
        call_args["seed"] = args.seed if args.seed is not None else args.overrides.get("seed", old + 1)
    output = invoke(spec, call_args, ctx, progress, cancel, registry=registry)
    return RegenerateOutput(
        tool=spec.name,
        args=call_args,
        image=getattr(output, "image", None),
        output=output.model_dump(mode="json"),
    )


# ----------------------------------------------------------------------------------------------------


AGENT_TOOLS: list[ToolSpec] = [
    ToolSpec(
        "remove_object",
        "Remove an object described in words: grounds it, grows its mask, inpaints, composites and checks "
        "that it is gone (retrying new seeds). Pixels outside the region are kept exactly; returns every "
        "intermediate id and the verification.",
        recipes.RemoveArgs,
        recipes.RecipeOutput,
        recipes.remove_object,
        _W,
        model_calls=recipes.recipe_calls("remove"),
        examples=({"image": "photo.png", "target": "the red car"},),
    ),
    ToolSpec(
        "replace_object",
        "Replace an object described in words with something else: grounds it, inpaints the replacement, "
        "composites and checks the replacement is found there. Pixels outside the region are kept exactly.",
        recipes.ReplaceArgs,
        recipes.RecipeOutput,
        recipes.replace_object,
        _W,
        model_calls=recipes.recipe_calls("replace"),
        examples=({"image": "photo.png", "target": "the dog", "replacement": "a cat"},),
    ),
    ToolSpec(
        "add_object",
        "Add an object at a place given as a box, a mask, or words ('top left', 'next to the red car'): "
        "inpaints it there, composites and checks it is found. Pixels outside the region are kept exactly.",
        recipes.AddArgs,
        recipes.RecipeOutput,
        recipes.add_object,
        _W,
        model_calls=recipes.recipe_calls("add"),
        examples=({"image": "photo.png", "what": "a yellow star", "where": "top left"},),
    ),
    ToolSpec(
        "restore_then",
        "Restore a photo (given problems, or 'auto' to measure noise, blur, low light and haze), then run "
        "one analysis on it (depth, segment, ground, normals, edges, sketch, line art, pose).",
        recipes.RestoreThenArgs,
        recipes.RestoreThenOutput,
        recipes.restore_then,
        _W,
        model_calls=recipes.recipe_calls("restore_then"),
        examples=({"image": "scan.png", "problems": ["denoise"], "then": "depth"},),
    ),
    ToolSpec(
        "run_instruction",
        "Do what a free-form request asks: a single task is recognised and run; a multi-step request "
        "('denoise it, then find the car') is planned and run as a plan. Refuses what it cannot map.",
        InstructionArgs,
        InstructionOutput,
        run_instruction,
        _W,
    ),
    ToolSpec(
        "plan",
        "Turn a request into a plan of tool calls (no model call): returns the plan for run_plan and its "
        "count of model calls, or a question when the request is ambiguous.",
        PlanArgs,
        PlanOutput,
        plan_tool,
        _R,
        generates=False,
        examples=({"request": "denoise it, then estimate depth"},),
    ),
    ToolSpec(
        "run_plan",
        "Run a plan ({'steps': [{'id', 'tool', 'args'}]}, args may reference '$input', '$s1.image', "
        "'$s2.objects.0.mask'): validated first, progress per step, stops at the first failure with a "
        "run_id to resume. dry_run only validates. Use start_job to run it in the background.",
        RunPlanArgs,
        RunPlanOutput,
        run_plan,
        _W,
        model_calls=lambda args: 0,
        precheck=_check_run_plan,
    ),
    ToolSpec(
        "history",
        "The steps that led to a stored image: each ancestor's tool, arguments, seed and plan step.",
        HistoryArgs,
        HistoryOutput,
        history,
        _R,
        generates=False,
    ),
    ToolSpec(
        "regenerate",
        "Run the call that produced a stored image again from its provenance, with a new seed (default "
        "old + 1) or other overrides.",
        RegenerateArgs,
        RegenerateOutput,
        regenerate,
        _W,
    ),
]
