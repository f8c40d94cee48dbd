"""Reading the authors' checkpoint folders and converting them to safetensors + ``config.json``.

An official folder (HF ``Afeng-x/PixWizard``, or a training run's ``checkpoints/NNNNNNN/``) holds
``consolidated.00-of-01.pth`` (weights), ``consolidated_ema.00-of-01.pth`` (EMA weights, what the authors
sample with) and ``model_args.pth`` (a pickled ``argparse.Namespace`` of the training flags).
Nothing here unpickles arbitrary objects: tensors load with ``weights_only=True`` and memory-mapped (an
8 GB file does not need 8 GB of free RAM), and the Namespace is the only class allowed in ``model_args``.
The configuration is read off the tensor shapes, with the few values shapes cannot tell (patch size,
sample_tokens) taken from ``model_args`` or the official defaults.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from pixwizard._fs import atomic_folder
from pixwizard.errors import CheckpointError
from pixwizard.model.configured import WEIGHTS_NAME
from pixwizard.model.layers import ffn_hidden_dim
from pixwizard.model.transformer import PixWizardTransformer

OFFICIAL_WEIGHTS = "consolidated.00-of-01.pth"
OFFICIAL_EMA_WEIGHTS = "consolidated_ema.00-of-01.pth"
OFFICIAL_ARGS = "model_args.pth"

CONVERSION_RECORD = "pixwizard_conversion.json"
_OFFICIAL_SAMPLE_TOKENS = 256  # never overridden by the authors' scripts


def is_official_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds the authors' weight files."""
    folder = Path(folder)
    return (folder / OFFICIAL_WEIGHTS).is_file() or (folder / OFFICIAL_EMA_WEIGHTS).is_file()


def read_official_args(path: str | Path) -> dict[str, Any]:
    """Read ``model_args.pth`` (a pickled ``argparse.Namespace``) without executing other pickles.

    Args:
        path: The file.

    Returns:
        The training flags as a dict.

    Raises:
        CheckpointError: If the file is unreadable or holds anything but plain values in a Namespace.
    """
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            args = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or OSError here
        raise CheckpointError(f"cannot read {path} as the authors' model_args.pth: {exc}") from exc
    return dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)


def read_official_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Memory-map an official ``consolidated*.pth`` state dict (tensors only).

    Args:
        path: The ``.pth`` file.

    Returns:
        Key → tensor, backed by the file.

    Raises:
        CheckpointError: If the file is missing, truncated or not a plain state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # a truncated or foreign file fails in several torch-internal ways
        raise CheckpointError(f"cannot read {path} as a PyTorch state dict: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a flat state dict of tensors")
    return state


def _ffn_arguments(dim: int, hidden: int) -> dict[str, Any]:
    """``multiple_of`` / ``ffn_dim_multiplier`` that reproduce an MLP width."""
    for multiple_of in (256, 128, 64, 32, 16, 8, 4, 2, 1):
        if ffn_hidden_dim(dim, multiple_of, None) == hidden:
            return {"multiple_of": multiple_of, "ffn_dim_multiplier": None}
    base = int(2 * (4 * dim) / 3)
    return {"multiple_of": 1, "ffn_dim_multiplier": (hidden + 0.5) / base}


