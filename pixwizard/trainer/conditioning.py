"""Classifier-free-guidance dropout, as pure functions.

The paper's intent, which the authors' script inverts (facts §7.2): drop the text for ``p_text`` of the
items, the image for ``p_image``, and both for ``p_both`` (5% each by default), so the model learns exactly
the rows the pipeline feeds at inference:

- text dropped → the empty prompt's Gemma features, mask and CLIP text embedding (the image-only row);
- image dropped → zero CLIP tokens, the explicit no-image flag, and noise as the condition latent (the
  no-image row, conditioned on noise as the sampler conditions it on its starting noise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from pixwizard.model import rng


@dataclass(frozen=True)
class Dropout:
    """Which conditions an item loses."""

    text: bool
    image: bool


def draw_dropout(generator: torch.Generator, p_text: float, p_image: float, p_both: float) -> Dropout:
    """One draw: text only with ``p_text``, image only with ``p_image``, both with ``p_both``."""
    if min(p_text, p_image, p_both) < 0 or p_text + p_image + p_both > 1:
        raise ValueError(
            f"dropout rates must be non-negative and sum to at most 1, got {p_text}, {p_image}, {p_both}"
        )
    u = float(rng.rand((), generator=generator))
    if u < p_text:
        return Dropout(text=True, image=False)
    if u < p_text + p_image:
        return Dropout(text=False, image=True)
    if u < p_text + p_image + p_both:
        return Dropout(text=True, image=True)
    return Dropout(text=False, image=False)


@dataclass(frozen=True)
class ItemConditions:
    """One item's model inputs besides the noisy latent and time.

    Attributes:
        cond_latent: ``(C, H, W)`` condition latent.
        clip_tokens: ``(N, Ci)`` CLIP image tokens.
        no_image: Whether the item has no image condition.
        text_feats: ``(Lt, Ccap)`` Gemma features.
        text_mask: ``(Lt,)`` mask.
        pooled: ``(Ccls,)`` CLIP text embedding.
    """

    cond_latent: Tensor
    clip_tokens: Tensor
    no_image: bool
    text_feats: Tensor
    text_mask: Tensor
    pooled: Tensor


def drop_conditions(
    item: ItemConditions, dropout: Dropout, empty: ItemConditions, noise_latent: Tensor
) -> ItemConditions:
    """The item's inputs after dropout.

    Args:
        item: The full conditions.
        dropout: What to drop.
        empty: Conditions whose text fields hold the empty prompt's encoding.
        noise_latent: ``(C, H, W)`` noise that replaces the condition latent when the image is dropped.

    Returns:
        The conditions the model sees.
    """
    if dropout.text:
        item = replace(item, text_feats=empty.text_feats, text_mask=empty.text_mask, pooled=empty.pooled)
    if dropout.image:
        item = replace(
            item, cond_latent=noise_latent, clip_tokens=torch.zeros_like(item.clip_tokens), no_image=True
        )
    return item
