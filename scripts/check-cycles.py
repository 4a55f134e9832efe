#!/usr/bin/env python3
"""Fails when the modules of a crate under crates/ import each other in a cycle.

A module here is a top-level module of its crate (`src/<name>.rs` or `src/<name>/`); an
edge A -> B is a `crate::B` path in any file of A (`use crate::B`, `use crate::{B, ..}`,
or a path in an expression). Submodules may use their parent (`super::`): a module and
its children are one unit. Prints each cycle found, and exits 1 if there is one.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `crate::name` or the names of a `crate::{a, b::c, ..}` group (one level is enough:
# rustfmt keeps nested groups on their own `use` lines).
CRATE_PATH = re.compile(r"\bcrate::(?:\{([^}]*)\}|([a-z_][a-z0-9_]*))")
LINE_COMMENT = re.compile(r"//.*")


def module_of(crate_src: Path, file: Path) -> str:
    """The top-level module a file belongs to (`lib` for the crate root)."""
    first = file.relative_to(crate_src).parts[0]
    return first.removesuffix(".rs")


def imports(text: str) -> set[str]:
    """Top-level modules named by `crate::` paths in Rust source, comments left out."""
    code = LINE_COMMENT.sub("", text)
    names = set()
    for group, single in CRATE_PATH.findall(code):
        for item in group.split(",") if group else [single]:
            name = item.strip().split("::")[0].strip()
            if name and name not in ("self", "super"):
                names.add(name)
    return names


def module_graph(crate_src: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for file in sorted(crate_src.rglob("*.rs")):
        module = module_of(crate_src, file)
        if module in ("lib", "main", "bin"):
            continue
        edges = graph.setdefault(module, set())
        edges |= {name for name in imports(file.read_text()) if name != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component that has one (Tarjan)."""
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
            if target not in graph:
                continue  # a re-export or an item of the crate root, not a module
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


def main() -> int:
    crates = sorted(path.parent for path in ROOT.glob("crates/*/src"))
    failed = False
    for crate in crates:
        for component in cycles(module_graph(crate / "src")):
            failed = True
            print(f"{crate.name}: modules import each other in a cycle: {', '.join(component)}")
    if not failed:
        print(f"no module cycle in {len(crates)} crates")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
