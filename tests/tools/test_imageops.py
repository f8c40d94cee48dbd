"""Pure image operations: exact mask morphology, geometry, compositing, comparison and degradation hints."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import imageops as ops


def _point(size=(9, 9), at=(4, 4)):
    mask = np.zeros((size[1], size[0]), bool)
    mask[at[1], at[0]] = True
    return mask


def _rgb(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _scene(seed=0, size=(160, 120)):
    """A clean synthetic photo (float, 0..255): colour gradient, discs, rectangles and fine texture."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([60 + 120 * x / width, 80 + 100 * y / height, 150 - 60 * x / width], axis=-1)
    for _ in range(8):
        cx, cy, r = rng.integers(0, width), rng.integers(0, height), rng.integers(6, 25)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(10, 245, 3)
    for _ in range(6):
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
        img[y0 : y0 + rng.integers(8, 40), x0 : x0 + rng.integers(8, 40)] = rng.integers(10, 245, 3)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (height, width)), (0, 0), 1.0)
    return np.clip(img + 12 * texture[..., None] / texture.std(), 0, 255)


def _photo(array):
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _present(image):
    return {finding["problem"] for finding in ops.measure_degradations(image) if finding["present"]}


DEGRADE = {
    "noise": lambda a, rng: a + rng.normal(0, 25, a.shape),
    "blur": lambda a, rng: cv2.GaussianBlur(a, (0, 0), 3),
    "dark": lambda a, rng: a * 0.15,
    "haze": lambda a, rng: 0.4 * a + 0.6 * 220,
}


# Masks


def test_to_mask_and_mask_image_round_trip():
    grey = Image.fromarray(np.array([[0, 127], [128, 255]], np.uint8))
    mask = ops.to_mask(grey)
    assert mask.tolist() == [[False, False], [True, True]]
    assert np.asarray(ops.mask_image(mask)).tolist() == [[0, 0], [255, 255]]
    soft = ops.mask_image(np.array([[0.0, 0.5], [0.25, 1.0]]))
    assert soft.mode == "L" and np.asarray(soft).tolist() == [[0, 128], [64, 255]]
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        ops.mask_image(np.array([[1.5]]))
    with pytest.raises(ValueError, match="mask must be a 2-D bool"):
        ops.invert(np.zeros((2, 2), np.uint8))


def test_dilate_radius_1_is_a_plus():
    grown = ops.dilate(_point(), 1)
    assert grown.sum() == 5
    assert grown[3:6, 3:6].astype(int).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert ops.dilate(_point(), 2).sum() == 17  # 5x5 ellipse: three full rows, one pixel above and below


def test_erode_radius_1_removes_a_point_and_shrinks_a_square():
    assert ops.erode(_point(), 1).sum() == 0
    square = np.zeros((9, 9), bool)
    square[2:7, 2:7] = True
    assert ops.erode(square, 1).sum() == 9
    assert np.array_equal(ops.erode(ops.dilate(_point(), 1), 1), _point())


def test_radius_0_copies_and_inputs_stay_untouched():
    mask = _point()
    for fn in (ops.dilate, ops.erode):
        out = fn(mask, 0)
        assert np.array_equal(out, mask) and out is not mask
    ops.dilate(mask, 3)
    assert mask.sum() == 1
    with pytest.raises(ValueError, match="radius must be an integer of at least 0"):
        ops.dilate(mask, -1)


def test_feather():
    mask = np.zeros((21, 21), bool)
    mask[:, 10:] = True
    assert ops.feather(mask, 0).dtype == np.float32
    assert np.array_equal(ops.feather(mask, 0), mask.astype(np.float32))
    soft = ops.feather(mask, 4)
    assert soft.min() >= 0 and soft.max() <= 1
    # sigma 2 around the edge between columns 9 and 10: the Gaussian CDF at 0.5, 1.5 and 3.5 pixels
    assert soft[10, 9] == pytest.approx(0.401, abs=0.01) and soft[10, 10] == pytest.approx(0.599, abs=0.01)
    assert soft[10, 8] == pytest.approx(0.227, abs=0.01) and soft[10, 6] == pytest.approx(0.04, abs=0.01)
    assert soft[10, 0] == pytest.approx(0, abs=1e-6) and soft[10, 20] == pytest.approx(1, abs=1e-6)


def test_invert_union_intersect_truth_tables():
    a = np.array([[False, False, True, True]])
    b = np.array([[False, True, False, True]])
    assert ops.invert(a).tolist() == [[True, True, False, False]]
    assert ops.union(a, b).tolist() == [[False, True, True, True]]
    assert ops.intersect(a, b).tolist() == [[False, False, False, True]]
    with pytest.raises(ValueError, match="b is 4x2 but a is 4x1: they must have the same size"):
        ops.union(a, np.zeros((2, 4), bool))


