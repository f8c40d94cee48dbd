"""Cancellation, jobs and the store's guarantees, through the tool functions."""

from __future__ import annotations

import threading
import time

import pytest
from pixwizard.tools import ToolError, default_registry, invoke

TOOLS = default_registry()


def _files(ctx):
    return sorted(p.name for p in ctx.store.root.iterdir())


def test_cancelled_call_stops_within_one_step_and_writes_nothing(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    invoke(TOOLS.get("describe_image"), {"image": photo}, ctx)  # ingest the input first
    before = _files(ctx)
    cancel = threading.Event()
    steps = []

    def progress(step, total):
        steps.append(step)
        if step == 3:
            cancel.set()

    with pytest.raises(ToolError, match="cancelled"):
        invoke(
            TOOLS.get("restore"), {"image": photo, "problem": "deblur", "steps": 50}, ctx, progress, cancel
        )
    assert steps[-1] <= 4  # stopped within one step of the request
    assert _files(ctx) == before
    assert ctx.backend.active == 0
    assert (
        invoke(TOOLS.get("depth"), {"image": photo, "steps": 2}, ctx).image is not None
    )  # the lock was released


def test_job_cancel(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    invoke(TOOLS.get("describe_image"), {"image": photo}, ctx)
    before = _files(ctx)
    queued = invoke(
        TOOLS.get("start_job"),
        {"tool": "restore", "args": {"image": photo, "problem": "deblur", "steps": 200}},
        ctx,
        registry=TOOLS,
    )
    assert queued.tool == "restore" and queued.status in ("queued", "running")
    job = ctx.backend.job(queued.job_id)
    for _ in range(400):
        if job.progress and job.progress[0] >= 2:
            break
        time.sleep(0.01)
    view = invoke(TOOLS.get("job_cancel"), {"job_id": queued.job_id}, ctx)
    assert view.job_id == queued.job_id
    job.future.exception(timeout=60)
    assert invoke(TOOLS.get("job_status"), {"job_id": queued.job_id}, ctx).status == "cancelled"
    assert job.progress[0] < 200 and _files(ctx) == before
    with pytest.raises(ToolError, match="no job"):
        invoke(TOOLS.get("job_status"), {"job_id": "job_nope"}, ctx)


def test_data_uri_input_and_lineage(ctx, workspace):
    import base64

    data = base64.b64encode((workspace / "in" / "photo.png").read_bytes()).decode()
    out = invoke(
        TOOLS.get("edit"),
        {"image": f"data:image/png;base64,{data}", "instruction": "add a moon", "steps": 2},
        ctx,
    )
    described = invoke(TOOLS.get("describe_image"), {"image": out.image.uri}, ctx)
    assert (
        described.parents == out.provenance.parents
        and described.lineage[0]["id"] == out.provenance.parents[0]
    )
    with pytest.raises(ToolError, match="base64"):
        invoke(TOOLS.get("depth"), {"image": "data:image/png,abc"}, ctx)


def test_ground_mask_feeds_inpaint(ctx, workspace, ideal_grounding):
    photo = str(workspace / "in" / "photo.png")
    found = invoke(TOOLS.get("ground"), {"image": photo, "referring": "the bright centre", "steps": 2}, ctx)
    assert found.found and len(found.objects) == 1
    obj = found.objects[0]
    out = invoke(
        TOOLS.get("inpaint"), {"image": photo, "mask": obj.mask.id, "caption": "a window", "steps": 2}, ctx
    )
    assert out.changed_fraction == pytest.approx(obj.area / 4800) and out.similarity_outside == 1.0


def test_broad_allow_dir_needs_the_flag(tmp_path):
    from pathlib import Path

    from pixwizard.tools import make_context

    with pytest.raises(ToolError, match="allow-broad-dir"):
        make_context(store_dir=tmp_path / "s", allow_dirs=["/"])
    assert make_context(
        store_dir=tmp_path / "s", allow_dirs=["/"], allow_broad_dir=True
    ).store.access.read_dirs == [Path("/")]


def test_network_urls_refuse_private_addresses(ctx):
    ctx.store.access.allow_network = True
    for url in ("http://127.0.0.1/a.png", "http://localhost:8000/x.png", "http://10.0.0.1/a.png"):
        with pytest.raises(ToolError, match="non-public address"):
            invoke(TOOLS.get("describe_image"), {"image": url}, ctx)


def test_importing_and_listing_the_tools_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, pixwizard.tools as t; r = t.default_registry(); "
        "assert {'depth', 'start_job', 'compare', 'run_instruction', 'run_plan'} <= set(r.names), r.names; "
        "[(s.input_model.model_json_schema(), s.output_model.model_json_schema()) for s in r]; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
