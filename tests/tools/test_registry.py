"""The registry: one tool per task (total and unique), schema snapshot, selection, plugin direction."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from pixwizard.tools import ToolError, default_registry
from pixwizard.tools.registry import Registry
from pixwizard.tools.spec import ToolSpec

from pixwizard.tasks import TASKS

SNAPSHOT = Path(__file__).with_name("tool_schemas.json")
UPDATE_ENV = "PIXWIZARD_UPDATE_SCHEMAS"
ROOT = Path(__file__).resolve().parents[2]


def test_every_task_is_served_by_exactly_one_tool_declared_on_its_spec():
    registry = default_registry()
    served = [(task, spec.name) for spec in registry for task in spec.tasks]
    tasks = [task for task, _ in served]
    assert sorted(tasks) == sorted(TASKS), (
        f"not served: {set(TASKS) - set(tasks)}; unknown: {set(tasks) - set(TASKS)}"
    )
    assert len(tasks) == len(set(tasks)), "a task is served twice"
    assert registry.tool_for_task("dehaze").name == "restore"
    assert registry.tool_for_task("ground_box").name == "ground"
    assert registry.tool_for_task("pose").name == "annotate"
    assert registry.tool_for_task("hed_to_image").name == "control_generate"
    # run_instruction routes to every task but serves none of them itself
    assert registry.get("run_instruction").tasks == ()


def test_a_second_tool_for_a_served_task_is_refused():
    registry = default_registry()
    spec = registry.get("depth")
    clone = ToolSpec(
        "depth2", spec.description, spec.input_model, spec.output_model, spec.fn, tasks=("depth",)
    )
    with pytest.raises(ValueError, match="depth2 would serve depth, already served"):
        registry.add(clone)
    with pytest.raises(ValueError, match="already registered"):
        registry.add(spec)


def _schemas(registry: Registry) -> dict:
    return {
        spec.name: {
            "input": spec.input_model.model_json_schema(),
            "output": spec.output_model.model_json_schema(mode="serialization"),
        }
        for spec in registry
    }


def test_tool_schemas_match_the_snapshot():
    """Changing a tool's input or output schema is deliberate: update the snapshot, say so in CHANGELOG.md."""
    current = _schemas(default_registry())
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    saved = json.loads(SNAPSHOT.read_text())
    changed = sorted(name for name in set(saved) | set(current) if saved.get(name) != current.get(name))
    assert not changed, (
        f"the schemas of {', '.join(changed)} changed; if that is deliberate, run {UPDATE_ENV}=1 "
        "pytest tests/tools/test_registry.py and describe the change in CHANGELOG.md"
    )


def test_output_fields_are_required_apart_from_genuinely_optional_ones():
    registry = default_registry()
    for name in ("restore", "ground", "segment", "depth", "inpaint", "remove_object", "crop"):
        schema = registry.get(name).output_model.model_json_schema()
        assert {"image"} <= set(schema.get("required", [])), name
        assert "status" not in schema["properties"] and "job_id" not in schema["properties"], name
    for spec in registry:
        assert "wait" not in spec.input_model.model_fields, spec.name


def test_selection_includes_excludes_and_refuses_unknown_names():
    registry = default_registry()
    assert registry.select(include=["depth", "crop"]).names == ["depth", "crop"]
    rest = registry.select(exclude=["depth"])
    assert "depth" not in rest and len(rest) == len(registry) - 1
    with pytest.raises(ToolError, match="unknown tool 'dpeth'"):
        registry.select(include=["dpeth"])
    with pytest.raises(ToolError, match="unknown tool 'nope'"):
        registry.select(exclude=["nope"])
    assert len(registry) == len(default_registry()), "select changed the registry"


def test_agents_register_through_the_entry_point_and_tools_never_import_agents():
    names = default_registry().names
    for name in ("remove_object", "replace_object", "add_object", "restore_then", "plan", "run_plan"):
        assert name in names
    imports = re.compile(r"^\s*(from|import)\s+(pixwizard\.agents|agents)\b", re.M)
    offenders = [p.name for p in (ROOT / "tools").glob("*.py") if imports.search(p.read_text())]
    offenders += [p.name for p in (ROOT / "mcp_server").glob("*.py") if imports.search(p.read_text())]
    assert not offenders, f"tools/mcp_server import agents: {offenders}"
