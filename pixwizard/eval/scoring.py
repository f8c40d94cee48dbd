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


class Scorer:
    """Pools one system's predictions on one task into its metrics."""

    def __init__(self, task: str, num_classes: int):
        self.task = task
        self.names = metrics_for(task)
        self.n = 0
        self._means = {name: m.Mean() for name in self.names}
        self._ciou = m.CumulativeIoU()
        self._miou = m.MeanIoU(num_classes)
        self._edges = m.EdgeF1()

    def add(self, pred: Answer, case: Case) -> None:
        """Score one prediction against its case."""
        from pixwizard.eval.detector import detect

        self.n += 1
        truth, names = case.truth, self.names
        if names == ("psnr", "ssim"):
            self._means["psnr"].add(m.image_psnr(pred, truth))
            self._means["ssim"].add(m.image_ssim(pred, truth))
        elif names == ("ciou",):
            self._ciou.add(pred, truth)
        elif names == ("rmse", "absrel", "delta1"):
            for key, value in m.depth_scores(pred, truth).items():
                self._means[key].add(value)
        elif names == ("angular_error",):
            self._means["angular_error"].add(m.normal_error(pred, truth))
        elif names == ("miou",):
            self._miou.add(pred, truth)
        elif names == ("edge_f1",):
            self._edges.add(pred, truth)
        elif names == ("psnr_edited", "changed_outside"):
            self._means["psnr_edited"].add(m.image_psnr(pred, truth, truth.region))
            before = ImageAnswer(case.before)
            self._means["changed_outside"].add(m.changed_outside(pred, before, truth.region))
        elif names == ("psnr_hole", "ssim_hole"):
            self._means["psnr_hole"].add(m.image_psnr(pred, truth, truth.region))
            self._means["ssim_hole"].add(m.image_ssim(pred, truth, truth.region))
        else:
            if not case.requested:
                raise ValueError(f"{self.task}: the case names no requested objects to detect")
            found = detect(pred.image, case.requested)
            self._means["detection"].add(float(np.mean([d.found for d in found])))
            if "agreement" in names:
                union = np.zeros(pred.image.shape[:2], bool)
                for d in found:
                    if d.found and d.mask is not None:
                        union |= d.mask
                control = case.control
                inter, total = (union & control).sum(), (union | control).sum()
                self._means["agreement"].add(float(inter / total) if total else 1.0)

    def values(self) -> dict[str, float]:
        """The pooled metrics."""
        out = {name: mean.value for name, mean in self._means.items() if mean.n}
        if "ciou" in self.names:
            out["ciou"] = self._ciou.value
        if "miou" in self.names:
            out["miou"] = self._miou.value
        if "edge_f1" in self.names:
            out["edge_f1"] = self._edges.value
        return out
