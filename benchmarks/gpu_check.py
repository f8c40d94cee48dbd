"""Every CUDA check of the project in one command, with one JSON summary (issue 9, section 6).

```bash
python benchmarks/gpu_check.py [--out gpu_check.json] [--budget-s 450]
```

On a CUDA machine it runs, in this order and within a total time budget (default 450 s, under 8 minutes):

1. ``gpu_tests``: the ``gpu``-marked tests (``pytest -m gpu``), in a subprocess.
2. ``seeded_pipeline``: tiny-random on CUDA, seeded with a CPU and with a CUDA generator, in both token
   selection modes: the same seed twice gives identical images, another seed a different one.
3. ``seeded_tool``: the same through a tool (``restore``, the tool layer's own model loading).
4. ``released_768_bf16``: the released configuration (``pixwizard_2b_gqa``) with random weights at 768²
   in bf16, two guidance rows, random encoder outputs of the real encoders' shapes (Gemma-2B features,
   CLIP-L/14-336 tokens; the encoders and the VAE are not timed), for SDPA and, when importable,
   flash-attn, in both selection modes: seconds per step (median after a warm-up step), the weights' and
   the step's peak memory (``torch.cuda.max_memory_allocated``).
5. ``sampler``: ``benchmarks/sampler.py --device cuda`` in both selection modes (the authors' loop
   against ours, same weights and inputs).

A stage that would start with too little of the budget left is recorded as skipped. Everything a stage
prints goes to stderr; stdout holds only the summary (also written to ``--out``). Without CUDA it prints
``{"cuda": false, "message": ...}`` and exits 0; with CUDA it exits 1 when a check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SAMPLER = REPO / "benchmarks" / "sampler.py"
SELECTIONS = ("gumbel", "topk")
MIN_STAGE_S = 20  # a stage that cannot get this much of the budget is skipped
NO_GPU = "no CUDA device: nothing was measured; run this on a machine with a GPU"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _gib(n_bytes: float) -> float:
    return round(n_bytes / 2**30, 3)


def _photo():
    from PIL import Image

    image = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    image.paste((200, 40, 40), (10, 10, 30, 30))
    return image


# --------------------------------------------------------------------------------------------------------
# The stages: each returns a JSON-safe dict with a "status" of "ok" or "failed"
# --------------------------------------------------------------------------------------------------------


def gpu_tests(timeout: float) -> dict:
    """Run ``pytest -m gpu`` and report its counts (and its output's tail when it fails)."""
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    lines = proc.stdout.strip().splitlines()
    counts = {
        word: int(number)
        for number, word in re.findall(
            r"(\d+) (passed|failed|skipped|deselected|error)", lines[-1] if lines else ""
        )
    }
    result = {"status": "ok" if proc.returncode == 0 else "failed", "returncode": proc.returncode, **counts}
    if proc.returncode != 0:
        result["tail"] = lines[-30:] + proc.stderr.strip().splitlines()[-10:]
    return result


def seeded_pipeline(device: torch.device) -> dict:
    """Seeded tiny-random calls on ``device`` with a CPU and a device generator, both selection modes."""
    import numpy as np

    from pixwizard.pipeline import tiny_random

    pipe = tiny_random().configure(device=device, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)

    def image(kind: str, seed: int, selection: str):
        generator = torch.Generator(kind).manual_seed(seed)
        out = pipe(
            "Remove the rain",
            image=_photo(),
            generator=generator,
            num_inference_steps=6,
            token_selection=selection,
        )
        return np.asarray(out.images[0])

    cases = {}
    for kind in dict.fromkeys(("cpu", device.type)):
        for selection in SELECTIONS:
            first, again, other = (image(kind, seed, selection) for seed in (0, 0, 1))
            cases[f"{kind}_generator_{selection}"] = {
                "reproduced": bool(np.array_equal(first, again)),
                "seed_changes_result": not np.array_equal(first, other),
            }
    ok = all(all(case.values()) for case in cases.values())
    return {"status": "ok" if ok else "failed", **cases}


def seeded_tool(device: torch.device) -> dict:
    """The ``restore`` tool on ``device`` with seeds 0, 0 and 1: the first two results are identical."""
    import numpy as np
    from PIL import Image
    from pixwizard.tools import default_registry, invoke, make_context

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        _photo().save(photo)
        ctx = make_context("tiny-random", device=device.type, store_dir=Path(tmp) / "store", any_path=True)
        restore = default_registry().get("restore")
        pixels = []
        for seed in (0, 0, 1):
            args = {"image": str(photo), "problem": "derain", "seed": seed, "steps": 6}
            result = invoke(restore, args, ctx)
            pixels.append(np.asarray(Image.open(result.image.path)))
    reproduced, changes = bool(np.array_equal(pixels[0], pixels[1])), not np.array_equal(pixels[0], pixels[2])
    ok = reproduced and changes
    return {"status": "ok" if ok else "failed", "reproduced": reproduced, "seed_changes_result": changes}


def _random_model(preset: dict, device: torch.device, dtype: torch.dtype):
    from pixwizard.model.transformer import PixWizardTransformer

    with torch.device("meta"):
        model = PixWizardTransformer(**preset)
    model = model.to_empty(device=device).randomize_(seed=0)
    return torch.nn.Module.to(model, dtype=dtype).eval()


def _step_seconds(model, x, conds, guidance, steps: int) -> float:
    """Median seconds of ``steps`` guided steps after one warm-up step."""
    from pixwizard.pipeline.sampling import denoise_step

    times = []
    for _ in range(steps + 1):
        _sync(x.device)
        start = time.perf_counter()
        denoise_step(model, x, 0.5, conds, guidance)
        _sync(x.device)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times[1:]), 4)


