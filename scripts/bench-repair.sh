#!/usr/bin/env bash
# Benchmark `venvfix repair` end to end, per strategy.
#
# relocate: a venv (`python3 -m venv --without-pip`) with $SCRIPTS console scripts (default
#   200, pip-style `#!<venv>/bin/python3` shebangs) is moved with `mv`, then repaired with
#   `venvfix repair --yes`: plan, backup, journal, every script and activator rewritten, the
#   interpreter verified. Each run moves it back the other way (A -> B, B -> A), so every run
#   relocates all $SCRIPTS + activators. 1 warmup, median and min of $RUNS (default 7), wall
#   clock of the whole command (inventory cache warm, a fresh state dir per run), and the load
#   average (wall clock on a loaded machine is mostly waiting). Goal: under 100 ms. Then the same with
#   pip in the venv, where verification also runs `bin/pip --version` (the cost of that run is
#   printed separately: it is pip's import time, not venvfix's).
#
# recreate: `venvfix repair --yes --strategy recreate --offline` of a uv venv holding 6 pinned
#   requirements (uv installing from a local wheelhouse; the installer's dry-run resolution of
#   the candidate Python included), against `uv venv` followed by `uv pip install -r` of the
#   same requirements, side by side in the same run. Each sample starts from a freshly built,
#   freshly broken venv (its interpreter link made to lead nowhere; not timed); both sides share
#   one warm uv cache and never touch the network. Goal: at most 1.3x. The first time, uv is
#   installed with pip into a scratch venv under target/bench-tools (needs PyPI once).
#
# relink: one venv made by
# `python -m venv` on a copy of a real Python at $BENCH_DIR/relink/old, with a few small
# packages when the test wheelhouse exists (target/tmp/wheelhouse), whose base was then
# deleted; a second copy at $BENCH_DIR/relink/new is the only Python venvfix may discover.
# Before every timed run the venv is broken again the same way (its link and `home` point at
# the deleted copy; not timed). Then, warm cache (1 warmup, median of $RUNS):
#   1. venvfix repair --yes V   the release binary: detection, inventory (cached), plan, lock,
#                               backup, journal, relink, verification by the repaired Python
#   2. uv venv --allow-existing --python NEW V   what uv offers for the same fix (no backup,
#                               no journal, no verification)
#   3. venvfix check V          detection alone (scan, inventory from cache, diagnosis)
#   4. python -I -c pass        one interpreter start, the floor of any verification
# and prints the ratio repair/uv (goal: <= 1.5). `strace -f -c` (when installed) counts the
# fsyncs of one repair and the time they took.
#
# How:  scripts/bench-repair.sh            (from the repository root; builds --release)
#       SCRIPTS=200 RUNS=7 BENCH_DIR=/path SECTIONS="relocate recreate relink" scripts/bench-repair.sh
#       UV=/path/to/uv BENCH_PYTHON=/usr/bin/python3.11 scripts/bench-repair.sh   (relink: uv on PATH or target/tmp/test-tools)
# Files live in $BENCH_DIR (default ${TMPDIR:-/tmp}/venvfix-bench-repair), removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/venvfix-bench-repair}
SCRIPTS=${SCRIPTS:-200}
RUNS=${RUNS:-7}
SECTIONS=${SECTIONS:-relocate recreate relink}

