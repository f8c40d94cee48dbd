"""LangChain tools driven by a scripted fake chat model: two calls, the second on the first one's output."""

from __future__ import annotations

import json

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pixwizard.tools import REGISTRY
from pixwizard.tools.langchain import get_tools


def test_tools_mirror_the_registry(ctx):
    tools = get_tools(ctx)
    assert [t.name for t in tools] == list(REGISTRY)
    for tool in tools:
        assert tool.args_schema is REGISTRY[tool.name].input_model
        assert tool.response_format == "content_and_artifact"


def test_a_scripted_agent_chains_two_tools(ctx, workspace):
    tools = {t.name: t for t in get_tools(ctx)}
    photo = str(workspace / "in" / "photo.png")
    first = AIMessage(
        content="",
        tool_calls=[
            {
                "name": "restore",
                "args": {"image": photo, "problem": "derain", "steps": 3},
                "id": "call_1",
                "type": "tool_call",
            }
        ],
    )
    messages = [HumanMessage("Remove the rain, then give me the depth of the result.")]
    messages.append(first)
    result = tools["restore"].invoke(first.tool_calls[0])
    assert isinstance(result, ToolMessage) and result.status == "success"
    restored_id = result.artifact["image"]["id"]
    assert json.loads(result.content)["image"]["id"] == restored_id
    messages.append(result)
    script = [
        AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "depth",
                    "args": {"image": restored_id, "steps": 3},
                    "id": "call_2",
                    "type": "tool_call",
                }
            ],
        ),
        AIMessage(content="Done."),
    ]
    model = GenericFakeChatModel(messages=iter(script))
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(tools[call["name"]].invoke(call))
    depth_message = messages[-2]
    assert isinstance(depth_message, ToolMessage) and depth_message.name == "depth"
    assert depth_message.artifact["provenance"]["parents"] == [restored_id]
    assert depth_message.artifact["stats"]["max"] <= 1
    json.dumps(depth_message.artifact)  # JSON-safe: checkpointers can store it


def test_tool_errors_come_back_as_error_messages(ctx):
    tool = get_tools(ctx, names=["depth"])[0]
    call = {"name": "depth", "args": {"image": "/etc/hostname"}, "id": "call_x", "type": "tool_call"}
    message = tool.invoke(call)
    assert message.status == "error" and "outside the allowed folders" in message.content
