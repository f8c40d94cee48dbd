"""Confinement of reads and writes: races decided deterministically, stress loops, what messages reveal."""

from __future__ import annotations

import os
import threading
import time

import pytest
from pixwizard.tools import ToolError, default_registry, fsafe, invoke

TOOLS = default_registry()


def _describe(ctx, path):
    return invoke(TOOLS.get("describe_image"), {"image": str(path)}, ctx)


def _swap_to_link(folder, target):
    """Replace ``folder`` by a symlink to ``target`` (the attacker's move), keeping the real one aside."""
    os.rename(folder, f"{folder}.real")
    os.symlink(target, folder)


# -- reads: the moment between check and use ---------------------------------------------------------


def test_a_folder_swapped_for_a_link_while_walking_is_refused(ctx, workspace, monkeypatch):
    real = fsafe._open_dir

    def swap_then_open(walk, name, *args, **kwargs):
        if name == "sub" and not os.path.islink(workspace / "in" / "sub"):
            _swap_to_link(workspace / "in" / "sub", workspace / "secret")  # after "in" was checked
        return real(walk, name, *args, **kwargs)

    monkeypatch.setattr(fsafe, "_open_dir", swap_then_open)
    with pytest.raises(ToolError, match="outside the allowed folders"):
        _describe(ctx, workspace / "in" / "sub" / "photo.png")


def test_a_folder_swapped_after_it_was_opened_reads_the_checked_folder(ctx, workspace, monkeypatch):
    real = fsafe._open_dir

    def open_then_swap(walk, name, *args, **kwargs):
        fd = real(walk, name, *args, **kwargs)
        if name == "sub":
            _swap_to_link(workspace / "in" / "sub", workspace / "secret")
        return fd

    monkeypatch.setattr(fsafe, "_open_dir", open_then_swap)
    described = _describe(ctx, workspace / "in" / "sub" / "photo.png")
    assert (described.width, described.height) == (80, 60)  # the folder that was checked, not the secret


def test_a_file_swapped_for_a_link_before_it_is_opened_is_refused(ctx, workspace, monkeypatch):
    real = fsafe._walk

    def walk_then_swap(*args, **kwargs):
        walk, name = real(*args, **kwargs)
        target = workspace / "in" / "sub" / "photo.png"
        if name == "photo.png" and not target.is_symlink():
            target.unlink()
            target.symlink_to(workspace / "secret" / "photo.png")
        return walk, name

    monkeypatch.setattr(fsafe, "_walk", walk_then_swap)
    with pytest.raises(ToolError, match="outside the allowed folders"):
        _describe(ctx, workspace / "in" / "sub" / "photo.png")


def test_a_fifo_swapped_in_after_the_walk_is_refused_at_once(ctx, workspace, monkeypatch):
    real = fsafe._walk

    def walk_then_fifo(*args, **kwargs):
        walk, name = real(*args, **kwargs)
        target = workspace / "in" / "sub" / "photo.png"
        if name == "photo.png" and target.is_file():
            target.unlink()
            os.mkfifo(target)
        return walk, name

    monkeypatch.setattr(fsafe, "_walk", walk_then_fifo)
    start = time.monotonic()
    with pytest.raises(ToolError, match="not a regular file"):
        _describe(ctx, workspace / "in" / "sub" / "photo.png")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("any_path", [False, True])
def test_fifos_and_devices_never_hang(workspace, any_path):
    from pixwizard.tools import make_context

    os.mkfifo(workspace / "in" / "pipe.png")
    ctx = make_context(
        store_dir=workspace / "store", allow_dirs=[workspace / "in"], any_path=any_path, device="cpu"
    )
    paths = [workspace / "in" / "pipe.png"] + ([os.devnull, "/dev/zero"] if any_path else [])
    for path in paths:
        outcome = []
        worker = threading.Thread(target=lambda p=path, o=outcome: o.append(_refusal(ctx, p)), daemon=True)
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), f"reading {path} hung"
        assert outcome and ("not a regular file" in outcome[0] or "outside" in outcome[0]), outcome


def _refusal(ctx, path) -> str:
    try:
        _describe(ctx, path)
    except ToolError as exc:
        return str(exc)
    return "accepted"


def test_links_inside_the_allowed_folder_may_not_leave_it(ctx, workspace):
    (workspace / "in" / "ok.png").symlink_to(workspace / "in" / "photo.png")
    (workspace / "in" / "dirlink").symlink_to(workspace / "in" / "sub")
    (workspace / "in" / "out.png").symlink_to(workspace / "secret" / "photo.png")
    (workspace / "in" / "outdir").symlink_to(workspace / "secret")
    (workspace / "in" / "relative.png").symlink_to("../secret/photo.png")
    (workspace / "in" / "loop.png").symlink_to("loop.png")
    assert _describe(ctx, workspace / "in" / "ok.png").width == 80
    assert _describe(ctx, workspace / "in" / "dirlink" / "photo.png").width == 80
    for name in ("out.png", "outdir/photo.png", "relative.png", "loop.png", "sub/../../secret/photo.png"):
        with pytest.raises(ToolError, match="outside the allowed folders"):
            _describe(ctx, f"{workspace}/in/{name}")


