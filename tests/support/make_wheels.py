"""Write the tiny test wheels of the venvfix test harness into sys.argv[1].

Each wheel is a zip holding a package and a `<name>-<version>.dist-info/` with METADATA, WHEEL,
RECORD (sha256 of every file, as installers check) and, optionally, entry_points.txt. Most are
pure (`py3-none-any`); `fakenum` poses as a compiled, numpy-like project: version 2.0.2 has
wheels tagged for CPython 3.9 to 3.12 only (none for 3.13, as numpy 2.0.2), so the Python a
recreate picks can be tested without a network or a compiler. `tinyboth` (1.0 and 1.1) and
`tinyold` are `py2.py3-none-any` with `Requires-Python: >=2.7` and code Python 2 runs, for
Python 2.7 venvs (and two versions of one name).
Run by tests/support/mod.rs; standard library only.
"""
import base64
import hashlib
import os
import sys
import zipfile

DEST = sys.argv[1]

# Tags of fakenum 2.0.2's wheels (no cp313).
FAKENUM_TAGS = [f"cp3{m}-cp3{m}-manylinux_2_17_x86_64" for m in (9, 10, 11, 12)]

# (project name, version, import package, Requires-Dist list, console scripts)
WHEELS = [
    ("tinyjson", "1.0.0", "tinyjson", [], {}),
    ("tinydep", "0.5", "tinydep", [], {}),
    ("venvfix-demo", "2.3.1", "venvfix_demo", ["tinydep==0.5"], {"venvfix-demo": "venvfix_demo:main"}),
]

# Wheels Python 2.7 installs too: (name, version, package, Requires-Dist, console scripts).
PY2_WHEELS = [
    ("tinyboth", "1.0", "tinyboth", [], {}),
    ("tinyboth", "1.1", "tinyboth", [], {}),
    ("tinyold", "0.3", "tinyold", [], {"tinyold": "tinyold:main"}),
]


def record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build(name, version, package, requires, scripts, tag="py3-none-any", requires_python=">=3.6"):
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{package}/__init__.py": (
            f'"""{name} {version}: a test package of the venvfix harness."""\n'
            f'__version__ = "{version}"\n\n\ndef main():\n    print("{name} {version}")\n'
        ),
        f"{info}/METADATA": "".join(
            [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"Summary: venvfix test wheel\nRequires-Python: {requires_python}\n"]
            + [f"Requires-Dist: {r}\n" for r in requires]
            + ["\n", f"# {name}\n\nThis line is the description body, not a header.\nName: not-a-header\n"]
        ),
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: venvfix-tests\n"
        f"Root-Is-Purelib: {'true' if tag.endswith('-none-any') else 'false'}\nTag: {tag}\n",
    }
    if scripts:
        files[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items()
        )
    record = "".join(
        f"{path},{record_hash(text.encode())},{len(text.encode())}\n" for path, text in files.items()
    )
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    path = os.path.join(DEST, f"{dist}-{version}-{tag}.whl")
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, text in files.items():
            zf.writestr(zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0)), text)
    os.replace(tmp, path)


os.makedirs(DEST, exist_ok=True)
for wheel in WHEELS:
    build(*wheel)
for wheel in PY2_WHEELS:
    build(*wheel, tag="py2.py3-none-any", requires_python=">=2.7")
for tag in FAKENUM_TAGS:
    build("fakenum", "2.0.2", "fakenum", [], {}, tag)
