"""PixWorld scenes: determinism, coverage, exact masks and boxes, depth, labels, edges, sizes, versions."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pixwizard.world import (
    BACKGROUNDS,
    COLORS,
    DIFFICULTIES,
    DIFFICULTY_V1,
    PALETTE,
    SHAPES,
    WORLD_VERSION,
    depth_map,
    edge_map,
    instance_map,
    label_map,
    normal_map,
    object_box,
    object_mask,
    palette_json,
    render,
    scene,
)
from pixwizard.world import scenes as scenes_mod

SIZES = [(64, 64), (96, 64), (64, 128), (128, 96), (80, 64)]


@pytest.fixture(scope="module")
def many():
    return [scene(3, i) for i in range(500)]


def test_deterministic_from_seed_and_index():
    a, b = scene(5, 17, 96, 64), scene(5, 17, 96, 64)
    assert a == b
    np.testing.assert_array_equal(np.asarray(render(a)), np.asarray(render(b)))
    np.testing.assert_array_equal(instance_map(a), instance_map(b))
    np.testing.assert_array_equal(depth_map(a), depth_map(b))
    assert scene(5, 18) != scene(5, 17)
    assert scene(6, 17) != scene(5, 17)
    assert not np.array_equal(np.asarray(render(scene(5, 18))), np.asarray(render(scene(5, 17))))


def test_global_rng_untouched():
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    render(scene(1, 2))
    assert np.random.random() == expected


def test_every_shape_colour_and_background_appears(many):
    objs = [o for s in many for o in s.objects]
    assert {o.shape for o in objs} == set(SHAPES)
    assert {o.color for o in objs} == set(COLORS)
    assert {s.background.kind for s in many} == set(BACKGROUNDS)
    assert any(o.textured for o in objs) and not all(o.textured for o in objs)
    assert len(SHAPES) >= 8 and len(COLORS) >= 10


def test_object_counts_and_sizes_within_difficulty(many):
    d = DIFFICULTY_V1
    counts = [len(s.objects) for s in many]
    assert min(counts) >= d.min_objects and max(counts) <= d.max_objects
    assert max(counts) == d.max_objects  # the placer does reach the top of the range
    for s in many:
        assert s.world_version == WORLD_VERSION
        assert [o.z for o in s.objects] == list(range(len(s.objects)))
        for o in s.objects:
            assert d.min_size * 64 <= o.size <= d.max_size * 64


def test_masks_are_the_visible_pixels(many):
    for s in many[:200]:
        inst = instance_map(s)
        rgb = np.asarray(render(s))
        union = np.zeros(inst.shape, dtype=bool)
        for k, obj in enumerate(s.objects, start=1):
            mask = object_mask(s, k)
            assert mask.any()
            assert not (union & mask).any()
            union |= mask
            if not obj.textured:
                assert (rgb[mask] == COLORS[obj.color]).all()
        np.testing.assert_array_equal(union, inst > 0)


def test_objects_stay_visible(many):
    for s in many[:200]:
        inst = instance_map(s)
        for k, obj in enumerate(s.objects, start=1):
            (y0, y1, x0, x1), inside, _, _ = scenes_mod.rasterise(
                obj.shape, obj.center, obj.size, obj.rotation, s.width, s.height
            )
            full = int(inside.sum())
            visible = int((inst[y0:y1, x0:x1][inside] == k).sum())
            assert visible >= DIFFICULTY_V1.min_visible * full


def test_boxes_are_tight(many):
    for s in many[:200]:
        for k in range(1, len(s.objects) + 1):
            mask = object_mask(s, k)
            x0, y0, x1, y1 = object_box(s, k)
            assert mask[y0:y1, x0:x1].sum() == mask.sum()
            assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
            assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()


def test_object_id_out_of_range_raises():
    s = scene(0, 0)
    with pytest.raises(ValueError, match="out of range"):
        object_mask(s, 0)
    with pytest.raises(ValueError, match="out of range"):
        object_box(s, len(s.objects) + 1)


def test_depth_positive_and_nearer_on_objects(many):
    for s in many[:200]:
        depth = depth_map(s)
        inst = instance_map(s)
        assert depth.dtype == np.float32 and (depth > 0).all()
        background_only = scenes_mod._background_depth(s)
        on = inst > 0
        assert (depth[on] < background_only[on]).all()
        # Depth order agrees with z-order: every object pixel is nearer than any pixel of a lower object.
        for k in range(1, len(s.objects) + 1):
            if (inst == k).any() and (inst == k + 1).any():
                assert depth[inst == k + 1].max() < depth[inst == k].min()


def test_horizon_ground_recedes_towards_the_top():
    s = next(s for s in (scene(9, i) for i in range(200)) if s.background.kind == "horizon")
    bg = scenes_mod._background_depth(s)
    column = bg[:, 0]
    assert (np.diff(column) <= 0).all() and column[0] > column[-1]


def test_normals_unit_and_flat_on_walls(many):
    for s in many[:50]:
        n = normal_map(s)
        assert n.shape == (s.height, s.width, 3) and n.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
        assert (n[..., 2] > 0).all()
        if s.background.kind != "horizon":
            wall = n[instance_map(s) == 0]
            np.testing.assert_allclose(wall, np.broadcast_to([0.0, 0.0, 1.0], wall.shape), atol=1e-6)


def test_normals_of_a_dome_point_outwards():
    s = next(s for s in (scene(4, i) for i in range(300)) if s.objects[-1].shape == "circle")
    obj, k = s.objects[-1], len(s.objects)
    n, inst = normal_map(s), instance_map(s)
    cx, cy = int(obj.center[0]), int(obj.center[1])
    r = int(obj.size / 2 * 0.6)
    # The topmost object is never occluded, so both flanks belong to it.
    assert (inst[cy, cx + r - 1 : cx + r + 2] == k).all() and (inst[cy - r - 1 : cy - r + 2, cx] == k).all()
    assert n[cy, cx + r, 0] > 0.1  # right flank faces right
    assert n[cy - r, cx, 1] > 0.1  # upper flank faces up
    assert n[cy, cx - r, 0] < -0.1 and n[cy + r, cx, 1] < -0.1


def test_label_map_uses_palette(many):
    for s in many[:200]:
        labels = label_map(s)
        inst = instance_map(s)
        assert labels.dtype == np.uint8 and labels.max() < len(PALETTE)
        names = [n for n, _ in PALETTE]
        background = labels[inst == 0]
        if s.background.kind == "horizon":  # sky above the horizon row, ground below
            ys = np.nonzero(inst == 0)[0]
            below = ys + 0.5 >= s.background.horizon * s.height
            assert (background[below] == names.index("ground")).all()
            assert (background[~below] == names.index("sky")).all()
        else:
            assert (background == names.index(s.background.kind)).all()
        for k, obj in enumerate(s.objects, start=1):
            assert (labels[inst == k] == names.index(obj.shape)).all()
    decoded = json.loads(palette_json())
    assert [d["name"] for d in decoded] == [
        "flat",
        "gradient",
        "stripes",
        "checker",
        "noise",
        "sky",
        "ground",
        *SHAPES,
    ]
    assert len({tuple(d["rgb"]) for d in decoded}) == len(PALETTE)


def _naive_edges(m: np.ndarray) -> np.ndarray:
    h, w = m.shape
    out = np.zeros((h, w), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and m[yy, xx] != m[y, x]:
                    out[y, x] = 255
    return out


def test_edges_exactly_at_instance_and_label_boundaries(many):
    for s in many[:10]:
        inst, labels = instance_map(s), label_map(s)
        edges = edge_map(s)
        assert edges.dtype == np.uint8 and set(np.unique(edges)) <= {0, 255}
        expected = np.maximum(_naive_edges(inst), _naive_edges(labels))
        np.testing.assert_array_equal(edges, expected)


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_sizes_and_aspect_ratios(width, height):
    for i in range(20):
        s = scene(2, i, width, height)
        assert render(s).size == (width, height)
        for m in (instance_map(s), label_map(s), depth_map(s), edge_map(s)):
            assert m.shape == (height, width)
        assert normal_map(s).shape == (height, width, 3)
        for k in range(1, len(s.objects) + 1):
            x0, y0, x1, y1 = object_box(s, k)
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


@pytest.mark.parametrize("bad", [{"width": 63}, {"height": 32}, {"seed": -1}, {"index": 1.5}])
def test_bad_arguments_raise(bad):
    kwargs = {"seed": 0, "index": 0, **bad}
    with pytest.raises(ValueError, match="must be an int"):
        scene(**kwargs)


def test_too_many_objects_raise():
    d = dataclasses.replace(DIFFICULTY_V1, version="test-crowded", max_objects=scenes_mod.MAX_OBJECTS + 1)
    with pytest.raises(ValueError, match="object counts"):
        scene(0, 0, difficulty=d)


def test_no_overlap_difficulty_keeps_objects_apart():
    d = dataclasses.replace(DIFFICULTY_V1, version="test-no-overlap", allow_overlap=False)
    for i in range(50):
        s = scene(1, i, difficulty=d)
        assert s.world_version == "test-no-overlap"
        inst = instance_map(s)
        for k, obj in enumerate(s.objects, start=1):
            (y0, y1, x0, x1), inside, _, _ = scenes_mod.rasterise(
                obj.shape, obj.center, obj.size, obj.rotation, s.width, s.height
            )
            assert (inst[y0:y1, x0:x1][inside] == k).all()


def test_version_table_is_frozen():
    literal = {
        "version": "1",
        "min_objects": 1,
        "max_objects": 6,
        "min_size": 0.2,
        "max_size": 0.5,
        "allow_overlap": True,
        "min_visible": 0.2,
        "placement_tries": 20,
        "texture_prob": 0.25,
        "backgrounds": (
            ("flat", 1.0),
            ("gradient", 1.0),
            ("stripes", 1.0),
            ("checker", 1.0),
            ("noise", 1.0),
            ("horizon", 1.0),
        ),
        "relational_share": 0.3,
        "noise_sigma": (10.0, 30.0),
        "blur_sigma": (1.0, 2.0),
        "motion_length": (5, 9),
        "rain_density": (0.004, 0.012),
        "rain_length": (4.0, 12.0),
        "rain_angle": (-0.5, 0.5),
        "rain_opacity": (0.3, 0.7),
        "drop_density": (0.001, 0.002),
        "drop_radius": (2.0, 5.0),
        "drop_brightness": (0.15, 0.4),
        "haze_beta": (0.05, 0.15),
        "haze_airlight": (190.0, 240.0),
        "lowlight_scale": (0.15, 0.4),
        "lowlight_gamma": (1.3, 2.0),
        "lowlight_noise": (1.0, 4.0),
        "snow_density": (0.01, 0.03),
        "snow_radius": (0.5, 1.8),
        "snow_veil": (0.0, 0.15),
        "moire_amplitude": (0.15, 0.35),
        "moire_period": (2.5, 6.0),
        "shadow_strength": (0.35, 0.65),
        "shadow_softness": (1.0, 4.0),
        "watermark_opacity": (0.3, 0.6),
        "downsample_factor": (2, 4),
        "jpeg_quality": (10, 30),
        "jpeg_blur": (0.4, 1.0),
        "reflection_alpha": (0.15, 0.35),
        "reflection_blur": (1.5, 3.0),
        "glare_strength": (0.4, 0.8),
        "glare_radius": (4.0, 12.0),
    }
    assert dataclasses.asdict(DIFFICULTY_V1) == literal
    assert DIFFICULTIES == {"1": DIFFICULTY_V1}
    assert WORLD_VERSION == "1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        DIFFICULTY_V1.max_objects = 7  # type: ignore[misc]


ANALYTIC_AREA = {
    "circle": np.pi,
    "square": 2.0,
    "triangle": 3 * np.sqrt(3) / 4,
    "hexagon": 3 * np.sqrt(3) / 2,
    "ring": np.pi * (1 - 0.55**2),
    "ellipse": np.pi * 0.6,
    "cross": 2 * (0.6 * 1.8) - 0.6**2,
    "star": 5 * 0.45 * np.sin(np.pi / 5),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rotation", [0.0, 0.7, 2.0])
def test_shape_areas_match_geometry(shape, rotation):
    r = 100.0
    (y0, y1, x0, x1), inside, relief, _ = scenes_mod.rasterise(
        shape, (128.0, 128.0), 2 * r, rotation, 256, 256
    )
    assert inside.sum() / r**2 == pytest.approx(ANALYTIC_AREA[shape], rel=0.01)
    assert relief[inside].min() >= -1e-9 and relief[inside].max() <= 1 + 1e-9
    assert 0 <= x0 and x1 <= 256 and 0 <= y0 and y1 <= 256