def test_read_race_stress_loop(ctx, workspace, flipper):
    """200 reads while another thread keeps swapping the folder and a link to the secret."""
    sub = workspace / "in" / "sub"
    leaks = 0
    with flipper(sub, workspace / "secret"):
        for _ in range(200):
            try:
                leaks += _describe(ctx, sub / "photo.png").width == 33
            except ToolError:
                pass
    assert leaks == 0


# -- writes ------------------------------------------------------------------------------------------


def test_an_output_folder_swapped_for_a_link_is_refused(ctx, workspace, monkeypatch):
    (workspace / "out" / "sub").mkdir()
    real = fsafe._open_dir
    stored = ctx.store.put(__import__("PIL.Image").Image.new("RGB", (8, 8)))

    def swap_then_open(walk, name, *args, **kwargs):
        if name == "sub" and not os.path.islink(workspace / "out" / "sub"):
            _swap_to_link(workspace / "out" / "sub", workspace / "secret")
        return real(walk, name, *args, **kwargs)

    monkeypatch.setattr(fsafe, "_open_dir", swap_then_open)
    with pytest.raises(ToolError, match="outside the allowed output folders"):
        ctx.store.export(stored, workspace / "out" / "sub")
    assert sorted(os.listdir(workspace / "secret")) == ["photo.png"]


def test_write_race_stress_loop(ctx, workspace, flipper):
    from PIL import Image

    stored = ctx.store.put(Image.new("RGB", (8, 8)))
    sub = workspace / "out" / "sub"
    sub.mkdir()
    written = 0
    with flipper(sub, workspace / "secret") as flips:
        for _ in flips.racing(200):
            try:
                ctx.store.export(stored, sub)
                written += 1
            except ToolError:
                pass
    assert sorted(os.listdir(workspace / "secret")) == ["photo.png"]
    assert written >= 1  # some attempts met the real folder


def test_a_refused_output_folder_costs_nothing(ctx, workspace):
    for folder in (workspace / "secret", workspace / "out" / ".." / "secret", "/etc/pixwizard"):
        with pytest.raises(ToolError, match="outside the allowed output folders"):
            invoke(
                TOOLS.get("depth"),
                {"image": str(workspace / "in" / "photo.png"), "steps": 2, "output_dir": str(folder)},
                ctx,
            )
    assert ctx.backend.intervals == [] and not ctx.backend.loaded  # no model work at all
    assert os.listdir(ctx.store.root) == []


def test_an_output_folder_may_be_created_inside_an_allowed_one(ctx, workspace):
    out = invoke(
        TOOLS.get("depth"),
        {
            "image": str(workspace / "in" / "photo.png"),
            "steps": 2,
            "output_dir": str(workspace / "out" / "a/b"),
        },
        ctx,
    )
    assert os.path.exists(out.exported_to) and out.exported_to.startswith(str(workspace / "out" / "a" / "b"))


# -- what refusals reveal ----------------------------------------------------------------------------


def test_outside_paths_get_one_message_whatever_exists(ctx, workspace):
    existing = _refusal(ctx, workspace / "secret" / "photo.png")
    missing = _refusal(ctx, workspace / "secret" / "nothing.png")
    folder = _refusal(ctx, workspace / "secret")
    assert existing.replace("photo.png", "X") == missing.replace("nothing.png", "X")
    assert "outside the allowed folders" in existing and "outside the allowed folders" in folder
    home = _refusal(ctx, "~/pixwizard-does-not-exist.png")
    assert "outside the allowed folders" in home and os.path.expanduser("~") not in home.split(" is ")[0]


def test_file_uris_with_a_host_are_refused(ctx, workspace):
    photo = workspace / "in" / "photo.png"
    assert _describe(ctx, f"file://{photo}").width == 80
    assert _describe(ctx, f"file://localhost{photo}").width == 80
    with pytest.raises(ToolError, match="no host"):
        _describe(ctx, f"file://evil.example.com{photo}")


def test_the_store_serves_only_its_own_regular_files(ctx, workspace):
    from PIL import Image

    stored = ctx.store.put(Image.new("RGB", (8, 8)))
    planted = "img_0123456789ab"
    (ctx.store.root / f"{planted}.json").write_text((ctx.store.root / f"{stored.id}.json").read_text())
    (ctx.store.root / f"{planted}.png").symlink_to(workspace / "secret" / "photo.png")
    with pytest.raises(ToolError, match="missing or not the store's own"):
        ctx.store.read_bytes(planted)
    linked = "img_ba9876543210"
    (ctx.store.root / f"{linked}.json").symlink_to(ctx.store.root / f"{stored.id}.json")
    with pytest.raises(ToolError, match="no stored image"):
        ctx.store.get(linked)
    os.link(ctx.store.root / f"{stored.id}.png", workspace / "secret" / "hard.png")  # a second name
    with pytest.raises(ToolError, match="missing or not the store's own"):
        ctx.store.read_bytes(stored.id)
