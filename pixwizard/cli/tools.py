"""A CLI command per tool (``pixwizard depth photo.jpg -o out/``), generated from the specs; ``tools list``.

Image tools take one or more images or globs; each runs in turn, with progress on stderr (a bar in a
terminal, a line per 10% otherwise). A bad file does not stop the others: their results are printed, the
bad ones are named on stderr, and the exit code is 1. ``--json`` prints a JSON list of results on stdout.
``-o DIR`` copies every file a result names into DIR (`pixwizard.cli._outputs`). Choices and bounds of
the tool arguments become Typer choices and ranges, so ``--help`` shows them and Typer refuses bad values.
The CLI reads the files named on its command line.
"""

from __future__ import annotations

import enum
import glob
import inspect
import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import annotated_types
import typer

from pixwizard.cli._options import (
    EXPECTED_ERRORS,
    Model,
    chosen_model,
    debugging,
    error_message,
    handle_errors,
    print_error,
)
from pixwizard.cli._outputs import input_stem

EXAMPLES = [
    "pixwizard depth photo.jpg -o out/",
    "pixwizard depth a.png b.png --json",
    "pixwizard restore 'scans/*.jpg' --problem denoise -o clean/",
    "pixwizard ground photo.jpg --referring 'the dog' --mode box",
    "pixwizard tools list",
]
SKIPPED_FIELDS = {"image", "output_dir"}  # -o replaces output_dir
# Jobs live in a server process; plans have their own command (pixwizard agent).
SERVER_ONLY = {"start_job", "job_status", "job_result", "job_cancel", "plan", "run_plan"}

tools_app = typer.Typer(no_args_is_help=True)


# ----------------------------------------------------------------------------------------------------
# Reading a pydantic field: its choices, bounds and type in words
# ----------------------------------------------------------------------------------------------------


def _choices(annotation: Any) -> list[str] | None:
    """The allowed values of a Literal or enum annotation (inside ``X | None`` too), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _choices(inner[0]) if len(inner) == 1 else None
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return None


def _bounds(field) -> dict[str, float]:
    """Inclusive bounds of a field as Typer's ``min``/``max`` (strict ones are left to pydantic)."""
    bounds = {}
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds["min"] = rule.ge
        elif isinstance(rule, annotated_types.Le):
            bounds["max"] = rule.le
    return bounds


def _type_text(annotation: Any) -> str:
    choices = _choices(annotation)
    if choices:
        return "|".join(choices)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " | ".join(_type_text(a) for a in typing.get_args(annotation) if a is not type(None))
    return getattr(annotation, "__name__", str(annotation))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def describe_arguments(spec) -> list[dict]:
    """Each argument of a tool, required first: name, type or ``a|b`` choices, default, bounds, help."""
    rows = []
    fields = spec.input_model.model_fields
    for name, field in sorted(fields.items(), key=lambda item: not item[1].is_required()):
        row = {"name": name, "type": _type_text(field.annotation), "required": field.is_required()}
        if not field.is_required():
            row["default"] = _plain(field.get_default(call_default_factory=True))
        row.update(_bounds(field))
        row["description"] = field.description or ""
        rows.append(row)
    return rows


def _argument_text(row: dict) -> str:
    text = f"{row['name']}: {row['type']}"
    if row["required"]:
        text += " (required)"
    else:
        text += " (optional)" if row["default"] is None else f" = {row['default']}"
    if "min" in row or "max" in row:
        text += f", {row.get('min', '')}..{row.get('max', '')}"
    return text


@tools_app.callback()
def tools() -> None:
    """List the tools."""


