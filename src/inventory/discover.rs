//! Discovery: which files on this machine are Python installations, before running any of them.
//!
//! Every place Pythons are known to live (REFERENCE.md "Where Pythons live") is turned into a
//! list of `bin/`-like directories, each tagged with its [`Source`]; each directory is read once
//! and its `python*` / `pypy*` entries are kept when they are real interpreters: an executable
//! ELF or Mach-O file (pyenv and asdf shims are scripts), not under a `shims` dir, and not inside
//! a venv. Candidates are grouped by canonical path, then by file identity (pyenv's 3.6 and 3.7
//! hard-link `python3.6m` to `python3.6`), so one installation has one entry and every other
//! path it was seen under becomes an alias.
//!
//! This module never executes anything, and never writes: it only lists directories, reads
//! metadata and the first bytes of candidate files.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Source;
use crate::safe_read::{self, Follow};

/// Where the well-known installation roots are, read from the environment once.
///
/// Kept separate from the process environment so tests can point discovery at a fake home
/// without mutating global state.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// The dirs of `$PATH`, in order.
    pub path: Vec<PathBuf>,
    /// `$PYENV_ROOT` (default `~/.pyenv`).
    pub pyenv_root: Option<PathBuf>,
    /// `$ASDF_DATA_DIR` (default `~/.asdf`).
    pub asdf_data_dir: Option<PathBuf>,
    /// `$MISE_DATA_DIR` (default `$XDG_DATA_HOME/mise`).
    pub mise_data_dir: Option<PathBuf>,
    /// `$UV_PYTHON_INSTALL_DIR` (default `$XDG_DATA_HOME/uv/python`).
    pub uv_python_install_dir: Option<PathBuf>,
    /// `$XDG_DATA_HOME` (default `~/.local/share`).
    pub xdg_data_home: Option<PathBuf>,
    /// `$RYE_HOME` (default `~/.rye`).
    pub rye_home: Option<PathBuf>,
    /// `$HOMEBREW_PREFIX`: a Homebrew installed somewhere else than its default prefixes.
    pub homebrew_prefix: Option<PathBuf>,
    /// Whether to look in machine-wide places (`/usr/bin`, `/opt`, Homebrew, frameworks).
    /// Off only in tests that want discovery confined to a fake home.
    pub machine_wide: bool,
}

