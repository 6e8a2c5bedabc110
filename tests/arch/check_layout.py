#!/usr/bin/env python3
"""The layout rules of ARCHITECTURE.md, checked (run by .ci/run):

1. no import cycles between the files of a crate: an edge a -> b when file
   a names a path (crate::x, super::x, self::x, or a child module x::) that
   resolves to file b; a test module at the end of a file is ignored;
2. no source file over MAX_LOGIC lines of logic (the lines before a
   trailing `#[cfg(test)] mod tests`);
3. every file ARCHITECTURE.md names (`something.rs`, `dir/`) is in the repo;
4. every relative link of the README and docs/*.md resolves: the file
   exists and its #anchor is a heading there.

usage: python3 tests/arch/check_layout.py   (from anywhere; exit 1 on a violation)
"""
import os, re, sys
from collections import defaultdict

def files(src):
    out = {}
    for d, _, fs in os.walk(src):
        for f in fs:
            if f.endswith('.rs'):
                p = os.path.join(d, f)
                rel = os.path.relpath(p, src)[:-3].split(os.sep)
                if rel[-1] == 'mod': rel = rel[:-1]
                if rel in (['lib'], ['main']): rel = []
                out[tuple(rel)] = p
    return out

def resolve(mods, path):
    for k in range(len(path), 0, -1):
        if tuple(path[:k]) in mods: return tuple(path[:k])
    return None

def edges(src):
    mods = files(src)
    g = defaultdict(set)
    for mod, p in mods.items():
        text = open(p).read()
        i = text.find('#[cfg(test)]\nmod tests')
        if i >= 0: text = text[:i]
        text = re.sub(r'//[^\n]*', '', text)
        is_dir = p.endswith(('mod.rs', 'lib.rs', 'main.rs'))
        here = list(mod) if is_dir else list(mod[:-1])   # the module that holds this file's siblings
        cands = []
        for m in re.finditer(r'\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{([^;]*?)\})?', text):
            head, rest, _, group = m.groups()
            parts = [x for x in rest.split('::') if x]
            if head == 'crate': base = []
            elif head == 'self': base = list(mod)
            else: base = list(mod[:-1])
            cands.append(base + parts)
            if group:
                for item in re.split(r'[,{}]', group):
                    item = item.strip().split(' as ')[0]
                    if item and item != 'self':
                        cands.append(base + parts + [x for x in item.split('::') if x])
        for m in re.finditer(r'(?<![:\w])([a-z_][a-z0-9_]*)::', text):
            w = m.group(1)
            if w not in ('crate', 'super', 'self', 'std', 'core') and tuple(list(mod) + [w]) in mods:
                cands.append(list(mod) + [w])
        for c in cands:
            r = resolve(mods, c)
            if r is not None and r != mod and r != ():
                g[mod].add(r)
    return g

def sccs(g):
    idx, low, st, on, res, n = {}, {}, [], set(), [], [0]
    def sc(v):
        idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: res.append(comp)
    sys.setrecursionlimit(10000)
    for v in list(g):
        if v not in idx: sc(v)
    return res


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRATES = ["compiler/src", "runtime/src", "macros/src"]
MAX_LOGIC = 600


def logic_lines(path):
    text = open(path).read()
    i = text.find("#[cfg(test)]\nmod tests")
    return (text if i < 0 else text[:i]).count("\n")


def main():
    problems = []
    for crate in CRATES:
        src = os.path.join(ROOT, crate)
        for comp in sccs(edges(src)):
            names = ", ".join("/".join(c) or "lib" for c in sorted(comp))
            problems.append(f"{crate}: files import each other: {names}")
        for d, _, fs in os.walk(src):
            for f in sorted(fs):
                if f.endswith(".rs"):
                    p = os.path.join(d, f)
                    n = logic_lines(p)
                    if n > MAX_LOGIC:
                        problems.append(f"{os.path.relpath(p, ROOT)}: {n} lines of logic (at most {MAX_LOGIC}; split it by concept)")
    arch = open(os.path.join(ROOT, "ARCHITECTURE.md")).read()
    import subprocess
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    known = set(tracked)
    for t in tracked:
        parts = t.split("/")
        known.update("/".join(parts[:i]) + "/" for i in range(1, len(parts)))
    for name in sorted(set(re.findall(r"\b([a-z_/]+\.rs|[a-z_]+/)(?=[\s,;:)`]|$)", arch, re.M))):
        tail_ok = any(k == name or k.endswith("/" + name) for k in known)
        if not tail_ok and not os.path.exists(os.path.join(ROOT, name)):
            problems.append(f"ARCHITECTURE.md names `{name}`, which no crate has")
    problems += broken_links()
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


def slug(heading):
    """GitHub's anchor of a markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    text = open(path).read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {slug(h) for h in re.findall(r"^#+\s+(.*)$", text, re.M)}


def broken_links():
    out = []
    pages = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"] + [
        os.path.join("docs", f) for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")
    ]
    for page in pages:
        full = os.path.join(ROOT, page)
        if not os.path.exists(full):
            continue
        text = re.sub(r"```.*?```", "", open(full).read(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(full), file)) if file else full
            if not os.path.exists(dest):
                out.append(f"{page}: link to `{target}`: no such file")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                out.append(f"{page}: link to `{target}`: no such heading in {os.path.relpath(dest, ROOT)}")
    return out


if __name__ == "__main__":
    main()
