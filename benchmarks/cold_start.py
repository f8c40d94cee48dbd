"""Cold start: what a fresh ``pixwizard depth`` spends beyond the model's own run, against ``import torch``.

    python benchmarks/cold_start.py --json        # pixwizard-world, median of 5

Each repeat starts new processes, alternating the two commands: the baseline ``python -c "import torch"``,
and ``pixwizard depth IMAGE --model M --json`` on a 64×64 PixWorld scene. The overhead of a call is its wall
time minus the model's own run time (``provenance.timings.run_s`` of its JSON: sampling and decoding).
Reported: medians, the ratio overhead / import torch (the goal is 3 or less), and which heavy libraries
the call imported (run once more in-process with ``sys.modules`` inspected).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("diffusers", "transformers", "accelerate", "scipy", "torch._dynamo", "cv2", "langchain_core", "mcp")

PROBE = """
import json, sys
from pixwizard.cli import app
image, model, store, heavy = sys.argv[1:5]
try:
    app(["depth", image, "--model", model, "--json", "--store", store])
except SystemExit:
    pass
counts = {n: sum(1 for m in sys.modules if m == n or m.startswith(n + ".")) for n in json.loads(heavy)}
print("HEAVY " + json.dumps(counts), file=sys.stderr)
"""


def _timed(command: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {run.stderr.strip().splitlines()[-1:]}")
    return wall, run.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pixwizard-world")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from pixwizard.world.samples import sample

    python = sys.executable
    cli = str(Path(python).with_name("pixwizard"))
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PIXWIZARD_MODEL": args.model}
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "scene.png"
        sample("depth", 4, 0).image.save(image)
        store = Path(tmp) / "store"
        torch_s, call_s, run_s = [], [], []
        for _ in range(args.repeats):
            torch_s.append(_timed([python, "-c", "import torch"], env)[0])
            wall, out = _timed(
                [cli, "depth", str(image), "--model", args.model, "--json", "--store", str(store)], env
            )
            call_s.append(wall)
            run_s.append(json.loads(out)[0]["provenance"]["timings"]["run_s"])  # one result per input
        probe = subprocess.run(
            [python, "-c", PROBE, str(image), args.model, str(store), json.dumps(HEAVY)],
            capture_output=True,
            text=True,
            env=env,
        )
        heavy_line = [line for line in probe.stderr.splitlines() if line.startswith("HEAVY ")]
        heavy = json.loads(heavy_line[-1][6:]) if heavy_line else None
    overhead = [c - r for c, r in zip(call_s, run_s, strict=True)]
    result = {
        "model": args.model,
        "repeats": args.repeats,
        "import_torch_s": round(statistics.median(torch_s), 3),
        "call_wall_s": round(statistics.median(call_s), 3),
        "model_run_s": round(statistics.median(run_s), 3),
        "overhead_s": round(statistics.median(overhead), 3),
        "overhead_over_import_torch": round(statistics.median(overhead) / statistics.median(torch_s), 2),
        "modules_imported": heavy,
        "goal": "overhead_over_import_torch <= 3",
    }
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
