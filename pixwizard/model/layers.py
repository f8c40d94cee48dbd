"""Shared primitives of the transformer: norms, the timestep embedding, the SwiGLU MLP and 2-D RoPE.

Numerical details follow the released checkpoint (Ref: AFeng-x/PixWizard@cb39454:models/model.py, read for
facts only): RMSNorm normalises in float32, the timestep sinusoid puts cosines first and takes t unscaled,
and RoPE rotates pairs of consecutive channels with row and column frequencies interleaved.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned scale; the statistics are computed in float32.

    Args:
        dim: Width of the last axis.
        eps: Added to the mean square before the reciprocal square root.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape ``(..., dim)``."""
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def modulate(x: Tensor, scale: Tensor) -> Tensor:
    """Scale-only adaLN modulation ``x·(1 + scale)``.

    Args:
        x: Tokens ``(B, L, D)``.
        scale: Per-item scales ``(B, D)``.

    Returns:
        The modulated tokens ``(B, L, D)``.
    """
    return x * (1 + scale.unsqueeze(1))


def timestep_sinusoid(t: Tensor, dim: int = 256, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of the flow time, cosines first, with ``t`` used unscaled in [0, 1].

    Args:
        t: Flow times ``(B,)``.
        dim: Feature width (even).
        max_period: Longest period of the frequency ladder.

    Returns:
        Features ``(B, dim)`` in float32.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Flow time → conditioning vector: sinusoid (256) → Linear → SiLU → Linear.

    Args:
        width: Output (and hidden) width ``Dc``.
        frequency_dim: Width of the sinusoidal features.
    """

    def __init__(self, width: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: Tensor) -> Tensor:
        """Embed ``t`` ``(B,)`` into ``(B, Dc)``."""
        features = timestep_sinusoid(t, self.frequency_dim)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


def ffn_hidden_dim(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """Hidden width of the SwiGLU MLP: ``int(2·4D/3)``, optionally scaled, rounded up to ``multiple_of``."""
    hidden = int(2 * (4 * dim) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class FeedForward(nn.Module):
    """SwiGLU MLP ``w2(SiLU(w1·u) ⊙ w3·u)`` without biases.

    Args:
        dim: Model width ``D``.
        hidden_dim: Inner width.
    """

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP to ``x`` ``(B, L, D)``."""
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


# --------------------------------------------------------------------------------------------------------
# 2-D rotary position embedding
# --------------------------------------------------------------------------------------------------------


def rope_frequencies(
    head_dim: int, theta: float = 10000.0, ntk_factor: float = 1.0, linear_factor: float = 1.0
) -> Tensor:
    """Base frequencies ``f_k = (θ·ntk)^(-4k/Dh) / linear`` for ``k = 0 … Dh/4 − 1``, in float32.

    Float32, as the released model computes them.

    Args:
        head_dim: ``Dh``; must be a multiple of 4 (two axes × complex pairs).
        theta: RoPE base.
        ntk_factor: θ multiplier (the authors' "NTK" extrapolation, a plain θ scaling).
        linear_factor: Position interpolation divisor.

    Returns:
        Frequencies ``(Dh/4,)``.
    """
    k = torch.arange(0, head_dim, 4, dtype=torch.float32)[: head_dim // 4]
    return 1.0 / (theta * ntk_factor) ** (k / head_dim) / linear_factor


@functools.lru_cache(maxsize=64)
def rope_table(
    grid_h: int,
    grid_w: int,
    head_dim: int,
    theta: float,
    ntk_factor: float,
    linear_factor: float,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """Cosines and sines of the rotation angles of a ``grid_h × grid_w`` token grid, built once per key.

    Token order is row-major. Entry ``2k`` of a token at ``(h, w)`` rotates by ``h·f_k`` and entry ``2k+1``
    by ``w·f_k``; entry ``j`` rotates channels ``(2j, 2j+1)`` of every head.

    Args:
        grid_h: Token rows ``H/p``.
        grid_w: Token columns ``W/p``.
        head_dim: ``Dh``.
        theta: RoPE base.
        ntk_factor: θ multiplier.
        linear_factor: Position interpolation divisor.
        device: Where the table lives.

    Returns:
        ``(cos, sin)``, each ``(grid_h·grid_w, Dh/2)`` float32.
    """
    # The table is cached across calls, so it must be a normal tensor even when first built under
    # inference_mode (an inference tensor cannot be used by a later training step).
    with torch.inference_mode(False), torch.no_grad():
        freqs = rope_frequencies(head_dim, theta, ntk_factor, linear_factor)
        rows = torch.outer(torch.arange(grid_h, dtype=torch.float32), freqs)  # (gh, Dh/4)
        cols = torch.outer(torch.arange(grid_w, dtype=torch.float32), freqs)  # (gw, Dh/4)
        angles = torch.stack(
            [rows[:, None, :].expand(grid_h, grid_w, -1), cols[None, :, :].expand(grid_h, grid_w, -1)], dim=-1
        ).reshape(grid_h * grid_w, head_dim // 2)  # (L, Dh/2): h and w interleaved per frequency
        return torch.cos(angles).to(device), torch.sin(angles).to(device)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate consecutive channel pairs of every head, in float32, and cast back.

    Args:
        x: Queries or keys ``(B, L, Hd, Dh)``.
        cos: ``(B, L, Dh/2)`` cosines.
        sin: ``(B, L, Dh/2)`` sines.

    Returns:
        The rotated tensor ``(B, L, Hd, Dh)``.
    """
    pairs = x.float().unflatten(-1, (-1, 2))  # (B, L, Hd, Dh/2, 2)
    real, imag = pairs.unbind(-1)
    cos, sin = cos[:, :, None], sin[:, :, None]
    rotated = torch.stack([real * cos - imag * sin, real * sin + imag * cos], dim=-1)
    return rotated.flatten(-2).type_as(x)


def check_shape(name: str, tensor: Tensor, expected: tuple[int | None, ...]) -> None:
    """Raise a ValueError naming ``name`` unless ``tensor`` has ``expected`` shape (None matches any size).

    Args:
        name: Argument name for the message.
        tensor: The tensor to check.
        expected: One entry per axis; None accepts any size.

    Raises:
        ValueError: On a rank or size mismatch.
    """
    shape = tuple(tensor.shape)
    if len(shape) != len(expected) or any(
        e is not None and e != s for e, s in zip(expected, shape, strict=False)
    ):
        wanted = ", ".join("*" if e is None else str(e) for e in expected)
        raise ValueError(f"{name} must have shape ({wanted}), got {shape}")
