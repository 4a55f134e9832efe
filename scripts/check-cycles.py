#!/usr/bin/env python3
"""Fails when the modules of a crate (under crates/, and host/) import each other in a cycle.

A module here is a top-level module of its crate (`src/<name>.rs` or `src/<name>/`); an
edge A -> B is a path to B in any file of A: `crate::B`, or `super::B` where `super::`
reaches the crate root (in `src/A.rs` itself; `super::super::` one level down), in
`use` (`use crate::{B, ..}`) or in an expression. A module and its children are one
unit: a `super::` that stays inside A is no edge. Inline modules (`mod tests { .. }`)
count as a level. Prints each cycle found, and exits 1 if there is one.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOT_PATH = re.compile(r"\b(?:crate::|(?:super::)+)")
INLINE_MODULE = re.compile(r"\bmod\s+[a-z_][a-z0-9_]*\s*\{")
NAME = re.compile(r"[a-z_][a-z0-9_]*")
LINE_COMMENT = re.compile(r"//.*")


def module_of(crate_src: Path, file: Path) -> str:
    """The top-level module a file belongs to (`lib` for the crate root)."""
    first = file.relative_to(crate_src).parts[0]
    return first.removesuffix(".rs")


def file_depth(crate_src: Path, file: Path) -> int:
    """How many modules deep the file's own module is: 1 for `src/a.rs` and
    `src/a/mod.rs`, 2 for `src/a/b.rs`."""
    parts = file.relative_to(crate_src).parts
    return len(parts) - (1 if parts[-1] == "mod.rs" else 0)


def block_end(code: str, start: int) -> int:
    """Where the `{...}` block opening at `start` closes."""
    depth = 0
    for index in range(start, len(code)):
        if code[index] == "{":
            depth += 1
        elif code[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return len(code)


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


def imports(text: str, depth: int) -> set[str]:
    """Top-level modules named by paths from the crate root in Rust source (`use crate::a`,
    `use crate::{a, b::{c, d}}`, `crate::a::f()`, and `super::a` in a file `depth`
    modules deep when the `super`s climb to the root), comments left out."""
    code = LINE_COMMENT.sub("", text)
    inline = [(found.start(), block_end(code, found.end() - 1)) for found in INLINE_MODULE.finditer(code)]
    names = set()
    for path in ROOT_PATH.finditer(code):
        supers = path.group().count("super::")
        if supers:
            here = depth + sum(1 for start, end in inline if start < path.start() < end)
            if supers < here:
                continue  # within the file's own top-level module
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
        depth = file_depth(crate_src, file)
        edges |= {name for name in imports(file.read_text(), depth) if name != module}
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
    crates = sorted(path.parent for path in [*ROOT.glob("crates/*/src"), ROOT / "host/src"])
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
