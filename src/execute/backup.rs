//! Backups (DESIGN.md rule 4): before any change, every venv entry a plan touches is saved
//! under `<venvstate>/backups/<UTC stamp>-<n>/`, with a `manifest.json` that says what each
//! entry was: a symlink and its target as written, a regular file with its mode, size and hash,
//! or nothing at all. A plan may also replace a tool's link to the venv that lives outside it
//! (pyenv-virtualenv's `versions/NAME`): such an external entry is recorded by its absolute
//! path, may only be a link (or nothing), and is restored only as a link, never through a
//! linked directory ([`super::writable::check_outside`]).
//!
//! Restoring a backup is the one code path shared by rollback, recovery of an interrupted run
//! and `undo`; it is idempotent, so a restore that is itself interrupted can simply run again.
//! This module never follows a symlink (links are saved and restored as links, rule 3), never
//! deletes a directory it did not create, and never writes inside the venv except the entries
//! of the manifest, each replaced atomically.
//!
//! [`AfterRepair`] is the other half of an exact undo: what the touched entries looked like
//! right after a successful repair, so `undo` can tell whether someone changed them since and
//! refuse to throw that work away.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ExecError;
use super::state::{
    compact_now, fnv1a64, remove_leftover, replace_file_atomically, rfc3339_now, sync_dir,
    temp_beside, unique_dir, write_json,
};

/// What one entry was when it was backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EntryKind {
    /// A symlink; `target` exactly as written (relative or absolute, maybe dangling).
    Symlink { target: PathBuf },
    /// A regular file; its bytes are saved under `entries/` in the backup.
    File { mode: u32, size: u64, hash: String },
    /// Nothing was there.
    Absent,
    /// A whole directory tree, moved rather than copied (only the whole venv, for recreate).
    Tree,
}

/// One backed-up entry, relative to the venv root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: PathBuf,
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// `manifest.json` of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The venv root (canonical).
    pub venv: PathBuf,
    pub created_at: String,
    /// Why the backup was taken: `repair` or `undo`.
    pub reason: String,
    /// The whole venv was moved to `venv/` in the backup (recreate).
    pub whole_venv: bool,
    pub entries: Vec<Entry>,
    /// Links outside the venv the repair replaces (absolute paths; each a [`EntryKind::Symlink`]
    /// or [`EntryKind::Absent`]), saved as `external/<index>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external: Vec<Entry>,
    /// Where a whole venv is kept when that is not `venv/` in the backup: a venv on another
    /// filesystem than the state dir is moved aside on its own filesystem (a rename, never a
    /// copy), into a hidden dir beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<PathBuf>,
}

/// A backup on disk.
#[derive(Debug, Clone)]
pub struct Backup {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// The identity of the empty directory venvfix made for a recreate (`created.json`): only that
/// directory may be removed when a recreate is rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedDir {
    pub dev: u64,
    pub ino: u64,
    /// Birth time (ns since the epoch) where the filesystem records it: inode numbers are
    /// reused.
    pub birth_ns: Option<u128>,
}

impl CreatedDir {
    /// The identity of the real directory at `path` (never through a link); `None` when it is
    /// missing, a link, or not a directory.
    pub fn of(path: &Path) -> Option<CreatedDir> {
        let meta = fs::symlink_metadata(path).ok()?;
        (meta.is_dir() && !meta.is_symlink()).then(|| CreatedDir {
            dev: meta.dev(),
            ino: meta.ino(),
            birth_ns: birth_ns(&meta),
        })
    }

    /// Whether `other` is the same directory: same device and inode, and the same birth time
    /// where both know it (inode numbers are reused).
    pub fn same(&self, other: &CreatedDir) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
            && (self.birth_ns.is_none()
                || other.birth_ns.is_none()
                || self.birth_ns == other.birth_ns)
    }
}

fn birth_ns(meta: &fs::Metadata) -> Option<u128> {
    meta.created()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_nanos())
}

/// One entry put back by a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// Relative to the venv root (`.` for a whole venv); absolute for a link outside it.
    pub path: PathBuf,
    /// What it is now, as the backup recorded it.
    pub kind: EntryKind,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        match &self.kind {
            EntryKind::Symlink { target } => write!(f, "{path} -> {}", target.display()),
            EntryKind::File { .. } => write!(f, "{path}"),
            EntryKind::Absent => write!(f, "{path} (removed)"),
            EntryKind::Tree => write!(f, "the whole venv (moved back)"),
        }
    }
}

/// Refuse an external entry's path that is not absolute and plain (no `.` or `..`), or is `/`.
pub fn check_absolute(path: &Path) -> Result<(), ExecError> {
    let mut components = path.components();
    let ok = components.next() == Some(Component::RootDir)
        && path.file_name().is_some()
        && components.all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(ExecError::InvalidPlan {
            path: path.to_path_buf(),
            why: format!(
                "`{}`: an entry outside the venv must be an absolute path without `.` or `..`",
                path.display()
            ),
        })
    }
}

/// Refuse plan paths that could leave the venv: absolute, `..`, or empty.
pub fn check_relative(path: &Path) -> Result<(), ExecError> {
    let ok = !path.as_os_str().is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(ExecError::InvalidPlan {
            path: path.to_path_buf(),
            why: format!(
                "`{}`: an entry path must be relative to the venv, without `..`",
                path.display()
            ),
        })
    }
}

