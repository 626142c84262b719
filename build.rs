//! Two things decided when the crate is built: the commit `--version` names, and the test tiers
//! (which Pythons this machine has).
//!
//! `VENVFIX_COMMIT` and `VENVFIX_COMMIT_DATE` are the short hash and the commit date of the
//! checkout, read with `git` when the sources are a git work tree (empty otherwise, as in a
//! crate tarball); `venvfix --version` prints them like uv does.
//!
//! Integration tests that need a particular interpreter are marked
//! `#[cfg_attr(not(pyenv_3_8), ignore = "needs pyenv 3.8")]`, so plain `cargo test` runs every
//! test the machine can run and lists the others as ignored, with the reason, instead of letting
//! them pass silently. The cfgs:
//! - `pyenv_X_Y`: `$PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y` exists (2.7 and 3.6 to 3.15);
//! - `system_python`: Debian's `/usr/bin/python3.11` with `ensurepip` and `venv`.
//!
//! The test tiers are not used by the library or the binary.

use std::path::PathBuf;
use std::process::{Command, Stdio};

const MINORS: &[&str] = &[
    "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15",
];

fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))
}

fn has_pyenv_minor(versions: &std::path::Path, minor: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(versions) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_patch = name
            .strip_prefix(minor)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|patch| patch.parse::<u64>().is_ok());
        is_patch
            && entry
                .path()
                .join("bin")
                .join(format!("python{minor}"))
                .is_file()
    })
}

/// `git ARGS` in the crate's directory, trimmed; `None` when git is missing or fails.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// The commit and its date for `--version`, rebuilt whenever HEAD moves.
fn commit_info() {
    let commit = git(&["rev-parse", "--short=9", "HEAD"]).unwrap_or_default();
    let date = git(&["log", "-1", "--format=%cs", "HEAD"]).unwrap_or_default();
    println!("cargo::rustc-env=VENVFIX_COMMIT={commit}");
    println!("cargo::rustc-env=VENVFIX_COMMIT_DATE={date}");
    // HEAD names a branch whose ref moves on each commit; a worktree keeps its HEAD apart from
    // the shared refs, so ask git where each file is.
    let mut watched = vec!["HEAD".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    watched.push("packed-refs".to_string());
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
            if path.exists() {
                println!("cargo::rerun-if-changed={}", path.display());
            }
        }
    }
}

fn main() {
    commit_info();
    println!("cargo::rerun-if-env-changed=PYENV_ROOT");
    println!("cargo::rerun-if-env-changed=HOME");
    println!("cargo::rustc-check-cfg=cfg(system_python)");
    let versions = pyenv_root().map(|root| root.join("versions"));
    if let Some(versions) = &versions {
        println!("cargo::rerun-if-changed={}", versions.display());
    }
    for minor in MINORS {
        let cfg = format!("pyenv_{}", minor.replace('.', "_"));
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if versions
            .as_deref()
            .is_some_and(|versions| has_pyenv_minor(versions, minor))
        {
            println!("cargo::rustc-cfg={cfg}");
        }
    }

    let debian = "/usr/bin/python3.11";
    println!("cargo::rerun-if-changed={debian}");
    let usable = Command::new(debian)
        .args(["-I", "-c", "import ensurepip, venv"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if usable {
        println!("cargo::rustc-cfg=system_python");
    }
}
