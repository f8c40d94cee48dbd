"""The classical detector: the acceptance rates on oracle renders and on negatives, requests, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pixwizard.eval.detector import Detection, detect, detection_rate
from pixwizard.world import SceneObject, instance_map, render, scene
from pixwizard.world.captions import caption, wrong_caption

SIZES = [(64, 64), (96, 64)]
SCENES_PER_SIZE = 120


@pytest.fixture(scope="module")
def runs():
    """(image, caption objects, detections on the caption, detections on a wrong caption) per scene."""
    out = []
    for width, height in SIZES:
        for i in range(SCENES_PER_SIZE):
            s = scene(21, i, width, height)
            image = np.asarray(render(s))
            objects = caption(s).objects
            wrong = wrong_caption(s, np.random.default_rng(i)).objects
            out.append((image, objects, detect(image, objects), detect(image, wrong)))
    return out


def _rate(detections: list[Detection]) -> float:
    return detection_rate(detections)


def test_finds_captioned_objects_on_oracle_renders(runs):
    dets = [d for _, _, found, _ in runs for d in found]
    rate = _rate(dets)
    assert len(dets) > 500, f"only {len(dets)} captioned objects"
    assert rate >= 0.95, f"oracle recall {rate:.3f} over {len(dets)} captioned objects (bar: >= 0.95)"


def test_rejects_wrong_captions(runs):
    dets = [d for _, _, _, wrong in runs for d in wrong]
    rate = _rate(dets)
    assert rate <= 0.05, f"wrong-caption rate {rate:.3f} over {len(dets)} requests (bar: <= 0.05)"


@pytest.mark.parametrize("fill", [255, 128, 0], ids=["identity-white", "grey", "black"])
def test_rejects_blank_images(runs, fill):
    dets = []
    for image, objects, _, _ in runs[::4]:
        dets += detect(np.full_like(image, fill), objects)
    rate = _rate(dets)
    assert rate <= 0.05, f"blank ({fill}) rate {rate:.3f} over {len(dets)} requests (bar: <= 0.05)"


def test_one_detection_per_request_with_a_mask():
    s = scene(21, 3)
    image = np.asarray(render(s))
    objects = caption(s).objects
    dets = detect(image, objects)
    assert [(d.color, d.shape) for d in dets] == list(objects)
    for d in dets:
        if d.found:
            assert d.mask is not None and d.mask.shape == image.shape[:2] and d.mask.dtype == bool
            assert (np.abs(image[d.mask].astype(int) - image[d.mask][0]).sum(1) < 200).all()
        else:
            assert d.mask is None


def _lone(shape: str, color: str, center=(32.0, 32.0), size=24.0) -> SceneObject:
    return SceneObject(shape=shape, color=color, center=center, size=size, rotation=0.3, z=0, textured=False)


def test_duplicates_need_distinct_objects():
    base = scene(21, 0)
    one = dataclasses.replace(base, objects=(_lone("circle", "red", (20.0, 32.0)),))
    two = dataclasses.replace(
        base,
        objects=(
            _lone("circle", "red", (16.0, 32.0)),
            dataclasses.replace(_lone("circle", "red", (46.0, 32.0)), z=1),
        ),
    )
    request = [("red", "circle"), ("red", "circle")]
    assert [d.found for d in detect(np.asarray(render(one)), request)] == [True, False]
    assert [d.found for d in detect(np.asarray(render(two)), request)] == [True, True]


def test_shape_and_colour_must_both_match():
    base = scene(21, 0)
    s = dataclasses.replace(base, objects=(_lone("star", "blue"),))
    image = np.asarray(render(s))
    found = {
        pair: d.found
        for pair, d in zip(
            [("blue", "star"), ("blue", "circle"), ("red", "star")],
            detect(image, [("blue", "star"), ("blue", "circle"), ("red", "star")]),
            strict=True,
        )
    }
    assert found == {("blue", "star"): True, ("blue", "circle"): False, ("red", "star"): False}


def test_detection_rate():
    hit = Detection(color="red", shape="circle", found=True, mask=None, score=1.0)
    miss = dataclasses.replace(hit, found=False)
    assert detection_rate([hit, miss, miss, hit]) == 0.5
    assert detection_rate([]) == 0.0


def test_bad_input_raises():
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown colour"):
        detect(image, [("mauve", "circle")])
    with pytest.raises(ValueError, match="unknown shape"):
        detect(image, [("red", "blob")])
    with pytest.raises(ValueError, match="uint8"):
        detect(image.astype(np.float32), [("red", "circle")])


def test_objects_two_pixels_apart_stay_apart():
    # Gaps of two pixels keep same-coloured objects captioned (pixwizard.world.captions), so the
    # detector must not bridge them.
    side = 20.0 / 2**0.5
    objects = (
        dataclasses.replace(_lone("square", "red", (20.0, 32.0), 20.0), rotation=0.0),
        dataclasses.replace(_lone("square", "red", (22.0 + side, 32.0), 20.0), rotation=0.0, z=1),
    )
    s = dataclasses.replace(scene(21, 0), objects=objects)
    assert caption(s).objects == (("red", "square"), ("red", "square"))
    dets = detect(np.asarray(render(s)), caption(s).objects)
    assert [d.found for d in dets] == [True, True]
    assert not (dets[0].mask & dets[1].mask).any()


def test_pinholes_do_not_break_an_object():
    s = dataclasses.replace(scene(21, 0), objects=(_lone("hexagon", "green", size=30.0),))
    image = np.asarray(render(s)).copy()
    # Isolated off-colour pixels (every third pixel of every third row) where all 8 neighbours are object.
    obj = instance_map(s) == 1
    ys, xs = np.nonzero(obj)
    interior = np.all([obj[ys + dy, xs + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    holes = interior & (ys % 3 == 0) & (xs % 3 == 0)
    assert holes.sum() > 30
    image[ys[holes], xs[holes]] = (255, 0, 255)  # off every named colour
    (det,) = detect(image, [("green", "hexagon")])
    assert det.found and det.score > 0.95, f"score {det.score:.3f}"
    assert det.mask[ys[holes], xs[holes]].all()  # the holes are filled back in
