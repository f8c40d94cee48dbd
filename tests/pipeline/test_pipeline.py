"""PixWizardPipeline end to end with the built-in tiny-random model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from PIL import Image

from pixwizard.errors import PixWizardError
from pixwizard.pipeline import GenerationCancelled, PixWizardPipeline, tiny_random
from pixwizard.pipeline.sampling import SchedulerSolver


def _latent(pipe, image, seed=0, **kw):
    gen = torch.Generator().manual_seed(seed)
    return pipe("Remove the rain", image=image, generator=gen, output_type="latent", **kw).images[0]


def test_edit_returns_the_input_size_and_is_seeded(pipe, photo, seeded):
    out = pipe("Remove the rain", image=photo, generator=seeded(0))
    again = pipe("Remove the rain", image=photo, generator=seeded(0))
    other = pipe("Remove the rain", image=photo, generator=seeded(1))
    assert out.images[0].size == photo.size and out.images[0].mode == "RGB"
    assert out.bucket_images[0].size == out.buckets[0] == (64, 48)
    assert np.array_equal(np.asarray(out.images[0]), np.asarray(again.images[0]))
    assert not np.array_equal(np.asarray(out.images[0]), np.asarray(other.images[0]))
    assert any("noise" in note for note in out.notes)


def test_two_aspect_ratios_in_one_call(pipe, photo, seeded):
    tall = Image.new("RGB", (40, 100), (10, 200, 10))
    out = pipe(
        ["Remove the rain", "Estimate the depth"], image=[photo, tall], generator=[seeded(0), seeded(1)]
    )
    assert [im.size for im in out.images] == [photo.size, tall.size]
    assert out.buckets == [(64, 48), (32, 80)]
    alone = pipe("Estimate the depth", image=tall, generator=seeded(1))
    assert np.array_equal(np.asarray(out.images[1]), np.asarray(alone.images[0]))


def test_blank_canvas_and_output_types(pipe, seeded):
    out = pipe(
        "Text to image generation: a red boat", canvas_size=(64, 64), generator=seeded(), output_type="np"
    )
    assert out.images[0].shape == (64, 64, 3) and out.images[0].dtype == np.float32
    assert 0.0 <= out.images[0].min() and out.images[0].max() <= 1.0
    pt = pipe("draw a cat", generator=seeded(), output_type="pt")
    assert pt.images[0].shape == (3, 64, 64)
    latent = pipe("draw a cat", generator=seeded(), output_type="latent")
    assert latent.images[0].shape == (4, 8, 8)
    with pytest.raises(ValueError, match="output_type"):
        pipe("draw a cat", output_type="gif")


def test_resize_to_input_can_be_turned_off(pipe, photo, seeded):
    out = pipe("Remove the rain", image=photo, generator=seeded(), resize_to_input=False)
    assert out.images[0].size == (64, 48)


def test_skipping_the_no_image_row_at_image_scale_one_is_exact(pipe, photo):
    fast = _latent(pipe, photo)
    authors = _latent(pipe, photo, skip_exact_rows=False)
    assert ((fast - authors).abs().max() / authors.abs().max()) < 1e-5


def test_image_guidance_changes_the_result(pipe, photo):
    assert (_latent(pipe, photo) - _latent(pipe, photo, image_guidance_scale=1.5)).abs().max() > 1e-4


def test_every_evaluation_is_counted(pipe, photo, seeded):
    calls = []
    pipe(
        "x",
        image=photo,
        generator=seeded(),
        num_inference_steps=60,
        callback_on_step_end=lambda p, i, t, kw: calls.append((i, t)) or {},
    )
    assert len(calls) == 59  # the authors' 60-point grid
    assert [i for i, _ in calls] == list(range(59)) and calls[0][1] == 0.0
    assert all(a[1] < b[1] for a, b in zip(calls, calls[1:], strict=False))


def test_callback_can_replace_latents(pipe, photo, seeded):
    def zero(p, i, t, values):
        return {"latents": torch.zeros_like(values["latents"])} if i == 8 else {}  # the last of 9 steps

    out = pipe(
        "x",
        image=photo,
        generator=seeded(),
        num_inference_steps=10,
        callback_on_step_end=zero,
        output_type="latent",
    )
    assert torch.count_nonzero(out.images[0]) == 0


def test_interrupt_stops_within_one_step(pipe, photo, seeded):
    seen = []

    def stop(p, i, t, values):
        seen.append(i)
        if i == 3:
            p.interrupt()
        return {}

    with pytest.raises(GenerationCancelled):
        pipe("x", image=photo, generator=seeded(), callback_on_step_end=stop)
    assert seen == [0, 1, 2, 3]
    assert pipe("x", image=photo, generator=seeded(), num_inference_steps=3).images  # usable afterwards


@pytest.mark.parametrize("solver", ["heun", "midpoint"])
def test_second_order_solvers_agree_with_euler_roughly(pipe, photo, solver):
    euler = _latent(pipe, photo)
    other = _latent(pipe, photo, solver=solver)
    assert 0 < (euler - other).abs().max() < 0.1 * euler.abs().max()


def test_diffusers_scheduler_reproduces_euler(pipe, photo):
    euler = _latent(pipe, photo)
    sched = _latent(pipe, photo, solver=SchedulerSolver(FlowMatchEulerDiscreteScheduler()))
    assert (sched - euler).abs().max() < 1e-5 * max(1.0, euler.abs().max().item())


def test_gumbel_selection_is_stochastic_but_seeded(pipe, photo):
    a = _latent(pipe, photo, token_selection="gumbel")
    b = _latent(pipe, photo, token_selection="gumbel")
    assert torch.equal(a, b)
    assert not torch.equal(a, _latent(pipe, photo, token_selection="topk"))


def test_bfloat16_on_cpu_is_close_to_float32(photo):
    ref = _latent(tiny_random(), photo)
    half = tiny_random().configure(device="cpu", dtype=torch.bfloat16)
    half.set_progress_bar_config(disable=True)
    assert half.transformer.dtype == torch.bfloat16 and half.vae.dtype == torch.float32
    out = _latent(half, photo)
    assert ((out.float() - ref).abs().max() / ref.abs().max()) < 5e-2


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_cpu_offload_on_cpu_gives_the_same_result(photo, offload):
    ref = _latent(tiny_random(), photo)
    offloaded = tiny_random().configure(device="cpu", offload=offload)
    offloaded.set_progress_bar_config(disable=True)
    assert torch.equal(_latent(offloaded, photo), ref)
    with pytest.raises(PixWizardError, match="offload is already on"):
        offloaded.enable_model_cpu_offload(device="cpu")
    with pytest.raises(PixWizardError, match="is offloaded"):
        offloaded.to("cpu")


def test_saved_pipeline_reloads_identically(pipe, photo, tmp_path):
    pipe.save_pretrained(tmp_path)
    reloaded = PixWizardPipeline.from_pretrained(tmp_path, device="cpu")
    reloaded.set_progress_bar_config(disable=True)
    assert torch.equal(_latent(reloaded, photo), _latent(pipe, photo))
    assert reloaded.config.random_weights and reloaded.config.resolution == [64]
    assert reloaded.tokenizer.padding_side == "right"


def test_tiny_random_by_name():
    loaded = PixWizardPipeline.from_pretrained("tiny-random", device="cpu")
    assert loaded.config.model_id == "tiny-random"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"num_inference_steps": 1}, "num_inference_steps"),
        ({"num_inference_steps": 5000}, "num_inference_steps"),
        ({"text_guidance_scale": -1.0}, "text_guidance_scale"),
        ({"image_guidance_scale": float("nan")}, "image_guidance_scale"),
        ({"guidance_channels": 9}, "guidance_channels"),
        ({"time_shift": 0.0}, "time_shift"),
        ({"solver": "rk45"}, "unknown solver"),
        ({"instruction": "x" * 5000}, "characters"),
        ({"instruction": ["a", "b"]}, "2 instructions but 1 images"),
        ({"callback_on_step_end_tensor_inputs": ["noise"]}, "callback tensor inputs"),
        ({"image": Image.new("RGB", (4, 40))}, "at least 8 px"),
    ],
)
def test_bad_inputs_are_refused(pipe, photo, kwargs, error):
    args = {"instruction": "Remove the rain", "image": [photo]}
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=error):
        pipe(args.pop("instruction"), **args)


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "I;16", "CMYK", "LA", "F", "1"])
def test_image_modes_are_converted(pipe, photo, seeded, mode):
    if mode == "I;16":
        image = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.float32) / 255)
    else:
        image = photo.convert(mode)
    assert image.mode == mode
    out = pipe("x", image=image, generator=seeded(), num_inference_steps=3)
    assert out.images[0].size == photo.size and out.images[0].mode == "RGB"


def test_every_pillow_mode_converts_to_rgb():
    from pixwizard.pipeline.image_processing import to_rgb

    for mode in Image.MODES:
        image = Image.new(mode, (12, 10))
        assert to_rgb(image).mode == "RGB", mode


def test_time_aware_rope_scaling_only_above_1024(pipe):
    assert pipe._rope_scaling(768) == (None, 1.0)
    assert pipe._rope_scaling(1024) == (None, 1.0)
    assert pipe._rope_scaling(1536) == (1.5, 0.3)


@pytest.mark.gpu
def test_released_configuration_memory_at_768_on_cuda():
    from pixwizard.model.config import pixwizard_2b_gqa
    from pixwizard.model.transformer import PixWizardTransformer
    from pixwizard.pipeline.sampling import Guidance, RowConditions, denoise_step

    with torch.device("meta"):
        model = PixWizardTransformer(**pixwizard_2b_gqa())
    model = torch.nn.Module.to(model.to_empty(device="cuda").randomize_(seed=0), dtype=torch.bfloat16).eval()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    rows = 2
    conds = RowConditions(
        rows,
        torch.randn(rows, 4, 96, 96, device="cuda"),
        torch.randn(rows, 576, 1024, device="cuda"),
        torch.randn(rows, 32, 2048, device="cuda"),
        torch.ones(rows, 32, device="cuda"),
        torch.randn(rows, 768, device="cuda"),
        torch.tensor([False, False], device="cuda"),
    )
    with torch.no_grad():
        v = denoise_step(
            model, torch.randn(1, 4, 96, 96, device="cuda"), 0.5, conds, Guidance(base_seqlen=2304)
        )
    torch.cuda.synchronize()
    peak_gb = (torch.cuda.max_memory_allocated() - base) / 2**30
    print(
        f"released config, 768x768, 2 rows, bf16: weights {base / 2**30:.2f} GiB, step peak {peak_gb:.2f} GiB"
    )
    assert v.shape == (1, 4, 96, 96) and torch.isfinite(v).all()
    assert peak_gb < 8
