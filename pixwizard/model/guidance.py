"""Classifier-free guidance with a text scale and an image scale, as pure functions.

Rows, in the order the authors use: ``cond`` (prompt + image), ``image`` (empty prompt + image) and
``uncond`` (empty prompt, no image). Guided velocity:
``v = v_uncond + w_I·(v_image − v_uncond) + w_T·(v_cond − v_image)``.
The released model was sampled with guidance on latent channels 0-2 only (the authors' comment says
"for exact reproducibility"); channel 3 keeps the conditional prediction. ``channels=None`` guides all.
"""

from __future__ import annotations

import torch
from torch import Tensor

OFFICIAL_GUIDED_CHANNELS = 3


def combine_guidance(
    v_cond: Tensor, v_image: Tensor, v_uncond: Tensor, text_scale: float, image_scale: float
) -> Tensor:
    """The two-scale guidance formula on whole tensors of the same shape."""
    return v_uncond + image_scale * (v_image - v_uncond) + text_scale * (v_cond - v_image)


def guide(
    v_cond: Tensor,
    v_image: Tensor,
    v_uncond: Tensor | None,
    text_scale: float,
    image_scale: float,
    channels: int | None = OFFICIAL_GUIDED_CHANNELS,
) -> Tensor:
    """Guided velocity of the conditional row.

    Args:
        v_cond: ``(B, C, H, W)`` prediction with prompt and image.
        v_image: ``(B, C, H, W)`` prediction with the empty prompt and the image.
        v_uncond: ``(B, C, H, W)`` prediction with neither, or None when ``image_scale == 1`` (the formula
            then reduces to ``v_image + w_T·(v_cond − v_image)`` exactly).
        text_scale: ``w_T``.
        image_scale: ``w_I``.
        channels: Guide channels ``[0, channels)`` and keep ``v_cond`` elsewhere; None guides all.

    Returns:
        ``(B, C, H, W)``.

    Raises:
        ValueError: If ``v_uncond`` is missing while ``image_scale != 1``.
    """
    if v_uncond is None:
        if image_scale != 1.0:
            raise ValueError("the unconditional row is needed when image_scale != 1")
        guided = v_image + text_scale * (v_cond - v_image)
    else:
        guided = combine_guidance(v_cond, v_image, v_uncond, text_scale, image_scale)
    if channels is None or channels >= v_cond.shape[1]:
        return guided
    return torch.cat([guided[:, :channels], v_cond[:, channels:]], dim=1)
