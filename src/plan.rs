//! Plans: the ordered actions that would fix one venv, as data.
//!
//! A [`Plan`] is what `--dry-run` prints, what the prompt shows, what `--json` reports and what
//! the executor applies: there is no other description of a repair, so what the user reads is
//! exactly what will be done (STYLE.md rule 1). Every action carries its before and after.
//! Building a plan reads the diagnosis and the inventory only; it never touches the disk.

use std::path::PathBuf;

use serde::Serialize;

use crate::diagnose::{ProblemKind, Severity};
use crate::inventory::{Installation, Source};
use crate::version::PythonVersion;

/// How a venv is to be repaired (DESIGN.md `strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Point the venv's interpreter link (and `home`) at an installed Python of its minor.
    Relink,
    /// Rebuild the venv in place on another Python with the same distributions.
    Recreate,
    /// Only rewrite `pyvenv.cfg` keys (`home`, the recorded version).
    UpdateConfig,
    /// Nothing to do, or nothing that can be done with what is installed.
    None,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Relink => "relink",
            Strategy::Recreate => "recreate",
            Strategy::UpdateConfig => "update-config",
            Strategy::None => "none",
        }
    }
}

/// One change to a venv. Paths are relative to the venv root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Action {
    /// Make `path` a symlink to `to` (replacing a link, a copied binary, or nothing).
    Symlink {
        path: PathBuf,
        /// The current link target, `null` if `path` is not a link now.
        from: Option<PathBuf>,
        to: PathBuf,
    },
    /// Replace the regular file `path` (a copied interpreter) with a copy of `source`.
    CopyFile { path: PathBuf, source: PathBuf },
    /// Set a `pyvenv.cfg` key; every other line stays as it is.
    Config {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// Recreate the venv in place (the original is moved aside as the backup).
    Recreate(Box<RecreateSpec>),
}

impl Action {
    /// The venv entry this action changes (relative), for backups and locking.
    pub fn touches(&self) -> PathBuf {
        match self {
            Action::Symlink { path, .. } | Action::CopyFile { path, .. } => path.clone(),
            Action::Config { .. } => PathBuf::from("pyvenv.cfg"),
            Action::Recreate(_) => PathBuf::from("."),
        }
    }
}

/// What a recreate will rebuild (filled by the recreate planner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RecreateSpec {
    /// The Python the new venv is made with.
    pub python: PathBuf,
    /// Requirement lines to install (`Name==1.0`, `-e /src/x`, `x @ git+...@sha`).
    pub requirements: Vec<String>,
    /// Distributions with compiled code (must be rebuilt or re-downloaded for the new Python).
    pub compiled: Vec<String>,
    /// Pins known not to support the new Python (`Requires-Python`), with the reason.
    pub unavailable: Vec<String>,
    /// Files the creator did not make, carried over from the old venv (relative paths).
    pub carry_over: Vec<PathBuf>,
    /// `prompt` to keep, if the old venv had one.
    pub prompt: Option<String>,
    pub system_site_packages: bool,
    /// Extra wheel dirs (`--find-links`).
    pub find_links: Vec<PathBuf>,
    /// `--offline`.
    pub offline: bool,
}

/// The Python a plan moves the venv to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The executable the venv will link to.
    pub path: PathBuf,
    pub version: PythonVersion,
    pub implementation: String,
    pub prefix: PathBuf,
    pub source: Source,
}

impl Target {
    pub fn from_installation(installation: &Installation) -> Self {
        Target {
            path: installation.path.clone(),
            version: installation.version,
            implementation: installation.implementation.clone(),
            prefix: installation.prefix.clone(),
            source: installation.source,
        }
    }
}

/// Another Python the plan could have used, and why it ranks where it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternative {
    pub target: Target,
    pub strategy: Strategy,
    pub why: String,
}

/// A problem the plan leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    pub kind: ProblemKind,
    pub severity: Severity,
    pub why: String,
}

/// The complete, reviewable fix for one venv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The venv root (absolute).
    pub venv: PathBuf,
    pub strategy: Strategy,
    pub target: Option<Target>,
    /// Ordered actions; empty for `none`.
    pub actions: Vec<Action>,
    /// Other candidates, best first (the recommended one is `target`).
    pub alternatives: Vec<Alternative>,
    /// Problems this plan fixes.
    pub resolves: Vec<ProblemKind>,
    /// Problems it leaves, with the reason.
    pub unresolved: Vec<Unresolved>,
    /// One sentence on why this strategy and target were chosen.
    pub reason: String,
}

impl Plan {
    /// Whether applying the plan leaves no error-level problem behind.
    pub fn fixes_everything(&self) -> bool {
        self.unresolved.iter().all(|u| !u.blocks())
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

impl Unresolved {
    /// An unresolved problem that keeps the venv broken.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error
    }
}
