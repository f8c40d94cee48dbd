"""Training configuration: nested keyword-only dataclasses, named presets, YAML files and ``key=value``.

A config file is YAML with an optional ``preset`` and any fields to change::

    preset: debug
    steps: 500
    data: {annotations: data/pairs.json, centres: [512]}

and the command line adds ``key=value`` overrides with dotted keys (``optim.lr=5e-5``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixwizard.errors import ConfigError


@dataclass(kw_only=True)
class OptimConfig:
    """AdamW, constant learning rate after an optional linear warm-up (the authors: 1e-4, no warm-up).

    ``decay_fraction > 0`` adds a linear decay to ``final_lr_ratio × lr`` over the run's last steps.
    """

    lr: float = 1e-4
    """Peak learning rate."""
    warmup_steps: int = 0
    """Linear warm-up steps."""
    weight_decay: float = 0.0
    """AdamW weight decay (the authors: 0)."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    grad_clip: float = 2.0
    """Global gradient-norm clip (0 disables)."""
    decay_fraction: float = 0.0
    """Fraction of ``steps``, at the end, over which the rate falls linearly (0: constant to the end)."""
    final_lr_ratio: float = 0.1
    """The rate at the last step, as a fraction of ``lr`` (with ``decay_fraction > 0``)."""


@dataclass(kw_only=True)
class WorldData:
    """PixWorld items generated on the fly from ``(seed, index)`` (no files); on when ``n > 0``."""

    n: int = 0
    """Items per task (0: no world data)."""
    seed: int = 1
    """World seed (``eval world`` scores seed 0 by default: keep training on another one)."""
    tasks: list[str] = field(default_factory=list)
    """Task names (empty: every task)."""
    size: list[int] = field(default_factory=lambda: [64, 64])
    """Scene ``[width, height]`` (at least 64 each)."""
    sizes: list[list[int]] = field(default_factory=list)
    """Several scene sizes, item ``i`` of a task taking ``sizes[i % len(sizes)]`` (empty: ``size``)."""


@dataclass(kw_only=True)
class WorldEval:
    """PixWorld scores during training (`pixwizard.eval.harness.evaluate_world` on the EMA weights)."""

    every: int = 0
    """Steps between evaluations (0: none)."""
    tasks: list[str] = field(default_factory=list)
    """Tasks scored."""
    n: int = 8
    """Scenes per task."""
    steps: int = 20
    """Sampler steps."""
    seed: int = 2
    """World seed (neither the training seed nor the seed of the final evaluation)."""


@dataclass(kw_only=True)
class DataConfig:
    """Where the pairs come from and how they are grouped."""

    annotations: str | None = None
    """A JSON/JSONL annotation file (alternative to ``meta``)."""
    meta: str | None = None
    """A YAML meta file listing annotation files."""
    world: WorldData = field(default_factory=WorldData)
    """PixWorld items read directly (alternative to ``annotations`` and ``meta``)."""
    root: str | None = None
    """Folder relative image paths of ``annotations`` are taken from."""
    stage: int = 2
    """Balancing stage of the meta file (1 or 2)."""
    stage1_count: int | None = None
    """Items per group in stage 1."""
    centres: list[int] = field(default_factory=lambda: [768])
    """Resolution centres of the buckets."""
    bucketed: bool = True
    """Group batches by aspect-ratio bucket."""
    skip_bad: bool = False
    """Skip (count and log) unreadable items instead of failing."""
    crop: str = "random"
    """``random`` or ``center`` crops (caching image features needs ``center``)."""
    cache_dir: str | None = None
    """Cache encoder outputs here (text always; VAE posteriors and CLIP tokens with ``crop: center``)."""


@dataclass(kw_only=True)
class ParallelConfig:
    """Parallelism applied from outside the model."""

    mode: str = "none"
    """``none``, ``ddp`` or ``fsdp2`` (with ``torchrun``)."""
    activation_checkpointing: bool = False
    """Recompute each block in the backward pass."""


