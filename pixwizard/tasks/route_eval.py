"""Evaluate the router on requests written by someone who never saw our templates.

``python -m pixwizard.tasks.route_eval [FILE]`` prints:

- ``top1=``: the share of in-scope requests whose task is recognised (unsure counts as wrong);
- per-family accuracy and the confusions (expected → got, with counts);
- ``slots_exact=``: among in-scope requests that state slots, the share whose task is right and whose slots
  all match (compared case-insensitively, ignoring surrounding punctuation and spaces);
- ``unsure_rate=``: the share of out-of-scope requests the router answers with "unsure";
- ``template_overlap=``: the number of 4-word runs shared by the data and our templates (must be 0, so the
  data cannot have been copied from the templates or the templates tuned to repeat it).

The default data is ``pixwizard/tasks/data/route_eval.jsonl``.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pixwizard.tasks.registry import TASKS
from pixwizard.tasks.router import route

UNSURE = "unsure"


@dataclass
class RouteReport:
    """Results of a routing evaluation."""

    top1: float
    slots_exact: float
    unsure_rate: float
    template_overlap: int
    per_family: dict[str, float]
    confusions: Counter = field(default_factory=Counter)
    slot_misses: list[tuple[str, dict, dict]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The printable report."""
        out = [
            f"top1={self.top1:.3f}",
            f"slots_exact={self.slots_exact:.3f}",
            f"unsure_rate={self.unsure_rate:.3f}",
            f"template_overlap={self.template_overlap}",
            "per-family accuracy:",
        ]
        out += [f"  {family}: {accuracy:.3f}" for family, accuracy in sorted(self.per_family.items())]
        out.append("confusions (expected -> got: count):")
        out += [f"  {exp} -> {got}: {n}" for (exp, got), n in self.confusions.most_common()] or ["  none"]
        return out


def load_requests(path: str | Path | None = None) -> list[dict]:
    """The evaluation requests (JSON lines with ``text``, ``task``, ``slots``)."""
    if path is None:
        text = (
            resources.files("pixwizard.tasks")
            .joinpath("data", "route_eval.jsonl")
            .read_text(encoding="utf-8")
        )
    else:
        text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _norm(value: str) -> str:
    return " ".join(value.lower().split()).strip(" .,;:!?\"'")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def shared_four_grams(requests: list[dict]) -> set[tuple[str, ...]]:
    """4-word runs that appear both in a request and in one of our templates (placeholders excluded)."""

    def grams(text: str) -> set[tuple[str, ...]]:
        words = _words(text)
        return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}

    template_grams: set[tuple[str, ...]] = set()
    for spec in TASKS.values():
        for template in spec.templates:
            for piece in re.split(r"\{\w+\}", template):  # runs never span a placeholder
                template_grams |= grams(piece)
    data_grams = set().union(*(grams(item["text"]) for item in requests))
    return template_grams & data_grams


def evaluate(requests: list[dict]) -> RouteReport:
    """Route every request and score the results."""
    in_scope = [r for r in requests if r["task"] != UNSURE]
    out_of_scope = [r for r in requests if r["task"] == UNSURE]
    confusions: Counter = Counter()
    family_hits: Counter = Counter()
    family_totals: Counter = Counter()
    correct = slot_total = slot_exact = unsure_hits = 0
    misses = []
    for item in in_scope:
        result = route(item["text"])
        got = result.task or UNSURE
        family = TASKS[item["task"]].family.value
        family_totals[family] += 1
        if got == item["task"]:
            correct += 1
            family_hits[family] += 1
        else:
            confusions[(item["task"], got)] += 1
        if item["slots"]:
            slot_total += 1
            expected = {k: _norm(v) for k, v in item["slots"].items()}
            found = {k: _norm(v) for k, v in result.slots.items()}
            if got == item["task"] and found == expected:
                slot_exact += 1
            else:
                misses.append((item["text"], expected, found))
    for item in out_of_scope:
        result = route(item["text"])
        unsure_hits += result.unsure
        if not result.unsure:
            confusions[(UNSURE, result.task)] += 1
    return RouteReport(
        top1=correct / max(1, len(in_scope)),
        slots_exact=slot_exact / max(1, slot_total),
        unsure_rate=unsure_hits / max(1, len(out_of_scope)),
        template_overlap=len(shared_four_grams(requests)),
        per_family={f: family_hits[f] / family_totals[f] for f in family_totals},
        confusions=confusions,
        slot_misses=misses,
    )


def main(argv: list[str] | None = None) -> int:
    """Print the report; ``--misses`` also lists the slot misses."""
    argv = sys.argv[1:] if argv is None else argv
    show_misses = "--misses" in argv
    paths = [a for a in argv if not a.startswith("--")]
    report = evaluate(load_requests(paths[0] if paths else None))
    print("\n".join(report.lines()))
    if show_misses:
        print("slot misses (text | expected | found):")
        for text, expected, found in report.slot_misses:
            print(f"  {text} | {expected} | {found}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
