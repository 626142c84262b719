//! The read-only model of one venv: its config, `bin/` interpreters, `lib/pythonX.Y` dirs, creator.
//!
//! Everything the detector and the planner know about a venv comes from here, and all of it is
//! read from the filesystem with `lstat`, `readlink`, `read_dir` and small file reads. Nothing
//! in a venv is ever executed or followed blindly: a venv cloned from a stranger's repository
//! must not be able to run code when inspected (DESIGN.md rule 2). Bad input (garbage config,
//! link loops, unreadable dirs, non-UTF-8 names) becomes data in the model, never a panic.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, PyvenvCfg};
use crate::links::{self, Chain, ChainEnd};
use crate::safe_read::{self, Follow};
use crate::scripts::Scripts;
use crate::version::PythonVersion;

/// Which tool made the venv, judged from its `pyvenv.cfg` keys and files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Creator {
    /// CPython's `python -m venv`.
    Venv,
    Virtualenv,
    Uv,
    /// virtualenv < 20: no `pyvenv.cfg`, `lib/pythonX.Y/orig-prefix.txt` instead.
    VirtualenvLegacy,
    Unknown,
}

impl Creator {
    /// The id used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            Creator::Venv => "venv",
            Creator::Virtualenv => "virtualenv",
            Creator::Uv => "uv",
            Creator::VirtualenvLegacy => "virtualenv-legacy",
            Creator::Unknown => "unknown",
        }
    }
}

/// The state of `pyvenv.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigState {
    Parsed(PyvenvCfg),
    Missing,
    Unreadable(String),
    Invalid(ConfigError),
}

/// What a `bin/python*` entry is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A symlink: its target as written and the whole chain.
    Link { target: PathBuf, chain: Chain },
    /// A regular file: a copied interpreter (`--copies`, legacy virtualenv), or a script.
    Copy { size: u64 },
    /// A directory or special file named like an interpreter.
    Other,
}

/// What running an interpreter entry would run, read with `lstat` and `readlink` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leads {
    /// A regular file outside the venv (canonical path): the base it runs.
    Base(PathBuf),
    /// A regular file inside the venv: a copied interpreter, the entry itself (`--copies`) or
    /// the end of a chain that never leaves the venv (virtualenv < 20's `python -> python3.8`).
    Copy(PathBuf),
    /// Nothing runnable: where and why the chain ends (missing, a loop, not a file, unreadable,
    /// through `/proc` or `/dev`).
    Nowhere(ChainEnd),
}

/// One interpreter entry in `bin/` (`python`, `python3`, `python3.12`, `pypy3`): each is judged
/// on its own, because users `ln -sf` the one they type and leave the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file name (`python3.8`); lossy only for display of non-UTF-8 names.
    pub name: String,
    /// Its path inside the venv.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Where it leads.
    pub leads: Leads,
}

impl Entry {
    /// The chain, if this entry is a link.
    pub fn chain(&self) -> Option<&Chain> {
        match &self.kind {
            EntryKind::Link { chain, .. } => Some(chain),
            _ => None,
        }
    }

    /// The link target as written, if this entry is a link.
    pub fn target(&self) -> Option<&Path> {
        match &self.kind {
            EntryKind::Link { target, .. } => Some(target),
            _ => None,
        }
    }

    /// Whether this is a link whose target is an absolute path (the one link to the base).
    pub fn is_absolute_link(&self) -> bool {
        self.target().is_some_and(Path::is_absolute)
    }

    /// Whether this is a link that leads out of `bin/` by itself: absolute, or a hand-made
    /// relative path (`../../py/bin/python3`).
    pub fn leaves_bin(&self) -> bool {
        self.target().is_some_and(|t| t.components().count() > 1)
    }

    /// Whether the entry itself is a regular file.
    pub fn is_copy(&self) -> bool {
        matches!(self.kind, EntryKind::Copy { .. })
    }
}

