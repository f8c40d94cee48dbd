"""Classical baselines: each beats the identity on its own PixWorld degradation; the helpers' contracts."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from pixwizard.eval.classical import (
    BASELINES,
    bicubic_upsample,
    block_size,
    canny_edges,
    color_threshold_ground,
    dark_channel_dehaze,
    estimate_noise_sigma,
    gamma_clahe,
    mentioned_color,
    nlm_denoise,
    replicate_outpaint,
    telea_inpaint,
    unsharp,
    wiener_deblur,
)
from pixwizard.world import (
    DIFFICULTY_V1,
    Background,
    SceneObject,
    depth_map,
    edge_map,
    object_mask,
    render,
    scene,
)
from pixwizard.world.degrade import DEGRADATIONS, TASK_DEGRADATIONS, degrade

SCENES = 8


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    diff = a.astype(np.float64) - b.astype(np.float64)
    if where is not None:
        diff = diff[where]
    return 10 * math.log10(255**2 / max(float(np.mean(diff**2)), 1e-12))


@pytest.fixture(scope="module")
def worlds():
    scenes = [scene(0, i) for i in range(SCENES)]
    return [(np.asarray(render(s)), depth_map(s)) for s in scenes]


# (task, kind, minimum mean PSNR gain in dB over the degraded input). The gains measured over these eight
# scenes are about 8, 1.3, 0.3, 2, 8.5 and 1.5 dB; each bar sits well below them and above zero.
CASES = [
    ("denoise", "noise", 3.0),
    ("deblur", "blur", 0.5),
    ("deblur", "motion_blur", 0.1),
    ("dehaze", "haze", 0.5),
    ("lowlight", "low_light", 3.0),
    ("super_resolution", "downsample", 0.5),
]


def _gain(worlds, kind: str, fn) -> float:
    restored, degraded = [], []
    for i, (clean, depth) in enumerate(worlds):
        d = degrade(kind, clean, np.random.default_rng([100, i]), depth=depth if kind == "haze" else None)
        degraded.append(_psnr(d.image, clean))
        restored.append(_psnr(fn(d.image), clean))
    return float(np.mean(restored) - np.mean(degraded))


def test_baselines_cover_their_tasks():
    assert set(BASELINES) == {"denoise", "deblur", "dehaze", "lowlight", "super_resolution"}
    assert set(BASELINES) <= set(TASK_DEGRADATIONS)
    assert {task for task, _, _ in CASES} == set(BASELINES)
    # Every kind of a task with a baseline is tested below.
    assert {kind for _, kind, _ in CASES} == {k for k, t in DEGRADATIONS.items() if t in BASELINES}


@pytest.mark.parametrize(("task", "kind", "margin"), CASES, ids=[c[1] for c in CASES])
def test_baseline_beats_identity_on_its_degradation(worlds, task, kind, margin):
    name, fn = BASELINES[task]
    gain = _gain(worlds, kind, fn)
    assert gain > margin, f"{name} on {kind}: mean PSNR gain {gain:.2f} dB <= {margin} dB"


def test_wiener_beats_identity_on_gaussian_blur(worlds):
    assert _gain(worlds, "blur", wiener_deblur) > 1.0


def test_noise_sigma_estimate_is_close(worlds):
    for i, (clean, _) in enumerate(worlds[:4]):
        d = degrade("noise", clean, np.random.default_rng([5, i]))
        assert estimate_noise_sigma(d.image) == pytest.approx(d.params["sigma"], rel=0.2)


def _hole() -> np.ndarray:
    mask = np.zeros((64, 64), bool)
    mask[24:40, 20:36] = True
    return mask


def test_telea_beats_a_grey_fill_inside_the_hole(worlds):
    mask = _hole()
    telea, grey = [], []
    for clean, _ in worlds:
        holed = clean.copy()
        holed[mask] = 0
        filled = holed.copy()
        filled[mask] = 128
        telea.append(_psnr(telea_inpaint(holed, mask), clean, mask))
        grey.append(_psnr(filled, clean, mask))
    assert np.mean(telea) > np.mean(grey) + 3.0


def test_replicate_outpaint_beats_a_white_fill_in_the_new_area(worlds):
    placement = (12, 8, 52, 56)
    new = np.ones((64, 64), bool)
    new[8:56, 12:52] = False
    replicate, white = [], []
    for clean, _ in worlds:
        canvas = clean.copy()
        canvas[new] = 0
        out = replicate_outpaint(canvas, placement)
        np.testing.assert_array_equal(out[~new], clean[~new])  # the original stays as it was
        flat = canvas.copy()
        flat[new] = 255
        replicate.append(_psnr(out, clean, new))
        white.append(_psnr(flat, clean, new))
    assert np.mean(replicate) > np.mean(white) + 3.0
    with pytest.raises(ValueError, match="placement"):
        replicate_outpaint(worlds[0][0], (10, 10, 80, 20))


def _near(a: np.ndarray, b: np.ndarray, tolerance: int = 1) -> float:
    """Share of ``a``'s pixels that lie within ``tolerance`` pixels of one of ``b``'s."""
    kernel = np.ones((2 * tolerance + 1,) * 2, np.uint8)
    return float((a & (cv2.dilate(b.astype(np.uint8), kernel) > 0)).sum() / max(1, a.sum()))


def test_canny_finds_the_object_boundaries_on_flat_backgrounds():
    precision, recall = [], []
    for i in range(SCENES):
        s = scene(0, i)
        s = dataclasses.replace(s, background=dataclasses.replace(s.background, kind="flat"))
        edges, truth = canny_edges(np.asarray(render(s))), edge_map(s) > 0
        assert edges.dtype == np.bool_ and edges.shape == truth.shape
        precision.append(_near(edges, truth))
        recall.append(_near(truth, edges))
    # Misses are boundaries of near-equal colours, extra edges the stripes of textured objects.
    assert np.mean(precision) > 0.85 and np.mean(recall) > 0.8, (precision, recall)


def _single_object_scene(textured: bool):
    base = scene(0, 0)
    circle = SceneObject(
        shape="circle", color="red", center=(30.0, 34.0), size=28.0, rotation=0.0, z=0, textured=textured
    )
    grey = (110, 120, 115)
    return dataclasses.replace(
        base, background=Background(kind="flat", color_a=grey, color_b=grey), objects=(circle,)
    )


@pytest.mark.parametrize("textured", [False, True])
def test_color_ground_finds_the_red_circle(textured):
    s = _single_object_scene(textured)
    mask = color_threshold_ground(np.asarray(render(s)), "the red circle on the left")
    truth = object_mask(s, 1)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert mask.dtype == np.bool_ and iou >= 0.9, iou


def test_color_ground_without_a_colour_word_is_empty():
    image = np.asarray(render(_single_object_scene(False)))
    assert not color_threshold_ground(image, "the circle on the left").any()
    assert not color_threshold_ground(image, "the reddish thing").any()  # whole words only
    assert not color_threshold_ground(image, "the blue circle").any()  # nothing of that colour


def test_mentioned_color_reads_the_first_colour_word():
    assert mentioned_color("The GREY square left of the red star") == "gray"
    assert mentioned_color("a star") is None


def test_block_size_and_bicubic_on_every_factor(worlds):
    clean = worlds[0][0]
    for f in (2, 3, 4):
        pinned = dataclasses.replace(DIFFICULTY_V1, downsample_factor=(f, f))
        pixelated = degrade("downsample", clean, np.random.default_rng(0), pinned).image
        assert block_size(pixelated) == f
        assert _psnr(bicubic_upsample(pixelated), clean) > _psnr(pixelated, clean)
    assert block_size(clean) == 1
    np.testing.assert_array_equal(bicubic_upsample(clean), clean)


IMAGE_FNS = {
    "nlm": nlm_denoise,
    "wiener": wiener_deblur,
    "unsharp": unsharp,
    "dark_channel": dark_channel_dehaze,
    "gamma_clahe": gamma_clahe,
    "bicubic": bicubic_upsample,
    "telea": lambda im: telea_inpaint(im, _hole()),
    "replicate": lambda im: replicate_outpaint(im, (8, 8, 40, 56)),
}


@pytest.mark.parametrize("fn", IMAGE_FNS.values(), ids=IMAGE_FNS.keys())
def test_image_baselines_return_new_uint8_arrays_and_keep_the_input(worlds, fn):
    noisy = degrade("noise", worlds[1][0], np.random.default_rng(0)).image
    before = noisy.copy()
    out = fn(noisy)
    np.testing.assert_array_equal(noisy, before)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, noisy)


def test_bad_inputs_are_rejected(worlds):
    clean = worlds[0][0]
    with pytest.raises(ValueError, match="uint8"):
        nlm_denoise(clean.astype(np.float32))
    with pytest.raises(ValueError, match="mask"):
        telea_inpaint(clean, _hole().astype(np.uint8))
