"""Referring expressions over PixWorld scenes: one phrase that picks out exactly one object.

Grammar (our own; every phrase starts with "the"):

- attribute: ``the [striped|plain] [COLOR] (SHAPE|object)``, e.g. "the red circle", "the striped star".
- superlative: ``the (largest|biggest|smallest) NP``, e.g. "the biggest red object".
- position: ``the (leftmost|rightmost|topmost|bottommost|lowest) NP``, e.g. "the rightmost circle".
- relation: ``NP1 (behind|in front of|to the left of|to the right of|above|below) NP2``, where both
  sides are attribute phrases, e.g. "the blue star behind the triangle".

Notable features:

- Referable vs. distractor. Only objects with ``visible_fraction >= MIN_REFERABLE`` are ever the target
  (or the landmark of a relation), but every object with any visible pixel counts when uniqueness is
  judged: a half-hidden second circle still makes "the circle" ambiguous to a person.
- Two readings. ``matches`` is deliberately generous: it returns every visible object that a reader
  could take a phrase to mean (anything not clearly excluded by a margin). ``refer`` only emits a phrase
  when that generous reading is exactly its target *and* the target meets the strict, clear-margin form
  of the phrase. So ``matches(s, refer(s, rng).text) == [target]`` proves the phrase is unambiguous.
- Perceived extent. A partly hidden object's true size and edges lie between what is visible and its own
  full outline, so superlatives and positions compare intervals ``[visible, full]``: the winner must beat
  every rival's most favourable reading by the margin.
- Relations need a unique landmark (its own simplest attribute phrase), are read existentially by
  ``matches`` (a target related to any object the landmark phrase denotes), and prefer a target phrase
  that the relation actually disambiguates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import product

import numpy as np

from pixwizard.world.difficulty import DIFFICULTY_V1, Difficulty
from pixwizard.world.scenes import COLORS, SHAPES, Scene, instance_map, visible_fraction
from pixwizard.world.shapes import rasterise

KINDS: tuple[str, ...] = ("attribute", "superlative", "position", "relation")
"""Kinds of referring expression, simplest first."""

MIN_REFERABLE = 0.5
"""Smallest ``visible_fraction`` of an object that may be the target or landmark of a phrase."""
SIZE_RATIO = 1.25
"""A superlative's winner is at least this many times larger (or smaller) in area than every rival."""
POSITION_MARGIN_PX = 3.0
POSITION_MARGIN_FRAC = 0.05
"""A position's winning box edge leads every rival's by at least the larger of these (px, share of side)."""
RELATION_MARGIN_PX = 3.0
RELATION_MARGIN_FRAC = 0.1
"""Left/right/above/below: centroids differ by at least the larger of these (px, share of the side)."""
MAX_AXIS_OVERLAP = 0.25
"""Left/right/above/below: the visible boxes overlap along the axis by at most this share of the smaller."""
MIN_OCCLUSION_PX = 4
MIN_OCCLUSION_FRAC = 0.05
"""Behind/in front: the front object visibly covers at least the larger of these (px, share of the back
object's own area) of the back object, right next to the back object's visible pixels."""

TEXTURE_WORDS: tuple[str, ...] = ("striped", "plain")
OBJECT_NOUN = "object"
SUPERLATIVE_WORDS: dict[str, str] = {"largest": "largest", "biggest": "largest", "smallest": "smallest"}
"""Surface word -> concept."""
POSITION_WORDS: dict[str, str] = {
    "leftmost": "leftmost",
    "rightmost": "rightmost",
    "topmost": "topmost",
    "bottommost": "bottommost",
    "lowest": "bottommost",
}
"""Surface word -> concept."""
RELATION_WORDS: tuple[str, ...] = (
    "behind",
    "in front of",
    "to the left of",
    "to the right of",
    "above",
    "below",
)


@dataclass(frozen=True)
class Referral:
    """A phrase that denotes exactly one object of a scene."""

    text: str
    """The phrase, e.g. ``"the red circle"``."""
    target: int
    """1-based instance id of the object (``scene.objects[target - 1]``, as in ``instance_map``)."""
    kind: str
    """One of ``KINDS``."""


