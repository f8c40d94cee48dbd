"""Which metrics each task is scored with, and a scorer that pools them over a test set (torch-free).

A `Case` is what scoring needs to know about one test item besides the prediction: the exact answer, the
input (for preservation), and for generation what the caption asked for. World samples and benchmark
pairs both become cases, so ``eval world`` and ``eval pairs`` score through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pixwizard.eval import metrics as m
from pixwizard.tasks import TASKS, Family, OutputKind
from pixwizard.tasks.answers import Answer, ImageAnswer


@dataclass(frozen=True, eq=False)
class Case:
    """One test item's truth and context."""

    task: str
    truth: Answer
    before: np.ndarray | None = None
    """The model's input image ``(H, W, 3)`` (edits: what must be preserved outside the region)."""
    requested: tuple[tuple[str, str], ...] = ()
    """Generation: the ``(color, shape)`` pairs asked for."""
    control: np.ndarray | None = None
    """Controllable generation: where the control map puts the requested objects (bool ``(H, W)``)."""
    extra: dict = field(default_factory=dict)


METRIC_NOTES = {
    "psnr": "PSNR in dB over the whole image (capped at 100)",
    "ssim": "SSIM over the whole image",
    "psnr_hole": "PSNR in dB inside the hole / new canvas area (capped at 100)",
    "ssim_hole": "SSIM averaged inside the hole / new canvas area",
    "ciou": "cumulative IoU of the found region(s) with the truth mask",
    "rmse": "RMSE of depth after least-squares scale-and-shift alignment to the true distance",
    "absrel": "AbsRel of depth after scale-and-shift alignment",
    "delta1": "share of pixels with max(p/g, g/p) < 1.25 after scale-and-shift alignment",
    "angular_error": "mean angle between predicted and true normals, in degrees",
    "miou": "mean IoU over the world's classes (background kinds and shape kinds) present",
    "edge_f1": "F1 of stroke pixels with a 0.75%-of-diagonal match distance",
    "psnr_edited": "PSNR in dB inside the true edited region against the edited scene",
    "changed_outside": "pixels outside the true edited region that differ from the input (mean per image)",
    "detection": "share of the caption's (colour, shape) objects that the classical detector finds",
    "agreement": "IoU of the detected objects with where the control map puts them",
}
"""What each metric means (the report prints these)."""

LOWER_IS_BETTER = {"rmse", "absrel", "angular_error", "changed_outside"}


def metrics_for(task: str) -> tuple[str, ...]:
    """The metric names a task is scored with, in report order."""
    spec = TASKS[task]
    if spec.family is Family.RESTORATION:
        return ("psnr", "ssim")
    if spec.family is Family.GROUNDING:
        return ("ciou",)
    if spec.output is OutputKind.DEPTH:
        return ("rmse", "absrel", "delta1")
    if spec.output is OutputKind.NORMAL:
        return ("angular_error",)
    if spec.output is OutputKind.SEGMENT:
        return ("miou",)
    if spec.output is OutputKind.EDGES:
        return ("edge_f1",)
    if spec.family is Family.CONTROL:
        return ("detection", "agreement")
    if task == "edit":
        return ("psnr_edited", "changed_outside")
    if task in ("inpaint", "outpaint"):
        return ("psnr_hole", "ssim_hole")
    return ("detection",)


BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.95
BOOTSTRAP_SEED = 0


