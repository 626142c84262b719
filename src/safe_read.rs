//! Reading the small files venvs are described by (`pyvenv.cfg`, `orig-prefix.txt`,
//! `METADATA`, `RECORD`, `WHEEL`, `top_level.txt`, `direct_url.json`, `*.egg-link`, `.pth`,
//! the first line of a script) without trusting them (DESIGN.md rule 8).
//!
//! A venv may come from a cloned repository: any of those names can be a FIFO (a plain `read`
//! blocks forever), a link to `/dev/zero` (never ends), a 1 GB sparse file, or a link into
//! `/proc` (whose meaning depends on who reads it). Every read here opens with `O_NONBLOCK`
//! (a FIFO opens at once instead of waiting for a writer) and `O_NOCTTY`, checks with `fstat`
//! on the open descriptor (not a racy `lstat` before) that it is a regular file, refuses a file
//! that lives under `/proc`, `/sys` or `/dev` whatever link led there, and never reads more
//! than a bound given by the caller, even when the size it reported lied. [`Follow::Never`]
//! adds `O_NOFOLLOW` for files venvfix will also rewrite. Errors are typed and name the file.
//! This module never writes and never executes anything.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bounds for the files venvfix reads, by kind. Generous for real files, small enough that a
/// hostile one costs nothing.
pub mod limit {
    /// `pyvenv.cfg`, `orig-prefix.txt`, `*.egg-link`, `INSTALLER`, `WHEEL`, `top_level.txt`.
    pub const SMALL: u64 = 1 << 20;
    /// `METADATA` / `PKG-INFO` (long descriptions are inlined), `direct_url.json`, `.pth`.
    pub const METADATA: u64 = 16 << 20;
    /// `RECORD` (one line per installed file).
    pub const RECORD: u64 = 64 << 20;
    /// venvfix's own JSON in the state dir (journals, manifests, caches).
    pub const STATE: u64 = 64 << 20;
}

/// Whether the last component may be a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Follow links (as Python itself does), still refusing `/proc`, `/sys` and `/dev`.
    Links,
    /// `O_NOFOLLOW`: a link at the last component is refused (files venvfix also rewrites).
    Never,
}

/// Why a file was not read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("`{}` is {what}, not a regular file; venvfix reads only regular files", path.display())]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("`{}` leads into `{}`; venvfix never follows links into /proc, /sys or /dev", path.display(), real.display())]
    Special { path: PathBuf, real: PathBuf },
    #[error("`{}` is larger than the {limit} bytes venvfix reads for such a file", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("could not read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ReadError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::NotFound { path }
            | ReadError::NotRegular { path, .. }
            | ReadError::Special { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::Io { path, .. } => path,
        }
    }

    /// What is wrong, without the path, for callers that already name the file
    /// (`cannot read `pyvenv.cfg`: it is a FIFO, ...`).
    pub fn reason(&self) -> String {
        match self {
            ReadError::NotFound { .. } => "it does not exist".into(),
            ReadError::NotRegular { what, .. } => {
                format!("it is {what}, not a regular file; venvfix reads only regular files")
            }
            ReadError::Special { real, .. } => format!(
                "it leads into `{}`; venvfix never follows links into /proc, /sys or /dev",
                real.display()
            ),
            ReadError::TooLarge { limit, .. } => {
                format!("it is larger than the {limit} bytes venvfix reads for such a file")
            }
            ReadError::Io { source, .. } => source.to_string(),
        }
    }

    /// Whether the file simply is not there (callers often treat that as "absent").
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::NotFound { .. })
    }

    /// The same error as an `io::Error` (kind kept for `NotFound`), for callers with io errors.
    pub fn into_io(self) -> std::io::Error {
        let kind = match &self {
            ReadError::NotFound { .. } => std::io::ErrorKind::NotFound,
            ReadError::Io { source, .. } => source.kind(),
            ReadError::TooLarge { .. } => std::io::ErrorKind::FileTooLarge,
            _ => std::io::ErrorKind::InvalidInput,
        };
        std::io::Error::new(kind, self.to_string())
    }
}

