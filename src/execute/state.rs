//! Where venvfix keeps its own state for a venv, and the small filesystem primitives every
//! other part of the executor builds on: atomic writes, fsync, UTC timestamps.
//!
//! Each venv gets one directory under the state dir, keyed by a stable hash of its canonical
//! path, so the lock, the journal, the backups (with their records) and the venv's identity
//! (`venv.json`: how a moved venv's history is found) are found again by a later run (and by another release of venvfix: the hash is FNV-1a 64, not `DefaultHasher`).
//! Nothing here writes inside a venv; computing a path never creates anything (`check` calls
//! [`VenvState::locate`] and must stay read-only).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ExecError;
use crate::safe_read::{self, Follow};

/// FNV-1a, 64 bits: stable across Rust releases and platforms, unlike `DefaultHasher`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The canonical path of a venv root. A venv moved aside by an interrupted recreate no longer
/// exists, so the parent is canonicalized and the last component kept as given.
pub fn canonical_venv(venv: &Path) -> Result<PathBuf, ExecError> {
    match fs::canonicalize(venv) {
        Ok(path) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (Some(parent), Some(name)) = (venv.parent(), venv.file_name()) else {
                return Err(ExecError::io(venv, "resolve the venv path", e));
            };
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            let parent = fs::canonicalize(parent)
                .map_err(|e| ExecError::io(parent, "resolve the venv's parent directory", e))?;
            Ok(parent.join(name))
        }
        Err(e) => Err(ExecError::io(venv, "resolve the venv path", e)),
    }
}

/// The state of one venv: `<state>/venvs/<name>-<hash16>/`.
#[derive(Debug, Clone)]
pub struct VenvState {
    /// The venv root, canonical.
    pub venv: PathBuf,
    /// `<state>/venvs/<name>-<hash16>`.
    pub dir: PathBuf,
}

impl VenvState {
    /// Compute the paths for `venv` without creating anything.
    pub fn locate(state_dir: &Path, venv: &Path) -> Result<VenvState, ExecError> {
        let venv = canonical_venv(venv)?;
        let hash = fnv1a64(venv.as_os_str().as_bytes());
        let name = venv
            .file_name()
            .map(OsStr::to_string_lossy)
            .unwrap_or_default();
        // Keep the readable part short and free of anything a shell would trip on.
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        // `.venv` would make a hidden state dir; `venv-<hash>` lists like the others.
        let name = name.trim_start_matches('.');
        let dir = state_dir.join("venvs").join(format!("{name}-{hash:016x}"));
        Ok(VenvState { venv, dir })
    }

    /// Create the venv's state dir (and `backups/`) if missing.
    pub fn create(&self) -> Result<(), ExecError> {
        let backups = self.backups_dir();
        fs::create_dir_all(&backups)
            .map_err(|e| ExecError::io(&backups, "create the state directory", e))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.json")
    }

    /// `last.json` of an older venvfix (see [`super::journal::LastRepair`]).
    pub fn last_path(&self) -> PathBuf {
        self.dir.join("last.json")
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.dir.join("backups")
    }
}

