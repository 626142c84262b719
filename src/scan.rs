//! The scanner: turn the paths a user names into the venv directories they contain, fast.
//!
//! A path that is a venv is taken as it is; any other directory is walked recursively. A
//! directory is a venv when it has a `pyvenv.cfg` entry of any kind (even an unreadable or
//! garbage one: the detector reports a bad config, the scanner only finds), when it is a
//! legacy virtualenv (`bin/activate` and `lib/pythonX.Y/orig-prefix.txt`), or when its
//! `pyvenv.cfg` was deleted (`bin/activate` and `lib/pythonX.Y/site-packages`). The walk costs
//! little more than the directory reads it cannot avoid: entry types come from the directory
//! listing itself (no `stat` per entry), the `pyvenv.cfg` test happens while a directory is
//! listed anyway, and the other markers are only checked where both `bin` and `lib` exist.
//! Directories are read in parallel (work stealing) and streamed, never collected.
//!
//! The scanner never descends into a venv it found, `.git`, `node_modules`, `site-packages`
//! and the like; never follows a symlinked directory below the named paths unless asked
//! ([`ScanOptions::follow_links`], with loop detection); never reads a file's contents; never
//! prints. Unreadable directories become [`ScanError`]s and the walk goes on.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::safe_read::{self, Follow};

/// Why a directory was taken for a venv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    /// It has a `pyvenv.cfg` entry (not necessarily a readable, valid file).
    PyvenvCfg,
    /// A virtualenv older than 20: no `pyvenv.cfg`, but `bin/activate` and
    /// `lib/pythonX.Y/orig-prefix.txt`.
    Legacy,
    /// No `pyvenv.cfg`, but `bin/activate` and `lib/pythonX.Y/site-packages`: a venv whose
    /// config was deleted.
    MissingConfig,
}

/// One venv the scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Absolute, as the user named it (joined onto the current directory, links not resolved).
    pub path: PathBuf,
    pub marker: Marker,
}

/// A path the scan could not use; the scan goes on without it.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("`{}` is not a directory or a venv", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot read `{}`: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
}

impl ScanError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ScanError::NotFound { path }
            | ScanError::NotADirectory { path }
            | ScanError::Io { path, .. } => path,
        }
    }
}

/// How to scan. The default follows no link and uses one thread per core.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanOptions {
    /// Descend into symlinked directories found during the walk (the named paths themselves
    /// are always followed). Loops and links to an ancestor are skipped.
    pub follow_links: bool,
    /// Threads reading directories: `0` for one per core, `1` for no thread pool at all.
    pub threads: usize,
    /// Directories never entered, whatever they hold: venvfix's own state dir, whose backups
    /// are copies of venvs and must not be reported (or repaired) as venvs.
    pub skip: Vec<PathBuf>,
}

/// Progress so far, for a progress bar. Sent every few hundred directories and on every venv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanProgress {
    pub dirs_visited: u64,
    pub venvs_found: u64,
}

/// What a scan found, sorted by path.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every venv once (by device and inode), sorted by path.
    pub venvs: Vec<Found>,
    /// Paths that could not be read, sorted by path.
    pub errors: Vec<ScanError>,
}

/// Directories venvfix itself makes beside a venv while it repairs it: the original of a
/// recreate kept on its own filesystem (`.<name>.venvfix-original-*`) and temporary names
/// (`.venvfix-tmp*`). They hold copies of the venv, which are not venvs of the user's.
fn is_venvfix_own(name: &[u8]) -> bool {
    name.starts_with(b".venvfix-tmp")
        || (name.starts_with(b".")
            && name
                .windows(b".venvfix-original-".len())
                .any(|w| w == b".venvfix-original-"))
}

/// Directory names never descended into: version control internals, JavaScript packages,
/// bytecode caches, and installed Python packages (no tool creates a venv inside those).
const PRUNED: &[&[u8]] = &[
    b".git",
    b"node_modules",
    b"__pycache__",
    b".hg",
    b".svn",
    b"site-packages",
    b"dist-packages",
];

/// How often (in directories) the progress callback is called.
const PROGRESS_EVERY: u64 = 256;

/// Find the venvs in `paths`: each path is a venv or a directory to search.
///
/// Never fails as a whole: a path that does not exist, is not a directory, or cannot be read is
/// an entry of [`ScanReport::errors`], and the others are still scanned. `progress` is called
/// from the scanning threads.
pub fn scan<P: AsRef<Path>>(
    paths: &[P],
    options: &ScanOptions,
    progress: &(dyn Fn(ScanProgress) + Sync),
) -> ScanReport {
    let walker = Walker {
        follow_links: options.follow_links,
        progress,
        dirs_visited: AtomicU64::new(0),
        venvs_found: AtomicU64::new(0),
        hits: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
        visited: Mutex::new(HashSet::new()),
        skip: options
            .skip
            .iter()
            .filter_map(|dir| fs::metadata(dir).ok())
            .map(|meta| dev_ino(&meta))
            .collect(),
    };

    let mut roots = Vec::new();
    for path in paths {
        match resolve_root(path.as_ref()) {
            Ok(root) => {
                if options.follow_links {
                    walker.mark_root(&root);
                }
                roots.push(Pending {
                    path: root,
                    is_root: true,
                    via_link: false,
                });
            }
            Err(error) => walker.error(error),
        }
    }

    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let pool = if threads > 1 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("venvfix-scan-{i}"))
            .build()
            .ok()
    } else {
        None
    };
    match pool {
        Some(pool) => pool.scope(|scope| {
            for root in roots {
                let walker = &walker;
                scope.spawn(move |scope| walker.walk_parallel(scope, root));
            }
        }),
        None => walker.walk_serial(roots),
    }

    (walker.progress)(walker.snapshot());
    walker.into_report()
}

