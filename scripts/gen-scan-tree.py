#!/usr/bin/env python3
"""Generate a synthetic projects tree for scripts/bench-check.sh.

usage: gen-scan-tree.py DEST [--projects N] [--shebangs]

DEST/work/group-G/proj-NNNN/ holds, per project: sources in nested packages, a `.git` with an
object fan-out (objects/00..ff), a `.venv` (every project), `.tox/py311` + `.tox/py312`
(every 10th), `.nox/tests` (every 15th), and a deep `node_modules` (every 4th). Each venv has a
realistic layout (`pyvenv.cfg`, `bin/` links, `lib64 -> lib`, thousands of entries in
`lib/python3.11/site-packages`); every 5th venv is broken (dangling `bin/python`). Files are
empty: only the directory structure matters to a scanner. With --shebangs (for
scripts/bench-check.sh) the scripts in each venv's `bin/` start with `#!<venv>/bin/python`, as
pip writes them, because `venvfix check` reads them to notice moved venvs.

Deterministic. Writes into DEST.tmp and renames to DEST when done; DEST/.bench-venvs holds the
numbers of venvs and entries generated (`venvs=N`, `entries=N` lines). Prints that number and the number of entries.
"""

import os
import sys

O_FLAGS = os.O_CREAT | os.O_WRONLY | os.O_TRUNC

entries = 0


def mkdir(path):
    global entries
    os.mkdir(path)
    entries += 1


def touch(path, data=b""):
    global entries
    fd = os.open(path, O_FLAGS, 0o644)
    if data:
        os.write(fd, data)
    os.close(fd)
    entries += 1


def link(target, path):
    global entries
    os.symlink(target, path)
    entries += 1


def files(dir_, names):
    for name in names:
        touch(os.path.join(dir_, name))


def sources(proj, i):
    touch(os.path.join(proj, "README.md"))
    touch(os.path.join(proj, "pyproject.toml"))
    src = os.path.join(proj, "src")
    mkdir(src)
    pkg = os.path.join(src, f"pkg{i}")
    mkdir(pkg)
    touch(os.path.join(pkg, "__init__.py"))
    for sub in ("core", "util", "api"):
        d = os.path.join(pkg, sub)
        mkdir(d)
        files(d, ["__init__.py"] + [f"m{k}.py" for k in range(3)])
        for leaf in ("a", "b"):
            e = os.path.join(d, leaf)
            mkdir(e)
            files(e, ["__init__.py"] + [f"x{k}.py" for k in range(3)])
    tests = os.path.join(proj, "tests")
    mkdir(tests)
    files(tests, [f"test_{k}.py" for k in range(8)])


def git(proj):
    g = os.path.join(proj, ".git")
    mkdir(g)
    files(g, ["HEAD", "config", "description", "index", "packed-refs"])
    for d in ("refs", "refs/heads", "refs/tags", "hooks", "info", "logs", "objects"):
        mkdir(os.path.join(g, d))
    touch(os.path.join(g, "refs/heads/main"))
    files(os.path.join(g, "hooks"), [f"hook{k}.sample" for k in range(12)])
    touch(os.path.join(g, "info/exclude"))
    objects = os.path.join(g, "objects")
    for b in range(256):
        d = os.path.join(objects, f"{b:02x}")
        mkdir(d)
        files(d, [f"{b:02x}{k:036x}" for k in range(3)])
    mkdir(os.path.join(objects, "pack"))
    mkdir(os.path.join(objects, "info"))


def node_modules(proj, packages):
    nm = os.path.join(proj, "node_modules")
    mkdir(nm)
    for p in range(packages):
        d = os.path.join(nm, f"npm-pkg-{p}")
        mkdir(d)
        files(d, ["package.json", "index.js", "README.md", "LICENSE"])
        for sub, n in (("lib", 8), ("lib/internal", 5), ("dist", 5)):
            e = os.path.join(d, sub)
            mkdir(e)
            files(e, [f"f{k}.js" for k in range(n)])
        deep = os.path.join(d, "node_modules")
        mkdir(deep)
        for q in range(2):
            e = os.path.join(deep, f"dep-{q}")
            mkdir(e)
            files(e, ["package.json", "index.js"])
            f = os.path.join(e, "lib")
            mkdir(f)
            files(f, [f"g{k}.js" for k in range(4)])


