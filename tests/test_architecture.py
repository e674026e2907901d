"""The package's shape, checked: imports flow one way with no cycle, modules stay small and say what they are.

The rule (``docs/architecture.md``): ``spec <- engine <- studies <- cli``; ``stats``, ``outputs``
and ``plotting`` see only the spec, the engine's records and the outcome registry; ``execute``
and ``outcomes`` import nothing of ``sim``. Imports inside functions count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parent.parent / "sim"
MAX_LINES = 500

# What each part may import (besides itself); a part is a module or sub-package of sim.
ALLOWED: dict[str, set[str]] = {
    "outcomes": set(),
    "execute": set(),
    "spec": {"outcomes"},
    "engine": {"spec", "outcomes"},
    "stats": {"spec", "engine.records", "outcomes"},
    "outputs": {"spec", "engine.records", "outcomes"},
    "plotting": {"spec", "engine.records", "outcomes"},
    "studies": {"spec", "engine", "execute", "outcomes", "stats", "outputs", "plotting"},
    "cli": {"spec", "engine", "execute", "outcomes", "stats", "outputs", "plotting", "studies"},
    "app": {"spec", "engine", "execute", "outcomes", "stats", "outputs", "plotting", "studies", "cli"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SIM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SIM.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every module of ``sim`` imported anywhere in a file (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "sim" or name.startswith("sim."):
                # "from sim.x import y" imports the module sim.x.y when it is one, else sim.x
                while name not in MODULES and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in MODULES and name != "sim":
                    found.add(name)
    return found


GRAPH = {name: imports_of(path) - {name} for name, path in MODULES.items()}


def part(module: str) -> str:
    return module.split(".")[1]


def test_no_import_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_flow_one_way() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        if module == "sim":
            continue
        allowed = ALLOWED[part(module)]
        for target in targets:
            target_part = part(target)
            if target_part == part(module):
                continue
            if target_part in allowed or any(target == f"sim.{a}" or target.startswith(f"sim.{a}.")
                                             for a in allowed):
                continue
            wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_root_package_imports_nothing_at_import_time() -> None:
    tree = ast.parse((SIM / "__init__.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("sim")]
    assert not top, "sim/__init__.py loads its API lazily, so that `import sim` stays cheap"


@pytest.mark.parametrize("library,owner", [("simpy", "engine"), ("matplotlib", "plotting")])
def test_only_one_part_imports_a_library(library: str, owner: str) -> None:
    users = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n == library or n.startswith(library + ".") for n in names) and part(name + ".x") != owner:
                    users.append(name)
    assert not users, f"{library} is imported outside sim/{owner}: {sorted(set(users))}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small_and_says_what_it_is(name: str) -> None:
    path = MODULES[name]
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path} has {len(text.splitlines())} lines; split it"
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring, f"{path} opens with no docstring"
    first = docstring.splitlines()[0]
    assert first.endswith("."), f"{path}: the first line of the docstring is one sentence: {first!r}"


def test_every_part_is_in_the_readme_map_and_the_architecture_page() -> None:
    """Each sub-package and top-level module of sim has its line in the README's package map and in
    docs/architecture.md, and each part named there exists: the maps cannot fall behind the folders."""
    root = SIM.parent
    parts = {p.name for p in SIM.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} | {
        p.stem for p in SIM.glob("*.py") if p.stem != "__init__"}
    assert parts == set(ALLOWED), "a new part of sim needs its row in ALLOWED (and the docs)"
    readme = (root / "README.md").read_text(encoding="utf-8")
    page = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in parts:
        shown = f"sim/{name}/" if (SIM / name).is_dir() else f"sim/{name}.py"
        assert f"| `{shown}` |" in readme, f"README's package map has no row for {shown}"
        assert f"\n{shown}" in page, f"docs/architecture.md's layout has no line for {shown}"
