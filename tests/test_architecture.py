"""The layout's rules, checked on the source: no import circles anywhere, ``scoring`` never
imports ``api``, and inside ``scoring`` a stage imports only earlier stages
(docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scoring", "api")

#: The stages of ``scoring`` in the direction data flows; a module may import its own stage
#: and earlier ones. Stages on the same rank are siblings and may not import each other.
SCORING_STAGES = {
    "scoring.errors": 0,
    "scoring.contract": 1,
    "scoring.files": 2,
    "scoring.rules": 3,
    "scoring.model": 3,
    "scoring.engine": 4,
    "scoring.shortlist": 5,
    "scoring.batch": 5,
    "scoring.audit": 5,
    "scoring.outcomes": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Every module of the two packages, migrations' version scripts aside."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "versions" in path.relative_to(ROOT).parts:
                continue
            found[module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, at module level or inside functions; imports
    needed only for type checking do not count."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                targets.add(child if child in known else node.module)
    return {name for name in targets if name in known}


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    return {name: imported_modules(path, known) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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


def stage_of(module: str) -> str | None:
    for stage in sorted(SCORING_STAGES, key=len, reverse=True):
        if module == stage or module.startswith(stage + "."):
            return stage
    return None


def test_cycle_finder_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_circles_anywhere():
    assert cycles(import_graph()) == []


def test_scoring_never_imports_api():
    wrong = {
        (source, target)
        for source, targets in import_graph().items()
        if source.startswith("scoring")
        for target in targets
        if target.startswith("api")
    }
    assert wrong == set()


def test_every_scoring_module_belongs_to_a_stage():
    unplaced = [
        name for name in source_modules() if name.startswith("scoring.") and not stage_of(name)
    ]
    assert unplaced == []


def test_scoring_stages_import_only_earlier_stages():
    wrong = []
    for source, targets in import_graph().items():
        source_stage = stage_of(source)
        if source_stage is None:
            continue
        for target in targets:
            target_stage = stage_of(target)
            if target_stage is None or target_stage == source_stage:
                continue
            if SCORING_STAGES[target_stage] >= SCORING_STAGES[source_stage]:
                wrong.append(f"{source} -> {target}")
    assert wrong == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_names_imported_across_modules(package):
    wrong = []
    for name, path in source_modules().items():
        if not name.startswith(package):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.level == 0
                and node.module.split(".")[0] in PACKAGES
            ):
                wrong += [
                    f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")
                ]
    assert wrong == []
