"""Task-aware dynamic token sampler: which CLIP image tokens each block attends to.

Each block projects the ``N`` CLIP tokens to width ``D``, scores them with a small MLP that sees the task
embedding and a global summary, and keeps ``K`` of them in raster order. Two selection modes:

- ``TokenSelection.TOPK``: the ``K`` highest scores, deterministic; the model's default (what the parity
  fixtures were made with) and the pipeline's fast option.
- ``TokenSelection.GUMBEL``: the authors' multi-hot Gumbel-softmax (temperature 5, hard, straight-through):
  top-``K`` of ``scores + g`` with ``g = −log(E)``, ``E ~ Exp(1)`` fresh for every call, and gradients that
  flow to the scorer through the soft weights. The temperature changes gradients only, never the choice.
  What the authors sample and train with, and the pipeline's and the trainer's default.
"""

from __future__ import annotations

import enum

import torch
from torch import Tensor, nn

from pixwizard.model import rng

GUMBEL_TAU = 5.0


class TokenSelection(str, enum.Enum):
    """How a block picks its CLIP tokens."""

    TOPK = "topk"
    GUMBEL = "gumbel"


def importance_logits(
    tokens: Tensor, task_emb: Tensor, y_pool_proj: nn.Module, in_conv: nn.Module, out_conv: nn.Module
) -> Tensor:
    """Score every projected CLIP token.

    Args:
        tokens: Projected CLIP tokens ``(B, N, D)``.
        task_emb: Task embedding ``(B, Dc)``.
        y_pool_proj: ``Dc → D`` projection of the task embedding, added to every token.
        in_conv: LayerNorm → Linear → GELU.
        out_conv: ``D → D/2 → D/4 → 1`` MLP with GELUs.

    Returns:
        Logits ``(B, N)``.
    """
    z = in_conv(tokens + y_pool_proj(task_emb).unsqueeze(1))  # (B, N, D)
    half = z.shape[-1] // 2
    local, glob = z[..., :half], z[..., half:]
    glob = glob.mean(dim=1, keepdim=True).expand_as(glob)  # global half: mean over tokens
    return out_conv(torch.cat([local, glob], dim=-1)).squeeze(-1)


def gumbel_noise(
    shape: tuple[int, ...], *, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """Standard Gumbel noise ``−log(E)``, ``E ~ Exp(1)``.

    Args:
        shape: Output shape.
        generator: Source of randomness, on any device (None: the global generator of ``device``).
        device: Device of the noise.
        dtype: Dtype of the noise (the logits' dtype, as the authors draw it).

    Returns:
        The noise tensor.
    """
    exp = rng.exponential(shape, generator=generator, device=device)  # float32
    return (-exp.log()).to(dtype)


def select_tokens(
    tokens: Tensor, logits: Tensor, k: int, *, noise: Tensor | None = None, tau: float = GUMBEL_TAU
) -> Tensor:
    """Keep ``k`` tokens per item in raster order.

    Args:
        tokens: Projected CLIP tokens ``(B, N, D)``.
        logits: Importance logits ``(B, N)``.
        k: Number of tokens to keep.
        noise: Gumbel noise ``(B, N)`` for the stochastic mode; None for deterministic top-k.
        tau: Gumbel-softmax temperature (affects gradients only).

    Returns:
        Selected tokens ``(B, k, D)``.
    """
    if k > tokens.shape[1]:
        raise ValueError(f"sample_tokens={k} exceeds the {tokens.shape[1]} CLIP tokens given")
    scores = logits if noise is None else logits + noise
    index = scores.topk(k, dim=-1).indices.sort(dim=-1).values  # (B, K), raster order
    picked = tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    if noise is None:
        return picked
    # Straight-through multi-hot: forward weight 1 on the picked tokens, gradient of the soft weights.
    soft = torch.softmax(scores.float() / tau, dim=-1).gather(1, index)
    hard = 1.0 - soft.detach() + soft
    return picked * hard.unsqueeze(-1).to(picked.dtype)
