#!/usr/bin/env python3
"""Lists import cycles between the modules of each crate.

A module is a direct child of the crate root (`src/foo.rs` or `src/foo/`), and, inside each
module directory, each of its direct children. An edge A -> B means a file of A names
`crate::B` (or `super::B` from a sibling). Test-only files (`tests.rs`, `*_tests.rs`, `tests/`)
are left out: tests may reach anywhere. Exits 1 when a cycle is found.
"""
import os
import re
import sys

CRATES = ["model", "gateway", "cli", "tui", "bench", "testkit", "tests"]


def rust_files(src):
    for root, _dirs, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                yield os.path.join(root, name)


def is_test_file(rel):
    parts = rel.split(os.sep)
    return (
        parts[-1] in ("tests.rs",)
        or parts[-1].endswith("_tests.rs")
        or "tests" in parts[:-1]
    )


def module_path(rel):
    """src-relative file path -> module path list (foo/bar.rs -> [foo, bar], foo/mod.rs -> [foo])."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def strip_test_modules(text):
    """Drop `#[cfg(test)] mod x { ... }` blocks so test code does not count."""
    out = []
    i = 0
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{")
    while True:
        m = pattern.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        depth = 1
        j = m.end()
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        i = j
    return "".join(out)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


USE_BLOCK = re.compile(r"\buse\s+(crate|super)::(\{[^;]*\}|[^;]*);", re.S)
PATH_REF = re.compile(r"\b(crate|super)::([A-Za-z_][A-Za-z0-9_]*)")


def referenced(modpath, text):
    """Absolute module paths (as lists) this file names."""
    refs = []
    for m in USE_BLOCK.finditer(text):
        root, body = m.group(1), m.group(2)
        base = [] if root == "crate" else modpath[:-1]
        body = body.strip()
        if body.startswith("{"):
            for item in re.split(r",", body.strip("{}")):
                item = item.strip()
                name = re.match(r"[A-Za-z_][A-Za-z0-9_]*", item)
                if name and name.group(0) != "self":
                    refs.append(base + [name.group(0)] + _rest(item))
        else:
            refs.append(base + [p for p in re.split(r"::", body) if p and re.match(r"^\w+$", p)])
    for m in PATH_REF.finditer(USE_BLOCK.sub("", text)):
        root, name = m.group(1), m.group(2)
        base = [] if root == "crate" else modpath[:-1]
        start = m.end()
        tail = re.match(r"(::[A-Za-z_][A-Za-z0-9_]*)*", text[start:]).group(0)
        refs.append(base + [name] + [p for p in tail.split("::") if p])
    return refs


def _rest(item):
    tail = re.match(r"[A-Za-z_][A-Za-z0-9_]*((::[A-Za-z_][A-Za-z0-9_]*)*)", item)
    return [p for p in tail.group(1).split("::") if p] if tail else []


def sccs(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def crate_cycles(crate_dir):
    src = os.path.join(crate_dir, "src")
    if not os.path.isdir(src):
        return []
    files = {}
    for path in rust_files(src):
        rel = os.path.relpath(path, src)
        if is_test_file(rel):
            continue
        text = strip_comments(open(path, encoding="utf-8").read())
        files[tuple(module_path(rel))] = strip_test_modules(text)
    modules = set(files)
    # Every level: children of the same parent form one graph.
    parents = {m[:-1] for m in modules if m} | {()}
    found = []
    for parent in sorted(parents):
        children = {m[len(parent)] for m in modules if len(m) > len(parent) and m[: len(parent)] == parent}
        if len(children) < 2:
            continue
        edges = {}
        for mod, text in files.items():
            if len(mod) <= len(parent) or mod[: len(parent)] != parent:
                continue
            me = mod[len(parent)]
            for ref in referenced(list(mod), text):
                if len(ref) > len(parent) and tuple(ref[: len(parent)]) == parent:
                    other = ref[len(parent)]
                    if other != me and other in children:
                        edges.setdefault(me, set()).add(other)
        for comp in sccs(children, edges):
            prefix = "/".join(parent)
            found.append([f"{prefix}/{c}" if prefix else c for c in comp])
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    total = 0
    for crate in CRATES:
        for comp in crate_cycles(os.path.join(root, crate)):
            total += 1
            print(f"{crate}: cycle between {', '.join(comp)}")
    print(f"{total} import cycle(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
