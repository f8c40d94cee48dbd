"""``make demo``: the agent does multi-step requests on PixWorld scenes and writes a report to look at.

Each request ("clean up the noise, then remove the red circle, then show me the depth") is planned offline
(`pixwizard.agents.planner.plan_offline`), run step by step by the executor with the default model
(`pixwizard-world` when its weights are installed, see `pixwizard.pipeline.names.choose_model`), and shown
in ``demo-output/index.html``: the request, its plan, every image a step produced with its provenance, and
the structured results (boxes drawn, masks overlaid, labels listed, verification outcomes). The scenes are
built-in PixWorld scenes, so the report also says what the right answer was. Finally the transformer's
parity with the authors' released model is checked on the bundled fixtures.

Run from the repository root (``python -m pixwizard.demo``).
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FIXTURES = Path("tests/fixtures")
OUTPUTS = Path("demo-output")
WORLD_SEED = 5
"""The PixWorld seed the demo scenes come from (a seed training never reads: it reads seed 1)."""


@dataclass
class DemoScene:
    """One request on one scene, and what the scene holds."""

    request: str
    image: Image.Image
    about: str
    """The scene in words: the degradation and the object the request names."""
    target: tuple[int, int, int, int]
    """The true box of the named object (x0, y0, x1, y1)."""


def _named_object(s) -> tuple[str, tuple[int, int, int, int]] | None:
    """The largest fully visible object whose (colour, shape) is unique in the scene, and its box."""
    from pixwizard.world.scenes import object_box, object_mask, visible_fraction

    kinds = [(o.color, o.shape) for o in s.objects]
    best = None
    for k, obj in enumerate(s.objects, start=1):
        if kinds.count((obj.color, obj.shape)) > 1 or visible_fraction(s, k) < 0.95:
            continue
        area = int(object_mask(s, k).sum())
        if best is None or area > best[0]:
            best = (area, f"the {obj.color} {obj.shape}", object_box(s, k))
    return None if best is None else best[1:]


def demo_scenes(seed: int = WORLD_SEED) -> list[DemoScene]:
    """Three requests of two to three steps on degraded and clean PixWorld scenes of ``seed``."""
    from pixwizard.world.samples import sample
    from pixwizard.world.scenes import render, scene

    wanted = [
        ("denoise", "clean up the noise, then remove {obj}, then show me the depth", (64, 64)),
        (None, "find {obj} and outline it, then segment the picture", (96, 64)),
        ("lowlight", "brighten this dark photo, then draw a box around {obj}", (64, 64)),
    ]
    scenes, index = [], 0
    for task, template, (width, height) in wanted:
        while True:
            index += 1
            if task is None:
                s, image, kind = scene(seed, index, width, height), None, "a clean scene"
            else:
                smp = sample(task, seed, index, width=width, height=height)
                s, image = scene(seed, smp.scene_index, width, height), smp.image
                kind = f"a {smp.params['degradation']} scene"
            named = _named_object(s)
            if named is not None:
                break
        obj, box = named
        image = image if image is not None else render(s)
        about = (
            f"{kind} of {len(s.objects)} objects (PixWorld seed {seed}, scene {s.index}); {obj} is at {box}"
        )
        scenes.append(DemoScene(template.format(obj=obj), image.convert("RGB"), about, box))
    return scenes


# ----------------------------------------------------------------------------------------------------
# Running a request
# ----------------------------------------------------------------------------------------------------


def _images_in(output, path: str = "") -> list[tuple[str, dict]]:
    """Every stored image (``{id, uri, ...}``) in a tool output, with its place in the output."""
    found = []
    if isinstance(output, dict):
        if isinstance(output.get("uri"), str) and output["uri"].startswith("pixwizard://images/"):
            return [(path or "image", output)]
        for key, value in output.items():
            found += _images_in(value, f"{path}.{key}" if path else key)
    elif isinstance(output, list):
        for i, value in enumerate(output):
            found += _images_in(value, f"{path}[{i}]")
    return found


def run_request(ctx, registry, item: DemoScene, folder: Path, index: int) -> dict:
    """Plan and run one request; returns what the report shows."""
    from pixwizard.agents.executor import execute
    from pixwizard.agents.planner import plan_offline

    name = f"request{index}_input.png"
    item.image.save(folder / "inputs" / name)
    planned = plan_offline(item.request)
    entry = {"request": item.request, "about": item.about, "input": f"inputs/{name}", "target": item.target}
    if planned.plan is None:
        entry |= {"question": planned.question.model_dump(mode="json"), "steps": [], "plan": None}
        return entry
    start = time.perf_counter()
    run = execute(planned.plan, registry, ctx, inputs=[str(folder / "inputs" / name)])
    entry |= {
        "plan": planned.plan.model_dump(mode="json"),
        "status": run.status,
        "error": run.error,
        "model_calls": run.model_calls,
        "seconds": round(time.perf_counter() - start, 1),
        "lineage": run.lineage,
        "steps": [],
    }
    for step in run.steps:
        images = []
        for place, image in _images_in(step.output or {}):
            stored = ctx.store.get(image["id"])
            file = f"images/{image['id']}.png"
            (folder / file).write_bytes(ctx.store.read_bytes(stored))
            images.append(
                {"place": place, "id": image["id"], "file": file, "provenance": _provenance(stored)}
            )
        entry["steps"].append(
            {
                "id": step.id,
                "tool": step.tool,
                "status": step.status,
                "args": step.args,
                "error": step.error,
                "output": step.output,
                "images": images,
                "overlay": _overlay(ctx, step, folder),
            }
        )
    return entry


def _provenance(stored) -> dict:
    keep = ("tool", "task", "model", "instruction", "seed", "steps", "parents", "source", "run_id", "step_id")
    return {key: stored.meta[key] for key in keep if stored.meta.get(key) not in (None, [], "")}


def _overlay(ctx, step, folder: Path) -> str | None:
    """Grounding and object edits: the found boxes and masks drawn over the step's input."""
    import io

    output = step.output or {}
    boxes = [o["box"] for o in output.get("objects", [])] or ([output["box"]] if output.get("box") else [])
    masks = [o["mask"]["id"] for o in output.get("objects", []) if o.get("mask")]
    masks += [output["region"]["id"]] if output.get("region") else []
    source = (step.args or {}).get("image")
    if not boxes or not isinstance(source, str):
        return None

    def read(image_id: str) -> Image.Image:
        return Image.open(io.BytesIO(ctx.store.read_bytes(image_id)))

    base = read(source).convert("RGB")
    picture = np.asarray(base, np.float32).copy()
    for mask_id in masks:
        mask = np.asarray(read(mask_id).convert("L").resize(base.size)) > 127
        picture[mask] = 0.5 * picture[mask] + 0.5 * np.array([255, 0, 255], np.float32)
    drawn = Image.fromarray(picture.round().astype(np.uint8))
    draw = ImageDraw.Draw(drawn)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(255, 255, 0))
    file = f"images/{step.id}_{source}_overlay.png"
    drawn.save(folder / file)
    return file