@tools_app.command("list")
def list_tools(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every tool with its description and arguments (type or choices, default, bounds)."""
    from pixwizard.tools import default_registry

    rows = [
        {
            "name": s.name,
            "description": s.description,
            "arguments": describe_arguments(s),
            "read_only": s.hints.read_only,
        }
        for s in default_registry()
    ]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']:<18} {row['description']}")
        for argument in row["arguments"]:
            typer.echo(f"{'':<18}   {_argument_text(argument)}")


# ----------------------------------------------------------------------------------------------------
# A command per tool
# ----------------------------------------------------------------------------------------------------


_SCALARS = (str, int, float, bool)


def takes_json(annotation: Any) -> bool:
    """Whether a field is given as JSON on the command line (lists, boxes, objects, unions of those)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(inner) != 1 or takes_json(inner[0])
    if typing.get_origin(annotation) is typing.Literal:
        return False
    if isinstance(annotation, type) and (issubclass(annotation, enum.Enum) or annotation in _SCALARS):
        return False
    return True


def _cli_type(name: str, annotation: Any) -> Any:
    """A type Typer understands for a field: choices as an enum (shown in help), ``X | None`` as Optional."""
    if takes_json(annotation):
        return typing.Optional[str]  # noqa: UP045 (Typer reads Optional); parsed as JSON (`_json_value`)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return typing.Optional[_cli_type(name, inner[0])]  # noqa: UP045 (Typer reads Optional)
    if typing.get_origin(annotation) is typing.Literal:
        values = [str(a) for a in typing.get_args(annotation)]
        return enum.Enum(name.title().replace("_", ""), {v: v for v in values}, type=str)
    return annotation


def _field_parameter(name: str, field) -> inspect.Parameter:
    cli_type = _cli_type(name, field.annotation)
    flag = f"--{name.replace('_', '-')}"
    declaration = f"{flag}/--no-{flag[2:]}" if cli_type is bool else flag
    help_text = field.description or ""
    if takes_json(field.annotation):
        help_text += " (JSON, e.g. [10, 20, 110, 120]; plain text is taken as a string)"
    from rich.markup import escape

    option = typer.Option(declaration, help=escape(help_text), **_bounds(field))
    default = inspect.Parameter.empty if field.is_required() else _plain(field.default)
    if takes_json(field.annotation) and not field.is_required():
        default = None
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[cli_type, option]
    )


_OUTPUT_HELP = "Copy every file of each result into this folder (never over a file)."
_COMMON = {
    "output": (None, Annotated[Path | None, typer.Option("--output", "-o", help=_OUTPUT_HELP)]),
    "json_out": (False, Annotated[bool, typer.Option("--json", help="Print a JSON list of results.")]),
    "model": (None, Model),
    "store": (None, Annotated[Path | None, typer.Option(help="Where results are stored.")]),
    "device": ("auto", Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]),
}


def make_command(spec):
    """A Typer command whose options are the spec's input fields."""
    fields = spec.input_model.model_fields
    takes_image = "image" in fields
    params = []
    if takes_image:
        required = fields["image"].is_required()
        help_text = "Input images, paths or globs." if required else "An input image (optional)."
        params.append(
            inspect.Parameter(
                "images",
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if required else None,
                annotation=Annotated[
                    list[str] | None if not required else list[str], typer.Argument(help=help_text)
                ],
            )
        )
    params += [_field_parameter(name, f) for name, f in fields.items() if name not in SKIPPED_FIELDS]
    for name, (default, annotation) in _COMMON.items():
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )

    @handle_errors
    def command(**kwargs) -> None:
        _run_command(spec, takes_image, kwargs)

    command.__signature__ = inspect.Signature(params)
    command.__doc__ = spec.description
    command.__name__ = spec.name
    return command


def _expand(patterns: list[str]) -> list[str]:
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise ValueError(f"no file matches {pattern!r}")
        paths.extend(matches)
    return paths


