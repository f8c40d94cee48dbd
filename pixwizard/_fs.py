"""Atomic folder writes: build in a temporary sibling, then rename into place."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pixwizard.errors import CheckpointError


@contextlib.contextmanager
def atomic_folder(dst: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``dst`` only when the ``with`` block succeeds.

    An interrupted or failed write leaves ``dst`` as it was and no partial folder behind.

    Args:
        dst: The folder to create or replace.
        overwrite: Allow replacing an existing, non-empty ``dst``.

    Yields:
        The temporary folder to write into (on the same file system as ``dst``).

    Raises:
        CheckpointError: If ``dst`` exists, is not empty, and ``overwrite`` is False.
    """
    dst = Path(dst).expanduser().resolve()
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())) and not overwrite:
        raise CheckpointError(f"{dst} already exists; choose another folder or pass --overwrite")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.partial-", dir=dst.parent))
    try:
        yield tmp
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            dst.rename(old)
            tmp.rename(dst)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            tmp.rename(dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_records(path: str | Path) -> list:
    """The entries of a JSON list or JSONL file (the authors' annotation formats).

    Raises:
        ValueError: For a file that is neither, naming it.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON or JSONL ({exc})") from None
