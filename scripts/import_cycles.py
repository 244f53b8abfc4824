"""Report import cycles between the modules of a package (default: collector/).

Usage: ``python scripts/import_cycles.py [PACKAGE_DIR]``. Prints one line per cycle (the
modules that import each other, directly or not), and exits 1 if there is any.

What counts is a module's static dependencies: ``import`` and ``from ... import``
statements at module level, in class bodies and in ``if``/``try``/``with`` blocks,
those under ``if TYPE_CHECKING:`` included (a cycle of types is still a cycle for
whoever reads or type-checks the code), but not those inside functions: a lazy import
is the way a module that builds another (a config model's ``build``) says it does not
depend on it when loaded. ``from a import b`` is an edge to ``a.b`` when that is a
module, else to ``a``. The implicit import of a package's
``__init__`` when one of its submodules is imported is left out: every submodule would
otherwise form a cycle with a package that re-exports it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    """``root/sinks/file.py`` -> ``collector.sinks.file`` (``root`` is the package dir)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _static_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            yield from _static_imports(node.body)
            yield from _static_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _static_imports(block)
            for handler in node.handlers:
                yield from _static_imports(handler.body)
        elif isinstance(node, ast.ClassDef | ast.With):
            yield from _static_imports(node.body)


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


def import_graph(root: Path) -> Graph:
    """Module -> the modules of the same package it imports when it is imported."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    known = set(files)
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges = {
            target
            for node in _static_imports(tree.body)
            for target in _targets(node, module, is_package, known)
        }
        graph[module] = {target for target in edges if target in known and target != module}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted
    to start at its smallest name, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).parent.parent / "collector")
    found = cycles(import_graph(root.resolve()))
    for component in found:
        print("cycle: " + " <-> ".join(component))
    if not found:
        print(f"no import cycles in {root}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
