"""The race and hang cases at each surface a client reaches: MCP, LangChain and the CLI."""

from __future__ import annotations

import os

import anyio
import pytest
from mcp import Client
from pixwizard.mcp_server.server import build_server
from pixwizard.tools import default_registry
from pixwizard.tools.langchain import get_tools

ATTEMPTS = 200
TOOLS = default_registry()


@pytest.mark.anyio
async def test_mcp_read_races(ctx, workspace, flipper):
    leaks = answered = 0
    async with Client(build_server(TOOLS, ctx)) as client:
        with flipper(workspace / "in" / "sub", workspace / "secret"):
            for _ in range(ATTEMPTS):
                with anyio.fail_after(20):
                    result = await client.call_tool(
                        "describe_image", {"image": str(workspace / "in" / "sub" / "photo.png")}
                    )
                answered += 1
                if not result.is_error:
                    leaks += result.structured_content["width"] == 33
    assert answered == ATTEMPTS and leaks == 0


@pytest.mark.anyio
async def test_mcp_write_races(ctx, workspace, flipper):
    """``output_dir`` swapped for a link to the secret folder while results are exported."""
    out = workspace / "out" / "sub"
    out.mkdir()
    async with Client(build_server(TOOLS, ctx)) as client:
        with flipper(out, workspace / "secret"):
            for i in range(ATTEMPTS // 10):  # each call runs the model: fewer calls, each racing its export
                with anyio.fail_after(60):
                    await client.call_tool(
                        "depth",
                        {
                            "image": str(workspace / "in" / "photo.png"),
                            "steps": 2,
                            "seed": i,
                            "output_dir": str(out),
                        },
                    )
    assert sorted(os.listdir(workspace / "secret")) == ["photo.png"]
    from PIL import Image
    from pixwizard.tools import ToolError

    stored = ctx.store.put(Image.new("RGB", (8, 8)))
    again = workspace / "out" / "again"
    again.mkdir()
    with flipper(again, workspace / "secret") as flips:
        for _ in flips.racing(ATTEMPTS):  # the export step alone, 200 times at least
            try:
                ctx.store.export(stored, again)
            except ToolError:  # refused (a race seen mid-walk), or the name is taken: fine, never outside
                pass
    assert sorted(os.listdir(workspace / "secret")) == ["photo.png"]


def test_langchain_read_races(ctx, workspace, flipper):
    tool = get_tools(ctx, include=["describe_image"])[0]
    leaks = 0
    with flipper(workspace / "in" / "sub", workspace / "secret"):
        for i in range(ATTEMPTS):
            message = tool.invoke(
                {
                    "name": "describe_image",
                    "args": {"image": str(workspace / "in" / "sub" / "photo.png")},
                    "id": f"call_{i}",
                    "type": "tool_call",
                }
            )
            if message.status == "success":
                leaks += message.artifact["width"] == 33
    assert leaks == 0


@pytest.mark.anyio
async def test_fifos_never_hang_a_surface(ctx, workspace):
    os.mkfifo(workspace / "in" / "pipe.png")
    fifo = str(workspace / "in" / "pipe.png")
    async with Client(build_server(TOOLS, ctx)) as client:
        with anyio.fail_after(20):
            result = await client.call_tool("depth", {"image": fifo, "steps": 2})
        assert result.is_error and "not a regular file" in result.content[0].text
    message = get_tools(ctx, include=["depth"])[0].invoke(
        {"name": "depth", "args": {"image": fifo, "steps": 2}, "id": "c", "type": "tool_call"}
    )
    assert message.status == "error" and "not a regular file" in message.content
    from typer.testing import CliRunner

    from pixwizard.cli import app

    cli = CliRunner().invoke(app, ["depth", fifo, "--steps", "2", "--store", str(workspace / "store")])
    assert cli.exit_code == 1 and "not a regular file" in cli.output


def test_unknown_arguments_are_refused_on_every_face(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    message = get_tools(ctx, include=["depth"])[0].invoke(
        {"name": "depth", "args": {"image": photo, "stepz": 2}, "id": "c", "type": "tool_call"}
    )
    assert message.status == "error" and "unknown argument stepz" in message.content
    from typer.testing import CliRunner

    from pixwizard.cli import app

    cli = CliRunner().invoke(app, ["depth", photo, "--stepz", "2"])
    assert cli.exit_code == 2 and "No such option" in cli.output and "--stepz" in cli.output
    # MCP: tests/security/test_server.py::test_unknown_and_invalid_arguments_are_refused_in_one_line


def test_cli_output_folder_races(workspace, flipper):
    """``-o`` opened once without following links: 200 writes while it flips to a link to the secret."""
    from pixwizard.tools import ToolError

    from pixwizard.cli._outputs import OutputFolder, ResultFile

    out = workspace / "out" / "sub"
    out.mkdir()
    source = ResultFile(workspace / "in" / "photo.png", "")
    written = 0
    with flipper(out, workspace / "secret") as flips:
        for _ in flips.racing(ATTEMPTS):
            try:
                with OutputFolder(out) as folder:
                    written += len(folder.write("photo_depth", [source]))
            except ToolError as exc:
                assert "symbolic link" in str(exc) or "not a folder" in str(exc) or "cannot" in str(exc)
    assert sorted(os.listdir(workspace / "secret")) == ["photo.png"] and written > 0


def test_the_mcp_command_announces_the_default_model(workspace, monkeypatch):
    from pixwizard.cli import mcp as mcp_cli
    from pixwizard.pipeline.names import choose_model

    monkeypatch.delenv("PIXWIZARD_MODEL", raising=False)
    monkeypatch.setenv("PIXWIZARD_HOME", str(workspace / "home"))
    served = []
    monkeypatch.setattr("pixwizard.mcp_server.transport.serve_stdio", lambda server: served.append(server))
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        mcp_cli_app(mcp_cli), ["--store", str(workspace / "store"), "--allow-dir", str(workspace / "in")]
    )
    assert result.exit_code == 0, result.output
    default = choose_model(None)
    assert default.notice() in result.stderr and served[-1].tctx.backend.model == default.model
    monkeypatch.setenv("PIXWIZARD_MODEL", "tiny-random")
    from_env = CliRunner().invoke(mcp_cli_app(mcp_cli), ["--store", str(workspace / "store")])
    assert from_env.exit_code == 0 and "model: tiny-random (from PIXWIZARD_MODEL)" in from_env.stderr
    assert served[-1].tctx.backend.model == "tiny-random"


def mcp_cli_app(mcp_cli):
    import typer

    app = typer.Typer()
    app.command()(mcp_cli.mcp)
    return app
