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
EXPECTED_ERRORS = (PixWizardError, ToolError, ValueError, OSError)  # ValidationError is a ValueError

Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output folder if it exists.")]
Model = Annotated[
    str | None,
    typer.Option(
        show_default=False,
        help=f"Model: a folder from `pixwizard models fetch` or `pixwizard train`, a Hub id, or built in "
        f"(pixwizard-world, tiny-random). Default: {MODEL_ENV}, then the folder `pixwizard models fetch` "
        "writes without --dir, then pixwizard-world (tiny-random where its weights are not installed).",
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


def chosen_model(value: str | None) -> str:
    """The model a command runs (`pixwizard.pipeline.names.choose_model`), with a one-line notice on stderr.

    ``--model`` given on the command line is used silently; any other choice is announced.
    """
    from pixwizard.pipeline.names import choose_model

    choice = choose_model(value)
    if choice.source != "given":
        print(choice.notice(), file=sys.stderr)
    return choice.model
