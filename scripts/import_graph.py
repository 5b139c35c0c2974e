"""Print the import picture of one package folder: floors, arrows running back up, circles.

Why: "no import circles" is a floor plan a newcomer can read; this script draws it from the
source alone (``ast``, nothing imported), so it runs on any checkout, old or new.

    python scripts/import_graph.py pipeline lipforge.pipeline

Definitions (module = one .py file; a package's ``__init__`` counts as the package):
- an arrow is ``a -> b`` when module ``a`` imports ``b`` (at any depth in the file, so a lazy
  import inside a function counts too; ``from pkg import name`` resolves to ``pkg.name`` when
  that is a module);
- circles are the strongly connected components of more than one module;
- arrows running up are the back edges of a depth-first walk in sorted order: drop them and the
  rest is a DAG; floors are that DAG's longest-path levels (floor 0 imports nothing inside);
- ``--rooms`` draws the same picture one level up: each top-level folder or loose file of the
  package is one node (what the layers contract of pyproject.toml sees).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def _modules(root: Path, prefix: str) -> dict[str, Path]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join([prefix, *parts])] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` starts with."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def edges(root: Path, prefix: str) -> dict[str, set[str]]:
    modules = _modules(root, prefix)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                hit = _resolve(target, modules)
                if hit is not None and hit != name and not name.startswith(hit + "."):
                    graph[name].add(hit)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found, key=lambda c: (-len(c), c))


def rooms(graph: dict[str, set[str]], prefix: str) -> dict[str, set[str]]:
    """The graph between the package's top-level folders and loose files."""
    def room(name: str) -> str:
        return ".".join(name.split(".")[: prefix.count(".") + 2])

    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        if a == prefix:
            continue
        out.setdefault(room(a), set()).update(room(b) for b in targets if b != prefix and room(b) != room(a))
    return out


def back_edges(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    state: dict[str, int] = {}  # 1 on the walk's path, 2 done
    found = []

    def visit(v: str) -> None:
        state[v] = 1
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                found.append((v, w))
            elif w not in state:
                visit(w)
        state[v] = 2

    for v in sorted(graph):
        if v not in state:
            visit(v)
    return found


def floors(graph: dict[str, set[str]], up: list[tuple[str, str]]) -> dict[str, int]:
    dropped = set(up)
    level: dict[str, int] = {}

    def depth(v: str) -> int:
        if v not in level:
            below = [depth(w) for w in graph[v] if (v, w) not in dropped]
            level[v] = 1 + max(below) if below else 0
        return level[v]

    for v in graph:
        depth(v)
    return level


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the package's folder, e.g. pipeline")
    parser.add_argument("prefix", help="its import name, e.g. lipforge.pipeline")
    parser.add_argument("--short", action="store_true", help="figures only, no floor listing")
    parser.add_argument("--rooms", action="store_true", help="one node per top-level folder or loose file")
    args = parser.parse_args(argv)
    graph = edges(args.folder, args.prefix)
    if args.rooms:
        graph = rooms(graph, args.prefix)
    up = back_edges(graph)
    level = floors(graph, up)
    rings = circles(graph)
    cut = len(args.prefix) + 1

    def short(name: str) -> str:
        return name[cut:] or "(package)"

    n_floors = max(level.values(), default=-1) + 1
    print(f"{args.prefix}: {len(graph)} {'rooms' if args.rooms else 'modules'}, {sum(map(len, graph.values()))} arrows, "
          f"{n_floors} floors, {len(up)} arrows running up, {len(rings)} circles")
    if not args.short:
        for floor in range(n_floors):
            names = sorted(short(v) for v, f in level.items() if f == floor)
            print(f"  floor {floor}: {', '.join(names)}")
    for a, b in up:
        print(f"  up: {short(a)} -> {short(b)}")
    for ring in rings:
        print(f"  circle ({len(ring)}): {', '.join(short(v) for v in ring)}")


if __name__ == "__main__":
    main()
