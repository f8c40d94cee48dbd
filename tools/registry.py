"""The registry: the set of tools a face (MCP server, LangChain, CLI, a plan) offers.

The faces take a `Registry` as a parameter instead of reading a module global, so other packages add
their tools without this package importing them: `default_registry` holds the built-in tools and the
model-free image operations, then calls every ``pixwizard.tools`` entry point (``register(registry)``),
which is how `pixwizard.agents` adds plans and recipes. A selection (``include`` / ``exclude``) is a new
registry; the original is never changed.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .spec import ToolError, ToolSpec

logger = logging.getLogger(__name__)
PLUGIN_GROUP = "pixwizard.tools"


@dataclass(frozen=True)
class TextResource:
    """A read-only text resource a plugin publishes beside its tools (e.g. the plan JSON Schema)."""

    uri: str
    description: str
    mime_type: str
    read: Callable[[], str]


class Registry:
    """Tool specs by name, in the order they were added, and the text resources that go with them.

    Args:
        specs: The first tools.
    """

    def __init__(self, specs: Iterable[ToolSpec] = (), resources: Iterable[TextResource] = ()):
        self._specs: dict[str, ToolSpec] = {}
        self.resources: list[TextResource] = list(resources)
        self.full: Registry = self  # the registry a selection was made from (recipes' building blocks)
        for spec in specs:
            self.add(spec)

    def add_resource(self, resource: TextResource) -> None:
        """Publish a text resource (served by the MCP face)."""
        if any(r.uri == resource.uri for r in self.resources):
            raise ValueError(f"a resource {resource.uri!r} is already registered")
        self.resources.append(resource)

    def add(self, spec: ToolSpec) -> None:
        """Add a tool.

        Raises:
            ValueError: A tool of that name is already registered, or a task it serves already has a tool.
        """
        if spec.name in self._specs:
            raise ValueError(f"a tool named {spec.name!r} is already registered")
        served = self.task_map()
        taken = [task for task in spec.tasks if task in served]
        if taken:
            raise ValueError(f"{spec.name} would serve {', '.join(taken)}, already served by another tool")
        self._specs[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        """A tool by name.

        Raises:
            ToolError: Unknown, with the known names.
        """
        try:
            return self._specs[name]
        except KeyError:
            raise ToolError(
                f"unknown tool {name!r}", suggestions=[f"one of: {', '.join(self._specs)}"]
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> list[str]:
        """Tool names in order."""
        return list(self._specs)

    def select(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> Registry:
        """A registry of only ``include`` (default: all), less ``exclude``.

        Raises:
            ToolError: A name that is not a tool (so a typo does not silently drop a tool).
        """
        include = None if include is None else [include] if isinstance(include, str) else list(include)
        exclude = [exclude] if isinstance(exclude, str) else list(exclude or ())
        unknown = [name for name in (include or []) + exclude if name not in self._specs]
        if unknown:
            raise ToolError(
                f"unknown tool {', '.join(repr(n) for n in unknown)}",
                suggestions=[f"one of: {', '.join(self._specs)}"],
            )
        chosen = self._specs if include is None else {name: self._specs[name] for name in include}
        selected = Registry((spec for name, spec in chosen.items() if name not in exclude), self.resources)
        if not len(selected):
            known = ", ".join(self._specs)
            raise ToolError("the selection leaves no tool", suggestions=[f"choose from: {known}"])
        selected.full = self.full
        return selected

    def task_map(self) -> dict[str, str]:
        """Which tool serves each task (the tasks a tool declares on its spec)."""
        return {task: spec.name for spec in self._specs.values() for task in spec.tasks}

    def tool_for_task(self, task: str) -> ToolSpec:
        """The tool that serves a task.

        Raises:
            ToolError: No tool here serves it.
        """
        name = self.task_map().get(task)
        if name is None:
            raise ToolError(f"no tool serves the task {task!r} in this selection of tools")
        return self._specs[name]


def default_registry() -> Registry:
    """The built-in tools, the image operations, and every installed plugin's tools (a new registry)."""
    from .catalog import BUILTIN
    from .ops import OPERATIONS

    registry = Registry([*BUILTIN, *OPERATIONS])
    for entry in _plugins():
        try:
            entry.load()(registry)
        except Exception as exc:  # a broken plugin must say which one it is
            raise ToolError(f"the tool plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
    return registry


def _plugins() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)
