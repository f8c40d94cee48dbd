"""The world, the answers, the metrics and the scoring import without torch (the harness loads it lazily)."""

from __future__ import annotations

import subprocess
import sys


def test_world_and_evaluation_import_without_torch():
    modules = (
        "pixwizard.world, pixwizard.world.samples, pixwizard.world.export, pixwizard.tasks.answers, "
        "pixwizard.eval.metrics, pixwizard.eval.scoring, pixwizard.eval.baselines, pixwizard.eval.detector, "
        "pixwizard.eval.classical, pixwizard.eval.harness, pixwizard.eval.report"
    )
    check = "bad = [m for m in sys.modules if m == 'torch']; print(bad); assert not bad"
    code = f"import sys; import {modules}; {check}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
