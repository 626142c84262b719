//! The inventory: every installed Python on this machine, each probed once, cached across runs.
//!
//! Repairs can only be as good as the interpreters they can choose from, and the detector needs
//! the real version of a venv's base. Discovery finds candidate executables in the well-known
//! places (PATH, pyenv, asdf, mise, uv, conda, Homebrew, hand-built prefixes, or only the dirs in
//! `VENVFIX_PYTHON_SEARCH_PATH`); each distinct canonical executable is run once, isolated
//! (`-I -S`), and its answer cached keyed by path and invalidated by the file's identity and
//! change time. This module never executes anything found inside a venv: discovery skips venvs,
//! and the rest of the crate asks [`Inventory::find`] before it runs anything (DESIGN.md rule 2).
//!
//! | submodule | job |
//! |---|---|
//! | [`discover`] | the dirs to search and the interpreter files in them, grouped by installation |
//! | [`probe`] | run one interpreter once, isolated and time-limited, and parse its answer |
//! | [`cache`] | remember answers across runs, keyed by path and file identity |
//! | [`static_version`] | an installation's version from its files, without running it |
//! | [`stability`] | which of an installation's paths survives its installer's next upgrade |

pub mod cache;
pub mod discover;
pub mod probe;
pub mod stability;
pub mod static_version;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::version::PythonVersion;

pub use discover::Locations;
pub use probe::ProbeInfo;
pub use static_version::{StaticVersion, static_version};

/// The probe timeout when neither the caller nor `VENVFIX_PROBE_TIMEOUT_MS` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many interpreters start at once: probes mostly wait on process start-up, but
/// a machine with forty Pythons should not start forty at once.
const MAX_PARALLEL_PROBES: usize = 8;

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

impl Source {
    /// Which source names an installation seen by several: the most specific first, so a
    /// pyenv build on PATH says `pyenv`, and `/usr/local/bin/python3` linking into Homebrew's
    /// Cellar says `homebrew`. The user's own search path wins over everything; PATH comes last
    /// because it only repeats places the others name.
    pub const PRIORITY: [Source; 12] = [
        Source::SearchPath,
        Source::Pyenv,
        Source::Asdf,
        Source::Mise,
        Source::Uv,
        Source::Rye,
        Source::Conda,
        Source::Homebrew,
        Source::Framework,
        Source::Prefix,
        Source::System,
        Source::Path,
    ];

    /// Position in [`Source::PRIORITY`] (lower wins).
    pub fn priority(self) -> usize {
        Source::PRIORITY
            .iter()
            .position(|s| *s == self)
            .unwrap_or(Source::PRIORITY.len())
    }

