"""Parallelism applied from outside the model (torchtitan style): DDP or FSDP2 over ``model.layers``."""

from __future__ import annotations

import torch
from torch import nn


def parallelize(model: nn.Module, mode: str, device: torch.device) -> nn.Module:
    """Wrap ``model`` for ``mode`` (``none``, ``ddp``, ``fsdp2``); returns the module to call in training.

    FSDP2 shards each block of ``model.layers`` (the checkpoint's own prefix) and then the root, in place,
    so parameter names and state-dict keys stay those of the released checkpoint.
    """
    if mode == "none":
        return model
    import torch.distributed as dist

    if not dist.is_initialized():
        raise RuntimeError(f"parallel.mode={mode} needs torchrun (torch.distributed is not initialised)")
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    if mode == "fsdp2":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (dist.get_world_size(),))
        for block in model.layers:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    raise ValueError(f"parallel.mode must be none, ddp or fsdp2, got {mode!r}")
