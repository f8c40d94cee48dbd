"""Non-default sampling options reach the model: the pipeline against the model called directly.

One call above the 1024 centre (so time-aware RoPE extrapolation applies: linear position scaling below
t = 0.3, θ scaling above), with proportional attention, two guided channels instead of three and both
guidance scales away from their defaults. The pipeline's trajectory is replayed step by step with the
model's own ``forward`` and the guidance function, with every option written out here, and must agree
within 1e-5. Each option is also shown to matter: replaying without it moves the result.

A bucket holds about ``(centre/16)²`` tokens, so proportional attention's factor ``√(log N / log base)`` is
within 0.1% of 1 and its effect on a tiny random model (~2e-5) would hide under the tolerance. The model
here has its query/key norm weights multiplied by 8: sharper attention makes its temperature, and so the
option, visible (~3e-4).
"""

from __future__ import annotations

import pytest
import torch

from pixwizard.model.guidance import guide
from pixwizard.pipeline.sampling import time_grid

CENTRE = 1040  # the smallest bucket centre above 1024 (a multiple of 16)
ROPE_SCALE = CENTRE / 1024  # the pipeline's extrapolation factor above 1024
WATERSHED = 0.3  # the authors' switch time from linear to θ scaling
BASE_SEQLEN = (CENTRE // 16) ** 2  # proportional attention's base, (centre/16)²
TEXT_SCALE, IMAGE_SCALE, CHANNELS = 3.0, 1.5, 2
POINTS = 3  # grid 0, 0.5, 1: one step on each side of the watershed
SHARPEN = 8.0  # factor on the query/key norm weights


@pytest.fixture(scope="module")
def sharp_pipe():
    """tiny-random with sharpened attention (see the module docstring)."""
    from pixwizard.pipeline import tiny_random

    pipe = tiny_random()
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        for block in pipe.transformer.layers:
            block.attention.q_norm.weight.mul_(SHARPEN)
            block.attention.k_norm.weight.mul_(SHARPEN)
    return pipe


@pytest.fixture(scope="module")
def recorded(sharp_pipe):
    """The pipeline's result and, per step, what it handed the model (state, times, conditions)."""
    return record(sharp_pipe)


def record(pipe):
    """Run the pipeline with the options above, recording the model's inputs."""
    model = pipe.transformer
    calls, conditions = [], []
    prepare, forward = model.prepare_conditions, model.forward_prepared

    def spy_prepare(*args, **kwargs):
        conditions.append((args, kwargs))
        return prepare(*args, **kwargs)

    def spy_forward(x, t, input_x, cond, **kwargs):
        calls.append((x, t, input_x))
        return forward(x, t, input_x, cond, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "prepare_conditions", spy_prepare)
        patch.setattr(model, "forward_prepared", spy_forward)
        result = pipe(
            "Make it sharper",
            image=_photo(),
            resolution=[CENTRE],
            num_inference_steps=POINTS,
            text_guidance_scale=TEXT_SCALE,
            image_guidance_scale=IMAGE_SCALE,
            guidance_channels=CHANNELS,
            proportional_attn=True,
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
        )
    return result.images[0], calls, conditions


def _photo():
    from PIL import Image

    image = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    image.paste((200, 40, 40), (10, 10, 30, 30))
    return image


def replay(model, calls, conditions, *, proportional_attn=True, rope_scale=ROPE_SCALE, channels=CHANNELS):
    """The Euler trajectory from the pipeline's starting noise, with the model called directly."""
    grid = time_grid(POINTS)
    x = calls[0][0][:1]  # the state is the first row of the batch of rows
    for (_, t, input_x), (args, kwargs), t0, t1 in zip(calls, conditions, grid[:-1], grid[1:], strict=True):
        assert torch.all(t == t0)
        rows = model(
            x.repeat(3, 1, 1, 1),
            t,
            input_x,
            *args,
            **kwargs,
            rope_scale=rope_scale,
            rope_watershed=WATERSHED,
            proportional_attn=proportional_attn,
            base_seqlen=BASE_SEQLEN,
        ).chunk(3)
        x = x + (t1 - t0) * guide(*rows, TEXT_SCALE, IMAGE_SCALE, channels)
    return x[0]


def _relative(a, b):
    return float((a - b).abs().max() / b.abs().max())


@torch.no_grad()
def test_the_pipeline_is_the_model_called_with_its_options(sharp_pipe, recorded):
    latent, calls, conditions = recorded
    assert latent.shape[1] * latent.shape[2] * 64 > 1024**2  # a bucket above the 1024 centre
    assert len(calls) == len(conditions) == POINTS - 1 and calls[0][0].shape[0] == 3
    assert _relative(replay(sharp_pipe.transformer, calls, conditions), latent) < 1e-5


@pytest.mark.parametrize(
    "change",
    [{"proportional_attn": False}, {"rope_scale": None}, {"channels": 3}],
    ids=["no-proportional-attention", "no-rope-extrapolation", "three-guided-channels"],
)
@torch.no_grad()
def test_each_option_changes_the_result(sharp_pipe, recorded, change):
    latent, calls, conditions = recorded
    assert _relative(replay(sharp_pipe.transformer, calls, conditions, **change), latent) > 1e-4
