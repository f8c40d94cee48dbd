"""Encoder contracts on the tiny encoders, and the real encoders' shapes on the meta device."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixwizard.pipeline.encoders import (
    CLIP_MEAN,
    CLIP_STD,
    ClipImageEncoder,
    ClipTextEncoder,
    GemmaTextEncoder,
    VaeCodec,
    clip_l336_text_config,
    clip_l336_vision_config,
    gemma_2b_config,
)


def test_gemma_tokens_and_features(pipe):
    gemma = GemmaTextEncoder(pipe.text_encoder, pipe.tokenizer)
    tok = pipe.tokenizer
    prompts = ["Remove the rain", "", "a" * 600]
    tokens = gemma.tokenize(prompts)
    ids, mask = tokens["input_ids"], tokens["attention_mask"]
    assert ids.shape[1] % 8 == 0 and ids.shape[1] <= 256
    assert (ids[:, 0] == tok.bos_token_id).all()
    assert not (ids == tok.eos_token_id).any()
    assert mask[1].sum() == 1  # the empty prompt is BOS alone
    lengths = mask.sum(1)
    for row, n in zip(ids, lengths, strict=True):
        assert (row[n:] == tok.pad_token_id).all()  # right padding
    assert lengths[2] == 256  # cut at 256
    feats = gemma(prompts)
    with torch.no_grad():
        ref = pipe.text_encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[
            -2
        ]
    assert torch.equal(feats.feats, ref) and torch.equal(feats.mask, mask)
    assert not torch.equal(ref, pipe.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state)


def test_clip_text_is_the_projected_unnormalised_eos_embedding(pipe):
    clip = ClipTextEncoder(pipe.clip_text_encoder, pipe.clip_tokenizer)
    prompts = ["Remove the rain", "Estimate the depth of this photo"]
    emb = clip(prompts)
    ids = pipe.clip_tokenizer(
        prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt"
    )["input_ids"]
    assert ids.shape == (2, 77)
    model = pipe.clip_text_encoder
    with torch.no_grad():
        hidden = model.text_model(input_ids=ids).last_hidden_state  # final-normed
        eos = (ids == pipe.clip_tokenizer.eos_token_id).int().argmax(-1)
        ref = model.text_projection(hidden[torch.arange(2), eos])
    torch.testing.assert_close(emb, ref)
    assert emb.shape == (2, pipe.transformer.config.cap_clip_feat_dim)
    assert not torch.allclose(emb.norm(dim=-1), torch.ones(2))


def test_clip_vision_tokens_follow_the_authors_preprocessing(pipe):
    encoder = ClipImageEncoder(pipe.clip_image_encoder)
    images = torch.rand(2, 3, 48, 64) * 2 - 1
    tokens = encoder(images)
    size = pipe.clip_image_encoder.config.image_size
    x = F.interpolate(images, size=(size, size), mode="bicubic", align_corners=True, antialias=False)
    x = ((x + 1) / 2 - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
    with torch.no_grad():
        ref = pipe.clip_image_encoder(pixel_values=x).last_hidden_state[:, 1:]
    assert (tokens - ref).abs().max() < 1e-6
    assert tokens.shape == (2, (size // pipe.clip_image_encoder.config.patch_size) ** 2, 32)


def test_vae_latents_are_scaled(pipe):
    codec = VaeCodec(pipe.vae)
    images = torch.rand(1, 3, 64, 48) * 2 - 1
    with torch.no_grad():
        mean = pipe.vae.encode(images).latent_dist.mean
    assert torch.equal(codec.encode(images, sample=False), mean * 0.13025)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    sampled = codec.encode(images, generator=g())
    assert torch.equal(sampled, codec.encode(images, generator=g())) and not torch.equal(
        sampled, mean * 0.13025
    )
    with torch.no_grad():
        torch.testing.assert_close(codec.decode(mean * 0.13025), pipe.vae.decode(mean).sample)


def test_real_encoder_configurations_on_the_meta_device():
    from transformers import CLIPTextModelWithProjection, CLIPVisionModel, GemmaModel

    with torch.device("meta"):
        gemma = GemmaModel(gemma_2b_config())
        text = CLIPTextModelWithProjection(clip_l336_text_config())
        vision = CLIPVisionModel(clip_l336_vision_config())
    assert gemma.embed_tokens.embedding_dim == 2048 and len(gemma.layers) == 18
    assert text.text_projection.out_features == 768
    assert vision.config.hidden_size == 1024
    assert (vision.config.image_size // vision.config.patch_size) ** 2 == 576
    ids = torch.zeros(1, 77, dtype=torch.long, device="meta")
    assert text(input_ids=ids).text_embeds.shape == (1, 768)
    pixels = torch.zeros(1, 3, 336, 336, device="meta")
    assert vision(pixel_values=pixels).last_hidden_state[:, 1:].shape == (1, 576, 1024)
