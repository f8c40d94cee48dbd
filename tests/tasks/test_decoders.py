"""Decoders on synthetic outputs whose answer is known, clean and degraded (Tasks acceptance 2)."""

from __future__ import annotations

import numpy as np
import pytest

from pixwizard.tasks import decoders as dec

DEGRADED = ["noise", "blur", "jpeg"]


def test_depth_ramp_is_recovered():
    ramp = np.tile(np.linspace(30, 220, 64, dtype=np.float32), (48, 1))
    output = np.repeat(ramp[..., None], 3, -1).round().astype(np.uint8)
    depth = dec.decode_depth(output, (100, 75))
    expected = np.tile(np.linspace(0, 1, 100, dtype=np.float32), (75, 1))
    assert depth.depth.shape == (75, 100)
    assert np.abs(depth.depth - expected).max() < 0.02
    assert depth.raw_range == pytest.approx((30 / 255, 220 / 255), abs=1e-3)


def test_normals_are_unit_vectors_after_resizing():
    output = np.zeros((48, 64, 3), np.uint8)
    output[:, :32] = (128, 128, 255)  # facing the camera
    output[:, 32:] = (255, 128, 128)  # facing right
    normals = dec.decode_normals(output, (100, 75))
    assert np.allclose(np.linalg.norm(normals, axis=-1), 1, atol=1e-5)
    assert np.allclose(normals[10, 5], [0, 0, 1], atol=0.02) and np.allclose(
        normals[10, 95], [1, 0, 0], atol=0.02
    )