@dataclass(frozen=True)
class _Noun:
    """An attribute phrase: each field ``None`` when the phrase leaves it open."""

    texture: str | None = None
    color: str | None = None
    shape: str | None = None

    @property
    def size(self) -> int:
        return sum(f is not None for f in (self.texture, self.color, self.shape))

    def words(self) -> str:
        return " ".join(w for w in (self.texture, self.color, self.shape or OBJECT_NOUN) if w is not None)


@dataclass(frozen=True)
class _Expr:
    """A parsed phrase: a noun, plus a modifier concept or a relation with a landmark noun."""

    noun: _Noun
    modifier: str | None = None
    relation: str | None = None
    landmark: _Noun | None = None


@dataclass(frozen=True)
class _Obj:
    """What a viewer can see of one object, precomputed."""

    id: int
    shape: str
    color: str
    texture: str
    referable: bool
    area: tuple[float, float]
    """``(visible, full)`` pixel counts."""
    box_vis: tuple[int, int, int, int]
    box_full: tuple[int, int, int, int]
    """``(x0, y0, x1, y1)``, ends exclusive."""
    centroid_vis: tuple[float, float]
    centroid_full: tuple[float, float]


@dataclass(frozen=True)
class _Facts:
    """Per-scene facts: visible objects and the loose and strict relation pairs ``(a, b)``."""

    width: int
    height: int
    objects: tuple[_Obj, ...]
    """Objects with at least one visible pixel, by id."""
    loose: dict[str, frozenset[tuple[int, int]]]
    strict: dict[str, frozenset[tuple[int, int]]]


# ---------------------------------------------------------------------------------------------- facts


def _box_and_centroid(mask: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[float, float]]:
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return box, (float(xs.mean()) + 0.5, float(ys.mean()) + 0.5)


def _full_masks(s: Scene) -> list[np.ndarray]:
    masks = []
    for o in s.objects:
        (y0, y1, x0, x1), inside, _, _ = rasterise(o.shape, o.center, o.size, o.rotation, s.width, s.height)
        mask = np.zeros((s.height, s.width), dtype=bool)
        mask[y0:y1, x0:x1] = inside
        masks.append(mask)
    return masks


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _occlusion_pairs(
    ids: list[int], vis: dict[int, np.ndarray], full: dict[int, np.ndarray]
) -> tuple[frozenset[tuple[int, int]], frozenset[tuple[int, int]]]:
    """``(back, front)`` pairs: loose when the outlines overlap, strict when the cover is clearly visible."""
    loose, strict = set(), set()
    for back, front in product(ids, ids):
        if back >= front or not (full[back] & full[front]).any():
            continue
        loose.add((back, front))
        covered = full[back] & vis[front]
        need = max(MIN_OCCLUSION_PX, MIN_OCCLUSION_FRAC * np.count_nonzero(full[back]))
        if np.count_nonzero(covered) >= need and (_dilate(vis[back]) & covered).any():
            strict.add((back, front))
    return frozenset(loose), frozenset(strict)


def _before(a: _Obj, b: _Obj, axis: int, margin: float) -> tuple[bool, bool]:
    """Whether ``a`` lies before ``b`` along ``axis`` (0: left of, 1: above), loosely and strictly."""
    dv = b.centroid_vis[axis] - a.centroid_vis[axis]
    df = b.centroid_full[axis] - a.centroid_full[axis]
    overlap = min(a.box_vis[axis + 2], b.box_vis[axis + 2]) - max(a.box_vis[axis], b.box_vis[axis])
    extent = min(a.box_vis[axis + 2] - a.box_vis[axis], b.box_vis[axis + 2] - b.box_vis[axis])
    strict = dv >= margin and df >= margin and overlap <= MAX_AXIS_OVERLAP * extent
    return dv > 0 or df > 0, strict


