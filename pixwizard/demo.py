"""``make demo``: an end-to-end edit with the built-in tiny model, the parity check, and what to try next.

1. Builds ``tiny-random`` (every real component at toy width, random weights: its output is noise),
   asks it to "Remove the rain" on a synthetic photo, and writes input and output to ``outputs/``.
2. Runs the parity check of the transformer on the bundled fixtures (``tests/fixtures``), which is what
   ties this implementation to the authors' released model: one line per fixture folder.
3. Prints the next steps: the CLI, an MCP host's configuration, the released weights.

Run from the repository root (``python -m pixwizard.demo``).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from pixwizard.eval.parity import TOLERANCE, run_parity
from pixwizard.pipeline import tiny_random

FIXTURES = Path("tests/fixtures")
OUTPUTS = Path("outputs")


def _photo() -> Image.Image:
    """A synthetic 'rainy' photo: a gradient sky, a house, diagonal streaks."""
    image = Image.linear_gradient("L").resize((96, 72)).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 35, 66, 70), fill=(150, 90, 60))
    draw.polygon([(26, 36), (48, 18), (70, 36)], fill=(120, 40, 40))
    for x in range(-72, 96, 9):
        draw.line([(x, 0), (x + 24, 72)], fill=(210, 210, 230), width=1)
    return image


def _parity_line(folder: Path) -> tuple[bool, str]:
    """One line for a fixture folder: its cases, and its shape manifests when it has any."""
    report = run_parity(folder, log=lambda line: None)
    line = f"parity {folder.name}: {report.cases_passed}/{report.cases_total} cases within {TOLERANCE:.0e}"
    if report.manifests_total:
        line += f", {report.manifests_passed}/{report.manifests_total} released-model shape manifests match"
    return report.ok, line + ("" if report.ok else f" FAILED (details: pixwizard parity {folder})")


def _next_steps(outputs: Path) -> list[str]:
    """What a newcomer can try after the demo, with this machine's paths filled in."""
    script = shutil.which("pixwizard", path=str(Path(sys.executable).parent)) or "pixwizard"
    host = {
        "mcpServers": {
            "pixwizard": {
                "command": script,
                "args": ["mcp", "--model", "tiny-random", "--allow-dir", str(outputs.resolve())],
            }
        }
    }
    return [
        "next:",
        "  pixwizard --help                      every command (a command per tool, mcp, train, models)",
        f"  pixwizard depth {outputs}/demo_input.png -o {outputs}   a tool on a file (JSON with --json)",
        f'  pixwizard agent "denoise it, then estimate depth" --image {outputs}/demo_input.png --dry-run'
        "   a plan (drop --dry-run to run it)",
        "  an MCP host (Claude Desktop, Cursor, ...): add this to its server configuration:",
        f"    {json.dumps(host)}",
        "  real results: pixwizard models fetch --dir ~/models/pixwizard, then --model ~/models/pixwizard",
    ]


def main(outputs: Path = OUTPUTS, fixtures: Path = FIXTURES, steps: int = 60) -> int:
    """Run the demo; returns the process exit status.

    Args:
        outputs: Where the input and output images are written.
        fixtures: The parity fixtures folder (``tests/fixtures`` of the repository).
        steps: Time-grid points of the edit (the authors' 60).
    """
    start = time.perf_counter()
    pipe = tiny_random(seed=0)
    pipe.set_progress_bar_config(disable=True)
    photo = _photo()
    # The pipeline also logs its notes (the noise notice); the demo prints them once, itself.
    pipeline_logger = logging.getLogger("pixwizard.pipeline.pipeline")
    level = pipeline_logger.level
    pipeline_logger.setLevel(logging.ERROR)
    try:
        seed = torch.Generator().manual_seed(0)
        result = pipe("Remove the rain", image=photo, generator=seed, num_inference_steps=steps)
    finally:
        pipeline_logger.setLevel(level)
    outputs.mkdir(parents=True, exist_ok=True)
    photo.save(outputs / "demo_input.png")
    result.images[0].save(outputs / "demo_output.png")
    (w, h), (ow, oh), seconds = photo.size, result.images[0].size, time.perf_counter() - start
    print(f"edit: 'Remove the rain' on {w}x{h} -> bucket {result.buckets[0]} -> {ow}x{oh} in {seconds:.1f}s")
    print(f"      ({steps - 1} Euler steps, 2 guidance rows); wrote {outputs}/demo_output.png")
    for note in result.notes:
        print(f"note: {note}")
    folders = sorted(fixtures.glob("official_parity*"))
    if not folders:
        print(f"no parity fixtures under {fixtures.resolve()}: run from the repository root", file=sys.stderr)
        return 1
    ok = True
    for folder in folders:
        passed, line = _parity_line(folder)
        print(line)
        ok = ok and passed
    print("\n".join(_next_steps(outputs)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
