//! venvfix: find Python virtual environments broken by an upgrade or an uninstall, and repair
//! them safely.
//!
//! # Architecture
//!
//! ```text
//!  paths ──► scan ──► venv ──► diagnose ──► plan ──► (CLI shows / asks) ──► execute ──► report
//!                                 ▲           ▲                               │
//!                              inventory of installed Pythons                 └─ backup, journal,
//!                                                                                verify, rollback
//! ```
//!
//! | module | job |
//! |---|---|
//! | [`version`] | Python version numbers in every form creators and interpreters write |
//! | [`config`] | `pyvenv.cfg` as lines: read, and rewrite only the intended keys |
//! | [`links`] | follow a symlink chain hop by hop, without executing or trusting it |
//! | [`elf`] | what a copied interpreter binary needs to start (`DT_NEEDED`, `DT_RUNPATH`), read without running it |
//! | [`getpath`] | where a venv's interpreter finds its standard library when `home` leads nowhere (the search up from `home`, then the prefix compiled into the binary), read without running it |
//! | [`venv`] | the read-only model of one venv: config, `bin/` interpreters, `lib/pythonX.Y`, creator |
//! | [`scripts`] | console scripts (both shebang forms) and activators: which venv they run, whether it moved |
//! | [`dists`] | what is installed in a venv, read from dist-info / egg-info without running it; `freeze` |
//! | [`inventory`] | the installed Pythons on this machine, probed once and cached |
//! | [`diagnose`] | the problems of one venv, each with a stable kind id and its evidence |
//! | [`check`] | the read-only `check` operation over many venvs |
//! | [`report`] | the JSON reports of DESIGN.md |
//! | [`plan`] | a repair as data: strategy, target, ordered actions with before/after; [`plan::recreate`]: what a recreate rebuilds and carries over |
//! | [`relocate`] | rewrite a moved or copied venv's files to its new path: what changes, the new bytes |
//! | [`resolve`] | which Python can take a venv's pins: the installer's dry run per candidate |
//! | [`execute`] | apply a plan safely: lock, backup, journal, atomic changes, verify, rollback, undo; [`execute::history`] the backups as a history (list, undo step by step, prune); [`execute::recreate`] builds a recreated venv |
//! | [`records`] | tools' own records of a venv (pipx, uv tools, tox, pyenv-virtualenv), kept consistent with its base |
//! | [`safe_read`] | read a venv's small files without trusting them: regular files only, never blocking, bounded |
//! | [`scan`] | turn user paths into venv directories (recursive, pruned, never into a venv) |
//! | [`settings`] | the user's config file (`config.toml`): defaults for flags |
//! | [`shell`] | text for people and shells: control characters escaped, paths quoted |
//! | [`uses`] | which venvs use which installed Python, and what would happen if it went away |
//! | [`exit_code`] | the 0 / 1 / 2 contract |
//!
//! The library never prints, prompts or exits: the `venvfix` binary (`src/main.rs`,
//! `src/cli/`) parses arguments, calls these modules and renders what they return.
//!
//! Safety rules that shape every module (DESIGN.md): read-only commands change nothing but
//! venvfix's cache; nothing reached only through a venv is ever executed unless the inventory
//! found the same file by canonical path; symlinks are never followed when copying, moving or
//! deleting.

pub mod check;
pub mod config;
pub mod diagnose;
pub mod dists;
pub mod elf;
pub mod execute;
pub mod exit_code;
pub mod getpath;
pub mod inventory;
pub mod links;
pub mod plan;
pub mod records;
pub mod relocate;
pub mod report;
pub mod resolve;
pub mod safe_read;
pub mod scan;
pub mod scripts;
pub mod settings;
pub mod shell;
pub mod uses;
pub mod venv;
pub mod version;

pub use exit_code::ExitCode;
