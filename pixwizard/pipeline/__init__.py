"""Inference pipeline: encoders, flow-matching samplers, guidance and any-resolution sampling.

``tiny_random()`` builds the built-in random-weight model (no download); ``PixWizardPipeline`` is the
pipeline class. Both load lazily so that importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PixWizardPipeline": "pixwizard.pipeline.pipeline",
    "PixWizardPipelineOutput": "pixwizard.pipeline.pipeline",
    "GenerationCancelled": "pixwizard.pipeline.pipeline",
    "tiny_random": "pixwizard.pipeline.pipeline",
    "denoise_step": "pixwizard.pipeline.sampling",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pixwizard.pipeline' has no attribute {name!r}")