def _run_command(spec, takes_image: bool, kwargs: dict) -> None:
    from pixwizard.cli._outputs import OutputFolder
    from pixwizard.pipeline.names import check_model_name
    from pixwizard.tools import make_context

    output, json_out = kwargs.pop("output"), kwargs.pop("json_out")
    store, device = kwargs.pop("store"), kwargs.pop("device")
    model = kwargs.pop("model")
    model = chosen_model(model) if spec.generates else model or "tiny-random"  # describe_image loads none
    check_model_name(model)
    images = _expand(kwargs.pop("images") or []) if takes_image else []
    inputs = images or [None]
    fields = spec.input_model.model_fields
    arguments = {
        name: _json_value(value) if name in fields and takes_json(fields[name].annotation) else _plain(value)
        for name, value in kwargs.items()
        if not (value is None and name in fields and takes_json(fields[name].annotation))
    }
    # Every argument is checked before any model work: a bad value costs nothing and writes nothing.
    spec.input_model.model_validate(dict(arguments, **({"image": inputs[0]} if inputs[0] else {})))
    missing = {image for image in images if _missing_file(image)}
    folder = OutputFolder(output) if output else None
    try:
        ctx = make_context(model, store_dir=store, any_path=True, device=device)
        if spec.generates and len(missing) < len(inputs):
            ctx.backend.pipe  # noqa: B018 (load now: a model that cannot load is one error, not one per file)
        results = _run_each(spec, ctx, arguments, inputs, missing, folder)
    finally:
        if folder is not None:
            folder.close()
    _print_results(spec, results, json_out)
    failed = [entry["input"] for entry in results if "error" in entry]
    if len(results) > 1 and failed:
        print_error(ValueError(f"{len(failed)} of {len(results)} inputs failed: {', '.join(failed)}"))
    if failed:
        raise typer.Exit(code=1)


def _json_value(text: str) -> Any:
    """A JSON option's value: parsed when it is JSON, else the text itself (e.g. where='top left')."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _missing_file(reference: str) -> bool:
    """A reference meant as a local file (not an id or a URI) that does not exist: known before any work."""
    return not re.match(r"^(img_|[a-z][a-z0-9+.-]*:)", reference) and not os.path.lexists(reference)


def _run_each(spec, ctx, arguments: dict, inputs: list, missing: set, folder) -> list[dict]:
    """Run the tool on every input; a failing input becomes ``{"input", "error"}`` and the rest go on."""
    from pixwizard.cli._outputs import result_files
    from pixwizard.cli._progress import progress_reporter
    from pixwizard.tools import ToolError, default_registry, invoke

    registry = default_registry()
    results = []
    with progress_reporter() as start:
        for image in inputs:
            args = dict(arguments, **({"image": image} if image is not None else {}))
            try:
                if image in missing:
                    raise ToolError(f"{image} does not exist")
                out = invoke(spec, args, ctx, start(f"{spec.name} {image or ''}".strip()), registry=registry)
                result = out.model_dump(mode="json")
                if folder is not None:
                    written = folder.write(_file_stem(spec, arguments, image, result), result_files(result))
                    result["written"] = [str(p) for p in written]
                    result["exported_to"] = result["written"][0] if written else None
            except EXPECTED_ERRORS as exc:
                if debugging():
                    raise
                print_error(exc, subject=image)
                results.append({"input": image, "error": error_message(exc)})
                continue
            results.append({"input": image, **result} if image is not None else result)
    return results


def _file_stem(spec, arguments: dict, image: str | None, result: dict) -> str:
    """``<input stem>_<label>`` (annotate's map kind, run_instruction's task, else the tool), or the tool."""
    if image is None:
        return spec.name
    label = arguments.get("kind") or (result.get("task") if spec.name == "run_instruction" else None)
    return f"{input_stem(image, spec.name)}_{label or spec.name}"


def _print_results(spec, results: list[dict], json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(results, indent=2))
        return
    for result in results:
        if "error" in result:
            continue
        stored = result.get("image") if isinstance(result.get("image"), dict) else {}
        target = ", ".join(result.get("written") or []) or stored.get("path") or json.dumps(result)
        typer.echo(f"{result.get('input') or spec.name} -> {target}")


def register(app: typer.Typer) -> None:
    """Add ``tools list`` and a command per tool to the main app."""
    from pixwizard.tools import default_registry

    app.add_typer(tools_app, name="tools", rich_help_panel="Tools")
    for spec in default_registry():
        if spec.name not in SERVER_ONLY:
            app.command(spec.name, rich_help_panel="Tools")(make_command(spec))
