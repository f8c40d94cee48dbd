"""A CLI command per tool (``pixwizard depth photo.jpg -o out/``), generated from the specs; ``tools list``.

Image tools take one or more images or globs; each runs in turn with a progress bar on stderr. ``--json``
prints a JSON list of results on stdout. The CLI reads the files named on its command line.
"""

from __future__ import annotations

import enum
import glob
import inspect
import json
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from pixwizard.cli._options import handle_errors

EXAMPLES = [
    "pixwizard depth photo.jpg -o out/",
    "pixwizard depth a.png b.png --json",
    "pixwizard restore 'scans/*.jpg' --problem denoise -o clean/",
    "pixwizard ground photo.jpg --referring 'the dog' --mode box",
    "pixwizard tools list",
]
SKIPPED_FIELDS = {"image", "wait", "output_dir"}
SERVER_ONLY = {"job_status", "job_result", "job_cancel"}  # jobs live in a server process

tools_app = typer.Typer(no_args_is_help=True)


@tools_app.callback()
def tools() -> None:
    """List the tools."""


@tools_app.command("list")
def list_tools(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every tool with its description and arguments."""
    from pixwizard.tools import REGISTRY

    rows = [
        {
            "name": s.name,
            "description": s.description,
            "arguments": list(s.input_model.model_fields),
            "read_only": s.hints.read_only,
        }
        for s in REGISTRY.values()
    ]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']:<18} {row['description']}")


def _cli_type(annotation: Any) -> Any:
    """A type Typer understands for a pydantic field (Literal → str, ``X | None`` → Optional[X])."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return str
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return typing.Optional[_cli_type(inner[0])]  # noqa: UP045 (Typer reads Optional)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    return annotation


def _expand(patterns: list[str]) -> list[str]:
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise ValueError(f"no file matches {pattern!r}")
        paths.extend(matches)
    return paths


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
    for name, field in fields.items():
        if name in SKIPPED_FIELDS:
            continue
        default = inspect.Parameter.empty if field.is_required() else field.default
        if isinstance(default, enum.Enum):
            default = default.value
        option = typer.Option(f"--{name.replace('_', '-')}", help=field.description)
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[_cli_type(field.annotation), option],
            )
        )
    common = {
        "output": (
            None,
            Annotated[Path | None, typer.Option("--output", "-o", help="Copy results into this folder.")],
        ),
        "json_out": (
            False,
            Annotated[bool, typer.Option("--json", help="Print a JSON list of results on stdout.")],
        ),
        "model": (
            "tiny-random",
            Annotated[str, typer.Option(envvar="PIXWIZARD_MODEL", help="Model folder or id.")],
        ),
        "store": (None, Annotated[Path | None, typer.Option(help="Where results are stored.")]),
        "device": ("auto", Annotated[str, typer.Option(help="auto, cuda, mps or cpu.")]),
    }
    for name, (default, annotation) in common.items():
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


def _run_command(spec, takes_image: bool, kwargs: dict) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from pixwizard.tools import invoke, make_context

    output, json_out = kwargs.pop("output"), kwargs.pop("json_out")
    model, store, device = kwargs.pop("model"), kwargs.pop("store"), kwargs.pop("device")
    images = _expand(kwargs.pop("images") or []) if takes_image else []
    ctx = make_context(
        model, store_dir=store, any_path=True, output_dirs=[output] if output else [], device=device
    )
    arguments = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in kwargs.items()}
    if output and "output_dir" in spec.input_model.model_fields:
        arguments["output_dir"] = str(output)
    inputs = images or [None]
    results = []
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        for image in inputs:
            task = bar.add_task(f"{spec.name} {image or ''}", total=None)
            args = dict(arguments, **({"image": image} if image is not None else {}))
            out = invoke(
                spec, args, ctx, lambda step, total, task=task: bar.update(task, completed=step, total=total)
            )
            results.append(out.model_dump(mode="json"))
    if json_out:
        typer.echo(json.dumps(results, indent=2))
        return
    for image, result in zip(inputs, results, strict=True):
        stored = result.get("image") or {}
        target = result.get("exported_to") or stored.get("path") or json.dumps(result)
        typer.echo(f"{image or spec.name} -> {target}")


def register(app: typer.Typer) -> None:
    """Add ``tools list`` and a command per tool to the main app."""
    from pixwizard.tools import REGISTRY

    app.add_typer(tools_app, name="tools", rich_help_panel="Tools")
    for spec in REGISTRY.values():
        if spec.name not in SERVER_ONLY:
            app.command(spec.name, rich_help_panel="Tools")(make_command(spec))
