"""The browser harness: Node's playwright-core (pinned in package-lock.json) driving Debian's Chromium.

Nothing downloads a browser. Without Chromium, Node or the npm packages the tests skip and say which is
missing; under ``CI=true`` (where `.ci/run` installs them) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("PIXWIZARD_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium; or set PIXWIZARD_CHROMIUM)"
    if shutil.which("node") is None:
        return "Node.js not found (node)"
    for package in (
        "playwright-core",
        "esbuild",
        "@modelcontextprotocol/ext-apps",
        "@modelcontextprotocol/client",
    ):
        if not (HERE / "node_modules" / package).is_dir():
            return f"{package} not installed (npm ci --prefix {HERE})"
    return None


@pytest.fixture(scope="session")
def browser_ready() -> None:
    """Skip (or, under ``CI=true``, fail) when Chromium, Node or the npm packages are missing."""
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)


@pytest.fixture(scope="session")
def browser_check(browser_ready):
    """``browser_check(page, screenshot=None)``: what `check_page.mjs` saw on a local page (a dict)."""

    def check(page: Path, screenshot: Path | None = None) -> dict:
        command = ["node", str(HERE / "check_page.mjs"), str(page)] + (
            [str(screenshot)] if screenshot else []
        )
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ | {"PIXWIZARD_CHROMIUM": CHROMIUM},
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    return check
