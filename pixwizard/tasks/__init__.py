"""Tasks: the catalogue, instructions and routing, input preparation, and typed structured results.

Torch-free entry points (``TASKS``, ``get_task``, ``build_instruction``, the result models) import eagerly;
``route`` loads the sentence encoder on first use and ``run_task`` needs the pipeline.
"""

from __future__ import annotations

import importlib
from typing import Any

from pixwizard.tasks.instructions import build_instruction
from pixwizard.tasks.registry import TASKS, Family, InputKind, OutputKind, TaskSpec, get_task

_LAZY = {
    "route": "pixwizard.tasks.router",
    "extract_slots": "pixwizard.tasks.router",
    "run_task": "pixwizard.tasks.runner",
}

__all__ = ["TASKS", "Family", "InputKind", "OutputKind", "TaskSpec", "build_instruction", "get_task", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pixwizard.tasks' has no attribute {name!r}")
