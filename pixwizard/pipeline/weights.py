"""Where the released model's weights come from, and how a complete local folder is made.

The released model is four downloads: the PixWizard checkpoint (``Afeng-x/PixWizard``, the authors'
``.pth`` layout), Gemma-2B (gated: accept its licence on the Hub and log in), CLIP-L/14-336 (text and
vision towers) and the SDXL VAE. `resolve_released` finds each in a local folder or the Hugging Face cache
(downloading only when the Hub is online), and fails at once with every missing piece and the commands
that fetch it. `fetch_released` converts them into one folder in our ``save_pretrained`` layout, which
``PixWizardPipeline.from_pretrained(folder)`` and ``--model folder`` load. `write_export` and `load_export`
are the same for a trained transformer: its weights, and the frozen encoders named by identifier and digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from pixwizard._fs import atomic_folder
from pixwizard.errors import CheckpointError
from pixwizard.model.checkpoint import OFFICIAL_ARGS, OFFICIAL_EMA_WEIGHTS, OFFICIAL_WEIGHTS, load_official

logger = logging.getLogger(__name__)

RELEASED_REPO = "Afeng-x/PixWizard"
FETCH_COMMAND = "pixwizard models fetch --dir DIR"


@dataclass(frozen=True)
class WeightSource:
    """One downloadable piece of the released model.

    Attributes:
        key: Short name (``checkpoint``, ``gemma``, ``clip``, ``vae``).
        title: What it is, for messages.
        repo_id: Its Hugging Face repository.
        patterns: Files to download (``allow_patterns``).
        required: Groups of alternatives; each group needs one existing file.
        gated: The repository asks users to accept a licence first.
    """

    key: str
    title: str
    repo_id: str
    patterns: tuple[str, ...]
    required: tuple[tuple[str, ...], ...]
    gated: bool = False

    def missing_files(self, folder: Path) -> list[str]:
        """The required groups with no file present in ``folder``."""
        return [" or ".join(group) for group in self.required if not any(any(folder.glob(p)) for p in group)]

    def download_command(self) -> str:
        """The ``hf`` command that fetches this piece."""
        include = " ".join(f"--include '{p}'" for p in self.patterns)
        return f"hf download {self.repo_id} {include}"


def checkpoint_source(ema: bool = True) -> WeightSource:
    """The authors' checkpoint: EMA weights by default (what they sample with)."""
    weights = OFFICIAL_EMA_WEIGHTS if ema else OFFICIAL_WEIGHTS
    return WeightSource(
        "checkpoint", "PixWizard checkpoint", RELEASED_REPO, (weights, OFFICIAL_ARGS), ((weights,),)
    )