class Scorer:
    """Pools one system's predictions on one task into its metrics, keeping each item's share.

    Every metric is a sum over items (a mean's values, cIoU's intersections and unions, mIoU's class counts,
    edge F1's hits), so the items' shares give the pooled value and, resampled, its bootstrap interval.
    """

    def __init__(self, task: str, num_classes: int):
        self.task = task
        self.names = metrics_for(task)
        self.num_classes = num_classes
        self.items: list[dict] = []
        """Per item: ``{metric: value}`` for means, and the raw counts of the pooled metrics."""

    @property
    def n(self) -> int:
        """Items scored."""
        return len(self.items)

    def add(self, pred: Answer, case: Case) -> None:
        """Score one prediction against its case."""
        from pixwizard.eval.detector import detect

        truth, names = case.truth, self.names
        item: dict = {}
        if names == ("psnr", "ssim"):
            item = {"psnr": m.image_psnr(pred, truth), "ssim": m.image_ssim(pred, truth)}
        elif names == ("ciou",):
            one = m.CumulativeIoU()
            one.add(pred, truth)
            item = {"ciou": (one.inter, one.union)}
        elif names == ("rmse", "absrel", "delta1"):
            item = dict(m.depth_scores(pred, truth))
        elif names == ("angular_error",):
            item = {"angular_error": m.normal_error(pred, truth)}
        elif names == ("miou",):
            one = m.MeanIoU(self.num_classes)
            one.add(pred, truth)
            item = {"miou": (one.inter, one.pred, one.truth)}
        elif names == ("edge_f1",):
            one = m.EdgeF1()
            one.add(pred, truth)
            item = {"edge_f1": (one.hit_p, one.n_p, one.hit_g, one.n_g)}
        elif names == ("psnr_edited", "changed_outside"):
            before = ImageAnswer(case.before)
            item = {
                "psnr_edited": m.image_psnr(pred, truth, truth.region),
                "changed_outside": m.changed_outside(pred, before, truth.region),
            }
        elif names == ("psnr_hole", "ssim_hole"):
            item = {
                "psnr_hole": m.image_psnr(pred, truth, truth.region),
                "ssim_hole": m.image_ssim(pred, truth, truth.region),
            }
        else:
            if not case.requested:
                raise ValueError(f"{self.task}: the case names no requested objects to detect")
            found = detect(pred.image, case.requested)
            item = {"detection": float(np.mean([d.found for d in found]))}
            if "agreement" in names:
                union = np.zeros(pred.image.shape[:2], bool)
                for d in found:
                    if d.found and d.mask is not None:
                        union |= d.mask
                control = case.control
                inter, total = (union & control).sum(), (union | control).sum()
                item["agreement"] = float(inter / total) if total else 1.0
        self.items.append(item)

    def _pooled(self, name: str, indices) -> float:
        """One metric over the items at ``indices`` (repeats allowed)."""
        shares = [self.items[i][name] for i in indices]
        if name == "ciou":
            pooled = m.CumulativeIoU()
            pooled.inter, pooled.union = (sum(part) for part in zip(*shares, strict=True))
        elif name == "miou":
            pooled = m.MeanIoU(self.num_classes)
            counts = zip(*shares, strict=True)
            pooled.inter, pooled.pred, pooled.truth = (np.sum(part, axis=0) for part in counts)
        elif name == "edge_f1":
            pooled = m.EdgeF1()
            pooled.hit_p, pooled.n_p, pooled.hit_g, pooled.n_g = (sum(p) for p in zip(*shares, strict=True))
        else:
            return float(np.mean(shares))
        return float(pooled.value)

    def values(self) -> dict[str, float]:
        """The pooled metrics."""
        if not self.items:
            return {}
        everything = range(self.n)
        return {name: self._pooled(name, everything) for name in self.names if name in self.items[0]}

    def intervals(
        self,
        resamples: int = BOOTSTRAP_RESAMPLES,
        level: float = BOOTSTRAP_LEVEL,
        seed: int = BOOTSTRAP_SEED,
    ) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap intervals over items, each pooled metric recomputed on every resample.

        The resampled indices depend only on ``seed`` and the item count, so systems scored on the same
        items are resampled alike (paired).
        """
        if not self.items:
            return {}
        draws = np.random.default_rng(seed).integers(0, self.n, size=(resamples, self.n))
        tail = (1 - level) / 2 * 100
        out = {}
        for name in self.values():
            values = [self._pooled(name, row) for row in draws]
            low, high = np.percentile(values, [tail, 100 - tail])
            out[name] = (float(low), float(high))
        return out
