"""The model-free image operations as tools: instant, confined, provenance, inputs never modified."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import ToolError, default_registry, invoke

REGISTRY = default_registry()


def call(name, args, ctx):
    return invoke(REGISTRY.get(name), args, ctx, registry=REGISTRY)


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _array(ctx, image_id):
    return np.asarray(ctx.store.load(image_id).image)


def test_mask_chain_box_crop_resize_pad_and_composite(ctx, workspace):
    photo, mask = str(workspace / "in" / "photo.png"), str(workspace / "in" / "mask.png")
    before = _digest(workspace / "in")
    grown = call("mask_dilate", {"mask": mask, "radius": 2}, ctx)
    shrunk = call("mask_erode", {"mask": mask, "radius": 2}, ctx)
    assert _array(ctx, grown.image.id).astype(bool).sum() > (np.asarray(Image.open(mask)) > 0).sum()
    assert _array(ctx, shrunk.image.id).astype(bool).sum() < (np.asarray(Image.open(mask)) > 0).sum()
    ring = call(
        "mask_intersect",
        {"mask": grown.image.id, "other": call("mask_invert", {"mask": shrunk.image.id}, ctx).image.id},
        ctx,
    )
    both = call("mask_union", {"mask": ring.image.id, "other": shrunk.image.id}, ctx)
    assert np.array_equal(_array(ctx, both.image.id) > 127, _array(ctx, grown.image.id) > 127)
    boxed = call("box_to_mask", {"image": photo, "box": [10, 5, 30, 25]}, ctx)
    assert (_array(ctx, boxed.image.id) > 127).sum() == 20 * 20
    cropped = call("crop", {"image": photo, "box": [10, 5, 30, 25]}, ctx)
    assert (cropped.image.width, cropped.image.height) == (20, 20)
    half = call("resize", {"image": photo, "width": 40}, ctx)
    assert (half.image.width, half.image.height) == (40, 30)
    padded = call("pad", {"image": photo, "left": 3, "bottom": 4, "color": "white"}, ctx)
    assert (padded.image.width, padded.image.height) == (83, 64)
    other = workspace / "in" / "other.png"
    Image.new("RGB", (80, 60), (255, 0, 0)).save(other)
    merged = call("composite", {"image": photo, "other": str(other), "mask": mask}, ctx)
    inside = np.asarray(Image.open(mask)) > 127
    result, original = _array(ctx, merged.image.id), np.asarray(Image.open(photo).convert("RGB"))
    assert np.array_equal(result[~inside], original[~inside]) and (result[inside] == [255, 0, 0]).all()
    assert {k: v for k, v in _digest(workspace / "in").items() if k != "other.png"} == before, (
        "an input changed"
    )
    prov = merged.provenance
    assert prov.tool == "composite" and prov.model is None and prov.args["mask"].startswith("img_")
    assert set(prov.parents) == {prov.args["image"], prov.args["other"], prov.args["mask"]}


def test_compare_reports_inside_and_outside_a_mask(ctx, workspace):
    photo, mask = str(workspace / "in" / "photo.png"), str(workspace / "in" / "mask.png")
    same = call("compare", {"a": photo, "b": photo}, ctx)
    assert (
        same.identical and same.changed_fraction == 0 and same.psnr is None and same.ssim == pytest.approx(1)
    )
    red = call(
        "composite", {"image": photo, "other": call("pad", {"image": photo}, ctx).image.id, "mask": mask}, ctx
    )
    changed = np.asarray(Image.open(photo).convert("RGB")).copy()
    changed[25, 35] = [0, 0, 0] if changed[25, 35].sum() else [255, 255, 255]
    Image.fromarray(changed).save(workspace / "in" / "dot.png")
    dot = call("compare", {"a": photo, "b": str(workspace / "in" / "dot.png"), "mask": mask}, ctx)
    assert dot.changed_fraction == pytest.approx(1 / (80 * 60))
    assert dot.outside.changed_fraction == 0 and dot.inside.changed_fraction == pytest.approx(1 / (20 * 30))
    assert dot.inside.pixels == 600 and dot.outside.pixels == 80 * 60 - 600
    assert red.image.id.startswith("img_")


def test_operations_refuse_bad_input_in_one_line(ctx, workspace):
    photo, mask = str(workspace / "in" / "photo.png"), str(workspace / "in" / "mask.png")
    small = workspace / "in" / "small.png"
    Image.new("L", (10, 10)).save(small)
    cases = [
        ("mask_union", {"mask": mask, "other": str(small)}, "same size"),
        ("crop", {"image": photo, "box": [500, 500, 600, 600]}, "box"),
        ("resize", {"image": photo}, "width, height or scale"),
        ("resize", {"image": photo, "width": 10000, "height": 10000}, "MP limit"),
        ("pad", {"image": photo, "color": "notacolour"}, "colour name"),
        ("draw_boxes", {"image": photo, "boxes": [[1, 1, 5, 5]], "labels": ["a", "b"]}, "one per box"),
        ("crop", {"image": str(workspace / "secret" / "private.png"), "box": [0, 0, 5, 5]}, "outside"),
    ]
    for name, args, words in cases:
        with pytest.raises(ToolError) as caught:
            call(name, args, ctx)
        assert words in str(caught.value) and "\n" not in str(caught.value), (name, str(caught.value))
    assert not ctx.backend.loaded, "an image operation loaded the model"


def test_draw_boxes_draws_on_a_copy(ctx, workspace):
    photo = str(workspace / "in" / "photo.png")
    out = call(
        "draw_boxes", {"image": photo, "boxes": [[5, 5, 40, 30]], "labels": ["car"], "color": "red"}, ctx
    )
    drawn = _array(ctx, out.image.id)
    assert (drawn[5, 10] == [255, 0, 0]).all()
    assert np.array_equal(np.asarray(Image.open(photo).convert("RGB"))[50:, 50:], drawn[50:, 50:])
