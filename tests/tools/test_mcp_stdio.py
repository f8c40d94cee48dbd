"""The MCP server over stdio, started as `python -m pixwizard.mcp_server` (the path MCP hosts use)."""

from __future__ import annotations

import sys

import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_lists_and_calls(workspace, tool_calls, mode):
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "pixwizard.mcp_server",
            "--model",
            "tiny-random",
            "--allow-dir",
            str(workspace / "in"),
            "--store",
            str(workspace / "store"),
            "--device",
            "cpu",
        ],
        cwd="/",
    )
    async with Client(params, mode=mode) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {
            "restore",
            "ground",
            "segment",
            "depth",
            "edit",
            "control_generate",
            "inpaint",
            "outpaint",
            "text_to_image",
            "annotate",
            "run_instruction",
            "describe_image",
            "start_job",
            "crop",
            "compare",
            "remove_object",
            "plan",
            "run_plan",
        } <= tools
        result = await client.call_tool("depth", {"image": str(workspace / "in" / "photo.png"), "steps": 3})
        assert not result.is_error, result.content[0].text
        uri = result.structured_content["image"]["uri"]
        assert (await client.read_resource(uri)).contents[0].mime_type == "image/png"
        refused = await client.call_tool("depth", {"image": "/etc/hostname"})
        assert refused.is_error and "outside the allowed folders" in refused.content[0].text
        prompt = await client.get_prompt("remove_object", {"image": "img_0123456789ab", "target": "the cat"})
        assert "the remove_object tool" in prompt.messages[0].content.text
        if mode == "auto":
            for name, extra in tool_calls.items():  # every tool over stdio too
                args = {"image": str(workspace / "in" / "photo.png"), "steps": 2, **extra}
                if name == "inpaint":
                    args["mask"] = str(workspace / "in" / "mask.png")
                if name == "text_to_image":
                    args.pop("image")
                called = await client.call_tool(name, args)
                assert not called.is_error, (name, called.content[0].text)
                assert called.structured_content["provenance"]["task"]


async def test_started_from_root_without_allow_dir_refuses_etc_hostname(tmp_path):
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "pixwizard.mcp_server",
            "--model",
            "tiny-random",
            "--store",
            str(tmp_path / "store"),
            "--device",
            "cpu",
        ],
        cwd="/",
    )
    async with Client(params) as client:
        for reference in ("/etc/hostname", "etc/hostname", "file:///etc/hostname"):
            result = await client.call_tool("describe_image", {"image": reference})
            assert result.is_error and (
                "outside the allowed folders" in result.content[0].text
                or "does not exist" in result.content[0].text
            )
        assert (
            await client.call_tool(
                "text_to_image", {"caption": "a dot", "width": 64, "height": 64, "steps": 2}
            )
        ).is_error is False


async def test_streamable_http_on_loopback(workspace):
    import socket
    import subprocess

    import anyio

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pixwizard",
            "mcp",
            "--transport",
            "streamable-http",
            "--port",
            str(port),
            "--store",
            str(workspace / "store"),
            "--allow-dir",
            str(workspace / "in"),
            "--device",
            "cpu",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd="/",
    )
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await anyio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            assert "depth" in {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("describe_image", {"image": str(workspace / "in" / "photo.png")})
            assert not result.is_error and result.structured_content["width"] == 80
    finally:
        server.terminate()
        server.wait(timeout=30)
