"""Sampler benchmark: the authors' loop against the pipeline's default loop, same weights, same inputs.

(a) reference: the authors' loop. Three rows (prompt + image, image only, no image) at every step, the RoPE
    table rebuilt and the tokens re-selected at every step, through the model's official-semantics
    ``forward_with_cfg``; nothing else added.
(b) ours: the loop ``PixWizardPipeline.__call__`` runs, with guidance on channels 0-2 and proportional
    attention: the no-image row skipped at image scale 1 (it cancels exactly), text and CLIP inputs
    prepared once, RoPE tables cached.

``--selection`` picks the token selection of both loops. ``gumbel`` (the pipeline's default, the authors'
sampler): a fresh Gumbel draw at every step; both loops use the same draws (each step's noise for the two
image rows comes from one seeded generator, as the pipeline draws it per item), so their outputs still
agree, and ours re-selects the tokens and recomputes the cross-attention keys/values at every step as the
reference does. ``topk`` (the pipeline's fast option): deterministic, and ours prepares the selection and
the keys/values once per call.

Encoders are not timed. Prints one JSON line (``--json``) or a table: reference_s, ours_s, speedup,
max_abs_diff, nfe_* (model calls), rows_* (batch rows per call), per-stage times and peak memory
(CUDA: allocator peak above the start; CPU: sampled RSS growth, indicative only, since the allocator keeps
pages between loops; the order of the two loops alternates across runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time

import torch

from pixwizard.model import rng
from pixwizard.model.config import pixwizard_2b_gqa
from pixwizard.model.layers import rope_table
from pixwizard.model.token_sampler import TokenSelection, gumbel_noise
from pixwizard.model.transformer import PixWizardTransformer
from pixwizard.pipeline.sampling import Guidance, RowConditions, denoise_step, euler, rows_needed, time_grid

CPU_WORKLOAD = dict(
    model=dict(
        dim=256,
        n_layers=4,
        n_heads=8,
        n_kv_heads=2,
        multiple_of=64,
        qk_norm=True,
        cap_feat_dim=2048,
        cap_clip_feat_dim=768,
        image_token_dim=1024,
        sample_tokens=256,
    ),
    latent=64,
    clip_tokens=576,
    text_tokens=32,
    grid=60,
    centre=512,
)
CUDA_WORKLOAD = dict(
    model=pixwizard_2b_gqa(), latent=96, clip_tokens=576, text_tokens=32, grid=60, centre=768
)
TEXT_SCALE, IMAGE_SCALE = 4.0, 1.0
GUMBEL_SEED = 1


class PeakMemory:
    """Peak memory above the starting level: CUDA allocator stats, or sampled process RSS on the CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base, self._stop = _rss(), threading.Event()
        self.peak_rss = self.base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak_rss = max(self.peak_rss, _rss())

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak_rss, _rss()) - self.base


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_inputs(workload: dict, device: torch.device, dtype: torch.dtype):
    g = torch.Generator().manual_seed(0)
    cfg = workload["model"]
    n, size, text = 1, workload["latent"], workload["text_tokens"]

    def rand(*shape):
        return rng.randn(shape, generator=g, device=device, dtype=dtype)

    z = rand(n, 4, size, size).float()
    cond_latent = rand(n, 4, size, size)
    clip = rand(n, workload["clip_tokens"], cfg["image_token_dim"])
    prompt, empty = rand(n, text, cfg["cap_feat_dim"]), rand(n, text, cfg["cap_feat_dim"])
    prompt_mask = torch.ones(n, text, device=device)
    empty_mask = torch.zeros(n, text, device=device)
    empty_mask[:, :8] = 1
    pooled, pooled_empty = rand(n, cfg["cap_clip_feat_dim"]), rand(n, cfg["cap_clip_feat_dim"])
    rows = {
        "input_x": torch.cat(
            [cond_latent, cond_latent, z.to(dtype)]
        ),  # the no-image row sees the starting noise
        "input_clip_x": torch.cat([clip, clip, torch.zeros_like(clip)]),
        "cap_feats": torch.cat([prompt, empty, empty]),
        "cap_mask": torch.cat([prompt_mask, empty_mask, empty_mask]),
        "cap_pooled_feats": torch.cat([pooled, pooled_empty, pooled_empty]),
    }
    return z, rows


def reference_gumbel(model, rows: dict, generator: torch.Generator) -> torch.Tensor:
    """One step's ``(n_layers, 3, N)`` Gumbel noise for the reference's three rows.

    The two image rows are drawn as the pipeline draws an item's (``(rows, n_layers, N)`` from its
    generator); the no-image row gets none (its CLIP tokens are zeros).
    """
    layers, tokens = len(model.layers), rows["input_clip_x"].shape[1]
    device = rows["input_clip_x"].device
    draw = gumbel_noise((2, layers, tokens), generator=generator, device=device, dtype=torch.float32)
    return torch.cat([draw.transpose(0, 1), draw.new_zeros(layers, 1, tokens)], dim=1)


