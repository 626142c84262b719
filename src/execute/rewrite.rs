//! The executor's side of a relocation: every [`Action::Rewrite`] of a plan applied as one
//! step.
//!
//! A relocation rewrites hundreds of small files (every console script). Each is written beside
//! its target and renamed over it, so no reader ever sees half a file; but instead of an fsync
//! per file, per directory and per journal update (a thousand syncs, seconds on a busy disk),
//! all temp files are written first, made durable by one `syncfs`, then renamed, and each
//! directory is synced once. The journal records the whole batch as done only after the last
//! rename; a run killed in between is rolled back from the backup taken before, like any other.
//! Only regular text files are rewritten, never through a link, never a binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::ExecError;
use super::state;
use crate::plan::{Action, Plan};

/// The new bytes and the mode of the file a [`Action::Rewrite`] changes. Refused for anything
/// but a regular text file; stale when it no longer names `from`.
pub(super) fn rewritten(
    venv: &Path,
    path: &Path,
    from: &Path,
    to: &Path,
) -> Result<(Vec<u8>, u32), ExecError> {
    use std::os::unix::ffi::OsStrExt;
    let full = venv.join(path);
    let refused = |why: &str| ExecError::Refused {
        path: full.clone(),
        op: "rewrite".into(),
        why: why.into(),
    };
    let meta = fs::symlink_metadata(&full).map_err(|e| ExecError::io(&full, "inspect", e))?;
    if !meta.is_file() {
        return Err(refused(
            "it is not a regular file (venvfix does not write through links)",
        ));
    }
    let bytes = crate::relocate::read_bounded(&full).ok_or_else(|| {
        refused("it cannot be read as a regular file of a size a script can have")
    })?;
    if crate::scripts::is_binary(&bytes) {
        return Err(refused(
            "it is a binary file; venvfix never patches binaries",
        ));
    }
    let kind = crate::relocate::kind_of(path);
    let new = crate::relocate::rewrite(
        &bytes,
        kind,
        from.as_os_str().as_bytes(),
        to.as_os_str().as_bytes(),
    )
    .ok_or_else(|| ExecError::Stale {
        venv: venv.to_path_buf(),
        what: format!("`{}` no longer names `{}`", path.display(), from.display()),
    })?;
    Ok((new, meta.permissions().mode() & 0o7777))
}

/// Apply every rewrite of `plan` (see the module docs); returns their indices.
pub(super) fn apply_all(venv: &Path, plan: &Plan) -> Result<Vec<usize>, ExecError> {
    let mut indices = Vec::new();
    let mut files: Vec<(PathBuf, PathBuf, Vec<u8>, u32)> = Vec::new();
    for (index, action) in plan.actions.iter().enumerate() {
        if let Action::Rewrite { path, from, to } = action {
            let (bytes, mode) = rewritten(venv, path, from, to)?;
            let target = venv.join(path);
            files.push((state::temp_beside(&target), target, bytes, mode));
            indices.push(index);
        }
    }
    let result = write_then_rename(venv, &files);
    if result.is_err() {
        for (temp, ..) in &files {
            let _ = fs::remove_file(temp);
        }
    }
    result.map(|()| indices)
}

fn write_then_rename(
    venv: &Path,
    files: &[(PathBuf, PathBuf, Vec<u8>, u32)],
) -> Result<(), ExecError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    for (temp, _, bytes, mode) in files {
        state::remove_leftover(temp)?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(temp)
            .map_err(|e| ExecError::io(temp, "create a temp file", e))?;
        file.write_all(bytes)
            .map_err(|e| ExecError::io(temp, "write a temp file", e))?;
        // Set after writing: the umask may have cut bits from a creation mode.
        file.set_permissions(fs::Permissions::from_mode(*mode))
            .map_err(|e| ExecError::io(temp, "set the mode of a temp file", e))?;
    }
    // One sync for every temp file (they are all on the venv's filesystem).
    let dir = fs::File::open(venv).map_err(|e| ExecError::io(venv, "open", e))?;
    nix::unistd::syncfs(&dir).map_err(|e| ExecError::io(venv, "sync the filesystem", e.into()))?;
    let mut dirs: Vec<&Path> = Vec::new();
    for (temp, target, ..) in files {
        fs::rename(temp, target)
            .map_err(|e| ExecError::io(target, "rename a temp file over", e))?;
        if let Some(parent) = target.parent()
            && !dirs.contains(&parent)
        {
            dirs.push(parent);
        }
    }
    for dir in dirs {
        state::sync_dir(dir);
    }
    Ok(())
}
