//! Where a venv's interpreter finds its standard library when `home` leads nowhere, worked out
//! the way CPython's `getpath` does, from files only.
//!
//! CPython looks for `lib/pythonX.Y/os.py` (or `os.pyc`) in `home` and each directory above it,
//! stopping before `/` (its `dirname` of `/x` is empty); then it falls back to the prefix
//! compiled into it (`PREFIX`, in the binary or in the `libpython` it loads) and, when that has
//! no standard library either, dies with `No module named 'encodings'`. What `sysconfig` says
//! the prefix is comes from a file of the standard library (`_sysconfigdata`), not from the
//! binary, so it can name a prefix the binary never uses. This module reads the binary itself:
//! the absolute paths in its strings, one of which is `PREFIX`, and whether any of them holds a
//! standard library of the minor.
//!
//! It never runs anything and never writes: the bytes it is handed may come from a venv (a
//! `--copies` binary), so they are only scanned, and the paths found are only `stat`ed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::version::PythonVersion;

/// More candidate paths than any interpreter binary holds: past it, the bytes are not one.
const MAX_CANDIDATES: usize = 20_000;

/// Whether `prefix` holds the standard library of `minor` (`lib/pythonX.Y/os.py` or `os.pyc`),
/// the landmark CPython looks for.
pub fn has_stdlib(prefix: &Path, minor: &PythonVersion) -> bool {
    let lib = prefix.join("lib").join(format!("python{}", minor.short()));
    lib.join("os.py").is_file() || lib.join("os.pyc").is_file()
}

/// The prefix CPython finds by searching up from `home` (`home` itself, then each directory
/// above it, never `/`), if any.
pub fn search_up(home: &Path, minor: &PythonVersion) -> Option<PathBuf> {
    home.ancestors()
        .filter(|dir| dir.parent().is_some())
        .find(|dir| has_stdlib(dir, minor))
        .map(Path::to_path_buf)
}

/// What a binary falls back to once the search from `home` found nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// A prefix compiled into the binary that holds the standard library: it starts with it.
    Prefix(PathBuf),
    /// No path compiled into the binary holds a standard library of the minor: it cannot start.
    Nowhere,
    /// The bytes hold no absolute path at all, or too many to be an interpreter's: unknown.
    Unknown,
}

/// The fallback of a binary whose code is `binaries` (the executable, and the `libpython` it
/// loads when it is a launcher), for `minor`. `hint` (what `sysconfig` says the prefix is) is
/// preferred when the binary holds it too.
pub fn compiled_fallback(
    binaries: &[&[u8]],
    minor: &PythonVersion,
    hint: Option<&Path>,
) -> Fallback {
    let mut candidates = BTreeSet::new();
    for bytes in binaries {
        if !absolute_paths(bytes, &mut candidates) {
            return Fallback::Unknown;
        }
    }
    if candidates.is_empty() {
        return Fallback::Unknown;
    }
    if let Some(hint) = hint
        && candidates.contains(hint)
        && has_stdlib(hint, minor)
    {
        return Fallback::Prefix(hint.to_path_buf());
    }
    match candidates.into_iter().find(|p| has_stdlib(p, minor)) {
        Some(prefix) => Fallback::Prefix(prefix),
        None => Fallback::Nowhere,
    }
}

/// Add to `out` every clean absolute path among the NUL-terminated strings of `bytes`: a whole
/// string, or the tail of one from a `/` on (a linker may store `/usr` as the end of
/// `/opt/usr`). `false` when there are too many to be an interpreter's strings.
fn absolute_paths(bytes: &[u8], out: &mut BTreeSet<PathBuf>) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let path_byte = |b: u8| b.is_ascii_alphanumeric() || b"/._+@~,=-".contains(&b) || b >= 0x80;
    let mut add = |candidate: &[u8]| {
        if clean_absolute(candidate) {
            out.insert(PathBuf::from(std::ffi::OsStr::from_bytes(candidate)));
        }
        out.len() <= MAX_CANDIDATES
    };
    for text in bytes.split(|b| *b == 0) {
        if text.len() < 2 || text.len() > 4096 || !text.contains(&b'/') {
            continue;
        }
        // A prefix with spaces (`/home/Jane Doe/.pyenv/...`) is a whole string.
        if text[0] == b'/' && text.iter().all(|b| *b >= b' ' && *b != 0x7f) && !add(text) {
            return false;
        }
        let start = text
            .iter()
            .rposition(|b| !path_byte(*b))
            .map_or(0, |p| p + 1);
        let tail = &text[start..];
        for (n, b) in tail.iter().enumerate() {
            if *b == b'/' && !add(&tail[n..]) {
                return false;
            }
        }
    }
    true
}

/// `/a/b`: absolute, valid UTF-8, no empty, `.` or `..` component, not `/` alone.
fn clean_absolute(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    std::str::from_utf8(path).is_ok()
        && !rest.is_empty()
        && rest
            .split(|b| *b == b'/')
            .all(|c| !c.is_empty() && c != b"." && c != b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(bytes: &[u8]) -> Vec<String> {
        let mut out = BTreeSet::new();
        assert!(absolute_paths(bytes, &mut out));
        out.iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn strings_and_their_path_tails_are_candidates() {
        let bytes = b"\x7fELF\0WITH_NEXT_FRAMEWORK\0/usr\0/bin:/usr/bin\0/\0/.\0//\0\
                      see https://docs.python.org/3\0/home/Jane Doe/py\0x/../y\0";
        assert_eq!(
            paths(bytes),
            [
                "/3",
                "/bin",
                "/bin:/usr/bin",
                "/docs.python.org/3",
                "/home/Jane Doe/py",
                "/py",
                "/usr",
                "/usr/bin",
                "/y",
            ]
        );
    }

    #[test]
    fn the_fallback_is_the_compiled_path_holding_the_stdlib() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let minor = PythonVersion::minor_only(3, 12);
        let prefix = root.join("install");
        std::fs::create_dir_all(prefix.join("lib/python3.12")).unwrap();
        std::fs::write(prefix.join("lib/python3.12/os.py"), "").unwrap();
        let with = format!("\0{}\0/nonexistent/x\0", prefix.display());
        assert_eq!(
            compiled_fallback(&[with.as_bytes()], &minor, None),
            Fallback::Prefix(prefix.clone())
        );
        let without = format!("\0{}/gone\0/nonexistent/x\0", root.display());
        assert_eq!(
            compiled_fallback(&[without.as_bytes()], &minor, None),
            Fallback::Nowhere
        );
        assert_eq!(
            compiled_fallback(&[b"no paths here\0"], &minor, None),
            Fallback::Unknown
        );
        // The launcher's strings and its libpython's are read together.
        assert_eq!(
            compiled_fallback(&[b"\0/nonexistent/x\0", with.as_bytes()], &minor, None),
            Fallback::Prefix(prefix)
        );
    }

    #[test]
    fn the_search_from_home_stops_before_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let minor = PythonVersion::minor_only(3, 12);
        std::fs::create_dir_all(root.join("py/lib/python3.12")).unwrap();
        std::fs::write(root.join("py/lib/python3.12/os.pyc"), "").unwrap();
        assert_eq!(
            search_up(&root.join("py/bin/gone"), &minor),
            Some(root.join("py"))
        );
        assert_eq!(search_up(&root.join("other/bin"), &minor), None);
        assert_eq!(search_up(Path::new("/"), &minor), None);
    }
}
