"""Confined file access that survives races: resolve with directory descriptors, use what was checked.

Checking a path and then opening it again by name lets anyone who can write inside an allowed folder swap
a component for a symlink in between. Here a path is walked one component at a time from ``/`` with
``O_NOFOLLOW`` directory descriptors; a symlink is read (``readlinkat``) and its target walked the same
way, and once the walk is inside an allowed folder, a link whose target leaves every allowed folder is
refused. The file is opened once, non-blocking (a FIFO or device swapped in cannot hang the call),
``fstat``-ed and read from that descriptor within a deadline. Writes go into a verified directory
descriptor: a temporary file created exclusively, then published with ``linkat`` (which never replaces an
existing name) or ``renameat`` (for the store's own files). Every path message says only "outside the
allowed folders" for what lies outside, whatever exists there.

POSIX only (Linux and macOS); nothing here imports torch.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .spec import ToolError

MAX_LINKS = 40
TMP_PREFIX = ".pixwizard-tmp-"
_TMP = re.compile(rf"^{re.escape(TMP_PREFIX)}(\d+)-[0-9a-f]{{8}}$")
_STARTED = time.time()
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Outside(ToolError):
    """A path that is not inside the allowed folders (the one message for every such path)."""


class Missing(ToolError):
    """A path inside an allowed folder that does not exist."""


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _inside(parts: Sequence[str], roots: Sequence[tuple[str, ...]]) -> bool:
    return any(tuple(parts[: len(root)]) == root for root in roots)


def root_parts(folder: str | Path) -> tuple[str, ...]:
    """The components of an allowed folder's real path (resolved once, when the folder is allowed)."""
    return tuple(_parts(os.path.realpath(folder)))


@dataclass
class _Walk:
    """A directory walk in progress: the open descriptors and the real path they stand for."""

    fds: list[int]
    names: list[str]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


_CHECK = object()  # marks where a followed link's target ends: it must still be inside


def _walk(
    path: str,
    roots: Sequence[tuple[str, ...]],
    outside: Outside,
    *,
    last_is_dir: bool,
    create: bool = False,
) -> tuple[_Walk, str | None]:
    """Walk ``path`` from ``/``; returns the walk at the last directory and the final name (None for a dir).

    Raises:
        Outside: The path (or a link on it) leaves the allowed folders, or fails where the walk is not
            inside one (so nothing about outside paths is revealed).
        ToolError: A missing or odd component inside an allowed folder.
    """
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    walk = _Walk([os.open("/", _DIR_FLAGS)], [])
    pending: list = list(reversed(_parts(path)))  # a stack: the next component is at the end
    links = 0
    try:
        while pending:
            name = pending.pop()
            if name is _CHECK:
                if not _inside(walk.names, roots):
                    raise outside
                continue
            if name == "..":
                if len(walk.fds) > 1:
                    os.close(walk.fds.pop())
                    walk.names.pop()
                continue
            is_last = not any(p is not _CHECK for p in pending)
            if is_last and not last_is_dir:
                return walk, name
            fd = _open_dir(walk, name, roots, outside, create=create)
            if isinstance(fd, str):  # a symlink: walk its target instead
                links += 1
                if links > MAX_LINKS:
                    raise outside
                if _inside(walk.names, roots):
                    pending.append(_CHECK)
                if fd.startswith("/"):
                    walk.close()
                    walk.fds.append(os.open("/", _DIR_FLAGS))
                    walk.names.clear()
                pending.extend(reversed(_parts(fd)))
                continue
            walk.fds.append(fd)
            walk.names.append(name)
        if not _inside(walk.names, roots):
            raise outside
        return walk, None
    except BaseException:
        walk.close()
        raise


