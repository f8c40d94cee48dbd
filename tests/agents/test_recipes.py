"""The object recipes: found and verified, retried with a new seed, retries exhausted; pixels kept exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import invoke

K = None  # the kit fixture (conftest helpers), set for every test


@pytest.fixture(autouse=True)
def _kit(kit):
    global K
    K = kit


def remover(good_seeds: set[int]):
    """Ground answers the red pixels; inpainting leaves the car (red) except for ``good_seeds``."""

    def script(task, seed, image):
        if task == "ground_mask":
            return K.red_mask(image)
        if task == "inpaint":
            if seed in good_seeds:
                return K.fill_hole(image, K.BACKGROUND)
            return K.fill_hole(image, K.RED, inset=8)  # the car comes back where it was
        return None

    return script


def _pixels(ctx, image_id):
    return np.asarray(ctx.store.load(image_id).image.convert("RGB"))


def _outside_unchanged(ctx, before: np.ndarray, out) -> None:
    after = _pixels(ctx, out.image.id)
    region = _pixels(ctx, out.region.id)[..., 0] > 127
    assert after.shape == before.shape
    assert np.array_equal(after[~region], before[~region]), "a pixel outside the region changed"
    assert out.changed_outside == 0


@pytest.mark.parametrize("size", [(64, 48), (40, 72), (97, 33)])
def test_remove_found_and_verified_keeps_every_outside_pixel(ctx, registry, scripted, workspace, size):
    w, h = size
    box = (w // 4, h // 4, w // 2, h // 2)
    path = workspace / "in" / f"scene_{w}x{h}.png"
    K.scene(w, h, box).save(path)
    pipe = scripted(remover(good_seeds={0}))
    out = invoke(
        registry.get("remove_object"), {"image": str(path), "target": "the red car", "steps": 2}, ctx
    )
    assert out.found and out.edited
    assert out.verification.passed and out.verification.attempts == 1 and out.verification.seeds == [0]
    assert out.verification.score < out.verification.threshold
    _outside_unchanged(ctx, np.asarray(Image.open(path).convert("RGB")), out)
    after = _pixels(ctx, out.image.id)
    assert not np.any(np.all(after == K.RED, axis=-1)), "the car is still there"
    steps = [i.step for i in out.intermediates]
    assert steps[:3] == ["ground", "mask", "dilate"] and "inpaint_1" in steps and "composite_1" in steps
    assert [t for t, _ in pipe.calls] == ["ground_mask", "inpaint", "ground_mask"]


def test_remove_fails_then_verifies_with_a_new_seed(ctx, registry, scripted, workspace):
    pipe = scripted(remover(good_seeds={1}))
    photo = str(workspace / "in" / "photo.png")
    out = invoke(registry.get("remove_object"), {"image": photo, "target": "the red car", "steps": 2}, ctx)
    v = out.verification
    assert v.passed and v.attempts == 2 and v.seeds == [0, 1]
    assert v.scores[0] >= v.threshold > v.scores[1]
    assert [s for t, s in pipe.calls if t == "inpaint"] == [0, 1]
    _outside_unchanged(ctx, np.asarray(Image.open(photo).convert("RGB")), out)


def test_remove_reports_exhausted_retries_without_raising(ctx, registry, scripted, workspace):
    scripted(remover(good_seeds=set()))
    photo = str(workspace / "in" / "photo.png")
    args = {"image": photo, "target": "the red car", "steps": 2, "seed": 5, "retries": 2}
    out = invoke(registry.get("remove_object"), args, ctx)
    v = out.verification
    assert not v.passed and v.attempts == 3 and v.seeds == [5, 6, 7]
    assert any("verification failed" in w for w in out.warnings)
    _outside_unchanged(ctx, np.asarray(Image.open(photo).convert("RGB")), out)


def test_replace_verifies_the_replacement_is_there(ctx, registry, scripted, workspace):
    blue = (20, 20, 210)

    def script(task, seed, image):
        if task == "ground_mask":  # finds red things, and blue things once they exist ("a blue boat")
            a = np.asarray(image.convert("RGB")).astype(int)
            blueish = (a[..., 2] > 150) & (a[..., 0] < 80)
            return (
                K.red_mask(image) if not blueish.any() else Image.fromarray((blueish * 255).astype(np.uint8))
            )
        if task == "inpaint":
            return K.fill_hole(image, blue if seed == 3 else K.BACKGROUND)
        return None

    scripted(script)
    photo = str(workspace / "in" / "photo.png")
    args = {"image": photo, "target": "the red car", "replacement": "a blue boat", "steps": 2, "seed": 2}
    out = invoke(registry.get("replace_object"), args, ctx)
    v = out.verification
    assert v.passed and v.seeds == [2, 3] and v.scores[-1] >= v.threshold
    _outside_unchanged(ctx, np.asarray(Image.open(photo).convert("RGB")), out)


@pytest.mark.parametrize("where", [[2, 2, 20, 16], "top left", "next to the red car"])
def test_add_object_in_a_box_words_or_beside_an_anchor(ctx, registry, scripted, workspace, where):
    gold = (230, 200, 20)

    def script(task, seed, image):
        a = np.asarray(image.convert("RGB")).astype(int)
        if task == "ground_mask":
            golden = (a[..., 0] > 200) & (a[..., 1] > 170) & (a[..., 2] < 60)
            return Image.fromarray((golden * 255).astype(np.uint8)) if golden.any() else K.red_mask(image)
        if task == "inpaint":
            return K.fill_hole(image, gold)
        return None

    scripted(script)
    photo = str(workspace / "in" / "photo.png")
    out = invoke(
        registry.get("add_object"), {"image": photo, "what": "a gold star", "where": where, "steps": 2}, ctx
    )
    assert out.found and out.verification.passed
    _outside_unchanged(ctx, np.asarray(Image.open(photo).convert("RGB")), out)
    x0, y0, x1, y1 = out.box
    if where == "next to the red car":
        assert x0 >= 40 - 1, "beside the car means right of it here"


def test_remove_with_nothing_found_leaves_the_image_and_says_so(ctx, registry):
    photo = str(ctx.store.access.read_dirs[0] / "photo.png")
    out = invoke(registry.get("remove_object"), {"image": photo, "target": "the red car", "steps": 2}, ctx)
    assert not out.found and not out.edited and out.verification is None
    assert "not found" in out.warnings[0]
    assert np.array_equal(_pixels(ctx, out.image.id), np.asarray(Image.open(photo).convert("RGB")))


def test_restore_then_auto_measures_and_reports(ctx, registry, workspace):
    rng = np.random.default_rng(0)
    noisy = np.clip(
        np.asarray(K.scene(64, 48, (20, 12, 40, 30))).astype(float) + rng.normal(0, 30, (48, 64, 3)), 0, 255
    )
    path = workspace / "in" / "noisy.png"
    Image.fromarray(noisy.astype(np.uint8)).save(path)
    out = invoke(
        registry.get("restore_then"),
        {"image": str(path), "problems": "auto", "then": "depth", "steps": 2},
        ctx,
    )
    assert "denoise" in out.problems
    assert {m["problem"] for m in out.measurements} >= {"denoise", "deblur", "lowlight", "dehaze"}
    assert len(out.restored) == len(out.problems) and out.analysis_image is not None
    assert out.analysis["provenance"]["tool"] == "depth"