@dataclass(kw_only=True)
class TrainConfig:
    """Everything a run needs."""

    model: str = "tiny"
    """Model preset (``tiny``, ``pixwizard_2b_gqa``, ``pixwizard_2b``)."""
    model_overrides: dict = field(default_factory=dict)
    """Constructor arguments that replace the preset's."""
    init: str = "scratch"
    """``scratch``, ``pixwizard:DIR`` (the released or our checkpoint) or ``lumina:DIR`` (Lumina-Next-T2I)."""
    encoders: str = "tiny-random"
    """Where Gemma, CLIP and the VAE come from: ``tiny-random`` or a pipeline folder."""
    out_dir: str = "runs/debug"
    """Run folder: checkpoints, logs, exports."""
    steps: int = 200
    """Optimiser steps."""
    global_batch: int = 4
    """Items per step, over all processes."""
    micro_batch: int | None = None
    """Items per forward/backward on each process (gradient accumulation); None: the whole local batch."""
    seed: int = 0
    """Seed of every random choice (per item: seed, step and item index)."""
    time_sampler: str = "uniform"
    """``uniform``, ``logit_normal`` or ``shifted``."""
    time_shift: float = 3.0
    """Shift of the ``shifted`` sampler."""
    token_selection: str = "gumbel"
    """``gumbel`` (the authors' training) or ``topk``."""
    p_text: float = 0.05
    """Items whose text is dropped (guidance)."""
    p_image: float = 0.05
    """Items whose image is dropped."""
    p_both: float = 0.05
    """Items with both dropped."""
    ema_decay: float = 0.9999
    """EMA decay per step."""
    precision: str = "fp32"
    """``fp32`` or ``bf16`` (autocast; master weights stay fp32)."""
    ckpt_every: int = 0
    """Save a checkpoint every this many steps (0: only at the end)."""
    keep_last: int = 3
    """Checkpoints kept."""
    log_every: int = 10
    """Steps between log lines."""
    tensorboard: bool = False
    """Also log to TensorBoard (needs the ``tensorboard`` package)."""
    eval_world: WorldEval = field(default_factory=WorldEval)
    """PixWorld scores during training, logged beside the loss."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)


def debug() -> TrainConfig:
    """A tiny model on the built-in tiny encoders, float32 on CPU: tests and smoke runs."""
    return TrainConfig(
        model="tiny",
        encoders="tiny-random",
        steps=200,
        global_batch=4,
        ema_decay=0.99,
        optim=OptimConfig(lr=1e-3),
        data=DataConfig(centres=[64]),
    )


def finetune() -> TrainConfig:
    """Fine-tune the released model (stage-2 settings of the paper) in bf16 with FSDP2."""
    return TrainConfig(
        model="pixwizard_2b_gqa",
        init="pixwizard:checkpoints/PixWizard",
        encoders="checkpoints/pixwizard",
        precision="bf16",
        global_batch=64,
        steps=8_000,
        ckpt_every=500,
        optim=OptimConfig(lr=5e-5),
        data=DataConfig(centres=[768, 1024]),
        parallel=ParallelConfig(mode="fsdp2", activation_checkpointing=True),
    )


def stage1() -> TrainConfig:
    """The paper's stage 1 from Lumina-Next-T2I: balanced small tasks, lr 1e-4, centres 512-768."""
    return dataclasses.replace(
        finetune(),
        init="lumina:checkpoints/Lumina-Next-T2I",
        optim=OptimConfig(lr=1e-4),
        data=DataConfig(stage=1, centres=[512, 768]),
    )


WORLD_EVAL_TASKS = ["denoise", "ground_mask", "segment", "depth", "inpaint", "text_to_image"]


