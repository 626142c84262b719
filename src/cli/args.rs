//! What the user typed: the clap definitions of every command and flag (DESIGN.md "CLI contract").
//!
//! Parsing lives here and nowhere else; each command module turns these into library calls.

use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `0.1.0 (0f7545e1c 2026-12-02)`: the version, and the commit it was built from when the build
/// had git (build.rs), like uv's `--version`.
pub static VERSION: LazyLock<String> = LazyLock::new(|| {
    let commit = env!("VENVFIX_COMMIT");
    let date = env!("VENVFIX_COMMIT_DATE");
    let version = env!("CARGO_PKG_VERSION");
    match (commit.is_empty(), date.is_empty()) {
        (true, _) => version.to_string(),
        (false, true) => format!("{version} ({commit})"),
        (false, false) => format!("{version} ({commit} {date})"),
    }
});

/// Find Python virtual environments broken by an upgrade or an uninstall, and repair them.
///
/// venvfix inspects venvs without running them, names each problem, shows the fix before
/// touching anything, applies it with a backup, and can undo it.
#[derive(Debug, Parser)]
#[command(name = "venvfix", version = VERSION.as_str(), propagate_version = true)]
#[command(
    after_help = "Start with `venvfix check ~ --known`: every venv under your home directory and \
in the places tools keep theirs.\n\n\
Exit codes: 0 nothing broken / everything asked for was done; \
1 broken venvs remain or some repairs were not done; 2 usage error, I/O error or refusal."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten, next_help_heading = "Global options")]
    pub global: GlobalArgs,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to colour output (also honours NO_COLOR).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print only what a script acts on (broken venvs, one path a line); errors still go to
    /// stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Say more about what is being done.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Ignore the config file ($XDG_CONFIG_HOME/venvfix/config.toml).
    #[arg(long, global = true)]
    pub no_config: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose venvs (read-only): each PATH is a venv, or a directory searched for venvs.
    Check(CheckArgs),
    /// Plan and apply repairs, with a backup that `venvfix undo` restores.
    Repair(RepairArgs),
    /// Walk a venv back one repair per call (or the last batch's repairs under a directory).
    Undo(UndoArgs),
    /// List the backups venvfix keeps: venv, when, the repair, size, whether undo can use it.
    Backups(BackupsArgs),
    /// Remove backups that are no longer needed, and say how much was freed.
    Prune(PruneArgs),
    /// List the installed Pythons venvfix can relink or recreate venvs with.
    Pythons(PythonsArgs),
    /// Print a venv's requirements, rebuilt from its dist-info without running it.
    Freeze(FreezeArgs),
    /// Print a completion script for SHELL on stdout.
    #[command(after_help = "Load it for the current shell, or install it:\n  \
