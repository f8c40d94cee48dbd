"""``make demo``: build the tiny transformer, run it, and check parity on the bundled fixtures.

Run from the repository root (``python -m pixwizard.demo``); the parity fixtures live under
``tests/fixtures``. Later issues turn this into an end-to-end edit with the built-in tiny model.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from pixwizard.eval.parity import run_parity
from pixwizard.model.config import tiny
from pixwizard.model.transformer import PixWizardTransformer

FIXTURES = Path("tests/fixtures")


def main() -> int:
    """Run the demo; returns the process exit status."""
    torch.manual_seed(0)
    model = PixWizardTransformer(**tiny()).eval()
    cfg = model.config
    batch, size, clip_tokens, text_tokens = 2, 8, 16, 5
    start = time.perf_counter()
    with torch.no_grad():
        out = model(
            torch.randn(batch, cfg.in_channels, size, size),
            torch.rand(batch),
            torch.randn(batch, cfg.in_channels, size, size),
            torch.randn(batch, clip_tokens, cfg.image_token_dim),
            torch.randn(batch, text_tokens, cfg.cap_feat_dim),
            torch.ones(batch, text_tokens),
            torch.randn(batch, cfg.cap_clip_feat_dim),
        )
    params = sum(p.numel() for p in model.parameters())
    print(
        f"tiny transformer: {params:,} parameters, velocity {tuple(out.shape)} "
        f"in {1000 * (time.perf_counter() - start):.1f} ms"
    )
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
