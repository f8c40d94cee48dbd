"""LLM planners: a chat model writes a plan, or calls the tools itself.

`plan_with_llm` shows the model the plannable tools, the reference syntax and the `Plan` JSON Schema,
asks for a plan (structured output where the model supports it, JSON in the reply text otherwise),
validates it, and sends the validation problems back for a corrected plan a bounded number of times.
`run_tool_loop` binds the LangChain tools instead and lets the model chain results by id, one turn at a
time, until it answers in text. Any LangChain chat model works; `load_chat_model` makes one from a
``PROVIDER:MODEL`` spec through LangChain's ``init_chat_model`` (the ``llm`` extra).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pixwizard.tools.catalog import ToolContext
from pixwizard.tools.registry import Registry
from pixwizard.tools.schemas import Generation
from pixwizard.tools.spec import ToolError
from pydantic import BaseModel, Field

from .executor import _image_ids
from .plan import Plan, PlanError
from .validate import NOT_IN_PLANS, validate_plan

logger = logging.getLogger(__name__)
LLM_EXTRA = "pip install 'pixwizard[llm]' plus the provider's package (e.g. langchain-openai)"
# Result fields every tool has that a plan seldom references: left out of the prompt to keep it short.
_BOOKKEEPING = {"provenance", "changed_fraction", "similarity_outside", "exported_to", "warnings"}
_MAX_ENUM = 16
_FIRST_SENTENCE = re.compile(r"(?<!e\.g)(?<!i\.e)\.\s")


def load_chat_model(spec: str | None):
    """A LangChain chat model from ``PROVIDER:MODEL`` (e.g. ``openai:gpt-4o-mini``).

    Raises:
        ToolError: The spec is missing or not of that form, or the ``langchain`` package is not installed.
    """
    if not spec or ":" not in spec or not all(part.strip() for part in spec.split(":", 1)):
        raise ToolError(
            f"the chat model must be given as PROVIDER:MODEL, not {spec!r}",
            suggestions=["openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5", "ollama:llama3.1"],
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise ToolError(f"the LLM planner needs the langchain package: {LLM_EXTRA}") from None
    provider, model = spec.split(":", 1)
    try:
        return init_chat_model(model, model_provider=provider)
    except ImportError as exc:  # the provider's integration package is missing
        raise ToolError((str(exc).splitlines() or [repr(exc)])[0], suggestions=[LLM_EXTRA]) from None


# ----------------------------------------------------------------------------------------------------
# Plan mode
# ----------------------------------------------------------------------------------------------------


def plan_with_llm(request: str, inputs: int, registry: Registry, chat_model, *, max_repairs: int = 2) -> Plan:
    """Ask a chat model for a plan and validate it, sending the problems back for a corrected one.

    Args:
        request: What the user asked.
        inputs: How many input images come with it (``$input`` ... ``$input.<inputs-1>``).
        registry: The tools the plan may call.
        chat_model: A LangChain chat model.
        max_repairs: How many corrected plans to ask for after the first one.

    Returns:
        The validated plan (its ``request`` filled in if the model left it out).

    Raises:
        ToolError: No valid plan after the repairs, with the last problems.
    """
    ask = _plan_asker(chat_model)
    messages: list[BaseMessage] = [
        SystemMessage(planner_prompt(registry, inputs)),
        HumanMessage(f"Request: {request}\nInput images: {inputs}"),
    ]
    problems: list[str] = []
    for attempt in range(max_repairs + 1):
        proposal, problems = ask(messages)
        if not problems:
            try:
                plan = validate_plan(proposal, registry, inputs)
            except PlanError as exc:
                problems = exc.problems
            else:
                return plan if plan.request else plan.model_copy(update={"request": request[:2000]})
        logger.info("plan attempt %d rejected: %s", attempt + 1, "; ".join(problems))
        shown = proposal if isinstance(proposal, str) else json.dumps(proposal)
        messages += [AIMessage(shown), HumanMessage(_repair_request(problems))]
    raise ToolError(
        f"the LLM gave no valid plan after {max_repairs + 1} tries: {'; '.join(problems)}",
        suggestions=[
            "rephrase the request",
            "use --planner offline",
            "write the plan yourself (--plan FILE)",
        ],
    )


def _plan_asker(chat_model):
    """``ask(messages) -> (proposal, problems)``: the plan (a dict or the raw text), why unreadable."""
    try:
        # Function calling, not a provider's strict JSON-schema mode: strict modes refuse a free-form
        # object such as a step's ``args``.
        structured = chat_model.with_structured_output(Plan, include_raw=True, method="function_calling")
    except NotImplementedError:  # no tool calling: read the JSON from the reply text
        structured = None

    def ask(messages: list[BaseMessage]) -> tuple[dict | str, list[str]]:
        if structured is None:
            return _plan_from_text(_text(chat_model.invoke(messages)))
        reply = structured.invoke(messages)
        if reply["parsed"] is not None:
            return reply["parsed"].model_dump(mode="json", exclude_none=True), []
        raw = reply["raw"]
        calls = getattr(raw, "tool_calls", None) or []
        if calls:  # a plan that does not fit the schema: let validate_plan say where, in its words
            return calls[0]["args"], []
        return _plan_from_text(_text(raw))

    return ask


def _plan_from_text(text: str) -> tuple[dict | str, list[str]]:
    """The JSON object in a reply (a fenced block or the outermost braces), or why there is none."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return text, ["the reply has no JSON object; reply with only the plan as JSON"]
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        return text, [f"the reply is not valid JSON ({exc}); reply with only the plan as JSON"]
    return value, []


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def _repair_request(problems: list[str]) -> str:
    listed = "\n".join(f"- {p}" for p in problems)
    return f"That plan cannot run:\n{listed}\nReturn the whole corrected plan."


