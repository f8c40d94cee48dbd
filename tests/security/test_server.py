"""The MCP server under hostile or heavy use: argument checks, sessions, message limits, tokens, memory,
and a status resource that answers while a large result is being prepared."""

from __future__ import annotations

import json
import os
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib

import anyio
import httpx
import pytest
from mcp import Client
from pixwizard.mcp_server.server import build_server
from pixwizard.mcp_server.transport import BoundedLines, Guard, http_app
from pixwizard.tools import default_registry

pytestmark = pytest.mark.anyio
TOOLS = default_registry()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zero_png(width: int, height: int, mode: int = 2) -> bytes:
    """A real PNG of zeros (compresses ~1000:1: a small file that decodes to width×height×3 bytes)."""
    row = b"\0" * (1 + width * (3 if mode == 2 else 1))
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _ico_bomb(side: int = 13_000) -> bytes:
    """An ICO whose one entry is a PNG declaring side² pixels (169 MP for 13000)."""
    png = _zero_png(side, side, mode=0)
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return header + entry + png


async def test_unknown_and_invalid_arguments_are_refused_in_one_line(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    async with Client(build_server(TOOLS, ctx)) as client:
        unknown = await client.call_tool("depth", {"image": photo, "stepz": 2})
        assert unknown.is_error and "unknown argument stepz" in unknown.content[0].text
        bad = await client.call_tool("ground", {"image": photo, "referring": "x", "mode": "sideways"})
        text = bad.content[0].text
        assert bad.is_error and "invalid mode='sideways'" in text and "'mask'" in text and "\n" not in text
        low = await client.call_tool("depth", {"image": photo, "steps": 1})
        assert low.is_error and "invalid steps=1" in low.content[0].text and "\n" not in low.content[0].text
    assert ctx.backend.intervals == []


async def test_each_session_sees_only_its_own_jobs(ctx, workspace):
    server = build_server(TOOLS, ctx)
    photo = str(workspace / "in" / "photo.png")
    async with Client(server, mode="legacy") as alice, Client(server, mode="legacy") as bob:
        queued = await alice.call_tool("start_job", {"tool": "depth", "args": {"image": photo, "steps": 2}})
        job_id = queued.structured_content["job_id"]
        seen_by_bob = json.loads((await bob.read_resource("pixwizard://status")).contents[0].text)
        seen_by_alice = json.loads((await alice.read_resource("pixwizard://status")).contents[0].text)
        assert job_id in seen_by_alice["jobs"] and job_id not in seen_by_bob["jobs"]
        assert seen_by_bob["jobs_of_other_sessions"] == 1
        stolen = await bob.call_tool("job_cancel", {"job_id": job_id})
        assert stolen.is_error and "no job" in stolen.content[0].text
        ctx.backend.job(job_id, ctx.backend.jobs[job_id].owner).future.result(timeout=60)
        assert not (await alice.call_tool("job_result", {"job_id": job_id})).is_error


async def test_status_answers_while_a_2048_result_is_being_prepared(ctx):
    """Probes run on a schedule while the large call runs; each is timed from when it was due.

    The in-process client shares the server's event loop, so a probe cannot even start while the loop is
    blocked: timing it from its scheduled moment is what shows a block (the old preview blocked it ~46 s).
    """
    server = build_server(TOOLS, ctx)
    probes, done = [], anyio.Event()
    async with Client(server) as worker, Client(server) as watcher:
        # Load the model first, so the probes measure the large call and not the first load.
        await worker.call_tool("text_to_image", {"caption": "warm up", "width": 64, "height": 64, "steps": 2})

        async def big():
            result = await worker.call_tool(
                "text_to_image", {"caption": "a big one", "width": 2048, "height": 2048, "steps": 2}
            )
            assert not result.is_error
            done.set()

        async with anyio.create_task_group() as group:
            group.start_soon(big)
            due = time.perf_counter() + 0.3
            while not done.is_set() or len(probes) < 5:
                await anyio.sleep(max(0.0, due - time.perf_counter()))
                await watcher.read_resource("pixwizard://status")
                probes.append(time.perf_counter() - due)
                due += 0.3
    print(f"status probes (s from due): {[round(p, 3) for p in probes]}")
    assert len(probes) >= 5 and statistics.median(probes) <= 1.0 and max(probes) < 3.0, probes


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_six_concurrent_hostile_inputs_stay_within_500_mb(ctx, workspace):
    inputs = {
        "bomb.ico": _ico_bomb(),
        "huge.png": _zero_png(20_000, 20_000)[:400],  # a header that declares 400 MP
        "zeros1.png": _zero_png(6200, 6200),  # 38 MP: within the limit, decoded for real
        "zeros2.png": _zero_png(6200, 6200),
        "zeros3.png": _zero_png(6200, 6200),
    }
    for name, data in inputs.items():
        (workspace / "in" / name).write_bytes(data)
    os.mkfifo(workspace / "in" / "pipe.png")
    names = [*inputs, "pipe.png"]
    server = build_server(TOOLS, ctx)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.005)

    async with Client(server) as client:
        await client.call_tool("describe_image", {"image": str(workspace / "in" / "photo.png")})
        idle = _rss()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        answers = {}

        async def one(name):
            result = await client.call_tool("describe_image", {"image": str(workspace / "in" / name)})
            answers[name] = result

        with anyio.fail_after(120):  # no call that never answers
            async with anyio.create_task_group() as group:
                for name in names:
                    group.start_soon(one, name)
        stop.set()
        sampler.join()
        after = _rss()
    rise, kept = (peak[0] - idle) / 2**20, (after - idle) / 2**20
    print(f"memory MiB: idle {idle / 2**20:.0f}, peak +{rise:.0f}, after +{kept:.0f}")
    assert answers["bomb.ico"].is_error and "supported format" in answers["bomb.ico"].content[0].text
    assert answers["huge.png"].is_error and "400 MP" in answers["huge.png"].content[0].text
    assert answers["pipe.png"].is_error and "not a regular file" in answers["pipe.png"].content[0].text
    assert answers["zeros1.png"].structured_content["width"] == 6200
    assert peak[0] - idle <= 500 * 2**20, (idle / 2**20, peak[0] / 2**20)
    assert after - idle <= 300 * 2**20, (idle / 2**20, after / 2**20)  # and it does not stay there