def _open_dir(walk: _Walk, name: str, roots, outside: Outside, *, create: bool) -> int | str:
    """Open one directory component under the walk; a symlink's target is returned as a string."""
    parent = walk.fds[-1]
    for _ in range(3):  # a link swapped back for a folder between the two calls: open it again
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            error = exc
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                break
            try:
                return os.readlink(name, dir_fd=parent)
            except OSError as link_error:
                if link_error.errno != errno.EINVAL:  # EINVAL: not a link (any more)
                    break
    exc = error
    inside = _inside([*walk.names, name], roots)
    if exc.errno == errno.ENOENT and create and inside:
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
        except FileExistsError:
            pass
        return _open_dir(walk, name, roots, outside, create=False)
    if not _inside(walk.names, roots):
        raise outside from None
    if exc.errno == errno.ENOENT:
        raise Missing(f"{'/' + '/'.join([*walk.names, name])} does not exist") from None
    raise ToolError(f"{'/' + '/'.join([*walk.names, name])} is not a folder") from None


def read_confined(
    path: str,
    roots: Sequence[tuple[str, ...]] | None,
    *,
    shown: str,
    max_bytes: int,
    timeout_s: float = 10.0,
    outside_message: str = "",
) -> bytes:
    """Read a regular file inside ``roots`` (None: anywhere), from one descriptor, bounded in size and time.

    Args:
        path: The path (relative paths are taken from the working folder).
        roots: Allowed folders as `root_parts`; None reads any path (the CLI's own files).
        shown: How to name the path in messages (as the caller wrote it).
        max_bytes: The size limit.
        timeout_s: The deadline for reading the whole file.
        outside_message: The sentence for a path outside the allowed folders.

    Raises:
        ToolError: Outside the folders, missing, not a regular file, too large or too slow.
    """
    outside = Outside(outside_message or f"{shown} is outside the allowed folders")
    fd = _open_file(path, roots, outside, shown)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ToolError(f"{shown} is a folder, not an image")
        if not stat.S_ISREG(info.st_mode):  # a FIFO, device or socket: never read from it
            raise ToolError(f"{shown} is not a regular file")
        if info.st_size > max_bytes:
            raise ToolError(
                f"{shown} is {info.st_size / 2**20:.1f} MiB, above the {max_bytes / 2**20:.0f} MiB limit; "
                "compress or downscale it"
            )
        return _read_fd(fd, max_bytes, timeout_s, shown)
    finally:
        os.close(fd)


def _open_file(path: str, roots, outside: Outside, shown: str) -> int:
    if roots is None:  # the caller's own files: no confinement, still never blocking on a FIFO
        try:
            return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ToolError(f"{shown} does not exist") from None
        except OSError as exc:
            raise ToolError(f"cannot open {shown}: {exc.strerror}") from None
    links = 0
    while True:
        walk, name = _walk(path, roots, outside, last_is_dir=False)
        try:
            if name is None:
                raise ToolError(f"{shown} is a folder, not an image")
            parent_inside = _inside(walk.names, roots)
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=walk.fds[-1])
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    target = os.readlink(name, dir_fd=walk.fds[-1])
                    links += 1
                    if links > MAX_LINKS:
                        raise outside from None
                    base = "/" + "/".join(walk.names)
                    path = target if target.startswith("/") else os.path.join(base, target)
                    if parent_inside and not _inside(_parts(os.path.normpath(path)), roots):
                        # a quick refusal; the walk of the target re-checks every component anyway
                        raise outside from None
                    continue
                if not parent_inside:
                    raise outside from None
                if exc.errno == errno.ENOENT:
                    raise Missing(f"{shown} does not exist") from None
                raise ToolError(f"cannot open {shown}: {exc.strerror}") from None
            if not parent_inside:
                os.close(fd)
                raise outside
            return fd
        finally:
            walk.close()


def _read_fd(fd: int, max_bytes: int, timeout_s: float, shown: str) -> bytes:
    deadline = time.monotonic() + timeout_s
    chunks, total = [], 0
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            raise ToolError(f"{shown} is not a regular file") from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ToolError(f"{shown} grew above the {max_bytes / 2**20:.0f} MiB limit while being read")
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise ToolError(f"reading {shown} took longer than {timeout_s:.0f} s; refused")


