#!/bin/sh
# venvfix-hook.sh: run by a package manager after it changed packages (apt, pacman, dnf,
# brew, a systemd timer), to say which venvs the change broke and, if you opted in, relink them.
#
# Install: copy this file to /usr/local/lib/venvfix/venvfix-hook.sh (system hooks) or
# ~/.local/lib/venvfix/venvfix-hook.sh (brew, the systemd user timer), `chmod +x` it, then
# install the hook for your package manager from the dirs beside it (see examples/hooks/README).
#
# It never blocks or fails the package manager: it always exits 0, gives up after
# $VENVFIX_HOOK_TIMEOUT seconds (default 20), and when nothing broke it prints nothing and takes
# as long as one `venvfix check -q` (well under a second for a home directory).
#
# Settings (environment, or the file $VENVFIX_HOOK_CONF, default /etc/default/venvfix-hook for
# root and ~/.config/venvfix/hook.env for a user, in sh syntax):
#   VENVFIX               the venvfix binary (default: venvfix on PATH, then ~/.cargo/bin)
#   VENVFIX_HOOK_PATHS    dirs to check, separated by spaces (default: /home /root as root,
#                         else $HOME); the well-known homes of venvs are always added
#   VENVFIX_HOOK_REPAIR   empty: only warn (default); `relink`: also repair what a relink fixes
#                         (`venvfix repair --yes --strategy relink`), as each venv's owner
#   VENVFIX_HOOK_TIMEOUT  seconds before giving up (default 20)
# Usage: venvfix-hook.sh [WHO]   (WHO names the caller in messages: apt, pacman, dnf, brew...)

who=${1:-venvfix-hook}
uid=$(id -u)
if [ "$uid" = 0 ]; then
    conf=${VENVFIX_HOOK_CONF:-/etc/default/venvfix-hook}
else
    conf=${VENVFIX_HOOK_CONF:-${XDG_CONFIG_HOME:-$HOME/.config}/venvfix/hook.env}
fi
# shellcheck disable=SC1090
[ -r "$conf" ] && . "$conf"

if [ -z "${VENVFIX:-}" ]; then
    VENVFIX=$(command -v venvfix 2>/dev/null || true)
    [ -z "$VENVFIX" ] && [ -x "$HOME/.cargo/bin/venvfix" ] && VENVFIX=$HOME/.cargo/bin/venvfix
fi
if [ -z "$VENVFIX" ] || ! command -v "$VENVFIX" >/dev/null 2>&1; then
    echo "$who: venvfix not found (set VENVFIX in $conf); venvs were not checked" >&2
    exit 0
fi
if [ -z "${VENVFIX_HOOK_PATHS:-}" ]; then
    if [ "$uid" = 0 ]; then VENVFIX_HOOK_PATHS="/home /root"; else VENVFIX_HOOK_PATHS=$HOME; fi
fi
limit=${VENVFIX_HOOK_TIMEOUT:-20}

# Only the dirs that exist: a missing one is not this hook's business.
set --
for dir in $VENVFIX_HOOK_PATHS; do
    [ -d "$dir" ] && set -- "$@" "$dir"
done

bounded() { # run "$@" for at most $limit seconds (never waits on a hung venvfix)
    if command -v timeout >/dev/null 2>&1; then
        timeout -k 1 "$limit" "$@"
    else
        "$@"
    fi
}

broken=$(bounded "$VENVFIX" --no-config -q check --known "$@" 2>/dev/null)
status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "$who: venvfix check took longer than ${limit}s and was stopped; run \`venvfix check --known $*\` by hand" >&2
    exit 0
fi
if [ "$status" = 2 ] && [ -z "$broken" ]; then
    echo "$who: venvfix check failed; run \`venvfix check --known $*\` to see why" >&2
    exit 0
fi
[ -z "$broken" ] && exit 0

count=$(printf '%s\n' "$broken" | wc -l | tr -d ' ')
if [ "$count" = 1 ]; then noun="venv is"; else noun="venvs are"; fi
echo "$who: $count $noun broken (their Python changed or went away):" >&2
printf '%s\n' "$broken" | sed 's/^/  /' >&2

if [ "${VENVFIX_HOOK_REPAIR:-}" != relink ]; then
    echo "$who: \`venvfix repair --dry-run PATH\` shows the fix; set VENVFIX_HOOK_REPAIR=relink in $conf to relink automatically" >&2
    exit 0
fi

# Repair each venv as its owner, so no file in a user's venv ends up owned by root.
printf '%s\n' "$broken" | while IFS= read -r venv; do
    owner=$(stat -c %u "$venv" 2>/dev/null || echo "$uid")
    if [ "$owner" = "$uid" ]; then
        bounded "$VENVFIX" -q repair --yes --strategy relink "$venv" >/dev/null
    else
        home=$(getent passwd "$owner" | cut -d: -f6)
        group=$(getent passwd "$owner" | cut -d: -f4)
        bounded setpriv --reuid="$owner" --regid="${group:-$owner}" --init-groups \
            env HOME="${home:-/}" "$VENVFIX" -q repair --yes --strategy relink "$venv" >/dev/null
    fi
    case $? in
        0) echo "$who: relinked $venv (\`venvfix undo $venv\` restores it)" >&2 ;;
        *) echo "$who: $venv was not relinked; see \`venvfix repair --dry-run $venv\`" >&2 ;;
    esac
done
exit 0
