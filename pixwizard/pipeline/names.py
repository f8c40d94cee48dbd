"""What a model name means, decided before anything is loaded (and without importing torch).

A model is named by a built-in name (``tiny-random``), a folder (``save_pretrained``, ``pixwizard models
fetch``, a ``pixwizard train`` export, the authors' checkpoint) or a Hugging Face repository id
(``owner/name``). `check_model_name` refuses at once what can be none of them: a path-like name whose folder
does not exist, or a bare word that is not built in, so that a typo never turns into a Hub lookup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pixwizard.errors import CheckpointError

BUILT_IN_MODELS = ("tiny-random", "pixwizard-world", "pixwizard-world-untrained")
FETCH_HINT = (
    "get the released model with `pixwizard models fetch --dir DIR` and pass --model DIR, "
    "or pass a folder written by save_pretrained or `pixwizard train` (out_dir/export)"
)
# owner/name as the Hub spells it: letters, digits, '-', '_' and '.', neither end a '-' or '.'
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9_]$")


class ModelNotFoundError(CheckpointError):
    """A model name that is neither built in, an existing folder, nor a Hub repository id."""


def looks_like_path(name: str) -> bool:
    """True for names meant as folders.

    That is, names starting with ``/``, ``.`` or ``~``, or with a path separator an ``owner/name`` repository
    id cannot have (a backslash, or more than one ``/``).
    """
    separators = "\\" in name or (os.sep != "/" and os.sep in name) or name.count("/") > 1
    return name.startswith(("/", ".", "~")) or separators


def check_model_name(name: str | os.PathLike) -> None:
    """Refuse a model name that cannot resolve, at once and in words.

    Args:
        name: What the caller passed (``--model``, ``from_pretrained``'s first argument).

    Raises:
        ModelNotFoundError: For a path-like name whose folder does not exist, and for a name that is not
            built in, not a folder and not an ``owner/name`` repository id. The message lists the built-in
            names and how to get the released model.
    """
    text = str(name)
    if text in BUILT_IN_MODELS or Path(text).expanduser().exists():
        return
    if isinstance(name, os.PathLike) or looks_like_path(text):
        resolved = Path(text).expanduser().absolute()
        raise ModelNotFoundError(f"no model folder at {resolved}: it does not exist; {FETCH_HINT}")
    if not _REPO_ID.match(text):
        raise ModelNotFoundError(
            f"unknown model {text!r}: not a built-in model ({', '.join(BUILT_IN_MODELS)}), not a folder, "
            f"and not a Hugging Face repository id (owner/name); {FETCH_HINT}"
        )


# -- which model runs when none is named ---------------------------------------------------------------

MODEL_ENV = "PIXWIZARD_MODEL"
HOME_ENV = "PIXWIZARD_HOME"
WORLD_MODEL = "pixwizard-world"
FALLBACK_MODEL = "tiny-random"


def pixwizard_home() -> Path:
    """``PIXWIZARD_HOME``, else ``pixwizard`` in the user's cache (``XDG_CACHE_HOME`` or ``~/.cache``)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "pixwizard"


def default_fetch_dir() -> Path:
    """Where ``pixwizard models fetch`` writes the released model when given no ``--dir``."""
    return pixwizard_home() / "models" / "pixwizard"


def world_weights_present() -> bool:
    """True when this installation ships the trained ``pixwizard-world`` weights (package data)."""
    return (world_weights_path() / "config.json").is_file()


@dataclass(frozen=True)
class ModelChoice:
    """The model a process runs and why: ``given``, ``env``, ``fetched``, ``built-in`` or ``fallback``."""

    model: str
    source: str

    def notice(self) -> str:
        """One line saying which model was chosen and how to choose another."""
        how = f"choose another with --model or {MODEL_ENV}"
        if self.source == "given":
            return f"model: {self.model}"
        if self.source == "env":
            return f"model: {self.model} (from {MODEL_ENV})"
        if self.source == "fetched":
            return f"model: the released PixWizard fetched to {self.model}; {how}"
        if self.source == "built-in":
            return (
                f"model: {WORLD_MODEL}, the built-in small model trained on synthetic PixWorld scenes "
                f"(real work on such scenes, little on photos); `pixwizard models fetch` gets the "
                f"released model; {how}"
            )
        return (
            f"note: no model given, so the built-in {self.model} runs (random weights, its outputs are "
            f"noise: this installation has no trained {WORLD_MODEL} weights); {how} (`pixwizard models "
            "fetch` gets the released model)"
        )


def choose_model(value: str | os.PathLike | None = None) -> ModelChoice:
    """The model to run: ``value``, then ``PIXWIZARD_MODEL``, then the default fetch folder, then built in.

    The default fetch folder counts once it is complete (its ``model_index.json`` exists). The built-in
    model is ``pixwizard-world`` when its weights ship with this installation, else ``tiny-random``.
    """
    if value:
        return ModelChoice(str(value), "given")
    if os.environ.get(MODEL_ENV):
        return ModelChoice(os.environ[MODEL_ENV], "env")
    fetched = default_fetch_dir()
    if (fetched / "model_index.json").is_file():
        return ModelChoice(str(fetched), "fetched")
    if world_weights_present():
        return ModelChoice(WORLD_MODEL, "built-in")
    return ModelChoice(FALLBACK_MODEL, "fallback")


def world_weights_path() -> Path:
    """The package folder of the ``pixwizard-world`` weights (``pixwizard/models/pixwizard_world``)."""
    return Path(__file__).resolve().parents[1] / "models" / "pixwizard_world"


def available_models() -> list[dict]:
    """The models this installation can run offline, each ``{name, kind, location, default, note}``.

    Built-in models always (``pixwizard-world`` marked when its weights are missing), the folder
    ``pixwizard models fetch`` writes by default once it is complete, and ``PIXWIZARD_MODEL`` when set.
    ``default`` marks the model `choose_model` picks when none is given. Nothing is loaded.
    """
    chosen = choose_model().model
    world = world_weights_path()
    rows = [
        {
            "name": WORLD_MODEL,
            "kind": "built-in",
            "location": str(world) if world_weights_present() else None,
            "note": (
                "a small model trained on synthetic PixWorld scenes"
                if world_weights_present()
                else "not installed in this copy (its weights are package data of a full installation)"
            ),
        },
        {
            "name": FALLBACK_MODEL,
            "kind": "built-in",
            "location": None,
            "note": "random weights at toy width, for tests: outputs are noise",
        },
        {
            "name": "pixwizard-world-untrained",
            "kind": "built-in",
            "location": None,
            "note": "pixwizard-world's layout with random weights (`pixwizard train world` starts here)",
        },
    ]
    fetched = default_fetch_dir()
    if (fetched / "model_index.json").is_file():
        rows.append(
            {
                "name": str(fetched),
                "kind": "fetched",
                "location": str(fetched),
                "note": "the released PixWizard (pixwizard models fetch)",
            }
        )
    env = os.environ.get(MODEL_ENV)
    if env and env not in {row["name"] for row in rows}:
        rows.append({"name": env, "kind": "env", "location": env, "note": f"named by {MODEL_ENV}"})
    for row in rows:
        row["default"] = row["name"] == chosen
    return rows
