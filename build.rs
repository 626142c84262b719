//! Test tiers, decided when the crate is built: which Pythons this machine has.
//!
//! Integration tests that need a particular interpreter are marked
//! `#[cfg_attr(not(pyenv_3_8), ignore = "needs pyenv 3.8")]`, so plain `cargo test` runs every
//! test the machine can run and lists the others as ignored, with the reason, instead of letting
//! them pass silently. The cfgs:
//! - `pyenv_X_Y`: `$PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y` exists (2.7 and 3.6 to 3.15);
//! - `system_python`: Debian's `/usr/bin/python3.11` with `ensurepip` and `venv`.
//!
//! Nothing here is used by the library or the binary.

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

fn main() {
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
