"""No import cycles in launcher/: every module's imports (function-level ones included, since they
still tie the two modules together), read with ast, form a graph without strongly connected parts.

A cycle is how layers blur (the registry needing SLURM, SLURM needing the registry): the shared piece
belongs in a module of its own below both, not in an import hidden inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ROOT/PACKAGE (a package by its __init__.py)."""
    mods = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imported(mod: str, path: Path, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> set[str]:
    """The modules of MODS that one import statement runs (the nearest known module of each name)."""
    names = set()
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        names.add(base)  # `from pkg import x` runs pkg/__init__.py
        names |= {f"{base}.{alias.name}" for alias in node.names}  # ... and pkg/x.py when x is a module
    found = set()
    for name in names:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        while name:  # importing a.b.c runs a and a.b first
            found.add(name)
            name = name.rpartition(".")[0]
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    mods = module_files(root, package)
    graph = {}
    for mod, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= _imported(mod, path, node, mods)
        deps.discard(mod)
        graph[mod] = {d for d in deps if not mod.startswith(d + ".")}  # a module's own parent packages are no cycle
    return graph


def _strong_components(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on a deep import chain)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest import loop through the component's first module, to name in the failure."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    return paths[node] + [start]
                if child not in paths:
                    paths[child] = paths[node] + [child]
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"no loop through {start}")  # a strong component always has one


def import_cycles(root: Path, package: str) -> list[str]:
    """Each cycle as 'a -> b -> a' (one loop through it, and every module it ties together)."""
    graph = import_graph(root, package)
    found = []
    for component in _strong_components(graph):
        if len(component) > 1:
            found.append(" -> ".join(_one_cycle(graph, component)) +
                         f" (all {len(component)} tied: {', '.join(sorted(component))})")
    return sorted(found)


def test_launcher_has_no_import_cycles():
    cycles = import_cycles(ROOT, "launcher")
    assert not cycles, "import cycles in launcher/:\n" + "\n".join(cycles)


def test_the_walk_sees_function_level_relative_and_module_imports(tmp_path):
    """The checker itself: each way of importing a module closes a cycle it finds and names."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py", "leaf.py"):
        (pkg / name).write_text('"""nothing"""\n')
    (pkg / "a.py").write_text("import os\n\ndef f():\n    from pkg.sub import b  # module by from-import\n")
    (pkg / "sub" / "b.py").write_text("from ..c import thing  # relative, two levels\n")
    (pkg / "c.py").write_text("from pkg import leaf\n\ndef g():\n    import pkg.a  # function level\n")
    cycles = import_cycles(tmp_path, "pkg")
    assert cycles == ["pkg.a -> pkg.sub.b -> pkg.c -> pkg.a (all 3 tied: pkg.a, pkg.c, pkg.sub.b)"]
    (pkg / "c.py").write_text("from pkg import leaf\n")
    assert import_cycles(tmp_path, "pkg") == []
