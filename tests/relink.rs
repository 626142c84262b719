//! Relinks that stay right (issue 13): verification that imports what a user's code imports
//! and never rejects a working venv, patch upgrades in place kept, stable paths written, and
//! each installer's next routine upgrade survived.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The venv's `lib/pythonX.Y/site-packages`.
fn site_packages(venv: &Path, minor: &str) -> PathBuf {
    venv.join(format!("lib/python{minor}/site-packages"))
}

/// Put a distribution straight into site-packages, the way an installer leaves it:
/// `files` relative to site-packages, listed in `RECORD`, `top_level` in `top_level.txt`.
fn add_dist(site: &Path, name: &str, top_level: &[&str], files: &[(&str, &[u8])]) {
    let info = site.join(format!("{name}-1.0.dist-info"));
    fs::create_dir_all(&info).unwrap();
    let mut record = String::new();
    for (rel, bytes) in files {
        let path = site.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        record.push_str(&format!("{rel},,\n"));
    }
    fs::write(
        info.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
    )
    .unwrap();
    fs::write(info.join("INSTALLER"), "pip\n").unwrap();
    fs::write(info.join("top_level.txt"), top_level.join("\n") + "\n").unwrap();
    record.push_str(&format!("{name}-1.0.dist-info/RECORD,,\n"));
    fs::write(info.join("RECORD"), record).unwrap();
}

/// `importlib.machinery.EXTENSION_SUFFIXES[0]` of `python`: `.cpython-311-x86_64-linux-gnu.so`.
fn extension_suffix(python: &Python) -> String {
    let out = python.run(&[
        "-I",
        "-c",
        "import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0])",
    ]);
    text(&out.stdout).trim().to_string()
}

/// A venv on a copy of [`python3`] whose base was deleted, another copy discoverable.
struct Broken {
    env: TestEnv,
    venv: PathBuf,
    new: Python,
}

fn base_removed(prepare: impl FnOnce(&Path, &Python)) -> Broken {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    prepare(&venv, &py);
    fs::remove_dir_all(&old.prefix).unwrap();
    Broken { env, venv, new }
}

#[test]
fn a_test_extension_that_never_imports_does_not_fail_the_relink() {
    // numpy's `core._umath_tests` raises in every healthy numpy; this one is not even an ELF.
    let Broken { env, venv, new } = base_removed(|venv, py| {
        install(
            venv,
            &[
                "tinyjson",
                &format!("markupsafe=={}", markupsafe_version(&py.minor)),
            ],
        );
        let suffix = extension_suffix(py);
        let trap = format!("trap/core/_trap_tests{suffix}");
        add_dist(
            &site_packages(venv, &py.minor),
            "trap",
            &["trap"],
            &[
                ("trap/__init__.py", b"from . import core\n"),
                ("trap/core/__init__.py", b""),
                (&trap, b"not an extension module"),
            ],
        );
    });
    let out = env
        .venvfix()
        .args(["repair", "--yes", "-v"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let link = fs::read_link(venv.join(format!("bin/python{}", new.minor))).unwrap();
    assert_eq!(link, new.exe);
    let imports = python_command(&venv.join("bin/python"))
        .args(["-c", "import tinyjson, markupsafe, trap"])
        .output()
        .unwrap();
    assert!(imports.status.success(), "{}", text(&imports.stderr));
}

#[test]
fn a_package_broken_everywhere_is_named_and_does_not_undo_the_repair() {
    let Broken { env, venv, .. } = base_removed(|venv, py| {
        add_dist(
            &site_packages(venv, &py.minor),
            "needslib",
            &["needslib"],
            &[(
                "needslib/__init__.py",
                b"raise ImportError('libneeds.so.1: cannot open shared object file')\n",
            )],
        );
    });
    let out = env
        .venvfix()
        .args(["repair", "--yes", "-v"])
        .arg(&venv)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("`import needslib` fails"), "{all}");
    assert!(all.contains("fails the same way in a fresh venv"), "{all}");
}

#[test]
fn an_extension_no_interpreter_of_the_minor_loads_is_named() {
    // A compiled module built for another ABI (copied in from another minor's venv): the
    // interpreter looks only for its own suffixes, so it can never load it.
    let Broken { env, venv, .. } = base_removed(|venv, py| {
        add_dist(
            &site_packages(venv, &py.minor),
            "oldabi",
            &["oldabi"],
            &[
                ("oldabi/__init__.py", b""),
                ("oldabi/_speed.cpython-27-x86_64-linux-gnu.so", b"x"),
            ],
        );
    });
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("`oldabi._speed`"), "{all}");
    assert!(all.contains(".cpython-27-x86_64-linux-gnu.so"), "{all}");
}
