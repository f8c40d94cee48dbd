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
