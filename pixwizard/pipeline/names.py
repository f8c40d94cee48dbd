"""What a model name means, decided before anything is loaded (and without importing torch).

A model is named by a built-in name (``tiny-random``), a folder (``save_pretrained``, ``pixwizard models
fetch``, a ``pixwizard train`` export, the authors' checkpoint) or a Hugging Face repository id
(``owner/name``). `check_model_name` refuses at once what can be none of them: a path-like name whose folder
does not exist, or a bare word that is not built in, so that a typo never turns into a Hub lookup.
"""

from __future__ import annotations

import os
import re
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
