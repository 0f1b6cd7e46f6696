"""Check anystream's import layering (issue 19).

Rules, on the package's first-level subpackages ("layers"):

* ``_core`` imports nothing from ``observe``, ``ops``, ``connectors``, ``resilience``,
  ``testing`` or ``demo``;
* ``ops`` imports nothing from ``observe``, ``connectors`` or ``demo``;
* no cycle among module-level imports.

Every ``import`` / ``from ... import`` is read with :mod:`ast`, wherever it is: at module
level, under ``if TYPE_CHECKING:``, or inside a function (a lazy import still reaches
outward, so it breaks the layering just the same). Relative imports are resolved against
the importing module. For the cycle check only imports that run when the module is
imported count: module level, not inside a function and not under ``TYPE_CHECKING``.
``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``;
the implicit import of a module's parent packages is not an edge.

Usage: ``python tools/check_layers.py [SRC_DIR] [--package NAME]`` (default ``src`` and
``anystream``). Exit status 0 when clean, 1 listing every violation as ``file:line`` with
the rule, and every cycle as ``a -> b -> ... -> a``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

#: layer -> layers it must not import from
FORBIDDEN: dict[str, frozenset[str]] = {
    "_core": frozenset({"observe", "ops", "connectors", "resilience", "testing", "demo"}),
    "ops": frozenset({"observe", "connectors", "demo"}),
}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported module (or the package the names come from)
    path: Path
    line: int
    runtime: bool  # runs at import time: module level, not under TYPE_CHECKING


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node of the module, with whether it runs at import time."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, runtime))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, False)
                for stmt in child.orelse:
                    visit_stmt(stmt, runtime)
            else:
                visit(child, runtime)

    def visit_stmt(stmt: ast.stmt, runtime: bool) -> None:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            found.append((stmt, runtime))
        else:
            visit(stmt, runtime)

    visit(tree, True)
    return found


def collect(src: Path, package: str) -> tuple[set[str], list[Edge]]:
    """The package's modules and every import edge between them."""
    root = src / package
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, src): f for f in files}
    edges: list[Edge] = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, runtime in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = name.split(".")
                    if not is_package:
                        base = base[:-1]
                    up = node.level - 1
                    if up > len(base):
                        continue  # beyond the top: not ours
                    base = base[: len(base) - up] if up else base
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                for alias in node.names:
                    sub = f"{mod}.{alias.name}"
                    targets.append(sub if sub in modules else mod)
            for target in targets:
                if target == package or target.startswith(package + "."):
                    edges.append(Edge(name, target, path, node.lineno, runtime))
    return set(modules), edges


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def violations(edges: list[Edge]) -> list[str]:
    out: list[str] = []
    seen: set[tuple[Path, int, str]] = set()
    for e in edges:
        if (e.path, e.line, e.target) in seen:
            continue
        seen.add((e.path, e.line, e.target))
        src_layer, dst_layer = layer(e.source), layer(e.target)
        banned = FORBIDDEN.get(src_layer or "", frozenset())
        if dst_layer in banned:
            where = "module level" if e.runtime else "lazy or TYPE_CHECKING"
            out.append(
                f"{e.path}:{e.line}: {e.source} imports {e.target} ({where}): "
                f"rule: {src_layer} must not import from {dst_layer}"
            )
    return out


def cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """One cycle per strongly connected component of the module-level import graph."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        if e.runtime and e.target in graph and e.target != e.source:
            graph[e.source].add(e.target)
    # Tarjan, iterative
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    components.append(sorted(comp))
    result: list[list[str]] = []
    for comp in components:
        members = set(comp)
        first = comp[0]
        # breadth-first search for the shortest path first -> ... -> first inside comp
        prev: dict[str, str] = {}
        frontier = [first]
        found: str | None = None
        while frontier and found is None:
            nxt_frontier: list[str] = []
            for node in frontier:
                for t in sorted(graph[node] & members):
                    if t == first:
                        found = node
                        break
                    if t not in prev:
                        prev[t] = node
                        nxt_frontier.append(t)
                if found is not None:
                    break
            frontier = nxt_frontier
        path = [first]
        node = found if found is not None else first
        while node != first:
            path.append(node)
            node = prev[node]
        result.append([first, *reversed(path[1:]), first])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", default=str(Path(__file__).parent.parent / "src"))
    parser.add_argument("--package", default="anystream")
    args = parser.parse_args(argv)
    src = Path(args.src)
    if not (src / args.package / "__init__.py").is_file():
        print(f"check_layers: no package {args.package!r} under {src}", file=sys.stderr)
        return 2
    modules, edges = collect(src, args.package)
    bad = violations(edges)
    loops = cycles(modules, edges)
    for line in bad:
        print(line)
    for loop in loops:
        print(f"import cycle ({len(loop) - 1} modules): {' -> '.join(loop)}")
    if bad or loops:
        print(f"check_layers: {len(bad)} forbidden import(s), {len(loops)} cycle(s)")
        return 1
    print(f"check_layers: {len(modules)} modules, {len(edges)} imports, layering clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
