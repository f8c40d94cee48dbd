"""The systems scored beside a model: identity, classical baselines, constant predictions and the oracle.

Every system returns the same answer types as the model's decoders (`pixwizard.tasks.answers`), so one
scorer compares them all:

- ``identity`` returns its input as its output image, read by the task's own decoder;
- the classical baselines (`pixwizard.eval.classical`) exist for the tasks in ``CLASSICAL``;
- ``constant`` is the best single prediction for the whole test set (dense tasks): the mean depth, the
  majority class, the mean normal;
- ``oracle`` is the ground truth drawn as the model's output would be (``Sample.target``), read by the
  same decoder: it shows what the decoders themselves lose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pixwizard.eval import classical
from pixwizard.tasks import TASKS, Family, OutputKind
from pixwizard.tasks.answers import (
    Answer,
    DepthAnswer,
    EdgeAnswer,
    ImageAnswer,
    LabelAnswer,
    NormalAnswer,
    RegionsAnswer,
    box_region,
    region_of,
)
from pixwizard.tasks.decoders import Palette, as_array, decode
from pixwizard.tasks.inputs import Prepared
from pixwizard.world.scenes import COLORS, SHAPES


@dataclass(frozen=True, eq=False)
class Item:
    """What a system sees of one test item: the model's input, the slots, and (for the oracle) the target."""

    task: str
    prepared: Prepared
    slots: dict
    target: np.ndarray | None = None


def identity(item: Item, palette: Palette | None) -> Answer:
    """The input returned as the output image, through the task's decoder."""
    return decode(
        item.task,
        as_array(item.prepared.image),
        item.prepared,
        color=item.slots.get("color"),
        palette=palette,
        preserve=False,
    )


def oracle(item: Item, palette: Palette | None) -> Answer:
    """The target image through the task's decoder."""
    return decode(
        item.task, item.target, item.prepared, color=item.slots.get("color"), palette=palette, preserve=False
    )


def _restore(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Item, Palette | None], Answer]:
    def run(item: Item, palette: Palette | None) -> Answer:
        return ImageAnswer(fn(as_array(item.prepared.image)))

    return run


def _telea(item: Item, palette: Palette | None) -> Answer:
    prepared = item.prepared
    return ImageAnswer(classical.telea_inpaint(as_array(prepared.image), prepared.region), prepared.region)


def _replicate(item: Item, palette: Palette | None) -> Answer:
    prepared = item.prepared
    return ImageAnswer(
        classical.replicate_outpaint(as_array(prepared.image), prepared.placement), prepared.region
    )


_RELATIONS = ("behind", "in front of", "to the left of", "to the right of", "above", "below")


def _candidates(image: np.ndarray, text: str) -> list[np.ndarray]:
    """Masks of the objects a phrase's colour and shape words allow (detector fits where a shape is named)."""
    from pixwizard.eval.detector import detect

    words = set(text.lower().replace(",", " ").split())
    named = classical.mentioned_color(text)
    colors = [named] if named else list(COLORS)
    shapes = [shape for shape in SHAPES if shape in words]
    if shapes:
        found = [
            d.mask for d in detect(image, [(c, shapes[0]) for c in colors]) if d.found and d.mask is not None
        ]
        if found:
            return found
    masks = [classical.color_threshold_ground(image, f"the {c}") for c in colors]
    return [m for m in masks if m.any()]


def _color_threshold(item: Item, palette: Palette | None) -> Answer:
    """Grounding by colour and shape words (the colour-threshold heuristic).

    The phrase's head noun (before any relation word) gives its colour's pixels, the detector's shape fit
    when a shape is named, and a superlative or position word chooses among them (default: the largest).
    """
    image = as_array(item.prepared.image)
    size = image.shape[1::-1]
    text = item.slots.get("referring", "").lower()
    for relation in _RELATIONS:
        text = text.split(f" {relation} ")[0]
    masks = _candidates(image, text)
    if not masks:
        return RegionsAnswer((), size, "mask")

    def centre(mask, axis):
        return float(np.nonzero(mask)[axis].mean())

    choose = {
        "leftmost": lambda m: -centre(m, 1),
        "rightmost": lambda m: centre(m, 1),
        "topmost": lambda m: -centre(m, 0),
        "bottommost": lambda m: centre(m, 0),
        "lowest": lambda m: centre(m, 0),
        "smallest": lambda m: -int(m.sum()),
    }
    key = next((fn for word, fn in choose.items() if word in text.split()), lambda m: int(m.sum()))
    region = region_of(max(masks, key=key))
    if TASKS[item.task].output is OutputKind.BOX:
        return RegionsAnswer((box_region(region.box, size),), size, "box")
    return RegionsAnswer((region,), size, "mask")


def _canny(item: Item, palette: Palette | None) -> Answer:
    return EdgeAnswer(classical.canny_edges(as_array(item.prepared.image)))


CLASSICAL: dict[str, tuple[str, Callable[[Item, Palette | None], Answer]]] = {
    **{task: (name, _restore(fn)) for task, (name, fn) in classical.BASELINES.items()},
    "inpaint": ("telea", _telea),
    "outpaint": ("replicate", _replicate),
    "ground_highlight": ("color_threshold", _color_threshold),
    "ground_box": ("color_threshold", _color_threshold),
    "ground_mask": ("color_threshold", _color_threshold),
    "canny": ("canny", _canny),
    "hed": ("canny", _canny),
    "sketch": ("canny", _canny),
    "lineart": ("canny", _canny),
}
"""Task → (baseline name, system)."""


def constant_for(task: str, truths: Sequence[Answer]) -> Callable[[Item, Palette | None], Answer] | None:
    """The best single prediction for a dense task's test set (None for tasks without one).

    Depth: the mean distance (after the metrics' scale-and-shift alignment any constant scores the same);
    normals: the normalised mean normal; segmentation: the majority class.
    """
    output = TASKS[task].output
    if TASKS[task].family is not Family.DENSE:
        return None
    if output is OutputKind.DEPTH:
        value = float(np.mean([t.depth.mean() for t in truths]))
        return lambda item, palette: DepthAnswer(np.full(_shape(item), value, np.float32), "distance")
    if output is OutputKind.NORMAL:
        mean = np.sum([t.normals.reshape(-1, 3).sum(0) for t in truths], axis=0)
        mean = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return lambda item, palette: NormalAnswer(np.broadcast_to(mean, (*_shape(item), 3)).copy())
    if output is OutputKind.SEGMENT:
        counts = np.sum(
            [np.bincount(t.labels.ravel().astype(np.int64), minlength=256)[:256] for t in truths], axis=0
        )
        label, names = int(counts.argmax()), truths[0].names
        return lambda item, palette: LabelAnswer(np.full(_shape(item), label, np.int16), names)
    return None


def _shape(item: Item) -> tuple[int, int]:
    w, h = item.prepared.image.size
    return (h, w)
