"""``make demo`` says each thing once and ends with what to try next (issue 9: 3.11)."""

from __future__ import annotations

import json
from pathlib import Path

from pixwizard import demo

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_prints_the_noise_notice_once_parity_plainly_and_next_steps(tmp_path, capsys, caplog):
    assert demo.main(outputs=tmp_path / "outputs", fixtures=REPO / "tests" / "fixtures", steps=3) == 0
    printed = capsys.readouterr()
    everything = printed.out + printed.err + "\n".join(r.getMessage() for r in caplog.records)
    assert everything.count("outputs are noise") == 1
    assert "manifests 0/0" not in everything
    lines = printed.out.splitlines()
    assert "parity official_parity_mha: 6/6 cases within 1e-05" in lines
    assert "parity official_parity: 6/6 cases within 1e-05, 4/4 released-model shape manifests match" in lines
    after = lines[lines.index("next:") :]
    assert any("pixwizard --help" in line for line in after)
    host = json.loads(next(line for line in after if "mcpServers" in line))
    assert host["mcpServers"]["pixwizard"]["args"][:3] == ["mcp", "--model", "tiny-random"]
    assert (tmp_path / "outputs" / "demo_output.png").is_file()