def planner_prompt(registry: Registry, inputs: int) -> str:
    """The system prompt of plan mode: the tools, the reference syntax and the plan's JSON Schema."""
    tools = "\n".join(_tool_line(spec) for spec in registry if spec.name not in NOT_IN_PLANS)
    sampling = ", ".join(Generation.model_fields)
    return (
        "You plan image-editing requests as a list of PixWizard tool calls. Reply with a plan: "
        '{"steps": [{"id": "s1", "tool": ..., "args": {...}}, ...]}.\n\n'
        "References: an argument that is a string starting with $ refers to an input image ($input is the "
        "first, $input.1 the second, ...) or to a field of an EARLIER step's output ($s1.image, "
        "$s2.objects.0.mask, $s2.objects.0.box). Give an image result to an image argument as $sN.image. "
        f"This request has {inputs} input image{'s' if inputs != 1 else ''}.\n\n"
        "Tools, as name(argument: type, optional?: type): description -> output fields. Tools marked "
        f"[model] also take the sampling options {sampling}.\n{tools}\n\n"
        f"The plan's JSON Schema:\n{json.dumps(Plan.model_json_schema(), separators=(',', ':'))}"
    )


def _tool_line(spec) -> str:
    schema = spec.input_model.model_json_schema()
    defs, required = schema.get("$defs", {}), set(schema.get("required", []))
    sampling = issubclass(spec.input_model, Generation)
    args = [
        f"{name}{'' if name in required else '?'}: {_type_of(prop, defs)}"
        for name, prop in schema.get("properties", {}).items()
        if not (sampling and name in Generation.model_fields)
    ]
    summary = _FIRST_SENTENCE.split(spec.description, maxsplit=1)[0].rstrip(".")
    outputs = ", ".join(_output_fields(spec.output_model))
    return f"- {spec.name}({', '.join(args)}){' [model]' if sampling else ''}: {summary} -> {outputs}"


