"""The pipeline's base: named components, a configuration, placement, CPU offload, and the folder layout.

`PixWizardPipeline` used to inherit these from diffusers' ``DiffusionPipeline``, whose import alone costs
about 3 s on a 2-core CPU (it loads every pipeline and model family diffusers ships, and through its
quantizers ``transformers`` and ``scipy``): more than twice ``import torch``, on every path, even the
embedded model's, which uses none of them. What the pipeline needs of it is small and lives here.

The folder layout stays diffusers': ``model_index.json`` (the class, the configuration values, and
``[library, class]`` for each component, ``[null, null]`` for an absent one) and one subfolder per
component written by its own ``save_pretrained``. Folders written before this change load unchanged.
Components from ``transformers`` and ``diffusers`` are imported only when a folder names them; offload
uses ``accelerate``'s hooks (the ones diffusers used), imported only when asked for.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pixwizard.errors import PixWizardError
from pixwizard.model.configured import FORMAT_VERSION, FrozenConfig

INDEX_NAME = "model_index.json"
LIBRARIES = ("transformers", "diffusers")
"""Libraries a component is recorded by name under (``["transformers", "GemmaModel"]``); any other class is
recorded by its module's full path (``["pixwizard.model.transformer", "PixWizardTransformer"]``)."""


class ComponentPipeline:
    """Named components (modules, tokenizers or None) and a configuration of plain values.

    Subclasses list the order models run in under model offload as ``model_cpu_offload_seq``
    (``"text_encoder->…->transformer"``), call `register_modules` and `register_to_config` in
    ``__init__``, and take every component and configuration value as an ``__init__`` argument of the same
    name, so a folder can rebuild them.
    """

    model_cpu_offload_seq = ""

    def register_modules(self, **components: Any) -> None:
        """Keep each component as an attribute, in order."""
        names = self.__dict__.setdefault("_component_names", [])
        for name, component in components.items():
            setattr(self, name, component)
            if name not in names:
                names.append(name)

    def register_to_config(self, **values: Any) -> None:
        """Record configuration values (read back through ``config``)."""
        self.__dict__["_config_values"] = {**self.__dict__.get("_config_values", {}), **values}

    @property
    def config(self) -> FrozenConfig:
        """The configuration values, read-only."""
        return FrozenConfig(self.__dict__.get("_config_values", {}))

    @property
    def components(self) -> dict[str, Any]:
        """Every component by name (None for an absent one)."""
        return {name: getattr(self, name) for name in self.__dict__.get("_component_names", [])}

    def _modules_in_order(self) -> Iterator[tuple[str, nn.Module]]:
        for name, component in self.components.items():
            if isinstance(component, nn.Module):
                yield name, component

    # -------------------------------------------------------------------------------------------------
    # Placement
    # -------------------------------------------------------------------------------------------------

    def to(self, *args, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
        """Move (and, given a dtype, cast) every module: ``to("cuda")``, ``to(torch.float16)``, or both.

        Returns:
            The pipeline itself.
        """
        for arg in args:
            if isinstance(arg, torch.dtype):
                dtype = arg
            else:
                device = arg
        if device is not None and self.__dict__.get("_offload_device") is not None:
            raise PixWizardError("this pipeline is offloaded; build a new one to place it on one device")
        for _, module in self._modules_in_order():
            module.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        """Where the modules are (the first module's first parameter)."""
        for _, module in self._modules_in_order():
            for param in module.parameters():
                return param.device
        return torch.device("cpu")

    @property
    def _execution_device(self) -> torch.device:
        """Where the computation runs: the offload device when offloaded, else where the modules are."""
        return self.__dict__.get("_offload_device") or self.device

    def enable_model_cpu_offload(self, device: str | torch.device = "cuda") -> None:
        """Keep each model on the CPU and move it to ``device`` only while it runs (whole models).

        Models run in ``model_cpu_offload_seq`` order; each one's hook moves the previous back to the CPU.
        """
        from accelerate import cpu_offload_with_hook

        self._reset_offload()
        device = torch.device(device)
        modules = dict(self._modules_in_order())
        order = [name for name in self.model_cpu_offload_seq.split("->") if modules.get(name) is not None]
        order += [name for name in modules if name not in order]
        hook, hooks = None, []
        for name in order:
            modules[name].to("cpu")
            _, hook = cpu_offload_with_hook(modules[name], execution_device=device, prev_module_hook=hook)
            hooks.append(hook)
        self.__dict__["_offload_hooks"] = hooks
        self.__dict__["_offload_device"] = device

    def enable_sequential_cpu_offload(self, device: str | torch.device = "cuda") -> None:
        """Keep every weight on the CPU and move each layer to ``device`` only while it runs (slow, small)."""
        from accelerate import cpu_offload

        self._reset_offload()
        device = torch.device(device)
        for _, module in self._modules_in_order():
            module.to("cpu")
            cpu_offload(module, execution_device=device, offload_buffers=True)
        self.__dict__["_offload_hooks"] = []
        self.__dict__["_offload_device"] = device

    def maybe_free_model_hooks(self) -> None:
        """After a call under model offload, move every model back to the CPU (the GPU is left empty)."""
        for hook in self.__dict__.get("_offload_hooks") or []:
            hook.offload()

    def _reset_offload(self) -> None:
        if self.__dict__.get("_offload_device") is not None:
            raise PixWizardError("offload is already on for this pipeline; build a new one to change it")

    # -------------------------------------------------------------------------------------------------
    # Progress
    # -------------------------------------------------------------------------------------------------

    def set_progress_bar_config(self, **options: Any) -> None:
        """Options for the progress bar (``tqdm``'s: ``disable=True`` hides it)."""
        self.__dict__["_progress_options"] = dict(options)

    def progress_bar(self, total: int):
        """A ``tqdm`` bar over ``total`` steps, with the options given to `set_progress_bar_config`."""
        from tqdm.auto import tqdm

        return tqdm(total=total, **self.__dict__.get("_progress_options", {}))

    # -------------------------------------------------------------------------------------------------
    # The folder layout
    # -------------------------------------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``model_index.json`` and one subfolder per present component into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        index: dict[str, Any] = {"_class_name": type(self).__name__, "_diffusers_version": FORMAT_VERSION}
        for name, component in self.components.items():
            if component is None:
                index[name] = [None, None]
                continue
            module = type(component).__module__
            library = next((lib for lib in LIBRARIES if module.split(".")[0] == lib), module)
            index[name] = [library, type(component).__name__]
            component.save_pretrained(folder / name)
        index |= self.config
        (folder / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load_folder(cls, folder: str | Path, **given: Any):
        """The pipeline saved in ``folder`` by `save_pretrained`, on the CPU.

        Args:
            folder: The folder.
            **given: Components or configuration values to use instead of the folder's (a component given
                here is not loaded).

        Raises:
            PixWizardError: If ``model_index.json`` or a component it names is missing or unreadable.
        """
        folder = Path(folder)
        try:
            index = json.loads((folder / INDEX_NAME).read_text())
        except (OSError, ValueError) as exc:
            raise PixWizardError(f"{folder / INDEX_NAME} cannot be read: {exc}") from None
        if not isinstance(index, dict):
            raise PixWizardError(f"{folder / INDEX_NAME} is not a JSON object")
        components = _component_parameters(cls)
        accepted = [name for name in inspect.signature(cls.__init__).parameters if name != "self"]
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise TypeError(f"{cls.__name__} takes no {', '.join(unknown)}; it takes {', '.join(accepted)}")
        arguments = dict(given)
        for name in accepted:
            if name in given or name not in index:
                continue
            value = index[name]
            if name not in components:
                arguments[name] = value
            elif isinstance(value, list) and len(value) == 2:
                arguments[name] = _load_component(folder, name, value)
            else:
                raise PixWizardError(f"{folder / INDEX_NAME}: {name} must be [library, class], got {value!r}")
        missing = [name for name in components if name not in arguments]
        if missing:
            raise PixWizardError(f"{folder / INDEX_NAME} names no {', '.join(missing)}")
        return cls(**arguments)


def _component_parameters(cls) -> list[str]:
    """The ``__init__`` arguments without a default: the components."""
    return [
        name
        for name, param in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and param.default is inspect.Parameter.empty
    ]


def _load_component(folder: Path, name: str, entry: list) -> Any:
    library, class_name = entry
    if library is None:
        return None
    where = folder / name
    if not where.is_dir():
        raise PixWizardError(f"{folder} has no {name}/ folder, which {INDEX_NAME} lists ({class_name})")
    try:
        klass = getattr(importlib.import_module(library), class_name)
    except (ImportError, AttributeError) as exc:
        raise PixWizardError(f"{folder}: component {name} is a {library}.{class_name}: {exc}") from None
    component = klass.from_pretrained(where)
    return component.eval() if isinstance(component, nn.Module) else component
