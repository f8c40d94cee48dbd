"""Named presets of the transformer: each returns the constructor arguments of `PixWizardTransformer`.

The transformer's diffusers `register_to_config` is its configuration (saved as ``config.json``); these
functions only name useful points of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pixwizard.errors import ConfigError


def pixwizard_2b_gqa(**overrides: Any) -> dict[str, Any]:
    """The released checkpoint (HF ``Afeng-x/PixWizard``): 2.01B parameters, grouped-query attention."""
    args = dict(
        patch_size=2,
        in_channels=4,
        dim=2304,
        n_layers=24,
        n_heads=32,
        n_kv_heads=8,
        multiple_of=256,
        ffn_dim_multiplier=None,
        norm_eps=1e-5,
        learn_sigma=True,
        qk_norm=True,
        cap_feat_dim=2048,  # Gemma-2B hidden size
        cap_clip_feat_dim=768,  # CLIP-L text projection width
        sample_tokens=256,
        scale_factor=1.0,
        image_token_dim=1024,  # CLIP-L/14-336 vision width
    )
    return {**args, **overrides}


def pixwizard_2b(**overrides: Any) -> dict[str, Any]:
    """The non-GQA variant of the paper (2.56B parameters); no released weights."""
    return pixwizard_2b_gqa(**{"n_kv_heads": None, **overrides})


def tiny(**overrides: Any) -> dict[str, Any]:
    """A tiny random-weight configuration for tests and the built-in ``tiny-random`` model."""
    args = dict(
        patch_size=2,
        in_channels=4,
        dim=64,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        multiple_of=16,
        ffn_dim_multiplier=None,
        norm_eps=1e-5,
        learn_sigma=True,
        qk_norm=True,
        cap_feat_dim=32,
        cap_clip_feat_dim=32,
        sample_tokens=8,
        scale_factor=1.0,
        image_token_dim=32,
    )
    return {**args, **overrides}


def pixwizard_world(**overrides: Any) -> dict[str, Any]:
    """The embedded ``pixwizard-world`` model (about 10 M parameters).

    Pixel space with 8-px patches (64 tokens at 64 px), MiniLM text (width 384 for both text roles) and
    pixel-patch image tokens (width 192). A pilot on this 2-core CPU trains it at about 42 samples/s
    (batch 16, float32), against 16 samples/s for width 384 and 8 layers. It predicts the clean image
    (``prediction="data"``): predicting the velocity, a token has to output an 8×8 patch of noise, and a
    2000-step run that did so still left its outputs noisy (denoising at 13 dB against the input's 22).
    """
    args = dict(
        patch_size=8,
        in_channels=3,
        dim=256,
        n_layers=6,
        n_heads=4,
        n_kv_heads=4,
        multiple_of=32,
        ffn_dim_multiplier=None,
        norm_eps=1e-5,
        learn_sigma=True,
        qk_norm=True,
        cap_feat_dim=384,
        cap_clip_feat_dim=384,
        sample_tokens=32,
        scale_factor=1.0,
        image_token_dim=192,
        prediction="data",
    )
    return {**args, **overrides}


PRESETS: dict[str, Callable[..., dict[str, Any]]] = {
    "pixwizard_2b_gqa": pixwizard_2b_gqa,
    "pixwizard_2b": pixwizard_2b,
    "tiny": tiny,
    "pixwizard_world": pixwizard_world,
}

# The official preset names (`models/model.py` of AFeng-x/PixWizard) and ours.
_OFFICIAL_NAME = re.compile(r"^PixWizard_2B(?P<gqa>_GQA)?_patch(?P<patch>\d+)$")


def official_preset(name: str, **overrides: Any) -> dict[str, Any]:
    """Constructor arguments for an official preset name such as ``PixWizard_2B_GQA_patch2``.

    Args:
        name: The official name (as stored in ``model_args.pth`` or a parity manifest's file name).
        **overrides: Arguments that replace the preset's values.

    Returns:
        The constructor arguments.

    Raises:
        ConfigError: If the name is not an official preset.
    """
    match = _OFFICIAL_NAME.match(name)
    if match is None:
        raise ConfigError(
            f"unknown official preset {name!r}; expected PixWizard_2B_GQA_patch<N> or PixWizard_2B_patch<N>"
        )
    base = pixwizard_2b_gqa if match["gqa"] else pixwizard_2b
    return base(patch_size=int(match["patch"]), **overrides)