impl Locations {
    /// Locations from the process environment.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Locations {
            home: std::env::home_dir(),
            path: std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .filter(|d| d.is_absolute())
                        .collect()
                })
                .unwrap_or_default(),
            pyenv_root: var("PYENV_ROOT"),
            asdf_data_dir: var("ASDF_DATA_DIR"),
            mise_data_dir: var("MISE_DATA_DIR"),
            uv_python_install_dir: var("UV_PYTHON_INSTALL_DIR"),
            xdg_data_home: var("XDG_DATA_HOME"),
            rye_home: var("RYE_HOME"),
            homebrew_prefix: var("HOMEBREW_PREFIX").filter(|p| p.is_absolute()),
            machine_wide: true,
        }
    }

    fn home_join(&self, rel: &str) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(rel))
    }

    fn data_home(&self) -> Option<PathBuf> {
        self.xdg_data_home
            .clone()
            .or_else(|| self.home_join(".local/share"))
    }

    /// Every directory to search, with the source it stands for, in [`Source::PRIORITY`] order.
    pub fn search_dirs(&self) -> Vec<(Source, PathBuf)> {
        let mut dirs = Vec::new();
        let mut add = |source: Source, list: Vec<PathBuf>| {
            dirs.extend(list.into_iter().map(|d| (source, d)));
        };

        let pyenv = self.pyenv_root.clone().or_else(|| self.home_join(".pyenv"));
        add(
            Source::Pyenv,
            children_bins(pyenv.map(|r| r.join("versions")), "bin"),
        );

        let asdf = self
            .asdf_data_dir
            .clone()
            .or_else(|| self.home_join(".asdf"));
        add(
            Source::Asdf,
            children_bins(asdf.map(|r| r.join("installs/python")), "bin"),
        );

        let mise = self
            .mise_data_dir
            .clone()
            .or_else(|| self.data_home().map(|d| d.join("mise")));
        add(
            Source::Mise,
            children_bins(mise.map(|r| r.join("installs/python")), "bin"),
        );

        let mut uv_roots = vec![self.uv_python_install_dir.clone()];
        uv_roots.push(self.data_home().map(|d| d.join("uv/python")));
        uv_roots.push(self.home_join(".local/share/uv/python"));
        for root in dedup(uv_roots.into_iter().flatten().collect()) {
            add(Source::Uv, children_bins(Some(root), "bin"));
        }

        let rye = self.rye_home.clone().or_else(|| self.home_join(".rye"));
        add(
            Source::Rye,
            children_bins(rye.map(|r| r.join("py")), "install/bin"),
        );

        let mut conda_bases: Vec<PathBuf> = [
            "miniconda3",
            "miniforge3",
            "anaconda3",
            "mambaforge",
            "micromamba",
        ]
        .iter()
        .filter_map(|name| self.home_join(name))
        .collect();
        if self.machine_wide {
            conda_bases
                .extend(["/opt/conda", "/opt/miniconda3", "/opt/miniforge3"].map(PathBuf::from));
        }
        for base in conda_bases {
            // Conda envs are whole installations (no pyvenv.cfg), unlike venvs.
            let envs = children_bins(Some(base.join("envs")), "bin");
            add(
                Source::Conda,
                std::iter::once(base.join("bin")).chain(envs).collect(),
            );
        }

        // Homebrew: every prefix's `bin/`, `opt/python*` links (stable across `brew upgrade`)
        // and `Cellar/python*/<keg>` (each keg once, so the opt links become its aliases).
        let mut brews: Vec<PathBuf> = self.homebrew_prefix.iter().cloned().collect();
        if self.machine_wide {
            brews.extend(
                ["/opt/homebrew", "/usr/local", "/home/linuxbrew/.linuxbrew"].map(PathBuf::from),
            );
        }
        brews.extend(self.home_join(".linuxbrew"));
        for brew in dedup(brews) {
            let mut list = Vec::new();
            if brew != Path::new("/usr/local") {
                // `/usr/local/bin` is the system's hand-installed place, listed below.
                list.push(brew.join("bin"));
            }
            list.extend(children_bins_matching(&brew.join("opt"), "python", "bin"));
            for formula in children_matching(&brew.join("Cellar"), "python") {
                list.extend(children_bins(Some(formula), "bin"));
            }
            add(Source::Homebrew, list);
        }

        let mut frameworks = vec![];
        if self.machine_wide {
            frameworks.push(PathBuf::from(
                "/Library/Frameworks/Python.framework/Versions",
            ));
        }
        frameworks.extend(self.home_join("Library/Frameworks/Python.framework/Versions"));
        for root in frameworks {
            add(Source::Framework, children_bins(Some(root), "bin"));
        }

        if let Some(home) = &self.home {
            add(
                Source::Prefix,
                children_bins_matching(home, "python", "bin"),
            );
            add(
                Source::Prefix,
                children_bins_matching(&home.join(".local"), "python", "bin"),
            );
        }
        if self.machine_wide {
            add(
                Source::Prefix,
                children_bins_matching(Path::new("/opt"), "python", "bin"),
            );
            add(
                Source::Prefix,
                children_bins_matching(Path::new("/usr/local"), "python", "bin"),
            );
            add(
                Source::System,
                ["/usr/bin", "/usr/local/bin", "/bin"]
                    .map(PathBuf::from)
                    .to_vec(),
            );
        }

        add(Source::Path, self.path.clone());
        dirs
    }
}

/// `root/*/<rel>` for every child dir of `root`, sorted.
fn children_bins(root: Option<PathBuf>, rel: &str) -> Vec<PathBuf> {
    let Some(root) = root else { return Vec::new() };
    child_dirs(&root).into_iter().map(|d| d.join(rel)).collect()
}

/// `root/<prefix>*/<rel>`, sorted.
fn children_bins_matching(root: &Path, prefix: &str, rel: &str) -> Vec<PathBuf> {
    children_matching(root, prefix)
        .into_iter()
        .map(|d| d.join(rel))
        .collect()
}

