"""The tool contract: one typed spec per tool, from which the MCP, LangChain and CLI faces are made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel


class ToolError(Exception):
    """A refusal or failure the caller (often an LLM) should read: what went wrong and what to try.

    Args:
        message: What went wrong, in one sentence.
        suggestions: Concrete next steps.
    """

    def __init__(self, message: str, suggestions: list[str] | None = None):
        self.message = message
        self.suggestions = list(suggestions or [])
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if not self.suggestions:
            return self.message
        return f"{self.message} (try: {'; '.join(self.suggestions)})"


@dataclass(frozen=True)
class Hints:
    """MCP tool annotations: does the tool only read, can it destroy, is a repeat harmless."""

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """A tool: name, LLM-facing description, input/output models, the function, and its hints.

    Attributes:
        name: The tool name (fixed; clients rely on it).
        description: What it does, written for an LLM choosing a tool.
        input_model: Pydantic model of the arguments.
        output_model: Pydantic model of the result.
        fn: ``fn(args, context, progress, cancel) -> output``; ``progress(done, total)`` may be None.
        hints: MCP annotations.
        generates: Runs the model (serialised on the backend; ``start_job`` can run it in the background).
        examples: Example argument dicts (CLI help, tests).
        tasks: The tasks of `pixwizard.tasks` this tool serves (each task is served by exactly one tool).
        model_calls: How many model calls one call makes at least (a plan's dry run counts them), or a
            function of the call's arguments.
        precheck: ``precheck(args, registry)`` raises `ToolError` for a call that cannot run; ``start_job``
            calls it before queuing, so a bad call fails at once and not inside the job.
    """

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    fn: Callable
    hints: Hints = field(default_factory=Hints)
    generates: bool = True
    examples: tuple[dict, ...] = ()
    tasks: tuple[str, ...] = ()
    model_calls: int | Callable[[dict], int] | None = None
    precheck: Callable | None = None

    @property
    def calls(self) -> int:
        """Model calls per call: ``model_calls`` if set, else 1 for a generating tool and 0 otherwise."""
        if self.model_calls is not None:
            return self.model_calls
        return 1 if self.generates else 0


def validation_message(exc, *, prefix: str = "") -> str:
    """One line per invalid argument of a pydantic ``ValidationError``: the field, the value, what is allowed.

    Pydantic's own text spends four to eight lines per error (with a documentation URL); tool callers and
    CLI users need the field's name, what they passed and what would be accepted, on one line.

    Args:
        exc: The ``ValidationError``.
        prefix: Put before each field name (``--`` for CLI options).

    Returns:
        ``"invalid mode='sideways': must be 'mask', 'box' or 'highlight'"`` and similar, joined by ``"; "``.
    """
    parts = []
    for error in exc.errors(include_url=False):
        field_name = ".".join(str(p) for p in error.get("loc", ())) or "arguments"
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            parts.append(f"unknown argument {prefix}{field_name}")
            continue
        if kind == "missing":
            parts.append(f"missing required argument {prefix}{field_name}")
            continue
        value = error.get("input")
        shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:57] + "...")
        message = error.get("msg", "is invalid")
        expected = (error.get("ctx") or {}).get("expected")
        if expected:
            message = f"must be {expected}"
        parts.append(f"invalid {prefix}{field_name}={shown}: {message[0].lower()}{message[1:]}")
    return "; ".join(parts)
