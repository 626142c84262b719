#!/usr/bin/env bash
# Benchmark `venvfix repair` end to end, per strategy.
#
# relocate: a venv (`python3 -m venv --without-pip`) with $SCRIPTS console scripts (default
#   200, pip-style `#!<venv>/bin/python3` shebangs) is moved with `mv`, then repaired with
#   `venvfix repair --yes`: plan, backup, journal, every script and activator rewritten, the
#   interpreter verified. Each run moves it back the other way (A -> B, B -> A), so every run
#   relocates all $SCRIPTS + activators. 1 warmup, median and min of $RUNS (default 7), wall
#   clock of the whole command (inventory cache warm). Goal: under 100 ms. Then the same with
#   pip in the venv, where verification also runs `bin/pip --version` (the cost of that run is
#   printed separately: it is pip's import time, not venvfix's).
#
# How:  scripts/bench-repair.sh            (from the repository root; builds --release)
#       SCRIPTS=200 RUNS=7 BENCH_DIR=/path scripts/bench-repair.sh
# Files live in $BENCH_DIR (default ${TMPDIR:-/tmp}/venvfix-bench-repair), removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/venvfix-bench-repair}
SCRIPTS=${SCRIPTS:-200}
RUNS=${RUNS:-7}

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

echo "relocate: a moved venv with $SCRIPTS console scripts, median of $RUNS (goal: under 100 ms without pip)"
printf '%-34s %10s %8s %7s\n' case "median ms" "min ms" files
relocate_bench "relocate, $SCRIPTS scripts" 0
relocate_bench "relocate, $SCRIPTS scripts + pip" 1
