"""The executor: per-step progress, stopping at the first failure, exact resume, cancellation, dry runs."""

from __future__ import annotations

import json
import threading

from pixwizard.agents.executor import RECORD_VERSION, count_model_calls, execute
from pixwizard.agents.validate import validate_plan

PLAN = {
    "steps": [
        {"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise", "steps": 3}},
        {
            "id": "s2",
            "tool": "ground",
            "args": {"image": "$s1.image", "referring": "the red car", "steps": 3},
        },
        {
            "id": "s3",
            "tool": "inpaint",
            "args": {"image": "$s1.image", "mask": "$s2.objects.0.mask", "steps": 3},
        },
        {"id": "s4", "tool": "depth", "args": {"image": "$s3.image", "steps": 3}},
    ]
}


def _photo(workspace) -> str:
    return str(workspace / "in" / "photo.png")


def test_a_plan_runs_with_lineage_and_progress_per_plan_step(ctx, registry, scripted, workspace, kit):
    answers = {"ground_mask": kit.red_mask, "denoise": lambda image: image}  # a perfect model
    scripted(lambda task, seed, image: answers[task](image) if task in answers else None)
    seen: list[tuple[float, float]] = []
    run = execute(PLAN, registry, ctx, [_photo(workspace)], progress=lambda d, t: seen.append((d, t)))
    assert run.status == "done" and run.model_calls == 4, run.error
    assert [s.status for s in run.steps] == ["done"] * 4
    assert {t for _, t in seen} == {4}
    # sampling step k of K=2 inside plan step i reports i - 1 + k/K
    assert [d for d, _ in seen if d < 1] == [0.0, 0.5] and 1.5 in [d for d, _ in seen]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # every output has provenance with the run and step ids, and the last image's lineage reaches the input
    for step in run.steps:
        prov = step.output["provenance"]
        assert (prov["run_id"], prov["step_id"]) == (run.run_id, step.id)
        assert not any(str(v).startswith("$") for v in prov["args"].values())
    inpaint = run.steps[2].output["provenance"]["args"]
    assert inpaint["mask"] == run.steps[1].output["objects"][0]["mask"]["id"]
    assert inpaint["image"] == run.steps[0].output["image"]["id"]
    ancestors = [a["id"] for a in run.lineage]
    assert run.steps[2].output["image"]["id"] in ancestors and run.steps[0].output["image"]["id"] in ancestors
    record = ctx.store.get_run(run.run_id)
    assert record["version"] == RECORD_VERSION and record["status"] == "done"


def test_failure_at_step_k_then_resume_runs_only_k_to_n(ctx, registry, scripted, workspace, kit):
    # tiny-random's own grounding finds nothing, so step 3 cannot get a mask: the run stops there
    pipe = scripted(lambda task, seed, image: None)
    run = execute(PLAN, registry, ctx, [_photo(workspace)])
    assert run.status == "failed" and run.failed_index == 3 and run.failed_step == "s3"
    assert "step 3 (s3, inpaint)" in run.error and "objects" in run.error and "empty" in run.error
    assert [s.status for s in run.steps] == ["done", "done", "failed", "pending"]
    assert run.model_calls == 2
    record = json.loads((ctx.store.root / f"{run.run_id}.run.json").read_text())
    assert [s["status"] for s in record["steps"]] == ["done", "done", "failed", "pending"]

    # the record keeps step 2's output: resuming re-runs step 3 on, not grounding. Make step 2's stored
    # answer usable by re-running it once with a model that finds the car, then resume from step 3.
    pipe.script = lambda task, seed, image: _box_answer(image) if task == "ground_mask" else None
    record["steps"][1]["status"] = "pending"  # a person decides step 2 should be redone
    ctx.store.put_run(run.run_id, record)
    before = len(pipe.calls)
    resumed = execute(None, registry, ctx, resume=run.run_id)
    assert resumed.status == "done" and resumed.run_id == run.run_id
    assert resumed.model_calls == 3 and [t for t, _ in pipe.calls[before:]] == [
        "ground_mask",
        "inpaint",
        "depth",
    ]
    assert resumed.steps[0].output == run.steps[0].output  # step 1 was not run again


def _box_answer(image):
    from PIL import Image, ImageDraw

    answer = Image.new("RGB", image.size)
    ImageDraw.Draw(answer).rectangle((10, 10, 30, 25), fill="white")
    return answer