fn children_matching(root: &Path, prefix: &str) -> Vec<PathBuf> {
    child_dirs(root)
        .into_iter()
        .filter(|d| {
            d.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

fn child_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn dedup(list: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    for item in list {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Whether a file name is one an interpreter is installed under: `python`, `python3`,
/// `python3.12`, `python3.13t`, `python2.7`, `pypy`, `pypy3`, `pypy3.10`.
///
/// Also accepts the `m`-suffixed ABI names of 3.6/3.7 (`python3.6m`, a hard link to
/// `python3.6`), so a venv linking to either name finds its installation. Rejects the tools
/// that share the prefix: `python3.12-config`, `python3.12-gdb.py`, `pythonw`,
/// `python-argcomplete-tcsh`.
pub fn is_interpreter_name(name: &str) -> bool {
    let rest = if let Some(rest) = name.strip_prefix("python") {
        rest
    } else if let Some(rest) = name.strip_prefix("pypy") {
        rest
    } else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest
        .strip_suffix('t')
        .or_else(|| rest.strip_suffix('m'))
        .unwrap_or(rest);
    let mut parts = rest.split('.');
    let major_ok = parts
        .next()
        .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
    let minor_ok = match parts.next() {
        None => true,
        Some(m) => !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()),
    };
    major_ok && minor_ok && parts.next().is_none()
}

/// Whether `bytes` (a file's first bytes) start like a native executable: ELF or Mach-O.
pub fn is_native_binary(bytes: &[u8]) -> bool {
    const MAGICS: [&[u8]; 6] = [
        b"\x7fELF",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
    ];
    MAGICS.iter().any(|m| bytes.starts_with(m))
}

/// Whether `exe`, in a `bin/`-like dir, belongs to a venv: `<dir>/../pyvenv.cfg` exists.
pub fn inside_venv(exe: &Path) -> bool {
    exe.parent()
        .and_then(Path::parent)
        .is_some_and(|prefix| prefix.join("pyvenv.cfg").exists())
}

fn under_shims(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "shims")
}

/// One file that passed every check, as seen in one dir.
#[derive(Debug, Clone)]
struct Sighting {
    seen: PathBuf,
    canonical: PathBuf,
    identity: (u64, u64),
    source: Source,
}

/// Check one directory entry; `Some` when it is a real interpreter outside any venv.
fn examine(seen: PathBuf, source: Source) -> Option<Sighting> {
    if under_shims(&seen) || inside_venv(&seen) {
        return None;
    }
    let canonical = fs::canonicalize(&seen).ok()?;
    if under_shims(&canonical) || inside_venv(&canonical) {
        return None;
    }
    let meta = fs::metadata(&canonical).ok()?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return None;
    }
    let head = safe_read::read_head(&canonical, 4, Follow::Links).ok()?;
    if head.len() < 4 || !is_native_binary(&head) {
        return None;
    }
    Some(Sighting {
        seen,
        canonical,
        identity: (meta.dev(), meta.ino()),
        source,
    })
}

/// Interpreter files directly in `dir`.
fn scan_dir(dir: &Path, source: Source) -> Vec<Sighting> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_interpreter_name))
        .map(|e| e.path())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|p| examine(p, source))
        .collect()
}

/// One installation found on disk, not yet probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Canonical path of the executable.
    pub path: PathBuf,
    /// Every other path it was seen under, sorted.
    pub aliases: Vec<PathBuf>,
    /// The highest-priority source that saw it.
    pub source: Source,
}

/// Search the given dirs. `search_path` dirs without interpreters are tried as prefixes
/// (`DIR/bin`).
pub fn find_in_search_path(dirs: &[PathBuf]) -> Vec<Found> {
    let mut sightings = Vec::new();
    for dir in dirs {
        let mut here = scan_dir(dir, Source::SearchPath);
        if here.is_empty() {
            here = scan_dir(&dir.join("bin"), Source::SearchPath);
        }
        sightings.extend(here);
    }
    group(sightings)
}

/// Search every well-known place.
pub fn find_everywhere(locations: &Locations) -> Vec<Found> {
    let mut sightings = Vec::new();
    let mut scanned: Vec<PathBuf> = Vec::new();
    for (source, dir) in locations.search_dirs() {
        // PATH repeats the system dirs; one read per dir (by its spelling) is enough since
        // the higher-priority source already recorded every name in it.
        if scanned.contains(&dir) {
            continue;
        }
        sightings.extend(scan_dir(&dir, source));
        scanned.push(dir);
    }
    group(sightings)
}

