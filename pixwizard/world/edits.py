"""PixWorld edits: an edit request, the scene before and after it, and the exact region it may change.

Notable features:
- Six kinds (``EDIT_KINDS``): recolour, remove, add, move, resize and background. Every edit is a pure
  function of the input scene and the generator's state; the global RNG is never touched.
- The object an edit talks about is named by a small private scheme, "the <colour> <shape>" or "the <shape>"
  when its shape alone is unique among the objects with a visible pixel, and it is at least
  ``TARGET_MIN_VISIBLE`` visible, so the request is unambiguous.
- ``Edit.region`` comes from the instance maps of both scenes, never from thresholding renders: the union of
  the edited object's visible pixels before and after, or the background pixels for ``background``. It is
  tight (no dilation), and every pixel of ``changed_pixels`` lies inside it.
- Edits keep the world's invariants: each object's circumscribed circle stays inside the image and keeps at
  least ``difficulty.min_visible`` of its pixels visible; a proposal that breaks them is retried.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pixwizard.world.difficulty import DIFFICULTY_V1, Difficulty
from pixwizard.world.scenes import (
    BACKGROUNDS,
    COLORS,
    SHAPES,
    Scene,
    SceneObject,
    instance_map,
    render,
    sample_background,
    visible_fraction,
)

EDIT_KINDS: tuple[str, ...] = ("recolour", "remove", "add", "move", "resize", "background")
"""Edit kinds, in a fixed order."""

TARGET_MIN_VISIBLE = 0.6
"""Least visible fraction of an object that an edit may name."""
EDIT_TRIES = 8
"""Proposals per kind before that kind counts as impossible for the scene."""
RECOLOUR_MIN_DISTANCE = 150.0
"""Least RGB (Euclidean) distance between an object's old and new colour."""
MOVE_MIN, MOVE_MAX = 0.15, 0.4
"""Range of a move's length, as a fraction of the image side along the move."""
SHRINK = (0.6, 0.75)
GROW = (1.3, 1.6)
"""Ranges of a resize's diameter ratio."""
AREA_DOUBLING = math.sqrt(2.0)
"""Diameter ratio of "twice as large" (and its inverse of "half as large"): the area doubles or halves."""
ADD_MIN_CONTRAST = 48.0
"""Least mean (over its pixels) of the largest channel change an added object makes, so it stands out."""
ADD_MARGIN = 0.05
"""Margin kept from a third's borders when placing an added object's centre, as a fraction of the side."""
SMALL_SHARE = 1.0 / 3.0
"""An added object is "small" when its size is in this lowest share of the difficulty's size range."""

_RECOLOUR = ("make {name} {color}", "turn {name} {color}", "change the colour of {name} to {color}")
_REMOVE = ("remove {name}", "delete {name}", "take out {name}", "get rid of {name}")
_ADD = ("add {obj} {where}", "put {obj} {where}")
_WHERE = (
    ("at the top left", "at the top", "at the top right"),
    ("on the left", "in the middle", "on the right"),
    ("at the bottom left", "at the bottom", "at the bottom right"),
)
"""Position phrases by ``[row][column]`` third of the image."""
_CENTRE = "in the centre"
"""The alternative phrase for the middle cell."""
_MOVES: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "left": ((-1, 0), ("move {name} to the left", "move {name} left", "shift {name} to the left")),
    "right": ((1, 0), ("move {name} to the right", "move {name} right", "shift {name} to the right")),
    "up": ((0, -1), ("move {name} up", "move {name} upwards", "shift {name} up")),
    "down": ((0, 1), ("move {name} down", "move {name} downwards", "shift {name} down")),
}
"""Move directions: unit step in image axes (y down) and request templates."""
_GROW_TEXT = ("make {name} bigger", "make {name} larger", "enlarge {name}")
_SHRINK_TEXT = ("make {name} smaller", "shrink {name}")
_DOUBLE_TEXT = "make {name} twice as large"
_HALVE_TEXT = "make {name} half as large"
_BACKGROUND_NOUN = {
    "flat": "a plain colour",
    "gradient": "a gradient",
    "stripes": "stripes",
    "checker": "a checkerboard",
    "noise": "noise",
    "horizon": "a horizon of sky and ground",
}
_BACKGROUND_COMPLEMENT = {
    "flat": "plain",
    "gradient": "a gradient",
    "stripes": "striped",
    "checker": "checkered",
    "noise": "noisy",
    "horizon": "a horizon of sky and ground",
}
"""What follows "make the background"."""
_BACKGROUND_ADJECTIVE = {"flat": "plain", "stripes": "striped", "checker": "checkered", "noise": "noisy"}
"""Kinds that read well in "a <adjective> one"."""
_BACKGROUND_TEXT = (
    "change the background to {noun}",
    "replace the background with {noun}",
    "put the objects on {noun}",
    "make the background {complement}",
)
_BACKGROUND_ADJECTIVE_TEXT = "change the background to a {adjective} one"


