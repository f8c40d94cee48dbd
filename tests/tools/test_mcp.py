"""The MCP server in process: schemas, every tool, resources, refusals, concurrency, progress, jobs, plans."""

from __future__ import annotations

import base64
import io
import json
import os

import anyio
import pytest
from mcp import Client
from PIL import Image
from pixwizard.mcp_server.server import DEFAULT_PREVIEW_BYTES, build_server
from pixwizard.tools import default_registry

pytestmark = pytest.mark.anyio

TOOLS = default_registry()
MODEL_TOOLS = ["restore", "ground", "segment", "depth", "edit", "control_generate", "inpaint", "outpaint"]
MODEL_TOOLS += ["text_to_image", "annotate", "run_instruction"]  # one model call, one stored result each


def test_the_model_tools_are_registered_and_have_calls(tool_calls):
    assert set(MODEL_TOOLS) <= {spec.name for spec in TOOLS if spec.generates}
    assert set(MODEL_TOOLS) == set(tool_calls)


async def test_every_tool_is_listed_with_schemas(ctx):
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert list(tools) == TOOLS.names
    for name, tool in tools.items():
        assert tool.input_schema["type"] == "object" and tool.output_schema, name
        assert tool.annotations is not None and tool.description
    assert tools["describe_image"].annotations.read_only_hint and not tools["edit"].annotations.read_only_hint
    assert "image" in tools["depth"].input_schema["required"]


@pytest.mark.parametrize("name", MODEL_TOOLS)
async def test_each_tool_on_a_small_image(ctx, workspace, tool_calls, name):
    photo = str(workspace / "in" / "photo.png")
    args = {"image": photo, "steps": 3, **tool_calls[name]}
    if name == "inpaint":
        args["mask"] = str(workspace / "in" / "mask.png")
    if name == "text_to_image":
        args.pop("image")
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        result = await client.call_tool(name, args)
        assert not result.is_error, result.content[0].text
        out = result.structured_content
        image = out["image"]
        resource = await client.read_resource(image["uri"])
        data = base64.b64decode(resource.contents[0].blob)
        decoded = Image.open(io.BytesIO(data))
        assert decoded.size == (image["width"], image["height"])
        assert os.path.dirname(image["path"]) == str(ctx.store.root)
        provenance = out["provenance"]
        assert provenance["model"] == "tiny-random" and provenance["seed"] == 0 and provenance["steps"] == 3
        assert provenance["task"]
        previews = [c for c in result.content if c.type == "image"]
        assert previews and len(base64.b64decode(previews[0].data)) <= DEFAULT_PREVIEW_BYTES
        assert any(c.type == "resource_link" and c.uri == image["uri"] for c in result.content)
        described = (await client.call_tool("describe_image", {"image": image["id"]})).structured_content
        if name == "text_to_image":
            assert described["parents"] == []  # drawn from nothing
        else:
            assert described["parents"] and described["lineage"][-1]["id"] in provenance["parents"]


