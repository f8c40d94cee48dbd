"""Captions of PixWorld scenes: what a text-to-image prompt for a scene would say, and its negatives.

Notable features:
- A caption names every object that is clearly visible, merging equal descriptions into counts ("two
  green squares"), and the background kind. Clearly visible (``is_captioned``): at least
  ``CAPTION_MIN_VISIBLE`` of its own area shows, and its visible pixels neither touch nor lie one pixel
  from the visible pixels of another object of the same colour, with which it would read as one blob.
- ``Caption.objects`` lists one ``(color, shape)`` pair per mentioned object, in the order of the text,
  so a detector can be asked for exactly what the caption promises (a count of two asks for two).
- An optional ``numpy`` generator varies the order and the connecting words; the same generator state
  always gives the same caption, and no generator gives the canonical (back-to-front) caption.
- ``wrong_caption`` names only ``(color, shape)`` pairs absent from the scene, for negative tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pixwizard.world.scenes import COLORS, SHAPES, Scene, instance_map, visible_fraction

__all__ = [
    "CAPTION_MIN_VISIBLE",
    "Caption",
    "caption",
    "is_captioned",
    "merges_with_same_color",
    "visible_fraction",
    "wrong_caption",
]

CAPTION_MIN_VISIBLE = 0.75
"""Objects with less of their own area visible are left out of captions.

