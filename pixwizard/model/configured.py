"""A module that records its constructor arguments and saves / loads itself as ``config.json`` + safetensors.

The transformer used to inherit this from diffusers' ``ModelMixin`` / ``ConfigMixin``; importing diffusers
costs about 3 s on a 2-core CPU (it imports every model family it ships, and through its quantizers
``transformers`` and ``scipy``), which the embedded model's cold start cannot carry. The files stay
diffusers' layout (``config.json`` with ``_class_name``, ``diffusion_pytorch_model.safetensors``), so
folders written before load unchanged and diffusers can still read ours.

- `records_config` wraps ``__init__``: every argument, defaults filled in, becomes ``self.config``.
- `ConfiguredModule.from_pretrained` builds the module on the meta device (`empty_weights`: no memory, no
  random init, which the 2B model would otherwise spend seconds on before overwriting it), loads the
  file with ``strict=True`` and ``assign=True``, and copies the few tensors that safetensors leaves at
  unaligned addresses (CPU kernels take other vector paths on those and round differently, so a saved
  model would not reproduce its outputs bit for bit).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
FORMAT_VERSION = "0.42.1"
"""Written as ``_diffusers_version``: the diffusers release whose layout these files follow."""


class FrozenConfig(dict):
    """A read-only dict whose keys are also attributes (``config.patch_size``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"this configuration has no {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a module's configuration is read-only; build a new module instead")

    def _refuse(self, *args, **kwargs):
        raise TypeError("a module's configuration is read-only; build a new module instead")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse  # type: ignore[assignment]


def records_config(init):
    """Decorate ``__init__`` so that its arguments (defaults filled in) become ``self.config``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = {name: value for name, value in bound.arguments.items() if name != "self"}
        init(self, *args, **kwargs)
        object.__setattr__(self, "_recorded_config", FrozenConfig(values))

    return wrapper


_INIT_FUNCTIONS = tuple(
    name
    for name in dir(nn.init)
    if name.endswith("_") and not name.startswith("_") and name != "calculate_gain"
)


@contextlib.contextmanager
def empty_weights() -> Iterator[None]:
    """Build modules on the meta device with ``torch.nn.init``'s in-place initialisers skipped.

    On the meta device those initialisers compute nothing, but some (``normal_``) run through PyTorch's
    reference implementations, whose first use imports ``torch._dynamo`` (about 0.8 s here). Skipping them
    changes no value: every parameter is then assigned from a file. Not for concurrent use with code that
    initialises weights in another thread.
    """
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    try:
        for name in _INIT_FUNCTIONS:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        with torch.device("meta"):
            yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


class ConfiguredModule(nn.Module):
    """A module with a recorded configuration and diffusers-layout ``save_pretrained`` / ``from_pretrained``.

    Subclasses decorate ``__init__`` with `records_config` and may call `enable_gradient_checkpointing`;
    their forward reads ``self.gradient_checkpointing`` and calls ``self._gradient_checkpointing_func``.
    """

    gradient_checkpointing = False

    @property
    def config(self) -> FrozenConfig:
        """The constructor's arguments."""
        return self.__dict__["_recorded_config"]

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the first parameter."""
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """Where the first parameter is."""
        return next(self.parameters()).device

    # -------------------------------------------------------------------------------------------------
    # Saving
    # -------------------------------------------------------------------------------------------------

    def save_config(self, folder: str | Path) -> None:
        """Write ``config.json`` (``_class_name``, ``_diffusers_version`` and every argument)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"_class_name": type(self).__name__, "_diffusers_version": FORMAT_VERSION}
        config |= self.config  # json writes tuples as lists
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    def save_pretrained(self, folder: str | Path, **ignored) -> None:
        """Write ``config.json`` and ``diffusion_pytorch_model.safetensors`` into ``folder``."""
        from safetensors.torch import save_file

        self.save_config(folder)
        tensors = {key: value.detach().contiguous() for key, value in self.state_dict().items()}
        save_file(tensors, str(Path(folder) / WEIGHTS_NAME), metadata={"format": "pt"})

    # -------------------------------------------------------------------------------------------------
    # Loading
    # -------------------------------------------------------------------------------------------------

    @classmethod
    def read_config(cls, folder: str | Path) -> dict[str, Any]:
        """The constructor arguments in ``folder/config.json`` (the ``_``-prefixed keys left out).

        Raises:
            ValueError: If the file names another class, or an argument this class does not take.
        """
        path = Path(folder) / CONFIG_NAME
        raw = json.loads(path.read_text())
        named = raw.get("_class_name", cls.__name__)
        if named != cls.__name__:
            raise ValueError(f"{path} describes a {named}, not a {cls.__name__}")
        values = {key: value for key, value in raw.items() if not key.startswith("_")}
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(values) - accepted)
        if unknown:
            raise ValueError(f"{path}: {cls.__name__} takes no {', '.join(unknown)}")
        return values

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """A freshly initialised module with the arguments in ``config`` (``_``-prefixed keys ignored)."""
        return cls(**{key: value for key, value in dict(config).items() if not key.startswith("_")})

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        *,
        subfolder: str | None = None,
        torch_dtype: torch.dtype | None = None,
        dtype: torch.dtype | None = None,
        **ignored,
    ):
        """Load ``config.json`` and the safetensors file from ``folder`` (or its ``subfolder``), strictly.

        Args:
            folder: The folder.
            subfolder: A folder inside it.
            torch_dtype: Cast the parameters to this dtype (None: as stored).
            dtype: The same as ``torch_dtype``.
            **ignored: Options of other loaders (``low_cpu_mem_usage``, ``variant``…), accepted and unused.

        Raises:
            FileNotFoundError: If either file is missing.
            RuntimeError: If the weights and the configuration disagree (missing, unexpected or misshapen).
        """
        from safetensors.torch import load_file

        folder = Path(folder) / subfolder if subfolder else Path(folder)
        weights = folder / WEIGHTS_NAME
        if not weights.is_file():
            raise FileNotFoundError(f"{folder} has no {WEIGHTS_NAME}")
        with empty_weights():
            model = cls(**cls.read_config(folder))
        model.load_state_dict(load_file(str(weights)), strict=True, assign=True)
        wanted = torch_dtype or dtype
        if wanted is not None:
            model.to(wanted)
        with torch.no_grad():
            for param in model.parameters():
                if param.device.type == "cpu" and param.data_ptr() % 64:
                    param.data = param.data.clone()
        return model.eval()

    # -------------------------------------------------------------------------------------------------
    # Training
    # -------------------------------------------------------------------------------------------------

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each block's activations in the backward pass (non-reentrant checkpointing)."""
        self.gradient_checkpointing = True

    @property
    def is_gradient_checkpointing(self) -> bool:
        """Whether `enable_gradient_checkpointing` is on."""
        return self.gradient_checkpointing

    def disable_gradient_checkpointing(self) -> None:
        """Keep activations again."""
        self.gradient_checkpointing = False

    def _gradient_checkpointing_func(self, function, *args):
        from torch.utils.checkpoint import checkpoint

        return checkpoint(function, *args, use_reentrant=False)
