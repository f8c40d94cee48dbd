"""The one attention entry point of the model.

``attention`` runs flash-attention (varlen for padded keys) when the ``flash_attn`` package is importable,
the tensors are on CUDA and the dtype is half, and PyTorch's ``scaled_dot_product_attention`` otherwise.
Grouped-query attention follows flash-attention's mapping (key/value head ``j`` serves query heads
``j·r … j·r + r − 1``), which is also SDPA's ``enable_gqa`` mapping, so no head copies are made.
``use_backend`` forces one backend (tests compare them).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Backend = Literal["auto", "sdpa", "flash"]
_forced: Backend = "auto"


@contextlib.contextmanager
def use_backend(backend: Backend) -> Iterator[None]:
    """Force an attention backend inside a ``with`` block (``"auto"`` restores the automatic choice).

    Args:
        backend: ``"auto"``, ``"sdpa"`` or ``"flash"``.

    Yields:
        Nothing; the backend is restored on exit.

    Raises:
        ValueError: If ``"flash"`` is asked for and flash-attn is not installed.
    """
    global _forced
    if backend == "flash" and _flash_module() is None:
        raise ValueError("flash-attn is not installed: `pip install flash-attn` on a CUDA machine")
    previous, _forced = _forced, backend
    try:
        yield
    finally:
        _forced = previous


@functools.cache
def _flash_module():  # returns the flash_attn module or None
    try:
        import flash_attn  # type: ignore[import-not-found]
    except ImportError:
        return None
    return flash_attn


def _use_flash(q: Tensor) -> bool:
    if _forced == "sdpa":
        return False
    if _forced == "flash":
        return True
    return q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and _flash_module() is not None


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_mask: Tensor | None = None,
    scale: float | Tensor | None = None,
) -> Tensor:
    """Multi-head attention with optional key padding mask, grouped-query heads and per-item scales.

    Args:
        q: Queries ``(B, Lq, Hd, Dh)``.
        k: Keys ``(B, Lk, Hkv, Dh)``; ``Hd`` must be a multiple of ``Hkv``.
        v: Values ``(B, Lk, Hkv, Dh)``.
        key_mask: ``(B, Lk)`` boolean, True for keys that may be attended to; every row needs one True.
        scale: Softmax scale: None for ``1/√Dh``, a float, or a ``(B,)`` tensor of per-item scales.

    Returns:
        ``(B, Lq, Hd, Dh)``.
    """
    if isinstance(scale, Tensor):
        # Per-item scales: fold them into the queries and attend with scale 1.
        q = q * scale.to(q.dtype)[:, None, None, None]
        scale = 1.0
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if _use_flash(q):
        return _flash_attention(q, k, v, key_mask, scale)
    mask = None if key_mask is None else key_mask[:, None, None, :]
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2),
        k.transpose(1, 2),
        v.transpose(1, 2),
        attn_mask=mask,
        scale=scale,
        enable_gqa=q.shape[2] != k.shape[2],
    )
    return out.transpose(1, 2)


def _flash_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None, scale: float) -> Tensor:
    flash = _flash_module()
    if key_mask is None:
        return flash.flash_attn_func(q, k, v, softmax_scale=scale)
    batch, q_len = q.shape[:2]
    key_lens = key_mask.sum(dim=1, dtype=torch.int32)
    cu_k = F.pad(torch.cumsum(key_lens, 0, dtype=torch.int32), (1, 0))
    cu_q = torch.arange(0, (batch + 1) * q_len, q_len, dtype=torch.int32, device=q.device)
    # Packing by a boolean mask and max_seqlen need host values: this is a CPU-GPU sync point, paid once
    # per call on the flash path only.
    out = flash.flash_attn_varlen_func(
        q.reshape(batch * q_len, *q.shape[2:]),
        k[key_mask],
        v[key_mask],
        cu_seqlens_q=cu_q,
        cu_seqlens_k=cu_k,
        max_seqlen_q=q_len,
        max_seqlen_k=int(key_lens.max()),
        softmax_scale=scale,
    )
    return out.reshape(q.shape)
