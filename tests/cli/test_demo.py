"""``make demo`` says each thing once and ends with what to try next (issue 9: 3.11; issue 12: the report)."""

from __future__ import annotations

import json
from pathlib import Path

from pixwizard import demo

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_noise_notice_once_parity_plainly_and_next_steps(tmp_path, capsys, caplog):
    out = tmp_path / "demo-output"
    assert demo.main(outputs=out, fixtures=REPO / "tests" / "fixtures", model="tiny-random") == 0
    printed = capsys.readouterr()
    everything = printed.out + printed.err + "\n".join(r.getMessage() for r in caplog.records)
    assert everything.count("outputs are noise") == 1
    assert "manifests 0/0" not in everything
    lines = printed.out.splitlines()
    assert lines[0] == "model: tiny-random"
    assert [line.split(":")[0] for line in lines if line.startswith("request ")] == [
        "request 1",
        "request 2",
        "request 3",
    ]
    assert "parity official_parity_mha: 6/6 cases within 1e-05" in lines
    assert "parity official_parity: 6/6 cases within 1e-05, 4/4 released-model shape manifests match" in lines
    assert any(line.startswith(f"report: {(out / 'index.html').resolve()} (") for line in lines)
    after = lines[lines.index("next:") :]
    assert any("pixwizard --help" in line for line in after)
    host = json.loads(next(line for line in after if "mcpServers" in line))
    assert host["mcpServers"]["pixwizard"]["args"] == ["mcp", "--allow-dir", str((out / "inputs").resolve())]
    assert (out / "index.html").is_file() and len(list((out / "images").glob("*.png"))) >= 7


def test_the_demo_scenes_name_an_object_each_scene_holds():
    scenes = demo.demo_scenes()
    assert [s.request.split(",")[0] for s in scenes] == [
        "clean up the noise",
        "find the " + scenes[1].request.split("find the ")[1].split(" and")[0] + " and outline it",
        "brighten this dark photo",
    ]
    for s in scenes:
        x0, y0, x1, y1 = s.target
        assert 0 <= x0 < x1 <= s.image.width and 0 <= y0 < y1 <= s.image.height
        assert s.target == tuple(int(v) for v in s.about.split(" is at (")[1].rstrip(")").split(", "))
