//! One venvfix at a time per venv (DESIGN.md rule 6): an exclusive `flock(2)` on
//! `<venvstate>/lock`, and one on the venv directory itself, both taken without waiting.
//!
//! The lock on the venv directory holds whatever state dir each run uses (`sudo` and the user,
//! two `VENVFIX_STATE_DIR`s): two runs never change one venv together. A recreate also locks
//! its new directory before it takes the venv's place ([`VenvLock::hold_dir`]).
//!
//! The lock file says who holds it (pid, start time, command line) so the second venvfix can
//! tell the user which process to wait for. The kernel releases the lock when the holder dies,
//! so a stale file never blocks anyone: the content is only a label, the lock is the truth.
//! The lock file lives in the state dir, never inside the venv; the venv directory is only
//! opened read-only to lock it.
//!
//! [`probe`] lets the read-only `check` ask whether a run is going on: it takes a shared lock
//! for an instant and drops it. A venvfix that starts in that instant sees a held lock with no
//! label; [`VenvLock::acquire`] retries a few times before it reports such a holder, so a probe
//! never makes a repair fail.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::ExecError;
use super::state::{VenvState, rfc3339_now};

/// Who holds a lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Holder {
    pub pid: u32,
    pub since: String,
    pub command: String,
}

/// A held venv lock; released on drop (and by the kernel if the process dies).
#[derive(Debug)]
pub struct VenvLock {
    file: Option<Flock<File>>,
    path: PathBuf,
    /// The venv directory (and a recreate's new one), locked too.
    dirs: Vec<Flock<File>>,
}

impl VenvLock {
    /// Take the lock of `state`'s venv, or say who holds it.
    pub fn acquire(state: &VenvState) -> Result<VenvLock, ExecError> {
        state.create()?;
        let path = state.lock_path();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| ExecError::io(&path, "open the lock file", e))?;
        // A holder without a label is a `check` probing (it lets go at once) or a venvfix that
        // has not written its label yet: worth a short wait before giving up.
        let mut unlabelled_tries = 0;
        let mut lock = loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => break lock,
                Err((mut held, Errno::EWOULDBLOCK)) => {
                    let holder = read_holder(&mut held);
                    if holder.pid == 0 && unlabelled_tries < UNLABELLED_RETRIES {
                        unlabelled_tries += 1;
                        std::thread::sleep(UNLABELLED_WAIT);
                        file = held;
                        continue;
                    }
                    return Err(ExecError::Locked {
                        venv: state.venv.clone(),
                        lock: path,
                        pid: holder.pid,
                        since: holder.since,
                        command: holder.command,
                    });
                }
                Err((_, errno)) => {
                    return Err(ExecError::io(&path, "lock", std::io::Error::from(errno)));
                }
            }
        };
        let holder = Holder {
            pid: std::process::id(),
            since: rfc3339_now(),
            // Shown to whoever waits for the lock; an argument that is not UTF-8 (a venv's
            // path) is shown lossily rather than panicking.
            command: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let text = serde_json::to_string(&holder).unwrap_or_default();
        let written = lock
            .set_len(0)
            .and_then(|()| lock.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| lock.write_all(text.as_bytes()))
            .and_then(|()| lock.sync_data());
        written.map_err(|e| ExecError::io(&path, "write the lock file", e))?;
        let mut held = VenvLock {
            file: Some(lock),
            path,
            dirs: Vec::new(),
        };
        held.hold_dir(&state.venv, &state.venv)?;
        Ok(held)
    }

    /// Also lock the directory `dir` (the venv `venv`, or the dir that is about to take its
    /// place). A missing dir, or one that is not a real directory, holds nothing to lock.
    pub fn hold_dir(&mut self, venv: &Path, dir: &Path) -> Result<(), ExecError> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(dir)
        {
            Ok(file) => file,
            Err(_) => return Ok(()),
        };
        let mut file = file;
        for _ in 0..=UNLABELLED_RETRIES {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    self.dirs.push(lock);
                    return Ok(());
                }
                Err((held, Errno::EWOULDBLOCK)) => {
                    // A `check` probing lets go at once.
                    file = held;
                    std::thread::sleep(UNLABELLED_WAIT);
                }
                Err((_, errno)) => {
                    return Err(ExecError::io(dir, "lock", std::io::Error::from(errno)));
                }
            }
        }
        Err(ExecError::Locked {
            venv: venv.to_path_buf(),
            lock: dir.to_path_buf(),
            pid: 0,
            since: String::new(),
            command: String::new(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for VenvLock {
    fn drop(&mut self) {
        if let Some(lock) = self.file.take() {
            // Clear the label while still holding the lock, so no reader sees a wrong holder;
            // dropping the `Flock` unlocks.
            let _ = lock.set_len(0);
            drop(lock);
        }
    }
}

/// How often, and how long apart, [`VenvLock::acquire`] retries a lock held without a label.
const UNLABELLED_RETRIES: u32 = 5;
const UNLABELLED_WAIT: Duration = Duration::from_millis(20);

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    serde_json::from_str(&text).unwrap_or_default()
}

/// Whether another process holds the lock on the venv directory `venv` right now (for
/// `check`; read-only, a shared lock for an instant).
pub fn probe_dir(venv: &Path) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(venv)
    else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, Errno::EWOULDBLOCK))
    )
}

/// Who holds the lock at `path` right now, if another open file (another process) holds it:
/// `Some` with the label (`pid` 0 when the holder wrote none). `None` when it is free, or there
/// is no lock file. Read-only: opens the file for reading, creates nothing, and takes a shared
/// lock only for the instant of the test.
pub fn probe(path: &Path) -> Option<Holder> {
    let file = File::open(path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(lock) => {
            drop(lock);
            None
        }
        Err((mut held, Errno::EWOULDBLOCK)) => Some(read_holder(&mut held)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_first_holder_and_drop_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("v");
        std::fs::create_dir(&venv).unwrap();
        let state = VenvState::locate(&tmp.path().join("state"), &venv).unwrap();
        let first = VenvLock::acquire(&state).unwrap();
        // flock locks belong to open file descriptions: a second open conflicts even here.
        match VenvLock::acquire(&state) {
            Err(ExecError::Locked { pid, command, .. }) => {
                assert_eq!(pid, std::process::id());
                assert!(!command.is_empty());
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        let again = VenvLock::acquire(&state).unwrap();
        drop(again);
    }

    #[test]
    fn probe_sees_a_holder_and_leaves_the_lock_free() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("v");
        std::fs::create_dir(&venv).unwrap();
        let state = VenvState::locate(&tmp.path().join("state"), &venv).unwrap();
        // No state dir: nothing held, nothing created.
        assert_eq!(probe(&state.lock_path()), None);
        assert!(!state.dir.exists());
        let held = VenvLock::acquire(&state).unwrap();
        let holder = probe(&state.lock_path()).expect("the lock is held");
        assert_eq!(holder.pid, std::process::id());
        drop(held);
        assert_eq!(probe(&state.lock_path()), None);
        // The probe's own shared lock is gone: an exclusive lock is taken at once.
        drop(VenvLock::acquire(&state).unwrap());
    }
}
