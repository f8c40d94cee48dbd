"""Scoring a model on PixWorld (``eval world``) and on benchmark pairs (``eval pairs``), beside baselines.

Both paths run the model the same way (`model_answers`: the task's prepared input, the pipeline, the task's
decoder with the world palette) and score through the same `Scorer`, so a folder exported from the world
and scored with ``eval pairs`` gives the numbers of ``eval world`` on the same items.

Seeds: item ``i`` of a task is the world sample ``(seed, i)``, its template is chosen by ``i`` and the
model's noise is seeded with ``seed + i``; the same arguments give the same report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from pixwizard._fs import read_records
from pixwizard.eval import baselines as bl
from pixwizard.eval.scoring import LOWER_IS_BETTER, METRIC_NOTES, Case, Scorer
from pixwizard.tasks import TASKS, Family, InputKind, OutputKind, get_task
from pixwizard.tasks.answers import Answer, DepthAnswer, load_answer
from pixwizard.tasks.decoders import as_array, decode
from pixwizard.tasks.inputs import Prepared
from pixwizard.world import WORLD_VERSION
from pixwizard.world.samples import Sample, instruction, sample, world_palette

PHRASINGS = ("template", "held_out")

NOTES = (
    "Depth metrics are computed after a least-squares scale-and-shift alignment of the prediction to the "
    "true distance (relative depth carries no scale).",
    "PSNR is capped at 100 dB so that identical images stay finite in JSON.",
    "identity returns its input as its output image, read by the task's decoder; oracle is the ground "
    "truth drawn as the model's output would be, read by the same decoder.",
    "constant is the best single prediction for the whole test set (mean depth, majority class, mean "
    "normal).",
    "low and high bound each score's 95% percentile-bootstrap interval over the scenes (1000 resamples, "
    "seed 0, the same resamples for every system of a task; pooled metrics such as cIoU and mIoU are "
    "recomputed on each resample).",
)


@dataclass(frozen=True)
class Row:
    """One number of the report (the ``results`` entries of ``--json``)."""

    task: str
    family: str
    system: str
    phrasing: str
    metric: str
    value: float
    n: int
    low: float | None = None
    """The 95% percentile-bootstrap interval over items (1000 resamples, seed 0); None for the oracle."""
    high: float | None = None


@dataclass
class Report:
    """The rows of one evaluation, with what is needed to reproduce it."""

    model: str
    n: int
    seed: int
    steps: int | None
    world_version: str
    rows: list[Row] = field(default_factory=list)
    examples: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    """Per task, the first item's images: ``input``, ``target``, the model's output, the best baseline's."""
    best_baseline: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The documented ``--json`` layout."""
        return {
            "model": self.model,
            "n": self.n,
            "seed": self.seed,
            "steps": self.steps,
            "world_version": self.world_version,
            "notes": list(NOTES),
            "metrics": METRIC_NOTES,
            "results": [asdict(row) for row in self.rows],
        }

    def value(self, task: str, system: str, metric: str, phrasing: str = "template") -> float:
        """One number (KeyError when absent)."""
        for row in self.rows:
            if (row.task, row.system, row.metric, row.phrasing) == (task, system, metric, phrasing):
                return row.value
        raise KeyError(f"no result for {task}/{system}/{metric}/{phrasing}")


def model_answers(
    pipe,
    task: str,
    prepared: Sequence[Prepared],
    texts: Sequence[str],
    slots: Sequence[dict],
    *,
    seeds: Sequence[int],
    steps: int | None,
    palette=None,
    batch: int = 8,
    solver="euler",
) -> list[Answer]:
    """The model's answers to prepared inputs: the pipeline with the task's defaults, read by its decoder.

    Item ``i`` is seeded with ``seeds[i]`` and segmentation is read in ``palette`` (default: the world's).
    ``batch`` items go through the pipeline at once; each keeps its own generator, so an answer does not
    depend on the batch (up to floating-point summation order).
    """
    from pixwizard.tasks.runner import call_model_batch, vae_roundtrip

    spec = get_task(task)
    answers = []
    for start in range(0, len(prepared), max(1, batch)):
        part = slice(start, start + max(1, batch))
        out = call_model_batch(
            pipe, spec, texts[part], prepared[part], seeds=seeds[part], steps=steps, solver=solver
        )
        for bucket_image, p, s in zip(out.bucket_images, prepared[part], slots[part], strict=True):
            answers.append(
                decode(
                    task,
                    bucket_image,
                    p,
                    color=s.get("color"),
                    palette=palette or world_palette(),
                    roundtrip=lambda array: vae_roundtrip(pipe, array),
                )
            )
    return answers


def case_of(s: Sample) -> Case:
    """The scoring case of a world sample."""
    before = as_array(s.image) if s.image is not None else None
    return Case(s.task, s.truth, before, s.requested, s.control)


def _systems(task: str, truths: Sequence[Answer]) -> list[tuple[str, Callable]]:
    systems = [("identity", bl.identity)]
    if task in bl.CLASSICAL:
        systems.append(bl.CLASSICAL[task])
    constant = bl.constant_for(task, truths)
    if constant is not None:
        systems.append(("constant", constant))
    systems.append(("oracle", bl.oracle))
    return systems


def _score_rows(task, system, phrasings, scorer: Scorer) -> list[Row]:
    family = TASKS[task].family.value
    bounds = {} if system == "oracle" else scorer.intervals()
    return [
        Row(task, family, system, phrasing, metric, float(value), scorer.n, *bounds.get(metric, (None, None)))
        for phrasing in phrasings
        for metric, value in scorer.values().items()
    ]


def evaluate_world(
    model: str,
    *,
    tasks: Sequence[str] | None = None,
    n: int = 8,
    steps: int | None = None,
    seed: int = 0,
    phrasing: str = "template",
    size: tuple[int, int] = (64, 64),
    pipe=None,
    progress: Callable[[str, int, int], None] | None = None,
    batch: int = 8,
    solver="euler",
) -> Report:
    """Score ``model`` on ``n`` world samples per task, beside identity, baselines, constant and oracle.

    Args:
        model: A model name or folder (`PixWizardPipeline.from_pretrained`); ignored when ``pipe`` is given
            except as the report's name.
        tasks: Task names (default: every task).
        n: Samples per task.
        steps: Sampler steps (default: each task's).
        seed: World seed; also seeds the model (``seed + i`` for item ``i``).
        phrasing: ``template``, ``held_out`` or ``both``.
        size: ``(w, h)`` of the scenes.
        pipe: An already loaded pipeline.
        progress: Called with ``(task, done, total)`` after each task.
        batch: Items per pipeline call (each item keeps its own seed, so results do not depend on it).
        solver: The pipeline's solver (``euler``, the authors'; ``heun``, ``midpoint`` or a `Solver`).
    """
    tasks = list(tasks or TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known tasks: {', '.join(TASKS)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    phrasings = PHRASINGS if phrasing == "both" else (phrasing,)
    if any(p not in PHRASINGS for p in phrasings):
        raise ValueError(f"phrasing must be template, held_out or both, got {phrasing!r}")
    if pipe is None:
        from pixwizard.pipeline import PixWizardPipeline

        pipe = PixWizardPipeline.from_pretrained(model)
    palette = world_palette()
    report = Report(model, n, seed, steps, WORLD_VERSION)
    for done, task in enumerate(tasks, start=1):
        samples = [sample(task, seed, i, width=size[0], height=size[1]) for i in range(n)]
        cases = [case_of(s) for s in samples]
        items = [bl.Item(task, s.prepared, s.slots, as_array(s.target)) for s in samples]
        examples = {"input": as_array(samples[0].prepared.image), "target": items[0].target}
        ranked = []
        for name, system in _systems(task, [c.truth for c in cases]):
            scorer = Scorer(task, len(palette.names))
            answers = [system(item, palette) for item in items]
            for answer, case in zip(answers, cases, strict=True):
                scorer.add(answer, case)
            report.rows += _score_rows(task, name, phrasings, scorer)
            if name != "oracle":
                metric = scorer.names[0]
                value = scorer.values()[metric]
                score = -value if metric in LOWER_IS_BETTER else value
                ranked.append((score, name != "identity", name, answers[0]))
        # The best baseline by the task's first metric (identity only when nothing beats it).
        _, _, best, first = max(ranked, key=lambda r: r[:2])
        report.best_baseline[task] = best
        examples["baseline"] = answer_image(first)
        for p in phrasings:
            scorer = Scorer(task, len(palette.names))
            answers = model_answers(
                pipe,
                task,
                [s.prepared for s in samples],
                [instruction(s, p) for s in samples],
                [s.slots for s in samples],
                seeds=[seed + i for i in range(n)],
                steps=steps,
                batch=batch,
                solver=solver,
            )
            for answer, case in zip(answers, cases, strict=True):
                scorer.add(answer, case)
            if p == phrasings[0]:
                examples["model"] = answer_image(answers[0])
            report.rows += _score_rows(task, model, (p,), scorer)
        report.examples[task] = examples
        if progress is not None:
            progress(task, done, len(tasks))
    return report


# ----------------------------------------------------------------------------------------------------
# Benchmark pairs in the authors' annotation format
# ----------------------------------------------------------------------------------------------------


def _open(path: Path, index: int, what: str) -> Image.Image:
    try:
        return Image.open(path)
    except OSError as exc:
        raise ValueError(f"entry {index}: cannot read its {what} {path}: {exc}") from None


def _metric_depth(path: Path, image: Image.Image, depth_scale: float, index: int) -> DepthAnswer:
    """A benchmark's depth target as distances: ``.npy`` as is, a 16-bit PNG divided by ``depth_scale``."""
    if path.suffix == ".npy":
        return DepthAnswer(np.load(path).astype(np.float32), "distance")
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        raise ValueError(
            f"entry {index}: a depth target must be metric (a 16-bit PNG or a .npy of distances); "
            f"{path.name} is an 8-bit picture, which has no scale"
        )
    return DepthAnswer((np.asarray(image, np.float64) / depth_scale).astype(np.float32), "distance")


def _pair_item(
    task: str, entry: dict, root: Path, index: int, palette, depth_scale: float
) -> tuple[bl.Item, Case, str]:
    for key in ("input_path", "target_path", "prompt"):
        if key not in entry:
            raise ValueError(f"entry {index} lacks {key!r}")
    prompt = entry.get("instruction") or entry["prompt"]
    prompt = prompt if isinstance(prompt, str) else (prompt[0] if prompt else "")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"entry {index}: the prompt is empty")
    spec = get_task(task)
    image = _open(root / entry["input_path"], index, "input").convert("RGB")
    target_path = root / entry["target_path"]
    target_image = None if target_path.suffix == ".npy" else _open(target_path, index, "target")
    slots = dict(entry.get("slots", {}))
    truth, extra = load_answer(root / entry["truth_path"]) if entry.get("truth_path") else (None, {})
    region = getattr(truth, "region", None)
    if region is None and spec.input in (InputKind.MASKED, InputKind.EXTENDED):
        region = (as_array(image) == 255).all(-1)  # the authors paint the region to fill white
    kept = None if spec.input in (InputKind.CONDITION, InputKind.BLANK) else image
    prepared = Prepared(image, region, kept)
    target = None if target_image is None else as_array(target_image.convert("RGB"))
    item = bl.Item(task, prepared, slots, target)
    if truth is None:  # a real benchmark: its target is the answer
        if spec.family in (Family.CONTROL, Family.GENERATION):
            raise ValueError(
                f"entry {index}: {task} pairs need a truth_path naming the requested objects (as "
                "`pixwizard world export` writes); score natural images with FID/CLIP tools instead"
            )
        if spec.output is OutputKind.DEPTH:
            truth = _metric_depth(target_path, target_image, depth_scale, index)
            item = bl.Item(task, prepared, slots, None)  # a metric map is not a model output: no oracle
        else:
            truth = bl.oracle(item, palette)
    requested = tuple(tuple(p) for p in extra.get("requested", ()))
    before = as_array(extra["before"]) if "before" in extra else as_array(image)
    return item, Case(task, truth, before, requested, extra.get("control")), prompt


