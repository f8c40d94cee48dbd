"""The four frozen encoders of PixWizard, each a thin wrapper over a real library class.

- `GemmaTextEncoder`: Gemma-2B features, ``hidden_states[-2]`` (the penultimate layer, before the final
  norm), BOS and no EOS, right padding to a multiple of 8, at most 256 tokens, with the attention mask.
- `ClipTextEncoder`: CLIP-L text, 77 tokens, the projected EOS embedding (``text_embeds``), not
  normalised: the task embedding's input.
- `ClipImageEncoder`: CLIP-L/14-336 vision tokens ``last_hidden_state[:, 1:]`` (no post-norm, CLS
  dropped), after the authors' preprocessing: a bicubic squash-resize with ``align_corners=True`` on the
  [-1, 1] image, then CLIP's mean/std.
- `VaeCodec`: the SDXL VAE (``AutoencoderKL``) with scale 0.13025; encoding samples the posterior as the
  authors do, or takes its mean on request.

Facts from ``reference/official-implementation-facts.md`` §2 (Ref: AFeng-x/PixWizard@cb39454:
sample_pixwizard.py, models/clip/modules.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pixwizard.model import rng

GEMMA_MAX_TOKENS = 256
GEMMA_PAD_MULTIPLE = 8
CLIP_TEXT_TOKENS = 77
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SDXL_VAE_SCALE = 0.13025


def _device_of(module: torch.nn.Module) -> torch.device:
    """Where ``module`` computes: an offload hook's execution device, else where its parameters are.

    Under sequential offload the parameters sit on the meta device between calls, and under model offload
    on the CPU; inputs go where the hook will run the module.
    """
    for part in module.modules():
        device = getattr(getattr(part, "_hf_hook", None), "execution_device", None)
        if device is not None:
            return torch.device(device)
    return next(module.parameters()).device


def _placement(module: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    return _device_of(module), next(module.parameters()).dtype


@dataclass
class TextFeatures:
    """Gemma features and their mask: ``feats (B, Lt, Ccap)``, ``mask (B, Lt)`` (1 for real tokens)."""

    feats: Tensor
    mask: Tensor


class TokenFeatureEncoder:
    """A text model + its tokenizer → per-token features of one layer and the mask, right-padded.

    Subclasses set ``max_tokens`` and ``layer`` (an index into ``hidden_states``, or None for the last
    layer's output).

    Args:
        model: A ``transformers`` text model.
        tokenizer: Its tokenizer; padding side and special tokens are set here, not trusted.
    """

    max_tokens: int = GEMMA_MAX_TOKENS
    layer: int | None = None

    def __init__(self, model: torch.nn.Module, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right"

    def tokenize(self, prompts: list[str]) -> dict[str, Tensor]:
        """Token ids and mask: the tokenizer's special tokens, right-padded to a multiple of 8, truncated."""
        return self.tokenizer(
            prompts,
            padding=True,
            pad_to_multiple_of=GEMMA_PAD_MULTIPLE,
            max_length=self.max_tokens,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> TextFeatures:
        """Encode prompts to the chosen layer's features and the mask."""
        tokens = self.tokenize(prompts)
        device = _device_of(self.model)
        ids, mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
        hidden = self.layer is not None
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
        return TextFeatures(out.hidden_states[self.layer] if hidden else out.last_hidden_state, mask)


class GemmaTextEncoder(TokenFeatureEncoder):
    """Gemma (``GemmaModel``) → ``hidden_states[-2]`` features: BOS first, no EOS, at most 256 tokens."""

    max_tokens = GEMMA_MAX_TOKENS
    layer = -2


class ClipTextEncoder:
    """``CLIPTextModelWithProjection`` + ``CLIPTokenizer`` → projected EOS embedding (the task input).

    Args:
        model: The CLIP text model with projection.
        tokenizer: The CLIP tokenizer.
    """

    def __init__(self, model: torch.nn.Module, tokenizer):
        self.model = model
        self.tokenizer = tokenizer

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> Tensor:
        """``(B, projection_dim)`` embeddings of 77-token prompts: unnormalised, no attention mask."""
        ids = self.tokenizer(
            prompts, padding="max_length", max_length=CLIP_TEXT_TOKENS, truncation=True, return_tensors="pt"
        )["input_ids"]
        return self.model(input_ids=ids.to(_device_of(self.model))).text_embeds


class ClipImageEncoder:
    """``CLIPVisionModel`` → patch tokens ``(B, N, hidden)`` of images in [-1, 1].

    Args:
        model: The CLIP vision model (CLIP-L/14-336: 576 tokens of width 1024).
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model

    @property
    def image_size(self) -> int:
        """Side of the square the images are squashed to."""
        return self.model.config.image_size

    def preprocess(self, images: Tensor) -> Tensor:
        """The authors' preprocessing of ``(B, 3, H, W)`` images in [-1, 1]; returns CLIP pixel values."""
        size = self.image_size
        resized = F.interpolate(
            images.float(), size=(size, size), mode="bicubic", align_corners=True, antialias=False
        )
        mean = torch.tensor(CLIP_MEAN, device=images.device)[None, :, None, None]
        std = torch.tensor(CLIP_STD, device=images.device)[None, :, None, None]
        return ((resized + 1) / 2 - mean) / std

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        """Patch tokens of the last layer, CLS dropped, no post-norm: ``(B, N, hidden)``."""
        device, dtype = _placement(self.model)
        pixels = self.preprocess(images.to(device)).to(dtype)
        return self.model(pixel_values=pixels).last_hidden_state[:, 1:]


class VaeCodec:
    """The VAE between images in [-1, 1] and scaled latents.

    Args:
        vae: A diffusers ``AutoencoderKL`` (SDXL layout for the released model).
        scale: Latent scale (SDXL: 0.13025).
        shift: Latent shift (SDXL: 0).
    """

    def __init__(self, vae: torch.nn.Module, scale: float = SDXL_VAE_SCALE, shift: float = 0.0):
        self.vae = vae
        self.scale = scale
        self.shift = shift

    @property
    def factor(self) -> int:
        """Pixels per latent along each side: 2 per down-sampling block (SDXL: 8)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def channels(self) -> int:
        """Latent channels (SDXL: 4)."""
        return int(self.vae.config.latent_channels)

    @torch.no_grad()
    def posterior(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation of the VAE posterior of images in [-1, 1] (unscaled)."""
        dist = self.vae.encode(images.to(*_placement(self.vae))).latent_dist
        return dist.mean, dist.std

    def sample(self, mean: Tensor, std: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A scaled latent ``(mean + std·ε − shift)·scale``, with ε drawn as diffusers' posterior draws it."""
        noise = rng.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return (mean + std * noise - self.shift) * self.scale

    @torch.no_grad()
    def encode(
        self, images: Tensor, *, generator: torch.Generator | None = None, sample: bool = True
    ) -> Tensor:
        """``(B, 3, H, W)`` images in [-1, 1] → ``(B, C, H/f, W/f)`` latents (posterior sample or mean)."""
        mean, std = self.posterior(images)
        return self.sample(mean, std, generator) if sample else (mean - self.shift) * self.scale

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Latents → images in [-1, 1] (not clamped)."""
        return self.vae.decode(latents.to(*_placement(self.vae)) / self.scale + self.shift).sample


# The released encoders' configurations (for shapes and memory estimates; the weights come from the Hub).


def gemma_2b_config():
    """``google/gemma-2b``'s architecture: 18 layers, width 2048, multi-query attention."""
    from transformers import GemmaConfig

    return GemmaConfig(
        vocab_size=256000,
        hidden_size=2048,
        intermediate_size=16384,
        num_hidden_layers=18,
        num_attention_heads=8,
        num_key_value_heads=1,
        head_dim=256,
        max_position_embeddings=8192,
    )


def clip_l336_text_config():
    """CLIP-L/14-336's text tower: width 768, projection 768, 77 positions."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=77,
        projection_dim=768,
        hidden_act="quick_gelu",
    )


def clip_l336_vision_config():
    """CLIP-L/14-336's vision tower: width 1024, 24 layers, 336 px in 14 px patches (576 tokens)."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        image_size=336,
        patch_size=14,
        projection_dim=768,
        hidden_act="quick_gelu",
    )
