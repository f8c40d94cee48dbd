"""PixWorld degradations: determinism, ranges from the difficulty, task coverage, noise analytics, speed."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pytest

from pixwizard.tasks import TASKS, Family
from pixwizard.world import DIFFICULTY_V1, depth_map, render, scene
from pixwizard.world.degrade import (
    DEGRADATIONS,
    TASK_DEGRADATIONS,
    Degraded,
    degrade,
    degrade_for_task,
    motion_kernel,
)

KINDS = sorted(DEGRADATIONS)

# Every parameter each kind must record, with the Difficulty field whose range holds it (None: a value
# that no difficulty range governs, such as a direction or a flag). Written out here, independently of
# the module, so a renamed field or a forgotten parameter fails.
PARAM_FIELDS: dict[str, dict[str, str | None]] = {
    "noise": {"sigma": "noise_sigma"},
    "blur": {"sigma": "blur_sigma"},
    "motion_blur": {"length": "motion_length", "angle": None},
    "rain_streaks": {
        "count": None,
        "density": "rain_density",
        "length": "rain_length",
        "angle": "rain_angle",
        "opacity": "rain_opacity",
    },
    "raindrops": {
        "count": None,
        "density": "drop_density",
        "radius": "drop_radius",
        "brightness": "drop_brightness",
    },
    "haze": {"beta": "haze_beta", "airlight": "haze_airlight", "from_depth": None},
    "low_light": {"scale": "lowlight_scale", "gamma": "lowlight_gamma", "noise_sigma": "lowlight_noise"},
    "snow": {"count": None, "density": "snow_density", "radius": "snow_radius", "veil": "snow_veil"},
    "moire": {"amplitude": "moire_amplitude", "period": "moire_period", "angle": None},
    "shadow": {"strength": "shadow_strength", "softness": "shadow_softness", "vertices": None},
    "watermark": {"opacity": "watermark_opacity", "logo": None, "white": None},
    "downsample": {"factor": "downsample_factor"},
    "jpeg": {"quality": "jpeg_quality", "blur_sigma": "jpeg_blur"},
    "reflection": {
        "alpha": "reflection_alpha",
        "blur_sigma": "reflection_blur",
        "glare_strength": "glare_strength",
        "glare_radius": "glare_radius",
        "flip_vertical": None,
    },
}


@pytest.fixture(scope="module")
def world():
    s = scene(0, 1)
    return np.asarray(render(s)), depth_map(s)


def _run(kind, image, depth, seed, difficulty=DIFFICULTY_V1) -> Degraded:
    return degrade(
        kind, image, np.random.default_rng(seed), difficulty, depth=depth if kind == "haze" else None
    )


def test_every_restoration_task_has_a_kind():
    restoration = {name for name, spec in TASKS.items() if spec.family == Family.RESTORATION}
    assert restoration, "the task catalogue lists no restoration task"
    assert restoration <= set(TASK_DEGRADATIONS)
    assert set(DEGRADATIONS.values()) <= restoration  # no kind points at a task that does not exist
    assert set(PARAM_FIELDS) == set(DEGRADATIONS)
    for task, kinds in TASK_DEGRADATIONS.items():
        assert kinds and all(DEGRADATIONS[k] == task for k in kinds)
    assert sum(len(k) for k in TASK_DEGRADATIONS.values()) == len(DEGRADATIONS)


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_and_seed_sensitive(kind, world):
    image, depth = world
    a, b = _run(kind, image, depth, 3), _run(kind, image, depth, 3)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.params == b.params and a.kind == kind
    # ``downsample`` draws only its factor (three values), so one other seed may repeat it; a few cannot.
    others = [_run(kind, image, depth, seed) for seed in range(4, 8)]
    assert any(not np.array_equal(a.image, o.image) and a.params != o.params for o in others)
    if kind != "downsample":
        assert not np.array_equal(a.image, others[0].image)


@pytest.mark.parametrize("kind", KINDS)
def test_shape_dtype_kept_and_input_untouched(kind, world):
    image, depth = world
    before, depth_before = image.copy(), depth.copy()
    out = _run(kind, image, depth, 5)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(depth, depth_before)
    assert out.image.shape == image.shape and out.image.dtype == np.uint8
    assert not np.shares_memory(out.image, image)
    assert not np.array_equal(out.image, image), "the degradation did nothing"


@pytest.mark.parametrize("kind", KINDS)
def test_params_recorded_json_safe_and_inside_ranges(kind, world):
    image, depth = world
    for seed in range(6):
        params = _run(kind, image, depth, seed).params
        assert set(params) == set(PARAM_FIELDS[kind])
        assert all(type(v) is float for v in params.values())
        assert json.loads(json.dumps(params)) == params
        for name, field in PARAM_FIELDS[kind].items():
            if field is not None:
                low, high = getattr(DIFFICULTY_V1, field)
                assert low <= params[name] <= high, (name, params[name], (low, high))


@pytest.mark.parametrize("kind", KINDS)
def test_ranges_come_from_the_difficulty(kind, world):
    # Collapse each of the kind's ranges to its upper end: every drawn value must then be exactly it.
    image, depth = world
    fields = {f for f in PARAM_FIELDS[kind].values() if f is not None}
    pinned = dataclasses.replace(DIFFICULTY_V1, **{f: (getattr(DIFFICULTY_V1, f)[1],) * 2 for f in fields})
    params = _run(kind, image, depth, 0, pinned).params
    for name, field in PARAM_FIELDS[kind].items():
        if field is not None:
            assert params[name] == pytest.approx(getattr(DIFFICULTY_V1, field)[1]), name


def test_inverted_range_is_rejected(world):
    image, _ = world
    bad = dataclasses.replace(DIFFICULTY_V1, noise_sigma=(30.0, 10.0))
    with pytest.raises(ValueError, match="noise_sigma"):
        degrade("noise", image, np.random.default_rng(0), bad)


def _mid_grey_image(width: int, height: int) -> np.ndarray:
    """A PixWorld render squeezed into [100, 155]: more than 3.3 sigma from 0 and 255 for sigma <= 30."""
    rgb = np.asarray(render(scene(0, 4, width=width, height=height)), np.float64)
    return np.rint(100 + rgb * (55 / 255)).astype(np.uint8)


def test_noise_psnr_matches_the_analytic_value():
    clean = _mid_grey_image(96, 96)
    for seed in range(4):
        out = degrade("noise", clean, np.random.default_rng(seed))
        sigma = out.params["sigma"]
        mse = np.mean((out.image.astype(np.float64) - clean) ** 2)
        measured = 10 * math.log10(255**2 / mse)
        # Rounding to integers adds uniform quantisation error of variance 1/12 (Sheppard's correction).
        expected = 10 * math.log10(255**2 / (sigma**2 + 1 / 12))
        # Tolerance: the MSE is a mean of N = 96·96·3 squared Gaussians, whose relative standard error is
        # sqrt(2 / N) ≈ 0.85%, i.e. 0.037 dB; 0.15 dB is four standard errors. Clipping is negligible:
        # the colours sit 3.3 sigma or more from 0 and 255, where under 0.05% of samples get clipped.
        assert measured == pytest.approx(expected, abs=0.15), (sigma, measured, expected)


def test_noise_is_clipped_to_the_valid_range():
    white = np.full((64, 64, 3), 255, np.uint8)
    out = degrade("noise", white, np.random.default_rng(0))
    assert out.image.max() == 255 and out.image.min() < 255
    mse = np.mean((out.image.astype(np.float64) - 255) ** 2)
    assert mse < 0.6 * out.params["sigma"] ** 2  # half the noise is clipped away


def test_haze_follows_the_atmospheric_model_with_depth():
    black = np.zeros((64, 64, 3), np.uint8)
    depth = np.full((64, 64), 5.0, np.float32)
    depth[:, 32:] = 15.0
    out = degrade("haze", black, np.random.default_rng(0), depth=depth)
    a, beta = out.params["airlight"], out.params["beta"]
    assert out.params["from_depth"] == 1.0
    for d, cols in ((5.0, slice(0, 32)), (15.0, slice(32, 64))):
        np.testing.assert_allclose(out.image[:, cols], a * (1 - math.exp(-beta * d)), atol=0.51)
    smooth = degrade("haze", black, np.random.default_rng(0))
    assert smooth.params["from_depth"] == 0.0 and smooth.image.std() > 1.0  # a field, not a constant


def test_bad_depth_is_rejected(world):
    image, _ = world
    with pytest.raises(ValueError, match="depth"):
        degrade("haze", image, np.random.default_rng(0), depth=np.ones((10, 10)))
    with pytest.raises(ValueError, match="depth"):
        degrade("haze", image, np.random.default_rng(0), depth=np.zeros(image.shape[:2]))


def test_downsample_is_pixelated_on_its_factor():
    image = np.asarray(render(scene(0, 2, width=96, height=64)))
    for f in (2, 3, 4):
        pinned = dataclasses.replace(DIFFICULTY_V1, downsample_factor=(f, f))
        out = degrade("downsample", image, np.random.default_rng(0), pinned).image
        low = out[::f, ::f]
        np.testing.assert_array_equal(np.repeat(np.repeat(low, f, 0), f, 1)[:64, :96], out)


def test_motion_kernel_is_a_normalised_line():
    k = motion_kernel(7, 0.0)
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0)
    assert k[3].sum() == pytest.approx(1.0)  # horizontal: all the weight on the middle row
    with pytest.raises(ValueError, match="length"):
        motion_kernel(0, 0.0)


def test_unknown_kind_names_the_known_kinds(world):
    with pytest.raises(ValueError, match="unknown degradation kind") as info:
        degrade("fog", world[0], np.random.default_rng(0))
    assert all(kind in str(info.value) for kind in KINDS)


def test_bad_inputs_are_rejected(world):
    with pytest.raises(ValueError, match="uint8"):
        degrade("noise", world[0].astype(np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        degrade("noise", world[0], 0)


@pytest.mark.parametrize("size", [(64, 64), (96, 64)])
def test_every_kind_works_on_square_and_non_square_images(size):
    width, height = size
    s = scene(0, 2, width=width, height=height)
    image, depth = np.asarray(render(s)), depth_map(s)
    for kind in KINDS:
        out = _run(kind, image, depth, 1)
        assert out.image.shape == (height, width, 3), kind


def test_degrade_for_task_picks_the_tasks_kinds(world):
    image, _ = world
    seen = {degrade_for_task("deblur", image, np.random.default_rng(seed)).kind for seed in range(12)}
    assert seen == set(TASK_DEGRADATIONS["deblur"]) == {"blur", "motion_blur"}
    a = degrade_for_task("derain", image, np.random.default_rng(9))
    b = degrade_for_task("derain", image, np.random.default_rng(9))
    assert a.kind == b.kind and np.array_equal(a.image, b.image)
    with pytest.raises(ValueError, match="denoise"):
        degrade_for_task("colorize", image, np.random.default_rng(0))


def test_every_kind_is_fast(world):
    image, depth = world
    for kind in KINDS:
        _run(kind, image, depth, 0)  # warm caches (fonts, OpenCV)
        times = []
        for seed in range(10):
            start = time.perf_counter()
            _run(kind, image, depth, seed)
            times.append(time.perf_counter() - start)
        assert np.median(times) < 5e-3, (kind, np.median(times))
