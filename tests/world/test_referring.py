"""Referring expressions: uniqueness over generated scenes, kind mix, relational share, hand-built cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pixwizard.world import DIFFICULTY_V1, Background, Scene, SceneObject, scene, visible_fraction
from pixwizard.world.referring import KINDS, RELATION_WORDS, Referral, matches, refer

TEMPLATE = SceneObject(
    shape="circle", color="red", center=(32.0, 32.0), size=20.0, rotation=0.0, z=0, textured=False
)


def _obj(shape: str, color: str, center: tuple[float, float], size: float, **kw) -> SceneObject:
    return dataclasses.replace(TEMPLATE, shape=shape, color=color, center=center, size=size, **kw)


def _scene(*objects: SceneObject, width: int = 64, height: int = 64) -> Scene:
    objs = tuple(dataclasses.replace(o, z=z) for z, o in enumerate(objects))
    bg = Background(kind="flat", color_a=(128, 128, 128), color_b=(128, 128, 128))
    return Scene(width=width, height=height, background=bg, objects=objs, seed=0, index=0, world_version="1")


def _landmark(text: str) -> str | None:
    for rel in RELATION_WORDS:
        if f" {rel} the " in text:
            return "the " + text.split(f" {rel} the ", 1)[1]
    return None


@pytest.fixture(scope="module")
def generated():
    scenes = [scene(0, i) for i in range(300)] + [scene(1, i, 96, 64) for i in range(40)]
    return [(s, refer(s, np.random.default_rng(i))) for i, s in enumerate(scenes)]


def _check(s: Scene, r: Referral) -> None:
    assert r.kind in KINDS
    assert matches(s, r.text) == [r.target], r
    assert visible_fraction(s, r.target) >= 0.5, r
    mark = _landmark(r.text)
    assert (mark is not None) == (r.kind == "relation"), r
    if mark is not None:
        (landmark,) = matches(s, mark)
        assert landmark != r.target and visible_fraction(s, landmark) >= 0.5, r


def test_every_referral_is_unique_and_visible(generated):
    returned = [(s, r) for s, r in generated if r is not None]
    assert len(returned) >= 0.95 * len(generated)
    for s, r in returned:
        _check(s, r)


def test_forced_kinds_are_unique_and_visible(generated):
    for i, (s, _) in enumerate(generated[::3]):
        for kind in KINDS:
            r = refer(s, np.random.default_rng(i), kind=kind)
            if r is not None:
                assert r.kind == kind
                _check(s, r)


def test_every_kind_occurs_in_the_mix(generated):
    counts = {k: sum(r is not None and r.kind == k for _, r in generated) for k in KINDS}
    assert all(c >= 0.05 * len(generated) for c in counts.values()), counts


def test_relational_share_follows_the_difficulty(generated):
    possible = [
        (i, s) for i, (s, _) in enumerate(generated) if refer(s, np.random.default_rng(0), kind="relation")
    ]
    assert len(possible) >= 150
    share = np.mean([refer(s, np.random.default_rng(i)).kind == "relation" for i, s in possible])
    assert abs(share - DIFFICULTY_V1.relational_share) < 0.08, share
    always = dataclasses.replace(DIFFICULTY_V1, relational_share=1.0)
    never = dataclasses.replace(DIFFICULTY_V1, relational_share=0.0)
    for i, s in possible[:40]:
        assert refer(s, np.random.default_rng(i), always).kind == "relation"
        assert refer(s, np.random.default_rng(i), never).kind != "relation"


def test_deterministic_for_the_same_rng_state():
    for i in range(20):
        s = scene(2, i)
        assert refer(s, np.random.default_rng(i)) == refer(s, np.random.default_rng(i))
    s = scene(0, 2)
    texts = {refer(s, np.random.default_rng(seed)).text for seed in range(30)}
    assert len(texts) > 3


def test_blue_star_behind_the_triangle():
    s = _scene(
        _obj("star", "blue", (22.0, 30.0), 24.0),
        _obj("triangle", "yellow", (36.0, 32.0), 26.0),
        _obj("star", "red", (52.0, 54.0), 14.0),
    )
    assert 0.5 <= visible_fraction(s, 1) < 1.0
    assert matches(s, "the blue star behind the triangle") == [1]
    assert matches(s, "the star behind the triangle") == [1]
    assert matches(s, "the triangle in front of the blue star") == [2]
    assert matches(s, "the triangle behind the blue star") == []
    assert matches(s, "the star") == [1, 3]
    texts = {refer(s, np.random.default_rng(seed), kind="relation").text for seed in range(40)}
    assert "the star behind the triangle" in texts
    for seed in range(40):
        _check(s, refer(s, np.random.default_rng(seed), kind="relation"))


def test_largest_square_with_two_squares():
    s = _scene(
        _obj("circle", "blue", (18.0, 20.0), 32.0),
        _obj("square", "blue", (46.0, 48.0), 24.0),
        _obj("square", "blue", (50.0, 12.0), 14.0),
    )
    assert matches(s, "the largest square") == [2]
    assert matches(s, "The biggest square.") == [2]
    assert matches(s, "the smallest square") == [3]
    assert matches(s, "the largest object") == [1]
    assert matches(s, "the square") == [2, 3]
    for seed in range(30):
        r = refer(s, np.random.default_rng(seed), kind="superlative")
        _check(s, r)
        if r.target == 2:
            assert r.text in ("the largest square", "the biggest square")


def test_near_equal_sizes_have_no_superlative():
    s = _scene(_obj("square", "blue", (16.0, 16.0), 24.0), _obj("square", "blue", (46.0, 46.0), 24.0))
    assert matches(s, "the largest square") == [1, 2]
    assert matches(s, "the smallest object") == [1, 2]
    assert refer(s, np.random.default_rng(0), kind="superlative") is None
    r = refer(s, np.random.default_rng(0), kind="position")
    _check(s, r)


def test_position_needs_a_clear_margin():
    close = _scene(_obj("circle", "red", (20.0, 16.0), 16.0), _obj("circle", "red", (22.0, 48.0), 16.0))
    assert matches(close, "the leftmost circle") == [1, 2]
    assert matches(close, "the topmost circle") == [1]
    assert matches(close, "the lowest object") == [2]
    far = _scene(_obj("circle", "red", (14.0, 16.0), 16.0), _obj("circle", "red", (40.0, 18.0), 16.0))
    assert matches(far, "the leftmost circle") == [1]
    assert matches(far, "the rightmost red object") == [2]
    assert matches(far, "the bottommost circle") == [1, 2]


def test_indistinguishable_objects_give_none():
    twins = _scene(_obj("circle", "red", (30.0, 30.0), 24.0), _obj("circle", "red", (31.5, 31.5), 24.0))
    assert visible_fraction(twins, 1) < 0.5 <= visible_fraction(twins, 2)
    assert matches(twins, "the red circle") == [1, 2]
    assert matches(twins, "the leftmost object") == [1, 2]
    assert matches(twins, "the circle in front of the circle") == [2]
    for kind in (*KINDS, None):
        assert refer(twins, np.random.default_rng(0), kind=kind) is None
    with_square = dataclasses.replace(
        twins, objects=(*twins.objects, _obj("square", "green", (54.0, 54.0), 12.0, z=2))
    )
    for seed in range(10):
        r = refer(with_square, np.random.default_rng(seed))
        assert r is not None and r.target == 3


def test_hidden_objects_are_never_targets_but_still_distract():
    s = _scene(
        _obj("circle", "red", (20.0, 20.0), 12.0),
        _obj("square", "blue", (20.0, 20.0), 30.0),
        _obj("circle", "red", (48.0, 48.0), 16.0),
        _obj("circle", "red", (50.0, 16.0), 16.0),
        _obj("square", "green", (56.0, 16.0), 20.0),
    )
    assert visible_fraction(s, 1) == 0.0
    assert 0.0 < visible_fraction(s, 4) < 0.5
    assert matches(s, "the circle") == [3, 4]
    assert matches(s, "the striped object") == []
    assert matches(s, "the plain blue object") == [2]
    for seed in range(20):
        for kind in (*KINDS, None):
            r = refer(s, np.random.default_rng(seed), kind=kind)
            if r is not None:
                _check(s, r)
                assert r.target not in (1, 4)


def test_striped_attribute():
    s = _scene(
        _obj("star", "red", (16.0, 16.0), 22.0, textured=True), _obj("star", "red", (46.0, 46.0), 22.0)
    )
    assert matches(s, "the striped star") == [1]
    assert matches(s, "the plain red star") == [2]
    texts = {refer(s, np.random.default_rng(seed), kind="attribute").text for seed in range(20)}
    assert texts == {"the striped object", "the plain object"}


@pytest.mark.parametrize(
    "text", ["a red circle", "the red", "the circle behind", "the largest", "the big circle"]
)
def test_text_outside_the_grammar_raises(text):
    with pytest.raises(ValueError, match="not in the referring grammar"):
        matches(scene(0, 0), text)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="kind must be None or one of"):
        refer(scene(0, 0), np.random.default_rng(0), kind="colour")
