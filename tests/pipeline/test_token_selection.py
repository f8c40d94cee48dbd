"""Token selection in the pipeline: the authors' fresh Gumbel draw by default, from each item's generator."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

STEPS = 10  # enough steps for the selections of later steps to matter; the default 60 is not needed


def _call(pipe, instructions, images, seeds, **kw):
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    return pipe(instructions, image=images, generator=generators, num_inference_steps=STEPS, **kw)


def _latent(pipe, image, seed=0, **kw):
    return _call(pipe, ["Remove the rain"], [image], [seed], output_type="latent", **kw).images[0]


def test_the_default_is_the_authors_stochastic_selection_and_a_seed_reproduces_it(pipe, photo):
    default = _latent(pipe, photo)
    assert torch.equal(default, _latent(pipe, photo))  # the same seed, the same draws
    assert torch.equal(default, _latent(pipe, photo, token_selection="gumbel"))
    topk = _latent(pipe, photo, token_selection="topk")
    assert (default - topk).abs().max() > 1e-4 * default.abs().max()  # not the deterministic top-k
    assert torch.equal(topk, _latent(pipe, photo, seed=0, token_selection="topk"))


def test_the_gumbel_noise_is_drawn_afresh_at_every_step(pipe, photo, monkeypatch):
    seen = []
    prepare = pipe.transformer.prepare_conditions

    def spy(*args, **kwargs):
        seen.append(kwargs.get("gumbel"))
        return prepare(*args, **kwargs)

    monkeypatch.setattr(pipe.transformer, "prepare_conditions", spy)
    _latent(pipe, photo)
    assert len(seen) == STEPS - 1 and all(noise is not None for noise in seen)
    assert all(not torch.equal(a, b) for a, b in zip(seen, seen[1:], strict=False))
    seen.clear()
    _latent(pipe, photo, token_selection="topk")
    assert seen == [None]  # top-k: selected once per call


def _pixels(image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def test_an_item_does_not_depend_on_its_batch_mates(pipe, photo):
    """Same draws whatever the batch; batched kernels still round differently (~1e-7), which can move a
    pixel by one level, so images are compared within one level and latents within 1e-5."""
    other = Image.linear_gradient("L").resize(photo.size).convert("RGB")
    third = Image.new("RGB", photo.size, (30, 90, 200))
    pair_args = (["Remove the rain", "Estimate the depth"], [photo, other], [0, 1])
    alone = _call(pipe, ["Remove the rain"], [photo], [0])
    pair = _call(pipe, *pair_args)
    assert pair.buckets[0] == pair.buckets[1]  # one bucket group: sampled as one batch
    assert np.abs(_pixels(pair.images[0]) - _pixels(alone.images[0])).max() <= 1
    swapped = _call(pipe, ["Add snow", "Estimate the depth"], [third, other], [5, 1])
    assert np.abs(_pixels(swapped.images[1]) - _pixels(pair.images[1])).max() <= 1
    latents = _call(pipe, *pair_args, output_type="latent").images
    single = _latent(pipe, photo)
    assert (latents[0] - single).abs().max() <= 1e-5 * single.abs().max()


def test_with_every_token_kept_the_two_modes_agree(pipe, photo, monkeypatch):
    """The Gumbel noise changes only which tokens are kept: the starting noise and VAE sample, drawn
    first from the item's generator, are the same in both modes."""
    from pixwizard.model.token_sampler import TokenSelection

    config = pipe.clip_image_encoder.config
    for block in pipe.transformer.layers:
        monkeypatch.setattr(block, "sample_tokens", (config.image_size // config.patch_size) ** 2)
    kept_all = {mode: _latent(pipe, photo, token_selection=mode) for mode in TokenSelection}
    assert torch.allclose(kept_all[TokenSelection.GUMBEL], kept_all[TokenSelection.TOPK], atol=1e-5)
