#!/usr/bin/env python3
"""Proves check_layout.py rejects what it is there to reject: on small fixture
trees it must pass a tree in order, and fail, naming the offender, on an
upward include, an include cycle, an upward call, a symbol cycle between two
object files, a function of 121 lines and a file of 801 lines."""
import os
import subprocess
import sys
import tempfile

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_layout.py")
failures = []


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def base_tree(root):
    """base <- store <- cli, every arrow pointing down."""
    write(root, "sync/base/a.h", "int a_fn(void);\n")
    write(root, "sync/base/a.c", '#include "base/a.h"\nint a_fn(void)\n{\n\treturn 1;\n}\n')
    write(root, "sync/store/s.h", '#include "base/a.h"\nint s_fn(void);\n')
    write(root, "sync/store/s.c", '#include "store/s.h"\nint s_fn(void)\n{\n\treturn a_fn();\n}\n')
    write(root, "sync/cli/main.c", '#include "store/s.h"\nint main(void)\n{\n\treturn s_fn();\n}\n')


def archive(root, sources):
    objs = []
    for rel in sources:
        obj = os.path.join(root, os.path.basename(rel) + ".o")
        subprocess.run(["cc", "-c", "-I", os.path.join(root, "sync"), "-o", obj, os.path.join(root, rel)], check=True)
        objs.append(obj)
    lib = os.path.join(root, "libcore.a")
    if os.path.exists(lib):
        os.unlink(lib)
    subprocess.run(["ar", "rcs", lib] + objs, check=True)
    return lib


def run(root, lib=None):
    cmd = [sys.executable, CHECKER, "--root", root]
    if lib:
        cmd += ["--archive", lib]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def expect(name, setup, rc_want, needle, with_archive=False):
    with tempfile.TemporaryDirectory() as root:
        base_tree(root)
        sources = setup(root) or ["sync/base/a.c", "sync/store/s.c"]
        lib = archive(root, sources) if with_archive else None
        rc, out = run(root, lib)
        ok = rc == rc_want and needle in out
        print(("ok   " if ok else "FAIL ") + name)
        if not ok:
            failures.append(name)
            print(f"  exit {rc} (wanted {rc_want}); wanted {needle!r} in:\n" + out)


def upward_include(root):
    write(root, "sync/base/a.c", '#include "base/a.h"\n#include "store/s.h"\nint a_fn(void)\n{\n\treturn 1;\n}\n')


def include_cycle(root):
    write(root, "sync/store/x.h", '#include "store/y.h"\n')
    write(root, "sync/store/y.h", '#include "store/x.h"\n')


def upward_call(root):
    write(root, "sync/base/a.c", "int s_fn(void);\nint a_fn(void)\n{\n\treturn s_fn();\n}\n")


def symbol_cycle(root):
    write(root, "sync/store/p.c", "int q_fn(void);\nint p_fn(void)\n{\n\treturn q_fn();\n}\n")
    write(root, "sync/store/q.c", "int p_fn(void);\nint q_fn(void)\n{\n\treturn p_fn() + 1;\n}\n")
    return ["sync/base/a.c", "sync/store/s.c", "sync/store/p.c", "sync/store/q.c"]


def function_lines(n):
    body = "".join("\tx += %d;\n" % i for i in range(n - 4))
    return "int long_fn(int x)\n{\n%s\treturn x;\n}\n" % body  # n lines from "{" to "}"


def long_function(root):
    write(root, "sync/store/long.c", function_lines(122))


def limit_function(root):
    write(root, "sync/store/long.c", function_lines(121))


def long_file(root):
    write(root, "sync/store/big.c", "/* filler */\n" * 801)


def unhoused(root):
    write(root, "sync/attic/old.c", "int old;\n")


expect("a tree in order passes", lambda r: None, 0, "rooms in order", with_archive=True)
expect("an upward include is rejected and named", upward_include, 1,
       'sync/base/a.c:2: #include "store/s.h": room sync/base may not include sync/store')
expect("an include cycle is rejected", include_cycle, 1, "include cycle: sync/store/x.h -> sync/store/y.h")
expect("an upward call is rejected", upward_call, 1,
       "sync/base/a.c: uses s_fn of sync/store/s.c: room sync/base may not call sync/store", with_archive=True)
expect("a symbol cycle is rejected", symbol_cycle, 1, "symbol cycle between sync/store/p.c, sync/store/q.c",
       with_archive=True)
expect("a function of 121 lines is rejected", long_function, 1, "function of 121 lines (at most 120): int long_fn(int x)")
expect("a function of 120 lines passes", limit_function, 0, "rooms in order")
expect("a file of 801 lines is rejected", long_file, 1, "sync/store/big.c: 801 lines (at most 800)")
expect("a file outside the rooms is rejected", unhoused, 1, "sync/attic/old.c: not in a room")

print(f"checker cases: {9 - len(failures)} as expected, {len(failures)} not")
sys.exit(1 if failures else 0)