@dataclass(frozen=True, eq=False)
class Edit:
    """One edit: the request, the scenes before and after it, and the pixels it may change.

    Equality compares every field (the region by value); an ``Edit`` is not hashable.
    """

    kind: str
    """A kind in ``EDIT_KINDS``."""
    before: Scene
    after: Scene
    text: str
    """The edit request, e.g. "make the red circle blue"."""
    region: np.ndarray
    """``(H, W)`` bool, read-only: exactly the pixels that may change (see the module docstring)."""

    def __post_init__(self) -> None:
        if self.kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {self.kind!r}; use one of {EDIT_KINDS}")
        shape = (self.before.height, self.before.width)
        if (self.after.height, self.after.width) != shape:
            raise ValueError(f"after must keep the size of before {shape[::-1]} (width, height)")
        region = np.asarray(self.region)
        if region.shape != shape or region.dtype != bool:
            raise ValueError(f"region must be bool of shape {shape}, got {region.dtype} {region.shape}")
        region = region.copy()
        region.setflags(write=False)
        object.__setattr__(self, "region", region)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Edit):
            return NotImplemented
        return (self.kind, self.before, self.after, self.text) == (
            other.kind,
            other.before,
            other.after,
            other.text,
        ) and bool(np.array_equal(self.region, other.region))


@dataclass(frozen=True)
class _Proposal:
    """A candidate edit before its checks: ``k_before``/``k_after`` are the edited object's ids (0: none)."""

    after: Scene
    text: str
    k_before: int
    k_after: int


def changed_pixels(e: Edit) -> np.ndarray:
    """Where ``render(e.before)`` and ``render(e.after)`` differ, as an ``(H, W)`` bool array."""
    return (np.asarray(render(e.before)) != np.asarray(render(e.after))).any(axis=-1)


def make_edit(
    s: Scene, rng: np.random.Generator, difficulty: Difficulty = DIFFICULTY_V1, *, kind: str | None = None
) -> Edit | None:
    """Propose a random edit of scene ``s``.

    Args:
        s: The scene to edit; it becomes ``Edit.before`` unchanged.
        rng: The only source of randomness: the same state gives the same edit.
        difficulty: The difficulty whose ``min_visible`` (and size range, texture rate and backgrounds for
            added objects and new backgrounds) the edited scene keeps.
        kind: One of ``EDIT_KINDS``; ``None`` draws uniformly among the kinds possible for ``s``.

    Returns:
        The edit, or ``None`` when no edit of the asked kind (any kind, for ``None``) fits the scene.

    Raises:
        ValueError: If ``kind`` is not one of ``EDIT_KINDS``.
    """
    if kind is not None and kind not in EDIT_KINDS:
        raise ValueError(f"unknown edit kind {kind!r}; use one of {EDIT_KINDS} or None")
    # Trying kinds in a random order, the first that succeeds is uniform over the possible ones.
    order = [kind] if kind is not None else [EDIT_KINDS[i] for i in rng.permutation(len(EDIT_KINDS))]
    for k in order:
        for _ in range(EDIT_TRIES):
            edit = _attempt(s, rng, difficulty, k)
            if edit is not None:
                return edit
    return None


def _attempt(s: Scene, rng: np.random.Generator, difficulty: Difficulty, kind: str) -> Edit | None:
    proposal = _PROPOSERS[kind](s, rng, difficulty)
    if proposal is None:
        return None
    edit = Edit(
        kind=kind,
        before=s,
        after=proposal.after,
        text=proposal.text,
        region=_region(kind, s, proposal),
    )
    return edit if _acceptable(edit, difficulty) else None


def _region(kind: str, s: Scene, p: _Proposal) -> np.ndarray:
    inst_before, inst_after = instance_map(s), instance_map(p.after)
    if kind == "background":
        return (inst_before == 0) & (inst_after == 0)
    region = np.zeros(inst_before.shape, dtype=bool)
    if p.k_before:
        region |= inst_before == p.k_before
    if p.k_after:
        region |= inst_after == p.k_after
    return region