def world() -> TrainConfig:
    """The embedded ``pixwizard-world`` model from scratch on PixWorld (read directly, world seed 1), CPU.

    Pixel space, MiniLM text, pixel-patch image tokens (`pixwizard.pipeline.small`); scenes in three aspect
    ratios bucketed around 64 px (about 64 tokens each); the rate falls linearly over the last fifth. A
    checkpoint every 1000 steps (about 8 minutes at 2 steps/s on 2 cores), so chunks (``--minutes``)
    resume often; PixWorld scores on six tasks (world seed 2) every 2000 steps go to the log. 8000 steps
    (about 70 minutes on 2 cores) fit one working session beside the evaluation.
    """
    return TrainConfig(
        model="pixwizard_world",
        encoders="pixwizard-world-untrained",
        steps=8_000,
        global_batch=16,
        ckpt_every=1000,
        log_every=50,
        ema_decay=0.999,
        optim=OptimConfig(lr=3e-4, warmup_steps=500, decay_fraction=0.2),
        data=DataConfig(
            centres=[64],
            world=WorldData(n=20_000, seed=1, sizes=[[64, 64], [96, 64], [64, 96]]),
        ),
        eval_world=WorldEval(every=2000, tasks=WORLD_EVAL_TASKS, n=8, steps=20, seed=2),
    )


PRESETS = {"debug": debug, "finetune": finetune, "stage1": stage1, "world": world}


def config_keys(obj: Any, prefix: str = "") -> list[str]:
    """Every settable dotted key of a config (``steps``, ``optim.lr``, ``data.annotations``...)."""
    keys = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys.extend(config_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def _unknown_key(root: Any, dotted: str) -> ConfigError:
    """The one-line error for a key the config lacks: the closest keys by spelling, then by shared words."""
    keys = config_keys(root)
    close = difflib.get_close_matches(dotted, keys, n=3, cutoff=0.75)
    words = set(dotted.rsplit(".", 1)[-1].split("_"))
    close += [k for k in keys if words & set(k.rsplit(".", 1)[-1].split("_")) and k not in close]
    if close:
        return ConfigError(f"unknown config key {dotted!r}; did you mean {' or '.join(close[:3])}?")
    sections = sorted({k.split(".")[0] + ".*" for k in keys if "." in k})
    top = [k for k in keys if "." not in k]
    return ConfigError(f"unknown config key {dotted!r}; the keys are {', '.join(top + sections)}")


def _set(obj: Any, dotted: str, value: Any, root: Any = None) -> None:
    root = obj if root is None else root
    *parents, name = dotted.split(".")
    for part in parents:
        if not dataclasses.is_dataclass(obj) or part not in {f.name for f in dataclasses.fields(obj)}:
            raise _unknown_key(root, dotted)
        obj = getattr(obj, part)
    if not dataclasses.is_dataclass(obj) or name not in {f.name for f in dataclasses.fields(obj)}:
        raise _unknown_key(root, dotted)
    current = getattr(obj, name)
    if dataclasses.is_dataclass(current) and isinstance(value, dict):
        for key, sub in value.items():
            _set(root, f"{dotted}.{key}", sub, root)
        return
    setattr(obj, name, tuple(value) if isinstance(current, tuple) and isinstance(value, list) else value)


def load_config(source: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """A config from a preset name or YAML file, then ``key=value`` overrides (values parsed as YAML)."""
    try:
        import yaml
    except ImportError:
        raise ConfigError("training needs PyYAML: pip install 'pixwizard[train]'") from None

    values: dict = {}
    preset = "debug"
    if source is not None and str(source) in PRESETS:
        preset = str(source)
    elif source is not None:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"{path} is neither a config file nor a preset ({', '.join(PRESETS)})")
        values = yaml.safe_load(path.read_text()) or {}
        preset = values.pop("preset", preset)
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = PRESETS[preset]()
    for key, value in values.items():
        _set(config, key, value)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"overrides look like key=value, got {override!r}")
        _set(config, key.strip(), yaml.safe_load(raw))
    return config
