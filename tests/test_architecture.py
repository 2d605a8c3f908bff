"""The architecture, as a test: the import graph of syncsim's own source.

Layers run one way (DESIGN §1): kernel core <- mocks <- strategies <- assembly (world, runner,
executor) <- tools <- CLI. A module may import its own layer and the layers before it,
never a later one; the graph has no cycles; and no module reaches into another module's
private names (``from x import _y``, ``x._y``, or ``obj._y`` where ``_y`` is not a name of
the module doing it). ``sim/__init__.py`` is the public API: it imports lazily, at first use.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sim", "mocks", "strategies")
LAYERS = ("core", "mocks", "strategies", "assembly", "tools", "cli")


def layer(module: str) -> str:
    if module.startswith("sim.cli"):
        return "cli"
    if module.startswith("sim.tools"):
        return "tools"
    if module.startswith("sim.assembly"):
        return "assembly"
    top = module.split(".")[0]
    return {"mocks": "mocks", "strategies": "strategies"}.get(top, "core")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = modules()


def imports(path: Path) -> set[str]:
    """Our own modules that ``path`` imports at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


GRAPH = {m: imports(p) - {m} for m, p in MODULES.items()}


def test_every_import_goes_down_the_layers() -> None:
    bad = []
    for mod, deps in GRAPH.items():
        if mod == "sim":
            continue  # the public API imports lazily (PEP 562)
        for dep in deps:
            if dep == "sim":
                bad.append(f"{mod} imports the package facade 'sim'")
            elif LAYERS.index(layer(dep)) > LAYERS.index(layer(mod)):
                bad.append(f"{mod} ({layer(mod)}) imports {dep} ({layer(dep)})")
    assert not bad, "\n".join(sorted(bad))


def test_the_import_graph_has_no_cycle() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(GRAPH.get(m, ())):
            if state.get(d) == 1:
                return [*stack[stack.index(d) :], d]
            if d not in state:
                cycle = visit(d)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)


def _defined_names(tree: ast.Module) -> set[str]:
    """The private names a module owns: its functions and classes, names it binds at module
    or class level, and attributes it sets on ``self`` or ``cls`` (not on other objects)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            names.add(node.attr)
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]:
        for stmt in scope.body:
            targets = []
            if isinstance(stmt, ast.Assign):
                targets = stmt.targets
            elif isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_no_module_reaches_into_another_modules_private_names(mod: str) -> None:
    tree = ast.parse(MODULES[mod].read_text())
    own = _defined_names(tree)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            top = node.module.split(".")[0]
            for a in node.names:
                if a.name.startswith("_") and top in PACKAGES:
                    bad.append(f"line {node.lineno}: from {node.module} import {a.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if node.attr.startswith("__") and node.attr.endswith("__"):
                continue
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if node.attr in own and not (isinstance(base, ast.Name) and base.id in MODULES):
                continue  # a private name of this module's own classes
            bad.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not bad, f"{mod} reaches into private names:\n" + "\n".join(bad)
