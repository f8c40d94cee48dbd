"""The LLM planners driven by langchain-core's fake chat model: plans, repairs, and a tool-calling loop.

The tools are the real ones on the built-in ``tiny-random`` model; only the chat model is scripted. The
fake records every conversation it is sent, and its reply may be computed from that conversation, as an
LLM's would be (reading an id from the previous tool message).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image
from pixwizard.agents.llm import load_chat_model, plan_with_llm, run_tool_loop
from pixwizard.tools import ToolError, default_registry, make_context


class RecordingChat(GenericFakeChatModel):
    """The fake chat model, recording each conversation; ``reply`` (if set) computes the answer from it."""

    received: list = []
    reply: Callable[[list[BaseMessage]], AIMessage] | None = None

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.received.append(list(messages))
        if self.reply is None:
            return super()._generate(messages, stop, run_manager, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=self.reply(messages))])


class ToolCallingChat(RecordingChat):
    """The recording fake with tool calling: binding tools returns itself and remembers their names."""

    bound: list = []

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        self.bound = [getattr(t, "name", None) or getattr(t, "__name__", "") for t in tools]
        return self


@pytest.fixture(scope="module")
def registry():
    return default_registry()


@pytest.fixture
def photo(tmp_path):
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "photo.png"
    Image.radial_gradient("L").resize((48, 40)).convert("RGB").save(path)
    return str(path)


@pytest.fixture
def ctx(tmp_path, photo):
    return make_context(
        "tiny-random", store_dir=tmp_path / "store", allow_dirs=[tmp_path / "in"], device="cpu"
    )


VALID = {
    "steps": [
        {"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise", "steps": 2}},
        {"id": "s2", "tool": "depth", "args": {"image": "$s1.image", "steps": 2}},
    ]
}
UNKNOWN_ARGUMENT = {
    "steps": [
        {"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise"}},
        {"id": "s2", "tool": "depth", "args": {"image": "$s1.image", "strength": 3}},
    ]
}
BAD_STEP_ID = {"steps": [VALID["steps"][0], {**VALID["steps"][1], "id": "2"}]}  # not a valid Plan
LATER_STEP = {
    "steps": [
        {"id": "s1", "tool": "depth", "args": {"image": "$s2.image"}},
        {"id": "s2", "tool": "restore", "args": {"image": "$input", "problem": "denoise"}},
    ]
}


def as_text(plan: dict) -> AIMessage:
    """A reply with the plan as fenced JSON in its text, as a model without tool calling writes it."""
    return AIMessage(f"Here is the plan:\n```json\n{json.dumps(plan)}\n```")


def as_tool_call(plan: dict) -> AIMessage:
    """A reply calling the ``Plan`` schema as a tool, which is how structured output arrives."""
    return AIMessage("", tool_calls=[{"name": "Plan", "args": plan, "id": "call_plan", "type": "tool_call"}])


# ----------------------------------------------------------------------------------------------------
# Plan mode
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fake", "reply"), [(RecordingChat, as_text), (ToolCallingChat, as_tool_call)], ids=["text", "tool-call"]
)
def test_a_valid_plan_is_returned_validated(registry, fake, reply):
    model = fake(messages=iter([reply(VALID)]), received=[])
    plan = plan_with_llm("denoise it, then estimate depth", 1, registry, model)
    assert [(s.id, s.tool) for s in plan.steps] == [("s1", "restore"), ("s2", "depth")]
    assert plan.steps[1].args == {"image": "$s1.image", "steps": 2}
    assert plan.request == "denoise it, then estimate depth"
    [conversation] = model.received
    system = conversation[0].content
    assert "- restore(image: image, problem: one of denoise|" in system and "$s2.objects.0.mask" in system
    assert "plan" not in [line.split("(")[0].lstrip("- ") for line in system.splitlines()]  # not plannable
    assert "denoise it, then estimate depth" in conversation[-1].content


@pytest.mark.parametrize(
    ("fake", "reply", "invalid", "problem", "proposed"),
    [
        (
            RecordingChat,
            as_text,
            UNKNOWN_ARGUMENT,
            "step s2, argument strength: unknown argument",
            '"strength": 3',
        ),
        (ToolCallingChat, as_tool_call, BAD_STEP_ID, "step 2, id: String should match pattern", '"id": "2"'),
    ],
    ids=["text", "tool-call"],
)
def test_an_invalid_plan_is_repaired_with_the_validation_message(
    registry, fake, reply, invalid, problem, proposed
):
    model = fake(messages=iter([reply(invalid), reply(VALID)]), received=[])
    plan = plan_with_llm("denoise it, then estimate depth", 1, registry, model)
    assert plan.steps[1].args == VALID["steps"][1]["args"]
    assert len(model.received) == 2
    repair = model.received[1]
    assert isinstance(repair[-2], AIMessage) and proposed in repair[-2].content  # what it proposed
    assert isinstance(repair[-1], HumanMessage) and problem in repair[-1].content


def test_repairs_run_out_with_the_last_problem(registry):
    replies = [AIMessage("Sure, I can do that."), as_text(LATER_STEP), as_text(LATER_STEP)]
    model = RecordingChat(messages=iter(replies), received=[])
    with pytest.raises(
        ToolError, match="after 3 tries: step s1, argument image: refers to the later step s2"
    ):
        plan_with_llm("estimate depth of the restored photo", 1, registry, model, max_repairs=2)
    assert len(model.received) == 3  # the first try and two repairs, no more
    assert "no JSON object" in model.received[1][-1].content


# ----------------------------------------------------------------------------------------------------
# Tool-calling mode
# ----------------------------------------------------------------------------------------------------


def call(name: str, args: dict, id: str) -> dict:
    return {"name": name, "args": args, "id": id, "type": "tool_call"}


def test_the_tool_loop_chains_ids_from_earlier_tool_messages(registry, ctx, photo):
    def reply(messages):
        last = messages[-1]
        if isinstance(last, HumanMessage):
            return AIMessage(
                "", tool_calls=[call("restore", {"image": photo, "problem": "denoise", "steps": 2}, "c1")]
            )
        result = json.loads(last.content)
        if last.name == "restore":
            return AIMessage(
                "", tool_calls=[call("depth", {"image": result["image"]["id"], "steps": 2}, "c2")]
            )
        return AIMessage(f"Depth map: {result['image']['id']}")

    model = ToolCallingChat(messages=iter([]), received=[], reply=reply)
    result = run_tool_loop("denoise it, then estimate depth", [photo], registry, ctx, model)
    assert [(c.tool, c.ok) for c in result.calls] == [("restore", True), ("depth", True)]
    restored = result.calls[0].output_ids[0]
    assert result.calls[1].args["image"] == restored
    depth_image = result.calls[1].output_ids[0]
    assert restored in [a["id"] for a in ctx.store.lineage(depth_image)]  # depth ran on the restored one
    assert result.answer == f"Depth map: {depth_image}" and result.turns == 3
    assert "restore" in model.bound and not {"start_job", "job_status", "plan", "run_plan"} & set(model.bound)
    assert photo in model.received[0][1].content  # the request names the input image


def test_tool_errors_come_back_as_tool_messages_and_the_loop_goes_on(registry, ctx, photo):
    def reply(messages):
        last = messages[-1]
        if isinstance(last, HumanMessage):
            bad = [call("depth", {"image": photo, "steps": 1}, "c1"), call("sharpen", {"image": photo}, "c2")]
            return AIMessage("", tool_calls=bad)
        if isinstance(last, ToolMessage) and last.status == "error":
            return AIMessage("", tool_calls=[call("describe_image", {"image": photo}, "c3")])
        return AIMessage("It is 48x40.")

    model = ToolCallingChat(messages=iter([]), received=[], reply=reply)
    result = run_tool_loop("how big is it?", [photo], registry, ctx, model)
    assert [(c.tool, c.ok) for c in result.calls] == [
        ("depth", False),
        ("sharpen", False),
        ("describe_image", True),
    ]
    assert "steps" in result.calls[0].error and "unknown tool 'sharpen'" in result.calls[1].error
    errors = [m for m in model.received[1] if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.status) for m in errors] == [("c1", "error"), ("c2", "error")]
    assert result.answer == "It is 48x40." and result.turns == 3


def test_the_tool_loop_stops_after_max_turns(registry, ctx, photo):
    model = ToolCallingChat(
        messages=iter([]),
        received=[],
        reply=lambda messages: AIMessage("", tool_calls=[call("describe_image", {"image": photo}, "c")]),
    )
    with pytest.raises(ToolError, match="still calling tools after 2 turns"):
        run_tool_loop("look at it forever", [photo], registry, ctx, model, max_turns=2)
    assert len(model.received) == 2


# ----------------------------------------------------------------------------------------------------
# load_chat_model
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "gpt-4o-mini", ":gpt-4o-mini", "openai:"])
def test_a_spec_must_be_provider_colon_model(spec):
    with pytest.raises(ToolError, match="PROVIDER:MODEL"):
        load_chat_model(spec)


def test_without_langchain_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain", None)  # import langchain now fails, installed or not
    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)
    with pytest.raises(ToolError, match=r"pip install 'pixwizard\[llm\]'.*langchain-openai"):
        load_chat_model("openai:gpt-4o-mini")