/// Seconds since the epoch, now.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `(year, month, day, hour, minute, second)` in UTC for `secs` since the epoch.
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// RFC 3339 UTC time, `2026-05-09T07:35:25Z`.
pub fn rfc3339_now() -> String {
    let (y, mo, d, h, mi, s) = civil(now_secs());
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// A compact UTC time for directory names, `20260509T073525Z`.
pub fn compact_now() -> String {
    let (y, mo, d, h, mi, s) = civil(now_secs());
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Create a new, unique directory `<parent>/<stamp>-<counter>` (the counter makes two runs in
/// the same second distinct).
pub fn unique_dir(parent: &Path, stamp: &str) -> Result<PathBuf, ExecError> {
    for counter in 0..10_000u32 {
        let dir = parent.join(format!("{stamp}-{counter}"));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(ExecError::io(&dir, "create a backup directory", e)),
        }
    }
    Err(ExecError::io(
        parent,
        "create a backup directory",
        std::io::Error::other("10000 backups in the same second"),
    ))
}

/// fsync a directory so a rename in it survives a crash. Best effort: some filesystems refuse.
pub fn sync_dir(dir: &Path) {
    if let Ok(file) = File::open(dir) {
        let _ = file.sync_all();
    }
}

/// `<dir>/.<name>.venvfix-tmp`: the one temp name used beside `target`.
pub fn temp_beside(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or_else(|| OsStr::new("entry"));
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(".venvfix-tmp");
    target.with_file_name(temp)
}

/// Remove `path` if it exists and is not a directory (a leftover temp file or link).
pub fn remove_leftover(path: &Path) -> Result<(), ExecError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(ExecError::Refused {
            path: path.to_path_buf(),
            op: "remove a leftover temp entry".into(),
            why: "it is a directory, not a file venvfix made".into(),
        }),
        Ok(_) => fs::remove_file(path)
            .map_err(|e| ExecError::io(path, "remove a leftover temp entry", e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ExecError::io(path, "inspect a leftover temp entry", e)),
    }
}

/// Replace `path` atomically with a new file: a temp file is created beside it, `fill` writes
/// it, it gets `mode`, is fsynced and renamed over `path`, then the directory is fsynced. On any
/// failure the temp file is removed and `path` is untouched.
pub fn replace_file_atomically(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    replace_file(path, mode, true, fill)
}

/// [`replace_file_atomically`], with the fsyncs only when `durable`: a crash may then leave
/// the previous version of `path` (never a torn one), which is all a progress note needs.
fn replace_file(
    path: &Path,
    mode: u32,
    durable: bool,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let temp = temp_beside(path);
    remove_leftover(&temp)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(|e| ExecError::io(&temp, "create a temp file", e))?;
        fill(&mut file, &temp)?;
        // Set after writing: the umask may have cut bits from a creation mode.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| ExecError::io(&temp, "set the mode of a temp file", e))?;
        if durable {
            file.sync_all()
                .map_err(|e| ExecError::io(&temp, "fsync a temp file", e))?;
        }
        fs::rename(&temp, path).map_err(|e| ExecError::io(path, "rename a temp file over", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    if durable && let Some(parent) = path.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Write `bytes` to `path` atomically with `mode` (see [`replace_file_atomically`]).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ExecError> {
    replace_file_atomically(path, mode, |file, temp| {
        file.write_all(bytes)
            .map_err(|e| ExecError::io(temp, "write a temp file", e))
    })
}

/// Serialize `value` as JSON and replace `path` with it atomically but without fsync (see
/// [`replace_file`]): for notes whose loss in a crash changes nothing (a journal's progress,
/// when recovery restores every backed-up entry whatever the progress says).
pub fn write_json_unsynced<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ExecError> {
    let text = serde_json::to_vec(value)
        .map_err(|e| ExecError::io(path, "serialize JSON", std::io::Error::other(e.to_string())))?;
    replace_file(path, 0o644, false, |file, temp| {
        file.write_all(&text)
            .map_err(|e| ExecError::io(temp, "write a temp file", e))
    })
}

/// Serialize `value` as pretty JSON and write it atomically (mode 0o644).
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ExecError> {
    let mut text = serde_json::to_vec_pretty(value)
        .map_err(|e| ExecError::io(path, "serialize JSON", std::io::Error::other(e.to_string())))?;
    text.push(b'\n');
    write_atomic(path, &text, 0o644)
}

/// Read and parse a JSON file; `None` if it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ExecError> {
    let bytes = match safe_read::read(path, safe_read::limit::STATE, Follow::Never) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(ExecError::io(path, "read", e.into_io())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ExecError::Corrupt {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_known_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(1_778_312_125), (2026, 5, 9, 7, 35, 25));
    }

    #[test]
    fn state_dir_is_keyed_by_name_and_stable_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("proj.venv");
        let state = VenvState::locate(Path::new("/state"), &venv).unwrap();
        let canonical = fs::canonicalize(tmp.path()).unwrap().join("proj.venv");
        let want = format!(
            "/state/venvs/proj.venv-{:016x}",
            fnv1a64(canonical.as_os_str().as_bytes())
        );
        assert_eq!(state.dir, PathBuf::from(want));
    }

    #[test]
    fn temp_name_is_hidden_beside_the_target() {
        assert_eq!(
            temp_beside(Path::new("/v/bin/python3")),
            PathBuf::from("/v/bin/.python3.venvfix-tmp")
        );
    }
}