def test_box_to_mask_clips_and_refuses():
    mask = ops.box_to_mask((10, 8), (-5, 6, 3, 20))
    assert mask.shape == (8, 10) and mask.sum() == 3 * 2 and mask[6:8, 0:3].all()
    assert ops.box_to_mask((10, 8), (2, 2, 4, 3)).sum() == 2  # x1/y1 exclusive
    for box, message in [
        ((4, 2, 4, 6), "empty or inverted"),
        ((5, 2, 3, 6), "empty or inverted"),
        ((20, 20, 30, 30), "lies outside the 10x8 image"),
    ]:
        with pytest.raises(ValueError, match=message):
            ops.box_to_mask((10, 8), box)


# Geometry


def test_crop_clips_and_refuses():
    image = _rgb(20, 10)
    assert ops.crop(image, (5, 2, 15, 8)).size == (10, 6)
    assert ops.crop(image, (-5, -5, 4, 3)).size == (4, 3)
    assert np.array_equal(np.asarray(ops.crop(image, (0, 0, 100, 100))), np.asarray(image))
    with pytest.raises(ValueError, match="lies outside the 20x10 image"):
        ops.crop(image, (30, 0, 40, 5))


def test_resize_sizes_and_aspect():
    image = _rgb(200, 100)
    assert ops.resize(image, scale=0.5).size == (100, 50)
    assert ops.resize(image, width=50).size == (50, 25)
    assert ops.resize(image, height=40).size == (80, 40)
    assert ops.resize(image, width=30, height=70).size == (30, 70)
    assert ops.resize(image, scale=0.001).size == (1, 1)
    mask = ops.resize(ops.mask_image(ops.box_to_mask((200, 100), (0, 0, 100, 100))), scale=0.5, resample=0)
    assert set(np.unique(np.asarray(mask))) == {0, 255}
    for kwargs in ({}, {"scale": 2, "width": 10}):
        with pytest.raises(ValueError, match="either scale or width/height"):
            ops.resize(image, **kwargs)
    with pytest.raises(ValueError, match="exceeds 16384"):
        ops.resize(image, scale=100)
    with pytest.raises(ValueError, match="width must be an integer of at least 1"):
        ops.resize(image, width=0)


def test_pad_sizes_and_colour():
    padded = ops.pad(_rgb(10, 6), 1, 2, 3, 4, color=(255, 0, 0))
    assert padded.size == (14, 12) and padded.getpixel((0, 0)) == (255, 0, 0)
    assert np.array_equal(np.asarray(padded)[2:8, 1:11], np.asarray(_rgb(10, 6)))
    grey = ops.pad(Image.new("L", (4, 4), 200), 2, 0, 0, 0)
    assert grey.mode == "L" and grey.size == (6, 4) and grey.getpixel((0, 0)) == 0
    with pytest.raises(ValueError, match="right must be an integer of at least 0"):
        ops.pad(_rgb(4, 4), 0, 0, -1, 0)


# Compositing


@pytest.mark.parametrize("size", [(17, 9), (64, 40)])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_composite_is_exact_outside_the_mask(size, mode):
    image, other = _rgb(*size, seed=1).convert(mode), _rgb(*size, seed=2).convert(mode)
    mask = ops.box_to_mask(size, (3, 2, size[0] - 4, size[1] - 3))
    before = np.asarray(image).copy()
    for m in (mask, ops.feather(mask, 2) * mask):  # hard, and soft but still zero outside the box
        out = np.asarray(ops.composite(image, other, m))
        assert ops.composite(image, other, m).mode == mode
        assert np.array_equal(out[~mask], before[~mask])
    hard = np.asarray(ops.composite(image, other, mask))
    assert np.array_equal(hard[mask], np.asarray(other)[mask])
    assert np.array_equal(np.asarray(image), before)


def test_composite_soft_mask_blends_and_converts_other():
    image, other = Image.new("RGB", (4, 4), (0, 0, 0)), Image.new("L", (4, 4), 203)
    out = ops.composite(image, other, np.full((4, 4), 0.25))
    assert out.mode == "RGB" and out.getpixel((1, 1)) == (51, 51, 51)  # 50.75 rounds up
    with pytest.raises(ValueError, match="mask is 3x4 but image is 4x4: they must have the same size"):
        ops.composite(image, other, np.ones((4, 3), bool))
    with pytest.raises(ValueError, match="mode P cannot be blended"):
        ops.composite(image.convert("P"), other, np.ones((4, 4), bool))


def test_draw_boxes_returns_an_rgb_copy():
    image = Image.new("L", (40, 30), 0)
    out = ops.draw_boxes(image, [(5, 10, 25, 20)], labels=["cat"], color=(255, 0, 0), width=1)
    assert out.mode == "RGB" and image.getpixel((5, 10)) == 0
    assert out.getpixel((5, 15)) == (255, 0, 0) and out.getpixel((24, 15)) == (255, 0, 0)
    assert out.getpixel((25, 15)) == (0, 0, 0) and out.getpixel((15, 15)) == (0, 0, 0)  # x1 exclusive
    with pytest.raises(ValueError, match="labels has 2 entries but boxes has 1"):
        ops.draw_boxes(image, [(0, 0, 5, 5)], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"boxes\[0\] must be"):
        ops.draw_boxes(image, [(5, 5, 5, 9)])