PALETTES = ("world", "ade20k")


def evaluate_pairs(
    model: str,
    annotations: str | Path,
    task: str,
    *,
    limit: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    palette: str = "world",
    depth_scale: float = 1000.0,
    pipe=None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 8,
) -> Report:
    """Score ``model`` on pairs ``{input_path, target_path, prompt[, truth_path, slots]}`` for one task.

    Paths are relative to the annotation file. Without ``truth_path`` the target is the answer: read by the
    task's decoder (a mask as white on black, normals as RGB, labels in ``palette``), except depth, which
    must be metric (a 16-bit PNG divided by ``depth_scale``, default millimetres → metres, or a ``.npy``).
    Inpainting and outpainting regions are the input's pure white pixels when no truth file names them.

    Args:
        model: The report's model name (and what is loaded when ``pipe`` is None).
        annotations: A JSON list or JSONL file of pairs.
        task: The task the pairs are for.
        limit: Score only the first ``limit`` pairs.
        steps: Sampler steps (default: the task's).
        seed: Pair ``i`` is sampled with seed ``seed + i``.
        palette: Segmentation classes: ``world`` (PixWorld exports) or ``ade20k`` (ADE20K-style benchmarks).
        depth_scale: Divides a 16-bit depth target into distances (1000: millimetres → metres).
        pipe: An already loaded pipeline.
        progress: Called with ``(done, total)`` after each batch of pairs.
        batch: Pairs per pipeline call (each keeps its own seed).
    """
    from pixwizard.tasks.decoders import ade20k_palette

    path = Path(annotations)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    if palette not in PALETTES:
        raise ValueError(f"palette must be one of {', '.join(PALETTES)}, got {palette!r}")
    if not path.is_file():
        raise ValueError(f"{path}: no such annotation file")
    entries = read_records(path)[: limit if limit is not None else None]
    if not entries:
        raise ValueError(f"{path}: no pairs")
    colors = world_palette() if palette == "world" else ade20k_palette()
    parsed = [_pair_item(task, entry, path.parent, i, colors, depth_scale) for i, entry in enumerate(entries)]
    if pipe is None:
        from pixwizard.pipeline import PixWizardPipeline

        pipe = PixWizardPipeline.from_pretrained(model)
    report = Report(model, len(entries), seed, steps, WORLD_VERSION)
    systems = [("identity", bl.identity)]
    if all(item.target is not None for item, _, _ in parsed):
        systems.append(("oracle", bl.oracle))
    for name, system in systems:
        scorer = Scorer(task, len(colors.names))
        for item, case, _ in parsed:
            scorer.add(system(item, colors), case)
        report.rows += _score_rows(task, name, ("template",), scorer)
    scorer = Scorer(task, len(colors.names))
    step = max(1, batch)
    for start in range(0, len(parsed), step):
        part = parsed[start : start + step]
        answers = model_answers(
            pipe,
            task,
            [item.prepared for item, _, _ in part],
            [prompt for _, _, prompt in part],
            [item.slots for item, _, _ in part],
            seeds=[seed + start + k for k in range(len(part))],
            steps=steps,
            palette=colors,
            batch=step,
        )
        for answer, (_, case, _) in zip(answers, part, strict=True):
            scorer.add(answer, case)
        if progress is not None:
            progress(start + len(part), len(parsed))
    report.rows += _score_rows(task, model, ("template",), scorer)
    return report