/// Why `dir` is a venv, if it is one. Costs one `lstat`, or a few more when `dir` has no
/// `pyvenv.cfg`. Never reads a file.
pub fn venv_marker(dir: &Path) -> Option<Marker> {
    if fs::symlink_metadata(dir.join("pyvenv.cfg")).is_ok() {
        return Some(Marker::PyvenvCfg);
    }
    marker_without_config(dir)
}

/// The legacy or missing-config marker of a directory known to have no `pyvenv.cfg`.
/// Both require `bin/activate`, which a Python installation prefix (`~/.pyenv/versions/3.11.7`,
/// `~/.local`, `/usr`) does not have, so that one `lstat` settles most lookalikes.
fn marker_without_config(dir: &Path) -> Option<Marker> {
    fs::symlink_metadata(dir.join("bin/activate")).ok()?;
    let mut site_packages = false;
    for entry in fs::read_dir(dir.join("lib")).ok()?.flatten() {
        if !is_python_lib_name(entry.file_name().as_bytes()) {
            continue;
        }
        let lib = entry.path();
        if fs::symlink_metadata(lib.join("orig-prefix.txt")).is_ok() {
            return Some(Marker::Legacy);
        }
        site_packages = site_packages || lib.join("site-packages").is_dir();
    }
    site_packages.then_some(Marker::MissingConfig)
}

/// `pythonX.Y` (`python3.11`, `python2.7`).
fn is_python_lib_name(name: &[u8]) -> bool {
    let Some(version) = name.strip_prefix(b"python") else {
        return false;
    };
    let mut parts = version.split(|&b| b == b'.');
    let is_number =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    is_number(parts.next()) && is_number(parts.next()) && parts.next().is_none()
}

/// A named path, made absolute (not canonical), that exists and is a directory.
fn resolve_root(path: &Path) -> Result<PathBuf, ScanError> {
    let absolute = std::path::absolute(path).map_err(|error| ScanError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    match fs::metadata(&absolute) {
        Ok(meta) if meta.is_dir() => Ok(absolute),
        Ok(_) => Err(ScanError::NotADirectory { path: absolute }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Err(ScanError::NotFound { path: absolute })
        }
        Err(error) => Err(ScanError::Io {
            path: absolute,
            error,
        }),
    }
}

/// A directory's identity, to find a venv once and to detect link loops.
type DevIno = (u64, u64);

fn dev_ino(meta: &fs::Metadata) -> DevIno {
    (meta.dev(), meta.ino())
}

/// A directory to read, and whether the walk reached it through a followed link.
struct Pending {
    path: PathBuf,
    is_root: bool,
    via_link: bool,
}

/// A venv as the walk saw it: `via_link` finds lose to real paths when deduplicating.
struct Hit {
    found: Found,
    via_link: bool,
}

/// State shared by the scanning threads.
struct Walker<'a> {
    follow_links: bool,
    progress: &'a (dyn Fn(ScanProgress) + Sync),
    dirs_visited: AtomicU64,
    venvs_found: AtomicU64,
    hits: Mutex<Vec<Hit>>,
    errors: Mutex<Vec<ScanError>>,
    /// Directories entered, when following links (else empty: a walk that follows no link
    /// cannot meet a directory twice).
    visited: Mutex<HashSet<DevIno>>,
    /// [`ScanOptions::skip`], by device and inode.
    skip: Vec<DevIno>,
}

