"""The project's import graph: no circle anywhere, and the rooms import one way (the painter
uses the clips and the painting, the clips use the painting, the painting uses neither; the
bot never reaches into the engine). Every import counts, a lazy one inside a function or a
typing-only one too: each is a dependency a reader has to hold in mind."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "engine", "jobs", "media", "styles")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Each project module -> the project modules it imports (anywhere in its source)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    edges.add(submodule if submodule in modules else base)
        graph[name] = {target for target in edges if target in modules and target != name}
    return graph


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_a_lazy_import_inside_a_function_counts(tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text("def f():\n    from two import g\n")
    (tmp_path / "two.py").write_text("import one\n")
    graph = import_graph({"one": one, "two": tmp_path / "two.py"})
    assert circles(graph) == [["one", "two"]]


def test_no_import_circle_in_the_project() -> None:
    assert circles(import_graph(project_modules())) == []


def _reaches(graph: Mapping[str, set[str]], source: str) -> set[str]:
    seen: set[str] = set()
    todo = [source]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


@pytest.mark.parametrize(
    ("room", "forbidden"),
    [
        ("engine.paint", ("engine.painter", "engine.clips", "engine.cli", "bot", "jobs")),
        ("engine.clips", ("engine.painter", "engine.cli", "bot", "jobs")),
        ("engine.painter", ("engine.cli", "bot")),
        ("media", ("engine", "bot", "jobs")),
        ("jobs", ("engine", "bot", "media")),
        ("styles", ("engine", "bot", "media")),
        ("bot", ("engine",)),
    ],
)
def test_rooms_import_one_way(room: str, forbidden: tuple[str, ...]) -> None:
    """Directly or through others: what a room reaches never includes the rooms above it."""
    graph = import_graph(project_modules())
    members = [name for name in graph if name == room or name.startswith(f"{room}.")]
    assert members
    reached = set().union(*(_reaches(graph, name) for name in members))
    wrong = sorted(
        name for name in reached if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    )
    assert wrong == [], f"{room} reaches {wrong}"