    /// The name used in output and JSON (`search-path`, `pyenv`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::SearchPath => "search-path",
            Source::Path => "path",
            Source::System => "system",
            Source::Pyenv => "pyenv",
            Source::Asdf => "asdf",
            Source::Mise => "mise",
            Source::Uv => "uv",
            Source::Rye => "rye",
            Source::Conda => "conda",
            Source::Homebrew => "homebrew",
            Source::Framework => "framework",
            Source::Prefix => "prefix",
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the installation at canonical path `exe` belongs to a package manager that replaces
/// it on upgrade, so a venv based on it can break without the user touching it: the OS's
/// (`/usr/bin`, `/usr/lib*`, `/bin`, `/lib`, macOS `/System` and the Command Line Tools) or
/// Homebrew's (`Cellar/`, `opt/`: `brew upgrade` swaps the keg). `/usr/local` and `/opt` are
/// the admin's own and are not.
pub fn is_os_managed(exe: &Path) -> bool {
    const OS_PREFIXES: [&str; 11] = [
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/libexec",
        "/bin",
        "/lib",
        "/System/Library/Frameworks",
        "/Library/Developer/CommandLineTools",
        "/opt/homebrew",
        "/home/linuxbrew/.linuxbrew",
    ];
    OS_PREFIXES.iter().any(|p| exe.starts_with(p))
        || exe.components().any(|c| c.as_os_str() == "Cellar")
        || exe.starts_with("/usr/local/opt")
}

/// Whether `exe` is a Homebrew build (a `Cellar/` keg or an `opt/` link of a Homebrew prefix):
/// `brew upgrade` replaces it, not an OS upgrade.
pub fn is_homebrew(exe: &Path) -> bool {
    exe.components().any(|c| c.as_os_str() == "Cellar")
        || [
            "/opt/homebrew",
            "/home/linuxbrew/.linuxbrew",
            "/usr/local/opt",
        ]
        .iter()
        .any(|p| exe.starts_with(p))
        || std::env::var_os("HOMEBREW_PREFIX")
            .filter(|p| !p.is_empty() && Path::new(p).is_absolute())
            .is_some_and(|p| exe.starts_with(p))
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
    /// The prefix compiled into the binary, where a venv whose `home` is gone looks for the
    /// standard library (`/install` for python-build-standalone builds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compiled_prefix: Option<PathBuf>,
    /// Owned by the OS package manager: an OS upgrade can replace it.
    pub os_managed: bool,
}

/// The distributions a venv with `include-system-site-packages = true` sees from a base at
/// `prefix` of `minor`: `*.dist-info` / `*.egg-info` names (PEP 503-normalized) in its
/// `lib/pythonX.Y/site-packages`, and for `/usr` Debian's `dist-packages` dirs. Read from the
/// directory listings only.
pub fn system_distributions(
    prefix: &Path,
    minor: &PythonVersion,
) -> std::collections::BTreeSet<String> {
    let lib = format!("python{}", minor.short());
    let mut dirs = vec![prefix.join("lib").join(&lib).join("site-packages")];
    if prefix == Path::new("/usr") {
        dirs.push(PathBuf::from("/usr/lib/python3/dist-packages"));
        dirs.push(Path::new("/usr/lib").join(&lib).join("dist-packages"));
        dirs.push(Path::new("/usr/local/lib").join(&lib).join("dist-packages"));
    }
    let mut names = std::collections::BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file
                .strip_suffix(".dist-info")
                .or_else(|| file.strip_suffix(".egg-info"))
            else {
                continue;
            };
            let name = stem.split('-').next().unwrap_or(stem);
            names.insert(crate::dists::normalize_name(name));
        }
    }
    names
}

impl Installation {
    /// What a `include-system-site-packages` venv based on this installation sees.
    pub fn system_distributions(&self) -> std::collections::BTreeSet<String> {
        system_distributions(&self.prefix, &self.version)
    }

    /// The path a venv should link to (and name in `home`): of the canonical path and its
    /// aliases, the one the installer keeps across routine upgrades (see [`stability`]).
    pub fn stable_path(&self) -> stability::StablePath {
        let paths: Vec<PathBuf> = std::iter::once(self.path.clone())
            .chain(self.aliases.iter().cloned())
            .collect();
        stability::most_stable(&paths, &self.version)
    }
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
    /// How long one probe may take (`VENVFIX_PROBE_TIMEOUT_MS`, default 10 s).
    pub timeout: Duration,
}