/// A `lib/pythonX.Y` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibDir {
    pub path: PathBuf,
    pub version: PythonVersion,
    /// `site-packages` exists in it.
    pub site_packages: bool,
    /// How many `*.dist-info` / `*.egg-info` entries its `site-packages` holds.
    pub distributions: usize,
    /// Their names, normalized (`pip`, `tinyjson`), sorted.
    pub names: Vec<String>,
}

/// What creators and `ensurepip` put into every venv: a dir holding only these holds nothing the
/// user installed.
pub const SEED_DISTRIBUTIONS: [&str; 4] = ["pip", "setuptools", "wheel", "distribute"];

impl LibDir {
    /// The distributions the user installed: all but the creators' seeds.
    pub fn user_distributions(&self) -> usize {
        self.names
            .iter()
            .filter(|n| !SEED_DISTRIBUTIONS.contains(&n.as_str()))
            .count()
    }

    /// Whether its site-packages holds only seeds (or nothing).
    pub fn only_seeds(&self) -> bool {
        self.user_distributions() == 0
    }
}

/// A symlink in the venv outside site-packages that leads nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingLink {
    pub path: PathBuf,
    pub target: PathBuf,
}

/// Why a directory could not be inspected at all.
#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    #[error("`{path}` does not exist")]
    NotFound { path: PathBuf },
    #[error("`{path}` is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot read `{path}`: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A venv as found on disk.
#[derive(Debug, Clone)]
pub struct Venv {
    /// The venv directory, absolute, as the user named it.
    pub root: PathBuf,
    pub config: ConfigState,
    /// `bin/python*` entries, sorted by name.
    pub interpreters: Vec<Entry>,
    /// `lib/pythonX.Y` dirs, sorted by version.
    pub lib_dirs: Vec<LibDir>,
    /// Dangling links at the root, in `bin/` (non-interpreters), `lib/`, `lib/pythonX.Y/`.
    pub dangling: Vec<DanglingLink>,
    pub creator: Creator,
    /// virtualenv < 20's `orig-prefix.txt` content.
    pub legacy_orig_prefix: Option<PathBuf>,
    /// Console scripts and activators, and whether they say the venv was moved or copied.
    pub scripts: Scripts,
}

