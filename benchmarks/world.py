"""PixWorld speed: scenes, samples per task family, and `pixwizard world export`, on one core.

Each line is measured in the same run as its baseline and reported as a ratio:

- ``scenes``: ``scene(seed, i)`` + ``render`` at 64x64, against the issue's bar of 200 scenes/s;
- ``samples[<family>]``: `pixwizard.world.samples.sample` for every task of the family (scene, target
  image and exact truth), against the bare scene rate of the same run (the cost of the targets);
- ``export``: ``export(n)`` into a temporary folder (PNGs, truth ``.npz``, annotations), against the bar;
  the default is the acceptance command, ``pixwizard world export --n 1000`` (1000 items per task).

Pin one core for the headline numbers (``taskset -c 0 python benchmarks/world.py``); torch is not imported.
Prints a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

BAR = 200.0  # scenes per second at 64x64 on one core (the acceptance)


def _rate(fn, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=1000, help="Scenes timed (default 1000).")
    parser.add_argument("--samples", type=int, default=40, help="Samples per task timed (default 40).")
    parser.add_argument(
        "--export",
        type=int,
        default=1000,
        help="Items per task exported (default 1000: `world export --n 1000`).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)

    from pixwizard.tasks import TASKS, Family
    from pixwizard.world import render, scene
    from pixwizard.world.export import export
    from pixwizard.world.samples import sample

    seed = 10_000  # fresh indices, so the scene cache never helps
    scenes = _rate(lambda i: render(scene(seed, i)), args.scenes)
    out: dict = {"scenes_per_s": round(scenes, 1), "scenes_vs_bar": round(scenes / BAR, 2), "samples": {}}
    for family in Family:
        tasks = [t for t, spec in TASKS.items() if spec.family is family]
        count = args.samples * len(tasks)
        rate = _rate(lambda i, tasks=tasks: sample(tasks[i % len(tasks)], seed + 1, i), count)
        out["samples"][family.value] = {"per_s": round(rate, 1), "vs_scenes": round(rate / scenes, 3)}
    per_task = args.export
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        export(folder, n=per_task, seed=seed + 2)
        items = per_task * len(TASKS)
        rate = items / (time.perf_counter() - start)
    out["export"] = {"items": items, "per_s": round(rate, 1), "vs_bar": round(rate / BAR, 2)}
    if args.json:
        print(json.dumps(out))
    else:
        bar = f"{out['scenes_vs_bar']:.2f}x the bar of {BAR:.0f}/s"
        rows = [("scenes (64x64 render)", out["scenes_per_s"], bar)]
        for family, row in out["samples"].items():
            rows.append((f"samples {family}", row["per_s"], f"{row['vs_scenes']:.3f}x bare scenes"))
        e = out["export"]
        rows.append(
            (f"export ({e['items']} items)", e["per_s"], f"{e['vs_bar']:.2f}x the bar of {BAR:.0f}/s")
        )
        for name, rate, ratio in rows:
            print(f"{name:34s}{rate:8.1f}/s   {ratio}")
    return out


if __name__ == "__main__":
    main()