SHEBANGS = False
# (DEST.tmp, DEST): shebangs name where the venv will be after the final rename.
RENAME = ("", "")


def venv(path, broken, packages):
    mkdir(path)
    home = "/opt/python-3.8.11/bin" if broken else "/usr/bin"
    touch(
        os.path.join(path, "pyvenv.cfg"),
        f"home = {home}\ninclude-system-site-packages = false\nversion = 3.11.2\n".encode(),
    )
    b = os.path.join(path, "bin")
    mkdir(b)
    link(os.path.join(home, "python3"), os.path.join(b, "python"))
    link("python", os.path.join(b, "python3"))
    link("python", os.path.join(b, "python3.11"))
    files(b, ["activate", "activate.csh", "activate.fish", "Activate.ps1"])
    scripts = ["pip", "pip3", "pip3.11"] + [f"console-script-{k}" for k in range(8)]
    final = RENAME[1] + path[len(RENAME[0]) :]
    shebang = f"#!{final}/bin/python\n# -*- coding: utf-8 -*-\nimport sys\n".encode()
    for name in scripts:
        touch(os.path.join(b, name), shebang if SHEBANGS else b"")
    mkdir(os.path.join(path, "include"))
    lib = os.path.join(path, "lib")
    mkdir(lib)
    link("lib", os.path.join(path, "lib64"))
    py = os.path.join(lib, "python3.11")
    mkdir(py)
    sp = os.path.join(py, "site-packages")
    mkdir(sp)
    for p in range(packages):
        name = f"dist_{p}"
        d = os.path.join(sp, name)
        mkdir(d)
        files(d, ["__init__.py"] + [f"mod{k}.py" for k in range(20)])
        c = os.path.join(d, "__pycache__")
        mkdir(c)
        files(c, [f"mod{k}.cpython-311.pyc" for k in range(20)])
        s = os.path.join(d, "sub")
        mkdir(s)
        files(s, [f"s{k}.py" for k in range(8)])
        info = os.path.join(sp, f"{name}-1.{p}.0.dist-info")
        mkdir(info)
        files(info, ["METADATA", "RECORD", "WHEEL", "INSTALLER", "top_level.txt", "REQUESTED"])


def main():
    global SHEBANGS, RENAME
    args = sys.argv[1:]
    if "--shebangs" in args:
        args.remove("--shebangs")
        SHEBANGS = True
    projects = 300
    if "--projects" in args:
        k = args.index("--projects")
        projects = int(args[k + 1])
        del args[k : k + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    dest = args[0]
    tmp = dest + ".tmp"
    if os.path.exists(tmp):
        sys.exit(f"{tmp} exists (an interrupted run?): remove it first")
    os.makedirs(tmp)
    RENAME = (tmp, dest)
    work = os.path.join(tmp, "work")
    mkdir(work)
    venvs = 0
    for i in range(projects):
        group = os.path.join(work, f"group-{i % 10}")
        if not os.path.exists(group):
            mkdir(group)
        proj = os.path.join(group, f"proj-{i:04d}")
        mkdir(proj)
        sources(proj, i)
        git(proj)
        venv(os.path.join(proj, ".venv"), broken=i % 5 == 0, packages=20)
        venvs += 1
        if i % 10 == 0:
            mkdir(os.path.join(proj, ".tox"))
            for env in ("py311", "py312"):
                venv(os.path.join(proj, ".tox", env), broken=False, packages=10)
                venvs += 1
        if i % 15 == 0:
            mkdir(os.path.join(proj, ".nox"))
            venv(os.path.join(proj, ".nox", "tests"), broken=True, packages=5)
            venvs += 1
        if i % 4 == 0:
            node_modules(proj, packages=60)
    touch(os.path.join(tmp, ".bench-venvs"), f"venvs={venvs}\nentries={entries + 1}\n".encode())
    os.rename(tmp, dest)
    print(f"venvs={venvs} entries={entries}")


if __name__ == "__main__":
    main()
