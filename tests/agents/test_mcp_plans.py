"""Plans over MCP stdio: plan then run_plan with per-step progress; run_plan as a job; tool selection."""

from __future__ import annotations

import sys

import anyio
import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


def _server(workspace, *extra: str) -> StdioServerParameters:
    args = ["-m", "pixwizard.mcp_server", "--model", "tiny-random", "--allow-dir", str(workspace / "in")]
    args += ["--store", str(workspace / "store"), "--device", "cpu", *extra]
    return StdioServerParameters(command=sys.executable, args=args, cwd="/")


async def test_plan_then_run_plan_with_progress_then_as_a_job(workspace):
    photo = str(workspace / "in" / "photo.png")
    async with Client(_server(workspace)) as client:
        planned = await client.call_tool(
            "plan", {"request": "denoise it, then estimate the depth", "inputs": 1}
        )
        assert not planned.is_error, planned.content[0].text
        plan = planned.structured_content["plan"]
        assert [s["tool"] for s in plan["steps"]] == ["restore", "depth"]
        assert planned.structured_content["model_calls"] == 2
        for step in plan["steps"]:
            step["args"]["steps"] = 3
        seen: list[tuple[float, float]] = []

        async def on_progress(progress, total, message):
            seen.append((progress, total))

        ran = await client.call_tool(
            "run_plan", {"plan": plan, "images": [photo]}, progress_callback=on_progress
        )
        assert not ran.is_error, ran.content[0].text
        out = ran.structured_content
        assert out["status"] == "done" and [s["status"] for s in out["steps"]] == ["done", "done"]
        assert out["image"]["id"] == out["steps"][1]["output"]["image"]["id"]
        assert {t for _, t in seen} == {2.0}
        # per plan step: 0 .. 1 during restore (two sampling steps of K=2), then 1 .. 2 during depth
        values = [p for p, _ in seen]
        assert values == sorted(values) and values[0] == 0 and values[-1] == 2
        assert any(0 < v < 1 for v in values) and any(1 < v < 2 for v in values)

        started = await client.call_tool(
            "start_job", {"tool": "run_plan", "args": {"plan": plan, "images": [photo]}}
        )
        assert not started.is_error, started.content[0].text
        job = started.structured_content
        assert job["tool"] == "run_plan" and job["status"] in ("queued", "running")
        status = job["status"]
        with anyio.fail_after(120):
            while status in ("queued", "running"):
                await anyio.sleep(0.2)
                status = (await client.call_tool("job_status", {"job_id": job["job_id"]})).structured_content[
                    "status"
                ]
        assert status == "done"
        result = (await client.call_tool("job_result", {"job_id": job["job_id"]})).structured_content
        assert result["result"]["status"] == "done" and len(result["result"]["steps"]) == 2
        schema = await client.read_resource("pixwizard://plan-schema")
        assert '"steps"' in schema.contents[0].text


async def test_the_tool_selection_flags(workspace):
    async with Client(_server(workspace, "--tools", "depth,plan,run_plan,crop")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert names == {"depth", "plan", "run_plan", "crop"}
    async with Client(_server(workspace, "--exclude-tools", "edit,remove_object")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        refused = await client.call_tool("edit", {"image": "x.png", "instruction": "x"})
    assert "edit" not in names and "remove_object" not in names and "depth" in names
    assert refused.is_error
