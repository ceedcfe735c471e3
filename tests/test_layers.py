"""The import graph, read from the source with ast: no circles, and no import running back up the layers.

The layers, bottom first (a module may import from its own layer and the ones below):
config, gc_pause, redaction and mappings <- store <- indexer, harvester, audit, validation, federation, export <- api, web <-
catalogue, demo <- cli. A package not in the table fails the test until someone places it: a new package chooses its layer.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"tests", "bench", "docs", "build", "dist"}
# Each top-level part of the `fedcat` package (a sub-package or a module) and its layer, bottom = 0.
LAYERS: dict[str, int] = {
    "config": 0,
    "gc_pause": 0,  # leaves every layer may use
    "redaction": 0,
    "mappings": 0,
    "store": 1,
    "indexer": 2,
    "harvester": 2,
    "audit": 2,
    "validation": 2,
    "federation": 2,
    "export": 2,  # the RDF export: reads the store, writes the mappings' RDF
    "api": 3,
    "web": 3,
    "catalogue": 4,
    "demo": 4,
    "cli": 5,
    "__main__": 6,
}


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for the package's own source (not tests, benchmarks or virtualenvs)."""
    found = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP or any(part.startswith(".") for part in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["fedcat", *parts])] = path
    return found


def imports(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body (deferred imports count too)."""
    mods = modules(root)
    edges: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("fedcat"):
                    edges[name].add(target)
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:  # the package's own __init__ (its version): everything may read it
        return 0
    return LAYERS.get(parts[1])


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return imports(ROOT)


def test_no_import_circles(graph):
    found = circles(graph)
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_every_part_has_a_layer(graph):
    unplaced = sorted({m.split(".")[1] for m in graph if "." in m and layer(m) is None})
    assert not unplaced, f"place these in tests/test_layers.py LAYERS: {unplaced}"


def test_no_import_runs_up_the_layers(graph):
    upward = sorted(
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in graph.items()
        for target in targets
        if layer(module) is not None and layer(target) is not None and layer(target) > layer(module)
    )
    assert not upward, "imports running up the layers:\n" + "\n".join(upward)


def test_the_checks_see_circles_and_upward_imports(tmp_path):
    """The graph reader itself: a planted circle and a planted upward import are found."""
    (tmp_path / "mappings").mkdir()
    (tmp_path / "api").mkdir()
    (tmp_path / "mappings" / "__init__.py").write_text("")
    (tmp_path / "mappings" / "a.py").write_text("def f():\n    from ..api import b\n")
    (tmp_path / "api" / "__init__.py").write_text("")
    (tmp_path / "api" / "b.py").write_text("from ..mappings.a import f\n")
    edges = imports(tmp_path)
    assert edges["fedcat.mappings.a"] == {"fedcat.api", "fedcat.api.b"}
    assert circles(edges) == [["fedcat.api.b", "fedcat.mappings.a"]]
    assert layer("fedcat.mappings.a") < layer("fedcat.api.b")
