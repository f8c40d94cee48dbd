"""The pre-registered bars of ``pixwizard-world`` (its ``protocol.json``) checked on `eval world` results.

`scorecard` reads the ``results`` of ``pixwizard eval world --json`` and returns one `Bar` per claim of the
protocol: the model's value with its 95% interval, what it is compared with (a baseline, a constant, a
fixed threshold or its template score) and whether it holds. `markdown` prints them as the model card's
table. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pixwizard.eval.scoring import LOWER_IS_BETTER

RESTORATION = ("denoise", "deblur", "dehaze", "lowlight")
GROUNDING = ("ground_highlight", "ground_box", "ground_mask")
GENERATION = (
    "text_to_image",
    "canny_to_image",
    "depth_to_image",
    "hed_to_image",
    "sketch_to_image",
    "pose_to_image",
    "segment_to_image",
    "normal_to_image",
    "lineart_to_image",
)
HELD_OUT_RATIO = 0.15


@dataclass(frozen=True)
class Bar:
    """One claim: ``value`` (the model's) against ``target``; ``met`` says whether it holds."""

    family: str
    claim: str
    value: float
    target: float
    met: bool
    low: float | None = None
    high: float | None = None
    beside: str = ""
    """The baselines in words (identity, the classical baseline, the constant)."""


class Results:
    """`eval world --json` results by ``(task, system, metric, phrasing)``."""

    def __init__(self, rows: Iterable[dict], model: str):
        self.model = model
        self.rows = {(r["task"], r["system"], r["metric"], r["phrasing"]): r for r in rows}

    def row(self, task: str, metric: str, system: str | None = None, phrasing: str = "template") -> dict:
        """One result row (the model's unless ``system`` is given)."""
        return self.rows[(task, system or self.model, metric, phrasing)]

    def value(self, task: str, metric: str, system: str | None = None, phrasing: str = "template") -> float:
        """One result's value."""
        return self.row(task, metric, system, phrasing)["value"]

    def has(self, task: str, metric: str, phrasing: str = "template") -> bool:
        """Whether the model was scored on it."""
        return (task, self.model, metric, phrasing) in self.rows

    def baselines(self, task: str, metric: str) -> dict[str, float]:
        """Every system but the model and the oracle, template phrasing."""
        return {
            system: row["value"]
            for (t, system, m, p), row in self.rows.items()
            if t == task and m == metric and p == "template" and system not in (self.model, "oracle")
        }


def _words(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in values.items())


def _bar(r: Results, family: str, claim: str, task: str, metric: str, target: float, **extra) -> Bar:
    row = r.row(task, metric)
    value = row["value"]
    met = value <= target if metric in LOWER_IS_BETTER else value >= target
    return Bar(family, claim, value, target, met, row.get("low"), row.get("high"), **extra)


def scorecard(rows: Iterable[dict], model: str) -> list[Bar]:
    """The protocol's bars on the given results (tasks absent from them are left out)."""
    r = Results(rows, model)
    bars: list[Bar] = []
    restored = [t for t in RESTORATION if r.has(t, "psnr")]
    if restored:
        gains = {t: r.value(t, "psnr") - r.value(t, "psnr", "identity") for t in restored}
        mean_gain = sum(gains.values()) / len(gains)
        bars.append(
            Bar(
                "restoration",
                f"mean PSNR gain over the degraded input ({', '.join(restored)}) >= 3 dB",
                mean_gain,
                3.0,
                mean_gain >= 3.0,
                beside="per task: " + ", ".join(f"{t} {g:+.2f} dB" for t, g in gains.items()),
            )
        )
        wins = []
        for t in restored:
            classical = {k: v for k, v in r.baselines(t, "psnr").items() if k != "identity"}
            if classical:
                best = max(classical.values())
                wins.append((t, r.value(t, "psnr") > best, best))
        won = [t for t, ok, _ in wins if ok]
        bars.append(
            Bar(
                "restoration",
                "PSNR above the best classical baseline on at least two of them",
                float(len(won)),
                2.0,
                len(won) >= 2,
                beside="; ".join(f"{t}: {r.value(t, 'psnr'):.2f} vs {best:.2f} dB" for t, _, best in wins),
            )
        )
    for task in GROUNDING:
        if r.has(task, "ciou"):
            bars.append(
                _bar(
                    r,
                    "grounding",
                    f"{task} cIoU >= 0.5",
                    task,
                    "ciou",
                    0.5,
                    beside=_words(r.baselines(task, "ciou")),
                )
            )
    if r.has("segment", "miou"):
        bars.append(
            _bar(
                r,
                "dense",
                "segment mIoU >= 0.5",
                "segment",
                "miou",
                0.5,
                beside=_words(r.baselines("segment", "miou")),
            )
        )
    for task, metric, factor, claim in (
        ("depth", "rmse", 0.7, "depth RMSE <= 0.7 x the constant's"),
        ("normal", "angular_error", 2 / 3, "normals mean angular error <= 2/3 x the constant's"),
    ):
        if r.has(task, metric):
            target = factor * r.value(task, metric, "constant")
            beside = _words(r.baselines(task, metric))
            bars.append(_bar(r, "dense", claim, task, metric, target, beside=beside))
    if r.has("inpaint", "psnr_hole"):
        telea = r.value("inpaint", "psnr_hole", "telea")
        bars.append(
            Bar(
                "inpainting",
                "inpaint PSNR inside the hole above Telea's",
                r.value("inpaint", "psnr_hole"),
                telea,
                r.value("inpaint", "psnr_hole") > telea,
                r.row("inpaint", "psnr_hole").get("low"),
                r.row("inpaint", "psnr_hole").get("high"),
                beside=_words(r.baselines("inpaint", "psnr_hole")),
            )
        )
    if r.has("edit", "psnr_edited"):
        identity = r.value("edit", "psnr_edited", "identity")
        outside = r.value("edit", "changed_outside")
        bars.append(
            _bar(
                r,
                "editing",
                "edit PSNR inside the true edited region >= identity's + 3 dB",
                "edit",
                "psnr_edited",
                identity + 3,
                beside=f"identity {identity:.3f}; pixels changed outside the region: {outside:.1f}",
            )
        )
    for task in GENERATION:
        if r.has(task, "detection"):
            bars.append(
                _bar(
                    r,
                    "generation",
                    f"{task}: requested shape and colour detected in >= 50%",
                    task,
                    "detection",
                    0.5,
                    beside=_words(r.baselines(task, "detection")),
                )
            )
    bars += _held_out(r, bars)
    return bars


_BARRED = {
    "restoration": [(t, "psnr") for t in RESTORATION],
    "grounding": [(t, "ciou") for t in GROUNDING],
    "dense": [("segment", "miou"), ("depth", "rmse"), ("normal", "angular_error")],
    "inpainting": [("inpaint", "psnr_hole")],
    "editing": [("edit", "psnr_edited")],
    "generation": [(t, "detection") for t in GENERATION],
}


def _held_out(r: Results, bars: list[Bar]) -> list[Bar]:
    """Every barred score of the held-out phrasings within 15% of its template value."""
    out = []
    for pairs in _BARRED.values():
        for task, metric in pairs:
            if not (r.has(task, metric) and r.has(task, metric, "held_out")):
                continue
            template, held = r.value(task, metric), r.value(task, metric, phrasing="held_out")
            if metric.startswith("psnr"):  # compared on the gain over identity
                base = r.value(task, metric, "identity")
                template, held = template - base, held - base
                target = template - abs(template) * HELD_OUT_RATIO
                met = held >= target
                what = "gain over identity"
            elif metric in LOWER_IS_BETTER:
                target = template * (1 + HELD_OUT_RATIO)
                met = held <= target
                what = "<= 1.15 x template"
            else:
                target = template * (1 - HELD_OUT_RATIO)
                met = held >= target
                what = ">= 0.85 x template"
            row = r.row(task, metric, phrasing="held_out")
            out.append(
                Bar(
                    "held-out phrasings",
                    f"{task} {metric} ({what})",
                    held,
                    target,
                    met,
                    None if metric.startswith("psnr") else row.get("low"),
                    None if metric.startswith("psnr") else row.get("high"),
                    beside=f"template {template:.3f}",
                )
            )
    return out


def markdown(bars: list[Bar]) -> str:
    """The bars as a Markdown table."""
    lines = ["| family | claim | value [95% interval] | bar | holds | beside |", "|---|---|---|---|---|---|"]
    for b in bars:
        interval = f" [{b.low:.3f}, {b.high:.3f}]" if b.low is not None else ""
        lines.append(
            f"| {b.family} | {b.claim} | {b.value:.3f}{interval} | {b.target:.3f} | "
            f"{'yes' if b.met else '**missed**'} | {b.beside} |"
        )
    held = sum(b.met for b in bars)
    lines.append(f"\n{held} of {len(bars)} bars hold.")
    return "\n".join(lines)
