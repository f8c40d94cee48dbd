"""The workbench: an MCP App (``io.modelcontextprotocol/ui``) that shows and steers image results.

Hosts that support MCP Apps render ``ui://pixwizard/workbench`` beside the result of every tool that
returns an image. The workbench is one HTML document assembled here from the files in ``workbench/``
(CSS and JavaScript inlined, nothing fetched), with a CSP that allows nothing beyond itself: images come
through the host's ``resources/read`` as ``data:`` URLs. A client that does not negotiate Apps sees the
same tools with one more ``_meta`` key and gets exactly the results it got before.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from mcp.server.apps import Apps, ResourceCsp
from pixwizard.tools import ToolSpec

from pixwizard import __version__

WORKBENCH_URI = "ui://pixwizard/workbench"
# Declared in the document too, so a host that ignores ``_meta.ui.csp`` still confines it.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
    "connect-src 'none'; font-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'"
)
_PARTS = ("workbench.css", "bridge.js", "workbench.js")


def shows_image(spec: ToolSpec) -> bool:
    """Whether a tool's result has an image for the workbench (every image tool, recipe and plan run)."""
    return "image" in spec.output_model.model_fields


@functools.cache
def workbench_html() -> str:
    """The workbench as one self-contained document (read once per process)."""
    folder = resources.files("pixwizard.mcp_server").joinpath("workbench")
    page = folder.joinpath("index.html").read_text(encoding="utf-8")
    parts = {name: folder.joinpath(name).read_text(encoding="utf-8") for name in _PARTS}
    for name, text in parts.items():
        if "</script" in text.lower() or "</style" in text.lower():
            raise ValueError(f"workbench/{name} closes its own element; it cannot be inlined")
    return (
        page.replace("{{CSP}}", CSP)
        .replace("{{VERSION}}", json.dumps(__version__))
        .replace("/*{{CSS}}*/", parts["workbench.css"])
        .replace("/*{{BRIDGE}}*/", parts["bridge.js"])
        .replace("/*{{WORKBENCH}}*/", parts["workbench.js"])
    )


def workbench_meta() -> dict:
    """The ``_meta`` of a tool the workbench shows: ``ui.resourceUri``, as `Apps.tool` stamps it.

    The server adds every tool itself, in the registry's order; tools registered through `Apps.tool`
    would be listed before all others, since the SDK adds an extension's tools when the server is built.
    """
    return {"ui": {"resourceUri": WORKBENCH_URI}}


def workbench_apps() -> Apps:
    """The Apps extension: it serves the workbench resource and advertises the capability."""
    apps = Apps()
    apps.add_html_resource(
        WORKBENCH_URI,
        workbench_html(),
        name="workbench",
        title="PixWizard workbench",
        description="Shows an image result with what it means (masks, boxes, classes, depth, lineage) and "
        "lets a person paint a mask or drag a box and run inpaint or an object edit on it.",
        csp=ResourceCsp(connect_domains=[], resource_domains=[]),
        prefers_border=True,
    )
    return apps
