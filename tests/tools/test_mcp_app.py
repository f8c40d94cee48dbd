"""The workbench MCP App: how it is offered, what it is, and that clients without Apps see no difference."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from mcp import Client
from mcp.client.extension import advertise
from PIL import Image
from pixwizard.mcp_server.app import CSP, WORKBENCH_URI, shows_image, workbench_html
from pixwizard.mcp_server.server import build_server
from pixwizard.tools import default_registry, make_context

pytestmark = pytest.mark.anyio

TOOLS = default_registry()
APPS = "io.modelcontextprotocol/ui"
APP_MIME = "text/html;profile=mcp-app"


def _context(workspace, store: str):
    return make_context(
        "tiny-random", store_dir=workspace / store, allow_dirs=[workspace / "in"], device="cpu"
    )


def _comparable(result, store) -> tuple[list[str], str, list[bytes]]:
    """A tool result without what differs between two runs of the same call.

    Stored images get fresh random ids and every call its own timings and run id; ids are renamed in
    order of appearance, the store's folder is named STORE, and the stored pixels are compared instead
    of their paths (with the preview's bytes).
    """
    out = dict(result.structured_content)
    out["provenance"] = {k: v for k, v in out["provenance"].items() if k not in ("timings", "run_id")}
    pixels = [Image.open(out["image"].pop("path")).tobytes()]
    pixels += [base64.b64decode(block.data) for block in result.content if block.type == "image"]
    texts = [block.text for block in result.content if block.type == "text"]
    text = "\n".join([json.dumps(out, sort_keys=True), *texts]).replace(str(store), "STORE")
    text = re.sub(r'"timings": ?\{[^}]*\},?', "", text)  # in the text block's copy of the result
    names: dict[str, str] = {}
    text = re.sub(r"(img|run)_[0-9a-f]{12,32}", lambda m: names.setdefault(m[0], f"#{len(names)}"), text)
    return [block.type for block in result.content], text, pixels


async def test_image_tools_name_the_workbench_and_the_rest_do_not(ctx):
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    with_app = {name for name, tool in tools.items() if (tool.meta or {}).get("ui")}
    for name in ("ground", "segment", "depth", "inpaint", "remove_object", "replace_object", "add_object"):
        assert name in with_app, name
    assert {"run_plan", "restore_then", "regenerate"} <= with_app
    assert not {"describe_image", "plan", "history", "job_status"} & with_app
    assert with_app == {spec.name for spec in TOOLS if shows_image(spec)}
    assert all(tools[name].meta["ui"] == {"resourceUri": WORKBENCH_URI} for name in with_app)


async def test_a_client_without_apps_gets_what_it_got_before(workspace):
    """Same calls on a server with and without the workbench: identical tools (but ``_meta``) and results."""
    photo = str(workspace / "in" / "photo.png")
    calls = [
        ("depth", {"image": photo, "steps": 3}),
        ("ground", {"image": photo, "referring": "the bright centre", "steps": 3}),
        ("inpaint", {"image": photo, "mask": str(workspace / "in" / "mask.png"), "steps": 3}),
    ]
    seen = {}
    for workbench, store in ((False, "plain"), (True, "app")):
        server = build_server(TOOLS, _context(workspace, store), workbench=workbench)
        async with Client(server, raise_exceptions=True) as client:
            listed = (await client.list_tools()).tools
            resources = [r.uri for r in (await client.list_resources()).resources]
            results = [
                _comparable(await client.call_tool(name, args), workspace / store) for name, args in calls
            ]
        tools = [tool.model_dump(exclude={"meta"}) for tool in listed]
        seen[workbench] = tools, [str(uri) for uri in resources], results
    assert seen[True][0] == seen[False][0]
    assert seen[True][2] == seen[False][2]
    assert sorted(seen[True][1]) == sorted(seen[False][1] + [WORKBENCH_URI])
    kinds, text, _ = seen[True][2][0]
    assert "image" in kinds and "resource_link" in kinds and '"model": "tiny-random"' in text


async def test_a_client_with_apps_reads_the_workbench_and_gets_the_same_results(workspace):
    photo = str(workspace / "in" / "photo.png")
    call = ("depth", {"image": photo, "steps": 3})
    results = []
    for extensions, store in (([advertise(APPS, {"mimeTypes": [APP_MIME]})], "app"), (None, "plain")):
        server = build_server(TOOLS, _context(workspace, store))
        async with Client(server, raise_exceptions=True, extensions=extensions) as client:
            results.append(_comparable(await client.call_tool(*call), workspace / store))
            if extensions:
                read = await client.read_resource(WORKBENCH_URI)
    assert results[0] == results[1]
    (content,) = read.contents
    assert content.mime_type == APP_MIME and content.text == workbench_html()
    ui = content.meta["ui"]
    assert ui["csp"]["connectDomains"] == [] and ui["csp"]["resourceDomains"] == []


def test_the_workbench_is_one_self_contained_document():
    html = workbench_html()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert f'content="{CSP}"' in html and "default-src 'none'" in CSP and "connect-src 'none'" in CSP
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    style = html[html.index("<style") : html.index("</style>")]
    assert not re.search(r"@import|url\(\s*['\"]?(?!data:)", style, re.I)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "{{" not in html and "/*{{" not in html  # every placeholder was filled
    assert html.count("<script") == 2 and html.count("<style") == 1


async def test_remove_object_on_a_painted_region(ctx, workspace):
    """The workbench passes a painted mask as ``region``: the recipe fills exactly there, nothing else."""
    photo = workspace / "in" / "photo.png"
    region = np.zeros((60, 80), np.uint8)
    region[10:30, 5:25] = 255
    Image.fromarray(region).save(workspace / "in" / "painted.png")
    args = {"image": str(photo), "target": "the dark corner", "region": str(workspace / "in" / "painted.png")}
    async with Client(build_server(TOOLS, ctx), raise_exceptions=True) as client:
        result = await client.call_tool("remove_object", {**args, "steps": 3, "retries": 0})
        assert not result.is_error, result.content[0].text
        out = result.structured_content
        empty = np.zeros_like(region)
        Image.fromarray(empty).save(workspace / "in" / "empty.png")
        empty_region = {**args, "region": str(workspace / "in" / "empty.png")}
        refused = await client.call_tool("remove_object", empty_region)
    assert refused.is_error and "the region mask is empty" in refused.content[0].text
    assert out["found"] and not any(step["tool"] == "ground" for step in out["intermediates"])
    before = np.asarray(Image.open(photo).convert("RGB"), np.int16)
    after = np.asarray(Image.open(out["image"]["path"]).convert("RGB"), np.int16)
    changed = np.abs(after - before).max(axis=2) > 0
    assert changed.any() and not changed[region == 0].any()
    assert out["changed_outside"] == 0