# -- message limits -------------------------------------------------------------------------------


def test_an_oversized_stdio_line_is_answered_under_its_id_without_being_kept():
    import io

    huge = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"depth","arguments":{"image":"'
    huge += b"A" * (3 * 2**20) + b'"}}}\n'
    stream = io.BytesIO(huge + b'{"jsonrpc":"2.0","id":8,"method":"ping"}\n')
    lines = BoundedLines(stream, limit=2**20)
    first = json.loads(lines._next_line())
    assert first["id"] == 7 and first["params"]["arguments"]["pixwizard/request_too_large"]["bytes"] == len(
        huge
    )
    assert json.loads(lines._next_line())["method"] == "ping"  # the next message is read normally
    assert lines._next_line() is None


def _serve_stdio(workspace):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pixwizard.mcp_server",
            "--allow-dir",
            str(workspace / "in"),
            "--store",
            str(workspace / "store"),
            "--device",
            "cpu",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _send(proc, message: dict | bytes) -> None:
    proc.stdin.write(message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_stdio_refuses_a_200_mb_request_naming_the_limit(workspace):
    proc = _serve_stdio(workspace)
    try:
        _send(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            },
        )
        assert json.loads(proc.stdout.readline())["id"] == 1
        _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        before = _peak_rss(proc.pid)
        head = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"depth",'
        head += b'"arguments":{"image":"data:image/png;base64,'
        proc.stdin.write(head)
        block = b"A" * 2**20
        for _ in range(200):
            proc.stdin.write(block)
        _send(proc, b'"}}}\n')
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 2 and answer["result"]["isError"]
        text = answer["result"]["content"][0]["text"]
        assert "16 MiB limit of the stdio transport" in text and "200 MiB" in text
        assert _peak_rss(proc.pid) - before < 100 * 2**20
        _send(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {
                    "name": "describe_image",
                    "arguments": {"image": str(workspace / "in" / "photo.png")},
                },
            },
        )
        described = json.loads(proc.stdout.readline())
        assert described["id"] == 3 and described["result"]["structuredContent"]["width"] == 80
    finally:
        proc.kill()
        proc.wait()


async def test_http_refuses_an_oversized_body_naming_the_limit(ctx):
    app = Guard(_never_called, token=None, limit=2**20)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.post("/mcp", content=b"x" * (2**20 + 1))
        assert answer.status_code == 413
        assert "limit of the streamable-http transport" in answer.json()["error"]["message"]

        async def chunks():  # no Content-Length: counted while it streams
            for _ in range(3):
                yield b"x" * 2**19

        streamed = await client.post("/mcp", content=chunks())
        assert streamed.status_code == 413


async def _never_called(scope, receive, send):
    raise AssertionError("the guard should have answered")


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_a_token_is_required_when_one_is_set(ctx):
    assert isinstance(http_app(build_server(TOOLS, ctx), host="0.0.0.0", token="s3cret"), Guard)
    app = Guard(_ok, token="s3cret", limit=2**20)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            answer = await client.post(
                "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers
            )
            assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
        passed = await client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": "Bearer s3cret"},
        )
        assert passed.status_code == 200


def test_serving_off_loopback_without_a_token_is_refused(workspace):
    env = {k: v for k, v in os.environ.items() if k != "PIXWIZARD_TOKEN"}
    command = [
        sys.executable,
        "-m",
        "pixwizard",
        "mcp",
        "--transport",
        "streamable-http",
        "--host",
        "0.0.0.0",
    ]
    command += ["--store", str(workspace / "store")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)  # never serves
    assert result.returncode == 1 and "--token" in result.stderr and "PIXWIZARD_TOKEN" in result.stderr
