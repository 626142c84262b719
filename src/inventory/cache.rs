//! The probe cache: what each interpreter answered, so a warm `venvfix pythons` runs nothing.
//!
//! One JSON file, `<cache dir>/interpreters.json`, maps canonical executable paths to the
//! answer and the file's identity when it was probed (device, inode, size, mtime and ctime in
//! nanoseconds). Any difference means the file was replaced or rewritten (an upgrade in place,
//! a rebuilt prefix) and the answer is stale; ctime also catches a `touch -m` back to the old
//! mtime. The file carries a format number: another number, or anything unreadable, is treated
//! as an empty cache and overwritten. Only successful probes are cached: a failure may be
//! temporary and is worth asking again.
//!
//! The cache is an optimisation and must never be the reason a run fails: an unreadable or
//! unwritable cache is skipped. Writes are atomic (a temporary file in the same dir, renamed
//! over), so a concurrent venvfix reads either the old file or the new one, never half of one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::probe::ProbeInfo;

/// Bump when the meaning or shape of an entry changes.
pub const FORMAT: u32 = 2;

/// The cache file's name inside the cache dir.
pub const FILE_NAME: &str = "interpreters.json";

/// Identity and change time of an executable: equal keys mean the same bytes (as far as the
/// filesystem can tell without reading them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileKey {
    /// The key from metadata of the file itself (links followed).
    pub fn from_metadata(meta: &fs::Metadata) -> Self {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// The key of the file at `path` now; `None` if it cannot be read.
    pub fn of(path: &Path) -> Option<Self> {
        fs::metadata(path).ok().map(|m| FileKey::from_metadata(&m))
    }
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: FileKey,
    pub info: ProbeInfo,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    interpreters: BTreeMap<PathBuf, Entry>,
}

/// Why the cache could not be saved (never fatal; kept typed for `-v` and tests).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("could not create cache dir `{path}`: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write cache file `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The cache as loaded, plus what this run learned.
#[derive(Debug, Default)]
pub struct Cache {
    entries: BTreeMap<PathBuf, Entry>,
    /// Whether `entries` differs from the file (or the file was absent, stale or corrupt).
    dirty: bool,
}

impl Cache {
    /// Load `<dir>/interpreters.json`. Missing, unreadable, corrupt or another format: empty
    /// (and marked dirty when a file was there, so it is rewritten).
    pub fn load(dir: &Path) -> Cache {
        let path = dir.join(FILE_NAME);
        let Ok(bytes) = crate::safe_read::read(
            &path,
            crate::safe_read::limit::STATE,
            crate::safe_read::Follow::Never,
        ) else {
            return Cache::default();
        };
        match serde_json::from_slice::<CacheFile>(&bytes) {
            Ok(file) if file.format == FORMAT => Cache {
                entries: file.interpreters,
                dirty: false,
            },
            _ => Cache {
                entries: BTreeMap::new(),
                dirty: true,
            },
        }
    }

    /// An empty cache that will overwrite the file (for `--refresh`).
    pub fn empty_for_rewrite() -> Cache {
        Cache {
            entries: BTreeMap::new(),
            dirty: true,
        }
    }

    /// The cached answer for `path`, if the file still has the key it was probed with.
    /// A stale entry is dropped.
    pub fn get(&mut self, path: &Path, key: &FileKey) -> Option<ProbeInfo> {
        match self.entries.get(path) {
            Some(entry) if entry.key == *key => Some(entry.info.clone()),
            Some(_) => {
                self.entries.remove(path);
                self.dirty = true;
                None
            }
            None => None,
        }
    }

    /// Remember a fresh answer.
    pub fn insert(&mut self, path: PathBuf, key: FileKey, info: ProbeInfo) {
        self.entries.insert(path, Entry { key, info });
        self.dirty = true;
    }

    /// Forget `path` (its probe failed).
    pub fn remove(&mut self, path: &Path) {
        if self.entries.remove(path).is_some() {
            self.dirty = true;
        }
    }

    /// Drop entries whose file is gone, so the cache does not grow with every uninstall.
    pub fn prune_missing(&mut self) {
        let before = self.entries.len();
        self.entries.retain(|path, _| path.exists());
        if self.entries.len() != before {
            self.dirty = true;
        }
    }

    /// Whether saving would change the file.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Write the cache atomically when it changed.
    pub fn save(&self, dir: &Path) -> Result<(), CacheError> {
        if !self.dirty {
            return Ok(());
        }
        fs::create_dir_all(dir).map_err(|source| CacheError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let write_err = |source| CacheError::Write {
            path: path.clone(),
            source,
        };
        let file = CacheFile {
            format: FORMAT,
            interpreters: self.entries.clone(),
        };
        let text =
            serde_json::to_vec_pretty(&file).map_err(|e| write_err(std::io::Error::other(e)))?;
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
        temp.write_all(&text).map_err(write_err)?;
        temp.as_file().sync_all().map_err(write_err)?;
        temp.persist(&path).map_err(|e| write_err(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::PythonVersion;

    fn info(version: &str) -> ProbeInfo {
        ProbeInfo {
            version: version.parse().unwrap_or(PythonVersion::new(0, 0, 0)),
            implementation: "cpython".into(),
            base_prefix: "/p".into(),
            base_exec_prefix: "/p".into(),
            executable: "/p/bin/python3".into(),
            platform: "linux".into(),
            compiled_prefix: None,
        }
    }

    fn key(ctime_ns: i128) -> FileKey {
        FileKey {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns,
        }
    }

    #[test]
    fn a_changed_key_invalidates_the_entry() {
        let mut cache = Cache::default();
        let path = PathBuf::from("/p/bin/python3.12");
        cache.insert(path.clone(), key(5), info("3.12.1"));
        assert_eq!(cache.get(&path, &key(5)), Some(info("3.12.1")));
        assert_eq!(cache.get(&path, &key(6)), None);
        // Stale entries are dropped, not kept for a later match.
        assert_eq!(cache.get(&path, &key(5)), None);
    }

    #[test]
    fn round_trips_and_rejects_corrupt_or_other_formats() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::default();
        cache.insert("/p/bin/python3.12".into(), key(5), info("3.12.1"));
        cache.save(dir.path()).unwrap();

        let mut loaded = Cache::load(dir.path());
        assert!(!loaded.is_dirty());
        assert_eq!(
            loaded.get(Path::new("/p/bin/python3.12"), &key(5)),
            Some(info("3.12.1"))
        );

        fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let corrupt = Cache::load(dir.path());
        assert!(corrupt.is_dirty() && corrupt.entries.is_empty());

        fs::write(
            dir.path().join(FILE_NAME),
            br#"{"format": 999, "interpreters": {}}"#,
        )
        .unwrap();
        assert!(Cache::load(dir.path()).is_dirty());
    }

    #[test]
    fn a_clean_cache_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::load(dir.path());
        cache.save(dir.path()).unwrap();
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn an_unwritable_dir_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let mut cache = Cache::default();
        cache.insert("/x".into(), key(1), info("3.12.1"));
        let err = cache.save(&blocker.join("cache")).unwrap_err();
        assert!(matches!(err, CacheError::CreateDir { .. }), "{err}");
    }

    #[test]
    fn key_reads_real_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("python3");
        fs::write(&file, b"one").unwrap();
        let first = FileKey::of(&file).unwrap();
        fs::write(&file, b"three").unwrap();
        let second = FileKey::of(&file).unwrap();
        assert_eq!(first.ino, second.ino);
        assert_ne!(first, second);
        assert_eq!(FileKey::of(&dir.path().join("missing")), None);
    }
}
