"""Captions: determinism, the visibility rule, merged counts, wording, and wrong captions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pixwizard.world import SceneObject, instance_map, scene
from pixwizard.world.captions import (
    CAPTION_MIN_VISIBLE,
    Caption,
    caption,
    is_captioned,
    merges_with_same_color,
    visible_fraction,
    wrong_caption,
)


def _obj(shape, color, center, size, z, textured=False):
    return SceneObject(
        shape=shape, color=color, center=center, size=size, rotation=0.0, z=z, textured=textured
    )


def test_deterministic():
    s = scene(4, 9)
    assert caption(s) == caption(s)
    assert caption(s, np.random.default_rng(3)) == caption(s, np.random.default_rng(3))
    texts = {caption(s, np.random.default_rng(k)).text for k in range(20)}
    assert len(texts) > 1  # the generator does vary the wording


def test_objects_match_the_text_in_order():
    for i in range(30):
        s = scene(4, i)
        c = caption(s, np.random.default_rng(i))
        assert isinstance(c, Caption) and c.background == s.background.kind
        for color, shape in c.objects:
            assert color in c.text and shape in c.text
        assert len(c.objects) == sum(1 for k in range(1, len(s.objects) + 1) if is_captioned(s, k))


def test_captioned_means_visible_enough_and_its_own_blob():
    merged = 0
    for i in range(60):
        s = scene(4, i)
        for k in range(1, len(s.objects) + 1):
            expected = visible_fraction(s, k) >= CAPTION_MIN_VISIBLE and not merges_with_same_color(s, k)
            assert is_captioned(s, k) == expected
            merged += merges_with_same_color(s, k)
    assert merged > 0  # the world does make such scenes, so the rule is exercised


def test_mostly_occluded_object_is_left_out():
    base = scene(4, 0)
    back = _obj("square", "green", (32.0, 32.0), 20.0, 0)
    front = _obj("circle", "red", (32.0, 32.0), 26.0, 1)  # hides the square but its corners
    s = dataclasses.replace(base, objects=(back, front))
    assert visible_fraction(s, 1) < CAPTION_MIN_VISIBLE and visible_fraction(s, 2) == 1.0
    c = caption(s)
    assert c.objects == (("red", "circle"),)
    assert "green" not in c.text and c.text.startswith("a red circle ")


def test_partly_hidden_below_the_bar_is_left_out():
    base = scene(4, 0)
    back = _obj("square", "green", (24.0, 32.0), 20.0, 0)
    front = _obj("circle", "blue", (34.0, 32.0), 16.0, 1)  # covers about 30% of the square
    s = dataclasses.replace(base, objects=(back, front))
    assert 0.6 < visible_fraction(s, 1) < CAPTION_MIN_VISIBLE
    assert caption(s).objects == (("blue", "circle"),)
    clear = dataclasses.replace(s, objects=(back, dataclasses.replace(front, center=(40.0, 32.0))))
    assert visible_fraction(clear, 1) == 1.0
    assert caption(clear).objects == (("green", "square"), ("blue", "circle"))


def _pair(color_b: str, gap: int, textured_b: bool = False):
    # Two squares side by side (side 14.14 px) whose visible pixels are ``gap`` columns apart.
    side = 20.0 / 2**0.5
    base = scene(4, 0)
    a = _obj("square", "red", (20.0, 32.0), 20.0, 0)
    b = _obj("square", color_b, (20.0 + side + gap, 32.0), 20.0, 1, textured=textured_b)
    s = dataclasses.replace(base, objects=(a, b))
    inst = instance_map(s)
    assert np.nonzero(inst == 2)[1].min() - np.nonzero(inst == 1)[1].max() - 1 == gap
    return s


def test_touching_objects_of_one_colour_are_left_out():
    for gap in (0, 1):  # touching, or a one-pixel seam: one red blob to the eye
        for textured in (False, True):
            s = _pair("red", gap, textured)
            assert merges_with_same_color(s, 1) and merges_with_same_color(s, 2)
            assert visible_fraction(s, 1) == visible_fraction(s, 2) == 1.0
            assert caption(s).objects == ()
    apart = _pair("red", 2)
    assert caption(apart).objects == (("red", "square"), ("red", "square"))
    assert caption(apart).text.startswith("two red squares ")
    other = _pair("blue", 0)  # touching, but an edge of colour between them
    assert caption(other).objects == (("red", "square"), ("blue", "square"))


def test_merge_check_rejects_a_bad_id():
    with pytest.raises(ValueError, match="out of range"):
        merges_with_same_color(scene(4, 0), 0)


def test_all_hidden_gives_the_background_alone():
    base = scene(4, 0)
    back = _obj("circle", "blue", (32.0, 32.0), 14.0, 0)
    front = _obj("square", "yellow", (32.0, 32.0), 40.0, 1)
    s = dataclasses.replace(base, objects=(back,))
    hidden = dataclasses.replace(base, objects=(back, front))
    assert caption(s).objects == (("blue", "circle"),)
    assert caption(hidden).objects == (("yellow", "square"),)
    flat = dataclasses.replace(base, background=dataclasses.replace(base.background, kind="flat"), objects=())
    assert caption(flat) == Caption(text="a plain background", objects=(), background="flat")


def test_counts_merge_and_stripes_are_named():
    base = scene(4, 0)
    objs = (
        _obj("square", "green", (12.0, 12.0), 14.0, 0),
        _obj("cross", "green", (50.0, 12.0), 14.0, 1),
        _obj("square", "green", (12.0, 50.0), 14.0, 2),
        _obj("star", "blue", (50.0, 50.0), 16.0, 3, textured=True),
    )
    s = dataclasses.replace(
        base, background=dataclasses.replace(base.background, kind="checker"), objects=objs
    )
    c = caption(s)
    assert c.text == "two green squares, a green cross and a blue striped star on a checkered background"
    assert c.objects == (("green", "square"), ("green", "square"), ("green", "cross"), ("blue", "star"))


def test_wrong_caption_shares_no_pair():
    for i in range(100):
        s = scene(4, i)
        w = wrong_caption(s, np.random.default_rng(i))
        present = {(o.color, o.shape) for o in s.objects}
        assert w.objects and not set(w.objects) & present
        assert len(set(w.objects)) == len(w.objects)


def test_bad_rng_raises():
    with pytest.raises(ValueError, match="Generator"):
        caption(scene(4, 0), rng=3)
    with pytest.raises(ValueError, match="Generator"):
        wrong_caption(scene(4, 0), None)
