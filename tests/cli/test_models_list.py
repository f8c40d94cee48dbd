"""Which models run offline and which one runs by default: `pixwizard models list`, pixwizard://models, and
the default model of the library's tool context (issue 12, "The default model and the demo")."""

from __future__ import annotations

import json
import logging

import pytest
from mcp import Client
from pixwizard.mcp_server.server import build_server
from pixwizard.tools import default_registry, make_context
from typer.testing import CliRunner

from pixwizard.cli import app
from pixwizard.pipeline import names

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty PIXWIZARD_HOME and no PIXWIZARD_MODEL."""
    monkeypatch.setenv("PIXWIZARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PIXWIZARD_MODEL", raising=False)
    return tmp_path / "home"


def _fetched(home):
    folder = home / "models" / "pixwizard"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    return folder


def _by_name(rows):
    return {row["name"]: row for row in rows}


def test_models_list_names_every_built_in_model_and_marks_the_default(home):
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = _by_name(json.loads(result.stdout))
    assert {"pixwizard-world", "tiny-random", "pixwizard-world-untrained"} <= set(rows)
    built_in = "pixwizard-world" if names.world_weights_present() else "tiny-random"
    assert [name for name, row in rows.items() if row["default"]] == [built_in]
    world = rows["pixwizard-world"]
    assert (world["location"] is not None) == names.world_weights_present()
    lines = runner.invoke(app, ["models", "list"]).stdout.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("* ")] == [f"* {built_in}"]
    assert "  pixwizard-world-untrained: " in "\n".join(lines)


def test_the_fetched_folder_then_the_environment_take_the_default(home, monkeypatch):
    folder = _fetched(home)
    rows = _by_name(names.available_models())
    assert rows[str(folder)]["kind"] == "fetched" and rows[str(folder)]["default"]
    assert not rows["tiny-random"]["default"]
    monkeypatch.setenv("PIXWIZARD_MODEL", "tiny-random")
    rows = _by_name(names.available_models())
    assert rows["tiny-random"]["default"] and not rows[str(folder)]["default"]
    monkeypatch.setenv("PIXWIZARD_MODEL", "/somewhere/else")
    rows = _by_name(names.available_models())
    assert rows["/somewhere/else"] == {
        "name": "/somewhere/else",
        "kind": "env",
        "location": "/somewhere/else",
        "note": "named by PIXWIZARD_MODEL",
        "default": True,
    }


def test_models_fetch_without_dir_writes_the_default_folder(home):
    """Offline, fetch fails at once; the folder it names is the one `choose_model` looks in."""
    result = runner.invoke(app, ["models", "fetch"], env={"HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[0]
        == f"fetching the released PixWizard into {home / 'models' / 'pixwizard'}"
    )
    assert "offline" in result.stderr and not (home / "models" / "pixwizard").exists()


def test_the_tool_context_resolves_and_logs_its_model(home, monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="pixwizard.tools"):
        ctx = make_context(store_dir=home / "store")
    built_in = "pixwizard-world" if names.world_weights_present() else "tiny-random"
    assert ctx.backend.model == built_in
    assert any(built_in in record.getMessage() for record in caplog.records)
    monkeypatch.setenv("PIXWIZARD_MODEL", "tiny-random")
    assert make_context(store_dir=home / "store").backend.model == "tiny-random"
    assert make_context("pixwizard-world", store_dir=home / "store").backend.model == "pixwizard-world"


@pytest.mark.anyio
async def test_the_models_resource_says_what_this_server_runs(home):
    folder = _fetched(home)
    ctx = make_context("tiny-random", store_dir=home / "store")
    async with Client(build_server(default_registry(), ctx), raise_exceptions=True) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "pixwizard://models" in listed
        body = json.loads((await client.read_resource("pixwizard://models")).contents[0].text)
    rows = _by_name(body["models"])
    assert body["serving"] == "tiny-random" and rows["tiny-random"]["serving"]
    assert rows[str(folder)]["default"] and not rows[str(folder)]["serving"]