# ----------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
img { image-rendering: pixelated; height: 192px; border: 1px solid #8886; }
figure { display: inline-block; margin: .4rem 1rem .4rem 0; vertical-align: top; max-width: 17rem; }
figcaption { font-size: 12px; color: #555; word-break: break-all; }
section.request { border-top: 2px solid #8886; margin-top: 2rem; }
ol.plan code, .summary { font-family: ui-monospace, monospace; font-size: 13px; }
details pre { font-size: 12px; max-height: 20rem; overflow: auto; background: #8881; padding: .5rem; }
.failed { color: #b00; }
"""


def _summary(tool: str, output: dict) -> list[str]:
    """The structured result of a step in a few lines."""
    lines = []
    if "found" in output:
        lines.append(f"found: {output['found']}")
    for obj in output.get("objects", []):
        lines.append(f"box {tuple(obj['box'])}, area {obj['area']} px, confidence {obj['confidence']:.2f}")
    if output.get("box"):
        lines.append(f"region box {tuple(output['box'])}")
    if "edited" in output:
        lines.append(
            f"edited: {output['edited']}; pixels changed outside the region: {output['changed_outside']}"
        )
    verification = output.get("verification")
    if verification:
        told = ", ".join(f"{k} {_short(v)}" for k, v in verification.items() if k != "image")
        lines.append(f"verification: {told}")
    classes = sorted(output.get("classes", []), key=lambda c: -c.get("fraction", 0))
    if classes:
        shares = [f"{c.get('name', c.get('label'))} {100 * c.get('fraction', 0):.1f}%" for c in classes[:8]]
        more = f" and {len(classes) - 8} more" if len(classes) > 8 else ""
        lines.append("labels: " + ", ".join(shares) + more)
    if output.get("stats"):
        lines.append("depth " + ", ".join(f"{k} {_short(v)}" for k, v in output["stats"].items()))
    if output.get("changed_fraction") is not None:
        lines.append(f"changed fraction {output['changed_fraction']:.3f}")
    lines += [f"warning: {w}" for w in output.get("warnings", [])]
    return lines


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _figure(src: str, caption: str) -> str:
    image = f'<img src="{html.escape(src)}" alt="">'
    return f"<figure>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"


def render_report(entries: list[dict], model_notice: str, seconds: float) -> str:
    """``index.html``: one section per request."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>PixWizard demo</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>PixWizard demo</h1>",
        f"<p class='model'>{e(model_notice)}. {len(entries)} requests in {seconds:.0f} s.</p>",
    ]
    for n, entry in enumerate(entries, start=1):
        parts.append(f"<section class='request' id='request{n}'><h2>{n}. “{e(entry['request'])}”</h2>")
        parts.append(f"<p>{e(entry['about'])}</p>" + _figure(entry["input"], "input"))
        if entry.get("question"):
            parts.append(
                f"<p class='question'>the planner asks: {e(entry['question']['text'])}</p></section>"
            )
            continue
        parts.append("<h3>Plan</h3><ol class='plan'>")
        for step in entry["plan"]["steps"]:
            parts.append(
                f"<li><code>{e(step['id'])}: {e(step['tool'])} {e(json.dumps(step['args']))}</code></li>"
            )
        parts.append("</ol>")
        status = f"{entry['status']}, {entry['model_calls']} model calls, {entry['seconds']} s"
        parts.append(f"<h3>Results</h3><p class='status'>{e(status)}</p>")
        if entry.get("error"):
            parts.append(f"<p class='failed'>{e(entry['error'])}</p>")
        for step in entry["steps"]:
            parts.append(
                f"<div class='result' data-step='{e(step['id'])}'><h4>{e(step['id'])}: {e(step['tool'])}</h4>"
            )
            if step["error"]:
                parts.append(f"<p class='failed'>{e(step['error'])}</p>")
            lines = _summary(step["tool"], step["output"] or {})
            if lines:
                parts.append(
                    "<ul class='summary'>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>"
                )
            if step["overlay"]:
                parts.append(
                    _figure(step["overlay"], "found boxes (yellow) and masks (magenta) on the input")
                )
            for image in step["images"]:
                prov = image["provenance"]
                caption = f"{image['place']}: {image['id']}"
                if prov.get("task"):
                    caption += f" · task {prov['task']}"
                if prov.get("parents"):
                    caption += f" · from {', '.join(prov['parents'])}"
                parts.append(_figure(image["file"], caption))
            provenance = {image["id"]: image["provenance"] for image in step["images"]}
            parts.append(
                "<details><summary>output and provenance (JSON)</summary><pre>"
                + e(
                    json.dumps(
                        {"args": step["args"], "output": step["output"], "provenance": provenance}, indent=1
                    )
                )
                + "</pre></details></div>"
            )
        if entry["lineage"]:
            chain = " ← ".join(
                f"{a['id']} ({a.get('task') or a.get('source') or 'input'})" for a in entry["lineage"]
            )
            parts.append(f"<p class='lineage'>lineage of the last image: {e(chain)}</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------


def _parity_line(folder: Path) -> tuple[bool, str]:
    """One line for a fixture folder: its cases, and its shape manifests when it has any."""
    from pixwizard.eval.parity import TOLERANCE, run_parity

    report = run_parity(folder, log=lambda line: None)
    line = f"parity {folder.name}: {report.cases_passed}/{report.cases_total} cases within {TOLERANCE:.0e}"
    if report.manifests_total:
        line += f", {report.manifests_passed}/{report.manifests_total} released-model shape manifests match"
    return report.ok, line + ("" if report.ok else f" FAILED (details: pixwizard parity {folder})")


def _next_steps(outputs: Path, model: str) -> list[str]:
    """What a newcomer can try after the demo, with this machine's paths filled in."""
    script = shutil.which("pixwizard", path=str(Path(sys.executable).parent)) or "pixwizard"
    inputs = outputs / "inputs"
    host = {
        "mcpServers": {
            "pixwizard": {"command": script, "args": ["mcp", "--allow-dir", str(inputs.resolve())]}
        }
    }
    return [
        "next:",
        "  pixwizard --help                      every command (a command per tool, mcp, train, models)",
        f"  pixwizard depth {inputs}/request1_input.png -o {outputs}   a tool on a file (JSON with --json)",
        f'  pixwizard agent "remove the haze, then segment it" --image {inputs}/request3_input.png',
        "  pixwizard world export /tmp/world --tasks denoise --n 4   more scenes to try",
        "  an MCP host (Claude Desktop, Cursor, ...): add this to its server configuration:",
        f"    {json.dumps(host)}",
        f"  pixwizard models list                 the models here ({model} ran); pixwizard models fetch gets"
        " the released 2B model",
    ]


def _run_all(ctx, registry, outputs: Path, seed: int) -> list[dict]:
    entries = []
    for n, item in enumerate(demo_scenes(seed), start=1):
        entry = run_request(ctx, registry, item, outputs, n)
        entries.append(entry)
        status = entry.get("status") or "question"
        print(f"request {n}: {item.request!r}: {status}, {entry.get('model_calls', 0)} model calls")
    return entries


def main(
    outputs: Path = OUTPUTS, fixtures: Path = FIXTURES, model: str | None = None, seed: int = WORLD_SEED
) -> int:
    """Run the demo; returns the process exit status.

    Args:
        outputs: The report folder (replaced: ``index.html``, ``inputs/``, ``images/``, ``store/``).
        fixtures: The parity fixtures folder (``tests/fixtures`` of the repository).
        model: The model (default: `choose_model`'s choice).
        seed: The PixWorld seed of the scenes.
    """
    from pixwizard.pipeline.names import choose_model
    from pixwizard.tools import default_registry, make_context

    start = time.perf_counter()
    choice = choose_model(model)
    print(choice.notice())
    if outputs.exists():
        shutil.rmtree(outputs)
    for sub in ("inputs", "images", "store"):
        (outputs / sub).mkdir(parents=True)
    ctx = make_context(choice.model, store_dir=outputs / "store", allow_dirs=[outputs / "inputs"])
    registry = default_registry()
    # Every call of a random-weights model warns that its output is noise: the demo says it once, here.
    if ctx.backend.pipe.config.random_weights:
        print(
            f"note: {choice.model} has random weights: its outputs are noise (the report shows them anyway)"
        )
    pipeline_logger = logging.getLogger("pixwizard.pipeline.pipeline")
    level = pipeline_logger.level
    pipeline_logger.setLevel(logging.ERROR)
    try:
        entries = _run_all(ctx, registry, outputs, seed)
    finally:
        pipeline_logger.setLevel(level)
    seconds = time.perf_counter() - start
    report = outputs / "index.html"
    report.write_text(render_report(entries, choice.notice(), seconds), encoding="utf-8")
    print(f"report: {report.resolve()} ({seconds:.0f} s); open it in a browser")
    ok = all(entry.get("status") == "done" for entry in entries)
    folders = sorted(fixtures.glob("official_parity*"))
    if not folders:
        print(f"no parity fixtures under {fixtures.resolve()}: run from the repository root", file=sys.stderr)
        return 1
    for folder in folders:
        passed, line = _parity_line(folder)
        print(line)
        ok = ok and passed
    print("\n".join(_next_steps(outputs, choice.model)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
