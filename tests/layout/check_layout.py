#!/usr/bin/env python3
"""The house rules of sync/ and connectors/, checked on every test run.

- Every source file lives in a room, and a room includes and calls only the
  rooms before it in ROOMS (or itself): arrows point down the flow.
- No include cycle between files, and (given the core library) no pair of
  object files that use each other's symbols, directly or around a loop.
- No source file over --max-file-lines, no function over --max-function-lines
  (a function runs from its "{" at column 0 to its "}" at column 0).

Prints one line per violation, naming the file, line and offending include or
symbol, and exits 1; prints a one-line summary and exits 0 when the house is
in order. Usage: check_layout.py [--root DIR] [--archive libcpsync_core.a]
"""
import argparse
import os
import re
import subprocess
import sys

# The rooms, lowest first. Rooms in one tuple are siblings: equal rank, and
# they may not use each other.
ROOMS = [
    ("sync/base",),
    ("sync/config",),
    ("sync/http",),
    ("sync/codec",),
    ("sync/model",),
    ("sync/reconcile",),
    ("sync/policy",),
    ("sync/kafka",),
    ("sync/store",),
    ("sync/observe",),
    ("connectors",),
    ("connectors/kafka", "connectors/postgres", "connectors/files"),
    ("connectors/builtin",),  # connectors/builtin.c registers every connector table
    ("sync/ingest",),
    ("sync/publish",),
    ("sync/worker",),
    ("sync/sink",),
    ("sync/sweep",),
    ("sync/api",),
    ("sync/engine",),  # sync/engine.c and sync/engine.h
    ("sync/demo",),
    ("sync/cli",),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def room_of(rel):
    """The room of a path relative to the root, or None."""
    d = os.path.dirname(rel)
    stem = os.path.splitext(os.path.basename(rel))[0]
    if (d, stem) == ("sync", "engine"):
        return "sync/engine"
    if rel == "connectors/builtin.c":  # builtin.h, the tables' declarations, is the contract's
        return "connectors/builtin"
    for rank in ROOMS:
        if d in rank:
            return d
    return None


RANK = {room: i for i, rank in enumerate(ROOMS) for room in rank}


def allowed(src_room, dst_room):
    return src_room == dst_room or RANK[dst_room] < RANK[src_room]


def sources(root):
    out = []
    for top in ("sync", "connectors"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def resolve(root, rel, name):
    """Where the compiler finds a quoted include: the file's own folder,
    then the include roots sync/ and the project root."""
    for base in (os.path.dirname(rel), "sync", ""):
        cand = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def strongly_connected(graph):
    """Tarjan's algorithm: the components of more than one node."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_includes(root, files, errors):
    graph = {}
    n = 0
    for rel in files:
        src_room = room_of(rel)
        if src_room is None:
            errors.append(f"{rel}: not in a room (see ROOMS in {os.path.basename(__file__)})")
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                dst = resolve(root, rel, m.group(1))
                if dst is None or not dst.startswith(("sync/", "connectors/")):
                    continue
                n += 1
                graph.setdefault(rel, set()).add(dst)
                dst_room = room_of(dst)
                if dst_room and not allowed(src_room, dst_room):
                    errors.append(f'{rel}:{lineno}: #include "{m.group(1)}": room {src_room} may not include {dst_room} (a later or sibling room)')
    for comp in strongly_connected(graph):
        errors.append("include cycle: " + " -> ".join(comp))
    return n


def signature(lines, brace):
    """The first line of the definition whose body opens at lines[brace]."""
    k = brace - 1
    while k > 0 and lines[k][:1] in (" ", "\t"):
        k -= 1
    return lines[k].strip() if k >= 0 else "?"


def check_sizes(root, files, max_file, max_func, errors):
    for rel in files:
        if not rel.endswith(".c"):
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fh:
            lines = fh.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) > max_file:
            errors.append(f"{rel}: {len(lines)} lines (at most {max_file})")
        start = None
        for i, line in enumerate(lines):
            if line.startswith("{") and start is None:
                start = i
            elif line.startswith("}") and start is not None:
                length = i - start + 1
                if length > max_func:
                    errors.append(f"{rel}:{start + 1}: function of {length} lines (at most {max_func}): {signature(lines, start)}")
                start = None


def symbol_edges(archive):
    """{object: {object it uses: a symbol}} from nm over a static library."""
    out = subprocess.run(["nm", "-A", archive], capture_output=True, text=True, check=True).stdout
    defined, used = {}, {}
    for line in out.splitlines():
        m = re.match(r"^[^:]+:([^:]+):\s*(?:[0-9a-fA-F]+)?\s+([A-Za-z])\s+(\S+)$", line)
        if not m:
            continue
        obj, kind, sym = m.groups()
        obj = re.sub(r"\.o(bj)?$", "", obj)
        if kind == "U":
            used.setdefault(obj, set()).add(sym)
        elif kind in "TDBRGSV" or kind == "W":
            defined.setdefault(sym, obj)
    edges = {}
    for obj, syms in used.items():
        for sym in sorted(syms):
            dst = defined.get(sym)
            if dst and dst != obj:
                edges.setdefault(obj, {}).setdefault(dst, sym)
    return edges


def check_symbols(root, files, archive, errors):
    by_name = {}
    for rel in files:
        if rel.endswith(".c"):
            by_name.setdefault(os.path.basename(rel), []).append(rel)
    edges = symbol_edges(archive)
    n = 0
    graph = {}
    for obj, dsts in edges.items():
        for dst, sym in dsts.items():
            n += 1
            graph.setdefault(obj, set()).add(dst)
            src_rel = by_name.get(obj, [None])[0]
            dst_rel = by_name.get(dst, [None])[0]
            if not src_rel or not dst_rel:
                continue
            src_room, dst_room = room_of(src_rel), room_of(dst_rel)
            if src_room and dst_room and not allowed(src_room, dst_room):
                errors.append(f"{src_rel}: uses {sym} of {dst_rel}: room {src_room} may not call {dst_room} (a later or sibling room)")
    for comp in strongly_connected(graph):
        names = [by_name.get(c, [c])[0] for c in comp]
        pairs = [f"{a} uses {edges[a][b]} of {b}" for a in comp for b in comp if b in edges.get(a, {})]
        errors.append("symbol cycle between " + ", ".join(names) + ": " + "; ".join(pairs[:4]))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    ap.add_argument("--archive", help="the core static library, for the symbol checks")
    ap.add_argument("--max-file-lines", type=int, default=800)
    ap.add_argument("--max-function-lines", type=int, default=120)
    args = ap.parse_args()

    files = sources(args.root)
    errors = []
    n_inc = check_includes(args.root, files, errors)
    check_sizes(args.root, files, args.max_file_lines, args.max_function_lines, errors)
    n_sym = check_symbols(args.root, files, args.archive, errors) if args.archive else 0
    for e in errors:
        print(e)
    if errors:
        print(f"layout: {len(errors)} violations in {len(files)} files")
        return 1
    print(f"layout: {len(files)} files, {n_inc} includes, {n_sym} object-to-object uses: rooms in order, no cycle, sizes within limits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
