"""Evaluation metrics (NumPy/OpenCV): PSNR, SSIM, RMSE, AbsRel, mIoU, cIoU, mean angle error, edge F1."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np


def _f(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def rmse(a, b) -> float:
    """Root-mean-square error."""
    return float(np.sqrt(((_f(a) - _f(b)) ** 2).mean()))


def psnr(a, b, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical inputs)."""
    mse = ((_f(a) - _f(b)) ** 2).mean()
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def ssim(a, b, data_range: float = 255.0) -> float:
    """Structural similarity (Wang et al. 2004): Gaussian window 11, σ 1.5, K1 0.01, K2 0.03, channel mean."""
    a, b = _f(a), _f(b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    scores = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        scores.append(s.mean())
    return float(np.mean(scores))


def absrel(pred, gt) -> float:
    """Mean absolute relative error ``|pred − gt| / gt`` over pixels with ``gt > 0``."""
    pred, gt = _f(pred), _f(gt)
    valid = gt > 0
    return float((np.abs(pred[valid] - gt[valid]) / gt[valid]).mean())


def miou(pred, gt, num_classes: int | None = None, ignore: int | None = None) -> float:
    """Mean IoU over the classes in ``pred`` or ``gt``; pixels labelled ``ignore`` in gt are skipped."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    valid = np.ones(gt.shape, bool) if ignore is None else gt != ignore
    classes = np.union1d(np.unique(pred[valid]), np.unique(gt[valid]))
    if num_classes is not None:
        classes = classes[classes < num_classes]
    ious = []
    for c in classes:
        p, g = (pred == c) & valid, (gt == c) & valid
        union = (p | g).sum()
        if union:
            ious.append((p & g).sum() / union)
    return float(np.mean(ious)) if ious else 0.0


def ciou(preds: Iterable, gts: Iterable) -> float:
    """Cumulative IoU of binary masks: total intersection over total union across the dataset."""
    inter = union = 0
    for p, g in zip(preds, gts, strict=True):
        p, g = np.asarray(p, bool), np.asarray(g, bool)
        inter += (p & g).sum()
        union += (p | g).sum()
    return float(inter / union) if union else 1.0


def mean_angle_error(n1, n2, mask=None) -> float:
    """Mean angle in degrees between two ``(…, 3)`` normal fields (normalised first)."""
    a, b = _f(n1), _f(n2)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    angles = np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))
    return float(angles[np.asarray(mask, bool)].mean() if mask is not None else angles.mean())


def edge_f1(pred, gt, tolerance: int = 0) -> float:
    """F1 of binary edge maps.

    A predicted (true) edge pixel counts if a true (predicted) one lies within ``tolerance`` pixels (a
    square neighbourhood).
    """
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    if tolerance > 0:
        kernel = np.ones((2 * tolerance + 1,) * 2, np.uint8)
        g_near = cv2.dilate(g.astype(np.uint8), kernel) > 0
        p_near = cv2.dilate(p.astype(np.uint8), kernel) > 0
    else:
        g_near, p_near = g, p
    if not p.any() and not g.any():
        return 1.0
    precision = (p & g_near).sum() / max(1, p.sum())
    recall = (g & p_near).sum() / max(1, g.sum())
    return float(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
