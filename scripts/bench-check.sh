#!/usr/bin/env bash
# Benchmark `venvfix check` over a whole projects tree against find(1) and the bare scanner.
#
# What: generates (once, then reuses) two trees with `scripts/gen-scan-tree.py --shebangs`: a
# large one ($PROJECTS projects, default 300: ~930k entries, 380 venvs) and a small one
# ($SMALL_PROJECTS, default 60: ~190k entries, 76 venvs). Each project has sources, a `.git`
# with an object fan-out, a `.venv` with thousands of files in site-packages (every 5th broken:
# its interpreter link dangles), some `.tox`/`.nox` venvs and deep `node_modules`; the scripts
# in each venv's `bin/` carry real shebangs (check reads them). On the large tree it times, warm
# cache (1 warmup, median of $RUNS, default 5):
#   1. venvfix check -q T   the real binary built --release, with VENVFIX_PYTHON_SEARCH_PATH set
#                           to the dir of /usr/bin/python3, the Python the generated venvs link
#                           to (probed once, then cached)
#   2. scanner alone        examples/scan.rs (--release): the walk without inspect/diagnose
#   3. find pruned          find T \( -name .git -o -name node_modules -o -name site-packages \)
#                                -prune -o -name pyvenv.cfg -print
#   4. find naive           find T -name pyvenv.cfg
# checks that venvfix reports exactly the venvs generated (and the broken ones as broken), and
# prints the ratios check/pruned-find (target: <= 1.5), check/naive-find (far below 1) and
# check/scanner (the cost of inspecting and diagnosing). Then the peak RSS of `venvfix check` on
# both trees (/usr/bin/time -v if installed, else VmHWM polled from /proc): it must stay flat as
# the tree grows. `venvfix check -v` prints the time of each phase (scan, inventory, diagnose).
#
# How:  scripts/bench-check.sh         (from the repository root; runs cargo build --release)
#       BENCH_DIR=/path PROJECTS=300 SMALL_PROJECTS=60 RUNS=5 scripts/bench-check.sh
# Trees live in $BENCH_DIR (default ${TMPDIR:-/tmp}/venvfix-bench-check); delete it to
# regenerate (~40 s once). venvfix's cache and state go to $BENCH_DIR/state.
set -euo pipefail

cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/venvfix-bench-check}
PROJECTS=${PROJECTS:-300}
SMALL_PROJECTS=${SMALL_PROJECTS:-60}
RUNS=${RUNS:-5}

cargo build --release --quiet --bin venvfix --example scan
VENVFIX=$PWD/target/release/venvfix
SCAN=$PWD/target/release/examples/scan

