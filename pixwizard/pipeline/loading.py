"""The one place that turns a model name or folder into a pipeline: a table of sources, tried in order.

Each `Source` says which names it takes and how it builds the pipeline's pieces. Adding a model is one
entry. `PixWizardPipeline.from_pretrained` validates the name, asks `resolve` which source takes it, builds
the pipeline and places it. The pieces (``tiny``, ``weights``) import neither this module nor the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pixwizard.errors import PixWizardError
from pixwizard.model.checkpoint import is_official_folder
from pixwizard.pipeline import small
from pixwizard.pipeline.names import BUILT_IN_MODELS, FETCH_HINT
from pixwizard.pipeline.tiny import TINY_CENTRE, TINY_MODEL_ID, tiny_components
from pixwizard.pipeline.weights import (
    EXPORT_MANIFEST,
    RELEASED_REPO,
    load_export,
    load_released_components,
    resolve_released,
)

Builder = Callable[..., object]  # (cls, source, **options) -> pipeline, on the CPU


@dataclass(frozen=True)
class Source:
    """One kind of model a name can denote."""

    name: str
    """What the source is, for messages and ``pixwizard models list``."""
    takes: Callable[[str, Path], bool]
    """Whether the source takes a name (``str``) that is, as a path, ``Path``."""
    build: Builder
    """Builds the pipeline on the CPU: ``build(cls, source, **options)``."""


def build_tiny(cls, seed: int = 0):
    """The built-in tiny pipeline (random weights from ``seed``), on the CPU."""
    return cls(**tiny_components(seed), resolution=[TINY_CENTRE], model_id=TINY_MODEL_ID, random_weights=True)


def _tiny(cls, source: str, **options):
    return build_tiny(cls)


def _tiny_name(source: str, local: Path) -> bool:
    return source == TINY_MODEL_ID


def _world(cls, source: str, **options):
    import torch

    from pixwizard.model.checkpoint import load_transformer

    folder = small.world_weights_folder()
    if folder is None:
        raise PixWizardError(
            f"{small.WORLD_MODEL_ID!r} has no trained weights in this installation (pixwizard/models/"
            "pixwizard_world); train them with `pixwizard train world` and pass --model runs/world/export, "
            "or use tiny-random"
        )
    transformer = load_transformer(folder, dtype=torch.float32)  # shipped as float16 to stay small
    components = small.world_components(transformer)
    return cls(
        **components,
        resolution=[small.WORLD_CENTRE],
        model_id=small.WORLD_MODEL_ID,
        encoder_kind="world",
        vae_scale=small.PIXEL_SCALE,
        vae_shift=0.0,
    )


def _untrained_world(cls, source: str, **options):
    return cls(
        **small.world_components(None),
        resolution=[small.WORLD_CENTRE],
        model_id=small.UNTRAINED_ID,
        random_weights=True,
        encoder_kind="world",
        vae_scale=small.PIXEL_SCALE,
        vae_shift=0.0,
    )


def _ours(cls, source: str, **options):
    return cls.load_folder(Path(source).expanduser(), **options["kwargs"])


def _export(cls, source: str, **options):
    return load_export(cls, Path(source).expanduser(), dtype=options["dtype"])


def _released(cls, source: str, **options):
    ema = options["ema"]
    folders = resolve_released(source, options["gemma"], options["clip"], options["vae"], ema=ema)
    return cls(**load_released_components(folders, ema=ema), resolution=[768], model_id=source)


def _hub(cls, source: str, **options):
    return cls.load_folder(_snapshot(source), **options["kwargs"])


def _is_released(source: str, local: Path) -> bool:
    return source == RELEASED_REPO or is_official_folder(local)


def _export_manifest(local: Path) -> bool:
    return (local / EXPORT_MANIFEST).is_file()


SOURCES: tuple[Source, ...] = (
    Source("tiny-random (built in, random weights)", _tiny_name, _tiny),
    Source("pixwizard-world (built in, trained on PixWorld)", lambda s, p: s == small.WORLD_MODEL_ID, _world),
    Source(
        "pixwizard-world-untrained (its encoders, a random transformer: for training)",
        lambda s, p: s == small.UNTRAINED_ID,
        _untrained_world,
    ),
    Source("a pipeline folder (model_index.json)", lambda s, p: (p / "model_index.json").is_file(), _ours),
    Source("a `pixwizard train` export (pixwizard_export.json)", lambda s, p: _export_manifest(p), _export),
    Source("the authors' checkpoint (Afeng-x/PixWizard or its folder)", _is_released, _released),
    Source("a Hugging Face repository in our layout", lambda s, p: not p.exists(), _hub),
)
"""Every source, in the order a name is tried."""


def resolve(source: str) -> Source:
    """The source that takes ``source``.

    Raises:
        PixWizardError: For an existing folder that no source takes (the message says what would load).
    """
    local = Path(source).expanduser()
    for entry in SOURCES:
        if entry.takes(source, local):
            return entry
    raise PixWizardError(
        f"{local} is neither a pipeline folder (model_index.json), a training export "
        "(pixwizard_export.json) nor the authors' checkpoint (consolidated*.pth); make one with "
        "`pixwizard models fetch --dir DIR` (a transformer alone loads with load_transformer)"
    )


def build(cls, source: str, **options):
    """The pipeline ``source`` denotes, on the CPU (see `PixWizardPipeline.from_pretrained` for options)."""
    return resolve(source).build(cls, source, **options)


def _snapshot(repo_id: str) -> Path:
    """A Hub repository in our layout, from the cache (offline) or downloaded."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(repo_id, local_files_only=bool(constants.HF_HUB_OFFLINE)))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise PixWizardError(
            f"{repo_id!r} is not a folder, not in the Hugging Face cache, and the Hub is offline; "
            f"download it on a connected machine with `hf download {repo_id} --local-dir DIR` and pass DIR "
            f"(built-in models: {', '.join(BUILT_IN_MODELS)}; {FETCH_HINT})"
        ) from exc