const MANIFEST: &str = "manifest.json";
const ENTRIES: &str = "entries";
const EXTERNAL: &str = "external";
/// The newest manifest format this venvfix reads: 2 added entries outside the venv.
const MANIFEST_FORMAT: u32 = 2;
const WHOLE: &str = "venv";
const CREATED: &str = "created.json";
/// Where a recreate's new venv dir is made, and its identity recorded, before it is renamed
/// into the venv's place: the venv path only ever holds the original or a dir venvfix knows.
const NEW: &str = "new";

impl Backup {
    /// A new, empty backup dir under `backups`, to be named in the journal before it is filled
    /// ([`Backup::take_in`], [`Backup::prepare_whole_in`]).
    pub fn reserve(backups: &Path) -> Result<PathBuf, ExecError> {
        fs::create_dir_all(backups)
            .map_err(|e| ExecError::io(backups, "create the backups directory", e))?;
        unique_dir(backups, &compact_now())
    }

    /// A backup dir killed before its manifest was written: it never backed anything up.
    pub fn incomplete(dir: &Path) -> bool {
        fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
            && fs::symlink_metadata(dir.join(MANIFEST)).is_err()
    }

    /// Save the current state of `paths` (relative to `venv`) into a new backup dir.
    pub fn take(
        venv: &Path,
        paths: &[PathBuf],
        backups: &Path,
        reason: &str,
    ) -> Result<Backup, ExecError> {
        Backup::take_in(Backup::reserve(backups)?, venv, paths, &[], reason)
    }

    /// [`Backup::take`] into the reserved, empty `dir`, with the links outside the venv in
    /// `external` (absolute paths; anything there but a link, or nothing, is refused).
    pub fn take_in(
        dir: PathBuf,
        venv: &Path,
        paths: &[PathBuf],
        external: &[PathBuf],
        reason: &str,
    ) -> Result<Backup, ExecError> {
        let mut entries: Vec<Entry> = Vec::new();
        for rel in paths {
            check_relative(rel)?;
            if entries.iter().any(|e| e.path == *rel) {
                continue;
            }
            let kind = save_entry(&venv.join(rel), &dir.join(ENTRIES).join(rel))?;
            entries.push(Entry {
                path: rel.clone(),
                kind,
            });
        }
        let mut outside: Vec<Entry> = Vec::new();
        for path in external {
            if outside.iter().any(|e| e.path == *path) {
                continue;
            }
            let kind = save_external(path, &dir.join(EXTERNAL).join(outside.len().to_string()))?;
            outside.push(Entry {
                path: path.clone(),
                kind,
            });
        }
        let manifest = Manifest {
            // A venvfix that knew only format 1 would restore the venv and not the links
            // outside it; one that checks the format refuses what it does not know.
            format: if outside.is_empty() { 1 } else { 2 },
            venv: venv.to_path_buf(),
            created_at: rfc3339_now(),
            reason: reason.to_string(),
            whole_venv: false,
            entries,
            external: outside,
            saved: None,
        };
        // Every saved copy (and the dirs holding them) durable at once, before the manifest
        // that says the backup is complete.
        let handle = File::open(&dir).map_err(|e| ExecError::io(&dir, "open", e))?;
        nix::unistd::syncfs(&handle)
            .map_err(|e| ExecError::io(&dir, "sync the backup's filesystem", e.into()))?;
        // The manifest is written last: a backup without one was never complete.
        write_json(&dir.join(MANIFEST), &manifest)?;
        Ok(Backup { dir, manifest })
    }

    /// Prepare a whole-venv backup: the dir and its manifest. The venv itself is moved in by
    /// [`Backup::move_venv_in`], after the journal names this backup.
    pub fn prepare_whole(venv: &Path, backups: &Path, reason: &str) -> Result<Backup, ExecError> {
        Backup::check_whole(venv, backups)?;
        Backup::prepare_whole_in(Backup::reserve(backups)?, venv, reason)
    }

    /// Refuse a whole-venv backup that cannot keep the original by one rename (a mount point
    /// whose state dir is elsewhere), before anything is journaled.
    pub fn check_whole(venv: &Path, backups: &Path) -> Result<(), ExecError> {
        Backup::saved_place(venv, backups, false).map(|_| ())
    }

