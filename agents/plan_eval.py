"""Score a planner on multi-step requests.

``python -m pixwizard.agents.plan_eval [FILE] [--verbose]`` prints
``exact=0.xxx slots=0.xxx n=N questions=Q``:

- ``exact``: the share of rows whose plan calls the tools of one acceptable sequence, in its order;
- ``slots``: the share whose plan matches one acceptable sequence *and* every slot that sequence lists;
- ``questions``: how many rows got a question instead of a plan (each counts as a miss).

Slots compare after normalising (lower case, no punctuation, no leading "the"/"a"/"an"); ``caption``,
``instruction``, ``replacement``, ``what`` and ``where`` match when one contains the other; lists compare
as sets; numbers numerically. The default data is the packaged ``plan_eval.jsonl`` (rows ``{"request",
"inputs", "acceptable": [[{"tool", "slots"}, ...], ...]}``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from .planner import Planned, plan_offline

CONTAINED = frozenset({"caption", "instruction", "replacement", "what", "where"})
DEFAULT_DATA = "plan_eval.jsonl"


def load_rows(path: str | Path | None = None) -> list[dict]:
    """The evaluation rows: a file, or the packaged ``plan_eval.jsonl``."""
    if path is None:
        text = (resources.files("pixwizard.agents") / "data" / DEFAULT_DATA).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            missing = {"request", "acceptable"} - set(row)
            if missing:
                raise ValueError(
                    f"line {number}: add {', '.join(sorted(missing))} (see the module docstring)"
                )
            rows.append(row)
    return rows


def normalise(value: object) -> str:
    """Lower case, punctuation dropped, spaces collapsed, a leading article dropped."""
    text = " ".join(re.sub(r"[^\w\s]", "", str(value).lower()).split())
    return re.sub(r"^(?:the|a|an)\s+", "", text)


def slot_matches(name: str, expected: object, found: object) -> bool:
    """Whether a plan's argument matches a listed slot (see the module docstring for the rules)."""
    if found is None:
        return False
    if isinstance(expected, list):
        return isinstance(found, list) and {normalise(v) for v in expected} == {normalise(v) for v in found}
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(found, str):
            found = found.strip()
            if not re.fullmatch(r"-?\d+(?:\.\d+)?", found):
                return False
        return isinstance(found, (int, float, str)) and float(found) == float(expected)
    want, got = normalise(expected), normalise(found)
    if name in CONTAINED:
        return bool(want and got) and (want in got or got in want)
    return want == got


def _slots_match(steps: list, sequence: list[dict]) -> bool:
    return all(
        all(slot_matches(name, value, step.args.get(name)) for name, value in item["slots"].items())
        for step, item in zip(steps, sequence, strict=True)
    )


def judge(row: dict, planned: Planned) -> dict:
    """One row's result: ``exact`` and ``slots`` hits, the plan's tools (or its question), the closest answer.

    The closest acceptable sequence is the first with the plan's tools, else the first of all.
    """
    if planned.plan is None:
        question = planned.question.question if planned.question else "?"
        return {
            "exact": False,
            "slots": False,
            "got": f"question: {question}",
            "args": None,
            "expected": row["acceptable"][0],
        }
    steps = planned.plan.steps
    tools = [step.tool for step in steps]
    same = [seq for seq in row["acceptable"] if [item["tool"] for item in seq] == tools]
    return {
        "exact": bool(same),
        "slots": any(_slots_match(steps, seq) for seq in same),
        "got": tools,
        "args": [step.args for step in steps],
        "expected": (same or row["acceptable"])[0],
    }


def score(rows: list[dict], planner: Callable[..., Planned] = plan_offline) -> dict:
    """Plan every row and score it.

    Args:
        rows: Evaluation rows (``request``, ``inputs``, ``acceptable``).
        planner: Called as ``planner(request, inputs=...)``; returns a `Planned`.

    Returns:
        ``exact`` and ``slots`` (shares of rows), ``n``, ``questions`` (rows answered with a question) and
        ``misses``: the `judge` result, with its ``request``, of every row that missed ``slots``.
    """
    results = []
    for row in rows:
        planned = planner(row["request"], inputs=row.get("inputs", 1))
        results.append({"request": row["request"], "question": planned.plan is None, **judge(row, planned)})
    n = max(1, len(rows))
    return {
        "exact": sum(r["exact"] for r in results) / n,
        "slots": sum(r["slots"] for r in results) / n,
        "n": len(rows),
        "questions": sum(r["question"] for r in results),
        "misses": [r for r in results if not r["slots"]],
    }


def summary(result: dict) -> str:
    """The one-line report: ``exact=0.xxx slots=0.xxx n=N questions=Q``."""
    return (
        f"exact={result['exact']:.3f} slots={result['slots']:.3f} n={result['n']} "
        f"questions={result['questions']}"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the summary line (and, with ``--verbose``, every miss)."""
    parser = argparse.ArgumentParser(
        prog="python -m pixwizard.agents.plan_eval", description=__doc__.split("\n")[0]
    )
    parser.add_argument("file", nargs="?", help="JSON lines to score (default: the packaged plan_eval.jsonl)")
    parser.add_argument("--verbose", action="store_true", help="also print each miss")
    args = parser.parse_args(argv)
    result = score(load_rows(args.file))
    print(summary(result))
    if args.verbose:
        for miss in result["misses"]:
            print(f"MISS ({'slots' if miss['exact'] else 'tools'}) {miss['request']}")
            print(f"  got:      {miss['got']}")
            if miss["args"] is not None:
                print(f"  args:     {miss['args']}")
            print(f"  expected: {[(item['tool'], item['slots']) for item in miss['expected']]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
