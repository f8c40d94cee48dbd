"""Random tensors drawn with a caller's generator: the one place product code draws them.

A ``torch.Generator`` belongs to one device, and PyTorch refuses to draw for another device with it (a CPU
generator cannot fill a CUDA tensor, nor a CUDA generator a CPU one). Every function here draws on the
generator's device and then moves the result to the requested device and dtype, as diffusers'
``randn_tensor`` does, so a seeded CPU generator drives a CUDA pipeline and gives the same numbers as on
the CPU. Draws are made in float32 (float64 when asked for) and then cast, so that a seed also gives the
same noise whatever the compute precision. Without a generator the draw uses the global generator of the
target device. A test (``tests/test_random_rule.py``) fails if product code passes a generator to any
other random function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

Shape = Sequence[int]


def _draw_device(generator: torch.Generator | None, device: torch.device | str | None) -> torch.device:
    """The device to draw on: the generator's own, else the target's, else the CPU."""
    if generator is not None:
        return generator.device
    return torch.device("cpu") if device is None else torch.device(device)


def _draw_dtype(dtype: torch.dtype | None) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _move(x: Tensor, device: torch.device | str | None, dtype: torch.dtype | None) -> Tensor:
    return x.to(device=x.device if device is None else device, dtype=dtype or x.dtype)


def _float_draw(fn, shape: Shape, generator, device, dtype) -> Tensor:
    """``fn`` (``torch.randn`` or ``torch.rand``) drawn on the generator's device, then moved and cast."""
    draw = fn(
        tuple(shape), generator=generator, device=_draw_device(generator, device), dtype=_draw_dtype(dtype)
    )
    return _move(draw, device, dtype)


def randn(
    shape: Shape,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Standard normal samples.

    Args:
        shape: Output shape.
        generator: Source of randomness (None: the global generator of ``device``).
        device: Device of the result (None: the generator's device, else the CPU).
        dtype: Dtype of the result (None: float32).

    Returns:
        The samples.
    """
    return _float_draw(torch.randn, shape, generator, device, dtype)


def rand(
    shape: Shape,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Uniform samples in ``[0, 1)``; the arguments are those of `randn`.

    Returns:
        The samples.
    """
    return _float_draw(torch.rand, shape, generator, device, dtype)


def exponential(
    shape: Shape,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """``Exp(1)`` samples (the source of Gumbel noise); the arguments are those of `randn`.

    Returns:
        The samples.
    """
    empty = torch.empty(tuple(shape), device=_draw_device(generator, device), dtype=_draw_dtype(dtype))
    return _move(empty.exponential_(generator=generator), device, dtype)


def randint(
    low: int,
    high: int,
    shape: Shape = (),
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Integers uniform in ``[low, high)`` (int64).

    Args:
        low: Smallest value.
        high: One past the largest value.
        shape: Output shape (``()``: a scalar tensor).
        generator: Source of randomness (None: the global generator of ``device``).
        device: Device of the result (None: the generator's device, else the CPU).

    Returns:
        The samples.
    """
    draw = torch.randint(low, high, tuple(shape), generator=generator, device=_draw_device(generator, device))
    return _move(draw, device, None)
