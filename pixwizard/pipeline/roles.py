"""The four roles a PixWizard pipeline's frozen encoders play, as small protocols.

The pipeline and the trainer talk to roles, not to named models, so a model can fill them with any
encoders of the right shapes: the released checkpoint uses Gemma-2B, CLIP-L text, CLIP-L/14-336 vision and
the SDXL VAE (`pixwizard.pipeline.encoders`); the built-in tiny model uses toy instances of the same
classes.

- `TextTokens`: prompts → per-token features and mask for the transformer's text attention.
- `PooledText`: prompts → one embedding each, the task embedding's input.
- `ImageTokens`: images in [-1, 1] → tokens for the image cross-attention.
- `LatentCodec`: images ↔ latents, knowing its down-sampling ``factor`` and latent ``channels``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from pixwizard.pipeline.encoders import TextFeatures


@runtime_checkable
class TextTokens(Protocol):
    """Per-token text features: ``feats (B, Lt, Ccap)`` and ``mask (B, Lt)``."""

    def __call__(self, prompts: list[str]) -> TextFeatures:
        """Encode prompts."""
        ...


@runtime_checkable
class PooledText(Protocol):
    """One embedding per prompt: ``(B, Cpool)``."""

    def __call__(self, prompts: list[str]) -> Tensor:
        """Encode prompts."""
        ...


@runtime_checkable
class ImageTokens(Protocol):
    """Tokens of ``(B, 3, H, W)`` images in [-1, 1]: ``(B, N, Cimg)``."""

    def __call__(self, images: Tensor) -> Tensor:
        """Encode images."""
        ...


@runtime_checkable
class LatentCodec(Protocol):
    """Images in [-1, 1] ↔ scaled latents ``(B, channels, H / factor, W / factor)``."""

    @property
    def factor(self) -> int:
        """Down-sampling from pixels to latents."""
        ...

    @property
    def channels(self) -> int:
        """Latent channels."""
        ...

    def posterior(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation of the (unscaled) posterior."""
        ...

    def sample(self, mean: Tensor, std: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A scaled latent drawn from the posterior."""
        ...

    def encode(
        self, images: Tensor, *, generator: torch.Generator | None = None, sample: bool = True
    ) -> Tensor:
        """Images → scaled latents (a posterior sample, or its mean)."""
        ...

    def decode(self, latents: Tensor) -> Tensor:
        """Scaled latents → images in [-1, 1] (not clamped)."""
        ...
