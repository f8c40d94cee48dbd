"""Shared pieces of the CLI: the one error formatter and option aliases used by several commands."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from pixwizard.errors import PixWizardError
from pixwizard.tools.spec import ToolError, validation_message

P = ParamSpec("P")
R = TypeVar("R")

DEBUG_ENV = "PIXWIZARD_DEBUG"
MODEL_ENV = "PIXWIZARD_MODEL"
DEFAULT_MODEL = "tiny-random"
EXPECTED_ERRORS = (PixWizardError, ToolError, ValueError, OSError)  # ValidationError is a ValueError

Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")]
Model = Annotated[
    str | None,
    typer.Option(
        envvar=MODEL_ENV,
        show_default=False,
        help=f"Model: {DEFAULT_MODEL} (built in, the default; outputs are noise), a folder from "
        "`pixwizard models fetch` or `pixwizard train`, or a Hub id.",
    ),
]


class _OptionNames:
    """A ``ValidationError`` seen with CLI spellings: ``text_guidance`` becomes ``text-guidance``."""

    def __init__(self, exc: ValidationError):
        self._exc = exc

    def errors(self, **kwargs) -> list[dict]:
        return [
            dict(error, loc=tuple(str(part).replace("_", "-") for part in error.get("loc", ())))
            for error in self._exc.errors(**kwargs)
        ]


def error_message(exc: BaseException) -> str:
    """One line for an expected error (a pydantic ``ValidationError`` names each option, value and rule)."""
    if isinstance(exc, ValidationError):
        return validation_message(_OptionNames(exc), prefix="--")
    return str(exc)


def print_error(exc: BaseException, subject: str | None = None) -> None:
    """``error: [subject: ]message`` on stderr, with the hint for a traceback."""
    where = f"{subject}: " if subject else ""
    print(f"error: {where}{error_message(exc)}  (set {DEBUG_ENV}=1 for a traceback)", file=sys.stderr)


def debugging() -> bool:
    """True when ``PIXWIZARD_DEBUG=1`` asks for tracebacks instead of one-line errors."""
    return os.environ.get(DEBUG_ENV) == "1"


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn expected errors into one line on stderr and exit code 1 (a traceback with PIXWIZARD_DEBUG=1)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EXPECTED_ERRORS as exc:
            if debugging():
                raise
            print_error(exc)
            raise typer.Exit(code=1) from None

    return wrapper


def default_model_notice(model: str, explicit: bool) -> str | None:
    """The one-line notice for a command that fell back to the default model, or None when one was chosen.

    Args:
        model: The model that will be used.
        explicit: Whether the user named it (``--model`` or ``PIXWIZARD_MODEL``).
    """
    if explicit:
        return None
    return (
        f"note: no model given, so the built-in {model} runs (random weights, its outputs are noise); "
        f"choose one with --model DIR or {MODEL_ENV}=DIR (`pixwizard models fetch --dir DIR` gets the "
        "released model)"
    )


def chosen_model(value: str | None) -> str:
    """The model a command runs: ``value`` (``--model`` or ``PIXWIZARD_MODEL``), else the default, noticed."""
    model = value or DEFAULT_MODEL
    notice = default_model_notice(model, explicit=bool(value))
    if notice:
        print(notice, file=sys.stderr)
    return model