# The generated venvs link to /usr/bin/python3 (3.11.2 on these machines): that is "the real
# Python" the inventory must know. BENCH_PYTHON overrides it.
PYTHON=$(realpath "${BENCH_PYTHON:-/usr/bin/python3}")
export VENVFIX_PYTHON_SEARCH_PATH=${PYTHON%/*}
export VENVFIX_CACHE_DIR=$BENCH_DIR/state/cache
export VENVFIX_STATE_DIR=$BENCH_DIR/state/state
mkdir -p "$VENVFIX_CACHE_DIR" "$VENVFIX_STATE_DIR"

tree() { # projects -> path, generating it if missing
    local dest="$BENCH_DIR/p$1"
    if [[ ! -f "$dest/.bench-venvs" ]]; then
        rm -rf "$dest.tmp"
        echo "generating $dest ..." >&2
        python3 scripts/gen-scan-tree.py "$dest" --projects "$1" --shebangs >&2
    fi
    echo "$dest"
}
meta() { sed -n "s/^$2=//p" "$1/.bench-venvs"; }

# median_ms CMD...: one warmup, then $RUNS timed runs; prints "median min" in ms.
median_ms() {
    "$@" >/dev/null
    local times=() t0 t1
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        times+=("$(((t1 - t0) / 1000))")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f\n", a[int((NR+1)/2)]/1000, a[1]/1000}'
}

big=$(tree "$PROJECTS")
small=$(tree "$SMALL_PROJECTS")
expected=$(meta "$big" venvs)
entries=$(meta "$big" entries)
# gen-scan-tree.py breaks every 5th project's .venv and every .nox venv (every 15th project).
expected_broken=$(awk -v n="$PROJECTS" 'BEGIN {b = 0; for (i = 0; i < n; i++) { if (i % 5 == 0) b++; if (i % 15 == 0) b++ } print b}')

# `check` exits 1 when it finds broken venvs: that is the expected outcome here, not a failure.
vf_check() { "$VENVFIX" check -q "$@" || [[ $? == 1 ]]; }
find_naive() { find "$big" -name pyvenv.cfg; }
find_pruned() { find "$big" \( -name .git -o -name node_modules -o -name site-packages \) -prune -o -name pyvenv.cfg -print; }

status=0
summary=$("$VENVFIX" check --json "$big" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(len(r["venvs"]), len({v["path"] for v in r["venvs"]}), r["summary"]["broken"], len(r["errors"]))
') || true
read -r vf_venvs vf_unique vf_broken vf_errors <<<"$summary"
if [[ "$vf_venvs" != "$expected" || "$vf_unique" != "$expected" || "$vf_broken" != "$expected_broken" || "$vf_errors" != 0 ]]; then
    echo "MISMATCH: venvfix check reported $vf_venvs venvs ($vf_unique distinct, $vf_broken broken, $vf_errors errors); generated $expected ($expected_broken broken)" >&2
    status=1
fi

echo "tree p$PROJECTS: $((entries / 1000))k entries, $expected venvs, $expected_broken broken ($big)"
echo "python: $PYTHON (VENVFIX_PYTHON_SEARCH_PATH=$VENVFIX_PYTHON_SEARCH_PATH)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (timings are wall clock)"
printf '%-24s %10s %8s %7s\n' tool "median ms" "min ms" venvs
row() { printf '%-24s %10s %8s %7s\n' "$1" "$2" "$3" "$4"; }

read -r t_check m_check < <(median_ms vf_check "$big")
row "venvfix check -q" "$t_check" "$m_check" "$vf_venvs"
read -r t_scan m_scan < <(median_ms "$SCAN" "$big")
row "scanner alone" "$t_scan" "$m_scan" "$("$SCAN" "$big" | sed -n 's/.*venvs=\([0-9]*\).*/\1/p')"
read -r t_pruned m_pruned < <(median_ms find_pruned)
row "find pruned" "$t_pruned" "$m_pruned" "$(find_pruned | wc -l)"
read -r t_naive m_naive < <(median_ms find_naive)
row "find naive" "$t_naive" "$m_naive" "$(find_naive | wc -l)"

awk -v c="$t_check" -v p="$t_pruned" -v n="$t_naive" -v s="$t_scan" \
    'BEGIN {printf "ratio check/pruned-find: %.2f   check/naive-find: %.3f   check/scanner: %.2f\n", c/p, c/n, c/s}'
if awk -v c="$t_check" -v p="$t_pruned" 'BEGIN {exit !(c/p > 1.5)}'; then
    echo "WARNING: venvfix check slower than 1.5x the hand-pruned find"
    status=1
fi
echo "phases (venvfix check -v, last run):"
"$VENVFIX" check -v "$big" 2>&1 >/dev/null | grep -E '^(scan|inventory|inspect and diagnose):' | sed 's/^/  /' || true

peak_rss() { # tree -> peak RSS of `venvfix check -q` in kB
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -v "$VENVFIX" check -q "$1" 2>&1 >/dev/null |
            sed -n 's/.*Maximum resident set size (kbytes): //p'
    else
        "$VENVFIX" check -q "$1" >/dev/null &
        local pid=$! hwm=0 v
        while v=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null) && [[ -n "$v" ]]; do
            hwm=$v
            sleep 0.005
        done
        wait "$pid" || true
        echo "$hwm (VmHWM, polled)"
    fi
}
echo "peak RSS of venvfix check: p$SMALL_PROJECTS $(($(meta "$small" entries) / 1000))k entries, $(meta "$small" venvs) venvs: $(peak_rss "$small") kB"
echo "peak RSS of venvfix check: p$PROJECTS $((entries / 1000))k entries, $expected venvs: $(peak_rss "$big") kB"
exit $status