def _directional_pairs(
    objs: tuple[_Obj, ...], width: int, height: int
) -> dict[str, tuple[set[tuple[int, int]], set[tuple[int, int]]]]:
    out: dict[str, tuple[set[tuple[int, int]], set[tuple[int, int]]]] = {
        r: (set(), set()) for r in ("to the left of", "to the right of", "above", "below")
    }
    for axis, (first, second), side in (
        (0, ("to the left of", "to the right of"), width),
        (1, ("above", "below"), height),
    ):
        margin = max(RELATION_MARGIN_PX, RELATION_MARGIN_FRAC * side)
        for a, b in product(objs, objs):
            if a.id == b.id:
                continue
            loose, strict = _before(a, b, axis, margin)
            for rel, pair in ((first, (a.id, b.id)), (second, (b.id, a.id))):
                if loose:
                    out[rel][0].add(pair)
                if strict:
                    out[rel][1].add(pair)
    return out


@lru_cache(maxsize=8)
def _facts(s: Scene) -> _Facts:
    # Cached like the scene rasters: tests call ``refer`` and then ``matches`` on the same scene.
    inst = instance_map(s)
    full_list = _full_masks(s)
    objs, vis, full = [], {}, {}
    for k, (o, fm) in enumerate(zip(s.objects, full_list, strict=True), start=1):
        vm = inst == k
        if not vm.any():
            continue
        box_vis, c_vis = _box_and_centroid(vm)
        box_full, c_full = _box_and_centroid(fm)
        objs.append(
            _Obj(
                id=k,
                shape=o.shape,
                color=o.color,
                texture="striped" if o.textured else "plain",
                referable=visible_fraction(s, k) >= MIN_REFERABLE,
                area=(float(np.count_nonzero(vm)), float(np.count_nonzero(fm))),
                box_vis=box_vis,
                box_full=box_full,
                centroid_vis=c_vis,
                centroid_full=c_full,
            )
        )
        vis[k], full[k] = vm, fm
    objects = tuple(objs)
    behind_loose, behind_strict = _occlusion_pairs([o.id for o in objects], vis, full)
    loose = {"behind": behind_loose, "in front of": frozenset((b, a) for a, b in behind_loose)}
    strict = {"behind": behind_strict, "in front of": frozenset((b, a) for a, b in behind_strict)}
    for rel, (lo, st) in _directional_pairs(objects, s.width, s.height).items():
        loose[rel], strict[rel] = frozenset(lo), frozenset(st)
    return _Facts(width=s.width, height=s.height, objects=objects, loose=loose, strict=strict)


# --------------------------------------------------------------------------------------------- meaning


def _denotes(facts: _Facts, noun: _Noun) -> list[_Obj]:
    return [
        o
        for o in facts.objects
        if noun.texture in (None, o.texture)
        and noun.color in (None, o.color)
        and noun.shape in (None, o.shape)
    ]


def _interval(facts: _Facts, o: _Obj, concept: str) -> tuple[float, float, bool, float]:
    """``(low, high, want_min, margin)`` of a concept's perceived quantity for ``o``."""
    if concept in ("largest", "smallest"):
        return math.log(o.area[0]), math.log(o.area[1]), concept == "smallest", math.log(SIZE_RATIO)
    x_margin = max(POSITION_MARGIN_PX, POSITION_MARGIN_FRAC * facts.width)
    y_margin = max(POSITION_MARGIN_PX, POSITION_MARGIN_FRAC * facts.height)
    # The hidden part of an object can only push its true edge outwards from the visible edge.
    if concept == "leftmost":
        return o.box_full[0], o.box_vis[0], True, x_margin
    if concept == "topmost":
        return o.box_full[1], o.box_vis[1], True, y_margin
    if concept == "rightmost":
        return o.box_vis[2], o.box_full[2], False, x_margin
    return o.box_vis[3], o.box_full[3], False, y_margin


def _extreme(facts: _Facts, members: list[_Obj], concept: str) -> list[int]:
    """Members that could be the extreme one: everyone not beaten by the margin in every reading."""
    if not members:
        return []
    spans = [_interval(facts, o, concept) for o in members]
    want_min, margin = spans[0][2], spans[0][3]
    if want_min:
        best = min(hi for _, hi, _, _ in spans)
        return [o.id for o, (lo, _, _, _) in zip(members, spans, strict=True) if lo < best + margin]
    best = max(lo for lo, _, _, _ in spans)
    return [o.id for o, (_, hi, _, _) in zip(members, spans, strict=True) if hi > best - margin]