cargo build --release --quiet --bin venvfix
VENVFIX=$PWD/target/release/venvfix
PYTHON=$(realpath "${BENCH_PYTHON:-/usr/bin/python3}")
export VENVFIX_PYTHON_SEARCH_PATH=${PYTHON%/*}
export VENVFIX_CACHE_DIR=$BENCH_DIR/state/cache
export VENVFIX_STATE_DIR=$BENCH_DIR/state/state
rm -rf "$BENCH_DIR"
mkdir -p "$VENVFIX_CACHE_DIR" "$VENVFIX_STATE_DIR"
trap 'rm -rf "$BENCH_DIR"' EXIT

echo "python: $PYTHON; load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall clock)"

# relocate_bench NAME WITH_PIP: make the venv, add the scripts, time the relocations.
relocate_bench() {
    local name=$1 with_pip=$2 a="$BENCH_DIR/$1/a/venv" b="$BENCH_DIR/$1/b/venv"
    mkdir -p "${a%/venv}" "${b%/venv}"
    if [[ $with_pip == 1 ]]; then
        "$PYTHON" -m venv "$a"
    else
        "$PYTHON" -m venv --without-pip "$a"
    fi
    for ((i = 0; i < SCRIPTS; i++)); do
        printf '#!%s/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom tool%d.cli import main\nif __name__ == "__main__":\n    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])\n    sys.exit(main())\n' \
            "$a" "$i" >"$a/bin/tool-$i"
        chmod 755 "$a/bin/tool-$i"
    done
    local here=$a there=$b times=() t0 t1
    for ((run = 0; run <= RUNS; run++)); do
        mv "$here" "$there"
        # A fresh state dir per run: a user relocates a venv once, and `repair` looks at the
        # venv's earlier backups (their number would otherwise grow with the runs).
        rm -rf "$VENVFIX_STATE_DIR" && mkdir -p "$VENVFIX_STATE_DIR"
        t0=$(date +%s%N)
        "$VENVFIX" repair --yes -q "$there" >/dev/null 2>&1 || {
            echo "FAILED: venvfix repair $there" >&2
            "$VENVFIX" repair --yes "$there" >&2 || true
            exit 1
        }
        t1=$(date +%s%N)
        ((run > 0)) && times+=("$(((t1 - t0) / 1000))")
        "$VENVFIX" check -q "$there" >/dev/null || {
            echo "FAILED: $there is not ok after the relocation" >&2
            exit 1
        }
        local swap=$here
        here=$there
        there=$swap
    done
    local files
    files=$(grep -l "$here" "$here"/bin/* 2>/dev/null | wc -l)
    read -r median min < <(printf '%s\n' "${times[@]}" | sort -n |
        awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000}')
    printf '%-34s %10s %8s %7s\n' "$name" "$median" "$min" "$files"
    if [[ $with_pip == 1 ]]; then
        t0=$(date +%s%N)
        PYTHONDONTWRITEBYTECODE=1 "$here/bin/pip" --version >/dev/null
        t1=$(date +%s%N)
        echo "  of which \`bin/pip --version\` alone: $(((t1 - t0) / 1000000)) ms"
    fi
}

# recreate_bench: venvfix's recreate of a 6-pin uv venv next to `uv venv` + `uv pip install -r`.
recreate_bench() {
    local dir=$BENCH_DIR/recreate tools=$PWD/target/bench-tools
    mkdir -p "$dir/wheels" "$tools"
    if [ ! -x "$tools/venv/bin/uv" ]; then
        echo "installing uv into $tools/venv..." >&2
        python3 -m venv "$tools/venv"
        "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
    fi
    local uv=$tools/venv/bin/uv
    export UV_CACHE_DIR=$tools/uv-cache UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1
    export VENVFIX_UV=$uv VENVFIX_VIRTUALENV=none
    # Six tiny pure wheels (bench_pkg_1..6, version 1.0) and their pins.
    "$PYTHON" -I - "$dir/wheels" <<'PY'
import base64, hashlib, os, sys, zipfile
dest = sys.argv[1]
def h(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
for n in range(1, 7):
    name, info = f"bench_pkg_{n}", f"bench_pkg_{n}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": f"VALUE = {n}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: bench-pkg-{n}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},{h(t.encode())},{len(t.encode())}\n" for p, t in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(dest, f"{name}-1.0-py3-none-any.whl"), "w") as z:
        for p, t in files.items():
            z.writestr(zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0)), t)
PY
    local reqs=$dir/requirements.txt venv=$dir/venv
    for n in 1 2 3 4 5 6; do echo "bench-pkg-$n==1.0"; done >"$reqs"
    bare() {
        rm -rf "$venv"
        "$uv" venv -q --python "$PYTHON" "$venv" &&
            "$uv" pip install -q --python "$venv/bin/python" --offline \
                --find-links "$dir/wheels" -r "$reqs"
    }
    broken() {
        bare && ln -sfn /nonexistent/bin/python3 "$venv/bin/python"
    }
    ours() {
        "$VENVFIX" -q repair --yes --strategy recreate --python "$PYTHON" --offline \
            --find-links "$dir/wheels" "$venv"
    }
    # usec CMD: microseconds one run of CMD takes; a failure stops the benchmark.
    usec() {
        local t0 t1
        t0=$(date +%s%N)
        "$@" >"$dir/last.log" 2>&1 || {
            echo "FAILED: $*" >&2
            cat "$dir/last.log" >&2
            exit 1
        }
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))
    }
    # Warm uv's cache and venvfix's interpreter cache, untimed.
    broken && ours >/dev/null 2>&1
    local b=() o=() run
    for ((run = 0; run < RUNS; run++)); do
        b+=("$(usec bare)")
        broken
        o+=("$(usec ours)")
    done
    local bm om
    bm=$(printf '%s\n' "${b[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    om=$(printf '%s\n' "${o[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "recreate: 6 pinned requirements, offline, $("$uv" --version), median of $RUNS (goal: at most 1.3x)"
    awk -v b="$bm" -v o="$om" 'BEGIN {
        printf "  %-38s %8.1f ms\n", "uv venv + uv pip install -r", b / 1000
        printf "  %-38s %8.1f ms\n", "venvfix repair --strategy recreate", o / 1000
        printf "  %-38s %8.2fx\n", "ratio", o / b }'
}

if [[ " $SECTIONS " == *" relocate "* ]]; then
    echo "relocate: a moved venv with $SCRIPTS console scripts, median of $RUNS (goal: under 100 ms without pip)"
    printf '%-34s %10s %8s %7s\n' case "median ms" "min ms" files
    relocate_bench "relocate, $SCRIPTS scripts" 0
    relocate_bench "relocate, $SCRIPTS scripts + pip" 1
fi
if [[ " $SECTIONS " == *" recreate "* ]]; then
    recreate_bench
fi
[[ " $SECTIONS " == *" relink "* ]] || exit 0

# --- relink ------------------------------------------------------------------------------------
UV=${UV:-$(command -v uv || echo "$PWD/target/tmp/test-tools/bin/uv")}
WHEELHOUSE=$PWD/target/tmp/wheelhouse
if [[ ! -x "$UV" ]]; then
    echo "relink: skipped (no uv: set UV=/path/to/uv, or run the tests once for target/tmp/test-tools)"
    exit 0
fi
(
set -euo pipefail
mkdir -p "$BENCH_DIR/relink"
export VENVFIX_CACHE_DIR=$BENCH_DIR/relink/cache VENVFIX_STATE_DIR=$BENCH_DIR/relink/state
export UV_CACHE_DIR=$BENCH_DIR/relink/uv-cache UV_PYTHON_DOWNLOADS=never UV_NO_CONFIG=1 NO_COLOR=1
# median_ms SETUP CMD...: SETUP (not timed) before each run; one warmup, then $RUNS timed runs.
median_ms() {
    local setup=$1 times=() t0 t1
    shift
    $setup
    "$@" >/dev/null 2>&1 || true
    for ((i = 0; i < RUNS; i++)); do
        $setup
        t0=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s%N)
        times+=("$(((t1 - t0) / 1000))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000}'
}
row() { printf '%-44s %10s %8s\n' "$1" "$2" "$3"; }

# A copy of $PYTHON's installation at $1 (binary copied, stdlib linked), as the tests'
# `copy_prefix` makes it.
copy_prefix() {
    local dest=$1 minor exe prefix
    minor=$("$PYTHON" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    prefix=$("$PYTHON" -I -c 'import sys; print(sys.base_prefix)')
    exe=python$minor
    mkdir -p "$dest/bin" "$dest/lib"
    cp "$PYTHON" "$dest/bin/$exe"
    ln -s "$exe" "$dest/bin/python3"
    ln -s "$exe" "$dest/bin/python"
    ln -s "$prefix/lib/$exe" "$dest/lib/$exe"
    if [[ -f "$prefix/include/$exe/patchlevel.h" ]]; then
        mkdir -p "$dest/include/$exe"
        cp "$prefix/include/$exe/patchlevel.h" "$dest/include/$exe/"
    fi
}

# --- relink -------------------------------------------------------------------------------
R=$BENCH_DIR/relink
copy_prefix "$R/old"
copy_prefix "$R/new"
MINOR=$("$PYTHON" -I -c 'import sys; print("%d.%d" % sys.version_info[:2])')
V=$R/venv
"$R/old/bin/python$MINOR" -m venv --without-pip "$V"
packages="none"
if [[ -d "$WHEELHOUSE" ]]; then
    "$UV" pip install -q --python "$V/bin/python" --no-index --find-links "$WHEELHOUSE" \
        tinyjson venvfix-demo "markupsafe" >/dev/null 2>&1 && packages="tinyjson, venvfix-demo, tinydep, markupsafe (compiled)"
fi
OLD_EXE=$R/old/bin/python$MINOR
rm -rf "$R/old"
export VENVFIX_PYTHON_SEARCH_PATH=$R/new/bin
# Break the venv again: every entry and `home` as the deleted base left them.
break_venv() {
    ln -sfn "$OLD_EXE" "$V/bin/python$MINOR"
    ln -sfn "python$MINOR" "$V/bin/python3"
    ln -sfn "python$MINOR" "$V/bin/python"
    sed -i -e "s#^home = .*#home = ${OLD_EXE%/*}#" -e "s#^executable = .*#executable = $OLD_EXE#" "$V/pyvenv.cfg"
    rm -rf "$VENVFIX_STATE_DIR"
}
break_venv
if "$VENVFIX" check "$V" >/dev/null 2>&1; then
    echo "setup error: the venv is not broken" >&2
    exit 1
fi
"$VENVFIX" repair --yes "$V" >/dev/null 2>&1 || { echo "setup error: venvfix cannot repair the venv" >&2; "$VENVFIX" repair --yes "$V"; exit 1; }

echo "relink: $V (python $MINOR from $PYTHON; packages: $packages)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall clock)"
printf '%-44s %10s %8s\n' tool "median ms" "min ms"
read -r vf vf_min < <(median_ms break_venv "$VENVFIX" repair --yes "$V")
row "venvfix repair --yes (relink, verified)" "$vf" "$vf_min"
read -r uv uv_min < <(median_ms break_venv "$UV" venv -q --allow-existing --python "$R/new/bin/python$MINOR" "$V")
row "uv venv --allow-existing" "$uv" "$uv_min"
read -r ck ck_min < <(median_ms break_venv "$VENVFIX" check "$V")
row "venvfix check (detection only)" "$ck" "$ck_min"
read -r py py_min < <(median_ms true "$R/new/bin/python$MINOR" -I -c pass)
row "python -I -c pass" "$py" "$py_min"
awk -v a="$vf" -v b="$uv" 'BEGIN {printf "ratio repair/uv: %.2fx (goal <= 1.5)\n", a / b}'

if command -v strace >/dev/null; then
    break_venv
    summary=$(strace -f -c -e trace=fsync,fdatasync,wait4,clock_nanosleep,nanosleep -o /dev/stdout "$VENVFIX" repair --yes "$V" 2>/dev/null | awk '/fsync|fdatasync|wait4|sleep/ {printf "%s %s calls, %s s; ", $NF, $4, $2}')
    echo "syscalls of one repair (strace -f -c): ${summary:-none}"
fi
)
