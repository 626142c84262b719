//! Symlink chains followed hop by hop with `readlink`, never by executing or opening the target.
//!
//! A venv's interpreter is usually a chain: `bin/python -> python3.8 -> /usr/bin/python3 ->
//! python3.9`. Which hop broke, and where the chain really ends, is the evidence a diagnosis
//! needs, and `canonicalize` would hide it (it fails on a dangling chain without saying where).
//! This module walks the chain one `lstat`/`readlink` at a time, detects loops, and reports the
//! end: an existing file, a missing path, a loop, or something that is not a file. A chain that
//! goes through `/proc` or `/dev` (`bin/python -> /proc/self/root/...`, a link to `/dev/zero`,
//! a directory link into either) is not followed: what it resolves to depends on the process
//! that reads it, so nothing can be concluded from it (DESIGN.md rule 2).

use std::io;
use std::path::{Component, Path, PathBuf};

/// Links deeper than this are treated as a loop, as the kernel does (`ELOOP` at 40).
const MAX_HOPS: usize = 40;

/// Where a chain ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEnd {
    /// An existing regular file; `canonical` is its fully resolved path.
    File { path: PathBuf, canonical: PathBuf },
    /// The path does not exist (the chain is dangling here).
    Missing { path: PathBuf },
    /// The chain returns to a path it already visited, or is too long.
    Loop { path: PathBuf },
    /// It exists but is a directory or a special file.
    NotAFile { path: PathBuf },
    /// It could not be read (permissions, I/O).
    Unreadable { path: PathBuf, error: String },
    /// The chain goes through `/proc` or `/dev` at `path` (itself, or a directory link in it):
    /// not followed.
    Special { path: PathBuf },
}

impl ChainEnd {
    /// The path where the chain ended, whatever the reason.
    pub fn path(&self) -> &Path {
        match self {
            ChainEnd::File { path, .. }
            | ChainEnd::Missing { path }
            | ChainEnd::Loop { path }
            | ChainEnd::NotAFile { path }
            | ChainEnd::Unreadable { path, .. }
            | ChainEnd::Special { path } => path,
        }
    }
}

/// A symlink chain from `start` to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The path the walk started from.
    pub start: PathBuf,
    /// Each link target as written (`readlink`), in order.
    pub targets: Vec<PathBuf>,
    /// Each path visited after a hop: the target joined onto its link's directory.
    pub hops: Vec<PathBuf>,
    /// How the chain ends.
    pub end: ChainEnd,
}

impl Chain {
    /// Whether the chain ends at an existing file.
    pub fn resolves(&self) -> bool {
        matches!(self.end, ChainEnd::File { .. })
    }

    /// The canonical path of the file the chain ends at.
    pub fn canonical(&self) -> Option<&Path> {
        match &self.end {
            ChainEnd::File { canonical, .. } => Some(canonical),
            _ => None,
        }
    }

    /// The path where the chain ended, whatever the reason.
    pub fn end_path(&self) -> &Path {
        self.end.path()
    }

    /// The chain rendered as `a -> b -> c`, for messages.
    pub fn describe(&self) -> String {
        let mut out = format!("`{}`", self.start.display());
        for target in &self.targets {
            out.push_str(&format!(" -> `{}`", target.display()));
        }
        out
    }
}

/// Follow the chain starting at `start`. Only `lstat`, `readlink` and, at a file, `canonicalize`.
pub fn follow(start: &Path) -> Chain {
    let mut chain = Chain {
        start: start.to_path_buf(),
        targets: Vec::new(),
        hops: Vec::new(),
        end: ChainEnd::Missing {
            path: start.to_path_buf(),
        },
    };
    let mut current = start.to_path_buf();
    let mut seen = vec![normalize(&current)];
    loop {
        if let Some(special) = through_special(&current, start, SPECIAL_DEPTH) {
            chain.end = ChainEnd::Special { path: special };
            return chain;
        }
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) => {
                chain.end = end_for_error(current, &e);
                return chain;
            }
        };
        if !meta.file_type().is_symlink() {
            chain.end = if meta.is_file() {
                match std::fs::canonicalize(&current) {
                    Ok(canonical) if is_special(&canonical) => ChainEnd::Special { path: current },
                    Ok(canonical) => ChainEnd::File {
                        path: current,
                        canonical,
                    },
                    Err(e) => end_for_error(current, &e),
                }
            } else {
                ChainEnd::NotAFile { path: current }
            };
            return chain;
        }
        let target = match std::fs::read_link(&current) {
            Ok(target) => target,
            Err(e) => {
                chain.end = end_for_error(current, &e);
                return chain;
            }
        };
        let next = match current.parent() {
            Some(dir) if target.is_relative() => dir.join(&target),
            _ => target.clone(),
        };
        chain.targets.push(target);
        chain.hops.push(next.clone());
        let key = normalize(&next);
        if seen.contains(&key) || chain.hops.len() > MAX_HOPS {
            chain.end = ChainEnd::Loop { path: next };
            return chain;
        }
        seen.push(key);
        current = next;
    }
}