def _evaluate(facts: _Facts, expr: _Expr) -> list[int]:
    members = _denotes(facts, expr.noun)
    if expr.modifier is not None:
        return _extreme(facts, members, expr.modifier)
    if expr.relation is not None and expr.landmark is not None:
        pairs = facts.loose[expr.relation]
        marks = [b.id for b in _denotes(facts, expr.landmark)]
        return [a.id for a in members if any((a.id, b) in pairs for b in marks)]
    return [o.id for o in members]


# ---------------------------------------------------------------------------------------------- parser


def _grammar_error(text: str) -> ValueError:
    return ValueError(f"{text!r} is not in the referring grammar; see pixwizard.world.referring's docstring")


def _parse_noun(words: list[str], text: str) -> _Noun:
    rest = list(words)
    texture = rest.pop(0) if rest and rest[0] in TEXTURE_WORDS else None
    color = rest.pop(0) if rest and rest[0] in COLORS else None
    if len(rest) != 1 or rest[0] not in (*SHAPES, OBJECT_NOUN):
        raise _grammar_error(text)
    return _Noun(texture=texture, color=color, shape=None if rest[0] == OBJECT_NOUN else rest[0])


def _parse(text: str) -> _Expr:
    words = text.strip().lower().rstrip(".").split()
    padded = " ".join(words)
    for rel in RELATION_WORDS:
        left, sep, right = padded.partition(f" {rel} ")
        if sep:
            lw, rw = left.split(), right.split()
            if lw[:1] != ["the"] or rw[:1] != ["the"]:
                raise _grammar_error(text)
            return _Expr(noun=_parse_noun(lw[1:], text), relation=rel, landmark=_parse_noun(rw[1:], text))
    if words[:1] != ["the"]:
        raise _grammar_error(text)
    words = words[1:]
    concept = {**SUPERLATIVE_WORDS, **POSITION_WORDS}.get(words[0]) if words else None
    if concept is not None:
        return _Expr(noun=_parse_noun(words[1:], text), modifier=concept)
    return _Expr(noun=_parse_noun(words, text))


def matches(s: Scene, text: str) -> list[int]:
    """The ids (ascending) of every visible object a reader could take ``text`` to mean.

    This is the generous reading: superlatives and positions keep every rival within the margin, and
    relations keep every object loosely in that relation to any object the landmark phrase denotes.

    Args:
        s: The scene.
        text: A phrase of this module's grammar (case and a final full stop are ignored).

    Returns:
        Sorted instance ids; exactly one id means the phrase is unambiguous.

    Raises:
        ValueError: If ``text`` is not in the grammar.
    """
    return sorted(_evaluate(_facts(s), _parse(text)))


# ------------------------------------------------------------------------------------------ generation


def _nouns(o: _Obj, *, need_shape: bool = False) -> list[_Noun]:
    """Every attribute phrase that fits ``o``, fewest words first."""
    nouns = [
        _Noun(texture=t, color=c, shape=sh)
        for t, c, sh in product((None, o.texture), (None, o.color), (None, o.shape))
        if sh is not None or not need_shape
    ]
    return sorted(nouns, key=lambda n: n.size)


def _simplest(options: list[tuple[int, str]]) -> list[str]:
    least = min(size for size, _ in options)
    return [text for size, text in options if size == least]


def _attribute_options(facts: _Facts) -> dict[int, list[str]]:
    out = {}
    for o in facts.objects:
        unique = [
            (n.size, f"the {n.words()}") for n in _nouns(o) if _evaluate(facts, _Expr(noun=n)) == [o.id]
        ]
        if o.referable and unique:
            out[o.id] = _simplest(unique)
    return out