/// Open `path` for reading if it is a regular file outside `/proc`, `/sys` and `/dev`, without
/// ever blocking. The returned file is positioned at 0.
pub fn open_regular(path: &Path, follow: Follow) -> Result<File, ReadError> {
    let mut flags = nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY;
    if follow == Follow::Never {
        flags |= nix::libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ReadError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) && follow == Follow::Never => {
            return Err(ReadError::NotRegular {
                path: path.to_path_buf(),
                what: "a symlink",
            });
        }
        Err(e) => {
            return Err(ReadError::Io {
                path: path.to_path_buf(),
                source: e,
            });
        }
    };
    let meta = file.metadata().map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = meta.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("a special file")
    };
    if let Some(what) = what {
        return Err(ReadError::NotRegular {
            path: path.to_path_buf(),
            what,
        });
    }
    if follow == Follow::Links
        && let Some(real) = special_location(&file)
    {
        return Err(ReadError::Special {
            path: path.to_path_buf(),
            real,
        });
    }
    Ok(file)
}

/// Where an open file really is, when that is under `/proc`, `/sys` or `/dev`.
fn special_location(file: &File) -> Option<PathBuf> {
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    ["/proc", "/sys", "/dev"]
        .iter()
        .any(|top| real.starts_with(top))
        .then_some(real)
}

/// The whole content of the regular file `path`, at most `limit` bytes (more is an error).
pub fn read(path: &Path, limit: u64, follow: Follow) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, follow)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // One byte over the bound tells a file that grew (or lied about its size) from one that fits.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read`], with `Ok(None)` when the file does not exist.
pub fn read_optional(
    path: &Path,
    limit: u64,
    follow: Follow,
) -> Result<Option<Vec<u8>>, ReadError> {
    match read(path, limit, follow) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`read`] as UTF-8 (invalid sequences replaced: these files are ASCII by specification).
pub fn read_text(path: &Path, limit: u64, follow: Follow) -> Result<String, ReadError> {
    read(path, limit, follow).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// At most the first `len` bytes of the regular file `path` (a script's shebang, a binary's
/// magic number); fewer if the file is shorter.
pub fn read_head(path: &Path, len: usize, follow: Follow) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, follow)?;
    let mut bytes = Vec::with_capacity(len);
    file.take(len as u64)
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn regular_files_are_read_up_to_the_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("pyvenv.cfg");
        std::fs::write(&file, "home = /usr/bin\n").unwrap();
        assert_eq!(
            read(&file, 100, Follow::Never).unwrap(),
            b"home = /usr/bin\n"
        );
        assert_eq!(read_head(&file, 4, Follow::Links).unwrap(), b"home");
        let err = read(&file, 4, Follow::Links).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("pyvenv.cfg"), "{err}");
        assert_eq!(
            read_optional(&tmp.path().join("nothing"), 10, Follow::Links).unwrap(),
            None
        );
    }

    #[test]
    fn a_sparse_giant_is_refused_without_reading_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("pyvenv.cfg");
        File::create(&file).unwrap().set_len(1 << 30).unwrap();
        let err = read(&file, limit::SMALL, Follow::Links).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn fifos_devices_proc_and_links_are_refused_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("METADATA");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let err = read(&fifo, limit::SMALL, Follow::Links).unwrap_err();
        assert!(
            matches!(err, ReadError::NotRegular { what: "a FIFO", .. }),
            "{err}"
        );
        let zero = tmp.path().join("zero");
        symlink("/dev/zero", &zero).unwrap();
        let err = read(&zero, limit::SMALL, Follow::Links).unwrap_err();
        assert!(matches!(err, ReadError::NotRegular { .. }), "{err}");
        let proc = tmp.path().join("proc");
        symlink("/proc/self/status", &proc).unwrap();
        let err = read(&proc, limit::SMALL, Follow::Links).unwrap_err();
        assert!(matches!(err, ReadError::Special { .. }), "{err}");
        let real = tmp.path().join("real");
        std::fs::write(&real, "x").unwrap();
        let link = tmp.path().join("link");
        symlink(&real, &link).unwrap();
        assert_eq!(read(&link, 10, Follow::Links).unwrap(), b"x");
        let err = read(&link, 10, Follow::Never).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegular {
                    what: "a symlink",
                    ..
                }
            ),
            "{err}"
        );
        let err = read(tmp.path(), 10, Follow::Links).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegular {
                    what: "a directory",
                    ..
                }
            ),
            "{err}"
        );
    }
}