    /// Where the original of a whole-venv backup goes: in the backup dir, or beside the venv
    /// (`.<name>.venvfix-original-*/venv`, made when `create`) when the state dir is on another
    /// filesystem.
    fn saved_place(
        venv: &Path,
        backups: &Path,
        create: bool,
    ) -> Result<Option<PathBuf>, ExecError> {
        let backups = backups
            .ancestors()
            .find(|a| fs::symlink_metadata(a).is_ok())
            .unwrap_or(backups);
        let dev_of = |p: &Path| {
            fs::symlink_metadata(p)
                .map(|m| m.dev())
                .map_err(|e| ExecError::io(p, "inspect", e))
        };
        let venv_dev = dev_of(venv)?;
        // The original is kept by one rename, so it must stay on its own filesystem: beside
        // the venv when the state dir is elsewhere (`/data`, `/mnt`, a separate `/home`).
        if venv_dev == dev_of(backups)? {
            return Ok(None);
        }
        let parent = venv.parent().ok_or_else(|| ExecError::Refused {
            path: venv.to_path_buf(),
            op: "move the venv aside for a recreate".into(),
            why: "it has no parent directory".into(),
        })?;
        if dev_of(parent)? != venv_dev {
            return Err(ExecError::Refused {
                path: venv.to_path_buf(),
                op: "move the venv aside for a recreate".into(),
                why: "it is a mount point: the original cannot be kept by a rename on its \
                      own filesystem; recreate it by hand, or mount the filesystem one \
                      level up"
                    .into(),
            });
        }
        if !create {
            return Ok(None);
        }
        let name = venv
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "venv".into());
        let aside = unique_dir(
            parent,
            &format!(".{name}.venvfix-original-{}", compact_now()),
        )?;
        Ok(Some(aside.join(WHOLE)))
    }

    /// [`Backup::prepare_whole`] in the reserved, empty `dir`.
    pub fn prepare_whole_in(dir: PathBuf, venv: &Path, reason: &str) -> Result<Backup, ExecError> {
        let backups = dir.parent().unwrap_or(&dir).to_path_buf();
        let saved = Backup::saved_place(venv, &backups, true)?;
        let manifest = Manifest {
            format: 1,
            venv: venv.to_path_buf(),
            created_at: rfc3339_now(),
            reason: reason.to_string(),
            whole_venv: true,
            entries: Vec::new(),
            external: Vec::new(),
            saved,
        };
        write_json(&dir.join(MANIFEST), &manifest)?;
        Ok(Backup { dir, manifest })
    }

    /// Make the empty dir of the new venv inside the backup and record its identity, before it
    /// is moved into the venv's place: a rollback may then remove it there, and nothing else.
    pub fn stage_new_dir(&self) -> Result<(), ExecError> {
        let new = self.new_dir();
        fs::create_dir(&new).map_err(|e| ExecError::io(&new, "create the new venv dir", e))?;
        super::failpoint::hit("new-dir-made");
        let meta = fs::symlink_metadata(&new)
            .map_err(|e| ExecError::io(&new, "inspect the new dir", e))?;
        let created = CreatedDir {
            dev: meta.dev(),
            ino: meta.ino(),
            birth_ns: birth_ns(&meta),
        };
        write_json(&self.dir.join(CREATED), &created)?;
        super::failpoint::hit("new-dir-recorded");
        Ok(())
    }

    /// Move the venv into the backup (one rename, never a copy). With `put_new`, then rename
    /// the dir made by [`Backup::stage_new_dir`] into its place.
    pub fn move_venv_in(&self, put_new: bool) -> Result<(), ExecError> {
        let venv = &self.manifest.venv;
        let saved = self.saved_venv();
        fs::rename(venv, &saved)
            .map_err(|e| ExecError::io(venv, "move the venv aside into the backup", e))?;
        sync_dir(&self.dir);
        super::failpoint::hit("moved-aside");
        if !put_new {
            return Ok(());
        }
        let new = self.new_dir();
        fs::rename(&new, venv)
            .map_err(|e| ExecError::io(venv, "put the new venv dir in place", e))?;
        if let Some(parent) = venv.parent() {
            sync_dir(parent);
        }
        super::failpoint::hit("new-dir-in-place");
        Ok(())
    }

    /// A whole-venv backup whose original venv is still in it (not yet renamed back).
    pub fn original_still_saved(&self) -> bool {
        self.manifest.whole_venv && fs::symlink_metadata(self.saved_venv()).is_ok()
    }

    /// Where a recreate's new dir is made before it takes the venv's place: beside the saved
    /// original, so on the venv's filesystem.
    pub fn new_dir(&self) -> PathBuf {
        self.saved_venv().with_file_name(NEW)
    }

    /// Whether this whole-venv backup already holds the venv it was taken of.
    pub fn holds_venv(&self) -> bool {
        self.original_still_saved()
    }

    /// Where a whole-venv backup keeps the original venv (after [`Backup::move_venv_in`]).
    pub fn saved_venv(&self) -> PathBuf {
        self.manifest
            .saved
            .clone()
            .unwrap_or_else(|| self.dir.join(WHOLE))
    }

    /// Read a backup from its dir.
    pub fn open(dir: &Path) -> Result<Backup, ExecError> {
        let path = dir.join(MANIFEST);
        let manifest: Manifest =
            super::state::read_json(&path)?.ok_or_else(|| ExecError::Corrupt {
                path: path.clone(),
                why: "the backup has no manifest (it was never completed)".into(),
            })?;
        if manifest.format > MANIFEST_FORMAT {
            return Err(ExecError::Corrupt {
                path,
                why: format!(
                    "it is format {} and this venvfix knows up to {MANIFEST_FORMAT}: a newer \
                     venvfix wrote it, and only that one restores it exactly",
                    manifest.format
                ),
            });
        }
        Ok(Backup {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Put every entry back exactly as recorded, in the venv the backup was taken of.
    /// Idempotent.
    pub fn restore(&self) -> Result<Vec<Restored>, ExecError> {
        self.restore_at(&self.manifest.venv.clone())
    }

    /// Check, without changing anything, that every saved entry is there as the manifest
    /// records it (a file's size and hash, a link's target, the saved tree of a whole venv), so
    /// a damaged backup is refused before the first entry is restored, never half-applied.
    pub fn check(&self) -> Result<(), ExecError> {
        self.verify_saved(true)
    }

    /// [`Backup::check`] without reading the saved files (their sizes only), for listings.
    pub fn check_sizes(&self) -> Result<(), ExecError> {
        self.verify_saved(false)
    }

    fn verify_saved(&self, hash_files: bool) -> Result<(), ExecError> {
        let damaged = |path: PathBuf, why: String| ExecError::Corrupt { path, why };
        if self.manifest.whole_venv {
            let saved = self.saved_venv();
            return match fs::symlink_metadata(&saved) {
                Ok(meta) if meta.is_dir() && !meta.is_symlink() => Ok(()),
                Ok(_) => Err(damaged(saved, "the saved venv is not a directory".into())),
                Err(_) => Err(damaged(
                    saved,
                    "the saved venv is missing (it was already put back, or removed)".into(),
                )),
            };
        }
        for (index, entry) in self.manifest.external.iter().enumerate() {
            check_absolute(&entry.path)?;
            let saved = self.dir.join(EXTERNAL).join(index.to_string());
            match &entry.kind {
                EntryKind::Symlink { target } => match fs::read_link(&saved) {
                    Ok(found) if found == *target => {}
                    _ => {
                        return Err(damaged(
                            saved,
                            format!(
                                "the saved link to `{}` is gone or leads elsewhere",
                                target.display()
                            ),
                        ));
                    }
                },
                EntryKind::Absent => {}
                _ => {
                    return Err(damaged(
                        self.dir.join(MANIFEST),
                        format!(
                            "`{}` outside the venv is recorded as something else than a link",
                            entry.path.display()
                        ),
                    ));
                }
            }
        }
        for entry in &self.manifest.entries {
            check_relative(&entry.path)?;
            let saved = self.dir.join(ENTRIES).join(&entry.path);
            match &entry.kind {
                EntryKind::Symlink { target } => match fs::read_link(&saved) {
                    Ok(found) if found == *target => {}
                    Ok(found) => {
                        return Err(damaged(
                            saved,
                            format!(
                                "the saved link leads to `{}`, the manifest says `{}`",
                                found.display(),
                                target.display()
                            ),
                        ));
                    }
                    Err(e) => return Err(damaged(saved, format!("the saved link is gone: {e}"))),
                },
                EntryKind::File { size, hash, .. } => {
                    let found = match fs::symlink_metadata(&saved) {
                        Ok(meta) if meta.is_file() && !hash_files => EntryKind::File {
                            mode: 0,
                            size: meta.len(),
                            hash: hash.clone(),
                        },
                        Ok(meta) if meta.is_file() => describe_entry(&saved)?,
                        Ok(_) => EntryKind::Tree,
                        Err(e) => {
                            return Err(damaged(saved, format!("the saved copy is gone: {e}")));
                        }
                    };
                    match found {
                        EntryKind::File {
                            size: s, hash: h, ..
                        } if s == *size && h == *hash => {}
                        EntryKind::File { size: s, .. } if s != *size => {
                            return Err(damaged(
                                saved,
                                format!("the saved copy has {s} bytes, the manifest says {size}"),
                            ));
                        }
                        EntryKind::File { hash: h, .. } => {
                            return Err(damaged(
                                saved,
                                format!("the saved copy hashes to {h}, the manifest says {hash}"),
                            ));
                        }
                        _ => {
                            return Err(damaged(saved, "the saved copy is not a file".into()));
                        }
                    }
                }
                EntryKind::Absent => {}
                EntryKind::Tree => {
                    return Err(damaged(
                        self.dir.join(MANIFEST),
                        "a tree entry in a backup of single entries".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// [`Backup::restore`] into `venv`, which may be the same venv at another path (it was
    /// moved or renamed since the backup was taken). Idempotent.
    pub fn restore_at(&self, venv: &Path) -> Result<Vec<Restored>, ExecError> {
        if self.manifest.whole_venv {
            return self.restore_whole(venv);
        }
        let mut restored = Vec::new();
        for entry in &self.manifest.entries {
            check_relative(&entry.path)?;
            let target = venv.join(&entry.path);
            remove_leftover(&temp_beside(&target))?;
            // Only what differs is rewritten: a venv the repair never touched (read-only, on a
            // full disk) is restored without a single write.
            if describe_entry(&target).is_ok_and(|now| now == entry.kind) {
                continue;
            }
            match &entry.kind {
                EntryKind::Symlink { target: link } => replace_with_symlink(&target, link)?,
                EntryKind::File { mode, hash, .. } => {
                    let saved = self.dir.join(ENTRIES).join(&entry.path);
                    replace_with_copy(&saved, &target, *mode, Some(hash))?;
                }
                EntryKind::Absent => remove_non_dir(&target)?,
                EntryKind::Tree => {
                    return Err(ExecError::Corrupt {
                        path: self.dir.join(MANIFEST),
                        why: "a tree entry in a backup of single entries".into(),
                    });
                }
            }
            restored.push(Restored {
                path: entry.path.clone(),
                kind: entry.kind.clone(),
            });
        }
        for entry in &self.manifest.external {
            if restore_external(entry)? {
                restored.push(Restored {
                    path: entry.path.clone(),
                    kind: entry.kind.clone(),
                });
            }
        }
        Ok(restored)
    }

    /// Put a whole venv back: remove the directory venvfix created in its place (checked by
    /// identity, never through a link), then rename the original back.
    fn restore_whole(&self, venv: &Path) -> Result<Vec<Restored>, ExecError> {
        let saved = self.saved_venv();
        let restored = vec![Restored {
            path: PathBuf::from("."),
            kind: EntryKind::Tree,
        }];
        // A new dir made but never moved into place is only ours.
        let new = self.new_dir();
        if fs::symlink_metadata(&new).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir_all(&new)
                .map_err(|e| ExecError::io(&new, "remove the unused new venv dir", e))?;
        }
        if fs::symlink_metadata(&saved).is_err() {
            // Never moved in (interrupted before the rename), or already restored.
            return if fs::symlink_metadata(venv).is_ok() {
                Ok(restored)
            } else {
                Err(ExecError::Corrupt {
                    path: saved,
                    why: "neither the venv nor its saved copy exists".into(),
                })
            };
        }
        match fs::symlink_metadata(venv) {
            Ok(meta) => {
                let created: Option<CreatedDir> = super::state::read_json(&self.dir.join(CREATED))?;
                let ours = created.is_some_and(|c| {
                    meta.is_dir()
                        && !meta.is_symlink()
                        && c.dev == meta.dev()
                        && c.ino == meta.ino()
                        && (c.birth_ns.is_none() || c.birth_ns == birth_ns(&meta))
                });
                if !ours {
                    return Err(ExecError::Refused {
                        path: venv.to_path_buf(),
                        op: "remove the new venv to put the original back".into(),
                        why: format!(
                            "it is not the directory venvfix created; the original is kept in \
                             `{}`",
                            saved.display()
                        ),
                    });
                }
                // `remove_dir_all` does not follow symlinks inside the tree.
                fs::remove_dir_all(venv)
                    .map_err(|e| ExecError::io(venv, "remove the new venv", e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ExecError::io(venv, "inspect", e)),
        }
        fs::rename(&saved, venv)
            .map_err(|e| ExecError::io(venv, "rename the original venv back", e))?;
        // The hidden dir beside the venv that held it is empty now.
        if self.manifest.saved.is_some()
            && let Some(aside) = saved.parent()
        {
            let _ = fs::remove_dir(aside);
        }
        if let Some(parent) = venv.parent() {
            sync_dir(parent);
        }
        Ok(restored)
    }
}

/// Save what `source` is (without following it) to `dest`, and say what it was.
fn save_entry(source: &Path, dest: &Path) -> Result<EntryKind, ExecError> {
    let meta = match fs::symlink_metadata(source) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(EntryKind::Absent),
        Err(e) => return Err(ExecError::io(source, "inspect before backing up", e)),
    };
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| ExecError::io(parent, "create a backup directory", e))?;
    }
    if meta.is_symlink() {
        let target =
            fs::read_link(source).map_err(|e| ExecError::io(source, "read the link", e))?;
        std::os::unix::fs::symlink(&target, dest)
            .map_err(|e| ExecError::io(dest, "save the link in the backup", e))?;
        return Ok(EntryKind::Symlink { target });
    }
    if !meta.is_file() {
        return Err(ExecError::Refused {
            path: source.to_path_buf(),
            op: "back up".into(),
            why: "it is not a file or a symlink (a directory or a special file)".into(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    let mut input = open_nofollow(source)?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| ExecError::io(dest, "create the backup copy", e))?;
    let (size, hash) = copy_hashing(&mut input, &mut output, source, dest)?;
    output
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| ExecError::io(dest, "set the mode of the backup copy", e))?;
    // Made durable by [`Backup::take`]'s one `syncfs` for all entries (a relocation backs up
    // hundreds of scripts: an fsync each costs seconds on a busy disk).
    Ok(EntryKind::File { mode, size, hash })
}

/// Save what the entry outside the venv at `path` is: a link (copied to `dest`) or nothing.
fn save_external(path: &Path, dest: &Path) -> Result<EntryKind, ExecError> {
    check_absolute(path)?;
    super::writable::check_outside(path)?;
    match describe_entry(path)? {
        EntryKind::Absent => Ok(EntryKind::Absent),
        EntryKind::Symlink { .. } => save_entry(path, dest),
        _ => Err(refused_outside(path, "back up")),
    }
}

/// Put the entry outside the venv back as `entry` records it; `false` when it already is.
/// Only a link (or nothing) is ever replaced there, never through a linked directory.
fn restore_external(entry: &Entry) -> Result<bool, ExecError> {
    let path = &entry.path;
    check_absolute(path)?;
    super::writable::check_outside(path)?;
    remove_leftover(&temp_beside(path))?;
    let now = describe_entry(path)?;
    if now == entry.kind {
        return Ok(false);
    }
    if !matches!(now, EntryKind::Symlink { .. } | EntryKind::Absent) {
        return Err(refused_outside(path, "restore"));
    }
    match &entry.kind {
        EntryKind::Symlink { target } => replace_with_symlink(path, target)?,
        EntryKind::Absent => remove_non_dir(path)?,
        _ => {
            return Err(ExecError::Corrupt {
                path: path.clone(),
                why: "an entry outside the venv is recorded as something else than a link".into(),
            });
        }
    }
    Ok(true)
}

/// Point the link outside the venv at `path` to `to`, atomically: it must be a link now (or
/// nothing), reached without a linked directory on the way.
pub fn replace_external_link(path: &Path, to: &Path) -> Result<(), ExecError> {
    check_absolute(path)?;
    super::writable::check_outside(path)?;
    match describe_entry(path)? {
        EntryKind::Symlink { .. } | EntryKind::Absent => replace_with_symlink(path, to),
        _ => Err(refused_outside(path, "replace")),
    }
}

fn refused_outside(path: &Path, op: &str) -> ExecError {
    ExecError::Refused {
        path: path.to_path_buf(),
        op: op.to_string(),
        why: "it is outside the venv and not a link; venvfix changes only links there".into(),
    }
}

fn open_nofollow(path: &Path) -> Result<File, ExecError> {
    OpenOptions::new()
        .read(true)
        // O_NONBLOCK: a FIFO swapped in after the caller's `lstat` must not hang the backup.
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| ExecError::io(path, "open (without following links)", e))
        .and_then(|file| match file.metadata() {
            Ok(meta) if meta.is_file() => Ok(file),
            Ok(_) => Err(ExecError::Refused {
                path: path.to_path_buf(),
                op: "read".into(),
                why: "it is not a regular file".into(),
            }),
            Err(e) => Err(ExecError::io(path, "inspect", e)),
        })
}

/// Copy all bytes, returning the size and the `fnv1a64:` hash of the content.
fn copy_hashing(
    input: &mut File,
    output: &mut File,
    from: &Path,
    to: &Path,
) -> Result<(u64, String), ExecError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| ExecError::io(from, "read", e))?;
        if n == 0 {
            break;
        }
        for byte in &buf[..n] {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        size += n as u64;
        output
            .write_all(&buf[..n])
            .map_err(|e| ExecError::io(to, "write", e))?;
    }
    Ok((size, format!("fnv1a64:{hash:016x}")))
}

/// What the entry at `path` is now, as a manifest records it (a file's mode, size and hash, a
/// link's target), without copying anything or following a link.
pub fn describe_entry(path: &Path) -> Result<EntryKind, ExecError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(EntryKind::Absent),
        Err(e) => return Err(ExecError::io(path, "inspect", e)),
    };
    if meta.is_symlink() {
        let target = fs::read_link(path).map_err(|e| ExecError::io(path, "read the link", e))?;
        return Ok(EntryKind::Symlink { target });
    }
    if !meta.is_file() {
        // A directory or a special file where a link or a file was: changed, whatever it holds.
        return Ok(EntryKind::Tree);
    }
    let mut input = open_nofollow(path)?;
    let (size, hash) = hash_reader(&mut input, path)?;
    Ok(EntryKind::File {
        mode: meta.permissions().mode() & 0o7777,
        size,
        hash,
    })
}

/// The size and `fnv1a64:` hash of everything `input` reads.
fn hash_reader(input: &mut File, from: &Path) -> Result<(u64, String), ExecError> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| ExecError::io(from, "read", e))?;
        if n == 0 {
            break;
        }
        for byte in &buf[..n] {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        size += n as u64;
    }
    Ok((size, format!("fnv1a64:{hash:016x}")))
}

/// What a repair left behind, recorded with its backup right after it verified, so `undo` can
/// tell whether the venv was changed since (and refuse, unless forced).
// Externally tagged: an internally tagged enum cannot hold `CreatedDir`'s `u128`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AfterRepair {
    /// Each entry the repair replaced (the backup's entries), as it was afterwards.
    Entries {
        entries: Vec<Entry>,
        /// The links outside the venv it replaced (absolute paths).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        external: Vec<Entry>,
    },
    /// A recreated venv: a cheap fingerprint, not a copy of the tree.
    Venv {
        /// The venv directory itself (the one venvfix created).
        root: CreatedDir,
        /// `lib/pythonX.Y/site-packages/NAME` for every entry of every site-packages, sorted
        /// (`__pycache__` left out: running Python writes it).
        site_packages: Vec<String>,
        /// `pyvenv.cfg`.
        config: EntryKind,
    },
}