impl Venv {
    /// Inspect the venv at `root` (read-only).
    pub fn inspect(root: &Path) -> Result<Venv, VenvError> {
        let root = display_root(root);
        match std::fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(VenvError::NotADirectory { path: root }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VenvError::NotFound { path: root });
            }
            Err(source) => return Err(VenvError::Unreadable { path: root, source }),
        }
        if let Err(source) = std::fs::read_dir(&root) {
            return Err(VenvError::Unreadable { path: root, source });
        }
        let config = read_config(&root.join("pyvenv.cfg"));
        let mut dangling = dangling_links_in(&root);
        dangling.extend(dangling_links_in(&root.join("include")));
        let canonical_root = std::fs::canonicalize(&root).ok();
        let (interpreters, bin_dangling) = read_bin(&root.join("bin"), canonical_root.as_deref());
        dangling.extend(bin_dangling);
        let (lib_dirs, lib_dangling, legacy_orig_prefix) = read_lib(&root.join("lib"));
        dangling.extend(lib_dangling);
        let creator = detect_creator(&config, &root, legacy_orig_prefix.is_some());
        let command = match &config {
            ConfigState::Parsed(cfg) => cfg.get("command"),
            _ => None,
        };
        let scripts = Scripts::read(&root, command);
        Ok(Venv {
            root,
            config,
            interpreters,
            lib_dirs,
            dangling,
            creator,
            legacy_orig_prefix,
            scripts,
        })
    }

    /// The parsed config, if it could be read.
    pub fn cfg(&self) -> Option<&PyvenvCfg> {
        match &self.config {
            ConfigState::Parsed(cfg) => Some(cfg),
            _ => None,
        }
    }

    /// The entry `name` (`python3`), if there is one.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.interpreters.iter().find(|e| e.name == name)
    }

    /// The entries in the order a user reaches for them: `python`, `python3`, then the
    /// versioned ones. Used to pick the one a single-valued report names, never to judge.
    pub fn entries_by_use(&self) -> Vec<&Entry> {
        let rank = |e: &Entry| match e.name.as_str() {
            "python" => 0,
            "python3" => 1,
            _ => 2,
        };
        let mut entries: Vec<&Entry> = self.interpreters.iter().collect();
        entries.sort_by_key(|e| rank(e));
        entries
    }

    /// The one entry that leads out of the venv: the absolute link a relink rewrites.
    /// For venvs whose entries are all copies this is `None`.
    pub fn base_link(&self) -> Option<&Entry> {
        let by_use = self.entries_by_use();
        by_use
            .iter()
            .find(|e| e.is_absolute_link())
            .or_else(|| by_use.iter().find(|e| e.leaves_bin()))
            .copied()
    }

    /// Whether any interpreter entry is (or leads to) a copy inside the venv.
    pub fn uses_copies(&self) -> bool {
        self.interpreters
            .iter()
            .any(|e| matches!(e.leads, Leads::Copy(_)))
    }

    /// The version the creator recorded: `version`, `version_info`, then `python-version`.
    pub fn recorded_version(&self) -> Option<PythonVersion> {
        let cfg = self.cfg()?;
        ["version", "version_info", "python-version"]
            .iter()
            .find_map(|key| cfg.get(key)?.parse().ok())
    }

    /// `home` from the config.
    pub fn home(&self) -> Option<PathBuf> {
        self.cfg()?.home().map(PathBuf::from)
    }

    /// The `lib/pythonX.Y` dir that holds the venv's packages (DESIGN.md planning rules): among
    /// dirs with distributions the user installed (seeds alone do not count: `venv --upgrade`
    /// across minors seeds pip into the new dir and leaves every package in the old one), else
    /// among dirs with any, the one matching the recorded version, else the one with the most;
    /// `None` if no dir has any.
    pub fn packages_dir(&self) -> Option<&LibDir> {
        let recorded = self.recorded_version();
        fn pick(dirs: Vec<&LibDir>, recorded: Option<PythonVersion>) -> Option<&LibDir> {
            if let Some(recorded) = recorded
                && let Some(dir) = dirs.iter().find(|d| d.version.same_minor(&recorded))
            {
                return Some(dir);
            }
            dirs.into_iter()
                .max_by_key(|d| (d.user_distributions(), d.distributions, d.version))
        }
        let with_user: Vec<&LibDir> = self
            .lib_dirs
            .iter()
            .filter(|d| d.user_distributions() > 0)
            .collect();
        if !with_user.is_empty() {
            return pick(with_user, recorded);
        }
        pick(
            self.lib_dirs
                .iter()
                .filter(|d| d.distributions > 0)
                .collect(),
            recorded,
        )
    }

    /// The venv's major.minor: where its packages are, else what the creator recorded, else
    /// the only `lib/pythonX.Y`.
    pub fn minor(&self) -> Option<PythonVersion> {
        if let Some(dir) = self.packages_dir() {
            return Some(dir.version);
        }
        if let Some(recorded) = self.recorded_version() {
            return Some(PythonVersion::minor_only(recorded.major, recorded.minor));
        }
        match self.lib_dirs.as_slice() {
            [only] => Some(only.version),
            _ => None,
        }
    }

    /// The implementation the creator recorded (`CPython` by virtualenv and uv), lower-cased;
    /// `cpython` when unrecorded.
    pub fn implementation(&self) -> String {
        self.cfg()
            .and_then(|c| c.get("implementation"))
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| "cpython".to_string())
    }

    /// A path relative to the venv root, for messages (`bin/python3`).
    pub fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

