//! Before a repair or an undo changes anything: can every entry it will replace be written,
//! and only inside the venv? (DESIGN.md rules 3 and 5.)
//!
//! Each entry is replaced by a rename in its directory, so that directory must be writable; a
//! read-only venv or filesystem is a refusal that leaves nothing behind (no backup, no
//! journal), not a half-applied repair. Each directory on the way from the venv root to an
//! entry must be a real directory: `bin -> ../outside/bin` would make venvfix write outside
//! the venv, so such a venv is refused, naming the link. A link outside the venv that a plan
//! replaces (a tool's link to the venv) gets the same guard from the root down: every directory
//! on its path is a real one. Only checks; never writes.

use std::fs;
use std::path::{Component, Path, PathBuf};

use nix::unistd::{AccessFlags, access};

use super::ExecError;

/// Refuse unless every directory holding one of `paths` (relative to `venv`) is a real
/// directory inside `venv` (no symlink on the way) that this process may write.
pub fn check(venv: &Path, paths: &[PathBuf]) -> Result<(), ExecError> {
    real_dir(venv, venv)?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for path in paths {
        let mut dir = venv.to_path_buf();
        let parent = path.parent().unwrap_or(Path::new(""));
        for component in parent.components() {
            let Component::Normal(name) = component else {
                continue;
            };
            dir.push(name);
            real_dir(venv, &dir)?;
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in &dirs {
        may_write(dir)?;
    }
    Ok(())
}

/// Refuse unless `venv` is a real directory whose parent this process may write (a recreate
/// and its undo rename the venv itself).
pub fn check_parent(venv: &Path) -> Result<(), ExecError> {
    real_dir(venv, venv)?;
    match venv.parent() {
        Some(parent) => may_write(parent),
        None => Ok(()),
    }
}

/// Refuse unless every directory on the way from `/` to the absolute `path` (an entry outside
/// the venv) is a real directory, not a link, and the one holding `path` may be written: it is
/// replaced by a rename there, and a linked directory would put it somewhere else.
pub fn check_outside(path: &Path) -> Result<(), ExecError> {
    let parent = path.parent().ok_or_else(|| ExecError::InvalidPlan {
        path: path.to_path_buf(),
        why: format!("`{}` has no parent directory", path.display()),
    })?;
    let mut dir = PathBuf::new();
    for component in parent.components() {
        dir.push(component);
        if matches!(component, Component::Normal(_)) {
            real_dir_for(
                &dir,
                &format!("`{}` would be changed somewhere else", path.display()),
            )?;
        }
    }
    may_write(parent)
}

fn real_dir(venv: &Path, dir: &Path) -> Result<(), ExecError> {
    real_dir_for(dir, &format!("it could write outside `{}`", venv.display()))
}

/// `dir` must be a real directory; `risk` says what writing through a link there would do.
fn real_dir_for(dir: &Path, risk: &str) -> Result<(), ExecError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) if meta.is_symlink() => Err(ExecError::Refused {
            path: dir.to_path_buf(),
            op: "change the venv".into(),
            why: format!(
                "it is a symlink{}; venvfix never writes through a linked directory ({risk})",
                fs::read_link(dir)
                    .map(|t| format!(" to `{}`", t.display()))
                    .unwrap_or_default(),
            ),
        }),
        Ok(_) => Err(ExecError::Refused {
            path: dir.to_path_buf(),
            op: "change the venv".into(),
            why: "it is not a directory".into(),
        }),
        Err(e) => Err(ExecError::io(dir, "inspect", e)),
    }
}

fn may_write(dir: &Path) -> Result<(), ExecError> {
    access(dir, AccessFlags::W_OK | AccessFlags::X_OK).map_err(|errno| ExecError::Refused {
        path: dir.to_path_buf(),
        op: "change the venv".into(),
        why: format!(
            "this directory cannot be written ({}); nothing was changed",
            std::io::Error::from(errno)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_link_outside_the_venv_is_reached_only_through_real_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        fs::create_dir_all(root.join("pyenv/versions")).unwrap();
        assert!(check_outside(&root.join("pyenv/versions/app")).is_ok());
        symlink("pyenv", root.join("linked")).unwrap();
        let err = check_outside(&root.join("linked/versions/app")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }

    #[test]
    fn a_linked_directory_on_the_way_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("v");
        fs::create_dir_all(tmp.path().join("outside/bin")).unwrap();
        fs::create_dir(&venv).unwrap();
        symlink("../outside/bin", venv.join("bin")).unwrap();
        let err = check(&venv, &[PathBuf::from("bin/python3")]).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(check(&venv, &[PathBuf::from("pyvenv.cfg")]).is_ok());
        assert!(check_parent(&venv).is_ok());
        let err = check_parent(&venv.join("bin")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }
}