bash: source <(venvfix completions bash)   (or save it in ~/.local/share/bash-completion/completions/venvfix)\n  \
zsh: venvfix completions zsh > ~/.zfunc/_venvfix   (with ~/.zfunc in $fpath)\n  \
fish: venvfix completions fish > ~/.config/fish/completions/venvfix.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout: `venvfix man | man -l -`.
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Text output: every venv with a problem is printed with its problems and \
hints; healthy venvs are counted in the summary and listed only with -v (or when only one venv \
was checked). With -q only broken venvs are printed, without hints or summary. Unreadable \
directories are warnings on stderr naming the directory.\n\n\
Exit codes: 0 nothing broken; 1 broken venvs found, or part of a tree could not be read (the \
rest is still checked); 2 a named path does not exist or is not a directory or venv."
)]
pub struct CheckArgs {
    /// Venvs, or directories to search for venvs (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also check the well-known homes of venvs: virtualenvwrapper and pipenv ($WORKON_HOME or
    /// ~/.virtualenvs), pipx, poetry, hatch, uv tools, pyenv-virtualenv. With no PATH, only
    /// those. Homes that do not exist are skipped.
    #[arg(long)]
    pub known: bool,
    /// Follow symlinked directories while searching (loops are detected).
    #[arg(long)]
    pub follow_links: bool,
    /// Instead of diagnosing: the venvs that use PYTHON (a path, a command, `3.12`,
    /// `3.12.1`), which would break if it went away, and what venvfix would do for each then.
    /// Exit 1 when some venv would break.
    #[arg(long, value_name = "PYTHON")]
    pub uses: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyChoice {
    /// Relink when a Python of the venv's minor is installed, relocate a moved or copied
    /// venv, else recreate.
    Auto,
    /// Only relink (or update the recorded version); leave the rest for a later decision.
    Relink,
    /// Only rewrite a moved or copied venv's scripts, activators and paths to where it is now.
    Relocate,
    /// Recreate in place with the same packages.
    Recreate,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Over many venvs: every venv is planned first, then one table shows \
each venv that needs a repair (problems, strategy, target); healthy venvs are counted, and the \
details of each plan are shown with -v. One question applies them all (`--yes` skips it); \
repairs run in parallel, each venv under its own lock and backup, and one failure never stops \
the others. A progress bar is drawn on a terminal (not with -q).\n\n\
Exit codes: 0 everything asked for was done; 1 some venvs were not repaired (skipped, failed, \
or cancelled); 2 usage error, a venv locked by another venvfix, or no terminal to ask and no \
`--yes` (nothing is changed)."
)]
pub struct RepairArgs {
    /// Venvs, or directories to search for venvs (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// Also repair venvs in the well-known homes of venvs (see `venvfix check --help`). With
    /// no PATH, only those.
    #[arg(long)]
    pub known: bool,
    /// Print the plan and change nothing (exit 0 if no venv would be left broken, else 1).
    #[arg(long)]
    pub dry_run: bool,
    /// Apply the recommended plan without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Print plans and outcomes as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Which kind of repair to plan [default: the config file's `strategy`, else auto].
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyChoice>,
    /// Use this Python: a path, a command on PATH (`python3.12`), or a version of an installed
    /// one (`3`, `3.12`, `3.12.1`).
    #[arg(long, value_name = "PYTHON")]
    pub python: Option<String>,
    /// Also move venvs whose base path the next upgrade removes (`unstable-base`: a Homebrew
    /// keg, a patch directory) to the stable path of the same installation.
    #[arg(long)]
    pub stabilize: bool,
    /// Also look for wheels in DIR when recreating (repeatable).
    #[arg(long, value_name = "DIR", help_heading = "Recreate options")]
    pub find_links: Vec<PathBuf>,
    /// Do not use the network when recreating.
    #[arg(long, help_heading = "Recreate options", overrides_with = "online")]
    pub offline: bool,
    /// Use the network when recreating, even if the config file says `offline = true`.
    #[arg(long, help_heading = "Recreate options", overrides_with = "offline")]
    pub online: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Each call walks one step back through the venv's history: it restores every \
entry the newest repair still applied changed (links, files, modes) exactly as it was, after \
saving the current state in a new backup (`venvfix backups` lists them; `--from` applies one). \
Undoing a recreate puts the original tree back and removes the recreated one, unless \
`--keep-recreated`. A venv that was moved or renamed keeps its history. If a repair was \
interrupted, undo rolls that back instead. If what the repair changed was changed again since \
(say `pyvenv.cfg` edited by hand), undo refuses unless `--force` is given. A damaged backup is \
reported and never half-applied.\n\n\
A DIR that is not a venv undoes, after one question (`--yes` skips it), the last repair of every \
venv under DIR that the last `venvfix repair` run (batch) repaired.\n\n\
Exit codes: 0 restored; 1 nothing to undo (or some venvs of a batch were not undone); 2 changed \
since the repair (without `--force`), a damaged backup, another venvfix holds the venv, or an \
error."
)]
pub struct UndoArgs {
    /// Venvs to walk back one step, or directories whose last batch to undo (default: `.`).
    pub paths: Vec<PathBuf>,
    /// Show the steps `undo` would walk back (newest first) and change nothing.
    #[arg(long)]
    pub list: bool,
    /// Restore even if the venv was changed since the repair (the current state is saved in a
    /// new backup first).
    #[arg(long)]
    pub force: bool,
    /// Undo a batch without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Undoing a recreate: keep the recreated tree as a backup instead of removing it.
    #[arg(long)]
    pub keep_recreated: bool,
    /// Apply this backup (a directory `venvfix backups` lists) to the one VENV given, e.g. the
    /// backup of a venv that was moved to another filesystem.
    #[arg(long, value_name = "BACKUP")]
    pub from: Option<PathBuf>,
    /// Print what was undone as JSON on stdout (one entry per venv, and a summary).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Every backup in the state directory, grouped by venv, newest first: when it \
was taken, the repair it precedes (strategy, from -> to), its size on disk, and what `venvfix \
undo` can do with it (`next`, `after newer`, `undone`, `redo (--from)`, `orphan (--from)`, \
`leftover`, `damaged`, `in progress`). A venv moved or renamed is found by the identity of its \
directory; a venv that is nowhere to be found is listed as an orphan with the path it had. \
Read-only."
)]
pub struct BackupsArgs {
    /// Only the backups of these venvs (or of the venvs under these directories).
    pub venvs: Vec<PathBuf>,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Without options, removes only the backups `undo` can never use again: \
undone repairs and what interrupted or failed runs left. `--keep N` also removes the backups of \
all but the N newest repairs of each venv that `undo` can walk back (and those taken before an \
undo), `--older-than DAYS` every backup older than that. The only \
way back of a repair applied within the last day is kept unless `--include-recent`; a backup \
of a run in progress or interrupted is always kept. Each venv is locked while its backups are \
removed. The installer logs recreates keep in the state dir's `logs/` are removed once older \
than 30 days (or `--older-than DAYS`).\n\n\
Exit codes: 0 done (or nothing to remove); 2 an error, or a venv locked by another venvfix (its \
backups are left)."
)]
pub struct PruneArgs {
    /// Keep the backups of the N newest repairs of each venv (that `undo` can walk back).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Remove backups (and installer logs) older than DAYS days.
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
    /// Also remove the only way back of repairs applied within the last day.
    #[arg(long)]
    pub include_recent: bool,
    /// Say what would be removed and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PythonsArgs {
    /// With `--venvs`: directories to search for venvs, besides the well-known homes.
    pub paths: Vec<PathBuf>,
    /// Print the list as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Probe every interpreter again instead of using the cache.
    #[arg(long)]
    pub refresh: bool,
    /// Under each Python, the venvs that use it: in the PATHs given and the well-known homes
    /// of venvs (`venvfix pythons --venvs ~`).
    #[arg(long)]
    pub venvs: bool,
}

#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// The venv to read.
    pub venv: PathBuf,
    /// Include the seed tooling (pip, setuptools, wheel).
    #[arg(long)]
    pub all: bool,
    /// Only the distributions the user asked for (from REQUESTED; a hint, not a guarantee).
    #[arg(long)]
    pub top_level: bool,
}