/// The venv root for display: absolute, without trailing `/` or `.` components. `..` is kept:
/// removing `a/..` lexically is wrong when `a` is a symlink.
fn display_root(root: &Path) -> PathBuf {
    std::path::absolute(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .components()
        .collect()
}

fn read_config(path: &Path) -> ConfigState {
    match safe_read::read(path, safe_read::limit::SMALL, Follow::Links) {
        Ok(bytes) => match PyvenvCfg::parse(&bytes) {
            Ok(cfg) if cfg.home().is_none() => ConfigState::Invalid(ConfigError::NoHome),
            Ok(cfg) => ConfigState::Parsed(cfg),
            Err(e) => ConfigState::Invalid(e),
        },
        Err(e) if e.is_not_found() => ConfigState::Missing,
        Err(e) => ConfigState::Unreadable(e.reason()),
    }
}

/// `python`, `python3`, `python3.12`, `python3.13t`, `python2.7`, `pypy3.10`: not `python3-config`,
/// `python3.12-gdb.py`, `pythonw`.
pub fn is_interpreter_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    let rest = if let Some(rest) = bytes.strip_prefix(b"python") {
        rest
    } else if let Some(rest) = bytes.strip_prefix(b"pypy") {
        rest
    } else {
        return false;
    };
    let rest = rest.strip_suffix(b"t").unwrap_or(rest);
    rest.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && !rest.starts_with(b".")
        && !rest.ends_with(b".")
}

fn read_bin(bin: &Path, canonical_root: Option<&Path>) -> (Vec<Entry>, Vec<DanglingLink>) {
    let mut interpreters = Vec::new();
    let mut dangling = Vec::new();
    let Ok(entries) = std::fs::read_dir(bin) else {
        return (interpreters, dangling);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if !is_interpreter_name(&name) {
            if file_type.is_symlink() {
                dangling.extend(dangling_link(&path));
            }
            continue;
        }
        let kind = if file_type.is_symlink() {
            match std::fs::read_link(&path) {
                Ok(target) => EntryKind::Link {
                    target,
                    chain: links::follow(&path),
                },
                Err(_) => EntryKind::Other,
            }
        } else if file_type.is_file() {
            EntryKind::Copy {
                size: entry.metadata().map(|m| m.len()).unwrap_or(0),
            }
        } else {
            EntryKind::Other
        };
        let leads = leads(&path, &kind, canonical_root);
        interpreters.push(Entry {
            name: name.to_string_lossy().into_owned(),
            path,
            kind,
            leads,
        });
    }
    interpreters.sort_by(|a, b| a.name.cmp(&b.name));
    (interpreters, dangling)
}

/// Where an entry leads: a chain ending at a file inside the venv (compared canonically, so a
/// venv reached through a symlinked dir is judged alike) is a copy, outside it the base.
fn leads(path: &Path, kind: &EntryKind, canonical_root: Option<&Path>) -> Leads {
    match kind {
        EntryKind::Copy { .. } => Leads::Copy(path.to_path_buf()),
        EntryKind::Other => Leads::Nowhere(ChainEnd::NotAFile {
            path: path.to_path_buf(),
        }),
        EntryKind::Link { chain, .. } => match &chain.end {
            ChainEnd::File { canonical, .. }
                if canonical_root.is_some_and(|root| canonical.starts_with(root)) =>
            {
                Leads::Copy(canonical.clone())
            }
            ChainEnd::File { canonical, .. } => Leads::Base(canonical.clone()),
            end => Leads::Nowhere(end.clone()),
        },
    }
}