# Comparison


def test_compare_identical():
    image = _rgb(32, 24)
    result = ops.compare(image, image.copy())
    assert result["changed_fraction"] == 0 and result["psnr"] is None and result["identical"] is True
    assert result["ssim"] == pytest.approx(1.0, abs=1e-12)


def test_compare_one_pixel_with_mask():
    a = _rgb(30, 20)
    pixels = np.asarray(a).copy()
    pixels[7, 11, 1] ^= 0xFF  # one channel of one pixel
    b = Image.fromarray(pixels)
    result = ops.compare(a, b, mask=ops.box_to_mask(a.size, (10, 6, 13, 9)))
    assert result["changed_fraction"] == 1 / 600 and result["identical"] is False
    inside, outside = result["inside"], result["outside"]
    assert inside["pixels"] == 9 and inside["changed_fraction"] == 1 / 9
    assert outside["pixels"] == 591 and outside["changed_fraction"] == 0 and outside["psnr"] is None
    assert result["ssim"] < 1 and inside["ssim"] < outside["ssim"]
    empty = ops.compare(a, b, mask=np.ones((20, 30), bool))["outside"]
    assert empty == {"pixels": 0, "changed_fraction": None, "psnr": None, "ssim": None}


def test_compare_psnr_of_a_constant_offset():
    base = np.random.default_rng(3).integers(0, 200, (16, 16, 3), dtype=np.uint8)
    result = ops.compare(Image.fromarray(base), Image.fromarray(base + 10))
    assert result["psnr"] == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)
    assert result["changed_fraction"] == 1


def test_compare_ssim_drops_with_noise():
    clean = _photo(_scene())
    noisy = _photo(_scene() + np.random.default_rng(1).normal(0, 25, (120, 160, 3)))
    assert ops.compare(clean, noisy)["ssim"] < 0.8 < ops.compare(clean, clean)["ssim"]


def test_compare_ssim_matches_a_direct_window_sum():
    """The SSIM at one interior pixel (a one-pixel mask) against explicit 11x11 Gaussian-weighted sums."""
    a, b = _photo(_scene()), _photo(_scene() + np.random.default_rng(5).normal(0, 10, (120, 160, 3)))
    at = (60, 50)
    offsets = np.arange(-5, 6)
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    weights = np.array([0.299, 0.587, 0.114])
    x, y = (
        np.asarray(im, np.float64)[at[1] - 5 : at[1] + 6, at[0] - 5 : at[0] + 6] @ weights for im in (a, b)
    )
    mu_x, mu_y = (window * x).sum(), (window * y).sum()
    var_x, var_y = (window * (x - mu_x) ** 2).sum(), (window * (y - mu_y) ** 2).sum()
    cov = (window * (x - mu_x) * (y - mu_y)).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    expected = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    inside = ops.compare(a, b, mask=_point(a.size, at))["inside"]
    assert inside["pixels"] == 1 and inside["ssim"] == pytest.approx(expected, abs=1e-6)


def test_compare_size_mismatch_names_the_sizes():
    with pytest.raises(ValueError, match="b is 64x48 but a is 64x64: they must have the same size"):
        ops.compare(_rgb(64, 64), _rgb(64, 48))
    with pytest.raises(ValueError, match="mask is 8x8 but a is 64x64"):
        ops.compare(_rgb(64, 64), _rgb(64, 64), mask=np.zeros((8, 8), bool))


# Degradation hints


@pytest.mark.parametrize("sigma", [5, 10, 25])
def test_noise_estimate_reads_the_sigma_of_grey_noise(sigma):
    noisy = 128 + np.random.default_rng(sigma).normal(0, sigma, (96, 128))
    finding = ops.measure_degradations(_photo(noisy).convert("RGB"))[0]
    assert finding["measure"] == "immerkaer_sigma"
    assert finding["value"] == pytest.approx(sigma, rel=0.08)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_scene_shows_no_degradation(seed):
    findings = ops.measure_degradations(_photo(_scene(seed)))
    assert [f["problem"] for f in findings] == ["denoise", "deblur", "lowlight", "dehaze"]
    assert all(set(f) == {"problem", "value", "threshold", "present", "measure"} for f in findings)
    assert _present(_photo(_scene(seed))) == set()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("degradation", "expected"),
    [("noise", {"denoise"}), ("blur", {"deblur"}), ("dark", {"lowlight"}), ("haze", {"dehaze"})],
)
def test_each_degradation_triggers_only_its_own_problem(seed, degradation, expected):
    degraded = DEGRADE[degradation](_scene(seed), np.random.default_rng(100 + seed))
    assert _present(_photo(degraded)) == expected


def test_flat_image_is_not_called_blurry_or_hazy():
    assert _present(Image.new("RGB", (64, 64), (128, 128, 128))) == set()
    with pytest.raises(ValueError, match="at least 3x3"):
        ops.measure_degradations(Image.new("RGB", (2, 64)))
