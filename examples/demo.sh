#!/bin/sh
# venvfix in a few seconds, on a real venv in a temp dir: make it, break it the way
# `pyenv uninstall` or an OS upgrade does (its base Python goes away), then check, plan,
# repair and undo.
#
#   sh examples/demo.sh            # builds the release binary first (cargo build --release)
#   VENVFIX=/path/to/venvfix sh examples/demo.sh
#
# Needs a `python3` (any 3.x with venv). Changes nothing outside its temp dir: venvfix's cache,
# backups and config for the demo live there too, and the dir is removed at the end.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${VENVFIX:-}" ]; then
    (cd "$here" && cargo build --release --quiet)
    VENVFIX=$here/target/release/venvfix
fi

demo=$(mktemp -d "${TMPDIR:-/tmp}/venvfix-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT INT TERM
export VENVFIX_STATE_DIR="$demo/state" VENVFIX_CACHE_DIR="$demo/cache" XDG_CONFIG_HOME="$demo/config"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@" || true; }

# The real interpreter behind `python3` (not a pyenv shim), and a second "installation" of it
# that can be uninstalled: a prefix whose bin/ links to the real one.
real=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
minor=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
base="$demo/python-$minor"
mkdir -p "$base/bin"
ln -s "$real" "$base/bin/python$minor"
ln -s "python$minor" "$base/bin/python3"

say "python3 -m venv --without-pip project/.venv   # with $base/bin/python3"
mkdir -p "$demo/project"
"$base/bin/python3" -m venv --without-pip "$demo/project/.venv"
venv="$demo/project/.venv"

say "rm -r $base   # the base Python is uninstalled; the venv breaks"
rm -r "$base"
run "$venv/bin/python" -c 'print("still works")'

run "$VENVFIX" check "$demo/project"
run "$VENVFIX" repair --dry-run "$venv"
run "$VENVFIX" repair --yes "$venv"
run "$venv/bin/python" -c 'import sys; print("works again:", sys.version.split()[0])'
run "$VENVFIX" undo "$venv"
run "$VENVFIX" check -q "$demo/project"
printf '\n(the venv is back exactly as it was before the repair: broken, as it started)\n'
