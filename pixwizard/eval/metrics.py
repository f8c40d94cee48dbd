"""Evaluation metrics (NumPy/OpenCV, torch-free): PSNR, SSIM, RMSE, AbsRel, δ<1.25, mIoU, cIoU, angles, F1.

Two layers: functions of arrays (``psnr``, ``ssim``, ``miou``, ...) and functions of two answers
(`pixwizard.tasks.answers`: a prediction and the truth) with dataset accumulators (``CumulativeIoU``,
``MeanIoU``, ``EdgeF1``) for the metrics that pool pixels across a test set, as the paper's tables do.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from pixwizard.tasks.answers import (
    DepthAnswer,
    EdgeAnswer,
    ImageAnswer,
    LabelAnswer,
    NormalAnswer,
    RegionsAnswer,
)

PSNR_CAP = 100.0
"""PSNR of identical images in answer metrics (instead of infinity, so JSON stays finite)."""


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
    return float(ssim_map(a, b, data_range).mean())


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


# ----------------------------------------------------------------------------------------------------
# Metrics of two answers (a prediction and the truth)
# ----------------------------------------------------------------------------------------------------


def _check_same_size(pred, truth, name: str) -> None:
    if pred.shape[:2] != truth.shape[:2]:
        raise ValueError(
            f"{name}: prediction is {pred.shape[1]}x{pred.shape[0]}, truth {truth.shape[1]}x{truth.shape[0]}"
        )


def image_psnr(pred: ImageAnswer, truth: ImageAnswer, region: np.ndarray | None = None) -> float:
    """PSNR in dB (capped at ``PSNR_CAP``) of two images, over ``region`` when given (bool ``(H, W)``)."""
    _check_same_size(pred.image, truth.image, "image_psnr")
    a, b = _f(pred.image), _f(truth.image)
    if region is not None:
        region = np.asarray(region, bool)
        if not region.any():
            raise ValueError("image_psnr: the region is empty")
        a, b = a[region], b[region]
    mse = ((a - b) ** 2).mean()
    return PSNR_CAP if mse == 0 else float(min(PSNR_CAP, 10 * np.log10(255.0**2 / mse)))


def ssim_map(a, b, data_range: float = 255.0) -> np.ndarray:
    """Per-pixel SSIM ``(H, W)``, the mean over channels (the window and constants of `ssim`)."""
    a, b = _f(a), _f(b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    maps = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return np.mean(maps, axis=0)


def image_ssim(pred: ImageAnswer, truth: ImageAnswer, region: np.ndarray | None = None) -> float:
    """SSIM of two images, the mean of `ssim_map` over ``region`` when given (windows see across it)."""
    _check_same_size(pred.image, truth.image, "image_ssim")
    if region is None:
        return ssim(pred.image, truth.image)
    region = np.asarray(region, bool)
    if not region.any():
        raise ValueError("image_ssim: the region is empty")
    return float(ssim_map(pred.image, truth.image)[region].mean())


def changed_outside(pred: ImageAnswer, before: ImageAnswer, region: np.ndarray) -> int:
    """Pixels outside ``region`` where ``pred`` differs from ``before`` at all (exact preservation = 0)."""
    _check_same_size(pred.image, before.image, "changed_outside")
    differs = (pred.image != before.image).any(-1)
    return int((differs & ~np.asarray(region, bool)).sum())


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(scale, shift)`` of ``scale·x + shift ≈ y`` (scale 0 for a flat ``x``)."""
    var = x.var()
    if var < 1e-12:
        return 0.0, float(y.mean())
    scale = float(((x - x.mean()) * (y - y.mean())).mean() / var)
    return scale, float(y.mean() - scale * x.mean())


def align_depth(pred: DepthAnswer, truth: DepthAnswer) -> np.ndarray:
    """The prediction mapped onto the truth's distances by a least-squares scale and shift.

    Relative depth carries no scale. A ``distance`` prediction is fitted to the true distance; an
    ``inverse`` one (what the model draws: near bright) is fitted to the true inverse depth (disparity),
    as is usual for relative depth (MiDaS), then inverted; distances are capped at 10× the farthest true
    one. Only valid (positive) true pixels take part; a flat prediction maps to the mean.
    """
    _check_same_size(pred.depth, truth.depth, "align_depth")
    p, g = _f(pred.depth), _f(truth.depth)
    valid = g > 0
    if pred.convention == "distance":
        scale, shift = _fit(p[valid], g[valid])
        return scale * p + shift
    scale, shift = _fit(p[valid], 1.0 / g[valid])
    floor = 1.0 / (10.0 * g[valid].max())
    return 1.0 / np.maximum(scale * p + shift, floor)


