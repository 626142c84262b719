//! Unit tests of the executor's recreate scaffolding (the whole-venv backup and its restore);
//! relinking on real venvs is tested in `tests/execute.rs`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;
use crate::plan::Strategy;

fn recreate_plan(venv: &Path) -> Plan {
    Plan {
        venv: venv.to_path_buf(),
        strategy: Strategy::Recreate,
        target: None,
        actions: vec![Action::Recreate(Box::default())],
        alternatives: Vec::new(),
        resolves: Vec::new(),
        unresolved: Vec::new(),
        reason: "test".into(),
        notes: Vec::new(),
    }
}

/// Relative path → (kind, link target or content) for every entry, links not followed.
fn listing(root: &Path) -> Vec<(PathBuf, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_symlink() {
                out.push((
                    rel,
                    format!("-> {}", fs::read_link(&path).unwrap().display()),
                ));
            } else if meta.is_dir() {
                out.push((rel, "dir".into()));
                walk(root, &path, out);
            } else {
                let mode = meta.permissions().mode() & 0o7777;
                out.push((rel, format!("{mode:o} {:?}", fs::read(&path).unwrap())));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn old_venv(tmp: &Path) -> PathBuf {
    let venv = tmp.join("venv");
    fs::create_dir_all(venv.join("bin")).unwrap();
    fs::create_dir_all(venv.join("lib/python3.8/site-packages")).unwrap();
    fs::write(venv.join("pyvenv.cfg"), "home = /gone/bin\n").unwrap();
    symlink("/gone/bin/python3.8", venv.join("bin/python3")).unwrap();
    symlink("lib", venv.join("lib64")).unwrap();
    fs::write(venv.join("lib/python3.8/site-packages/hello.py"), "x = 1\n").unwrap();
    venv
}

#[test]
fn recreate_moves_the_original_aside_and_the_hook_builds_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = old_venv(tmp.path());
    let before = listing(&venv);
    let options = ExecOptions::new(tmp.path().join("state"));
    let hook = |_: &RecreateSpec, root: &Path, original: &Path| -> Result<(), String> {
        assert!(
            fs::read_dir(root)
                .map_err(|e| e.to_string())?
                .next()
                .is_none()
        );
        // The original, moved aside, is where the hook finds the files it carries over.
        assert_ne!(original, root);
        assert_eq!(
            fs::read_to_string(original.join("pyvenv.cfg")).map_err(|e| e.to_string())?,
            "home = /gone/bin\n"
        );
        fs::write(root.join("pyvenv.cfg"), "home = /new/bin\n").map_err(|e| e.to_string())
    };
    // No interpreter in the new venv: verification fails and the original comes back.
    let err = apply_with(
        &recreate_plan(&venv),
        &Inventory::default(),
        &options,
        Some(&hook),
    )
    .unwrap_err();
    assert!(matches!(err, ExecError::VerifyFailed { .. }), "{err}");
    assert_eq!(listing(&venv), before);
    assert!(pending(&venv, &options).is_none());
}

#[test]
fn a_failing_hook_puts_the_original_back_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = old_venv(tmp.path());
    let before = listing(&venv);
    let options = ExecOptions::new(tmp.path().join("state"));
    let hook = |_: &RecreateSpec, root: &Path, _: &Path| -> Result<(), String> {
        fs::create_dir(root.join("bin")).map_err(|e| e.to_string())?;
        // A link out of the venv: removing the partial venv must not follow it.
        symlink(root.parent().unwrap().join("outside"), root.join("bin/out"))
            .map_err(|e| e.to_string())?;
        Err("uv failed: no matching distribution for `torch==1.0`".into())
    };
    fs::create_dir(tmp.path().join("outside")).unwrap();
    fs::write(tmp.path().join("outside/keep"), "keep").unwrap();
    let err = apply_with(
        &recreate_plan(&venv),
        &Inventory::default(),
        &options,
        Some(&hook),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("torch==1.0") && text.contains("rolled back"),
        "{text}"
    );
    assert_eq!(listing(&venv), before);
    assert_eq!(fs::read(tmp.path().join("outside/keep")).unwrap(), b"keep");
}

#[test]
fn without_a_hook_a_recreate_is_refused_and_nothing_moves() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = old_venv(tmp.path());
    let before = listing(&venv);
    let options = ExecOptions::new(tmp.path().join("state"));
    let err = apply(&recreate_plan(&venv), &Inventory::default(), &options).unwrap_err();
    assert!(matches!(err, ExecError::InvalidPlan { .. }), "{err}");
    assert_eq!(listing(&venv), before);
}

#[test]
fn a_dir_that_venvfix_did_not_create_is_never_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = old_venv(tmp.path());
    let backups = tmp.path().join("backups");
    fs::create_dir(&backups).unwrap();
    let backup = Backup::prepare_whole(&venv, &backups, "repair").unwrap();
    backup.stage_new_dir().unwrap();
    backup.move_venv_in(true).unwrap();
    // Someone replaced the new dir with their own (ours kept, so its inode is not reused).
    fs::rename(&venv, tmp.path().join("ours")).unwrap();
    fs::create_dir(&venv).unwrap();
    fs::write(venv.join("theirs"), "x").unwrap();
    let err = backup.restore().unwrap_err();
    assert!(matches!(err, ExecError::Refused { .. }), "{err}");
    assert_eq!(fs::read(venv.join("theirs")).unwrap(), b"x");
    assert!(backup.dir.join("venv/pyvenv.cfg").exists());
}

#[test]
fn only_errors_after_a_change_count_as_not_done() {
    let io = || {
        ExecError::io(
            Path::new("/s"),
            "create",
            std::io::Error::other("Not a directory"),
        )
    };
    assert!(io().changed_nothing());
    assert!(ExecError::NoStateDir.changed_nothing());
    let rolled_back = ExecError::RolledBack {
        venv: PathBuf::from("/v"),
        cause: Box::new(io()),
    };
    assert!(!rolled_back.changed_nothing());
    let verify = ExecError::VerifyFailed {
        venv: PathBuf::from("/v"),
        problems: vec!["x".into()],
    };
    assert!(!verify.changed_nothing());
    // Messages about the whole venv leave naming it to the caller.
    assert!(!verify.to_string().contains("`/v`"), "{verify}");
    assert!(!rolled_back.to_string().contains("`/v`"), "{rolled_back}");
}

#[test]
fn a_state_dir_that_cannot_be_created_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let venv = old_venv(tmp.path());
    let before = listing(&venv);
    fs::write(tmp.path().join("file"), "x").unwrap();
    let options = ExecOptions::new(tmp.path().join("file/state"));
    let err = apply(&recreate_plan(&venv), &Inventory::default(), &options).unwrap_err();
    assert!(matches!(err, ExecError::Io { .. }), "{err}");
    assert!(err.changed_nothing());
    assert_eq!(listing(&venv), before);
}
