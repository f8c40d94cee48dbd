"""The built-in ``tiny-random`` model: every component of the real pipeline at toy width, random weights.

It is built in code (no file outside the package, no download) from the same library classes the released
model uses: the PixWizard transformer, ``GemmaModel`` + ``GemmaTokenizer``, ``CLIPTextModelWithProjection``
+ ``CLIPTokenizer``, ``CLIPVisionModel`` and an SDXL-layout ``AutoencoderKL``. Its resolution centre is
64 px (8×8 latents) with the same bucket algorithm. Tests, ``make demo`` and ``--model tiny-random`` use
it. **Its outputs are noise**: it exercises every code path, it has learned nothing.
"""

from __future__ import annotations

import torch

from pixwizard.model.config import tiny
from pixwizard.model.transformer import PixWizardTransformer

TINY_MODEL_ID = "tiny-random"
TINY_CENTRE = 64
TEXT_WIDTH = 32  # Gemma hidden size = transformer cap_feat_dim
CLIP_TEXT_WIDTH = 32  # CLIP text projection = cap_clip_feat_dim
CLIP_IMAGE_WIDTH = 32  # CLIP vision hidden size = image_token_dim
CLIP_IMAGE_SIZE, CLIP_PATCH = 32, 4  # 64 CLIP tokens


def _gemma_tokenizer():
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    pieces = ["▁"] + [chr(c) for c in range(97, 123)] + [f"<0x{i:02X}>" for i in range(256)]
    vocab = {token: i for i, token in enumerate(specials + pieces)}
    return GemmaTokenizer(
        vocab=vocab, merges=[], add_bos_token=True, add_eos_token=False, padding_side="right"
    )


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    chars = [chr(c) for c in range(33, 127)]
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", "<|unk|>"] + chars + [c + "</w>" for c in chars]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], unk_token="<|unk|>")


def tiny_components(seed: int = 0) -> dict:
    """Every component of a tiny pipeline, seeded; keys are the pipeline's component names."""
    from diffusers import AutoencoderKL
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModel,
        GemmaConfig,
        GemmaModel,
    )

    gemma_tok, clip_tok = _gemma_tokenizer(), _clip_tokenizer()
    torch.manual_seed(seed)
    text_encoder = GemmaModel(
        GemmaConfig(
            vocab_size=len(gemma_tok),
            hidden_size=TEXT_WIDTH,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=8,
            max_position_embeddings=512,
            pad_token_id=gemma_tok.pad_token_id,
            bos_token_id=gemma_tok.bos_token_id,
            eos_token_id=gemma_tok.eos_token_id,
        )
    ).eval()
    clip_text_encoder = CLIPTextModelWithProjection(
        CLIPTextConfig(
            vocab_size=len(clip_tok),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=CLIP_TEXT_WIDTH,
            bos_token_id=clip_tok.bos_token_id,
            eos_token_id=clip_tok.eos_token_id,
            pad_token_id=clip_tok.pad_token_id,
        )
    ).eval()
    clip_image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=CLIP_IMAGE_WIDTH,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=CLIP_IMAGE_SIZE,
            patch_size=CLIP_PATCH,
            projection_dim=16,
        )
    ).eval()
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 16, 32, 32],
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=8,
        sample_size=TINY_CENTRE,
        scaling_factor=0.13025,
        force_upcast=True,
    ).eval()
    transformer = (
        PixWizardTransformer(
            **tiny(
                cap_feat_dim=TEXT_WIDTH, cap_clip_feat_dim=CLIP_TEXT_WIDTH, image_token_dim=CLIP_IMAGE_WIDTH
            )
        )
        .randomize_(seed=seed)
        .eval()
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": gemma_tok,
        "clip_text_encoder": clip_text_encoder,
        "clip_tokenizer": clip_tok,
        "clip_image_encoder": clip_image_encoder,
    }
