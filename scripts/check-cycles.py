#!/usr/bin/env python3
"""check-cycles.py [--layers "A B C"] BUILD DIR... - no two files of DIR
call each other, or include each other, directly or through others; with
--layers, a file in folder X of DIR (DIR/X/...) may include or call only
files of X or of folders listed before X.

Call graph: from the objects in BUILD/obj/DIR (nm: which file defines a
global symbol, which files use it). Include graph: from the sources'
#include "..." lines, resolved against -Iinclude -Ilibattest and the file's
own folder. Prints every cycle (a strongly connected set of more than one
file) and exits 1 if there is one; a folder README or the commit message can
quote the output.
"""
import os
import re
import subprocess
import sys


def sccs(graph):
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
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


def call_graph(build, dirs):
    defs, uses = {}, {}
    for d in dirs:
        for root, _, files in os.walk(os.path.join(build, "obj", d)):
            for f in files:
                if not f.endswith(".o"):
                    continue
                obj = os.path.join(root, f)
                src = os.path.relpath(obj, os.path.join(build, "obj"))[:-2] + ".c"
                if not os.path.exists(src):
                    continue  # left over from a file moved or removed
                res = subprocess.run(["nm", obj], capture_output=True, text=True, check=True)
                uses[src] = set()
                for line in res.stdout.splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[1] in "TDBR":
                        defs[parts[2]] = src
                    elif len(parts) == 2 and parts[0] == "U":
                        uses[src].add(parts[1])
    graph = {}
    for src, syms in uses.items():
        graph[src] = {defs[s] for s in syms if s in defs and defs[s] != src}
    return graph


def include_graph(dirs):
    pat = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    graph = {}
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, f)
                deps = set()
                for inc in pat.findall(open(path, encoding="utf-8").read()):
                    for base in (root, "include", "libattest"):
                        cand = os.path.normpath(os.path.join(base, inc))
                        if os.path.exists(cand):
                            deps.add(cand)
                            break
                graph[path] = deps
    # a .c and its own header are one file for this purpose
    def unit(p):
        return p[:-2] if p.endswith((".c", ".h")) else p
    merged = {}
    for p, deps in graph.items():
        merged.setdefault(unit(p), set()).update(unit(q) for q in deps if unit(q) != unit(p))
    return merged


def folder(path, dirs):
    for d in dirs:
        if path.startswith(d.rstrip("/") + "/"):
            rest = path[len(d.rstrip("/")) + 1:]
            return rest.split("/")[0] if "/" in rest else None
    return None


def main():
    args = sys.argv[1:]
    layers = None
    if len(args) >= 2 and args[0] == "--layers":
        layers = args[1].split()
        args = args[2:]
    if len(args) < 2:
        sys.exit("usage: check-cycles.py [--layers \"A B C\"] BUILD DIR...")
    build, dirs = args[0], args[1:]
    bad = 0
    for name, graph in (("call", call_graph(build, dirs)), ("include", include_graph(dirs))):
        for comp in sccs(graph):
            bad = 1
            print("check-cycles: %s cycle: %s" % (name, " <-> ".join(comp)))
        if layers is None:
            continue
        for src, deps in sorted(graph.items()):
            a = folder(src, dirs)
            for dst in sorted(deps):
                b = folder(dst, dirs)
                if a is None or b is None or a == b:
                    continue
                if a not in layers or b not in layers:
                    bad = 1
                    print("check-cycles: %s: folder %s or %s is not in --layers" % (src, a, b))
                elif layers.index(b) > layers.index(a):
                    bad = 1
                    print("check-cycles: %s %s %s: %s/ must not reach up to %s/" %
                          (src, name == "call" and "calls" or "includes", dst, a, b))
    if not bad:
        print("check-cycles: no call or include cycle between the files of %s" % " ".join(dirs))
    sys.exit(bad)


if __name__ == "__main__":
    main()