impl InventoryOptions {
    /// Options from the process environment.
    pub fn from_env() -> Self {
        let search_path = std::env::var_os("VENVFIX_PYTHON_SEARCH_PATH").map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        // An empty variable is unset (never "the current directory", which may be a venv);
        // XDG requires its dirs to be absolute.
        let non_empty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
        let cache_dir = non_empty("VENVFIX_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                non_empty("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .filter(|d| d.is_absolute())
                    .map(|d| d.join("venvfix"))
            })
            .or_else(|| std::env::home_dir().map(|h| h.join(".cache/venvfix")));
        let timeout = std::env::var("VENVFIX_PROBE_TIMEOUT_MS")
            .ok()
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        InventoryOptions {
            search_path,
            cache_dir,
            refresh: false,
            timeout,
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
    pub fn discover(options: &InventoryOptions) -> Inventory {
        Inventory::discover_in(options, &Locations::from_env())
    }

    /// [`Inventory::discover`] with explicit well-known locations (ignored when
    /// `options.search_path` is set).
    pub fn discover_in(options: &InventoryOptions, locations: &Locations) -> Inventory {
        let found = match &options.search_path {
            Some(dirs) => discover::find_in_search_path(dirs),
            None => discover::find_everywhere(locations),
        };

        let mut cache = match &options.cache_dir {
            Some(dir) => cache::Cache::load(dir),
            None => cache::Cache::default(),
        };
        let mut known = Vec::new();
        let mut to_probe = Vec::new();
        for item in found {
            let Some(key) = cache::FileKey::of(&item.path) else {
                continue; // Gone since discovery.
            };
            let cached = if options.refresh {
                None
            } else {
                cache.get(&item.path, &key)
            };
            match cached {
                Some(info) => known.push((item, info)),
                None => to_probe.push((item, key)),
            }
        }

        let results = probe_all(&to_probe, options.timeout);
        let mut failures = Vec::new();
        for ((item, key), result) in to_probe.into_iter().zip(results) {
            match result {
                Ok(info) => {
                    cache.insert(item.path.clone(), key, info.clone());
                    known.push((item, info));
                }
                Err(error) => {
                    cache.remove(&item.path);
                    failures.push(ProbeFailure {
                        path: item.path,
                        reason: error.to_string(),
                    });
                }
            }
        }

        if let Some(dir) = &options.cache_dir {
            cache.prune_missing();
            // Not being able to cache only costs time on the next run.
            let _ = cache.save(dir);
        }

        let mut pythons: Vec<Installation> = known
            .into_iter()
            .map(|(item, info)| Installation {
                os_managed: is_os_managed(&item.path),
                path: item.path,
                aliases: item.aliases,
                version: info.version,
                implementation: info.implementation,
                prefix: info.base_prefix,
                source: item.source,
                compiled_prefix: info.compiled_prefix,
            })
            .collect();
        pythons.sort_by(|a, b| b.version.cmp(&a.version).then_with(|| a.path.cmp(&b.path)));
        failures.sort_by(|a, b| a.path.cmp(&b.path));
        Inventory { pythons, failures }
    }

    /// The installation whose executable is `path`, compared by canonical path (so any alias,
    /// link or hard link discovery saw finds it). `None` for anything discovery did not find:
    /// such a file must not be executed.
    pub fn find(&self, path: &Path) -> Option<&Installation> {
        let canonical = std::fs::canonicalize(path).ok()?;
        self.pythons
            .iter()
            .find(|i| i.path == canonical || i.aliases.contains(&canonical))
    }

    /// The installation whose executable has the same bytes as the regular file `file` (a
    /// `--copies` venv's `bin/python3.11`, a copy a repair wrote). `file` is not followed if it
    /// is a link; only installations of the same size are read.
    pub fn copied_in(&self, file: &Path) -> Option<&Installation> {
        let meta = std::fs::symlink_metadata(file).ok()?;
        if !meta.is_file() {
            return None;
        }
        let mut bytes: Option<Vec<u8>> = None;
        self.pythons.iter().find(|installation| {
            std::fs::metadata(&installation.path).is_ok_and(|m| m.len() == meta.len())
                && std::fs::read(&installation.path).is_ok_and(|installed| {
                    let copy = bytes.get_or_insert_with(|| std::fs::read(file).unwrap_or_default());
                    installed == *copy
                })
        })
    }

    /// The installations with an executable (canonical or alias) directly in `dir`, compared
    /// as given and canonically: what a venv's `home = <dir>` refers to. Several when a dir
    /// holds several Pythons (`/usr/bin` with 3.11 and 3.12); the caller picks by name/version.
    pub fn find_by_dir(&self, dir: &Path) -> Vec<&Installation> {
        let canonical = std::fs::canonicalize(dir).ok();
        let matches = |parent: &Path| {
            parent == dir
                || canonical.as_deref().is_some_and(|c| {
                    parent == c || std::fs::canonicalize(parent).is_ok_and(|p| p == c)
                })
        };
        self.pythons
            .iter()
            .filter(|i| {
                std::iter::once(&i.path)
                    .chain(&i.aliases)
                    .filter_map(|p| p.parent())
                    .any(matches)
            })
            .collect()
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
            exact(b)
                .cmp(&exact(a))
                .then(b.version.cmp(&a.version))
                .then(a.path.cmp(&b.path))
        });
        found
    }
}

