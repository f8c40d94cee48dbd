"""``pixwizard agent``: plan a request (offline or with an LLM), then run the plan step by step."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from pixwizard.cli._options import Model, chosen_model, handle_errors

EXAMPLES = [
    'pixwizard agent "denoise it, then find the red car and remove it, then estimate depth" --image a.png',
    'pixwizard agent "dehaze it and then segment it" --image a.png --dry-run --json',
    "pixwizard agent --resume run_0123456789abcdef",
    "pixwizard agent --schema",
    'pixwizard agent "remove the cup" --image a.png --planner llm --llm openai:gpt-4o-mini',
]


class Planner(str, enum.Enum):
    """Who writes the plan."""

    offline = "offline"
    llm = "llm"


class LLMMode(str, enum.Enum):
    """How an LLM planner works."""

    plan = "plan"
    tools = "tools"


@handle_errors
def agent(
    request: Annotated[str | None, typer.Argument(help="What to do, in your own words.")] = None,
    image: Annotated[
        list[str] | None, typer.Option("--image", "-i", help="An input image ($input, then $input.1, ...).")
    ] = None,
    planner: Annotated[Planner, typer.Option(help="offline (no LLM, the default) or llm.")] = Planner.offline,
    llm: Annotated[
        str | None, typer.Option(help="The chat model as PROVIDER:MODEL (LangChain's init_chat_model).")
    ] = None,
    llm_mode: Annotated[
        LLMMode, typer.Option(help="plan: the LLM writes a plan; tools: it calls the tools itself.")
    ] = LLMMode.plan,
    dry_run: Annotated[bool, typer.Option(help="Only plan and validate; no model call.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    resume: Annotated[str | None, typer.Option(help="Resume a failed or cancelled run by its id.")] = None,
    schema: Annotated[bool, typer.Option(help="Print the plan JSON Schema and exit.")] = False,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Run this plan (a JSON file) instead of planning.")
    ] = None,
    model: Model = None,
    store: Annotated[Path | None, typer.Option(help="Where results are stored.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
) -> None:
    """Plan a multi-step image request and run it, printing each step's tool, output id and the lineage."""
    from pixwizard.agents import plan_schema_json

    if schema:
        typer.echo(plan_schema_json())
        return
    images = list(image or [])
    if llm is not None:
        planner = Planner.llm  # naming a chat model chooses the LLM planner
    if request is None and resume is None and plan_file is None:
        raise ValueError("give a request (or --plan FILE, --resume RUN_ID or --schema)")
    from pixwizard.tools import default_registry, make_context

    registry = default_registry()
    ctx = make_context(chosen_model(model), store_dir=store, any_path=True, device=device)
    if planner is Planner.llm and llm_mode is LLMMode.tools:
        _tool_loop(request, images, registry, ctx, llm, json_out)
        return
    plan = None
    if resume is None:
        plan = _make_plan(request, images, registry, planner, llm, plan_file, json_out)
        if plan is None:
            return  # a question was printed
    from pixwizard.agents.executor import count_model_calls

    if dry_run:
        if plan is None:
            raise ValueError("--dry-run needs a request or --plan, not --resume")
        shown = plan.model_dump(mode="json", exclude_none=True) | {
            "model_calls": count_model_calls(plan, registry)
        }
        typer.echo(json.dumps(shown, indent=2) if json_out else _plan_text(shown))
        return
    _run(plan, images, registry, ctx, resume, json_out)


def _make_plan(request, images, registry, planner, llm, plan_file, json_out=False):
    from pixwizard.agents.validate import validate_plan

    if plan_file is not None:
        try:
            data = json.loads(plan_file.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{plan_file} is not JSON: {exc}") from None
        return validate_plan(data, registry, len(images))
    if planner is Planner.llm:
        from pixwizard.agents.llm import load_chat_model, plan_with_llm

        return plan_with_llm(request, len(images), registry, load_chat_model(llm))
    from pixwizard.agents.tools import make_plan

    planned = make_plan(request, len(images), registry)
    if planned.plan is None:
        question = planned.question
        if json_out:
            typer.echo(json.dumps({"question": question.model_dump(mode="json")}, indent=2))
        else:
            typer.echo(f"question: {question.question} (candidates: {', '.join(question.candidates)})")
        raise typer.Exit(code=2)
    return planned.plan


def _run(plan, images, registry, ctx, resume, json_out) -> None:
    from pixwizard.agents.executor import execute
    from pixwizard.cli._progress import progress_reporter

    with progress_reporter() as start:
        report = start("plan")
        run = execute(
            plan,
            registry,
            ctx,
            images,
            progress=lambda done, total: report(round(done * 10), int(total) * 10),
            resume=resume,
        )
    steps = [
        {
            "id": s.id,
            "tool": s.tool,
            "status": s.status,
            "output_id": (s.output or {}).get("image", {}).get("id") if s.output else None,
            "images": s.images,
            "warnings": (s.output or {}).get("warnings", []),
            "error": s.error,
        }
        for s in run.steps
    ]
    result = {
        "run_id": run.run_id,
        "status": run.status,
        "steps": steps,
        "image": run.image.model_dump(mode="json") if run.image else None,
        "lineage": run.lineage,
        "model_calls": run.model_calls,
        "error": run.error,
    }
    if json_out:
        typer.echo(json.dumps(result, indent=2))
    else:
        for step in steps:
            note = step["error"] or "; ".join(step["warnings"][:1])
            line = f"{step['id']:<4} {step['tool']:<16} {step['status']:<9} {step['output_id'] or ''}"
            typer.echo(f"{line}  {note}".rstrip())
        if run.image is not None:
            typer.echo(f"result: {run.image.path}")
            typer.echo("lineage: " + " <- ".join([run.image.id] + [a["id"] for a in run.lineage]))
    if run.status != "done":
        typer.echo(f"error: {run.error}; resume with --resume {run.run_id}", err=True)
        raise typer.Exit(code=1)


def _plan_text(shown: dict) -> str:
    lines = [f"{s['id']}: {s['tool']}({json.dumps(s.get('args', {}))})" for s in shown["steps"]]
    return "\n".join([*lines, f"model calls: {shown['model_calls']}"])


def _tool_loop(request, images, registry, ctx, llm, json_out) -> None:
    from pixwizard.agents.llm import load_chat_model, run_tool_loop

    if request is None:
        raise ValueError("--llm-mode tools needs a request")
    result = run_tool_loop(request, images, registry, ctx, load_chat_model(llm))
    typer.echo(json.dumps(result.model_dump(mode="json"), indent=2) if json_out else result.answer)