def _acceptable(e: Edit, difficulty: Difficulty) -> bool:
    after = e.after
    if not all(_inside(o, after) for o in after.objects):
        return False
    if any(visible_fraction(after, k) < difficulty.min_visible for k in range(1, len(after.objects) + 1)):
        return False
    before_rgb = np.asarray(render(e.before)).astype(np.int16)
    after_rgb = np.asarray(render(after)).astype(np.int16)
    changed = (before_rgb != after_rgb).any(axis=-1)
    if not changed.any():
        return False
    assert not (changed & ~e.region).any(), "an edit changed pixels outside its region"
    if e.kind == "add":
        contrast = np.abs(after_rgb - before_rgb).max(axis=-1)[e.region].mean()
        return bool(contrast >= ADD_MIN_CONTRAST)
    return True


def _inside(o: SceneObject, s: Scene) -> bool:
    r = o.size / 2
    x, y = o.center
    return r <= x <= s.width - r and r <= y <= s.height - r


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _names(s: Scene) -> dict[int, tuple[str, ...]]:
    """Unique names of the objects an edit may talk about: ids with ``TARGET_MIN_VISIBLE``, by id."""
    inst = instance_map(s)
    seen = [k for k in range(1, len(s.objects) + 1) if (inst == k).any()]
    shapes = [s.objects[k - 1].shape for k in seen]
    pairs = [(s.objects[k - 1].color, s.objects[k - 1].shape) for k in seen]
    names: dict[int, tuple[str, ...]] = {}
    for k in seen:
        o = s.objects[k - 1]
        if visible_fraction(s, k) < TARGET_MIN_VISIBLE:
            continue
        options = []
        if pairs.count((o.color, o.shape)) == 1:
            options.append(f"the {o.color} {o.shape}")
        if shapes.count(o.shape) == 1:
            options.append(f"the {o.shape}")
        if options:
            names[k] = tuple(options)
    return names


def _target(s: Scene, rng: np.random.Generator) -> tuple[int, str] | None:
    names = _names(s)
    if not names:
        return None
    k = sorted(names)[int(rng.integers(len(names)))]
    return k, _pick(rng, names[k])


def _replace_object(s: Scene, k: int, **changes: object) -> Scene:
    objects = list(s.objects)
    objects[k - 1] = dataclasses.replace(objects[k - 1], **changes)
    return dataclasses.replace(s, objects=tuple(objects))


def _propose_recolour(s: Scene, rng: np.random.Generator, difficulty: Difficulty) -> _Proposal | None:
    picked = _target(s, rng)
    if picked is None:
        return None
    k, name = picked
    old = np.array(COLORS[s.objects[k - 1].color], dtype=np.float64)
    far = [c for c, rgb in COLORS.items() if np.linalg.norm(np.subtract(rgb, old)) >= RECOLOUR_MIN_DISTANCE]
    color = _pick(rng, far)
    text = _pick(rng, _RECOLOUR).format(name=name, color=color)
    return _Proposal(_replace_object(s, k, color=color), text, k, k)


def _propose_remove(s: Scene, rng: np.random.Generator, difficulty: Difficulty) -> _Proposal | None:
    picked = _target(s, rng)
    if picked is None:
        return None
    k, name = picked
    kept = [o for i, o in enumerate(s.objects, start=1) if i != k]
    objects = tuple(dataclasses.replace(o, z=z) for z, o in enumerate(kept))
    text = _pick(rng, _REMOVE).format(name=name)
    return _Proposal(dataclasses.replace(s, objects=objects), text, k, 0)


def _third_range(cell: int, side: int, r: float) -> tuple[float, float]:
    # Centre inside third `cell` (kept ADD_MARGIN from its borders) and the whole object inside the image.
    margin = ADD_MARGIN * side
    lo, hi = cell * side / 3 + margin, (cell + 1) * side / 3 - margin
    return max(lo, r), min(hi, side - r)