/// Probe every executable, a few at a time; results in the order of `items`.
fn probe_all(
    items: &[(discover::Found, cache::FileKey)],
    timeout: Duration,
) -> Vec<Result<ProbeInfo, probe::ProbeError>> {
    let slots: Vec<Mutex<Option<Result<ProbeInfo, probe::ProbeError>>>> =
        items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = items.len().min(MAX_PARALLEL_PROBES);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((item, _)) = items.get(index) else {
                        break;
                    };
                    let result = probe::probe(&item.path, timeout);
                    if let Ok(mut slot) = slots[index].lock() {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .zip(items)
        .map(|(slot, (item, _))| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(probe::ProbeError::Spawn {
                    path: item.path.clone(),
                    message: "the probe thread stopped".into(),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation(path: &str, aliases: &[&str], version: &str) -> Installation {
        Installation {
            path: path.into(),
            aliases: aliases.iter().map(PathBuf::from).collect(),
            version: version.parse().unwrap(),
            implementation: "cpython".into(),
            prefix: "/p".into(),
            source: Source::System,
            os_managed: false,
            compiled_prefix: None,
        }
    }

    #[test]
    fn os_managed_rule() {
        assert!(is_os_managed(Path::new("/usr/bin/python3.11")));
        assert!(is_os_managed(Path::new("/usr/lib/python3.11/bin/python")));
        assert!(is_os_managed(Path::new(
            "/opt/homebrew/Cellar/python@3.12/3.12.1/Frameworks/Python.framework/Versions/3.12/bin/python3.12"
        )));
        assert!(is_os_managed(Path::new(
            "/usr/local/Cellar/python@3.9/3.9.18/bin/python3.9"
        )));
        assert!(!is_os_managed(Path::new("/usr/local/bin/python3.12")));
        assert!(!is_os_managed(Path::new(
            "/root/.pyenv/versions/3.11.7/bin/python3.11"
        )));
        assert!(!is_os_managed(Path::new("/opt/python3.12/bin/python3.12")));
        assert!(!is_os_managed(Path::new("/usr/binx/python3")));
    }

    #[test]
    fn find_by_dir_matches_canonical_and_alias_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let real = std::fs::canonicalize(&real).unwrap();
        let exe = real.join("python3.12");
        let inventory = Inventory {
            pythons: vec![
                installation(exe.to_str().unwrap(), &["/usr/local/bin/python3"], "3.12.1"),
                installation("/elsewhere/python3.8", &[], "3.8.18"),
            ],
            failures: vec![],
        };
        for dir in [real.clone(), dir.path().join("link")] {
            let found = inventory.find_by_dir(&dir);
            assert_eq!(found.len(), 1, "{dir:?}");
            assert_eq!(found[0].path, exe);
        }
        assert_eq!(inventory.find_by_dir(Path::new("/usr/local/bin")).len(), 1);
        assert!(inventory.find_by_dir(Path::new("/usr")).is_empty());
    }

    #[test]
    fn candidates_best_first() {
        let inventory = Inventory {
            pythons: vec![
                installation("/a/python3.8", &[], "3.8.11"),
                installation("/b/python3.8", &[], "3.8.18"),
                installation("/c/python3.9", &[], "3.9.18"),
            ],
            failures: vec![],
        };
        let want = PythonVersion::new(3, 8, 11);
        let found: Vec<&Path> = inventory
            .candidates(&want, "CPython")
            .iter()
            .map(|i| i.path.as_path())
            .collect();
        assert_eq!(
            found,
            [Path::new("/a/python3.8"), Path::new("/b/python3.8")]
        );
    }
}