def depth_scores(pred: DepthAnswer, truth: DepthAnswer) -> dict[str, float]:
    """``rmse``, ``absrel`` and ``delta1`` (share with ``max(p/g, g/p) < 1.25``) after `align_depth`."""
    aligned = align_depth(pred, truth)
    g = _f(truth.depth)
    valid = g > 0
    p = np.maximum(aligned[valid], 1e-6)
    g = g[valid]
    ratio = np.maximum(p / g, g / p)
    return {
        "rmse": rmse(p, g),
        "absrel": float((np.abs(p - g) / g).mean()),
        "delta1": float((ratio < 1.25).mean()),
    }


def normal_error(pred: NormalAnswer, truth: NormalAnswer) -> float:
    """Mean angle between the normal fields, in degrees."""
    _check_same_size(pred.normals, truth.normals, "normal_error")
    return mean_angle_error(pred.normals, truth.normals)


def edge_tolerance(size: tuple[int, int]) -> int:
    """Match distance for edge F1: 0.75% of the image diagonal (the usual BSDS setting), at least 1 px."""
    return max(1, round(0.0075 * float(np.hypot(*size))))


class Mean:
    """A running mean."""

    def __init__(self):
        self.total, self.n = 0.0, 0

    def add(self, value: float) -> None:
        """Add one value."""
        self.total += float(value)
        self.n += 1

    @property
    def value(self) -> float:
        """The metric so far."""
        return self.total / self.n if self.n else float("nan")


class CumulativeIoU:
    """cIoU of grounding: total intersection over total union of the masks across the test set."""

    def __init__(self):
        self.inter = self.union = 0

    def add(self, pred: RegionsAnswer, truth: RegionsAnswer) -> None:
        """Add one (prediction, truth) pair."""
        p, g = pred.mask, truth.mask
        _check_same_size(p, g, "cIoU")
        self.inter += int((p & g).sum())
        self.union += int((p | g).sum())

    @property
    def value(self) -> float:
        """The metric so far."""
        return self.inter / self.union if self.union else 1.0


class MeanIoU:
    """mIoU of segmentation over the test set.

    Per-class IoU from counts pooled over the set, averaged over the classes present in the truth or the
    predictions; unknown predicted pixels (-1) count as wrong.
    """

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.inter = np.zeros(num_classes, np.int64)
        self.pred = np.zeros(num_classes, np.int64)
        self.truth = np.zeros(num_classes, np.int64)

    def add(self, pred: LabelAnswer, truth: LabelAnswer) -> None:
        """Add one (prediction, truth) pair."""
        p, g = np.asarray(pred.labels).astype(np.int64), np.asarray(truth.labels).astype(np.int64)
        _check_same_size(p, g, "mIoU")
        k = self.num_classes
        valid_p = (p >= 0) & (p < k)
        self.pred += np.bincount(p[valid_p], minlength=k)[:k]
        self.truth += np.bincount(g.ravel(), minlength=k)[:k]
        same = valid_p & (p == g)
        self.inter += np.bincount(p[same], minlength=k)[:k]

    @property
    def value(self) -> float:
        """The metric so far."""
        union = self.pred + self.truth - self.inter
        present = union > 0
        return float((self.inter[present] / union[present]).mean()) if present.any() else 1.0


class EdgeF1:
    """Edge F1 over the test set: pooled precision and recall with a distance tolerance (`edge_tolerance`)."""

    def __init__(self):
        self.hit_p = self.n_p = self.hit_g = self.n_g = 0

    def add(self, pred: EdgeAnswer, truth: EdgeAnswer) -> None:
        """Add one (prediction, truth) pair."""
        p, g = np.asarray(pred.edges, bool), np.asarray(truth.edges, bool)
        _check_same_size(p, g, "edge F1")
        tol = edge_tolerance(p.shape[1::-1])
        kernel = np.ones((2 * tol + 1,) * 2, np.uint8)
        near_g = cv2.dilate(g.astype(np.uint8), kernel) > 0
        near_p = cv2.dilate(p.astype(np.uint8), kernel) > 0
        self.hit_p += int((p & near_g).sum())
        self.n_p += int(p.sum())
        self.hit_g += int((g & near_p).sum())
        self.n_g += int(g.sum())

    @property
    def value(self) -> float:
        """The metric so far."""
        if self.n_p == 0 and self.n_g == 0:
            return 1.0
        precision = self.hit_p / max(1, self.n_p)
        recall = self.hit_g / max(1, self.n_g)
        return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