def released(device: torch.device, *, preset: dict | None = None, size: int = 768, steps: int = 3) -> dict:
    """The released configuration at ``size``² in bf16: seconds per step and memory, per backend and mode.

    Args:
        device: Where to run (CUDA for the real measurement).
        preset: Constructor arguments (default: ``pixwizard_2b_gqa()``).
        size: Image side in pixels (latents are ``size/8``).
        steps: Timed steps per case, after one warm-up step.

    Returns:
        The measurements, keyed ``{backend}_{selection}``.
    """
    from pixwizard.model.attention import _flash_module, use_backend
    from pixwizard.model.config import pixwizard_2b_gqa
    from pixwizard.pipeline.sampling import Guidance, RowConditions

    preset = preset or pixwizard_2b_gqa()
    cuda = device.type == "cuda"
    model = _random_model(preset, device, torch.bfloat16)
    result = {"status": "ok", "size": size, "rows": 2, "dtype": "bfloat16"}
    if cuda:
        result["weights_gib"] = _gib(torch.cuda.memory_allocated(device))
    g = torch.Generator(device.type).manual_seed(0)
    latent, rows = size // 8, 2

    def rand(*shape):
        return torch.randn(*shape, generator=g, device=device)

    inputs = (  # RowConditions' fields: latents, CLIP tokens, text features and mask, pooled, no-image
        rand(rows, 4, latent, latent),
        rand(rows, 576, preset["image_token_dim"]),
        rand(rows, 32, preset["cap_feat_dim"]),
        torch.ones(rows, 32, device=device),
        rand(rows, preset["cap_clip_feat_dim"]),
        torch.zeros(rows, dtype=torch.bool, device=device),
    )
    x = rand(1, 4, latent, latent)
    guidance = Guidance(base_seqlen=(size // 16) ** 2)
    backends = ["sdpa"] + (["flash"] if cuda and _flash_module() is not None else [])
    with torch.no_grad():
        for backend in backends:
            for selection in SELECTIONS:
                conds = RowConditions(rows, *inputs, selection, [torch.Generator(device.type).manual_seed(0)])
                if cuda:
                    torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device) if cuda else 0
                with use_backend(backend):
                    case = {"s_per_step": _step_seconds(model, x, conds, guidance, steps)}
                if cuda:
                    case["step_peak_gib"] = _gib(torch.cuda.max_memory_allocated(device) - base)
                result[f"{backend}_{selection}"] = case
    if len(backends) == 1:
        result["flash"] = "flash-attn is not importable: not measured"
    return result


def sampler(selection: str, timeout: float, *extra: str) -> dict:
    """``benchmarks/sampler.py --device cuda`` in one selection mode (one run of each loop).

    The loops' ``max_abs_diff`` is reported, not judged: in bf16 the two- and three-row batches round
    differently, and 59 steps carry that along.
    """
    command = [sys.executable, str(SAMPLER), "--device", "cuda", "--json", "--repeats", "1"]
    command += ["--selection", selection, *extra]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"status": "failed", "returncode": proc.returncode, "tail": proc.stderr.splitlines()[-10:]}
    return {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


# --------------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------------


def _stage(fn: Callable[[float], dict], deadline: float) -> dict:
    """Run one stage with what is left of the budget; an exception is a failure, not a crash."""
    left = deadline - time.monotonic()
    if left < MIN_STAGE_S:
        return {"status": "skipped", "reason": f"time budget: {left:.0f} s left"}
    start = time.monotonic()
    try:
        result = fn(left)
    except Exception as exc:  # a failed stage must not stop the others or the summary
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def run_checks(budget_s: float) -> dict:
    """Every stage on the first CUDA device; returns the summary."""
    device = torch.device("cuda", 0)
    deadline = time.monotonic() + budget_s
    checks = {
        "gpu_tests": _stage(gpu_tests, deadline),
        "seeded_pipeline": _stage(lambda left: seeded_pipeline(device), deadline),
        "seeded_tool": _stage(lambda left: seeded_tool(device), deadline),
        "released_768_bf16": _stage(lambda left: released(device), deadline),
    }
    torch.cuda.empty_cache()  # hand the released model's memory back before the sampler's processes start
    for selection in SELECTIONS:
        checks[f"sampler_{selection}"] = _stage(lambda left, s=selection: sampler(s, left), deadline)
    from pixwizard.model.attention import _flash_module

    flash = _flash_module()
    return {
        "cuda": True,
        "device": torch.cuda.get_device_name(device),
        "torch": torch.__version__,
        "flash_attn": getattr(flash, "__version__", None) if flash else None,
        "budget_s": budget_s,
        "ok": all(check["status"] == "ok" for check in checks.values()),
        "checks": checks,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the checks (or report that there is no GPU) and print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the summary to this file")
    parser.add_argument("--budget-s", type=float, default=450.0, help="total time budget in seconds")
    args = parser.parse_args(argv)
    start = time.monotonic()
    if not torch.cuda.is_available():
        summary = {"cuda": False, "message": NO_GPU}
    else:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the summary only
            summary = run_checks(args.budget_s)
        summary["total_s"] = round(time.monotonic() - start, 1)
    text = json.dumps(summary)
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(text)
    return 0 if summary.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
