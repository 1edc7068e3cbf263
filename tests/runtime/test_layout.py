"""The house rules of docs/architecture.md, checked on the source: dependencies run one way, no circles.

Every import in every module is read from its syntax tree, function-level (lazy) imports included, so a heavy
import hidden inside a function cannot break the order either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("runtime", "llm", "data", "training", "evaluation", "export", "assess", "review", "demo", "cli")
# What each part may import besides itself. Order is bottom-up; the top (demo, cli) may use everything below.
ALLOWED = {
    "runtime": set(),
    "llm": {"runtime"},
    "data": {"runtime", "llm"},
    "training": {"runtime"},
    "assess": {"runtime"},
    "evaluation": {"runtime", "llm", "data"},
    "export": {"runtime", "llm", "data", "evaluation"},
    "review": {"runtime", "data", "evaluation"},
    "tools": {"runtime", "llm", "data", "training", "evaluation", "export", "assess", "review"},
    "demo": {"runtime", "llm", "data", "training", "evaluation", "export", "assess"},
    "server": {"runtime", "tools"},
    "cli": {"runtime", "llm", "data", "training", "evaluation", "export", "assess", "review", "demo", "tools",
            "server"},
}


def _part_of_file(path: Path) -> str:
    rel = path.relative_to(ROOT).parts
    if rel[0] in ("tools", "server"):
        return rel[0]
    assert rel[0] == "specialize"
    return rel[1] if len(rel) > 2 else "(top)"


def _part_of_module(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "specialize":
        return None
    return parts[1] if len(parts) > 1 else "(top)"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "specialize":
                found += [(node.lineno, f"specialize.{a.name}") if a.name != "__version__" else (node.lineno, "specialize")
                          for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _sources() -> list[Path]:
    return sorted([*(ROOT / "specialize").rglob("*.py"), *(ROOT / "tools").glob("*.py"), *(ROOT / "server").glob("*.py")])


def test_every_stage_package_exists_with_a_docstring_naming_what_it_may_import():
    for stage in STAGES:
        init = ROOT / "specialize" / stage / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init} has no package docstring"
        assert "import" in doc.lower(), f"{init}'s docstring does not say what the package may import"


def test_no_flat_modules_left_beside_the_stage_packages():
    flat = sorted(p.name for p in (ROOT / "specialize").glob("*.py"))
    assert flat == ["__init__.py", "__main__.py"], flat


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dependencies_run_one_way(path):
    part = _part_of_file(path)
    if part == "(top)":
        return
    bad = []
    for line, name in _imports(path):
        target = _part_of_module(name)
        if target in (None, part, "(top)"):
            continue
        if target not in ALLOWED[part]:
            bad.append(f"line {line}: {part} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_import_circles_between_modules():
    """Module-level imports (the ones run at import time) form no cycle."""
    graph: dict[str, set[str]] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[0] in ("tools", "server"):
            parts = ["specialize", *parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mod = ".".join(parts)
        tree = ast.parse(path.read_text())
        deps = set()
        for node in tree.body:  # top level only: lazy imports inside functions cannot make a cycle at import time
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("specialize"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("specialize"))
        graph[mod] = deps
    known = set(graph)
    graph = {m: {d for d in ds if d in known and d != m} for m, ds in graph.items()}

    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