def _propose_add(s: Scene, rng: np.random.Generator, difficulty: Difficulty) -> _Proposal | None:
    taken = {(o.color, o.shape) for o in s.objects}
    free = [(c, sh) for c in COLORS for sh in SHAPES if (c, sh) not in taken]
    if not free:
        return None
    color, shape = free[int(rng.integers(len(free)))]
    short = min(s.width, s.height)
    share = rng.uniform(0.0, 1.0)
    size = float((difficulty.min_size + share * (difficulty.max_size - difficulty.min_size)) * short)
    col, row = int(rng.integers(3)), int(rng.integers(3))
    (x_lo, x_hi), (y_lo, y_hi) = _third_range(col, s.width, size / 2), _third_range(row, s.height, size / 2)
    if x_lo > x_hi or y_lo > y_hi:
        return None
    obj = SceneObject(
        shape=shape,
        color=color,
        center=(float(rng.uniform(x_lo, x_hi)), float(rng.uniform(y_lo, y_hi))),
        size=size,
        rotation=float(rng.uniform(0.0, 2 * math.pi)),
        z=len(s.objects),
        textured=bool(rng.random() < difficulty.texture_prob),
    )
    small = "small " if share <= SMALL_SHARE and rng.random() < 0.5 else ""
    article = "an" if (small or color)[0] in "aeiou" else "a"
    where = _CENTRE if (row, col) == (1, 1) and rng.random() < 0.5 else _WHERE[row][col]
    text = _pick(rng, _ADD).format(obj=f"{article} {small}{color} {shape}", where=where)
    after = dataclasses.replace(s, objects=(*s.objects, obj))
    return _Proposal(after, text, 0, len(after.objects))


def _propose_move(s: Scene, rng: np.random.Generator, difficulty: Difficulty) -> _Proposal | None:
    picked = _target(s, rng)
    if picked is None:
        return None
    k, name = picked
    o = s.objects[k - 1]
    r, (x, y) = o.size / 2, o.center
    # Room towards each direction before the object would leave the image, in pixels, and the side length.
    room = {"left": (x - r, s.width), "right": (s.width - r - x, s.width)}
    room |= {"up": (y - r, s.height), "down": (s.height - r - y, s.height)}
    possible = [d for d, (free, side) in room.items() if free >= MOVE_MIN * side]
    if not possible:
        return None
    direction = _pick(rng, possible)
    free, side = room[direction]
    step = float(rng.uniform(MOVE_MIN * side, min(free, MOVE_MAX * side)))
    (ux, uy), templates = _MOVES[direction]
    after = _replace_object(s, k, center=(x + ux * step, y + uy * step))
    return _Proposal(after, _pick(rng, templates).format(name=name), k, k)


def _propose_resize(s: Scene, rng: np.random.Generator, difficulty: Difficulty) -> _Proposal | None:
    picked = _target(s, rng)
    if picked is None:
        return None
    k, name = picked
    grow = bool(rng.random() < 0.5)
    if rng.random() < 0.25:
        scale, template = (AREA_DOUBLING, _DOUBLE_TEXT) if grow else (1 / AREA_DOUBLING, _HALVE_TEXT)
    else:
        scale = float(rng.uniform(*(GROW if grow else SHRINK)))
        template = _pick(rng, _GROW_TEXT if grow else _SHRINK_TEXT)
    # The centre stays put; a size that no longer fits is caught by the inside check.
    after = _replace_object(s, k, size=s.objects[k - 1].size * scale)
    return _Proposal(after, template.format(name=name), k, k)


def _propose_background(s: Scene, rng: np.random.Generator, difficulty: Difficulty) -> _Proposal | None:
    kinds = [b for b in BACKGROUNDS if b != s.background.kind]
    new_kind = _pick(rng, kinds)
    # One sampler for background colours and parameters: the scene generator's, restricted to new_kind.
    background = sample_background(rng, dataclasses.replace(difficulty, backgrounds=((new_kind, 1.0),)))
    templates = list(_BACKGROUND_TEXT)
    if new_kind in _BACKGROUND_ADJECTIVE:
        templates.append(_BACKGROUND_ADJECTIVE_TEXT)
    text = _pick(rng, templates).format(
        noun=_BACKGROUND_NOUN[new_kind],
        complement=_BACKGROUND_COMPLEMENT[new_kind],
        adjective=_BACKGROUND_ADJECTIVE.get(new_kind, ""),
    )
    return _Proposal(dataclasses.replace(s, background=background), text, 0, 0)


_PROPOSERS: dict[str, Callable[[Scene, np.random.Generator, Difficulty], _Proposal | None]] = {
    "recolour": _propose_recolour,
    "remove": _propose_remove,
    "add": _propose_add,
    "move": _propose_move,
    "resize": _propose_resize,
    "background": _propose_background,
}
assert tuple(_PROPOSERS) == EDIT_KINDS
