"""Progress of long CLI work on stderr: a bar in a terminal, plain lines when stderr is piped or logged."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer

Report = Callable[[int, int], None]  # (step, total)


class StepLines:
    """Progress as lines: one each time another ``every`` percent is done (so every step when there are few).

    Args:
        label: What is running (``depth photo.png``).
        every: Percent between lines.
    """

    def __init__(self, label: str, every: int = 10):
        self.label, self.every = label, every
        self._next, self._last = every, 0

    def __call__(self, step: int, total: int) -> None:
        if total <= 0 or step <= self._last:
            return
        percent = 100 * step // total
        if percent >= self._next or step == total:
            typer.echo(f"{self.label}: step {step}/{total} ({percent}%)", err=True)
            self._last, self._next = step, (percent // self.every + 1) * self.every


@contextlib.contextmanager
def progress_reporter() -> Iterator[Callable[[str], Report]]:
    """Yield ``start(label) -> report(step, total)``: a transient bar in a terminal, else `StepLines`."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield StepLines
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as bar:

        def start(label: str) -> Report:
            task = bar.add_task(label, total=None)
            return lambda step, total: bar.update(task, completed=step, total=total)

        yield start