fn read_lib(lib: &Path) -> (Vec<LibDir>, Vec<DanglingLink>, Option<PathBuf>) {
    let mut dirs = Vec::new();
    let mut dangling = dangling_links_in(lib);
    let mut orig_prefix = None;
    let Ok(entries) = std::fs::read_dir(lib) else {
        return (dirs, dangling, orig_prefix);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(version) = name.to_str().and_then(PythonVersion::from_lib_dir_name) else {
            continue;
        };
        // `lib/python3.8` itself may be a link (rule 3: do not treat it as a tree).
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        dangling.extend(dangling_links_in(&path));
        if orig_prefix.is_none()
            && let Ok(text) = safe_read::read_text(
                &path.join("orig-prefix.txt"),
                safe_read::limit::SMALL,
                Follow::Links,
            )
        {
            orig_prefix = Some(PathBuf::from(text.trim()));
        }
        let site = path.join("site-packages");
        let (site_packages, mut names) = match std::fs::read_dir(&site) {
            Ok(entries) => (
                true,
                entries
                    .flatten()
                    .filter_map(|e| distribution_name(&e.file_name()))
                    .collect::<Vec<_>>(),
            ),
            Err(_) => (site.exists(), Vec::new()),
        };
        let distributions = names.len();
        names.sort();
        dirs.push(LibDir {
            path,
            version,
            site_packages,
            distributions,
            names,
        });
    }
    dirs.sort_by_key(|d| d.version);
    (dirs, dangling, orig_prefix)
}

/// The normalized distribution name of a `site-packages` entry (`Foo_Bar-1.0.dist-info` ->
/// `foo-bar`, `foo.egg-info` -> `foo`), or `None` for anything else.
fn distribution_name(file_name: &OsStr) -> Option<String> {
    let bytes = file_name.as_bytes();
    let stem = bytes
        .strip_suffix(b".dist-info")
        .or_else(|| bytes.strip_suffix(b".egg-info"))?;
    let name = stem.split(|b| *b == b'-').next().unwrap_or(stem);
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    Some(out)
}

/// Dangling symlinks directly inside `dir` (one `read_dir`, a `stat` per link only).
fn dangling_links_in(dir: &Path) -> Vec<DanglingLink> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .filter_map(|e| dangling_link(&e.path()))
        .collect()
}

fn dangling_link(path: &Path) -> Option<DanglingLink> {
    if std::fs::metadata(path).is_ok() {
        return None;
    }
    Some(DanglingLink {
        path: path.to_path_buf(),
        target: std::fs::read_link(path).unwrap_or_default(),
    })
}

fn detect_creator(config: &ConfigState, root: &Path, legacy: bool) -> Creator {
    match config {
        ConfigState::Parsed(cfg) => {
            if cfg.get("uv").is_some() {
                Creator::Uv
            } else if cfg.get("virtualenv").is_some() || cfg.get("base-prefix").is_some() {
                Creator::Virtualenv
            } else {
                Creator::Venv
            }
        }
        _ if legacy => Creator::VirtualenvLegacy,
        _ if root.join("bin/activate_this.py").exists() => Creator::Virtualenv,
        _ => Creator::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_shown_without_trailing_slash_or_dot_but_keeps_dot_dot() {
        assert_eq!(
            display_root(Path::new("/a/venv/")),
            PathBuf::from("/a/venv")
        );
        assert_eq!(
            display_root(Path::new("/a/./venv/.")),
            PathBuf::from("/a/venv")
        );
        assert_eq!(
            display_root(Path::new("/a/link/../venv/")),
            PathBuf::from("/a/link/../venv")
        );
        let relative = display_root(Path::new("venv/."));
        assert!(
            relative.is_absolute() && relative.ends_with("venv"),
            "{relative:?}"
        );
        assert!(!relative.as_os_str().as_encoded_bytes().ends_with(b"/."));
    }

    #[test]
    fn inspect_normalises_the_root_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        let given = PathBuf::from(format!("{}/./", venv.display()));
        let inspected = Venv::inspect(&given).unwrap();
        assert_eq!(inspected.root, venv);
    }

    #[test]
    fn interpreter_names() {
        for yes in [
            "python",
            "python3",
            "python3.12",
            "python3.13t",
            "python2.7",
            "pypy3.10",
            "pypy",
        ] {
            assert!(is_interpreter_name(OsStr::new(yes)), "{yes}");
        }
        for no in [
            "python3-config",
            "python3.12-gdb.py",
            "pythonw",
            "python3.",
            "pip",
            "python.exe",
        ] {
            assert!(!is_interpreter_name(OsStr::new(no)), "{no}");
        }
    }
}