/// How many directory links deep [`through_special`] looks.
const SPECIAL_DEPTH: usize = 8;

/// Whether `path` names something under `/proc` or `/dev`, lexically.
fn is_special(path: &Path) -> bool {
    let path = normalize(path);
    path.starts_with("/proc") || path.starts_with("/dev")
}

/// Where resolving `path` would go through `/proc` or `/dev`: the path itself, or a symlinked
/// directory among its ancestors whose target (followed `depth` links deep) does. Ancestors
/// shared with `start` (the venv's own location, chosen by the user) are not looked at.
fn through_special(path: &Path, start: &Path, depth: usize) -> Option<PathBuf> {
    if is_special(path) {
        return Some(path.to_path_buf());
    }
    // The chain's own hop is followed by the caller; a link reached inside a dir link is not.
    let skip = if depth == SPECIAL_DEPTH { 1 } else { 0 };
    for ancestor in path.ancestors().skip(skip) {
        if ancestor.as_os_str().is_empty() || start.starts_with(ancestor) {
            continue;
        }
        let is_link = std::fs::symlink_metadata(ancestor).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link {
            continue;
        }
        let Ok(target) = std::fs::read_link(ancestor) else {
            continue;
        };
        let joined = match ancestor.parent() {
            Some(dir) if target.is_relative() => dir.join(&target),
            _ => target,
        };
        if is_special(&joined) {
            return Some(ancestor.to_path_buf());
        }
        if depth > 0
            && let Some(found) = through_special(&joined, start, depth - 1)
        {
            return Some(found);
        }
    }
    None
}

fn end_for_error(path: PathBuf, error: &io::Error) -> ChainEnd {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => ChainEnd::Missing { path },
        _ if error.raw_os_error() == Some(nix::libc::ELOOP) => ChainEnd::Loop { path },
        _ => ChainEnd::Unreadable {
            path,
            error: error.to_string(),
        },
    }
}

/// Lexically remove `.` and `a/..` pairs, for loop detection and display. Not a resolution:
/// `a/..` is dropped even when `a` is a link, which is fine for comparing visited hops.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn follows_relative_and_absolute_hops_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        std::fs::create_dir(&base).unwrap();
        std::fs::write(base.join("python3.8"), b"\x7fELF").unwrap();
        symlink("python3.8", base.join("python3")).unwrap();
        let bin = dir.path().join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        symlink(base.join("python3"), bin.join("python3")).unwrap();
        symlink("python3", bin.join("python")).unwrap();

        let chain = follow(&bin.join("python"));
        assert_eq!(chain.targets.len(), 3);
        assert_eq!(
            chain.canonical(),
            Some(
                std::fs::canonicalize(base.join("python3.8"))
                    .unwrap()
                    .as_path()
            )
        );
        assert!(chain.describe().contains("-> `python3.8`"));
    }

    #[test]
    fn reports_where_a_chain_dangles() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone/bin/python3.8");
        symlink(&gone, dir.path().join("python3.8")).unwrap();
        symlink("python3.8", dir.path().join("python")).unwrap();
        let chain = follow(&dir.path().join("python"));
        assert_eq!(chain.end, ChainEnd::Missing { path: gone });
        assert!(!chain.resolves());
    }

    #[test]
    fn detects_loops_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        symlink("self", dir.path().join("self")).unwrap();
        assert!(matches!(
            follow(&dir.path().join("a")).end,
            ChainEnd::Loop { .. }
        ));
        assert!(matches!(
            follow(&dir.path().join("self")).end,
            ChainEnd::Loop { .. }
        ));
    }

    #[test]
    fn a_directory_is_not_an_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        symlink(dir.path(), dir.path().join("python")).unwrap();
        assert!(matches!(
            follow(&dir.path().join("python")).end,
            ChainEnd::NotAFile { .. }
        ));
    }

    #[test]
    fn chains_through_proc_or_dev_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        symlink("/proc/self/root/usr/bin/env", dir.path().join("python")).unwrap();
        symlink("/dev/zero", dir.path().join("python3")).unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        symlink("/proc/self/root/usr/bin", dir.path().join("sys")).unwrap();
        symlink("../sys/env", dir.path().join("bin/python3.11")).unwrap();
        symlink("sys", dir.path().join("again")).unwrap();
        symlink("../again/env", dir.path().join("bin/python3.12")).unwrap();
        for name in ["python", "python3", "bin/python3.11", "bin/python3.12"] {
            let chain = follow(&dir.path().join(name));
            assert!(
                matches!(chain.end, ChainEnd::Special { .. }),
                "{name}: {chain:?}"
            );
        }
    }

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }
}
