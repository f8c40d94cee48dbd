"""Stick figures and pose maps: determinism, placement, body/skeleton agreement, colours, sizes, poses."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from pixwizard.world import COLORS, render, scene
from pixwizard.world.pose import (
    HEIGHT_RANGE,
    JOINT_COLOR,
    JOINTS,
    LIMB_COLORS,
    LIMBS,
    POSES,
    Figure,
    body_mask,
    draw_figure,
    make_figure,
    pose_map,
    pose_strokes,
    skeleton_width,
)

SIZES = [(64, 64), (128, 96), (96, 64), (64, 128)]
J = {name: i for i, name in enumerate(JOINTS)}


def figures(width, height, n, seed=0):
    return [make_figure(np.random.default_rng([seed, i]), width, height) for i in range(n)]


def dilate(mask):
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def hand_made(pose):
    return Figure(joints=tuple((10.0 + x, 10.0 + y) for x, y in pose), color="red", thickness=5.0)


def test_tables_are_consistent():
    assert JOINTS[:2] == ("nose", "neck") and len(JOINTS) == 14
    assert len(LIMBS) == len(LIMB_COLORS) == 13
    assert all(0 <= a < len(JOINTS) and 0 <= b < len(JOINTS) and a != b for a, b in LIMBS)
    assert {j for limb in LIMBS for j in limb} == set(range(len(JOINTS)))
    assert len(set(LIMB_COLORS)) == len(LIMB_COLORS)
    assert all(max(c) == 255 and c != JOINT_COLOR for c in LIMB_COLORS)


def test_make_figure_is_deterministic_and_varies():
    a = make_figure(np.random.default_rng(7), 64, 64)
    assert a == make_figure(np.random.default_rng(7), 64, 64)
    assert a != make_figure(np.random.default_rng(8), 64, 64)
    assert len({f.joints for f in figures(64, 64, 20)}) == 20


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_figures_lie_inside_the_image_at_a_plausible_scale(width, height):
    for fig in figures(width, height, 60):
        mask = body_mask(fig, width, height)
        assert fig.color in COLORS and fig.thickness >= 2
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        assert all(0 <= x < width and 0 <= y < height for x, y in fig.joints)
        rows = np.flatnonzero(mask.any(axis=1))
        extent = (rows[-1] - rows[0] + 1) / height
        assert HEIGHT_RANGE[0] - 0.05 <= extent <= HEIGHT_RANGE[1] + 0.05
        # One body: limbs, torso and head are all joined up.
        assert cv2.connectedComponents(mask.astype(np.uint8))[0] == 2


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_skeleton_is_the_bodys_medial_line(width, height):
    exact = 0
    for fig in figures(width, height, 80, seed=1):
        strokes, mask = pose_strokes(fig, width, height), body_mask(fig, width, height)
        assert not (strokes & ~dilate(mask)).any()
        exact += not (strokes & ~mask).any()
        # Every limb of the skeleton shows.
        assert strokes.sum() >= len(LIMBS)
    assert exact >= 60  # the one-pixel slack is rasterisation, not a rule


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_pose_map_colours_and_strokes_agree(width, height):
    figs = figures(width, height, 3, seed=2)
    image = pose_map(figs, width, height)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    assert np.array_equal(image.any(axis=2), pose_strokes(figs, width, height))
    allowed = {(0, 0, 0), JOINT_COLOR, *LIMB_COLORS}
    seen = {tuple(int(c) for c in rgb) for rgb in image.reshape(-1, 3)}
    assert seen <= allowed
    assert len(seen & set(LIMB_COLORS)) >= len(LIMBS) - 2 and JOINT_COLOR in seen
    union = pose_strokes(figs[0], width, height) | pose_strokes(figs[1:], width, height)
    assert np.array_equal(union, pose_strokes(figs, width, height))
    assert not pose_map([], width, height).any()


def test_skeleton_line_width_scales_with_the_image():
    assert skeleton_width(2, 64, 64) == 2 and skeleton_width(1, 64, 64) == 1
    assert skeleton_width(2, 128, 96) == 3 and skeleton_width(2, 256, 512) == 8
    # A vertical arm: each row it crosses holds exactly `line` skeleton pixels, away from the dots.
    pose = [(0.0, 0.0)] * len(JOINTS)
    pose[J["r_shoulder"]] = (20.0, 10.0)
    pose[J["r_elbow"]] = pose[J["r_wrist"]] = (20.0, 40.0)
    fig = hand_made(pose)
    for line, size in ((1, 64), (2, 64), (2, 128)):
        strokes = pose_strokes(fig, size, size, line=line)
        assert strokes[30 if size == 64 else 40].sum() == skeleton_width(line, size, size)


@pytest.mark.parametrize(("width", "height"), [(64, 64), (128, 96)])
def test_draw_figure_paints_exactly_the_body(width, height):
    background = np.array(render(scene(4, 0, width, height)))
    before = background.copy()
    for fig in figures(width, height, 10, seed=3):
        out = draw_figure(background, fig)
        mask = body_mask(fig, width, height)
        assert np.array_equal(background, before)
        assert out.dtype == np.uint8 and out.shape == background.shape
        assert (out[mask] == COLORS[fig.color]).all()
        assert np.array_equal(out[~mask], background[~mask])
        assert np.array_equal(
            (out != background).any(axis=2), mask & (background != COLORS[fig.color]).any(axis=2)
        )


def test_pose_families_differ():
    rng = np.random.default_rng(5)
    by_pose = {pose: make_figure(rng, 96, 96, pose=pose) for pose in POSES}

    def wrists_minus_shoulders(fig):
        y = np.array(fig.joints)[:, 1]
        return y[[J["r_wrist"], J["l_wrist"]]] - y[[J["r_shoulder"], J["l_shoulder"]]]

    scale = {p: f.joints[J["r_ankle"]][1] - f.joints[J["nose"]][1] for p, f in by_pose.items()}
    assert (wrists_minus_shoulders(by_pose["standing"]) > 0.15 * scale["standing"]).all()
    assert (wrists_minus_shoulders(by_pose["arms_raised"]) < -0.15 * scale["arms_raised"]).all()
    assert (abs(wrists_minus_shoulders(by_pose["t_pose"])) < 0.12 * scale["t_pose"]).all()
    walk = np.array(by_pose["walking"].joints)
    assert abs(walk[J["r_ankle"], 0] - walk[J["l_ankle"], 0]) > 0.2 * scale["walking"]
    # Unforced poses are drawn from several families: some figures raise their arms, some do not.
    raised = [(wrists_minus_shoulders(f) < 0).all() for f in figures(64, 64, 40, seed=6)]
    assert any(raised) and not all(raised)


def test_bad_inputs_raise():
    fig = make_figure(np.random.default_rng(0), 64, 64)
    with pytest.raises(ValueError, match="joints"):
        dataclasses.replace(fig, joints=fig.joints[:-1])
    with pytest.raises(ValueError, match="color"):
        dataclasses.replace(fig, color="mauve")
    with pytest.raises(ValueError, match="thickness"):
        dataclasses.replace(fig, thickness=1.0)
    with pytest.raises(ValueError, match="width"):
        make_figure(np.random.default_rng(0), 32, 64)
    with pytest.raises(ValueError, match="pose"):
        make_figure(np.random.default_rng(0), 64, 64, pose="dancing")
    with pytest.raises(ValueError, match="uint8"):
        draw_figure(np.zeros((64, 64, 3), dtype=np.float32), fig)
    with pytest.raises(ValueError, match="line"):
        pose_map(fig, 64, 64, line=0)
    with pytest.raises(ValueError, match="Figure"):
        pose_strokes([fig, "not a figure"], 64, 64)