def _type_of(prop: dict, defs: dict) -> str:
    """A short type from a JSON Schema property: ``text``, ``one of a|b``, ``list of number``, ..."""
    if "$ref" in prop:
        prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
    if prop.get("format") == "image-ref":
        return "image"
    if "anyOf" in prop:
        options = [_type_of(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(options) or "null"
    if "enum" in prop:
        values = [str(v) for v in prop["enum"]]
        shown = "|".join(values[:_MAX_ENUM]) + ("|..." if len(values) > _MAX_ENUM else "")
        return f"one of {shown}"
    kind = prop.get("type", "any")
    if kind == "array":
        items = prop.get("prefixItems")
        if items:
            return f"[{', '.join(_type_of(p, defs) for p in items)}]"
        return f"list of {_type_of(prop.get('items', {}), defs)}"
    return {"string": "text", "object": "object"}.get(kind, kind)


def _output_fields(model: type[BaseModel]) -> list[str]:
    """Top-level output fields, with one level inside lists of objects (``objects.N.{box, mask}``)."""
    fields = []
    for name, field in model.model_fields.items():
        if name in _BOOKKEEPING:
            continue
        inner = getattr(field.annotation, "__args__", ())
        item = inner[0] if len(inner) == 1 else None
        if isinstance(item, type) and issubclass(item, BaseModel) and item.__name__ != "ImageOut":
            fields.append(f"{name}.N.{{{', '.join(item.model_fields)}}}")
        else:
            fields.append(name)
    return fields


# ----------------------------------------------------------------------------------------------------
# Tool-calling mode
# ----------------------------------------------------------------------------------------------------


class ToolCallRecord(BaseModel):
    """One tool call the model made: its arguments, whether it worked, the image ids it returned."""

    tool: str
    args: dict
    ok: bool
    output_ids: list[str] = Field(default_factory=list)
    error: str | None = None


class ToolLoopResult(BaseModel):
    """The model's final answer, every tool call it made, and how many times it was asked."""

    answer: str
    calls: list[ToolCallRecord]
    turns: int


_LOOP_PROMPT = (
    "You are PixWizard: you do image requests by calling tools. Each tool returns JSON; an image result "
    "has an id. To use a result in a later call, pass its id as that call's image argument. Call tools "
    "until the request is done, then answer in a few sentences naming the ids of the final images. If a "
    "call fails, read the error and fix the call instead of repeating it."
)


def run_tool_loop(
    request: str, images: list[str], registry: Registry, ctx: ToolContext, chat_model, *, max_turns: int = 12
) -> ToolLoopResult:
    """Let a chat model call the tools itself until it answers in text.

    Args:
        request: What the user asked.
        images: The input images (paths or ids), named to the model in the request.
        registry: The tools to offer (jobs and plans are left out: the loop is the plan).
        ctx: The store and backend the tools share.
        chat_model: A LangChain chat model that supports tool calling.
        max_turns: The most times the model is asked.

    Raises:
        ToolError: The model was still calling tools after ``max_turns`` (with the images made so far).
    """
    from pixwizard.tools.langchain import get_tools

    tools = get_tools(ctx, registry=registry, exclude=[name for name in NOT_IN_PLANS if name in registry])
    by_name = {tool.name: tool for tool in tools}
    model = chat_model.bind_tools(tools)
    named = "\n".join(f"- image {i}: {ref}" for i, ref in enumerate(images)) or "(none)"
    messages: list[BaseMessage] = [
        SystemMessage(_LOOP_PROMPT),
        HumanMessage(f"{request}\n\nInput images:\n{named}"),
    ]
    calls: list[ToolCallRecord] = []
    for turn in range(1, max_turns + 1):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            return ToolLoopResult(answer=_text(reply), calls=calls, turns=turn)
        for i, call in enumerate(reply.tool_calls):
            call = {**call, "id": call.get("id") or f"call_{turn}_{i}", "type": "tool_call"}
            result = _call_tool(by_name, call)
            messages.append(result)
            ok = result.status != "error"
            calls.append(
                ToolCallRecord(
                    tool=call["name"],
                    args=call["args"],
                    ok=ok,
                    output_ids=_image_ids(result.artifact) if ok else [],
                    error=None if ok else _text(result),
                )
            )
    made = [i for c in calls for i in c.output_ids]
    raise ToolError(
        f"the model was still calling tools after {max_turns} turns ({len(calls)} calls)",
        suggestions=[f"images made so far: {', '.join(made) or 'none'}", "raise max_turns or simplify"],
    )


def _call_tool(by_name: dict, call: dict) -> ToolMessage:
    """Run one tool call; failures (including an unknown tool) come back as error messages for the model."""
    tool = by_name.get(call["name"])
    if tool is None:
        known = ", ".join(by_name)
        return ToolMessage(
            f"unknown tool {call['name']!r}; the tools are: {known}",
            tool_call_id=call["id"],
            name=call["name"],
            status="error",
        )
    return tool.invoke(call)


__all__ = [
    "ToolCallRecord",
    "ToolLoopResult",
    "load_chat_model",
    "plan_with_llm",
    "planner_prompt",
    "run_tool_loop",
]
