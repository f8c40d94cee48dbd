"""PixWorld edits: changed pixels inside a tight region, unique targets, geometry that matches the words."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import numpy as np
import pytest

from pixwizard.world import COLORS, DIFFICULTY_V1, SHAPES, instance_map, render, scene, visible_fraction
from pixwizard.world.edits import EDIT_KINDS, Edit, changed_pixels, make_edit

N_MIXED = 320
N_PER_KIND = 60
TARGET_RE = re.compile(rf"\bthe (?:({'|'.join(COLORS)}) )?({'|'.join(SHAPES)})\b")
ADD_RE = re.compile(
    rf"^(?:add|put) an? (small )?({'|'.join(COLORS)}) ({'|'.join(SHAPES)}) "
    r"(?:at|on|in) the (top left|top right|bottom left|bottom right|top|bottom|left|right|middle|centre)$"
)
CELLS = {
    "top left": (0, 0),
    "top": (0, 1),
    "top right": (0, 2),
    "left": (1, 0),
    "middle": (1, 1),
    "centre": (1, 1),
    "right": (1, 2),
    "bottom left": (2, 0),
    "bottom": (2, 1),
    "bottom right": (2, 2),
}


@pytest.fixture(scope="module")
def mixed():
    pairs = [(scene(11, i), make_edit(scene(11, i), np.random.default_rng([11, i]))) for i in range(N_MIXED)]
    return [(s, e) for s, e in pairs if e is not None]


@pytest.fixture(scope="module")
def by_kind():
    out = {}
    for j, kind in enumerate(EDIT_KINDS):
        edits = [make_edit(scene(12 + j, i), np.random.default_rng(i), kind=kind) for i in range(N_PER_KIND)]
        out[kind] = [e for e in edits if e is not None]
    return out


def _all(mixed, by_kind):
    return [e for _, e in mixed] + [e for edits in by_kind.values() for e in edits]


def _edited_id(e: Edit) -> int:
    """1-based id in ``before`` of the one object an object edit touched (found from the geometry)."""
    b, a = e.before.objects, e.after.objects
    if e.kind == "remove":
        strip = [dataclasses.replace(o, z=0) for o in a]
        hits = [
            k
            for k in range(1, len(b) + 1)
            if [dataclasses.replace(o, z=0) for o in b[: k - 1] + b[k:]] == strip
        ]
        assert len(hits) == 1
        return hits[0]
    assert len(a) == len(b)
    diff = [k for k in range(1, len(b) + 1) if b[k - 1] != a[k - 1]]
    assert len(diff) == 1, diff
    return diff[0]


def test_mixed_edits_exist_for_nearly_every_scene(mixed):
    assert len(mixed) >= 0.97 * N_MIXED


def test_before_is_the_input_scene(mixed):
    for s, e in mixed:
        assert e.before == s


def test_changed_pixels_lie_in_a_non_empty_region(mixed, by_kind):
    for e in _all(mixed, by_kind):
        changed = changed_pixels(e)
        assert changed.shape == e.region.shape and e.region.dtype == bool
        assert changed.any(), e.text
        assert not (changed & ~e.region).any(), e.text


def test_region_is_exactly_the_instance_union(mixed, by_kind):
    for e in _all(mixed, by_kind):
        ib, ia = instance_map(e.before), instance_map(e.after)
        if e.kind == "background":
            expected = (ib == 0) & (ia == 0)
        elif e.kind == "add":
            expected = ia == len(e.after.objects)
        elif e.kind == "remove":
            expected = ib == _edited_id(e)
        else:
            k = _edited_id(e)
            expected = (ib == k) | (ia == k)
        np.testing.assert_array_equal(e.region, expected, err_msg=e.text)
        assert not e.region.flags.writeable


def test_every_kind_occurs_about_uniformly(mixed):
    counts = Counter(e.kind for _, e in mixed)
    assert set(counts) == set(EDIT_KINDS)
    assert min(counts.values()) >= 0.5 * len(mixed) / len(EDIT_KINDS), counts


def test_forced_kinds_are_honoured(by_kind):
    for kind, edits in by_kind.items():
        assert len(edits) >= 0.9 * N_PER_KIND, kind
        assert all(e.kind == kind for e in edits)


def test_named_target_is_unique_visible_and_the_one_edited(mixed, by_kind):
    for e in _all(mixed, by_kind):
        if e.kind in ("add", "background"):
            continue
        match = TARGET_RE.search(e.text)
        assert match, e.text
        color, shape = match.groups()
        inst = instance_map(e.before)
        hits = [
            k
            for k, o in enumerate(e.before.objects, start=1)
            if (inst == k).any() and o.shape == shape and color in (None, o.color)
        ]
        assert len(hits) == 1, e.text
        assert hits[0] == _edited_id(e), e.text
        assert visible_fraction(e.before, hits[0]) >= 0.6


def test_after_keeps_the_world_invariants(mixed, by_kind):
    for e in _all(mixed, by_kind):
        s = e.after
        assert (s.width, s.height) == (e.before.width, e.before.height)
        assert [o.z for o in s.objects] == list(range(len(s.objects)))
        for k, o in enumerate(s.objects, start=1):
            r = o.size / 2
            assert r <= o.center[0] <= s.width - r and r <= o.center[1] <= s.height - r, e.text
            assert visible_fraction(s, k) >= DIFFICULTY_V1.min_visible, e.text


def test_recolour_picks_a_far_new_colour(by_kind):
    for e in by_kind["recolour"]:
        k = _edited_id(e)
        old, new = e.before.objects[k - 1], e.after.objects[k - 1]
        assert dataclasses.replace(old, color=new.color) == new
        assert np.linalg.norm(np.subtract(COLORS[old.color], COLORS[new.color])) >= 150
        assert e.text.endswith(f" {new.color}"), e.text


def test_remove_takes_exactly_one_object(by_kind):
    for e in by_kind["remove"]:
        assert len(e.after.objects) == len(e.before.objects) - 1
        assert e.after.background == e.before.background
        assert re.match(r"^(remove|delete|take out|get rid of) the ", e.text), e.text


def test_add_matches_the_words_and_thirds(by_kind):
    seen_cells = set()
    for e in by_kind["add"]:
        assert e.after.objects[:-1] == e.before.objects
        new = e.after.objects[-1]
        match = ADD_RE.match(e.text)
        assert match, e.text
        small, color, shape, where = match.groups()
        assert (color, shape) == (new.color, new.shape)
        row, col = int(3 * new.center[1] / e.after.height), int(3 * new.center[0] / e.after.width)
        assert CELLS[where] == (row, col), (e.text, new.center)
        seen_cells.add((row, col))
        if small:
            assert new.size <= (0.2 + 0.3 / 3) * 64 + 1e-9
        assert visible_fraction(e.after, len(e.after.objects)) == 1.0
    assert len(seen_cells) >= 7


def test_move_direction_matches_the_displacement(by_kind):
    steps = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
    for e in by_kind["move"]:
        k = _edited_id(e)
        old, new = e.before.objects[k - 1], e.after.objects[k - 1]
        assert dataclasses.replace(old, center=new.center) == new
        dx, dy = new.center[0] - old.center[0], new.center[1] - old.center[1]
        word = re.search(r"\b(left|right|up|down)(?:wards)?$", e.text).group(1)
        ux, uy = steps[word]
        if ux:
            assert dy == 0 and dx * ux >= 0.15 * e.before.width, e.text
        else:
            assert dx == 0 and dy * uy >= 0.15 * e.before.height, e.text


def test_resize_ratio_in_range_and_direction(by_kind):
    grow_words = ("bigger", "larger", "enlarge", "twice as large")
    for e in by_kind["resize"]:
        k = _edited_id(e)
        old, new = e.before.objects[k - 1], e.after.objects[k - 1]
        assert dataclasses.replace(old, size=new.size) == new
        ratio = new.size / old.size
        if any(w in e.text for w in grow_words):
            assert 1.3 <= ratio <= 1.6, e.text
        else:
            assert re.search(r"smaller|shrink|half as large", e.text), e.text
            assert 0.6 <= ratio <= 0.75, e.text
        if "twice" in e.text:
            assert ratio == pytest.approx(2**0.5)


def test_background_changes_kind_only(by_kind):
    for e in by_kind["background"]:
        assert e.after.objects == e.before.objects
        assert e.after.background.kind != e.before.background.kind
        assert "background" in e.text or e.text.startswith("put the objects on")


def test_deterministic_for_the_same_generator_state():
    for i in range(20):
        s = scene(13, i)
        a = make_edit(s, np.random.default_rng(i))
        b = make_edit(s, np.random.default_rng(i))
        assert a == b
        np.testing.assert_array_equal(np.asarray(render(a.after)), np.asarray(render(b.after)))
    texts = {make_edit(scene(13, 0), np.random.default_rng(j)).text for j in range(10)}
    assert len(texts) > 1


def test_impossible_kinds_give_none():
    s = scene(14, 0)
    empty = dataclasses.replace(s, objects=())
    for kind in ("recolour", "remove", "move", "resize"):
        assert make_edit(empty, np.random.default_rng(0), kind=kind) is None
    assert make_edit(empty, np.random.default_rng(0)).kind in ("add", "background")
    # Two identical objects side by side: neither can be named uniquely.
    twin = dataclasses.replace(s.objects[0], shape="circle", color="red", size=16.0, center=(16.0, 32.0), z=0)
    twins = dataclasses.replace(s, objects=(twin, dataclasses.replace(twin, center=(48.0, 32.0), z=1)))
    assert make_edit(twins, np.random.default_rng(0), kind="recolour") is None


def test_bad_input_raises():
    s = scene(14, 1)
    with pytest.raises(ValueError, match="unknown edit kind"):
        make_edit(s, np.random.default_rng(0), kind="rotate")
    with pytest.raises(ValueError, match="region must be bool"):
        Edit(kind="remove", before=s, after=s, text="x", region=np.zeros((3, 3), dtype=bool))
