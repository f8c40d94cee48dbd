"""The evaluation part of the pixwizard-world model card, from a run of its pre-registered protocol.

    pixwizard eval world --model pixwizard-world --n 50 --seed 0 --phrasing both --json > results.json
    python scripts/world_card.py results.json

Writes ``pixwizard/models/pixwizard_world/evaluation.json`` (the results as measured) and
``evaluation.md`` (every pre-registered bar with its value, interval, target and baselines, then the model's
score on every task beside identity, the classical baseline and the oracle), and prints the bars.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pixwizard.eval.scorecard import markdown, scorecard

OUT = Path(__file__).resolve().parents[1] / "pixwizard" / "models" / "pixwizard_world"


def all_scores(data: dict) -> str:
    """Every (task, phrasing, metric): the model [interval], identity, other baselines, oracle."""
    model = data["model"]
    cells: dict[tuple, dict] = {}
    for r in data["results"]:
        cells.setdefault((r["task"], r["phrasing"], r["metric"]), {})[r["system"]] = r
    lines = [
        "| task | phrasing | metric | model [95%] | identity | baselines | oracle |",
        "|---|---|---|---|---|---|---|",
    ]
    for (task, phrasing, metric), systems in cells.items():
        m = systems.get(model)
        shown = (
            "–"
            if m is None
            else f"{m['value']:.3f}"
            + (f" [{m['low']:.3f}, {m['high']:.3f}]" if m.get("low") is not None else "")
        )
        others = ", ".join(
            f"{k} {v['value']:.3f}" for k, v in systems.items() if k not in (model, "identity", "oracle")
        )
        identity = f"{systems['identity']['value']:.3f}" if "identity" in systems else "–"
        oracle = f"{systems['oracle']['value']:.3f}" if "oracle" in systems else "–"
        lines.append(
            f"| {task} | {phrasing} | {metric} | {shown} | {identity} | {others or '–'} | {oracle} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = Path(argv[0]).read_text()
    data = json.loads(text[text.index("{") :])
    bars = scorecard(data["results"], data["model"])
    table = markdown(bars)
    header = (
        f"# Evaluation of {data['model']} on PixWorld\n\n"
        f"`pixwizard eval world --model {data['model']} --n {data['n']} --seed {data['seed']}`"
        f" with `--phrasing both` (world_version {data['world_version']}, protocol.json).\n\n"
        "## The pre-registered bars\n\n"
    )
    (OUT / "evaluation.json").write_text(json.dumps(data, indent=1) + "\n")
    (OUT / "evaluation.md").write_text(header + table + "\n\n## Every score\n\n" + all_scores(data) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
