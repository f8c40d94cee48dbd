"""PixWizard tools: one typed spec per capability, from which the MCP, LangChain and CLI faces are made.

`default_registry` holds every tool (the built-in ones, the image operations and installed plugins such
as `pixwizard.agents`); `invoke` calls one; `make_context` builds the image store and model backend a
process shares. Listing tools and importing this package do not import torch: the model
loads on the first generating call. This folder sits at the repository root and is installed as
``pixwizard.tools``; import it only by that name.
"""

if __name__ != "pixwizard.tools":
    raise ImportError(f"import this package as pixwizard.tools, not as {__name__!r} (see README, Layout)")

from pathlib import Path

from .backend import Backend
from .catalog import ToolContext, invoke
from .registry import Registry, default_registry
from .spec import Hints, ToolError, ToolSpec
from .store import Access, ImageStore, Limits, StoreCap, check_allowed_dir

DEFAULT_STORE = Path("~/.cache/pixwizard/images")


def make_context(
    model: str | None = None,
    *,
    store_dir: str | Path | None = None,
    allow_dirs: list[str | Path] = (),
    output_dirs: list[str | Path] = (),
    allow_broad_dir: bool = False,
    allow_network: bool = False,
    any_path: bool = False,
    device: str = "auto",
    memory: str = "keep",
    limits: Limits | None = None,
    store_cap: StoreCap | None = None,
) -> ToolContext:
    """The store and backend for a process (a server, a LangChain app, a CLI run).

    Args:
        model: A built-in name (``pixwizard-world``, ``tiny-random``), a folder, or a Hub id. Default:
            ``PIXWIZARD_MODEL``, then the folder ``pixwizard models fetch`` writes without ``--dir``, then
            ``pixwizard-world`` (`pixwizard.pipeline.names.choose_model`); the choice is logged.
        store_dir: Where results go (default ``~/.cache/pixwizard/images``).
        allow_dirs: Folders inputs may be read from (resolved after symlinks).
        output_dirs: Folders results may be copied to (besides the store).
        allow_broad_dir: Permit ``/`` or the home folder in ``allow_dirs``.
        allow_network: Fetch public ``http(s)`` URLs.
        any_path: Read any local path (the CLI, for files named on its command line).
        device: Torch device for the model.
        memory: ``keep`` or ``offload``.
        limits: Input size limits.
        store_cap: Prune the store's oldest images beyond this size or age after each result.
    """
    if model is None:
        import logging

        from pixwizard.pipeline.names import choose_model

        choice = choose_model()
        logging.getLogger(__name__).info(choice.notice())
        model = choice.model
    read = [check_allowed_dir(d, allow_broad=allow_broad_dir) for d in allow_dirs]
    write = [Path(d).expanduser().resolve() for d in output_dirs]
    access = Access(read_dirs=read, write_dirs=write, any_path=any_path, allow_network=allow_network)
    for folder in write:
        _clean_tmp(folder)
    store = ImageStore(store_dir or DEFAULT_STORE, access, limits, store_cap)
    return ToolContext(store=store, backend=Backend(model, device=device, memory=memory))


def _clean_tmp(folder: Path) -> None:
    """Remove stale temporary files of interrupted writes from an output folder (best effort)."""
    import os

    from .fsafe import clean_stale_tmp

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # missing (created on first export) or not a plain folder
        return
    try:
        clean_stale_tmp(fd)
    finally:
        os.close(fd)


__all__ = [
    "Access",
    "Backend",
    "Hints",
    "ImageStore",
    "Limits",
    "Registry",
    "StoreCap",
    "ToolContext",
    "ToolError",
    "ToolSpec",
    "default_registry",
    "invoke",
    "make_context",
]
