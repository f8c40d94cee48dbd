"""`make demo`'s report opened in headless Chromium (issue 12, acceptance 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixwizard import demo

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The demo with the default model (pixwizard-world where its weights ship), as `make demo` runs it."""
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PIXWIZARD_MODEL", raising=False)  # as on a user's machine: the default model runs
        status = demo.main(outputs=out, fixtures=ROOT / "tests" / "fixtures")
    return out, status


def test_the_demo_writes_a_report_whose_images_all_load(report, browser_check, capsys):
    out, status = report
    assert status == 0
    seen = browser_check(out / "index.html", out / "screenshot.png")
    assert seen["title"] == "PixWizard demo" and seen["failed_requests"] == []
    assert len(seen["images"]) >= 9
    broken = [image["src"] for image in seen["images"] if not (image["complete"] and image["width"] > 0)]
    assert broken == []
    assert (out / "screenshot.png").stat().st_size > 10_000


def test_each_request_shows_its_plan_and_the_results_of_every_step(report, browser_check):
    out, _ = report
    seen = browser_check(out / "index.html")
    sections = seen["sections"]
    assert [s["id"] for s in sections] == ["request1", "request2", "request3"]
    first = sections[0]
    assert "clean up the noise, then remove the" in first["request"]
    assert [line.split(" ")[1] for line in first["plan"]] == ["restore", "remove_object", "depth"]
    for section in sections:
        assert section["plan"] and len(section["results"]) == len(section["plan"]), section
        assert section["status"].startswith("done, "), section
        assert all(result["images"] >= 1 for result in section["results"]), section
    summaries = [" ".join(r["summary"]) for s in sections for r in s["results"]]
    assert any("found: " in text for text in summaries)  # grounding and the recipe say what they found
    assert any("labels: " in text for text in summaries)  # segmentation lists its labels
    assert any("depth min" in text for text in summaries)