# ----------------------------------------------------------------------------------------------------
# Answers as pictures (report grids)
# ----------------------------------------------------------------------------------------------------


def answer_image(answer: Answer) -> np.ndarray:
    """An answer drawn as an RGB picture: masks white, depth grey (near bright), labels in the palette."""
    from pixwizard.tasks import answers as a
    from pixwizard.tasks.decoders import normals_to_rgb
    from pixwizard.world.samples import stroke_image

    if isinstance(answer, a.ImageAnswer):
        return answer.image
    if isinstance(answer, a.RegionsAnswer):
        return np.asarray(stroke_image(answer.mask))
    if isinstance(answer, a.DepthAnswer):
        d = answer.depth.astype(np.float64)
        low, high = d.min(), d.max()
        t = (d - low) / (high - low) if high > low else np.zeros_like(d)
        grey = t if answer.convention == "inverse" else 1 - t
        return np.repeat(np.round(grey * 255).astype(np.uint8)[..., None], 3, -1)
    if isinstance(answer, a.NormalAnswer):
        return np.asarray(normals_to_rgb(answer.normals))
    if isinstance(answer, a.LabelAnswer):
        colors = world_palette().colors.astype(np.uint8)
        return colors[np.clip(answer.labels, 0, len(colors) - 1)]
    return np.asarray(stroke_image(answer.edges))
