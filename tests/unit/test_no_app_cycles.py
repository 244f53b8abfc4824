"""No import cycle runs through the process modules (cli, commands, app, config, metrics, ...).

Every import counts, those inside functions and under ``TYPE_CHECKING`` included: a
cycle there still means neither module can be read, or changed, without the other.
(``app -> config -> metrics -> app`` was one: the ``[metrics]`` model lived with the
server that reads a whole Collector.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import collector

PACKAGE = Path(collector.__file__).parent
PROCESS_MODULES = {
    f"collector.{name}"
    for name in (
        "cli",
        "commands",
        "result",
        "probe",
        "backfill",
        "demo",
        "app",
        "daemon",
        "health",
        "metrics",
        "metrics_config",
        "config",
        "reference",
        "logging",
        "events",
        "pipeline",
    )
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the collector modules it imports (a name resolves to its longest module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in _imported(ast.parse(path.read_text())):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_process_module_is_on_an_import_cycle() -> None:
    graph = import_graph()
    assert set(graph) >= PROCESS_MODULES, PROCESS_MODULES - set(graph)
    assert sorted(name for name in PROCESS_MODULES if name in _reachable(graph, name)) == []


def test_the_graph_sees_a_cycle_when_there_is_one() -> None:
    graph = import_graph()
    graph["collector.metrics_config"].add("collector.metrics")  # the old shape, in effect
    assert "collector.config" in _reachable(graph, "collector.config")
