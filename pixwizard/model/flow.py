"""Flow matching: the probability path, time samplers and the loss, in one time convention.

Rectified flow with **t = 0 noise and t = 1 data**: ``x_t = t·x1 + (1 − t)·x0`` with ``x0 ~ N(0, I)`` and
``x1`` the data latent; the target velocity is ``u = x1 − x0`` (Ref: facts §3, the authors' ICPlan path).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pixwizard.model import rng


@dataclass
class PathSample:
    """A point on the path and its target velocity."""

    x_t: Tensor
    velocity: Tensor
    t: Tensor


def sample_path(noise: Tensor, data: Tensor, t: Tensor) -> PathSample:
    """``x_t = t·data + (1 − t)·noise``, target ``data − noise``; ``t`` broadcasts over the trailing axes."""
    tb = t.reshape(-1, *([1] * (data.ndim - 1))).to(data.dtype)
    return PathSample(tb * data + (1 - tb) * noise, data - noise, t)


class TimeSampler(str, enum.Enum):
    """How training times are drawn."""

    UNIFORM = "uniform"
    LOGIT_NORMAL = "logit_normal"
    SHIFTED = "shifted"


def sample_time(kind: TimeSampler | str, generator: torch.Generator, shift: float = 3.0) -> float:
    """One training time in [0, 1] from ``generator``.

    ``uniform``: U(0, 1) (the authors). ``logit_normal``: sigmoid(N(0, 1)). ``shifted``: a uniform time mapped
    by ``t / (t + s − s·t)``, which with ``s > 1`` favours the noisy end as the sampler's time shift does.
    """
    kind = TimeSampler(kind)
    if kind is TimeSampler.LOGIT_NORMAL:
        return 1.0 / (1.0 + math.exp(-float(rng.randn((), generator=generator))))
    u = float(rng.rand((), generator=generator))
    if kind is TimeSampler.SHIFTED:
        return u / (u + shift - shift * u)
    return u


def flow_loss(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per item (mean over every latent element), shape ``(B,)``."""
    return (prediction.float() - target.float()).pow(2).flatten(1).mean(1)
