"""``make demo``: an end-to-end edit with the built-in tiny model, then the parity check.

1. Builds ``tiny-random`` (every real component at toy width, random weights: its output is noise),
   asks it to "Remove the rain" on a synthetic photo, and writes input and output to ``outputs/``.
2. Runs the parity check of the transformer on the bundled fixtures (``tests/fixtures``), which is what
   ties this implementation to the authors' released model.

Run from the repository root (``python -m pixwizard.demo``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from pixwizard.eval.parity import run_parity
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


def main() -> int:
    """Run the demo; returns the process exit status."""
    start = time.perf_counter()
    pipe = tiny_random(seed=0)
    pipe.set_progress_bar_config(disable=True)
    photo = _photo()
    result = pipe("Remove the rain", image=photo, generator=torch.Generator().manual_seed(0))
    OUTPUTS.mkdir(exist_ok=True)
    photo.save(OUTPUTS / "demo_input.png")
    result.images[0].save(OUTPUTS / "demo_output.png")
    (w, h), (ow, oh), seconds = photo.size, result.images[0].size, time.perf_counter() - start
    print(f"edit: 'Remove the rain' on {w}x{h} -> bucket {result.buckets[0]} -> {ow}x{oh} in {seconds:.1f}s")
    print(f"      (59 Euler steps, 2 guidance rows); wrote {OUTPUTS}/demo_output.png")
    for note in result.notes:
        print(f"note: {note}")
    folders = sorted(FIXTURES.glob("official_parity*"))
    if not folders:
        print(f"no parity fixtures under {FIXTURES.resolve()}: run from the repository root", file=sys.stderr)
        return 1
    ok = True
    for folder in folders:
        print(f"== {folder}")
        ok = run_parity(folder).ok and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