impl Walker<'_> {
    fn walk_serial(&self, roots: Vec<Pending>) {
        // Depth first, so the pending list holds the siblings along one path, not the tree.
        let mut pending: Vec<Pending> = roots.into_iter().rev().collect();
        while let Some(dir) = pending.pop() {
            pending.extend(self.visit(&dir));
        }
    }

    fn walk_parallel<'s>(&'s self, scope: &rayon::Scope<'s>, mut dir: Pending) {
        loop {
            let mut children = self.visit(&dir);
            // Keep one child on this thread, offer the others to idle threads.
            let Some(next) = children.pop() else {
                return;
            };
            for child in children {
                scope.spawn(move |scope| self.walk_parallel(scope, child));
            }
            dir = next;
        }
    }

    /// Read one directory: record it if it is a venv, else return the subdirectories to walk.
    fn visit(&self, pending: &Pending) -> Vec<Pending> {
        let dir = pending.path.as_path();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                // A directory deleted while we walk is not the user's problem.
                if pending.is_root || error.kind() != io::ErrorKind::NotFound {
                    self.error(ScanError::Io {
                        path: dir.to_path_buf(),
                        error,
                    });
                }
                return Vec::new();
            }
        };
        self.count_dir();

        // (name, is a symlink)
        let mut subdirs: Vec<(OsString, bool)> = Vec::new();
        let (mut has_bin, mut has_lib) = (false, false);
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    self.error(ScanError::Io {
                        path: dir.to_path_buf(),
                        error,
                    });
                    break;
                }
            };
            let name = entry.file_name();
            let name_bytes = name.as_bytes();
            if name_bytes == b"pyvenv.cfg" {
                self.record(pending, Marker::PyvenvCfg);
                return Vec::new();
            }
            // From the listing's d_type; std only falls back to lstat where the filesystem
            // does not fill it in.
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let is_dir = file_type.is_dir();
            let is_link = file_type.is_symlink();
            if !is_dir && !is_link {
                continue;
            }
            match name_bytes {
                b"bin" => has_bin = true,
                b"lib" => has_lib = true,
                _ => {}
            }
            if (is_dir || self.follow_links)
                && !PRUNED.contains(&name_bytes)
                && !is_venvfix_own(name_bytes)
                && !self.skipped(dir, &entry)
            {
                subdirs.push((name, is_link));
            }
        }

        if has_bin
            && has_lib
            && let Some(marker) = marker_without_config(dir)
        {
            self.record(pending, marker);
            return Vec::new();
        }

        subdirs
            .into_iter()
            .filter_map(|(name, is_link)| {
                let path = dir.join(name);
                if self.follow_links && !self.enter(&path, is_link) {
                    return None;
                }
                Some(Pending {
                    path,
                    is_root: false,
                    via_link: pending.via_link || is_link,
                })
            })
            .collect()
    }

    /// Whether `entry` of `dir` is one of the directories never entered. The listing's inode
    /// number is compared first, so only a match costs a `stat`.
    fn skipped(&self, dir: &Path, entry: &fs::DirEntry) -> bool {
        use std::os::unix::fs::DirEntryExt;
        let ino = entry.ino();
        self.skip.iter().any(|&(dev, skip_ino)| {
            skip_ino == ino
                && fs::metadata(dir.join(entry.file_name()))
                    .is_ok_and(|m| dev_ino(&m) == (dev, ino))
        })
    }

    /// Following links: whether to walk `dir`, and mark it entered. A real subdirectory is
    /// always walked (a loop needs a link); a link only to a directory not entered yet, so a
    /// loop or a second link to one tree is not walked again.
    fn enter(&self, dir: &Path, is_link: bool) -> bool {
        let Ok(meta) = fs::metadata(dir) else {
            // A dangling link, or a directory that vanished.
            return false;
        };
        let new = meta.is_dir() && self.lock_visited().insert(dev_ino(&meta));
        new || !is_link
    }

    /// Following links: mark a root and its real ancestors as entered, so a link back up to
    /// them (`a/loop -> ..`, a link to `/`) is a loop, not a second walk of the same tree.
    fn mark_root(&self, root: &Path) {
        let Ok(canonical) = fs::canonicalize(root) else {
            return;
        };
        let mut visited = self.lock_visited();
        for dir in canonical.ancestors() {
            if let Ok(meta) = fs::metadata(dir) {
                visited.insert(dev_ino(&meta));
            }
        }
    }

    fn record(&self, pending: &Pending, marker: Marker) {
        let hit = Hit {
            found: Found {
                path: pending.path.clone(),
                marker,
            },
            via_link: pending.via_link,
        };
        self.hits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hit);
        self.venvs_found.fetch_add(1, Ordering::Relaxed);
        (self.progress)(self.snapshot());
    }

    fn error(&self, error: ScanError) {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(error);
    }

    fn count_dir(&self) {
        let n = self.dirs_visited.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(self.snapshot());
        }
    }

    fn snapshot(&self) -> ScanProgress {
        ScanProgress {
            dirs_visited: self.dirs_visited.load(Ordering::Relaxed),
            venvs_found: self.venvs_found.load(Ordering::Relaxed),
        }
    }

    fn lock_visited(&self) -> std::sync::MutexGuard<'_, HashSet<DevIno>> {
        self.visited.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sort, and keep each venv once: overlapping paths, bind mounts and followed links can
    /// lead to one directory under several names. A name without a followed link wins, then
    /// the first in path order.
    fn into_report(self) -> ScanReport {
        let mut hits = self.hits.into_inner().unwrap_or_else(|e| e.into_inner());
        hits.sort_by(|a, b| (a.via_link, &a.found.path).cmp(&(b.via_link, &b.found.path)));
        let mut seen = HashSet::new();
        let mut venvs: Vec<Found> = hits
            .into_iter()
            .filter(|hit| match fs::metadata(&hit.found.path) {
                Ok(meta) => seen.insert(dev_ino(&meta)),
                Err(_) => true,
            })
            .map(|hit| hit.found)
            .collect();
        venvs.sort_by(|a, b| a.path.cmp(&b.path));
        let mut errors = self.errors.into_inner().unwrap_or_else(|e| e.into_inner());
        errors.sort_by(|a, b| a.path().cmp(b.path()));
        errors.dedup_by(|a, b| a.path() == b.path() && a.to_string() == b.to_string());
        ScanReport { venvs, errors }
    }
}

/// A place where a tool keeps venvs, and what put it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHome {
    pub path: PathBuf,
    /// The tool and the setting that names it (`pipx ($PIPX_HOME)`, `poetry (virtualenvs.path
    /// in ~/.config/pypoetry/config.toml)`), for "which homes were searched".
    pub source: String,
}

/// A pyenv-virtualenv `versions/NAME` link whose env is gone (`pyenv uninstall X.Y.Z` deletes
/// `versions/X.Y.Z/envs/NAME` and leaves the link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanglingHome {
    pub path: PathBuf,
    pub target: PathBuf,
}

/// What `--known` looks at: the homes that exist (to search), those looked for but absent,
/// and pyenv-virtualenv links that lead nowhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHomes {
    pub found: Vec<KnownHome>,
    pub absent: Vec<KnownHome>,
    pub dangling: Vec<DanglingHome>,
}

/// The well-known homes of venvs on this machine, those that exist: virtualenvwrapper and
/// pipenv (`$WORKON_HOME`), pipx (`$PIPX_HOME`, `$PIPX_GLOBAL_HOME`, each with its `shared/`
/// venv), poetry (`virtualenvs.path` / `cache-dir` in its `config.toml`), hatch
/// (`$HATCH_DATA_DIR`, `dirs.env` / `dirs.data` in its `config.toml`), uv tools
/// (`$UV_TOOL_DIR`), pyenv-virtualenv. Conda envs are not venvs and are not listed.
pub fn known_homes() -> Vec<PathBuf> {
    known_homes_with(&|name| std::env::var_os(name))
}

