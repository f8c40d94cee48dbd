"""Reliability of the tool layer: bounded jobs, tidy temp files, a store that does not grow by itself,
odd image modes, refusals before model work, and stored files that match the typed results."""

from __future__ import annotations

import base64
import io
import os
import time

import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import StoreCap, ToolError, default_registry, fsafe, invoke, make_context
from pixwizard.tools import backend as backend_module

TOOLS = default_registry()


def _files(ctx):
    return sorted(os.listdir(ctx.store.root))


def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# -- outpaint and other sizes, refused before the model runs -----------------------------------------


def test_an_outpaint_above_the_pixel_limit_is_refused_first_naming_the_ratio_that_fits(workspace):
    from pixwizard.tools import Limits

    ctx = make_context(
        store_dir=workspace / "store", allow_dirs=[workspace / "in"], limits=Limits(max_pixels=10_000)
    )
    photo = str(workspace / "in" / "photo.png")  # 80x60 = 4800 px
    with pytest.raises(ToolError, match=r"ratio <= 1\.08") as refused:
        invoke(TOOLS.get("outpaint"), {"image": photo, "direction": "right", "ratio": 2, "steps": 2}, ctx)
    assert "above the 0.01 MP limit" in str(refused.value)
    with pytest.raises(ToolError, match=r"ratio <= 0\.44"):
        invoke(TOOLS.get("outpaint"), {"image": photo, "direction": "all", "ratio": 1, "steps": 2}, ctx)
    assert ctx.backend.intervals == [] and _files(ctx) == []
    fits = invoke(TOOLS.get("outpaint"), {"image": photo, "direction": "right", "ratio": 1, "steps": 2}, ctx)
    assert fits.image.width * fits.image.height <= 10_000


# -- jobs ------------------------------------------------------------------------------------------


def _start(ctx, tool, args, caller=None):
    """Start ``tool`` as a background job (start_job), as a face would."""
    return invoke(TOOLS.get("start_job"), {"tool": tool, "args": args}, ctx, caller=caller, registry=TOOLS)


def _slow_job(ctx, photo, **extra):
    return _start(ctx, "restore", {"image": photo, "problem": "deblur", "steps": 200, **extra})


def test_the_job_cap_is_enforced_with_a_clear_refusal(ctx, workspace, monkeypatch):
    monkeypatch.setattr(backend_module, "MAX_PENDING", 3)
    photo = str(workspace / "in" / "photo.png")
    jobs = [_slow_job(ctx, photo) for _ in range(3)]
    with pytest.raises(ToolError, match="3 jobs are already queued or running"):
        _slow_job(ctx, photo)
    for job in jobs:
        invoke(TOOLS.get("job_cancel"), {"job_id": job.job_id}, ctx)
    for job in jobs:
        ctx.backend.job(job.job_id).future.exception(timeout=60)
    assert _files(ctx) == []  # cancelled jobs wrote nothing, not even their input copies
    assert _slow_job(ctx, photo, steps=2).status in ("queued", "running")  # room again


def test_finished_jobs_expire_with_a_message_that_says_so(ctx, workspace, monkeypatch):
    monkeypatch.setattr(backend_module, "MAX_FINISHED", 2)
    photo = str(workspace / "in" / "photo.png")
    ids = []
    for _ in range(4):
        queued = _start(ctx, "depth", {"image": photo, "steps": 2})
        ctx.backend.job(queued.job_id).future.result(timeout=60)
        ids.append(queued.job_id)
    with pytest.raises(ToolError, match="has expired"):
        invoke(TOOLS.get("job_result"), {"job_id": ids[0]}, ctx)
    assert invoke(TOOLS.get("job_result"), {"job_id": ids[-1]}, ctx).status == "done"
    with pytest.raises(ToolError, match="no job"):
        invoke(TOOLS.get("job_result"), {"job_id": "job_000000000000"}, ctx)


def test_a_cancelled_queued_job_with_a_data_uri_writes_nothing(ctx, workspace):
    uri = _data_uri(Image.open(workspace / "in" / "photo.png"))
    blocker = _slow_job(ctx, str(workspace / "in" / "photo.png"))
    queued = _start(ctx, "depth", {"image": uri, "steps": 2})
    invoke(TOOLS.get("job_cancel"), {"job_id": queued.job_id}, ctx)
    invoke(TOOLS.get("job_cancel"), {"job_id": blocker.job_id}, ctx)
    for job_id in (queued.job_id, blocker.job_id):
        ctx.backend.job(job_id).future.exception(timeout=60)
    assert invoke(TOOLS.get("job_status"), {"job_id": queued.job_id}, ctx).status == "cancelled"
    assert _files(ctx) == []


def test_jobs_belong_to_the_caller_that_started_them(ctx, workspace):
    queued = _start(ctx, "depth", {"image": str(workspace / "in" / "photo.png"), "steps": 2}, caller="alice")
    with pytest.raises(ToolError, match="no job"):
        invoke(TOOLS.get("job_cancel"), {"job_id": queued.job_id}, ctx, caller="bob")
    ctx.backend.job(queued.job_id, "alice").future.result(timeout=60)
    assert invoke(TOOLS.get("job_status"), {"job_id": queued.job_id}, ctx, caller="alice").status == "done"