def reference_loop(model, z, rows, grid, base_seqlen, selection=TokenSelection.TOPK):
    """The authors' sampler: three rows every step, RoPE rebuilt and tokens re-selected every step."""
    x = z.repeat(3, 1, 1, 1)
    generator = torch.Generator().manual_seed(GUMBEL_SEED)
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        rope_table.cache_clear()  # the official forward_with_cfg rebuilds the table at every call
        t = torch.full((3,), t0, device=z.device)
        noise = reference_gumbel(model, rows, generator) if selection is TokenSelection.GUMBEL else None
        v = model.forward_with_cfg(
            x.to(model.dtype),
            t,
            rows["input_x"],
            rows["input_clip_x"],
            rows["cap_feats"],
            rows["cap_mask"],
            rows["cap_pooled_feats"],
            text_cfg_scale=TEXT_SCALE,
            image_cfg_scale=IMAGE_SCALE,
            proportional_attn=True,
            base_seqlen=base_seqlen,
            token_selection=selection,
            gumbel=noise,
        ).float()
        x = x + (t1 - t0) * v
    return x[:1]


def ours_loop(model, z, rows, grid, base_seqlen, stages, selection=TokenSelection.TOPK):
    """The pipeline's loop: exact row skipping, cached RoPE tables, top-k selection prepared once."""
    start = time.perf_counter()
    n_rows = rows_needed(TEXT_SCALE, IMAGE_SCALE)
    conds = RowConditions(
        n_rows,
        rows["input_x"][:n_rows],
        rows["input_clip_x"][:n_rows],
        rows["cap_feats"][:n_rows],
        rows["cap_mask"][:n_rows],
        rows["cap_pooled_feats"][:n_rows],
        torch.tensor([False, False, True][:n_rows], device=z.device),
        selection,
        [torch.Generator().manual_seed(GUMBEL_SEED)],
    )
    if selection is TokenSelection.TOPK:
        conds.prepared(model)  # the per-call preparation; in Gumbel mode it is redone at every step
    guidance = Guidance(TEXT_SCALE, IMAGE_SCALE, 3, True, base_seqlen)
    _sync(z.device)
    stages["prepare_s"] = time.perf_counter() - start
    out = euler(lambda x, t: denoise_step(model, x, t, conds, guidance), z, grid, lambda i, t, x: x)
    return out, n_rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(
    device_name: str,
    repeats: int,
    threads: int,
    latent: int | None = None,
    steps: int | None = None,
    selection: str = "gumbel",
) -> dict:
    """Time both loops ``repeats`` times and report medians; see the module docstring for the fields."""
    selection = TokenSelection(selection)
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    workload = dict(CUDA_WORKLOAD if device.type == "cuda" else CPU_WORKLOAD)
    workload.update({k: v for k, v in (("latent", latent), ("grid", steps)) if v is not None})
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with torch.device("meta" if device.type == "cuda" else "cpu"):
        model = PixWizardTransformer(**workload["model"])
    model = (model.to_empty(device=device) if device.type == "cuda" else model).randomize_(seed=0)
    model = torch.nn.Module.to(model, device=device, dtype=dtype).eval()
    z, rows = make_inputs(workload, device, dtype)
    grid = time_grid(workload["grid"])
    base = (workload["centre"] // 16) ** 2

    times = {"reference": [], "ours": []}
    peaks = {}
    stages: dict[str, float] = {}
    outputs = {}

    def timed(name: str) -> None:
        rope_table.cache_clear()
        with PeakMemory(device) as mem:
            start = time.perf_counter()
            if name == "reference":
                outputs[name] = reference_loop(model, z, rows, grid, base, selection)
            else:
                outputs[name], outputs["rows"] = ours_loop(model, z, rows, grid, base, stages, selection)
            _sync(device)
            times[name].append(time.perf_counter() - start)
        peaks[name] = max(peaks.get(name, 0), mem.peak)

    with torch.no_grad():
        for i in range(repeats):
            # Alternate the order: on the CPU the second loop reuses pages the first one grew.
            for name in ("reference", "ours") if i % 2 == 0 else ("ours", "reference"):
                timed(name)
    ref, ours, n_rows = outputs["reference"], outputs["ours"], outputs["rows"]
    reference_s, ours_s = statistics.median(times["reference"]), statistics.median(times["ours"])
    return {
        "device": device_name if device.type == "cpu" else torch.cuda.get_device_name(device),
        "machine": platform.processor() or platform.machine(),
        "threads": threads,
        "dtype": str(dtype).removeprefix("torch."),
        "latent": workload["latent"],
        "selection": selection.value,
        "reference_s": round(reference_s, 4),
        "ours_s": round(ours_s, 4),
        "speedup": round(reference_s / ours_s, 3),
        "max_abs_diff": float((ours - ref).abs().max()),
        "nfe_reference": len(grid) - 1,
        "nfe_ours": len(grid) - 1,
        "rows_reference": 3,
        "rows_ours": n_rows,
        "stages": {
            "reference_loop_s": round(reference_s, 4),
            "ours_prepare_s": round(stages["prepare_s"], 4),
            "ours_loop_s": round(ours_s - stages["prepare_s"], 4),
        },
        "peak_mem_mb": {name: round(value / 2**20, 1) for name, value in peaks.items()},
        "runs": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", default="cpu", help="cpu (the fixed small workload) or cuda (the 2B model at 768²)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per loop; the median is reported")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--latent", type=int, help="override the latent side (smoke tests)")
    parser.add_argument("--steps", type=int, help="override the number of grid points (smoke tests)")
    parser.add_argument(
        "--selection",
        choices=[mode.value for mode in TokenSelection],
        default=TokenSelection.GUMBEL.value,
        help="token selection of both loops: gumbel (the pipeline's default, the authors') or topk",
    )
    args = parser.parse_args(argv)
    result = run(args.device, args.repeats, args.threads, args.latent, args.steps, args.selection)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>15}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
