"""The planner's scores on every packaged request set (the held-out one is scored, never shown row by row)."""

from __future__ import annotations

from importlib import resources

import pytest
from pixwizard.agents.plan_eval import load_rows, score

# The bars: the tuning sets, and the held-out set written blind and never read while tuning the planner.
BARS = {
    "plan_eval.jsonl": 0.90,
    "plan_tune_a.jsonl": 0.85,
    "plan_tune_b.jsonl": 0.85,
    "plan_holdout.jsonl": 0.75,
}


@pytest.mark.parametrize("name", BARS)
def test_exact_plans_reach_the_bar(name):
    path = resources.files("pixwizard.agents") / "data" / name
    result = score(load_rows(str(path)))
    print(f"{name}: exact={result['exact']:.3f} slots={result['slots']:.3f} n={result['n']}")
    assert result["n"] >= 40 and result["exact"] >= BARS[name]
