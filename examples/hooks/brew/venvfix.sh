# venvfix: after `brew upgrade|uninstall|reinstall|install|cleanup`, say which venvs broke
# (and relink them if you opted in, see venvfix-hook.sh). Homebrew has no hooks: source this
# from ~/.zshrc or ~/.bashrc; it wraps the `brew` command and keeps its exit status.
#   . /path/to/examples/hooks/brew/venvfix.sh
brew() {
    command brew "$@"
    _venvfix_brew_status=$?
    case "${1:-}" in
    upgrade | uninstall | remove | rm | reinstall | install | cleanup | unlink | link)
        "${VENVFIX_HOOK:-$HOME/.local/lib/venvfix/venvfix-hook.sh}" brew || true
        ;;
    esac
    return $_venvfix_brew_status
}