def test_resume_runs_exactly_the_unfinished_steps(ctx, registry, scripted, workspace):
    pipe = scripted(lambda task, seed, image: None)
    plan = {
        "steps": [
            {"id": "a", "tool": "depth", "args": {"image": "$input", "steps": 2}},
            {"id": "b", "tool": "restore", "args": {"image": "$a.image", "problem": "deblur", "steps": 2}},
            {"id": "c", "tool": "crop", "args": {"image": "$b.image", "box": [500, 500, 600, 600]}},
            {"id": "d", "tool": "restore", "args": {"image": "$c.image", "problem": "denoise", "steps": 2}},
        ]
    }
    first = execute(plan, registry, ctx, [_photo(workspace)])
    assert first.status == "failed" and first.failed_index == 3 and "box" in first.error
    assert first.model_calls == 2
    record = ctx.store.get_run(first.run_id)
    record["plan"]["steps"][2]["args"]["box"] = [0, 0, 10, 10]  # fix the bad argument, then resume
    ctx.store.put_run(first.run_id, record)
    before = len(pipe.calls)
    again = execute(None, registry, ctx, resume=first.run_id)
    assert again.status == "done" and again.model_calls == 1 and len(pipe.calls) - before == 1
    assert [s.output for s in again.steps[:2]] == [s.output for s in first.steps[:2]]


def test_cancel_mid_plan_stops_within_one_step_and_writes_nothing_for_it(ctx, registry, workspace):
    plan = {
        "steps": [
            {"id": "s1", "tool": "depth", "args": {"image": "$input", "steps": 2}},
            {"id": "s2", "tool": "restore", "args": {"image": "$s1.image", "problem": "deblur", "steps": 40}},
            {"id": "s3", "tool": "depth", "args": {"image": "$s2.image", "steps": 2}},
        ]
    }
    cancel = threading.Event()
    seen: list[float] = []
    after_cancel: list[float] = []
    stored_at_cancel: list[int] = []

    def progress(done: float, total: float) -> None:
        (after_cancel if cancel.is_set() else seen).append(done)
        if done >= 1.1 and not cancel.is_set():
            stored_at_cancel.append(len(ctx.store.entries()))
            cancel.set()

    run = execute(plan, registry, ctx, [_photo(workspace)], progress=progress, cancel=cancel)
    assert run.status == "cancelled" and run.failed_index == 2
    assert [s.status for s in run.steps] == ["done", "cancelled", "pending"]
    assert len(after_cancel) <= 1, f"ran on after the cancel: {after_cancel}"
    assert len(ctx.store.entries()) == stored_at_cancel[0], "the cancelled step wrote an image"
    assert run.steps[1].output is None and ctx.store.get_run(run.run_id)["status"] == "cancelled"


def test_dry_run_counts_model_calls_without_calling_the_model(ctx, registry, workspace):
    plan = validate_plan(
        {
            "steps": [
                {"id": "s1", "tool": "restore", "args": {"image": "$input", "problem": "denoise"}},
                {"id": "s2", "tool": "remove_object", "args": {"image": "$s1.image", "target": "the car"}},
                {"id": "s3", "tool": "mask_invert", "args": {"mask": "$s2.region"}},
                {
                    "id": "s4",
                    "tool": "restore_then",
                    "args": {"image": "$s2.image", "problems": ["dehaze", "denoise"], "then": "depth"},
                },
            ]
        },
        registry,
    )
    # restore 1 + remove (ground, inpaint, verify) 3 + mask 0 + restore_then (2 + 1) 3
    assert count_model_calls(plan, registry) == 7
    from pixwizard.tools import invoke

    out = invoke(
        registry.get("run_plan"),
        {"plan": plan.model_dump(), "images": [_photo(workspace)], "dry_run": True},
        ctx,
        registry=registry,
    )
    assert out.planned_model_calls == 7 and out.steps == [] and not ctx.backend.loaded


def test_old_run_records_are_pruned_with_old_images(ctx, registry, workspace):
    import os

    plan = {"steps": [{"id": "a", "tool": "crop", "args": {"image": "$input", "box": [0, 0, 8, 8]}}]}
    run = execute(plan, registry, ctx, [_photo(workspace)])
    path = ctx.store.root / f"{run.run_id}.run.json"
    assert ctx.store.prune(older_than_s=3600) == []
    os.utime(path, (1, 1))
    assert run.run_id in ctx.store.prune(older_than_s=3600) and not path.exists()