def _modifier_options(facts: _Facts, concepts: tuple[str, ...]) -> dict[int, list[tuple[str, _Noun]]]:
    """Simplest ``(concept, noun)`` pairs per target; the noun must denote at least two objects."""
    out = {}
    for o in facts.objects:
        if not o.referable:
            continue
        found = [
            (n.size, (c, n))
            for n in _nouns(o)
            if len(_denotes(facts, n)) >= 2
            for c in concepts
            if _evaluate(facts, _Expr(noun=n, modifier=c)) == [o.id]
        ]
        if found:
            least = min(size for size, _ in found)
            out[o.id] = [pair for size, pair in found if size == least]
    return out


def _relation_options(facts: _Facts, landmarks: dict[int, list[str]]) -> dict[int, list[str]]:
    """Simplest relational phrases per target, preferring a target noun that is ambiguous on its own."""
    out = {}
    for a in facts.objects:
        if not a.referable:
            continue
        needed, redundant = [], []
        for b_id, rel in product(sorted(landmarks), RELATION_WORDS):
            if (a.id, b_id) not in facts.strict[rel]:
                continue
            mark = _parse_noun(landmarks[b_id][0].split()[1:], landmarks[b_id][0])
            for n in _nouns(a, need_shape=True):
                if _evaluate(facts, _Expr(noun=n, relation=rel, landmark=mark)) == [a.id]:
                    text = f"the {n.words()} {rel} the {mark.words()}"
                    (redundant if len(_denotes(facts, n)) == 1 else needed).append((n.size, text))
        if needed or redundant:
            out[a.id] = _simplest(needed or redundant)
    return out


def _choose(rng: np.random.Generator, items: list) -> object:
    return items[int(rng.integers(len(items)))]


def _surface(rng: np.random.Generator, concept: str) -> str:
    words = [w for w, c in {**SUPERLATIVE_WORDS, **POSITION_WORDS}.items() if c == concept]
    return str(_choose(rng, words))


def _options(facts: _Facts, kind: str) -> dict[int, list]:
    attribute = _attribute_options(facts)
    if kind == "attribute":
        return attribute
    if kind == "superlative":
        return _modifier_options(facts, ("largest", "smallest"))
    if kind == "position":
        return _modifier_options(facts, ("leftmost", "rightmost", "topmost", "bottommost"))
    return _relation_options(facts, attribute)


def _pick(rng: np.random.Generator, kind: str, options: dict[int, list]) -> Referral:
    target = int(_choose(rng, sorted(options)))
    option = _choose(rng, options[target])
    if isinstance(option, tuple):
        concept, noun = option
        option = f"the {_surface(rng, concept)} {noun.words()}"
    return Referral(text=str(option), target=target, kind=kind)


def refer(
    s: Scene, rng: np.random.Generator, difficulty: Difficulty = DIFFICULTY_V1, *, kind: str | None = None
) -> Referral | None:
    """A phrase that refers to exactly one object of ``s``, or None when none exists.

    With ``kind=None`` a relation is chosen with probability ``difficulty.relational_share`` whenever one
    exists; otherwise a kind is drawn uniformly from the non-relational kinds available (falling back to a
    relation when it is the only kind). The target is drawn uniformly from the objects the kind can
    describe, then one of its simplest phrases of that kind.

    Args:
        s: The scene.
        rng: Source of every random choice (the same state gives the same referral).
        difficulty: Supplies ``relational_share``.
        kind: Force one of ``KINDS``; None mixes them.

    Returns:
        The referral, whose ``matches(s, text)`` is ``[target]``; None when no phrase of the kind is unique.

    Raises:
        ValueError: If ``kind`` is not None or one of ``KINDS``.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be None or one of {KINDS}, got {kind!r}")
    facts = _facts(s)
    if kind is not None:
        options = _options(facts, kind)
        return _pick(rng, kind, options) if options else None
    relations = _options(facts, "relation")
    if relations and rng.random() < difficulty.relational_share:
        return _pick(rng, "relation", relations)
    available = [(k, opts) for k in KINDS[:3] if (opts := _options(facts, k))]
    if available:
        chosen, opts = available[int(rng.integers(len(available)))]
        return _pick(rng, chosen, opts)
    return _pick(rng, "relation", relations) if relations else None