# -- temporary files, the store, its cap ------------------------------------------------------------


def test_stale_temp_files_are_removed_at_start_up(workspace):
    store = workspace / "store"
    store.mkdir()
    dead = store / f"{fsafe.TMP_PREFIX}999999-deadbeef"  # a pid no process has
    dead.write_bytes(b"x" * 1000)
    reused = store / f"{fsafe.TMP_PREFIX}{os.getpid()}-0badcafe"  # our pid, written before we started
    reused.write_bytes(b"x")
    os.utime(reused, (time.time() - 3600, time.time() - 3600))
    live = store / f"{fsafe.TMP_PREFIX}1-12345678"  # pid 1 is alive: its write may be in flight
    live.write_bytes(b"x")
    other = store / "notes.txt"
    other.write_text("not ours")
    ctx = make_context(store_dir=store)
    assert not dead.exists() and not reused.exists() and live.exists() and other.exists()
    assert ctx.store.cleaned_tmp == 2


def test_describe_image_writes_nothing_and_inputs_are_stored_only_as_parents(ctx, workspace):
    photo = workspace / "in" / "photo.png"
    described = invoke(TOOLS.get("describe_image"), {"image": str(photo)}, ctx)
    assert described.id is None and described.bytes == photo.stat().st_size and len(described.sha256) == 64
    assert _files(ctx) == []
    out = invoke(TOOLS.get("depth"), {"image": str(photo), "steps": 2}, ctx)
    parent = out.provenance.parents[0]
    assert parent == f"img_{described.sha256[:12]}" and ctx.store.get(parent).meta["input"] is True


def test_the_store_cap_prunes_the_oldest_and_keeps_what_a_run_needs(workspace):
    ctx = make_context(
        store_dir=workspace / "store", allow_dirs=[workspace / "in"], store_cap=StoreCap(max_bytes=1)
    )
    first = invoke(TOOLS.get("depth"), {"image": str(workspace / "in" / "photo.png"), "steps": 2}, ctx)
    with ctx.store.pinned([first.image.id]):
        pruned = ctx.store.apply_cap()
    assert first.image.id not in pruned and ctx.store.get(first.image.id)
    assert set(pruned) >= {first.provenance.parents[0]}  # unpinned: gone
    assert ctx.store.apply_cap() and ctx.store.entries() == []


def test_store_list_and_prune_commands(ctx, workspace):
    from typer.testing import CliRunner

    from pixwizard.cli import app

    invoke(TOOLS.get("depth"), {"image": str(workspace / "in" / "photo.png"), "steps": 2}, ctx)
    runner = CliRunner()
    listed = runner.invoke(app, ["store", "list", "--store", str(ctx.store.root), "--json"])
    assert listed.exit_code == 0, listed.output
    count = len(__import__("json").loads(listed.stdout))
    assert count == len(ctx.store.entries()) >= 3
    dry = runner.invoke(
        app, ["store", "prune", "--store", str(ctx.store.root), "--max-size", "1", "--dry-run"]
    )
    assert dry.exit_code == 0 and len(ctx.store.entries()) == count
    pruned = runner.invoke(app, ["store", "prune", "--store", str(ctx.store.root), "--older-than", "0s"])
    assert pruned.exit_code == 0 and ctx.store.entries() == []
    bad = runner.invoke(app, ["store", "prune", "--store", str(ctx.store.root), "--older-than", "soon"])
    assert bad.exit_code == 1 and "30d" in bad.output


def test_outputs_follow_the_umask(ctx, workspace):
    old = os.umask(0o022)
    try:
        out = invoke(
            TOOLS.get("depth"),
            {"image": str(workspace / "in" / "photo.png"), "steps": 2, "output_dir": str(workspace / "out")},
            ctx,
        )
    finally:
        os.umask(old)
    assert os.stat(out.image.path).st_mode & 0o777 == 0o644
    assert os.stat(out.exported_to).st_mode & 0o777 == 0o644


# -- odd images ------------------------------------------------------------------------------------


def _odd_images():
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), np.uint8)
    base = Image.fromarray(rgb)
    yield "cmyk.jpg", base.convert("CMYK"), "JPEG", "RGB"
    yield "cmyk.tif", base.convert("CMYK"), "TIFF", "RGB"
    yield "lab.tif", base.convert("LAB"), "TIFF", "RGB"
    yield "float.tif", Image.fromarray(rgb[..., 0].astype(np.float32) / 255), "TIFF", "L"
    yield "int32.tif", Image.fromarray(rgb[..., 0].astype(np.int32) * 1000), "TIFF", "L"
    yield "16bit.png", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG", "L"
    yield "palette.gif", base.convert("P"), "GIF", "RGB"
    yield "bilevel.png", base.convert("1"), "PNG", "L"


