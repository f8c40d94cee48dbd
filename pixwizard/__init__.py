"""PixWizard: one instruction-following image model, as a library, tools, an MCP server and a CLI.

The model restores, grounds, segments, estimates depth and normals, edits, generates under control,
inpaints, outpaints and draws from text, all from free-form instructions.

Importing this package is cheap: heavy modules (torch, diffusers) load only when a name that needs them is
used, so `import pixwizard.tools` and listing tools stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_LAZY = {
    "PixWizardTransformer": "pixwizard.model.transformer",
    "PixWizardError": "pixwizard.errors",
    "ConfigError": "pixwizard.errors",
    "CheckpointError": "pixwizard.errors",
}

if TYPE_CHECKING:
    from pixwizard.errors import CheckpointError, ConfigError, PixWizardError
    from pixwizard.model.transformer import PixWizardTransformer

__all__ = ["CheckpointError", "ConfigError", "PixWizardError", "PixWizardTransformer", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pixwizard' has no attribute {name!r}")
