"""Check the held-out PixWorld phrasings against every training template (of every task).

Usage: python scripts/check_held_out.py [--limit 0.9]

Fills every phrasing of ``pixwizard/world/data/held_out.json`` and every template of every task with
the fixed fillers, embeds them all with the router's all-MiniLM-L6-v2 encoder and prints, per phrasing,
its highest cosine to any template and PASS or FAIL. The templates themselves are never
printed: the phrasings are meant to be written (and fixed) blind. Exits 0 only if every phrasing passes.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from importlib import resources

HELD_OUT = ("data", "held_out.json")
"""Location of the phrasings inside the ``pixwizard.world`` package."""

LIMIT = 0.9
"""Highest allowed cosine between a phrasing and any template of any task."""

FILLERS = {
    "referring": "the red circle",
    "color": "blue",
    "edit": "make the square green",
    "caption": "a red circle and a blue star on a plain background",
    "direction": "to the left",
}
"""Fixed slot values used to fill both phrasings and templates before embedding."""


def load_phrasings() -> dict[str, list[str]]:
    """Read the held-out phrasings.

    Returns:
        Task name → list of phrasings with ``{slot}`` placeholders.
    """
    path = resources.files("pixwizard.world").joinpath(*HELD_OUT)
    return json.loads(path.read_text(encoding="utf-8"))["phrasings"]


def slots(text: str) -> set[str]:
    """Names of the ``{slot}`` placeholders in a phrasing or template."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def fill(text: str) -> str:
    """Fill a phrasing or template with the fixed fillers (only the slots it uses).

    Raises:
        ValueError: If the text uses a slot that has no filler.
    """
    unknown = slots(text) - FILLERS.keys()
    if unknown:
        raise ValueError(f"unknown slot(s) {sorted(unknown)} in {text!r}; known: {sorted(FILLERS)}")
    return text.format(**{name: FILLERS[name] for name in slots(text)})


def filled_templates(task: str) -> list[str]:
    """The training templates of one task, filled; for computing numbers only, never for printing."""
    from pixwizard.tasks import TASKS

    return [fill(template) for template in TASKS[task].templates]


def max_template_cosines(phrasings: dict[str, list[str]]) -> dict[str, list[float]]:
    """Highest cosine of each phrasing to every template of every task, in one encoder call.

    Args:
        phrasings: Task name → phrasings with placeholders.

    Returns:
        Task name → one cosine per phrasing, in the same order.
    """
    from pixwizard.tasks import TASKS
    from pixwizard.tasks.router import _encoder

    templates = [text for task in TASKS for text in filled_templates(task)]
    texts, spans = list(templates), {}
    for task, items in phrasings.items():
        spans[task] = (len(texts), len(items))
        texts += [fill(p) for p in items]
    embeddings = _encoder()(texts)
    bank = embeddings[: len(templates)]
    return {
        task: (embeddings[start : start + n] @ bank.T).max(dim=1).values.tolist()
        for task, (start, n) in spans.items()
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=LIMIT, help="highest allowed cosine")
    args = parser.parse_args(argv)
    phrasings = load_phrasings()
    failed = 0
    for task, cosines in max_template_cosines(phrasings).items():
        for index, (text, cosine) in enumerate(zip(phrasings[task], cosines, strict=True)):
            verdict = "PASS" if cosine <= args.limit else "FAIL"
            failed += verdict == "FAIL"
            print(f"{verdict} {cosine:.3f} {task}[{index}] {text}")
        print(f"  {task}: max {max(cosines):.3f}")
    total = sum(len(items) for items in phrasings.values())
    print(f"held-out: {total - failed}/{total} phrasings at cosine <= {args.limit}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