@contextmanager
def confined_dir(
    path: str, roots: Sequence[tuple[str, ...]] | None, *, shown: str, create: bool
) -> Iterator[int]:
    """A descriptor of a folder inside ``roots`` (None: anywhere), created if ``create``; closed on exit.

    Raises:
        ToolError: Outside the folders, or missing when not creating.
    """
    outside = Outside(f"cannot write to {shown}: it is outside the allowed output folders")
    everywhere = [()] if roots is None else roots
    walk, _ = _walk(path, everywhere, outside, last_is_dir=True, create=create)
    fd = walk.fds.pop()
    walk.close()
    try:
        yield fd
    finally:
        os.close(fd)


def check_dir(path: str, roots: Sequence[tuple[str, ...]] | None, *, shown: str) -> None:
    """Refuse a folder outside ``roots`` before any work; missing components inside a root are fine."""
    if roots is None:
        return
    probe = os.path.abspath(path)
    while True:
        try:
            with confined_dir(probe, roots, shown=shown, create=False):
                return
        except Missing:  # created later: the deepest existing folder must be inside
            head, tail = os.path.split(probe)
            if not tail:
                raise
            probe = head


def _tmp_name() -> str:
    return f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"


def _write_tmp(dir_fd: int, data: bytes) -> str:
    name = _tmp_name()
    fd = os.open(
        name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd
    )
    try:
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(dir_fd, name)
        raise
    os.close(fd)
    return name


def publish_new(dir_fd: int, name: str, data: bytes, *, numbered: bool = False) -> str:
    """Write ``data`` under ``name`` inside the folder, atomically and never over an existing file.

    With ``numbered``, a taken name becomes ``stem-1.ext``, ``stem-2.ext``... Returns the name used.

    Raises:
        FileExistsError: The name is taken (and ``numbered`` is off).
    """
    tmp = _write_tmp(dir_fd, data)
    try:
        stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
        for n in range(10_000):
            candidate = name if n == 0 else f"{stem}-{n}{dot}{ext}"
            try:
                os.link(tmp, candidate, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                return candidate
            except FileExistsError:
                if not numbered:
                    raise
        raise FileExistsError(name)
    finally:
        _unlink_quietly(dir_fd, tmp)


def publish_replace(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``data`` under ``name`` inside the folder atomically (the store's own files)."""
    tmp = _write_tmp(dir_fd, data)
    try:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        _unlink_quietly(dir_fd, tmp)
        raise


def _unlink_quietly(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:  # the folder itself was removed meanwhile
        pass


def read_own(dir_fd: int, name: str, max_bytes: int | None = None) -> tuple[bytes, os.stat_result]:
    """Read a file the store wrote: a regular file with one link, never through a symlink.

    Raises:
        FileNotFoundError: Missing, or not a plain file of ours (a planted link or device).
    """
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise FileNotFoundError(name) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise FileNotFoundError(name)
        if max_bytes is not None and info.st_size > max_bytes:
            raise FileNotFoundError(name)  # none of the store's own files of this kind is that large
        return _read_fd(fd, info.st_size, 60.0, name), info
    finally:
        os.close(fd)


def clean_stale_tmp(dir_fd: int, *, max_age_s: float = 86_400.0) -> int:
    """Remove our temporary files (``.pixwizard-tmp-<pid>-…``) whose writer is gone; returns the count.

    A writer is gone when its process no longer exists, when it is this process but the file predates
    it (a reused pid, common in containers), or when the file is older than ``max_age_s``.
    """
    removed, now = 0, time.time()
    for name in os.listdir(dir_fd):
        match = _TMP.match(name)
        if not match:
            continue
        pid = int(match.group(1))
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        ours_in_flight = pid == os.getpid() and info.st_mtime >= _STARTED
        if ours_in_flight or (pid != os.getpid() and _alive(pid) and now - info.st_mtime < max_age_s):
            continue
        try:
            os.unlink(name, dir_fd=dir_fd)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
