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
CRATE_PATH = re.compile(r"\bcrate::")
NAME = re.compile(r"[a-z_][a-z0-9_]*")
LINE_COMMENT = re.compile(r"//.*")


def module_of(crate_src: Path, file: Path) -> str:
    """The top-level module a file belongs to (`lib` for the crate root)."""
    first = file.relative_to(crate_src).parts[0]
    return first.removesuffix(".rs")


def group_heads(code: str, start: int) -> list[str]:
    """The first name of each top-level item of the `{...}` group opening at `start`:
    `a` and `b` of `{a::{x, y}, b}`; nested groups are skipped."""
    heads, depth, item_start = [], 0, start + 1
    for index in range(start, len(code)):
        char = code[index]
        if char == "{":
            depth += 1
        elif char in ",}" and depth == 1:
            heads.append(code[item_start:index].strip().split("::")[0].strip())
            item_start = index + 1
            if char == "}":
                return heads
        elif char == "}":
            depth -= 1
    return heads


def imports(text: str) -> set[str]:
    """Top-level modules named by `crate::` paths in Rust source (`use crate::a`,
    `use crate::{a, b::{c, d}}`, `crate::a::f()`), comments left out."""
    code = LINE_COMMENT.sub("", text)
    names = set()
    for path in CRATE_PATH.finditer(code):
        rest = path.end()
        if code.startswith("{", rest):
            names.update(group_heads(code, rest))
        elif (name := NAME.match(code, rest)) is not None:
            names.add(name.group())
    return names - {"", "self", "super"}


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
