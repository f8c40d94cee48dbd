"""LangChain tools driven by a scripted fake chat model: two calls, the second on the first one's output."""

from __future__ import annotations

import json

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pixwizard.tools import default_registry
from pixwizard.tools.langchain import get_tools


def test_tools_mirror_the_registry(ctx):
    registry = default_registry()
    tools = get_tools(ctx)
    assert [t.name for t in tools] == registry.names
    for tool in tools:
        assert tool.args_schema is registry.get(tool.name).input_model
        assert tool.response_format == "content_and_artifact"


def test_a_selection_of_the_registry(ctx):
    registry = default_registry()
    assert [t.name for t in get_tools(ctx, include=["depth", "crop"])] == ["depth", "crop"]
    assert [t.name for t in get_tools(ctx, registry=registry.select(["depth", "crop"]))] == ["depth", "crop"]
    rest = [t.name for t in get_tools(ctx, exclude=["start_job", "run_plan"])]
    assert rest == [name for name in registry.names if name not in ("start_job", "run_plan")]


def test_a_scripted_agent_chains_two_tools(ctx, workspace):
    tools = {t.name: t for t in get_tools(ctx)}
    photo = str(workspace / "in" / "photo.png")
    messages = [HumanMessage("Remove the rain, then give me the depth of the result.")]

    def script():
        """The fake model's turns; the second reads the id the first tool returned, as an LLM would."""
        yield AIMessage(
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
        restored = json.loads(messages[-1].content)["image"]["id"]
        yield AIMessage(
            content="",
            tool_calls=[
                {
                    "name": "depth",
                    "args": {"image": restored, "steps": 3},
                    "id": "call_2",
                    "type": "tool_call",
                }
            ],
        )
        yield AIMessage(content="Done.")

    model = GenericFakeChatModel(messages=script())
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(tools[call["name"]].invoke(call))
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_messages] == ["restore", "depth"] and all(
        m.status == "success" for m in tool_messages
    )
    restored_id = tool_messages[0].artifact["image"]["id"]
    assert tool_messages[1].artifact["provenance"]["parents"] == [restored_id]
    assert tool_messages[1].artifact["stats"]["max"] <= 1
    assert messages[-1].content == "Done."
    json.dumps([m.artifact for m in tool_messages])  # JSON-safe: checkpointers can store it


def test_tool_errors_come_back_as_error_messages(ctx):
    tool = get_tools(ctx, include=["depth"])[0]
    call = {"name": "depth", "args": {"image": "/etc/hostname"}, "id": "call_x", "type": "tool_call"}
    message = tool.invoke(call)
    assert message.status == "error" and "outside the allowed folders" in message.content


def test_every_failure_is_an_error_message_the_model_can_read(ctx, workspace):
    tools = {t.name: t for t in get_tools(ctx)}
    photo = str(workspace / "in" / "photo.png")
    (workspace / "in" / "folder.png").mkdir()
    calls = {
        "bad value": ("depth", {"image": photo, "steps": 1}, "invalid steps=1"),
        "unknown argument": ("depth", {"image": photo, "stepz": 2}, "unknown argument stepz"),
        "missing argument": ("ground", {"image": photo}, "missing required argument referring"),
        "bad choice": ("ground", {"image": photo, "referring": "x", "mode": "blob"}, "invalid mode='blob'"),
        "a folder": ("describe_image", {"image": str(workspace / "in" / "folder.png")}, "is a folder"),
        "a corrupt file": ("describe_image", {"image": str(workspace / "in" / "mask.png")[:-4]}, "exist"),
    }
    for case, (name, args, expected) in calls.items():
        message = tools[name].invoke({"name": name, "args": args, "id": "call_1", "type": "tool_call"})
        assert message.status == "error" and expected in message.content, (case, message.content)
        assert "\n" not in message.content, case


def test_results_can_carry_a_preview_for_multimodal_models(ctx, workspace):
    import base64
    import io

    from PIL import Image

    tool = get_tools(ctx, include=["depth"], image_content=True, preview_bytes=4000)[0]
    call = {"name": "depth", "args": {"image": str(workspace / "in" / "photo.png"), "steps": 2}}
    message = tool.invoke(call | {"id": "call_1", "type": "tool_call"})
    text, image = message.content
    assert (
        text["type"] == "text" and json.loads(text["text"])["image"]["id"] == message.artifact["image"]["id"]
    )
    data = base64.b64decode(image["base64"])
    assert image["type"] == "image" and image["mime_type"] == "image/png" and len(data) <= 4000
    assert Image.open(io.BytesIO(data)).size[0] <= 80
    plain = get_tools(ctx, include=["depth"])[0].invoke(call | {"id": "call_2", "type": "tool_call"})
    assert isinstance(plain.content, str)


def test_a_background_job_through_the_tools(ctx, workspace):
    args = {"tool": "depth", "args": {"image": str(workspace / "in" / "photo.png"), "steps": 2}}
    (jobs_only,) = get_tools(ctx, include=["start_job"])  # start_job runs only the tools it is offered with
    refused = jobs_only.invoke({"name": "start_job", "args": args, "id": "c0", "type": "tool_call"})
    assert refused.status == "error" and "unknown tool 'depth'" in refused.content
    tools = {t.name: t for t in get_tools(ctx, include=["depth", "start_job", "job_result"])}
    started = tools["start_job"].invoke({"name": "start_job", "args": args, "id": "c1", "type": "tool_call"})
    assert started.status == "success" and started.artifact["tool"] == "depth"
    job_id = started.artifact["job_id"]
    ctx.backend.job(job_id).future.result(timeout=60)
    call = {"name": "job_result", "args": {"job_id": job_id}, "id": "c2", "type": "tool_call"}
    done = tools["job_result"].invoke(call)
    assert done.artifact["status"] == "done" and done.artifact["result"]["stats"]["max"] <= 1