def _label_map(h: int, w: int) -> np.ndarray:
    """Regions of several ADE20K classes with distinct colours (wall, sky, tree, person, car, water)."""
    labels = np.full((h, w), 1, np.int16)  # wall
    labels[: h // 3] = 3  # sky
    labels[h // 3 :, : w // 4] = 5  # tree
    labels[h // 2 :, w // 3 : w // 2] = 13  # person
    labels[2 * h // 3 :, w // 2 : 5 * w // 6] = 21  # car
    labels[5 * h // 6 :, 5 * w // 6 :] = 22  # water
    return labels


def _render(labels: np.ndarray) -> np.ndarray:
    return dec.ade20k_palette().colors[labels].astype(np.uint8)


@pytest.mark.parametrize("kind", ["clean", *DEGRADED])
def test_palette_segmentation(helpers, kind):
    labels = _label_map(96, 128)
    decoded = dec.decode_segment(helpers.degrade(_render(labels), kind), (128, 96))
    accuracy = (decoded == labels).mean()
    if kind == "clean":
        assert np.array_equal(decoded, labels)
    else:
        assert accuracy >= 0.95, accuracy
    shares, unknown = dec.class_shares(decoded)
    assert {label for label, _, _ in shares} >= {1, 3, 5, 13, 21, 22} - ({22} if kind != "clean" else set())
    assert shares[0][2] >= shares[-1][2] and unknown <= 0.05


def test_palette_map_is_exact_at_input_size_except_near_edges():
    bucket, size = (128, 96), (203, 151)  # a non-integer scale, as buckets give
    output = _render(_label_map(bucket[1], bucket[0]))
    decoded = dec.decode_segment(output, size)
    # Ground truth at the input size: the same regions in continuous coordinates.
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]]
    by = np.minimum((ys + 0.5) * bucket[1] / size[1], bucket[1] - 1).astype(int)
    bx = np.minimum((xs + 0.5) * bucket[0] / size[0], bucket[0] - 1).astype(int)
    truth = _label_map(bucket[1], bucket[0])[by, bx]
    import cv2

    edges = cv2.dilate(truth.astype(np.uint8), np.ones((3, 3), np.uint8)) != cv2.erode(
        truth.astype(np.uint8), np.ones((3, 3), np.uint8)
    )
    assert np.array_equal(decoded[~edges], truth[~edges])
    assert edges.mean() < 0.1


def test_unknown_colours_are_counted():
    output = _render(_label_map(48, 64))
    output[:10, :10] = (17, 99, 170)  # far from every palette colour? (it is not in the palette)
    labels = dec.decode_segment(output, (64, 48), max_distance=10, smooth=False)
    _, unknown = dec.class_shares(labels)
    assert unknown == pytest.approx(100 / (48 * 64))


def _highlight(photo: np.ndarray, box, color=(255, 0, 0), opacity=0.5) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros(photo.shape[:2], bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    mask[y0 : y0 + 10, x0 : x0 + 10] = False  # not just a rectangle
    out = photo.astype(np.float32)
    out[mask] = out[mask] * (1 - opacity) + np.array(color, np.float32) * opacity
    return np.round(out).astype(np.uint8), mask


@pytest.mark.parametrize("kind", ["clean", *DEGRADED, "hue+15", "hue-15", "opacity35"])
def test_highlighted_region(helpers, kind):
    photo = helpers.photo()
    opacity = 0.35 if kind == "opacity35" else 0.5
    output, truth = _highlight(photo, (40, 30, 110, 90), opacity=opacity)
    output = helpers.degrade(output, "clean" if kind == "opacity35" else kind)
    regions = dec.decode_highlight(output, photo, "red", (160, 120))
    assert regions, "nothing found"
    score = helpers.iou(regions[0].mask, truth)
    assert score >= (0.98 if kind == "clean" else 0.90), score


@pytest.mark.parametrize("kind", ["clean", *DEGRADED, "hue+15", "hue-15"])
def test_drawn_box(helpers, kind):
    photo = helpers.photo()
    output = photo.copy()
    x0, y0, x1, y1 = 30, 20, 120, 100  # a 2 px red outline inside these bounds
    for rows, cols in (
        (slice(y0, y0 + 2), slice(x0, x1)),
        (slice(y1 - 2, y1), slice(x0, x1)),
        (slice(y0, y1), slice(x0, x0 + 2)),
        (slice(y0, y1), slice(x1 - 2, x1)),
    ):
        output[rows, cols] = (255, 0, 0)
    output = helpers.degrade(output, kind)
    regions = dec.decode_box(output, photo, "red", (160, 120))
    assert regions
    score = helpers.box_iou(regions[0].box, (30, 20, 120, 100))
    assert score >= (0.98 if kind == "clean" else 0.90), (score, regions[0].box)
    scaled = dec.decode_box(output, photo, "red", (320, 240))[0].box
    assert scaled == tuple(2 * v for v in regions[0].box)  # boxes scale exactly


@pytest.mark.parametrize("kind", ["clean", *DEGRADED])
def test_binary_mask(helpers, kind):
    truth = np.zeros((120, 160), bool)
    truth[30:90, 50:120] = True
    truth[30:45, 50:65] = False
    output = np.repeat((truth * 255).astype(np.uint8)[..., None], 3, -1)
    regions = dec.decode_mask(helpers.degrade(output, kind), (160, 120))
    assert regions
    score = helpers.iou(regions[0].mask, truth)
    assert score >= (0.98 if kind == "clean" else 0.90), score


def test_mask_confidence_falls_with_noise():
    truth = np.zeros((120, 160), bool)
    truth[30:90, 50:120] = True
    clean = np.repeat((truth * 255).astype(np.uint8)[..., None], 3, -1)
    rng = np.random.default_rng(0)
    confidences = []
    for sigma in (0, 20, 40, 60):
        noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)
        confidences.append(dec.otsu(noisy.mean(-1) / 255)[1])
    assert confidences == sorted(confidences, reverse=True) and confidences[0] > 0.99


def test_noise_finds_nothing_and_never_raises(helpers):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    photo = helpers.photo(64, 48)
    assert dec.decode_mask(noise, (64, 48)) == []
    assert dec.decode_highlight(noise, photo, "red", (64, 48)) == []
    assert dec.decode_box(noise, photo, "blue", (64, 48)) == []
    flat = np.full((48, 64, 3), 128, np.uint8)
    assert dec.decode_mask(flat, (64, 48)) == [] and dec.decode_box(flat, flat, "red", (64, 48)) == []


def test_rle_round_trip_and_coco_layout():
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    rle = dec.mask_to_rle(mask)
    assert rle == {"size": [4, 5], "counts": [9, 2, 2, 2, 5]}  # column-major runs, starting with zeros
    assert np.array_equal(dec.rle_to_mask(rle), mask)
    full = np.ones((2, 2), bool)
    assert dec.mask_to_rle(full)["counts"] == [0, 4]


def test_edge_density():
    image = np.zeros((100, 100, 3), np.uint8)
    image[::10] = 255  # 10 rows of white lines on black
    assert dec.edge_density(image) == pytest.approx(0.1)
    assert dec.edge_density(255 - image) == pytest.approx(0.1)  # dark strokes on white


def test_unknown_colour_name():
    with pytest.raises(ValueError, match="unknown colour"):
        dec.color_rgb("blurple")
