"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pixwizard.eval import metrics


def test_psnr_and_rmse():
    a = np.zeros((2, 2))
    b = np.array([[0, 0], [0, 10.0]])
    assert metrics.rmse(a, b) == pytest.approx(5.0)  # sqrt(100 / 4)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.psnr(a, a) == float("inf")


def test_ssim():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3)).astype(np.float64)
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert metrics.ssim(image, 255 - image) < 0
    flat = np.full((32, 32), 100.0)
    # Two constant images: SSIM = (2·μx·μy + C1) / (μx² + μy² + C1) exactly.
    c1 = (0.01 * 255) ** 2
    assert metrics.ssim(flat, flat + 20) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))


def test_absrel():
    assert metrics.absrel([1.0, 2.0, 5.0], [2.0, 2.0, 0.0]) == pytest.approx((0.5 + 0.0) / 2)


def test_miou_and_ciou():
    gt = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 1]])
    # class 0: I=1, U=2 → 0.5; class 1: I=2, U=3 → 2/3
    assert metrics.miou(pred, gt) == pytest.approx((0.5 + 2 / 3) / 2)
    assert metrics.miou(pred, np.array([[0, 0, 255, 1]]), ignore=255) == pytest.approx((0.5 + 1 / 2) / 2)
    p1, g1 = np.array([1, 1, 0, 0], bool), np.array([1, 0, 0, 0], bool)
    p2, g2 = np.array([1, 1, 1, 1], bool), np.array([1, 1, 1, 0], bool)
    assert metrics.ciou([p1, p2], [g1, g2]) == pytest.approx((1 + 3) / (2 + 4))


def test_mean_angle_error():
    a = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    b = np.array([[0, 1.0, 0], [0, 2.0, 0]])  # 90° and 0° (b is normalised first)
    assert metrics.mean_angle_error(a, b) == pytest.approx(45.0)


def test_edge_f1():
    gt = np.zeros((5, 5), bool)
    gt[2, :] = True
    pred = np.zeros((5, 5), bool)
    pred[2, :3] = True
    pred[0, 0] = True  # precision 3/4, recall 3/5
    assert metrics.edge_f1(pred, gt) == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    shifted = np.roll(gt, 1, axis=0)
    assert metrics.edge_f1(shifted, gt) == 0.0 and metrics.edge_f1(shifted, gt, tolerance=1) == 1.0


# ----------------------------------------------------------------------------------------------------
# Metrics of answers, computed by hand
# ----------------------------------------------------------------------------------------------------


def test_image_psnr_over_a_region_and_the_cap():
    from pixwizard.tasks.answers import ImageAnswer

    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 10  # one pixel off by 10 in every channel
    region = np.array([[True, False], [False, False]])
    assert metrics.image_psnr(ImageAnswer(b), ImageAnswer(a), region) == pytest.approx(
        10 * math.log10(255**2 / 100)
    )
    assert metrics.image_psnr(ImageAnswer(b), ImageAnswer(a)) == pytest.approx(10 * math.log10(255**2 / 25))
    assert metrics.image_psnr(ImageAnswer(a), ImageAnswer(a)) == metrics.PSNR_CAP == 100.0
    with pytest.raises(ValueError, match="empty"):
        metrics.image_psnr(ImageAnswer(a), ImageAnswer(a), np.zeros((2, 2), bool))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    y = np.clip(x.astype(int) + rng.integers(-30, 30, x.shape), 0, 255).astype(np.uint8)
    full = np.ones((24, 24), bool)
    assert metrics.image_ssim(ImageAnswer(y), ImageAnswer(x), full) == pytest.approx(metrics.ssim(y, x))


def test_depth_alignment_recovers_affine_distance_and_affine_disparity():
    from pixwizard.tasks.answers import DepthAnswer

    truth = DepthAnswer(np.array([[2.0, 4.0], [5.0, 10.0]], np.float32))
    distance = DepthAnswer(3 * truth.depth - 1, "distance")  # any affine map of the distance
    np.testing.assert_allclose(metrics.align_depth(distance, truth), truth.depth, rtol=1e-6)
    disparity = 1 / truth.depth
    inverse = DepthAnswer((disparity - disparity.min()) / (disparity.max() - disparity.min()), "inverse")
    np.testing.assert_allclose(metrics.align_depth(inverse, truth), truth.depth, rtol=1e-5)
    scores = metrics.depth_scores(inverse, truth)
    assert scores["rmse"] == pytest.approx(0, abs=1e-5) and scores["delta1"] == 1.0
    # A flat prediction maps to the mean: RMSE is the truth's standard deviation.
    flat = DepthAnswer(np.ones((2, 2), np.float32), "distance")
    assert metrics.depth_scores(flat, truth)["rmse"] == pytest.approx(float(truth.depth.std()))
    # A wrong prediction: the fit is ordinary least squares, then AbsRel and delta1 by their definitions.
    off = DepthAnswer(np.array([[2.0, 4.0], [5.0, 13.0]], np.float32), "distance")
    scale, shift = np.polyfit(off.depth.ravel().astype(float), truth.depth.ravel().astype(float), 1)
    aligned = scale * off.depth.astype(float) + shift
    g = truth.depth.astype(float)
    scores = metrics.depth_scores(off, truth)
    assert scores["absrel"] == pytest.approx(float((np.abs(aligned - g) / g).mean()))
    assert scores["delta1"] == pytest.approx(float((np.maximum(aligned / g, g / aligned) < 1.25).mean()))


def test_pooled_iou_metrics_and_edge_f1():
    from pixwizard.tasks.answers import EdgeAnswer, LabelAnswer, RegionsAnswer, region_of

    def regions(mask):
        mask = np.array(mask, bool)
        return RegionsAnswer((region_of(mask),) if mask.any() else (), mask.shape[::-1])

    c = metrics.CumulativeIoU()
    c.add(regions([[1, 1, 0, 0]]), regions([[1, 0, 0, 0]]))  # inter 1, union 2
    c.add(regions([[0, 0, 0, 0]]), regions([[0, 0, 1, 1]]))  # nothing found: inter 0, union 2
    assert c.value == pytest.approx(1 / 4)
    m = metrics.MeanIoU(3)
    names = ("a", "b", "c")
    m.add(
        LabelAnswer(np.array([[0, 0, 1, -1]], np.int16), names),
        LabelAnswer(np.array([[0, 1, 1, 1]], np.int16), names),
    )
    # class 0: inter 1, union 2; class 1: inter 1, union 3 (the unknown pixel counts against it)
    assert m.value == pytest.approx((1 / 2 + 1 / 3) / 2)
    e = metrics.EdgeF1()
    truth = np.zeros((64, 64), bool)
    truth[:, 10] = True
    e.add(EdgeAnswer(np.roll(truth, 1, axis=1)), EdgeAnswer(truth))  # one pixel off: within tolerance
    assert metrics.edge_tolerance((64, 64)) == 1 and e.value == 1.0
    far = metrics.EdgeF1()
    far.add(EdgeAnswer(np.roll(truth, 5, axis=1)), EdgeAnswer(truth))
    assert far.value == 0.0