async def test_refusals_are_tool_errors_and_the_server_keeps_serving(ctx, workspace, png_header):
    inside = workspace / "in"
    (inside / "link.png").symlink_to(workspace / "secret" / "private.png")
    data = (inside / "photo.png").read_bytes()
    (inside / "truncated.png").write_bytes(data[: len(data) // 2])
    (inside / "notes.png").write_text("not an image at all")
    (inside / "huge.png").write_bytes(png_header(20000, 20000))
    (inside / "big.png").write_bytes(png_header(8000, 6000))
    cases = {
        str(workspace / "secret" / "private.png"): "outside the allowed folders",
        str(inside / ".." / "secret" / "private.png"): "outside the allowed folders",
        str(inside / "link.png"): "outside the allowed folders",
        str(inside / "truncated.png"): "truncated",
        str(inside / "notes.png"): "not an image",
        str(inside / "huge.png"): "declares 400 MP, above the 40 MP limit",
        str(inside / "big.png"): "above the 40 MP limit",
        "img_0123456789ab": "no stored image",
        "https://example.com/a.png": "network URLs are disabled",
    }
    async with Client(build_server(TOOLS, ctx)) as client:
        for reference, message in cases.items():
            result = await client.call_tool("depth", {"image": reference, "steps": 2})
            assert result.is_error and message in result.content[0].text, (reference, result.content[0].text)
        written = await client.call_tool(
            "depth", {"image": str(inside / "photo.png"), "steps": 2, "output_dir": str(workspace / "secret")}
        )
        assert written.is_error and "outside the allowed output folders" in written.content[0].text
        exported = await client.call_tool(
            "depth", {"image": str(inside / "photo.png"), "steps": 2, "output_dir": str(workspace / "out")}
        )
        assert not exported.is_error and os.path.exists(exported.structured_content["exported_to"])
        bad = await client.call_tool("depth", {"image": str(inside / "photo.png"), "steps": 1})
        assert bad.is_error and "steps" in bad.content[0].text
        ok = await client.call_tool("describe_image", {"image": str(inside / "photo.png")})
        assert not ok.is_error and ok.structured_content["width"] == 80


async def test_root_without_allow_dir_refuses_system_files(tmp_path, monkeypatch):
    from pixwizard.tools import make_context

    monkeypatch.chdir("/")
    bare = make_context("tiny-random", store_dir=tmp_path / "store", device="cpu")
    async with Client(build_server(TOOLS, bare)) as client:
        result = await client.call_tool("describe_image", {"image": "/etc/hostname"})
        assert result.is_error and "outside the allowed folders" in result.content[0].text
        again = await client.call_tool("describe_image", {"image": "etc/hostname"})
        assert again.is_error


async def test_concurrent_calls_run_one_generation_at_a_time(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    results = []
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:

        async def one():
            results.append(
                await client.call_tool("restore", {"image": photo, "problem": "denoise", "steps": 4})
            )

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(one)
        status = json.loads((await client.read_resource("pixwizard://status")).contents[0].text)
        assert status["active_generations"] == 0 and status["generations_run"] == 8 and status["loaded"]
    ids = {r.structured_content["image"]["id"] for r in results}
    paths = {r.structured_content["image"]["path"] for r in results}
    assert len(ids) == len(paths) == 8
    backend = ctx.backend
    assert backend.max_active == 1 and backend.active == 0
    spans = sorted(backend.intervals)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


async def test_progress_notifications(ctx, workspace):
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total))

    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        await client.call_tool(
            "depth", {"image": str(workspace / "in" / "photo.png"), "steps": 6}, progress_callback=on_progress
        )
    assert len(seen) >= 6  # at least `steps` notifications: "started", then one per model step
    assert [p for p, _ in seen] == sorted({p for p, _ in seen}) and seen[0] == (0, 5) and seen[-1] == (5, 5)


async def test_start_job_completes(ctx, workspace):
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        args = {"image": str(workspace / "in" / "photo.png"), "problem": "dehaze", "steps": 3}
        queued = (await client.call_tool("start_job", {"tool": "restore", "args": args})).structured_content
        assert queued["status"] in ("queued", "running") and queued["job_id"] and queued["tool"] == "restore"
        assert queued["result"] is None
        for _ in range(200):
            status = (await client.call_tool("job_status", {"job_id": queued["job_id"]})).structured_content
            if status["status"] == "done":
                break
            await anyio.sleep(0.05)
        result = (await client.call_tool("job_result", {"job_id": queued["job_id"]})).structured_content
    assert result["status"] == "done" and result["result"]["image"]["id"].startswith("img_")
    assert ctx.store.get(result["result"]["image"]["id"]).width == 80


async def test_start_job_refuses_instant_tools_and_bad_arguments_at_once(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    async with Client(build_server(TOOLS, ctx)) as client:
        instant = await client.call_tool("start_job", {"tool": "describe_image", "args": {"image": photo}})
        assert instant.is_error and "instant" in instant.content[0].text
        bad = await client.call_tool("start_job", {"tool": "depth", "args": {"image": photo, "steps": 1}})
        assert bad.is_error and "depth" in bad.content[0].text and "steps" in bad.content[0].text
        unknown = await client.call_tool("start_job", {"tool": "dept", "args": {}})
        assert unknown.is_error and "unknown tool" in unknown.content[0].text
    assert ctx.backend.jobs == {} and ctx.backend.intervals == []


async def test_image_operations_over_mcp(ctx, workspace):
    photo, mask = str(workspace / "in" / "photo.png"), str(workspace / "in" / "mask.png")
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        cropped = (
            await client.call_tool("crop", {"image": photo, "box": [10, 10, 40, 30]})
        ).structured_content
        assert (cropped["image"]["width"], cropped["image"]["height"]) == (30, 20)
        assert cropped["provenance"]["tool"] == "crop" and cropped["provenance"]["model"] is None
        resource = await client.read_resource(cropped["image"]["uri"])
        assert Image.open(io.BytesIO(base64.b64decode(resource.contents[0].blob))).size == (30, 20)
        compared = await client.call_tool("compare", {"a": photo, "b": photo, "mask": mask})
        assert compared.structured_content["identical"]
        assert not [c for c in compared.content if c.type == "image"]  # a measurement has no preview
    assert ctx.backend.intervals == []  # no model call


PLAN = {
    "steps": [
        {"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise", "steps": 2}},
        {"id": "s2", "tool": "depth", "args": {"image": "$s1.image", "steps": 2}},
    ]
}


async def test_a_plan_over_mcp(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        schema = json.loads((await client.read_resource("pixwizard://plan-schema")).contents[0].text)
        assert "steps" in schema["properties"]
        planned = (
            await client.call_tool("plan", {"request": "denoise it, then estimate depth"})
        ).structured_content
        assert [s["tool"] for s in planned["plan"]["steps"]] == ["restore", "depth"]
        dry = await client.call_tool("run_plan", {"plan": PLAN, "images": [photo], "dry_run": True})
        assert dry.structured_content["planned_model_calls"] == 2 and dry.structured_content["steps"] == []
        assert ctx.backend.intervals == []
        run = (await client.call_tool("run_plan", {"plan": PLAN, "images": [photo]})).structured_content
        assert run["status"] == "done" and [s["tool"] for s in run["steps"]] == ["restore", "depth"]
        stored = ctx.store.get(run["image"]["id"]).meta["provenance"]
        assert (stored["tool"], stored["run_id"], stored["step_id"]) == ("depth", run["run_id"], "s2")


async def test_history_over_mcp(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        run = (await client.call_tool("run_plan", {"plan": PLAN, "images": [photo]})).structured_content
        result = await client.call_tool("history", {"image": run["image"]["id"]})
        assert not result.is_error, result.content[0].text
        history = result.structured_content
        assert {s["step_id"] for s in history["steps"] if s["run_id"] == run["run_id"]} == {"s1", "s2"}


async def test_prompts_point_to_the_recipe_tools(ctx):
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"remove_object", "replace_object", "add_object", "restore_then"}
        for name, prompt in prompts.items():
            arguments = {a.name: "img_0123456789ab" if a.name == "image" else "x" for a in prompt.arguments}
            text = (await client.get_prompt(name, arguments)).messages[0].content.text
            assert f"the {name} tool" in text and "img_0123456789ab" in text, text
    only_depth = build_server(TOOLS.select(["depth"]), ctx)
    async with Client(only_depth, raise_exceptions=True) as client:
        assert [t.name for t in (await client.list_tools()).tools] == ["depth"]
        assert (await client.list_prompts()).prompts == []  # no prompt names a tool that is not served