impl AfterRepair {
    /// Record the venv of `backup` as it is now (right after the repair).
    pub fn record(backup: &Backup) -> Result<AfterRepair, ExecError> {
        let venv = &backup.manifest.venv;
        if backup.manifest.whole_venv {
            let meta = fs::symlink_metadata(venv).map_err(|e| ExecError::io(venv, "inspect", e))?;
            return Ok(AfterRepair::Venv {
                root: CreatedDir {
                    dev: meta.dev(),
                    ino: meta.ino(),
                    birth_ns: birth_ns(&meta),
                },
                site_packages: site_packages_listing(venv)?,
                config: describe_entry(&venv.join("pyvenv.cfg"))?,
            });
        }
        let mut entries = Vec::new();
        for entry in &backup.manifest.entries {
            check_relative(&entry.path)?;
            entries.push(Entry {
                path: entry.path.clone(),
                kind: describe_entry(&venv.join(&entry.path))?,
            });
        }
        let mut external = Vec::new();
        for entry in &backup.manifest.external {
            check_absolute(&entry.path)?;
            external.push(Entry {
                path: entry.path.clone(),
                kind: describe_entry(&entry.path)?,
            });
        }
        Ok(AfterRepair::Entries { entries, external })
    }

    /// What differs in `venv` from this record, one `` `entry` `` (relative path) or phrase
    /// each; empty when nothing changed. Read-only.
    pub fn changes(&self, venv: &Path) -> Result<Vec<String>, ExecError> {
        let mut changed = Vec::new();
        match self {
            AfterRepair::Entries { entries, external } => {
                for entry in entries {
                    check_relative(&entry.path)?;
                    if describe_entry(&venv.join(&entry.path))? != entry.kind {
                        changed.push(format!("`{}`", entry.path.display()));
                    }
                }
                for entry in external {
                    check_absolute(&entry.path)?;
                    if describe_entry(&entry.path)? != entry.kind {
                        changed.push(format!("`{}`", entry.path.display()));
                    }
                }
            }
            AfterRepair::Venv {
                root,
                site_packages,
                config,
            } => {
                let meta = match fs::symlink_metadata(venv) {
                    Ok(meta) => meta,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Ok(vec!["the venv directory (it is gone)".into()]);
                    }
                    Err(e) => return Err(ExecError::io(venv, "inspect", e)),
                };
                let same_root = meta.is_dir()
                    && !meta.is_symlink()
                    && meta.dev() == root.dev
                    && meta.ino() == root.ino
                    && (root.birth_ns.is_none() || root.birth_ns == birth_ns(&meta));
                if !same_root {
                    changed.push("the venv directory (it was replaced)".into());
                } else {
                    if site_packages_listing(venv)? != *site_packages {
                        changed.push("the packages in `site-packages`".into());
                    }
                    if describe_entry(&venv.join("pyvenv.cfg"))? != *config {
                        changed.push("`pyvenv.cfg`".into());
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// `lib/pythonX.Y/site-packages/NAME` for each entry of each site-packages of `venv`, sorted,
/// without `__pycache__`. Links are listed, never followed (`lib64` is not visited).
fn site_packages_listing(venv: &Path) -> Result<Vec<String>, ExecError> {
    let lib = venv.join("lib");
    let mut names = Vec::new();
    let versions = match fs::read_dir(&lib) {
        Ok(dir) => dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(ExecError::io(&lib, "list", e)),
    };
    for version in versions {
        let version = version.map_err(|e| ExecError::io(&lib, "list", e))?;
        let is_dir = version.file_type().is_ok_and(|t| t.is_dir());
        let name = version.file_name().to_string_lossy().into_owned();
        if !is_dir || !name.starts_with("python") {
            continue;
        }
        let site = version.path().join("site-packages");
        let entries = match fs::read_dir(&site) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ExecError::io(&site, "list", e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| ExecError::io(&site, "list", e))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if file != "__pycache__" {
                names.push(format!("lib/{name}/site-packages/{file}"));
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The `fnv1a64:` hash of a whole file's content, as the manifest records it.
pub fn hash_file(path: &Path) -> Result<String, ExecError> {
    let bytes = fs::read(path).map_err(|e| ExecError::io(path, "read", e))?;
    Ok(format!("fnv1a64:{:016x}", fnv1a64(&bytes)))
}

/// Fail if `path` is a real directory: a link or a file never replaces a directory.
fn refuse_directory(path: &Path, op: &str) -> Result<(), ExecError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(ExecError::Refused {
            path: path.to_path_buf(),
            op: op.to_string(),
            why: "it is a directory; venvfix never deletes a directory to replace it".into(),
        }),
        _ => Ok(()),
    }
}

/// Make `path` a symlink to `to`, atomically, whatever non-directory is there now.
pub fn replace_with_symlink(path: &Path, to: &Path) -> Result<(), ExecError> {
    refuse_directory(path, "replace with a symlink")?;
    let temp = temp_beside(path);
    remove_leftover(&temp)?;
    std::os::unix::fs::symlink(to, &temp)
        .map_err(|e| ExecError::io(&temp, "create a temp symlink", e))?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(ExecError::io(path, "rename a temp symlink over", e));
    }
    if let Some(parent) = path.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Replace `path` with a copy of the regular file `source` (never through a link) with `mode`,
/// atomically. With `expect_hash`, the copy must have that hash (a backup that changed on disk
/// is not restored).
pub fn replace_with_copy(
    source: &Path,
    path: &Path,
    mode: u32,
    expect_hash: Option<&str>,
) -> Result<(), ExecError> {
    refuse_directory(path, "replace with a file")?;
    replace_file_atomically(path, mode, |output, temp| {
        let mut input = open_nofollow(source)?;
        let (_, hash) = copy_hashing(&mut input, output, source, temp)?;
        match expect_hash {
            Some(expected) if hash != expected => Err(ExecError::Corrupt {
                path: source.to_path_buf(),
                why: format!("the saved copy hashes to {hash}, the manifest says {expected}"),
            }),
            _ => Ok(()),
        }
    })
}

/// Remove a file or link that was absent before; a directory is refused.
fn remove_non_dir(path: &Path) -> Result<(), ExecError> {
    refuse_directory(path, "remove")?;
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ExecError::io(path, "remove", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_saved_as_links_and_files_with_their_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("v");
        fs::create_dir_all(venv.join("bin")).unwrap();
        symlink("/nowhere/python3.8", venv.join("bin/python3")).unwrap();
        fs::write(venv.join("pyvenv.cfg"), "home = /nowhere\n").unwrap();
        fs::set_permissions(venv.join("pyvenv.cfg"), fs::Permissions::from_mode(0o640)).unwrap();
        let backups = tmp.path().join("backups");
        fs::create_dir(&backups).unwrap();
        let paths = [
            PathBuf::from("bin/python3"),
            PathBuf::from("pyvenv.cfg"),
            PathBuf::from("bin/python"),
        ];
        let backup = Backup::take(&venv, &paths, &backups, "repair").unwrap();
        let saved = backup.dir.join("entries/bin/python3");
        assert!(fs::symlink_metadata(&saved).unwrap().is_symlink());
        assert_eq!(
            fs::read_link(&saved).unwrap(),
            PathBuf::from("/nowhere/python3.8")
        );
        assert_eq!(backup.manifest.entries[2].kind, EntryKind::Absent);

        // Change everything, then restore.
        fs::remove_file(venv.join("bin/python3")).unwrap();
        fs::write(venv.join("bin/python3"), "x").unwrap();
        fs::write(venv.join("pyvenv.cfg"), "home = /elsewhere\n").unwrap();
        fs::set_permissions(venv.join("pyvenv.cfg"), fs::Permissions::from_mode(0o600)).unwrap();
        symlink("python3", venv.join("bin/python")).unwrap();
        let reopened = Backup::open(&backup.dir).unwrap();
        let restored = reopened.restore().unwrap();
        assert_eq!(restored.len(), 3);
        assert_eq!(restored[0].to_string(), "bin/python3 -> /nowhere/python3.8");
        assert_eq!(
            fs::read_link(venv.join("bin/python3")).unwrap(),
            PathBuf::from("/nowhere/python3.8")
        );
        assert_eq!(
            fs::read_to_string(venv.join("pyvenv.cfg")).unwrap(),
            "home = /nowhere\n"
        );
        let mode = fs::metadata(venv.join("pyvenv.cfg"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o640);
        assert!(fs::symlink_metadata(venv.join("bin/python")).is_err());
        // Idempotent.
        reopened.restore().unwrap();
    }

    #[test]
    fn after_repair_sees_edits_and_survives_json() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("v");
        fs::create_dir_all(venv.join("bin")).unwrap();
        fs::create_dir_all(venv.join("lib/python3.8/site-packages")).unwrap();
        symlink("/a/python3.8", venv.join("bin/python3")).unwrap();
        fs::write(venv.join("pyvenv.cfg"), "home = /a\n").unwrap();
        let backups = tmp.path().join("backups");
        fs::create_dir(&backups).unwrap();
        let paths = [PathBuf::from("bin/python3"), PathBuf::from("pyvenv.cfg")];
        let entries = Backup::take(&venv, &paths, &backups, "repair").unwrap();
        let whole = Backup::prepare_whole(&venv, &backups, "repair").unwrap();
        for backup in [&entries, &whole] {
            let after = AfterRepair::record(backup).unwrap();
            let json = serde_json::to_string(&after).unwrap();
            assert_eq!(serde_json::from_str::<AfterRepair>(&json).unwrap(), after);
            assert!(after.changes(&venv).unwrap().is_empty());
        }
        let after_entries = AfterRepair::record(&entries).unwrap();
        let after_whole = AfterRepair::record(&whole).unwrap();
        // Bytecode written by running Python is not a change.
        fs::create_dir(venv.join("lib/python3.8/site-packages/__pycache__")).unwrap();
        assert!(after_whole.changes(&venv).unwrap().is_empty());
        // A mode change alone is one.
        fs::set_permissions(venv.join("pyvenv.cfg"), fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(after_entries.changes(&venv).unwrap(), vec!["`pyvenv.cfg`"]);
        fs::remove_file(venv.join("bin/python3")).unwrap();
        symlink("/b/python3.8", venv.join("bin/python3")).unwrap();
        fs::write(venv.join("lib/python3.8/site-packages/new.py"), "").unwrap();
        assert_eq!(
            after_entries.changes(&venv).unwrap(),
            vec!["`bin/python3`", "`pyvenv.cfg`"]
        );
        assert_eq!(
            after_whole.changes(&venv).unwrap(),
            vec!["the packages in `site-packages`", "`pyvenv.cfg`"]
        );
    }

    #[test]
    fn a_directory_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("d")).unwrap();
        let err = replace_with_symlink(&tmp.path().join("d"), Path::new("/x")).unwrap_err();
        assert!(matches!(err, ExecError::Refused { .. }), "{err}");
        assert!(tmp.path().join("d").is_dir());
    }

    #[test]
    fn paths_must_stay_inside_the_venv() {
        assert!(check_relative(Path::new("bin/python3")).is_ok());
        assert!(check_relative(Path::new("../x")).is_err());
        assert!(check_relative(Path::new("/etc/passwd")).is_err());
        assert!(check_relative(Path::new("")).is_err());
        assert!(check_relative(Path::new(".")).is_err());
    }
}