/// Merge sightings into installations: by canonical path, then by file identity.
fn group(sightings: Vec<Sighting>) -> Vec<Found> {
    let mut by_identity: BTreeMap<(u64, u64), Vec<Sighting>> = BTreeMap::new();
    for s in sightings {
        by_identity.entry(s.identity).or_default().push(s);
    }
    by_identity
        .into_values()
        .filter_map(|group| {
            let source = group
                .iter()
                .map(|s| s.source)
                .min_by_key(|s| s.priority())?;
            let path = group
                .iter()
                .map(|s| &s.canonical)
                .min_by_key(|p| preferred_name_rank(p))?
                .clone();
            let mut aliases: Vec<PathBuf> = group
                .iter()
                .flat_map(|s| [s.seen.clone(), s.canonical.clone()])
                .filter(|p| *p != path)
                .collect();
            aliases.sort();
            aliases.dedup();
            Some(Found {
                path,
                aliases,
                source,
            })
        })
        .collect()
}

/// Among hard links to one file, prefer the plain name (`python3.6` over `python3.6m`), then
/// the shortest path, then the first by name, so the choice is stable across runs.
fn preferred_name_rank(path: &Path) -> (bool, usize, PathBuf) {
    let name = path.file_name().and_then(OsStr::to_str).unwrap_or("");
    (
        name.ends_with('m'),
        path.as_os_str().len(),
        path.to_path_buf(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_names() {
        for good in [
            "python",
            "python3",
            "python2",
            "python3.12",
            "python3.13t",
            "python2.7",
            "pypy",
            "pypy3",
            "pypy3.10",
            "python3.6m",
        ] {
            assert!(is_interpreter_name(good), "{good} rejected");
        }
        for bad in [
            "python3.12-config",
            "python3-config",
            "python3.12-gdb.py",
            "pythonw",
            "python-argcomplete-tcsh",
            "python3.",
            "python.3",
            "python3.12.1",
            "pip3",
            "ipython",
            "pypy-c",
        ] {
            assert!(!is_interpreter_name(bad), "{bad} accepted");
        }
    }

    #[test]
    fn native_binary_magic() {
        assert!(is_native_binary(b"\x7fELF\x02\x01"));
        assert!(is_native_binary(b"\xcf\xfa\xed\xfe"));
        assert!(!is_native_binary(b"#!/usr/bin/env bash"));
        assert!(!is_native_binary(b"\x7fEL"));
        assert!(!is_native_binary(b""));
    }

    #[test]
    fn grouping_prefers_plain_names_and_highest_priority_source() {
        let s = |seen: &str, canonical: &str, source| Sighting {
            seen: seen.into(),
            canonical: canonical.into(),
            identity: (1, 7),
            source,
        };
        let found = group(vec![
            s("/p/bin/python3.6m", "/p/bin/python3.6m", Source::Path),
            s("/p/bin/python3", "/p/bin/python3.6", Source::Path),
            s("/p/bin/python3.6", "/p/bin/python3.6", Source::Pyenv),
        ]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, PathBuf::from("/p/bin/python3.6"));
        assert_eq!(found[0].source, Source::Pyenv);
        assert_eq!(
            found[0].aliases,
            [
                PathBuf::from("/p/bin/python3"),
                PathBuf::from("/p/bin/python3.6m")
            ]
        );
    }

    #[test]
    fn every_source_has_a_priority() {
        let sources = Source::PRIORITY;
        for (i, s) in sources.iter().enumerate() {
            assert_eq!(s.priority(), i);
        }
        assert!(Source::Pyenv.priority() < Source::Path.priority());
        assert!(Source::Homebrew.priority() < Source::System.priority());
    }

    #[test]
    fn fake_home_locations_cover_the_managers() {
        let locations = Locations {
            home: Some("/h".into()),
            ..Locations::default()
        };
        // No dirs exist under /h, so only fixed-name dirs are listed.
        let dirs = locations.search_dirs();
        assert!(dirs.contains(&(Source::Conda, PathBuf::from("/h/miniconda3/bin"))));
        assert!(dirs.iter().all(|(_, d)| d.starts_with("/h")), "{dirs:?}");
    }
}
