"""Shared pieces of the CLI: the one error formatter and option aliases used by several commands."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer

from pixwizard.errors import PixWizardError
from pixwizard.tools.spec import ToolError

P = ParamSpec("P")
R = TypeVar("R")

DEBUG_ENV = "PIXWIZARD_DEBUG"

Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")]


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected errors into one line on stderr and exit code 1 (a traceback with PIXWIZARD_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (PixWizardError, ToolError, ValueError, OSError) as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            print(f"error: {exc}  (set {DEBUG_ENV}=1 for a traceback)", file=sys.stderr)
            raise typer.Exit(code=1) from None

    return wrapper
