"""``-o DIR`` of the tool commands: every file a result names, copied into a folder opened once.

The folder is created if missing and opened once with ``O_DIRECTORY | O_NOFOLLOW`` (a symlink there is
refused); every file is written to a temporary name inside that descriptor, created exclusively with the
user's umask, synced, and published with ``linkat``, which never replaces an existing name
(`pixwizard.tools.fsafe.publish_new`). Names keep the input's stem: ``photo.png`` gives
``photo_depth.png``, ``photo_depth.npy`` and ``photo_depth16.png``; when any of a result's names is taken,
the whole set moves to ``photo_depth-1.png``, ``photo_depth-1.npy``...
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from pixwizard.tools import fsafe
from pixwizard.tools.spec import ToolError

# A result's file fields, and what each adds to the stem (its extension comes from the stored file).
PATH_FIELDS = {"npy_path": "", "png16_path": "16"}


@dataclass(frozen=True)
class ResultFile:
    """A file a tool result names: where the store holds it, and its name's ending in the output folder."""

    source: Path
    ending: str  # e.g. "", "_overlay", "_mask0", "16"


def _is_image(value) -> bool:
    return isinstance(value, dict) and {"id", "uri", "path"} <= value.keys()


def result_files(result: dict) -> list[ResultFile]:
    """Every file of a tool's JSON result, the main image first.

    ``image`` is the main file; another image field adds ``_<field>`` (``overlay``); an image inside a list
    adds ``_<key><index>`` (``objects[0].mask`` → ``_mask0``); ``npy_path`` and ``png16_path`` keep the
    main stem (``.npy``) or add ``16``.
    """
    files = []
    for key, value in result.items():
        if _is_image(value):
            files.append(ResultFile(Path(value["path"]), "" if key == "image" else f"_{key}"))
        elif key in PATH_FIELDS and isinstance(value, str):
            files.append(ResultFile(Path(value), PATH_FIELDS[key]))
        elif isinstance(value, list):
            for index, entry in enumerate(value):
                if isinstance(entry, dict):
                    files.extend(
                        ResultFile(Path(inner["path"]), f"_{name}{index}")
                        for name, inner in entry.items()
                        if _is_image(inner)
                    )
    return files


def input_stem(image: str | None, fallback: str) -> str:
    """The stem outputs are named after: the input file's, else ``fallback`` (no input, a data: URI)."""
    if not image or image.startswith("data:"):
        return fallback
    stem = Path(image.rstrip("/")).stem.lstrip(".")  # never a hidden name (nor one like our temp files)
    return stem or fallback


class OutputFolder:
    """The ``-o`` folder, opened once; files are published inside its descriptor, never over a name.

    Args:
        path: The folder (created if missing; refused if it is a symbolic link or not a folder).

    Raises:
        ToolError: If the folder cannot be created or opened.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file, or a symlink to nothing
            raise ToolError(f"-o {self.path}: {self._why_not(errno.ENOTDIR)}") from None
        except OSError as exc:
            raise ToolError(f"-o {self.path}: cannot create it ({exc.strerror})") from None
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise ToolError(f"-o {self.path}: {self._why_not(exc.errno)}") from None
        fsafe.clean_stale_tmp(self.fd)

    def _why_not(self, code: int | None) -> str:
        if self.path.is_symlink():
            return "is a symbolic link; name the folder itself"
        if code == errno.ENOTDIR or (self.path.exists() and not self.path.is_dir()):
            return "is not a folder"
        return f"cannot open it ({os.strerror(code or errno.EIO)})"

    def close(self) -> None:
        """Close the folder's descriptor."""
        os.close(self.fd)

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _taken(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def write(self, stem: str, files: list[ResultFile]) -> list[Path]:
        """Copy ``files`` in as ``<stem><ending><ext>``, numbered together if any name is taken.

        Returns:
            The written paths (``-o`` joined with each name), in the order of ``files``.
        """
        endings = [(f"{stem}{f.ending}", "".join(f.source.suffixes[-1:])) for f in files]
        number = 0
        while any(self._taken(f"{base}{'-' + str(number) if number else ''}{ext}") for base, ext in endings):
            number += 1
        written = []
        for (base, ext), file in zip(endings, files, strict=True):
            name = f"{base}{'-' + str(number) if number else ''}{ext}"
            # numbered: a name taken since the check (another process) moves this one file on
            try:
                used = fsafe.publish_new(self.fd, name, file.source.read_bytes(), numbered=True)
            except OSError as exc:  # e.g. the folder was removed meanwhile
                raise ToolError(f"-o {self.path}: cannot write {name} ({exc.strerror})") from None
            written.append(self.path / used)
        os.fsync(self.fd)
        return written