A caption must only promise what a person clearly sees. Scenes keep as little as
``DIFFICULTY_V1.min_visible`` (0.2) of an object; a sliver that small no longer shows its shape. Between
0.6 and 0.75 an occluder typically cuts away a whole corner, point or arm (a square with a corner gone
reads as a pentagon, a star with two points gone as a blob), so a reader could not be held to the shape
either (the classical detector, ``pixwizard.eval.detector``, found under half of them on oracle renders).
From 0.75 the outline is still plainly there."""

BACKGROUND_PHRASES: dict[str, str] = {
    "flat": "a plain background",
    "gradient": "a gradient background",
    "stripes": "a striped background",
    "checker": "a checkered background",
    "noise": "a noisy background",
    "horizon": "a horizon with sky and ground",
}
"""How each background kind is worded."""

CONNECTORS: tuple[str, ...] = ("on", "in front of", "against")
"""Words between the objects and the background; the first is the canonical one."""

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class Caption:
    """A scene description and the facts it states."""

    text: str
    """The sentence, e.g. ``"a red circle and two blue striped stars on a checkered background"``."""
    objects: tuple[tuple[str, str], ...]
    """One ``(color, shape)`` pair per mentioned object, in the order of the text."""
    background: str
    """The background kind (a key of ``BACKGROUND_PHRASES``)."""


@dataclass(frozen=True)
class _Group:
    color: str
    shape: str
    striped: bool
    count: int


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith(("s", "x", "sh", "ch")) else "s")


def _phrase(group: _Group) -> str:
    words = [group.color, "striped"] if group.striped else [group.color]
    if group.count == 1:
        return " ".join(["a", *words, group.shape])
    number = _NUMBERS[group.count] if group.count < len(_NUMBERS) else str(group.count)
    return " ".join([number, *words, _plural(group.shape)])


def _join(phrases: list[str]) -> str:
    if len(phrases) <= 2:
        return " and ".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _groups(descriptions: list[tuple[str, str, bool]]) -> list[_Group]:
    # Equal descriptions merge into one counted group, placed where the first of them appears.
    counts: dict[tuple[str, str, bool], int] = {}
    for d in descriptions:
        counts[d] = counts.get(d, 0) + 1
    return [_Group(color=c, shape=s, striped=t, count=n) for (c, s, t), n in counts.items()]


def _compose(groups: list[_Group], background: str, rng: np.random.Generator | None) -> Caption:
    if background not in BACKGROUND_PHRASES:
        raise ValueError(f"unknown background kind {background!r}; use one of {tuple(BACKGROUND_PHRASES)}")
    bg_text = BACKGROUND_PHRASES[background]
    if not groups:
        return Caption(text=bg_text, objects=(), background=background)
    connector = CONNECTORS[0]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
        connector = CONNECTORS[int(rng.integers(len(CONNECTORS)))]
    text = f"{_join([_phrase(g) for g in groups])} {connector} {bg_text}"
    objects = tuple((g.color, g.shape) for g in groups for _ in range(g.count))
    return Caption(text=text, objects=objects, background=background)


def _check_rng(rng: np.random.Generator | None, required: bool) -> None:
    if rng is None and not required:
        return
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {rng!r}")


def _grow(mask: np.ndarray) -> np.ndarray:
    # The mask with its 8 neighbours: every pixel within one pixel (Chebyshev) of it.
    padded = np.pad(mask, 1)
    h, w = mask.shape
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy : dy + h, dx : dx + w]
    return out


def _merges(s: Scene, inst: np.ndarray, k: int) -> bool:
    # Growing twice reaches every pixel at Chebyshev distance <= 2 from object k.
    color = s.objects[k - 1].color
    near = np.unique(inst[_grow(_grow(inst == k))])
    return any(j not in (0, k) and s.objects[j - 1].color == color for j in near.tolist())


def merges_with_same_color(s: Scene, k: int) -> bool:
    """Whether object ``k``'s visible pixels touch, or lie one pixel from, those of a same-coloured one.

    Two touching objects of one colour (striped or not) show as a single blob of that colour, with no
    edge between them: a person sees one odd shape, not the two that are there, so neither is captioned.
    A seam of a single background pixel is counted as touching too: it is barely visible at these sizes
    and the slightest blur closes it.

    Args:
        s: The scene.
        k: 1-based z-order id, as in ``instance_map``.

    Returns:
        True when a visible pixel of another object of ``k``'s colour lies within two pixels
        (Chebyshev distance, so at most one pixel between them) of a visible pixel of ``k``.

    Raises:
        ValueError: If ``k`` is out of range.
    """
    if not 1 <= k <= len(s.objects):
        raise ValueError(f"object id k={k} out of range: this scene has ids 1..{len(s.objects)}")
    return _merges(s, instance_map(s), k)


def is_captioned(s: Scene, k: int) -> bool:
    """Whether ``caption`` mentions object ``k``: it is clearly visible and reads as its own blob.

    Args:
        s: The scene.
        k: 1-based z-order id.

    Returns:
        ``visible_fraction(s, k) >= CAPTION_MIN_VISIBLE`` and not ``merges_with_same_color(s, k)``.

    Raises:
        ValueError: If ``k`` is out of range.
    """
    return visible_fraction(s, k) >= CAPTION_MIN_VISIBLE and not merges_with_same_color(s, k)


def caption(s: Scene, rng: np.random.Generator | None = None) -> Caption:
    """Describe a scene's clearly visible objects and its background.

    Args:
        s: The scene.
        rng: Optional generator that varies the order of the object phrases and the connecting word;
            ``None`` gives the canonical caption (objects back to front, "on").

    Returns:
        The caption; only objects for which ``is_captioned`` holds are mentioned (at least
        ``CAPTION_MIN_VISIBLE`` visible, not touching another object of the same colour), and a scene
        without any such object is described by its background alone (``objects == ()``).

    Raises:
        ValueError: If ``rng`` is not a numpy generator or the background kind is unknown.
    """
    _check_rng(rng, required=False)
    shown = [(o.color, o.shape, o.textured) for k, o in enumerate(s.objects, start=1) if is_captioned(s, k)]
    return _compose(_groups(shown), s.background.kind, rng)


def wrong_caption(s: Scene, rng: np.random.Generator) -> Caption:
    """A caption of ``(color, shape)`` pairs none of which is in the scene, at any visibility.

    It names as many objects as ``caption(s)`` does (at least one, at most four), each pair once, on the
    scene's own background kind.

    Args:
        s: The scene.
        rng: Generator that picks the absent pairs and varies the wording.

    Returns:
        The negative caption.

    Raises:
        ValueError: If ``rng`` is not a numpy generator.
    """
    _check_rng(rng, required=True)
    present = {(o.color, o.shape) for o in s.objects}
    absent = [pair for pair in itertools.product(COLORS, SHAPES) if pair not in present]
    n = min(max(1, len(caption(s).objects)), 4, len(absent))
    picks = rng.choice(len(absent), size=n, replace=False)
    groups = [_Group(color=absent[i][0], shape=absent[i][1], striped=False, count=1) for i in picks]
    return _compose(groups, s.background.kind, rng)