/// [`known_homes`] with everything looked at: see [`KnownHomes`].
pub fn discover_known_homes() -> KnownHomes {
    known_homes_in(&|name| std::env::var_os(name))
}

fn known_homes_with(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    known_homes_in(var)
        .found
        .into_iter()
        .map(|h| h.path)
        .collect()
}

/// A tool's `config.toml`, if it exists and parses (a broken one just moves nothing).
fn tool_config(path: &Path) -> Option<toml::Table> {
    let text = safe_read::read_text(path, safe_read::limit::SMALL, Follow::Links).ok()?;
    toml::from_str(&text).ok()
}

/// `table["a"]["b"]` as a string, also written as a dotted key (`a.b = "..."`).
fn toml_str<'a>(table: &'a toml::Table, section: &str, key: &str) -> Option<&'a str> {
    table
        .get(section)
        .and_then(|s| s.get(key))
        .or_else(|| table.get(&format!("{section}.{key}")))
        .and_then(|v| v.as_str())
}

fn known_homes_in(var: &dyn Fn(&str) -> Option<OsString>) -> KnownHomes {
    let path_var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = path_var("HOME");
    let under_home = |rest: &str| home.as_ref().map(|h| h.join(rest));
    let data = path_var("XDG_DATA_HOME").or_else(|| under_home(".local/share"));
    let cache = path_var("XDG_CACHE_HOME").or_else(|| under_home(".cache"));
    let config = path_var("XDG_CONFIG_HOME").or_else(|| under_home(".config"));
    let under = |base: &Option<PathBuf>, rest: &str| base.as_ref().map(|b| b.join(rest));
    // `~/x` in a tool's config means the user's home.
    let expand = |value: &str| -> Option<PathBuf> {
        match value.strip_prefix("~/") {
            Some(rest) => under_home(rest),
            None => Some(PathBuf::from(value)),
        }
        .filter(|p| p.is_absolute())
    };

    let mut candidates: Vec<(Option<PathBuf>, String)> = Vec::new();
    let mut add = |path: Option<PathBuf>, source: &str| candidates.push((path, source.into()));
    // virtualenvwrapper and pipenv share WORKON_HOME.
    match path_var("WORKON_HOME") {
        Some(workon) => add(Some(workon), "virtualenvwrapper, pipenv ($WORKON_HOME)"),
        None => {
            add(under_home(".virtualenvs"), "virtualenvwrapper");
            add(under(&data, "virtualenvs"), "pipenv");
        }
    }
    // pipx keeps its apps in `venvs/` and its own pip in the `shared/` venv.
    let pipx_homes: Vec<(Option<PathBuf>, &str)> = match path_var("PIPX_HOME") {
        Some(pipx) => vec![(Some(pipx), "pipx ($PIPX_HOME)")],
        None => vec![
            (under_home(".local/pipx"), "pipx"),
            (under(&data, "pipx"), "pipx"),
        ],
    };
    let global = path_var("PIPX_GLOBAL_HOME").unwrap_or_else(|| PathBuf::from("/opt/pipx"));
    for (pipx, source) in pipx_homes
        .into_iter()
        .chain([(Some(global), "pipx --global ($PIPX_GLOBAL_HOME)")])
    {
        add(under(&pipx, "venvs"), source);
        add(under(&pipx, "shared"), source);
    }
    // poetry: `virtualenvs.path` (default `{cache-dir}/virtualenvs`), from the environment or
    // its config file.
    let poetry_file = path_var("POETRY_CONFIG_DIR")
        .or_else(|| under(&config, "pypoetry"))
        .map(|d| d.join("config.toml"));
    let poetry = poetry_file.as_deref().and_then(tool_config);
    let poetry_cache = path_var("POETRY_CACHE_DIR")
        .or_else(|| {
            poetry
                .as_ref()
                .and_then(|t| t.get("cache-dir")?.as_str())
                .and_then(expand)
        })
        .or_else(|| under(&cache, "pypoetry"));
    match path_var("POETRY_VIRTUALENVS_PATH") {
        Some(path) => add(Some(path), "poetry ($POETRY_VIRTUALENVS_PATH)"),
        None => match poetry
            .as_ref()
            .and_then(|t| toml_str(t, "virtualenvs", "path"))
        {
            Some(value) => {
                let cache_dir = poetry_cache.as_ref().map(|c| c.display().to_string());
                let value = match &cache_dir {
                    Some(c) => value.replace("{cache-dir}", c),
                    None => value.to_string(),
                };
                let file = poetry_file.as_ref().map(|f| f.display().to_string());
                add(
                    expand(&value),
                    &format!("poetry (virtualenvs.path in {})", file.unwrap_or_default()),
                );
            }
            None => add(under(&poetry_cache, "virtualenvs"), "poetry"),
        },
    }
    // hatch: `dirs.env.virtual` in its config (absolute only: a relative one is per project),
    // else `<data dir>/env/virtual`, the data dir from `$HATCH_DATA_DIR` or `dirs.data`.
    let hatch_file = path_var("HATCH_CONFIG").or_else(|| under(&config, "hatch/config.toml"));
    let hatch = hatch_file.as_deref().and_then(tool_config);
    let hatch_env = hatch
        .as_ref()
        .and_then(|t| t.get("dirs")?.get("env")?.get("virtual")?.as_str())
        .and_then(expand);
    let hatch_data = path_var("HATCH_DATA_DIR")
        .map(|d| (d, "hatch ($HATCH_DATA_DIR)"))
        .or_else(|| {
            let data = hatch
                .as_ref()
                .and_then(|t| toml_str(t, "dirs", "data"))
                .and_then(expand)?;
            Some((data, "hatch (dirs.data)"))
        });
    match (hatch_env, hatch_data) {
        (Some(env), _) => add(Some(env), "hatch (dirs.env)"),
        (None, Some((data, source))) => add(Some(data.join("env/virtual")), source),
        (None, None) => add(under(&data, "hatch/env/virtual"), "hatch"),
    }
    match path_var("UV_TOOL_DIR") {
        Some(dir) => add(Some(dir), "uv tools ($UV_TOOL_DIR)"),
        None => add(under(&data, "uv/tools"), "uv tools"),
    }

    // pyenv-virtualenv: `versions/X.Y.Z/envs/NAME`, and `versions/NAME` (a venv, or a link to
    // one of the former, dangling once `pyenv uninstall X.Y.Z` removed it).
    let mut dangling = Vec::new();
    let pyenv = path_var("PYENV_ROOT").or_else(|| under_home(".pyenv"));
    if let Some(Ok(versions)) = pyenv.map(|p| fs::read_dir(p.join("versions"))) {
        for entry in versions.flatten() {
            let version = entry.path();
            let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
            if is_link && fs::metadata(&version).is_err() {
                dangling.push(DanglingHome {
                    target: fs::read_link(&version).unwrap_or_default(),
                    path: version,
                });
                continue;
            }
            candidates.push((Some(version.join("envs")), "pyenv-virtualenv".into()));
            if venv_marker(&version).is_some() {
                candidates.push((Some(version), "pyenv-virtualenv".into()));
            }
        }
    }
    dangling.sort_by(|a, b| a.path.cmp(&b.path));

    let mut known = KnownHomes {
        dangling,
        ..KnownHomes::default()
    };
    for (path, source) in candidates {
        let Some(path) = path else { continue };
        let home = KnownHome { path, source };
        if home.path.is_dir() {
            known.found.push(home);
        } else {
            known.absent.push(home);
        }
    }
    for list in [&mut known.found, &mut known.absent] {
        list.sort_by(|a, b| a.path.cmp(&b.path));
        list.dedup_by(|a, b| a.path == b.path);
    }
    known
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::process::Command;

    use tempfile::TempDir;

    use super::*;

    fn touch(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"").unwrap();
    }

    /// A stdlib-venv-like directory: `pyvenv.cfg`, `bin/activate`, `lib/python3.11/site-packages`.
    fn make_venv(dir: &Path) {
        touch(&dir.join("pyvenv.cfg"));
        touch(&dir.join("bin/activate"));
        fs::create_dir_all(dir.join("lib/python3.11/site-packages/pip")).unwrap();
        symlink("lib", dir.join("lib64")).unwrap();
    }

    /// Scan serially and in parallel, check both agree, return (path, marker) and error paths.
    fn scan_paths<P: AsRef<Path> + Sync>(
        paths: &[P],
        follow_links: bool,
    ) -> (Vec<(PathBuf, Marker)>, Vec<PathBuf>) {
        let run = |threads| {
            let options = ScanOptions {
                follow_links,
                threads,
                ..ScanOptions::default()
            };
            let report = scan(paths, &options, &|_| {});
            let venvs: Vec<_> = report
                .venvs
                .into_iter()
                .map(|f| (f.path, f.marker))
                .collect();
            let errors: Vec<_> = report
                .errors
                .iter()
                .map(|e| e.path().to_path_buf())
                .collect();
            (venvs, errors)
        };
        let serial = run(1);
        assert_eq!(serial, run(2), "serial and parallel scans disagree");
        serial
    }

    fn venvs<P: AsRef<Path> + Sync>(paths: &[P], follow_links: bool) -> Vec<(PathBuf, Marker)> {
        let (venvs, errors) = scan_paths(paths, follow_links);
        assert_eq!(errors, Vec::<PathBuf>::new());
        venvs
    }

    #[test]
    fn finds_nested_and_hidden_venvs_sorted() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        for venv in [
            "a/.venv",
            "b/.tox/py38",
            "b/.tox/py311",
            "c/.nox/x",
            "d/sub/deep/env",
        ] {
            make_venv(&root.join(venv));
        }
        touch(&root.join("a/src/pkg/__init__.py"));
        fs::create_dir_all(root.join("e/empty")).unwrap();
        let expected: Vec<_> = [
            "a/.venv",
            "b/.tox/py311",
            "b/.tox/py38",
            "c/.nox/x",
            "d/sub/deep/env",
        ]
        .iter()
        .map(|v| (root.join(v), Marker::PyvenvCfg))
        .collect();
        assert_eq!(venvs(&[root], false), expected);
    }

    #[test]
    fn never_descends_into_a_venv() {
        let tmp = TempDir::new().unwrap();
        let venv = tmp.path().join(".venv");
        make_venv(&venv);
        make_venv(&venv.join("lib/python3.11/site-packages/pkg/tests/venv"));
        make_venv(&venv.join("inner"));
        assert_eq!(venvs(&[tmp.path()], false), vec![(venv, Marker::PyvenvCfg)]);
    }

    #[test]
    fn venvfix_own_dirs_beside_a_venv_are_never_entered() {
        assert!(is_venvfix_own(b".venv.venvfix-original-20261202T0000Z"));
        assert!(is_venvfix_own(b".venvfix-tmp-123"));
        assert!(!is_venvfix_own(b"venvfix-original-x"));
        assert!(!is_venvfix_own(b".venv"));
    }

    #[test]
    fn prunes_vcs_and_package_dirs() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        for pruned in [
            "node_modules/x",
            ".git/y",
            "__pycache__/z",
            ".hg/a",
            ".svn/b",
            "p/site-packages/c",
        ] {
            make_venv(&root.join(pruned));
        }
        make_venv(&root.join("ok"));
        assert_eq!(
            venvs(&[root], false),
            vec![(root.join("ok"), Marker::PyvenvCfg)]
        );
        // A pruned name the user names is scanned.
        let named = root.join("node_modules");
        assert_eq!(
            venvs(&[&named], false),
            vec![(named.join("x"), Marker::PyvenvCfg)]
        );
    }

    #[test]
    fn legacy_and_missing_config_venvs() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        let legacy = root.join("legacy");
        touch(&legacy.join("bin/activate"));
        touch(&legacy.join("lib/python2.7/orig-prefix.txt"));
        fs::create_dir_all(legacy.join("lib/python2.7/site-packages")).unwrap();
        let missing = root.join("missing");
        make_venv(&missing);
        fs::remove_file(missing.join("pyvenv.cfg")).unwrap();
        assert_eq!(
            venvs(&[root], false),
            vec![
                (legacy.clone(), Marker::Legacy),
                (missing.clone(), Marker::MissingConfig)
            ]
        );
        assert_eq!(venv_marker(&legacy), Some(Marker::Legacy));
        assert_eq!(venv_marker(&missing), Some(Marker::MissingConfig));
        assert_eq!(venv_marker(root), None);
    }

    #[test]
    fn python_prefix_is_not_a_venv() {
        let tmp = TempDir::new().unwrap();
        let prefix = tmp.path().join(".pyenv/versions/3.11.7");
        touch(&prefix.join("bin/python3.11"));
        symlink("python3.11", prefix.join("bin/python3")).unwrap();
        touch(&prefix.join("lib/python3.11/os.py"));
        fs::create_dir_all(prefix.join("lib/python3.11/site-packages/pip")).unwrap();
        // `~/.local` looks alike too: bin/ and lib/pythonX.Y/site-packages.
        touch(&tmp.path().join(".local/bin/black"));
        fs::create_dir_all(tmp.path().join(".local/lib/python3.11/site-packages")).unwrap();
        assert_eq!(venvs(&[tmp.path()], false), vec![]);
        assert_eq!(venv_marker(&prefix), None);
    }

    #[test]
    fn any_pyvenv_cfg_entry_marks_a_venv() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("as-dir/pyvenv.cfg")).unwrap();
        fs::create_dir_all(root.join("garbage")).unwrap();
        fs::write(root.join("garbage/pyvenv.cfg"), b"\x00\xff not a config").unwrap();
        fs::create_dir_all(root.join("dangling")).unwrap();
        symlink("/nonexistent/pyvenv.cfg", root.join("dangling/pyvenv.cfg")).unwrap();
        let unreadable = root.join("unreadable/pyvenv.cfg");
        touch(&unreadable);
        fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o000)).unwrap();
        let expected: Vec<_> = ["as-dir", "dangling", "garbage", "unreadable"]
            .iter()
            .map(|v| (root.join(v), Marker::PyvenvCfg))
            .collect();
        assert_eq!(venvs(&[root], false), expected);
    }

    #[test]
    fn a_named_venv_is_returned_as_named() {
        let tmp = TempDir::new().unwrap();
        let venv = tmp.path().join("real/.venv");
        make_venv(&venv);
        let link = tmp.path().join("link");
        symlink(&venv, &link).unwrap();
        assert_eq!(
            venvs(&[&venv], false),
            vec![(venv.clone(), Marker::PyvenvCfg)]
        );
        // Named through a link: kept as named, not canonicalized.
        assert_eq!(
            venvs(&[&link], false),
            vec![(link.clone(), Marker::PyvenvCfg)]
        );
        // Named twice, or inside another named path: found once.
        let all = [
            tmp.path().to_path_buf(),
            venv.clone(),
            tmp.path().join("real/.venv/."),
        ];
        assert_eq!(venvs(&all, false), vec![(venv, Marker::PyvenvCfg)]);
        let both = [link.clone(), tmp.path().join("real")];
        assert_eq!(venvs(&both, false).len(), 1);
    }

    #[test]
    fn bad_paths_are_errors_and_the_rest_is_scanned() {
        let tmp = TempDir::new().unwrap();
        let venv = tmp.path().join("v");
        make_venv(&venv);
        let missing = tmp.path().join("missing");
        let file = tmp.path().join("z-file.txt");
        touch(&file);
        let report = scan(
            &[missing.clone(), file.clone(), venv.clone()],
            &ScanOptions::default(),
            &|_| {},
        );
        assert_eq!(
            report.venvs,
            vec![Found {
                path: venv,
                marker: Marker::PyvenvCfg
            }]
        );
        assert_eq!(report.errors.len(), 2);
        assert!(matches!(&report.errors[0], ScanError::NotFound { path } if *path == missing));
        assert!(matches!(&report.errors[1], ScanError::NotADirectory { path } if *path == file));
        assert_eq!(
            report.errors[0].to_string(),
            format!("`{}` does not exist", missing.display())
        );
        assert_eq!(
            report.errors[1].to_string(),
            format!("`{}` is not a directory or a venv", file.display())
        );
    }

    #[test]
    fn relative_paths_are_joined_onto_the_current_directory() {
        let relative = Path::new("./no-such-dir-for-venvfix-scan");
        let Err(ScanError::NotFound { path }) = resolve_root(relative) else {
            panic!("expected NotFound");
        };
        assert_eq!(
            path,
            std::env::current_dir()
                .unwrap()
                .join("no-such-dir-for-venvfix-scan")
        );
    }

    #[test]
    fn symlink_loops_and_links_to_root_do_not_hang_or_double_count() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        let venv = root.join("a/.venv");
        make_venv(&venv);
        symlink("..", root.join("a/loop")).unwrap();
        symlink("/", root.join("a/slash")).unwrap();
        symlink(root, root.join("a/up")).unwrap();
        symlink("../b", root.join("a/b-link")).unwrap();
        symlink("../a", root.join("a/b-link-back")).unwrap();
        fs::create_dir_all(root.join("b")).unwrap();
        symlink("../a", root.join("b/to-a")).unwrap();
        symlink("nowhere", root.join("b/dangling")).unwrap();
        for follow in [false, true] {
            assert_eq!(
                venvs(&[root], follow),
                vec![(venv.clone(), Marker::PyvenvCfg)]
            );
        }
    }

    #[test]
    fn symlinked_venvs_are_followed_only_when_asked() {
        let outside = TempDir::new().unwrap();
        let target = outside.path().join("venv");
        make_venv(&target);
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        symlink(&target, root.join("link-one")).unwrap();
        symlink(&target, root.join("link-two")).unwrap();
        assert_eq!(venvs(&[root], false), vec![]);
        let found = venvs(&[root], true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.starts_with(root));

        // A link to a venv that is also reachable by its real path: the real path wins.
        let real = root.join("z-real");
        make_venv(&real);
        symlink(&real, root.join("a-link")).unwrap();
        let found = venvs(&[root], true);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.contains(&(real, Marker::PyvenvCfg)));
    }

    #[test]
    fn non_utf8_names() {
        let tmp = TempDir::new().unwrap();
        let cafe = tmp.path().join(OsStr::from_bytes(b"caf\xe9"));
        make_venv(&cafe.join(".venv"));
        let odd = tmp.path().join(OsStr::from_bytes(b"\xff\xfe-env"));
        make_venv(&odd);
        let mut expected = vec![
            (cafe.join(".venv"), Marker::PyvenvCfg),
            (odd, Marker::PyvenvCfg),
        ];
        expected.sort();
        assert_eq!(venvs(&[tmp.path()], false), expected);
    }

    #[test]
    fn progress_counts_dirs_and_venvs() {
        let tmp = TempDir::new().unwrap();
        for i in 0..300 {
            fs::create_dir_all(tmp.path().join(format!("d{i}/src"))).unwrap();
        }
        make_venv(&tmp.path().join("d1/.venv"));
        make_venv(&tmp.path().join("d2/.venv"));
        let last = Mutex::new(Vec::new());
        let options = ScanOptions {
            follow_links: false,
            threads: 2,
            ..ScanOptions::default()
        };
        let report = scan(&[tmp.path()], &options, &|p| last.lock().unwrap().push(p));
        assert_eq!(report.venvs.len(), 2);
        let calls = last.into_inner().unwrap();
        assert!(calls.len() >= 4, "{calls:?}");
        let final_call = *calls.last().unwrap();
        assert_eq!(final_call.venvs_found, 2);
        // root + 300 dirs + 300 src + 2 venvs (the venvs' insides are not read)
        assert_eq!(final_call.dirs_visited, 1 + 300 + 300 + 2);
    }

    #[test]
    fn python_lib_names() {
        for good in ["python3.11", "python2.7", "python3.100"] {
            assert!(is_python_lib_name(good.as_bytes()), "{good}");
        }
        for bad in [
            "python",
            "python3",
            "python3.",
            "python3.11t",
            "pythonx.y",
            "python3.1.2",
            "lib",
        ] {
            assert!(!is_python_lib_name(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn known_homes_from_a_fake_home() {
        let tmp = TempDir::new().unwrap();
        let home = tmp.path();
        let dirs = [
            ".virtualenvs",
            ".local/share/virtualenvs",
            ".local/pipx/venvs",
            ".local/share/pipx/venvs",
            ".cache/pypoetry/virtualenvs",
            ".local/share/hatch/env/virtual",
            ".local/share/uv/tools",
            ".pyenv/versions/3.11.7/envs",
            ".pyenv/versions/3.12.1/bin",
        ];
        for dir in dirs {
            fs::create_dir_all(home.join(dir)).unwrap();
        }
        make_venv(&home.join(".pyenv/versions/3.11.7/envs/tool"));
        make_venv(&home.join(".pyenv/versions/plain-venv"));
        symlink("3.11.7/envs/tool", home.join(".pyenv/versions/tool")).unwrap();
        fs::create_dir_all(home.join("miniconda3/envs/x")).unwrap();

        let env = |name: &str| match name {
            "HOME" => Some(home.as_os_str().to_owned()),
            "PIPX_GLOBAL_HOME" => Some(home.join("no-global").into_os_string()),
            _ => None,
        };
        let mut expected: Vec<PathBuf> = dirs[..8].iter().map(|d| home.join(d)).collect();
        expected.push(home.join(".pyenv/versions/plain-venv"));
        expected.push(home.join(".pyenv/versions/tool"));
        expected.sort();
        assert_eq!(known_homes_with(&env), expected);

        // The tools' own variables replace their defaults; missing dirs are left out.
        let workon = tmp.path().join("workon");
        fs::create_dir_all(&workon).unwrap();
        let env = |name: &str| match name {
            "HOME" => Some(home.join("elsewhere").into_os_string()),
            "WORKON_HOME" => Some(workon.clone().into_os_string()),
            "PIPX_HOME" => Some(home.join("no-pipx").into_os_string()),
            "PYENV_ROOT" => Some(home.join(".pyenv").into_os_string()),
            _ => None,
        };
        let found = known_homes_with(&env);
        assert!(found.contains(&workon), "{found:?}");
        assert!(
            found.contains(&home.join(".pyenv/versions/3.11.7/envs")),
            "{found:?}"
        );
        assert!(
            !found.iter().any(|p| p.starts_with(home.join(".local"))),
            "{found:?}"
        );
    }

    /// Homes the tools' own settings move: poetry's `virtualenvs.path` (with `{cache-dir}`),
    /// pipx's `$PIPX_HOME` with its `shared/` venv and `$PIPX_GLOBAL_HOME`, hatch's
    /// `$HATCH_DATA_DIR` and `dirs.env`, `$UV_TOOL_DIR`; a dangling pyenv-virtualenv link.
    #[test]
    fn known_homes_follow_the_tools_settings() {
        let tmp = TempDir::new().unwrap();
        let home = tmp.path();
        let dirs = [
            "poetry-envs",
            "pipx/venvs",
            "pipx/shared",
            "global/venvs",
            "hatch-data/env/virtual",
            "uvtools",
        ];
        for dir in dirs {
            fs::create_dir_all(home.join(dir)).unwrap();
        }
        touch(&home.join(".config/pypoetry/config.toml"));
        fs::write(
            home.join(".config/pypoetry/config.toml"),
            "cache-dir = \"~/pc\"\n[virtualenvs]\npath = \"{cache-dir}/../poetry-envs\"\n",
        )
        .unwrap();
        fs::create_dir_all(home.join("pc")).unwrap();
        fs::create_dir_all(home.join(".pyenv/versions/3.8.18")).unwrap();
        symlink("3.8.18/envs/gone", home.join(".pyenv/versions/gone")).unwrap();
        let env = |name: &str| match name {
            "HOME" => Some(home.as_os_str().to_owned()),
            "PIPX_HOME" => Some(home.join("pipx").into_os_string()),
            "PIPX_GLOBAL_HOME" => Some(home.join("global").into_os_string()),
            "HATCH_DATA_DIR" => Some(home.join("hatch-data").into_os_string()),
            "UV_TOOL_DIR" => Some(home.join("uvtools").into_os_string()),
            _ => None,
        };
        let known = known_homes_in(&env);
        let found: Vec<PathBuf> = known.found.iter().map(|h| h.path.clone()).collect();
        for dir in [
            "pipx/venvs",
            "pipx/shared",
            "global/venvs",
            "hatch-data/env/virtual",
            "uvtools",
        ] {
            assert!(found.contains(&home.join(dir)), "{dir}: {known:#?}");
        }
        assert!(
            found.contains(&home.join("pc/../poetry-envs")),
            "poetry's virtualenvs.path: {known:#?}"
        );
        assert!(
            known
                .found
                .iter()
                .any(|h| h.source.contains("virtualenvs.path"))
        );
        assert!(
            known
                .absent
                .iter()
                .any(|h| h.path == home.join("global/shared"))
        );
        assert_eq!(
            known.dangling,
            [DanglingHome {
                path: home.join(".pyenv/versions/gone"),
                target: PathBuf::from("3.8.18/envs/gone"),
            }]
        );

        // hatch's `dirs.env` wins over its data dir.
        touch(&home.join(".config/hatch/config.toml"));
        fs::write(
            home.join(".config/hatch/config.toml"),
            "[dirs.env]\nvirtual = \"~/hatch-envs\"\n",
        )
        .unwrap();
        fs::create_dir_all(home.join("hatch-envs")).unwrap();
        let found = known_homes_with(&env);
        assert!(found.contains(&home.join("hatch-envs")), "{found:?}");
    }

    /// Set by [`unreadable_dirs_are_reported`] when it runs this test binary as another user.
    const CHILD_ROOT: &str = "VENVFIX_SCAN_TEST_CHILD_ROOT";

    /// The child half of [`unreadable_dirs_are_reported`]: a no-op unless [`CHILD_ROOT`] is set.
    #[test]
    fn unreadable_dirs_child() {
        let Some(root) = std::env::var_os(CHILD_ROOT) else {
            return;
        };
        let report = scan(&[PathBuf::from(root)], &ScanOptions::default(), &|_| {});
        // The harness has printed the test's name without a newline.
        println!();
        for found in &report.venvs {
            println!("FOUND\t{}", found.path.display());
        }
        for error in &report.errors {
            println!("ERROR\t{}", error.path().display());
        }
    }

    /// Root reads everything, so the scan runs as `nobody` (setpriv) in a child process.
    #[test]
    fn unreadable_dirs_are_reported() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
        make_venv(&root.join("open/.venv"));
        make_venv(&root.join("locked/.venv"));
        make_venv(&root.join("zz/.venv"));
        fs::create_dir_all(root.join("search-only/x")).unwrap();
        for dir in ["open", "open/.venv", "zz", "zz/.venv"] {
            fs::set_permissions(root.join(dir), fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(root.join("search-only"), fs::Permissions::from_mode(0o111)).unwrap();

        let exe = std::env::current_exe().unwrap();
        let mut command = if nix::unistd::geteuid().is_root() {
            let mut setpriv = Command::new("setpriv");
            setpriv
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
                .arg(&exe);
            setpriv
        } else {
            Command::new(&exe)
        };
        let output = command
            .args([
                "--exact",
                "scan::tests::unreadable_dirs_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ROOT, root)
            .output();
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                eprintln!("skipped: cannot run the scan as another user: {error}");
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("FOUND\t") || l.starts_with("ERROR\t"))
            .collect();
        let show = |kind: &str, path: &str| format!("{kind}\t{}", root.join(path).display());
        assert_eq!(
            lines,
            vec![
                show("FOUND", "open/.venv"),
                show("FOUND", "zz/.venv"),
                show("ERROR", "locked"),
                show("ERROR", "search-only"),
            ]
        );
    }
}
