"""``-o DIR`` writes what each result describes, named after its input, never over a file (9: 3.1, 3.3)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
from PIL import Image

from pixwizard.cli._outputs import OutputFolder, ResultFile, result_files

TMP_PREFIX = ".pixwizard-tmp-"


def _files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_depth_writes_the_depth_map_its_npy_and_16_bit_png(cli, photo, tmp_path):
    out = tmp_path / "out"
    result = cli("depth", str(photo), "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    (payload,) = json.loads(result.stdout)
    names = ["photo_depth.png", "photo_depth.npy", "photo_depth16.png"]
    assert _files(out) == set(names) and payload["written"] == [str(out / n) for n in names]
    # byte for byte the files the result names, and they agree with each other
    assert (out / "photo_depth.png").read_bytes() == open(payload["image"]["path"], "rb").read()
    assert (out / "photo_depth.npy").read_bytes() == open(payload["npy_path"], "rb").read()
    assert (out / "photo_depth16.png").read_bytes() == open(payload["png16_path"], "rb").read()
    depth = np.load(out / "photo_depth.npy")
    grey = Image.open(out / "photo_depth.png")
    assert grey.mode == "L" and grey.size == (80, 60) == depth.shape[::-1]
    # (the .npy is float32; the PNGs were rounded from the float64 map: at most one level apart)
    assert np.abs(np.asarray(grey, np.float64) - depth * 255).max() <= 1
    assert np.abs(np.asarray(Image.open(out / "photo_depth16.png"), np.float64) - depth * 65535).max() <= 1
    assert depth.std() > 0  # not a blank map


@pytest.mark.parametrize(
    "tool, args, names",
    [
        ("segment", [], {"photo_segment.png", "photo_segment_overlay.png"}),
        ("annotate", ["--kind", "normal"], {"photo_normal.png", "photo_normal.npy"}),
        ("text_to_image", ["--caption", "a boat", "--width", "64", "--height", "64"], {"text_to_image.png"}),
    ],
)
def test_each_tool_writes_every_file_of_its_result(cli, photo, tmp_path, tool, args, names):
    out = tmp_path / "out"
    positional = [] if tool == "text_to_image" else [str(photo)]
    result = cli(tool, *positional, *args, "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    (payload,) = json.loads(result.stdout)
    assert _files(out) == names
    for file, written in zip(result_files(payload), payload["written"], strict=True):
        assert open(written, "rb").read() == file.source.read_bytes()


def test_result_files_names_each_object_mask():
    image = {"id": "img_1", "uri": "u", "path": "/s/img_1.png"}
    mask = {"id": "img_2", "uri": "u", "path": "/s/img_2.png"}
    ground = {"image": image, "objects": [{"box": [0, 0, 1, 1], "mask": mask}, {"mask": mask}], "found": True}
    assert [f.ending for f in result_files(ground)] == ["", "_mask0", "_mask1"]


def test_batch_outputs_keep_each_stem_and_never_overwrite(cli, photo, tmp_path):
    other = tmp_path / "other" / "photo.png"
    other.parent.mkdir()
    other.write_bytes(photo.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "photo_depth.png").write_bytes(b"mine")  # a file of the user's, taken by name
    result = cli("depth", str(photo), str(other), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "photo_depth.png").read_bytes() == b"mine"
    assert _files(out) == {
        "photo_depth.png",
        *(f"photo_depth-{n}.png" for n in (1, 2)),
        *(f"photo_depth-{n}.npy" for n in (1, 2)),
        *(f"photo_depth16-{n}.png" for n in (1, 2)),
    }
    assert not any(name.startswith("img_") for name in _files(out))


def test_an_output_symlink_is_refused_before_any_work(cli, photo, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "out").symlink_to(target)
    result = cli("depth", str(photo), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "symbolic link" in result.stderr and result.stderr.count("error:") == 1
    assert not any(target.iterdir()) and not (tmp_path / "store").exists()


def test_written_files_take_the_umask_and_no_temporary_file_stays(photo, tmp_path):
    previous = os.umask(0o027)
    try:
        with OutputFolder(tmp_path / "new" / "out") as folder:
            (written,) = folder.write("photo_depth", [ResultFile(photo, "")])
    finally:
        os.umask(previous)
    assert written.name == "photo_depth.png" and written.read_bytes() == photo.read_bytes()
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert not [n for n in os.listdir(written.parent) if n.startswith(TMP_PREFIX)]