@pytest.mark.parametrize(
    "name, image, fmt, mode", list(_odd_images()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_odd_modes_are_converted_before_they_are_stored(ctx, workspace, name, image, fmt, mode):
    path = workspace / "in" / name
    image.save(path, format=fmt)
    out = invoke(TOOLS.get("depth"), {"image": str(path), "steps": 2}, ctx)
    parent = ctx.store.get(out.provenance.parents[0])
    assert (parent.width, parent.height, parent.mode) == (16, 12, mode)


def test_float_images_keep_their_values(ctx, workspace):
    values = np.linspace(0, 1, 16 * 12, dtype=np.float32).reshape(12, 16)
    Image.fromarray(values).save(workspace / "in" / "f.tif")
    loaded = ctx.store.load(str(workspace / "in" / "f.tif"))
    assert np.abs(np.asarray(loaded.image, np.float32) - values * 255).max() <= 0.5


def test_exif_orientation_is_applied_on_load(ctx, workspace):
    image = Image.new("RGB", (80, 60), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image.save(workspace / "in" / "turned.jpg", exif=exif)
    described = invoke(TOOLS.get("describe_image"), {"image": str(workspace / "in" / "turned.jpg")}, ctx)
    assert (described.width, described.height) == (60, 80)


def test_only_listed_formats_are_decoded(ctx, workspace):
    Image.new("RGB", (32, 32)).save(workspace / "in" / "icon.ico", format="ICO")
    with pytest.raises(ToolError, match="not an image in a supported format"):
        ctx.store.load(str(workspace / "in" / "icon.ico"))


def test_our_pixel_limit_is_the_only_limit(workspace, monkeypatch, png_header):
    """Above Pillow's own bomb threshold, an image within our (raised) limit is decoded by our rules."""
    from pixwizard.tools import Limits

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    header = png_header(20_000, 10_000)  # 200 MP: Pillow's default refuses above 179 MP
    (workspace / "in" / "wide.png").write_bytes(header)
    ctx = make_context(
        store_dir=workspace / "store", allow_dirs=[workspace / "in"], limits=Limits(max_pixels=250_000_000)
    )
    with pytest.raises(ToolError, match="truncated or corrupt"):  # decoding was attempted: our limit held
        ctx.store.load(str(workspace / "in" / "wide.png"))


# -- stored files match the typed results ----------------------------------------------------------


def test_ground_masks_in_the_store_match_the_result(ctx, workspace, ideal_grounding):
    from pixwizard.tasks.decoders import rle_to_mask

    photo = str(workspace / "in" / "photo.png")
    out = invoke(TOOLS.get("ground"), {"image": photo, "referring": "it", "steps": 2}, ctx)
    assert out.found and len(out.objects) == 1
    for obj in out.objects:
        stored = np.asarray(Image.open(io.BytesIO(ctx.store.read_bytes(obj.mask.id)))) > 127
        assert stored.sum() == obj.area > 0 and np.array_equal(stored, rle_to_mask(obj.rle))
        ys, xs = np.nonzero(stored)
        assert obj.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_depth_files_in_the_store_match_the_result(ctx, workspace):
    out = invoke(TOOLS.get("depth"), {"image": str(workspace / "in" / "photo.png"), "steps": 2}, ctx)
    depth = np.load(out.npy_path)
    assert depth.dtype == np.float32 and depth.shape == (60, 80)
    assert (float(depth.min()), float(depth.max())) == pytest.approx((out.stats.min, out.stats.max), abs=1e-6)
    assert float(depth.mean()) == pytest.approx(out.stats.mean, abs=1e-5) and depth.max() > 0
    grey = np.asarray(Image.open(out.image.path))
    assert np.array_equal(grey, np.round(depth * 255).astype(np.uint8))
    png16 = np.asarray(Image.open(out.png16_path))
    assert np.array_equal(png16.astype(np.int64), np.round(depth * 65535).astype(np.int64))


def test_a_preview_is_never_encoded_at_full_resolution(monkeypatch):
    """A 2048² noise image (incompressible): at most two encodes, each within the preview's pixel budget."""
    from pixwizard.tools.preview import preview_png

    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (2048, 2048, 3), np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG", compress_level=1)
    encoded, real_save = [], Image.Image.save

    def recording_save(image, fp, format=None, **params):
        encoded.append((image.size, params.get("optimize", False)))
        return real_save(image, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", recording_save)
    preview = preview_png(buffer.getvalue(), 256_000)
    assert len(preview) <= 256_000 and 1 <= len(encoded) <= 2, encoded
    assert all(w * h <= 256_000 and not optimize for (w, h), optimize in encoded), encoded


def test_stale_temp_files_in_output_folders_are_removed_too(workspace):
    stale = workspace / "out" / f"{fsafe.TMP_PREFIX}999999-deadbeef"
    stale.write_bytes(b"x")
    make_context(store_dir=workspace / "store", output_dirs=[workspace / "out"])
    assert not stale.exists()
