#!/usr/bin/env bash
# bench-pythons.sh: how fast `venvfix pythons` lists this machine's Pythons, next to
# `uv python list`, measured in the same run on the same machine.
#
# What it measures, for each tool:
#   cold  median of COLD runs, each with an empty cache dir (venvfix: VENVFIX_CACHE_DIR;
#         uv: UV_CACHE_DIR), so every interpreter is run once
#   warm  median of RUNS runs with the cache filled by the run before
# and how many Pythons each found (venvfix: `pythons --json`; uv: installed ones only).
#
# How to run, from anywhere in the repo:
#   scripts/bench-pythons.sh [RUNS] [COLD]        # defaults: 20 warm runs, 5 cold runs
# It builds venvfix with `cargo build --release`, and the first time installs uv with pip
# into a scratch venv under target/bench-tools (needs python3 with venv, and PyPI). Timing
# uses bash's $EPOCHREALTIME (no fork per sample), so nothing else needs installing.
# Discovery is venvfix's default (PATH, pyenv, /usr/bin, ...): unset
# VENVFIX_PYTHON_SEARCH_PATH to measure what users get.
set -euo pipefail

RUNS=${1:-20}
COLD=${2:-5}
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/target/bench-tools
mkdir -p "$TOOLS"
unset VENVFIX_PYTHON_SEARCH_PATH

echo "building venvfix (release)..." >&2
cargo build --release --quiet
VENVFIX=$ROOT/target/release/venvfix

if [ ! -x "$TOOLS/venv/bin/uv" ]; then
    echo "installing uv into $TOOLS/venv..." >&2
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
UV=$TOOLS/venv/bin/uv

# Microseconds one run of "$@" takes, output discarded.
time_once() {
    local start end
    start=${EPOCHREALTIME/[.,]/}
    "$@" >/dev/null 2>&1 || true
    end=${EPOCHREALTIME/[.,]/}
    echo $((end - start))
}

median() {
    sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

ms() {
    awk -v us="$1" 'BEGIN { printf "%8.1f ms", us / 1000 }'
}

# bench NAME CACHE_VAR CMD...: cold and warm medians of CMD with CACHE_VAR pointed at a scratch dir.
bench() {
    local name=$1 cache_var=$2
    shift 2
    local cache=$TOOLS/cache-$name cold warm i
    cold=$(for ((i = 0; i < COLD; i++)); do
        rm -rf "$cache"
        env "$cache_var=$cache" "$@" >/dev/null 2>&1 || true
        rm -rf "$cache"
        time_once env "$cache_var=$cache" "$@"
    done | median)
    env "$cache_var=$cache" "$@" >/dev/null 2>&1 || true
    warm=$(for ((i = 0; i < RUNS; i++)); do time_once env "$cache_var=$cache" "$@"; done | median)
    printf '%-28s cold %s   warm %s\n' "$name" "$(ms "$cold")" "$(ms "$warm")"
}

count_json() {
    python3 -c 'import json, sys
data = json.load(sys.stdin)
print(len(data["pythons"] if isinstance(data, dict) else data))'
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); uv $("$UV" --version | cut -d' ' -f2)"
echo "medians: cold of $COLD runs, warm of $RUNS runs"
bench "venvfix pythons" VENVFIX_CACHE_DIR "$VENVFIX" pythons
bench "uv python list" UV_CACHE_DIR "$UV" python list
bench "uv python list --only-inst" UV_CACHE_DIR "$UV" python list --only-installed

found_venvfix=$(VENVFIX_CACHE_DIR=$TOOLS/cache-count "$VENVFIX" -q pythons --json | count_json)
found_uv=$(UV_CACHE_DIR=$TOOLS/cache-count-uv "$UV" python list --only-installed --output-format json 2>/dev/null | count_json) ||
    found_uv=$("$UV" python list --only-installed | grep -vc 'download available')
echo "found: venvfix $found_venvfix Pythons, uv $found_uv"
