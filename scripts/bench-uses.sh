#!/usr/bin/env bash
# Benchmark "what would break?": `venvfix check --uses PYTHON` and `venvfix pythons --venvs`
# over a home-sized tree, to show they are fast enough to run from a shell prompt or a package
# manager hook.
#
# What: reuses (or generates, once) the projects tree of scripts/bench-check.sh with
# `scripts/gen-scan-tree.py --shebangs` ($PROJECTS projects, default 60: ~190k entries, 76
# venvs, every 5th broken), every venv linking to /usr/bin/python3. Warm cache (1 warmup,
# median of $RUNS, default 5), it times:
#   1. venvfix check -q T                     the plain check, for reference
#   2. venvfix check --uses PYTHON -q T       which venvs use PYTHON, and the plan for each
#                                             once PYTHON is gone (planned, never applied)
#   3. venvfix pythons --venvs T              every installed Python with the venvs using it
# and checks that `--uses` names every healthy generated venv (they all use PYTHON).
#
# How:  scripts/bench-uses.sh               (from the repository root; cargo build --release)
#       BENCH_DIR=/path PROJECTS=60 RUNS=5 scripts/bench-uses.sh
# The tree lives in $BENCH_DIR (default ${TMPDIR:-/tmp}/venvfix-bench-check, shared with
# bench-check.sh); venvfix's cache and state go to $BENCH_DIR/state.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/venvfix-bench-check}
PROJECTS=${PROJECTS:-60}
RUNS=${RUNS:-5}

cargo build --release --quiet --bin venvfix
VENVFIX=$PWD/target/release/venvfix
PYTHON=$(realpath "${BENCH_PYTHON:-/usr/bin/python3}")
export VENVFIX_PYTHON_SEARCH_PATH=${PYTHON%/*}
export VENVFIX_CACHE_DIR=$BENCH_DIR/state/cache
export VENVFIX_STATE_DIR=$BENCH_DIR/state/state
export XDG_CONFIG_HOME=$BENCH_DIR/state/config
mkdir -p "$VENVFIX_CACHE_DIR" "$VENVFIX_STATE_DIR"

tree="$BENCH_DIR/p$PROJECTS"
if [[ ! -f "$tree/.bench-venvs" ]]; then
    rm -rf "$tree.tmp"
    echo "generating $tree ..." >&2
    python3 scripts/gen-scan-tree.py "$tree" --projects "$PROJECTS" --shebangs >&2
fi
venvs=$(sed -n 's/^venvs=//p' "$tree/.bench-venvs")
entries=$(sed -n 's/^entries=//p' "$tree/.bench-venvs")

median_ms() {
    "$@" >/dev/null || true
    local times=() t0 t1
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N)
        "$@" >/dev/null || true
        t1=$(date +%s%N)
        times+=("$(((t1 - t0) / 1000))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000}'
}

status=0
using=$("$VENVFIX" check --uses "$PYTHON" -q "$tree" | wc -l) || true
broken=$("$VENVFIX" check -q "$tree" | wc -l) || true
if [[ "$using" -ne $((venvs - broken)) ]]; then
    echo "MISMATCH: --uses named $using venvs; expected the $((venvs - broken)) healthy ones" >&2
    status=1
fi

echo "tree p$PROJECTS: $((entries / 1000))k entries, $venvs venvs ($broken broken), python $PYTHON"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (wall clock)"
printf '%-44s %10s %8s\n' command "median ms" "min ms"
row() { printf '%-44s %10s %8s\n' "$1" "$2" "$3"; }
read -r t m < <(median_ms "$VENVFIX" check -q "$tree")
row "check -q" "$t" "$m"
read -r t m < <(median_ms "$VENVFIX" check --uses "$PYTHON" -q "$tree")
row "check --uses $PYTHON -q ($using)" "$t" "$m"
read -r t m < <(median_ms "$VENVFIX" pythons --venvs "$tree")
row "pythons --venvs" "$t" "$m"
exit $status