GEMMA = WeightSource(
    "gemma",
    "Gemma-2B text encoder",
    "google/gemma-2b",
    (
        "config.json",
        "model*.safetensors",
        "model.safetensors.index.json",
        "tokenizer*",
        "special_tokens_map.json",
    ),
    (("config.json",), ("*.safetensors",), ("tokenizer.json", "tokenizer.model")),
    gated=True,
)
CLIP = WeightSource(
    "clip",
    "CLIP-L/14-336 text and image encoders",
    "openai/clip-vit-large-patch14-336",
    (
        "config.json",
        "*.safetensors",
        "pytorch_model.bin",
        "vocab.json",
        "merges.txt",
        "tokenizer*",
        "special_tokens_map.json",
    ),
    (("config.json",), ("*.safetensors", "pytorch_model.bin"), ("vocab.json", "tokenizer.json")),
)
VAE = WeightSource(
    "vae",
    "SDXL VAE",
    "stabilityai/sdxl-vae",
    ("config.json", "diffusion_pytorch_model.safetensors"),
    (("config.json",), ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")),
)


class MissingWeightsError(CheckpointError):
    """Some pieces of the released model are not available; the message lists each and how to get it."""

    def __init__(self, missing: list[tuple[WeightSource, str]]):
        self.missing = missing
        lines = ["the released PixWizard model is incomplete here; missing:"]
        for source, reason in missing:
            lines.append(f"  - {source.title} ({source.repo_id}): {reason}")
            if source.gated:
                lines.append(
                    f"    {source.repo_id} is gated: accept its licence at "
                    f"https://huggingface.co/{source.repo_id}, then log in with `hf auth login` "
                    "(or set HF_TOKEN)"
                )
            lines.append(f"    fetch it with: {source.download_command()}")
        lines.append(f"or fetch everything into one folder on a connected machine: {FETCH_COMMAND}")
        lines.append("and load that folder with PixWizardPipeline.from_pretrained(DIR) or --model DIR")
        super().__init__("\n".join(lines))


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def resolve_source(source: WeightSource, location: str | Path | None = None) -> Path:
    """A local folder holding ``source``: ``location`` if it is a folder, else the Hub cache or a download.

    Args:
        source: The piece.
        location: A folder, a repository id, or None for the piece's own repository.

    Returns:
        The folder.

    Raises:
        MissingWeightsError: If the piece is not complete anywhere reachable.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
    )

    if location is not None and Path(location).expanduser().is_dir():
        folder = Path(location).expanduser()
    else:
        repo_id = str(location or source.repo_id)
        try:
            folder = Path(
                snapshot_download(
                    repo_id, allow_patterns=list(source.patterns), local_files_only=_hub_offline()
                )
            )
        except GatedRepoError as exc:
            raise MissingWeightsError(
                [(source, f"access to the gated repository was refused ({exc})")]
            ) from exc
        except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
            reason = "not in the Hugging Face cache and the Hub is not reachable (offline)"
            raise MissingWeightsError([(source, reason)]) from exc
        except (HfHubHTTPError, OSError) as exc:
            raise MissingWeightsError([(source, f"download failed: {exc}")]) from exc
    missing = source.missing_files(folder)
    if missing:
        raise MissingWeightsError([(source, f"{folder} lacks {', '.join(missing)}")])
    return folder


def resolve_released(
    checkpoint: str | Path | None = None,
    gemma: str | Path | None = None,
    clip: str | Path | None = None,
    vae: str | Path | None = None,
    *,
    ema: bool = True,
) -> dict[str, Path]:
    """Folders of all four pieces, or one error naming every missing piece.

    Args:
        checkpoint: The authors' checkpoint folder or repository (default ``Afeng-x/PixWizard``).
        gemma: Gemma-2B folder or repository.
        clip: CLIP-L/14-336 folder or repository.
        vae: SDXL VAE folder or repository.
        ema: Use the EMA weights of the checkpoint.

    Returns:
        ``{"checkpoint": ..., "gemma": ..., "clip": ..., "vae": ...}``.

    Raises:
        MissingWeightsError: Listing every piece that is missing.
    """
    wanted = {
        "checkpoint": (checkpoint_source(ema), checkpoint),
        "gemma": (GEMMA, gemma),
        "clip": (CLIP, clip),
        "vae": (VAE, vae),
    }
    found, missing = {}, []
    for key, (source, location) in wanted.items():
        try:
            found[key] = resolve_source(source, location)
        except MissingWeightsError as exc:
            missing.extend(exc.missing)
    if missing:
        raise MissingWeightsError(missing)
    return found


def load_released_components(
    folders: dict[str, Path], *, ema: bool = True, dtype: torch.dtype | None = None
) -> dict:
    """Build every pipeline component from resolved folders (see `resolve_released`).

    Args:
        folders: The four folders.
        ema: Load the EMA weights of the checkpoint.
        dtype: Dtype of the transformer and Gemma (CLIP and the VAE stay float32, as the authors run them).

    Returns:
        Keyword arguments for `PixWizardPipeline`.
    """
    from diffusers import AutoencoderKL
    from transformers import (
        AutoModel,
        AutoTokenizer,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        CLIPVisionModel,
    )

    gemma_kwargs = {} if dtype is None else {"dtype": dtype}
    return {
        "transformer": load_official(folders["checkpoint"], ema=ema, dtype=dtype),
        "vae": AutoencoderKL.from_pretrained(folders["vae"]).eval(),
        "text_encoder": AutoModel.from_pretrained(folders["gemma"], **gemma_kwargs).eval(),
        "tokenizer": AutoTokenizer.from_pretrained(folders["gemma"]),
        "clip_text_encoder": CLIPTextModelWithProjection.from_pretrained(folders["clip"]).eval(),
        "clip_tokenizer": CLIPTokenizer.from_pretrained(folders["clip"]),
        "clip_image_encoder": CLIPVisionModel.from_pretrained(folders["clip"]).eval(),
    }


def fetch_released(
    out_dir: str | Path,
    *,
    pipeline_cls,
    ema: bool = True,
    dtype: torch.dtype = torch.bfloat16,
    overwrite: bool = False,
    **locations: str | Path | None,
) -> Path:
    """Download (or find in the cache) the four pieces and write one complete pipeline folder, atomically.

    Args:
        out_dir: The folder to write (our ``save_pretrained`` layout).
        pipeline_cls: The pipeline class that assembles and saves the pieces (`PixWizardPipeline`).
        ema: Convert the EMA weights (the authors sample with them).
        dtype: Stored dtype of the transformer and Gemma.
        overwrite: Replace ``out_dir`` if it exists.
        **locations: Optional ``checkpoint``, ``gemma``, ``clip``, ``vae`` folders or repository ids.

    Returns:
        The written folder.

    Raises:
        CheckpointError: If ``out_dir`` exists without ``overwrite``.
        MissingWeightsError: Naming every missing piece (nothing is written then).
    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CheckpointError(
            f"{out} already exists and is not empty; choose another --dir or pass --overwrite"
        )
    folders = resolve_released(ema=ema, **locations)
    components = load_released_components(folders, ema=ema, dtype=dtype)
    pipe = pipeline_cls(**components, resolution=[768], model_id=RELEASED_REPO)
    with atomic_folder(out, overwrite=overwrite) as tmp:
        pipe.save_pretrained(tmp)
    logger.info("wrote %s", out)
    return out


# ----------------------------------------------------------------------------------------------------
# Trained exports: the transformer plus the frozen encoders named by identifier and hash
# ----------------------------------------------------------------------------------------------------

EXPORT_MANIFEST = "pixwizard_export.json"
EXPORT_FORMAT = "pixwizard-export/1"
ENCODER_COMPONENTS = (
    "vae",
    "text_encoder",
    "tokenizer",
    "clip_text_encoder",
    "clip_tokenizer",
    "clip_image_encoder",
)


def encoder_digest(pipe) -> str:
    """``sha256:<hex>`` of a pipeline's frozen parts: Gemma, both CLIP towers, the VAE and both vocabularies.

    Floating-point weights are hashed as bfloat16, so the same encoders give the same digest whether they
    were loaded in float32 (CPU) or bfloat16 (CUDA), and on any device.
    """
    digest = hashlib.sha256()
    for name in ENCODER_COMPONENTS:
        component = getattr(pipe, name)
        digest.update(name.encode())
        if isinstance(component, torch.nn.Module):
            for key, tensor in sorted(component.state_dict().items()):
                tensor = tensor.detach()
                if tensor.is_floating_point():
                    tensor = tensor.to(torch.bfloat16).view(torch.int16)
                digest.update(f"{key}{tuple(tensor.shape)}{tensor.dtype}".encode())
                digest.update(tensor.cpu().contiguous().numpy().tobytes())
        elif component is not None:  # a tokenizer: its vocabulary decides every token id
            digest.update(json.dumps(sorted(component.get_vocab().items())).encode())
    return f"sha256:{digest.hexdigest()}"


def encoders_identifier(source: str) -> str:
    """How an export names its encoders' source: a built-in name or Hub id as is, a folder made absolute."""
    from pixwizard.pipeline.names import BUILT_IN_MODELS

    local = Path(source).expanduser()
    return source if source in BUILT_IN_MODELS or not local.exists() else str(local.resolve())


def write_export(folder: str | Path, transformer, encoders, *, source: str, resolution: list[int]) -> Path:
    """Write a trained transformer as a model that loads everywhere one is accepted, atomically.

    The folder holds the transformer (``config.json`` + safetensors, which ``init=pixwizard:DIR`` and
    `load_transformer` also read) and ``pixwizard_export.json``, which names the frozen encoders by
    identifier and digest instead of copying them.

    Args:
        folder: The export folder (replaced if it exists).
        transformer: The trained `PixWizardTransformer`.
        encoders: The pipeline whose encoders the run used (its transformer is ignored).
        source: Where those encoders came from (``tiny-random``, a pipeline folder or a Hub id).
        resolution: The resolution centres the model was trained at.

    Returns:
        The folder.
    """
    manifest = {
        "format": EXPORT_FORMAT,
        "encoders": {"id": encoders_identifier(source), "digest": encoder_digest(encoders)},
        "resolution": list(resolution),
        "vae_scale": encoders.config.vae_scale,
        "vae_shift": encoders.config.vae_shift,
    }
    with atomic_folder(folder, overwrite=True) as tmp:
        transformer.save_pretrained(tmp)
        (tmp / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(folder)


def load_export(cls, folder: Path, *, dtype: torch.dtype | None = None):
    """A pipeline from an export: its transformer, and the encoders its manifest names (digest checked).

    Args:
        cls: The pipeline class.
        folder: The export folder.
        dtype: Passed on to the loading of the encoders.

    Returns:
        The pipeline on the CPU (the caller places it).

    Raises:
        CheckpointError: If the manifest is not ours, or the encoders found differ from the ones trained with.
    """
    from pixwizard.model.checkpoint import load_transformer

    manifest = json.loads((folder / EXPORT_MANIFEST).read_text())
    if manifest.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{folder / EXPORT_MANIFEST} is not a {EXPORT_FORMAT} manifest")
    transformer = load_transformer(folder)
    source, expected = manifest["encoders"]["id"], manifest["encoders"]["digest"]
    extra = {"transformer": transformer} if (Path(source) / "model_index.json").is_file() else {}
    base = cls.from_pretrained(source, device="cpu", dtype=dtype, **extra)
    found = encoder_digest(base)
    if found != expected:
        raise CheckpointError(
            f"the encoders at {source!r} are not the ones {folder} was trained with (digest {found[:19]}..., "
            f"expected {expected[:19]}...); point 'encoders.id' of {folder / EXPORT_MANIFEST} at them"
        )
    width = base.text_encoder.config.hidden_size
    if transformer.config.cap_feat_dim != width:
        raise CheckpointError(
            f"{folder}: the transformer expects {transformer.config.cap_feat_dim}-wide text features, "
            f"the encoders at {source!r} give {width}"
        )
    return cls(
        transformer=transformer,
        **{name: getattr(base, name) for name in ENCODER_COMPONENTS},
        resolution=manifest["resolution"],
        vae_scale=manifest["vae_scale"],
        vae_shift=manifest["vae_shift"],
        model_id=str(folder),
        encoder_kind=base.config.encoder_kind,
    )
