"""The workbench MCP App in headless Chromium, hosted by the official AppBridge (issue 13, acceptance 1).

`check_workbench.mjs` serves a test host page (ext-apps' `AppBridge` + the MCP client over streamable
HTTP, on one origin with ``/mcp`` forwarded to a real ``pixwizard mcp --model pixwizard-world``), calls
``ground`` on a PixWorld scene, renders the workbench, paints a stroke with the pointer and runs
``inpaint`` from the app. The checks here read what it saw and saved.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixwizard.world.scenes import render, scene

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("PIXWIZARD_CHROMIUM", "/usr/bin/chromium")
SCENE = (7, 21, 96, 96)  # PixWorld seed, index, width, height: pixwizard-world finds its brown hexagon
TARGET = "the brown hexagon"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory, browser_ready):
    """The driver's report and files, from one session against a real server."""
    root = tmp_path_factory.mktemp("workbench")
    inputs, out, store = root / "in", root / "out", root / "store"
    inputs.mkdir()
    out.mkdir()
    image = inputs / "scene.png"
    render(scene(*SCENE)).convert("RGB").save(image)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PIXWIZARD_MODEL"}
    command = [sys.executable, "-m", "pixwizard", "mcp", "--model", "pixwizard-world"]
    command += ["--allow-dir", str(inputs), "--store", str(store), "--device", "cpu"]
    command += ["--transport", "streamable-http", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd="/")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "the server did not listen within 60 s"
                time.sleep(0.1)
        driver = subprocess.run(
            ["node", str(HERE / "check_workbench.mjs"), f"http://127.0.0.1:{port}/mcp", str(image), TARGET]
            + [str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            env=os.environ | {"PIXWIZARD_CHROMIUM": CHROMIUM},
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert driver.returncode == 0, driver.stderr
    report = json.loads((out / "report.json").read_text())
    assert "failure" not in report, report["failure"]
    return report, out


def _mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L")) > 127


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def _stroke_region(stroke: dict, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies within the brush radius of the polyline the pointer moved along."""
    box, scale = stroke["view_box"], stroke["scale"]
    radius = stroke["size"] / 2 / scale  # the brush's size is in screen pixels
    points = [((x - box["x"]) / scale, (y - box["y"]) / scale) for x, y in stroke["sent"]]
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    region = np.zeros(shape, bool)
    for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length, 0, 1) if length else np.zeros(shape)
        region |= (xs - (ax + t * dx)) ** 2 + (ys - (ay + t * dy)) ** 2 <= radius * radius
    return region


def test_the_workbench_renders_ground_with_its_overlay_on_the_result_mask(run):
    report, out = run
    assert report["errors"] == [] and report["console"] == []
    ground = report["ground"]
    assert ground["found"] and ground["objects"], "pixwizard-world should find the hexagon"
    layout = report["layout"]
    assert layout["kind"] == "ground" and layout["target"] == ground["provenance"]["args"]["image"]
    assert report["host_log"]["initialized"] == 1 and report["host_log"]["toolResults"] == 1
    # The screenshot with the masks shown minus the one without, sampled at each image pixel's centre.
    on = np.asarray(Image.open(out / "view_on.png").convert("RGB")).astype(int)
    off = np.asarray(Image.open(out / "view_off.png").convert("RGB")).astype(int)
    scale, width, height = int(layout["scale"]), int(layout["width"]), int(layout["height"])
    changed = np.abs(on - off).max(axis=-1) > 10
    drawn = changed[scale // 2 :: scale, scale // 2 :: scale][:height, :width]
    truth = _mask(out / "ground_mask.png")
    assert drawn.shape == truth.shape == (height, width)
    assert truth.sum() > 50
    assert _iou(drawn, truth) >= 0.9


def test_a_painted_mask_reaches_the_server_and_inpaint_runs_from_the_app(run):
    report, out = run
    painted = _stroke_region(report["stroke"], (SCENE[3], SCENE[2]))
    received = _mask(out / "received_mask.png")  # the tools/call the server got from the app
    stored = _mask(out / "stored_mask.png")  # what the server stored as the inpaint's mask
    assert painted.sum() > 300
    assert _iou(received, painted) >= 0.95
    assert _iou(stored, painted) >= 0.95
    assert report["app_calls"][0] == {"name": "inpaint", "keys": ["image", "mask", "caption"]}
    scene_id = report["ground"]["provenance"]["args"]["image"]
    assert report["received_args"]["image"] == scene_id
    # The view shows the new result with the previous image as its parent, in the lineage too.
    after = report["after"]
    assert after["kind"] == "inpaint" and after["image"] != report["layout"]["image"]
    assert after["parent"] == scene_id
    assert report["history"]["steps"][0]["tool"] == "inpaint"
    current = [node for node in report["lineage"] if node["current"]]
    assert [node["image"] for node in current] == [after["image"]]
    assert scene_id in current[0]["parents"]
    assert report["slider_visible"]


def test_the_selection_is_told_to_the_model_and_the_view_follows_the_host_theme(run):
    report, _ = run
    told = [m for m in report["model_context"] if m["structuredContent"]["selection"]][-1]
    selection = told["structuredContent"]["selection"]
    # The inpaint result replaced the image: the model hears that the selection on the scene was cleared.
    last = report["model_context"][-1]
    assert last["structuredContent"]["selection"] is None and "was cleared" in last["content"][0]["text"]
    assert report["ground"]["provenance"]["args"]["image"] in last["content"][0]["text"]
    assert selection["kind"] == "mask" and selection["pixels"] > 300
    assert "painted mask" in told["content"][0]["text"]
    assert told["structuredContent"]["image"] == report["ground"]["provenance"]["args"]["image"]
    assert report["theme_light"] == "light" and report["theme_dark"] == "dark"
    assert report["host_log"]["sizes"], "the view reports its size"
    assert {"ground", "inpaint", "remove_object", "run_plan"} <= set(report["tool_meta"])


def test_steering_new_seed_parent_lineage_readouts_a_dragged_box_and_a_plan(run):
    report, out = run
    steer = report["steer"]
    scene_id = report["ground"]["provenance"]["args"]["image"]
    # New seed: regenerate on the inpaint result, from the app; the new image has the same parent.
    (call,) = [c for c in steer["regenerate_calls"] if c["name"] == "regenerate"]
    assert call["image"] == report["after"]["image"] and isinstance(call["seed"], int)
    assert steer["regenerated"]["image"] not in (report["after"]["image"], scene_id)
    assert steer["regenerated"]["parent"] == scene_id
    # Back to the parent, which is an input (nothing further back); a lineage node shows its image.
    assert steer["back"]["image"] == scene_id and steer["back_disabled"]
    assert steer["lineage_click"]["image"] == scene_id
    assert steer["depth_by_id"]["kind"] == "image" and steer["depth_by_id"]["parent"] == scene_id
    # Depth: a value under the pointer; segment: the legend's classes with their areas.
    assert steer["depth"]["parent"] == scene_id
    assert re.fullmatch(r"\(\d+, \d+\) depth [01]\.\d{3} \(1 = nearest\)", steer["depth_readout"])
    assert steer["legend"] and all(re.search(r"\d+\.\d%$", row) for row in steer["legend"])
    # The dragged box is the region remove_object received (pixel for pixel), and the view shows its result.
    drag = steer["drag"]
    origin, scale = drag["view_box"], drag["scale"]
    (x0, y0), (x1, y1) = [
        ((x - origin["x"]) / scale, (y - origin["y"]) / scale) for x, y in (drag["from"], drag["to"])
    ]
    box = np.zeros((SCENE[3], SCENE[2]), bool)  # every pixel the dragged rectangle touches
    box[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
    region = _mask(out / "box_region.png")
    assert steer["box_selected"] == box.sum() and _iou(region, box) >= 0.95
    assert steer["remove_args"]["image"] == scene_id and steer["remove_args"]["target"] == TARGET
    assert steer["removed"]["kind"] == "recipe" and steer["removed"]["parent"] == scene_id
    # A plan: every step's image, in order, loaded; clicking a step shows it.
    planned = [step["images"][0] for step in steer["plan_steps"]]
    assert [s["tool"] for s in steer["plan_steps"]] == ["restore", "depth"]
    assert [f["image"] for f in steer["strip"]] == planned
    assert [f["caption"] for f in steer["strip"]] == ["1 restore", "2 depth"]
    assert all(f["loaded"] for f in steer["strip"])
    assert steer["strip_click"]["image"] == planned[0]
    # The plan's strip stays while one of its steps is shown, that step marked.
    assert steer["strip_after_click"] == [
        {"image": planned[0], "current": True},
        {"image": planned[1], "current": False},
    ]