def infer_config(state: dict[str, Tensor], model_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Constructor arguments of the model that ``state`` belongs to.

    Args:
        state: An official state dict.
        model_args: The training flags (``model`` names the preset and patch size; any constructor
            argument found there, e.g. ``sample_tokens``, is used as given).

    Returns:
        Arguments for `PixWizardTransformer`.

    Raises:
        CheckpointError: If a key the model always has is missing.
    """
    args = model_args or {}
    try:
        dim, in_features = state["x_embedder.weight"].shape
        n_heads = state["layers.0.attention.gate"].shape[0]
        kv_width = state["layers.0.attention.wk.weight"].shape[0]
        out_features = state["final_layer.linear.weight"].shape[0]
        config: dict[str, Any] = {
            "dim": dim,
            "n_layers": len({k.split(".")[1] for k in state if k.startswith("layers.")}),
            "n_heads": n_heads,
            "n_kv_heads": kv_width // (dim // n_heads),
            "qk_norm": "layers.0.attention.q_norm.weight" in state,
            "cap_feat_dim": state["layers.0.attention.wk_y.weight"].shape[1],
            "cap_clip_feat_dim": state["task_embedder.0.weight"].shape[0],
            "image_token_dim": state["layers.0.input_image_proj.weight"].shape[1],
            **_ffn_arguments(dim, state["layers.0.feed_forward.w1.weight"].shape[0]),
        }
    except KeyError as exc:
        raise CheckpointError(f"not a PixWizard state dict: key {exc} is missing") from exc
    match = re.search(r"_patch(\d+)$", str(args.get("model", "")))
    patch = int(args.get("patch_size", match[1] if match else 2))
    in_channels = in_features // (2 * patch * patch)
    config.update(
        patch_size=patch,
        in_channels=in_channels,
        learn_sigma=out_features == 2 * patch * patch * in_channels,
        sample_tokens=_OFFICIAL_SAMPLE_TOKENS,
    )
    known = set(inspect.signature(PixWizardTransformer.__init__).parameters) - {"self", "patch_size"}
    config.update({k: v for k, v in args.items() if k in known})
    return config


def _official_weights_file(folder: Path, ema: bool) -> Path:
    name = OFFICIAL_EMA_WEIGHTS if ema else OFFICIAL_WEIGHTS
    path = folder / name
    if not path.is_file():
        other = "--no-ema (ema=False)" if ema else "--ema (ema=True)"
        raise CheckpointError(
            f"{path} is missing. Download the released checkpoint with "
            f"`hf download Afeng-x/PixWizard --local-dir {folder}`, or use {other} for the other weights."
        )
    return path


def load_official(
    folder: str | Path, *, ema: bool = True, dtype: torch.dtype | None = None, overrides: dict | None = None
) -> PixWizardTransformer:
    """Build the transformer from an official checkpoint folder, loading with ``strict=True``.

    The weights stay memory-mapped unless ``dtype`` asks for a cast.

    Args:
        folder: The official folder.
        ema: Load the EMA weights (what the authors sample with).
        dtype: Cast the parameters to this dtype (None keeps the file's, float32).
        overrides: Constructor arguments that replace inferred ones.

    Returns:
        The model in eval mode.
    """
    folder = Path(folder)
    state = read_official_state_dict(_official_weights_file(folder, ema))
    args_path = folder / OFFICIAL_ARGS
    model_args = read_official_args(args_path) if args_path.is_file() else None
    config = {**infer_config(state, model_args), **(overrides or {})}
    with torch.device("meta"):
        model = PixWizardTransformer(**config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{folder}: weights do not match the inferred configuration {config}: {exc}"
        ) from exc
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def convert_official_checkpoint(
    src: str | Path,
    dst: str | Path,
    *,
    ema: bool = True,
    dtype: torch.dtype = torch.bfloat16,
    overwrite: bool = False,
) -> Path:
    """Convert an official folder to ``config.json`` + ``diffusion_pytorch_model.safetensors``.

    The output is written to a temporary sibling folder and renamed into place, so an interrupted
    conversion leaves nothing half-written; the source folder is never written to.

    Args:
        src: The official folder.
        dst: The output folder (loadable with `PixWizardTransformer.from_pretrained`).
        ema: Convert the EMA weights.
        dtype: Stored dtype (bfloat16 halves the size; float32 keeps the file's values exactly).
        overwrite: Replace ``dst`` if it exists.

    Returns:
        The output folder.

    Raises:
        CheckpointError: If ``dst`` exists (without ``overwrite``) or lies inside ``src``.
    """
    src, dst = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    if dst == src or src in dst.parents:
        raise CheckpointError(f"the output folder {dst} must lie outside the checkpoint folder {src}")
    if dst.exists() and not overwrite:
        raise CheckpointError(f"{dst} already exists; choose another folder or pass --overwrite")
    model = load_official(src, ema=ema)
    with atomic_folder(dst, overwrite=overwrite) as tmp:
        tensors = {key: value.to(dtype).contiguous() for key, value in model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        model.save_config(tmp)
        record = {"source": str(src), "weights": _official_weights_file(src, ema).name, "dtype": str(dtype)}
        (tmp / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return dst


_SAFETENSORS_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def stored_dtype(path: str | Path) -> torch.dtype:
    """The dtype of the first tensor of a safetensors file (diffusers would otherwise upcast to float32)."""
    with safe_open(str(path), "pt") as f:
        name = f.get_slice(next(iter(f.keys()))).get_dtype()
    return _SAFETENSORS_DTYPES.get(name, torch.float32)


def load_transformer(
    path: str | Path, *, dtype: torch.dtype | None = None, ema: bool = True
) -> PixWizardTransformer:
    """Load the transformer from our folder (``config.json`` + safetensors) or an official folder.

    Args:
        path: The folder.
        dtype: Parameter dtype (None: as stored).
        ema: For an official folder, load the EMA weights.

    Returns:
        The model in eval mode.

    Raises:
        CheckpointError: If the folder holds neither layout.
    """
    path = Path(path)
    if is_official_folder(path):
        return load_official(path, ema=ema, dtype=dtype)
    if (path / "config.json").is_file() and (path / WEIGHTS_NAME).is_file():
        return PixWizardTransformer.from_pretrained(
            path, dtype=dtype or stored_dtype(path / WEIGHTS_NAME)
        ).eval()
    raise CheckpointError(
        f"{path} holds no PixWizard transformer: expected config.json + {WEIGHTS_NAME} "
        f"(from `pixwizard convert-checkpoint`) or the authors' {OFFICIAL_EMA_WEIGHTS} / {OFFICIAL_WEIGHTS}"
    )
