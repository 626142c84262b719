//! `venvfix check` on real venvs, made with real interpreters and broken the way users break
//! them: the base deleted, `python3` repointed, a link swapped to another build, the venv moved,
//! the config garbled. Every test also proves that `check` changed nothing on disk.

mod support;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::*;

/// Run `venvfix check --json` on `paths`, assert the exit code, and return the report.
fn check_json(env: &TestEnv, paths: &[&Path], code: i32) -> Value {
    let out = env
        .venvfix()
        .arg("check")
        .arg("--json")
        .args(paths)
        .output()
        .expect("run venvfix");
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("check --json prints JSON")
}

/// The problem kinds reported for the venv at `path`.
fn kinds(report: &Value, path: &Path) -> Vec<String> {
    let venv = report["venvs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["path"] == path.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} not in report: {report:#}", path.display()));
    venv["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect()
}

fn venv_entry<'a>(report: &'a Value, path: &Path) -> &'a Value {
    report["venvs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["path"] == path.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} not in report: {report:#}", path.display()))
}

/// `check` must leave the tree exactly as it was.
fn check_changes_nothing(env: &TestEnv, dir: &Path, code: i32) -> Value {
    let before = snapshot(dir);
    let report = check_json(env, &[dir], code);
    assert_same_tree(&before, &snapshot(dir));
    report
}

#[test]
fn a_healthy_venv_is_ok_and_exit_0() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("ok");
    make_venv(&py.exe, &venv, &[]);
    let report = check_changes_nothing(&env, &venv, 0);
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["status"], "ok", "{report:#}");
    assert_eq!(entry["creator"], "venv");
    assert_eq!(entry["interpreter"]["exists"], true);
    assert_eq!(entry["interpreter"]["version"], py.version.as_str());
    assert_eq!(report["summary"]["ok"], 1);
}

#[test]
fn base_removed_is_interpreter_missing() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("proj/venv");
    make_venv(&base.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    fs::remove_dir_all(&base.prefix).unwrap();

    let report = check_changes_nothing(&env, &env.path("proj"), 1);
    assert_eq!(kinds(&report, &venv), ["interpreter-missing"]);
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["status"], "broken");
    assert_eq!(entry["interpreter"]["exists"], false);
    assert_eq!(
        entry["interpreter"]["target"],
        base.exe.to_str().unwrap(),
        "the evidence names the link target"
    );
    let message = entry["problems"][0]["message"].as_str().unwrap();
    assert!(message.contains(base.exe.to_str().unwrap()), "{message}");
}

/// The user's case: a pyenv launcher copied by `--copies` loads `libpython` from its RUNPATH
/// (the original pyenv prefix), not from `home`. With `home` gone it still runs.
#[test]
fn copied_launcher_whose_home_is_gone_still_runs_and_is_stale_home() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("copies");
    make_venv(&base.exe, &venv, &["--copies"]);
    assert!(
        !fs::symlink_metadata(venv.join("bin/python"))
            .unwrap()
            .is_symlink()
    );
    fs::remove_dir_all(&base.prefix).unwrap();
    let runs = python_command(&venv.join("bin/python"))
        .args(["-c", "import sys"])
        .output()
        .unwrap();
    assert!(
        runs.status.success(),
        "the test premise: the copy still runs"
    );

    let report = check_changes_nothing(&env, &venv, 0);
    assert_eq!(kinds(&report, &venv), ["stale-home"], "{report:#}");
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["status"], "warning");
    let message = entry["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(base.bin_dir().to_str().unwrap()),
        "{message}"
    );
    if let Some(lib) = libpython_of(&venv.join("bin/python")) {
        let compiled = format!("prefix compiled into it, `{}`", py.prefix.display());
        assert!(message.contains(&compiled), "{message}");
        assert!(message.contains(&lib), "{message}");
        assert!(
            message.contains(py.prefix.join("lib").to_str().unwrap()),
            "names the RUNPATH dir it loads from: {message}"
        );
        assert_eq!(entry["interpreter"]["version"], py.version.as_str());
    }
}

/// The `libpython` a binary needs, read with venvfix's own ELF reader.
fn libpython_of(binary: &Path) -> Option<String> {
    let dynamic = venvfix::elf::read_dynamic(binary)?;
    dynamic
        .libpython()
        .map(|l| l.to_string_lossy().into_owned())
}

/// Replace every NUL-terminated occurrence of `old` in `bytes` with `new` (same length).
fn replace_c_string(bytes: &mut [u8], old: &[u8], new: &[u8]) -> usize {
    assert_eq!(old.len(), new.len(), "an in-place edit keeps the length");
    let mut count = 0;
    let mut at = 0;
    while let Some(pos) = bytes[at..]
        .windows(old.len() + 1)
        .position(|w| w[..old.len()] == *old && w[old.len()] == 0)
    {
        let start = at + pos;
        bytes[start..start + new.len()].copy_from_slice(new);
        count += 1;
        at = start + new.len();
    }
    count
}

/// A copied launcher whose `libpython` really is gone: the copies' RUNPATH strings are edited in
/// place (same length) to a dir that does not exist, which is what a copy bound to a deleted
/// prefix looks like. The `.dynstr` edit is a valid binary for the loader and for venvfix.
#[test]
fn copied_launcher_whose_libpython_is_gone_is_interpreter_missing() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("copies");
    make_venv(&base.exe, &venv, &["--copies"]);
    let lib = libpython_of(&venv.join("bin/python")).unwrap_or_else(|| {
        panic!(
            "this test needs a python3 built with --enable-shared (as pyenv builds it); {} \
             needs no libpython: set VENVFIX_TEST_PYTHON to such a Python",
            py.exe.display()
        )
    });
    let dynamic = venvfix::elf::read_dynamic(&venv.join("bin/python")).unwrap();
    let runpath = dynamic
        .runpath
        .clone()
        .expect("a pyenv launcher has a RUNPATH");
    let runpath = runpath.as_bytes();
    let gone = {
        let mut p = vec![b'x'; runpath.len()];
        p[0] = b'/';
        p
    };
    // Where the OS ships the same libpython (Debian's libpython3.11 package), the loader would
    // find it there; rename the needed library too, so the copy needs one that exists nowhere.
    let system_has_it = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
        "/lib",
    ]
    .iter()
    .any(|d| Path::new(d).join(&lib).exists());
    let needed = if system_has_it {
        let mut renamed = lib.clone().into_bytes();
        let last = renamed.len() - 1;
        renamed[last] = b'9';
        renamed
    } else {
        lib.clone().into_bytes()
    };
    for entry in fs::read_dir(venv.join("bin")).unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("python") || !entry.file_type().unwrap().is_file() {
            continue;
        }
        let mut bytes = fs::read(entry.path()).unwrap();
        assert_eq!(replace_c_string(&mut bytes, runpath, &gone), 1);
        replace_c_string(&mut bytes, lib.as_bytes(), &needed);
        fs::write(entry.path(), bytes).unwrap();
    }
    fs::remove_dir_all(&base.prefix).unwrap();
    let runs = python_command(&venv.join("bin/python"))
        .args(["-c", "import sys"])
        .output()
        .unwrap();
    assert!(
        !runs.status.success(),
        "the test premise: the copy cannot start"
    );

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["interpreter-missing"], "{report:#}");
    let message = venv_entry(&report, &venv)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&String::from_utf8(needed).unwrap()),
        "{message}"
    );
    assert!(
        message.contains(std::str::from_utf8(&gone).unwrap()),
        "{message}"
    );
}

/// virtualenv < 20, written by hand from the layout it made: no pyvenv.cfg,
/// `lib/python3.X/orig-prefix.txt`, the stdlib symlinked into `lib/python3.X`, `bin/python3.X`
/// a copy of the base binary and `bin/python -> python3.X`.
fn make_legacy_virtualenv(base: &Python, venv: &Path) {
    let minor = &base.minor;
    let exe = format!("python{minor}");
    let lib = venv.join("lib").join(&exe);
    fs::create_dir_all(venv.join("bin")).unwrap();
    fs::create_dir_all(lib.join("site-packages/tinyjson-1.0.dist-info")).unwrap();
    fs::create_dir_all(venv.join("include")).unwrap();
    fs::write(
        lib.join("site-packages/tinyjson-1.0.dist-info/METADATA"),
        "Metadata-Version: 2.1\nName: tinyjson\nVersion: 1.0\n",
    )
    .unwrap();
    fs::write(
        venv.join("bin/activate"),
        format!(
            "# This file must be used with \"source bin/activate\"\nVIRTUAL_ENV=\"{}\"\n",
            venv.display()
        ),
    )
    .unwrap();
    copy_executable(&base.exe, &venv.join("bin").join(&exe));
    symlink(&exe, venv.join("bin/python")).unwrap();
    symlink(&exe, venv.join("bin/python3")).unwrap();
    fs::write(lib.join("orig-prefix.txt"), base.prefix.to_str().unwrap()).unwrap();
    fs::write(lib.join("no-global-site-packages.txt"), "").unwrap();
    let stdlib = base.prefix.join("lib").join(&exe);
    for name in [
        "os.py",
        "abc.py",
        "codecs.py",
        "encodings",
        "stat.py",
        "posixpath.py",
        "lib-dynload",
    ] {
        symlink(stdlib.join(name), lib.join(name)).unwrap();
    }
    symlink(
        base.prefix.join("include").join(&exe),
        venv.join("include").join(&exe),
    )
    .unwrap();
}

#[test]
fn legacy_virtualenv_with_its_base_is_ok() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("legacy");
    make_legacy_virtualenv(&base, &venv);
    let report = check_changes_nothing(&env, &venv, 0);
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["creator"], "virtualenv-legacy");
    assert_eq!(entry["status"], "ok", "{report:#}");
}

/// The trial's case: reported as warnings only, with one line per stdlib link, while
/// `bin/python` could not import the venv's packages.
#[test]
fn legacy_virtualenv_whose_base_is_gone_is_interpreter_missing() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("legacy");
    make_legacy_virtualenv(&base, &venv);
    fs::remove_dir_all(&base.prefix).unwrap();

    let report = check_changes_nothing(&env, &venv, 1);
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["status"], "broken", "{report:#}");
    assert_eq!(
        kinds(&report, &venv),
        ["interpreter-missing", "dangling-link", "dangling-link"],
        "one dangling-link for lib/python3.X, one for include: {report:#}"
    );
    let messages: Vec<&str> = entry["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert!(messages[0].contains("orig-prefix.txt"), "{}", messages[0]);
    assert!(
        messages[0].contains(base.prefix.to_str().unwrap()),
        "{}",
        messages[0]
    );
    let lib = format!("lib/python{}", py.minor);
    let summary = messages
        .iter()
        .find(|m| m.starts_with(&format!("`{lib}`")))
        .unwrap_or_else(|| panic!("{messages:?}"));
    assert!(summary.contains("7 links lead nowhere"), "{summary}");
    assert!(
        summary.contains(&format!(
            "e.g. `os.py -> {}/{lib}/os.py`",
            base.prefix.display()
        )),
        "{summary}"
    );
}

#[test]
fn virtualenv_and_uv_venvs_are_recognised_and_their_breakage_found() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    env.add_python(&py);
    let ve = env.path("projects/ve");
    let uv = env.path("projects/uv");
    make_virtualenv(&base.exe, &ve, &["--no-seed"]);
    make_uv_venv(&base.exe, &uv, &[]);
    let healthy = env.path("projects/uv-ok");
    make_uv_venv(&py.exe, &healthy, &[]);
    fs::remove_dir_all(&base.prefix).unwrap();

    let report = check_changes_nothing(&env, &env.path("projects"), 1);
    assert_eq!(venv_entry(&report, &ve)["creator"], "virtualenv");
    assert_eq!(venv_entry(&report, &uv)["creator"], "uv");
    assert_eq!(kinds(&report, &ve), ["interpreter-missing"]);
    assert_eq!(kinds(&report, &uv), ["interpreter-missing"]);
    assert_eq!(venv_entry(&report, &healthy)["status"], "ok", "{report:#}");
    assert_eq!(report["summary"]["broken"], 2);
}

/// Story 1 with one Python: the packages sit in `lib/python3.<other>` (the venv was made with
/// another minor), while `bin/python3` leads to this machine's Python.
#[test]
fn packages_of_another_minor_are_minor_mismatch() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    let (major, minor) = py.minor.split_once('.').unwrap();
    let old_minor = format!("{major}.{}", minor.parse::<u32>().unwrap() - 1);
    fs::rename(
        venv.join(format!("lib/python{}", py.minor)),
        venv.join(format!("lib/python{old_minor}")),
    )
    .unwrap();
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            &format!("version = {}", py.version),
            &format!("version = {old_minor}.18"),
        ),
    )
    .unwrap();

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["minor-mismatch"]);
    let message = venv_entry(&report, &venv)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&format!("lib/python{old_minor}/site-packages")),
        "{message}"
    );
    assert!(message.contains(&py.version), "{message}");
}

/// Story 1 with real minors: a venv made through `usrbin/python3 -> 3.8`, then `python3` is
/// repointed to 3.9 (what an OS upgrade does to `/usr/bin/python3`).
#[test]
#[cfg_attr(
    not(all(pyenv_3_8, pyenv_3_9)),
    ignore = "needs pyenv 3.8 and 3.9 (~/.pyenv/versions/3.8.*, 3.9.*)"
)]
fn python3_repointed_to_another_minor_is_minor_mismatch() {
    let env = TestEnv::new();
    let py38 = pyenv_python("3.8").expect("pyenv 3.8");
    let py39 = pyenv_python("3.9").expect("pyenv 3.9");
    env.add_python(&py38).add_python(&py39);
    let usrbin = env.path("usrbin");
    fs::create_dir(&usrbin).unwrap();
    symlink(&py38.exe, usrbin.join("python3")).unwrap();
    let venv = env.path("venv");
    make_venv(&usrbin.join("python3"), &venv, &[]);
    install(&venv, &["tinyjson"]);
    fs::remove_file(usrbin.join("python3")).unwrap();
    symlink(&py39.exe, usrbin.join("python3")).unwrap();

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["minor-mismatch"]);
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["interpreter"]["version"], py39.version.as_str());
    assert_eq!(entry["version"], py38.version.as_str());
}

/// The half-done manual fix: the link is swapped to another build of the same minor, `home`
/// still names the old one, whose standard library then wins: mixed builds.
#[test]
fn link_swapped_to_another_build_is_home_mismatch() {
    let env = TestEnv::new();
    let py = python3();
    let a = env.copy_prefix(&py, "sys/a");
    let b = env.copy_prefix(&py, "sys/b");
    env.search_path(&[a.bin_dir(), b.bin_dir()]);
    let venv = env.path("venv");
    make_venv(&a.exe, &venv, &[]);
    let link = venv.join(format!("bin/python{}", py.minor));
    fs::remove_file(&link).unwrap();
    symlink(&b.exe, &link).unwrap();

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["home-mismatch"]);
    let message = venv_entry(&report, &venv)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("mixed builds"), "{message}");
    assert!(message.contains(a.bin_dir().to_str().unwrap()), "{message}");
}

/// A patch upgrade in place: the venv recorded the previous patch.
#[test]
fn another_patch_than_recorded_is_patch_mismatch_warning_for_links_error_for_copies() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let linked = env.path("linked");
    let copies = env.path("copies");
    make_venv(&py.exe, &linked, &[]);
    make_venv(&py.exe, &copies, &["--copies"]);
    let (minor, patch) = py.version.rsplit_once('.').unwrap();
    let older = format!("{minor}.{}", patch.parse::<u32>().unwrap() + 1);
    for venv in [&linked, &copies] {
        let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
        fs::write(
            venv.join("pyvenv.cfg"),
            cfg.replace(
                &format!("version = {}", py.version),
                &format!("version = {older}"),
            ),
        )
        .unwrap();
    }
    let report = check_json(&env, &[&linked, &copies], 1);
    assert_eq!(kinds(&report, &linked), ["patch-mismatch"]);
    assert_eq!(venv_entry(&report, &linked)["status"], "warning");
    assert_eq!(
        venv_entry(&report, &linked)["problems"][0]["severity"],
        "warning"
    );
    assert_eq!(kinds(&report, &copies), ["patch-mismatch"]);
    assert_eq!(venv_entry(&report, &copies)["status"], "broken");
}

#[test]
fn garbage_config_and_link_loops_are_reported_and_others_still_checked() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let garbage = env.path("projects/garbage");
    let looped = env.path("projects/loop");
    let missing = env.path("projects/nocfg");
    let fine = env.path("projects/fine");
    for venv in [&garbage, &looped, &missing, &fine] {
        make_venv(&py.exe, venv, &[]);
    }
    fs::write(garbage.join("pyvenv.cfg"), b"\x00\x9f\xffPK\x03\x04garbage").unwrap();
    let versioned = format!("python{}", py.minor);
    fs::remove_file(looped.join("bin").join(&versioned)).unwrap();
    symlink("python", looped.join("bin").join(&versioned)).unwrap();
    fs::remove_file(missing.join("pyvenv.cfg")).unwrap();

    let report = check_changes_nothing(&env, &env.path("projects"), 1);
    assert_eq!(kinds(&report, &garbage), ["invalid-config"]);
    assert_eq!(kinds(&report, &looped), ["interpreter-missing"]);
    let message = venv_entry(&report, &looped)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("loop"), "{message}");
    assert_eq!(kinds(&report, &missing), ["invalid-config"]);
    assert_eq!(venv_entry(&report, &fine)["status"], "ok");
    assert_eq!(report["summary"]["broken"], 3);
}

#[test]
fn a_link_to_a_script_is_never_executed() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("evil");
    make_venv(&py.exe, &venv, &[]);
    let marker = env.path("MARKER");
    let script = env.write(
        "payload/bin/python3.99",
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    );
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for name in ["python", "python3"] {
        fs::remove_file(venv.join("bin").join(name)).unwrap();
        symlink(&script, venv.join("bin").join(name)).unwrap();
    }
    // Also name it in pyvenv.cfg's home: still only read, never run.
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            py.bin_dir().to_str().unwrap(),
            script.parent().unwrap().to_str().unwrap(),
        ),
    )
    .unwrap();
    env.venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .assert()
        .code(1);
    env.venvfix().arg("check").arg(&venv).assert().code(1);
    assert!(
        !marker.exists(),
        "venvfix executed a file reached through the venv"
    );
}

#[test]
fn a_moved_venv_is_reported() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let old = env.path("old");
    make_venv(&py.exe, &old, &[]);
    install(&old, &["venvfix-demo"]);
    let new = env.path("new");
    fs::rename(&old, &new).unwrap();
    // Its console script leads nowhere: an error (finding 9.2), exit 1.
    let report = check_changes_nothing(&env, &new, 1);
    assert_eq!(kinds(&report, &new), ["moved-venv"]);
    assert_eq!(
        venv_entry(&report, &new)["problems"][0]["severity"],
        "error"
    );
    let message = venv_entry(&report, &new)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(old.to_str().unwrap()), "{message}");
    let hint = venv_entry(&report, &new)["problems"][0]["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        hint.contains(&format!("venvfix repair {}", new.display())),
        "{hint}"
    );
}

/// A link to a script with no version anywhere (no discovery, no `lib/pythonX.Y`, no version
/// in its name) was reported `ok`; a script is never an interpreter: an error, never run.
#[test]
fn a_link_to_an_unidentifiable_script_is_unknown_interpreter_error() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("odd");
    make_venv(&py.exe, &venv, &[]);
    let marker = env.path("MARKER");
    let script = env.write(
        "tools/run-me",
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    );
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(venv.join("bin")).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("python") {
            fs::remove_file(entry.path()).unwrap();
            symlink(&script, entry.path()).unwrap();
        }
    }
    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["unknown-interpreter"], "{report:#}");
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["status"], "broken");
    assert_eq!(entry["problems"][0]["severity"], "error");
    assert_eq!(entry["interpreter"]["version"], Value::Null);
    let message = entry["problems"][0]["message"].as_str().unwrap();
    assert!(message.contains(script.to_str().unwrap()), "{message}");
    assert!(message.contains("a script (`#!/bin/sh`)"), "{message}");
    assert!(message.contains("it was not run"), "{message}");
    assert!(
        !marker.exists(),
        "venvfix executed a file reached through the venv"
    );
}

/// Patch mismatch beside mixed builds must not call itself harmless "while binary and standard
/// library come from one build": the home-mismatch says they do not.
#[test]
fn patch_mismatch_beside_home_mismatch_does_not_claim_one_build() {
    let env = TestEnv::new();
    let py = python3();
    let a = env.copy_prefix(&py, "sys/a");
    let b = env.copy_prefix(&py, "sys/b");
    env.search_path(&[a.bin_dir(), b.bin_dir()]);
    let venv = env.path("venv");
    make_venv(&a.exe, &venv, &[]);
    let link = venv.join(format!("bin/python{}", py.minor));
    fs::remove_file(&link).unwrap();
    symlink(&b.exe, &link).unwrap();
    let (minor, patch) = py.version.rsplit_once('.').unwrap();
    let other = format!("{minor}.{}", patch.parse::<u32>().unwrap() + 1);
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            &format!("version = {}", py.version),
            &format!("version = {other}"),
        ),
    )
    .unwrap();

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["patch-mismatch", "home-mismatch"]);
    let message = venv_entry(&report, &venv)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(&other), "{message}");
    assert!(!message.contains("one build"), "{message}");
}

#[test]
fn a_venv_named_with_a_trailing_slash_or_dot_is_reported_by_its_plain_path() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    for given in [
        format!("{}/", venv.display()),
        format!("{}/.", venv.display()),
    ] {
        let report = check_json(&env, &[Path::new(&given)], 0);
        assert_eq!(
            report["venvs"][0]["path"],
            venv.to_str().unwrap(),
            "{given}"
        );
    }
    let out = env
        .venvfix()
        .args(["check", "-v", "venv/."])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} ", venv.display())), "{stdout}");
    assert!(!stdout.contains("venv/."), "{stdout}");
}

#[test]
fn stale_home_dangling_include_and_orphaned_packages_are_warnings() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(py.bin_dir().to_str().unwrap(), "/nonexistent/python/bin"),
    )
    .unwrap();
    symlink(
        "/nonexistent/include/python3.8",
        venv.join("include/python3.8"),
    )
    .unwrap();
    fs::create_dir_all(venv.join("lib/python3.1/site-packages/old-1.0.dist-info")).unwrap();
    let report = check_changes_nothing(&env, &venv, 0);
    let mut found = kinds(&report, &venv);
    found.sort();
    assert_eq!(
        found,
        ["dangling-link", "orphaned-site-packages", "stale-home"]
    );
    assert_eq!(venv_entry(&report, &venv)["status"], "warning");
}

#[test]
fn searches_hidden_dirs_and_odd_names_but_not_into_venvs() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let odd = env.root().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    let dot = odd.join(".venv");
    let tox = env.path("proj/.tox/py3");
    // Python cannot create a venv under a non-UTF-8 path; users move them there.
    let made = env.path("made");
    make_venv(&py.exe, &made, &[]);
    fs::create_dir(&odd).unwrap();
    fs::rename(&made, &dot).unwrap();
    make_venv(&py.exe, &tox, &[]);
    // A venv inside a venv's site-packages is a test fixture, not a venv of the user.
    let inner = env.path(format!(
        "proj/.tox/py3/lib/python{}/site-packages/fixture",
        py.minor
    ));
    make_venv(&py.exe, &inner, &[]);
    let report = check_json(&env, &[env.root()], 0);
    let paths: Vec<&str> = report["venvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths.iter().any(|p| p.ends_with("proj/.tox/py3")),
        "{paths:?}"
    );
}

#[test]
fn a_path_that_does_not_exist_is_exit_2_but_the_others_are_checked() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    let out = env
        .venvfix()
        .args(["check", "nope"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`nope` does not exist"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(venv.to_str().unwrap()), "{stdout}");
}

#[test]
fn text_output_names_each_problem_with_a_hint_and_a_summary() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("venv");
    make_venv(&base.exe, &venv, &[]);
    fs::remove_dir_all(&base.prefix).unwrap();
    let out = env.venvfix().arg("check").arg(&venv).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("broken"), "{stdout}");
    assert!(stdout.contains("[interpreter-missing]"), "{stdout}");
    assert!(
        stdout.contains(&format!("hint: run `venvfix repair {}`", venv.display())),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 venv checked: 0 ok, 0 with warnings, 1 broken"),
        "{stderr}"
    );
}

#[test]
fn a_file_inside_a_venv_means_that_venv_and_other_files_are_exit_2() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    let venv = env.path("venv");
    make_venv(&base.exe, &venv, &[]);
    fs::remove_dir_all(&base.prefix).unwrap();
    let report = check_json(&env, &[&venv.join("bin/python")], 1);
    assert_eq!(kinds(&report, &venv), ["interpreter-missing"]);
    let stray = env.write("notes.txt", "x");
    let report = check_json(&env, &[&stray, Path::new("nope")], 2);
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(errors, ["is not a directory or a venv", "does not exist"]);
}

#[test]
fn a_tree_without_venvs_says_so() {
    let env = TestEnv::new();
    fs::create_dir_all(env.path("empty/src")).unwrap();
    // `check DIR` and `repair DIR` agree: a directory without venvs holds nothing broken and
    // nothing to repair (exit 0), and they say so, with a hint.
    let out = env.venvfix().args(["check", "empty"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no venv found in `empty`"), "{stderr}");
    assert!(stderr.contains("hint: give the venv directory"), "{stderr}");
    let out = env.venvfix().args(["repair", "empty"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nothing to repair: no venv found in `empty`"),
        "{stderr}"
    );
}

/// The problems of the venv at `path` whose `entry` is `entry`.
fn problems_of<'a>(report: &'a Value, path: &Path, entry: &str) -> Vec<&'a Value> {
    venv_entry(report, path)["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["entry"] == entry)
        .collect()
}

/// The `entries` item of `name` (`python3`) in the venv at `path`.
fn entry_named<'a>(report: &'a Value, path: &Path, name: &str) -> &'a Value {
    let want = path.join("bin").join(name);
    venv_entry(report, path)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == want.to_str().unwrap())
        .unwrap_or_else(|| panic!("no entry {name}: {report:#}"))
}

/// Finding 9.1: the user relinks the entry they type (`bin/python3`) to another minor and
/// leaves `bin/python` alone. Every entry is judged: `bin/python3` is a minor mismatch, the
/// venv is broken, and a relink points every bad entry back.
#[test]
#[cfg_attr(not(all(pyenv_3_11, pyenv_3_12)), ignore = "needs pyenv 3.11 and 3.12")]
fn an_entry_relinked_by_hand_to_another_minor_is_judged_on_its_own() {
    let env = TestEnv::new();
    let py = pyenv_python("3.12").expect("pyenv 3.12");
    let other = pyenv_python("3.11").expect("pyenv 3.11");
    env.add_python(&py).add_python(&other);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    fs::remove_file(venv.join("bin/python3")).unwrap();
    symlink(&other.exe, venv.join("bin/python3")).unwrap();

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["minor-mismatch"], "{report:#}");
    let about = problems_of(&report, &venv, "bin/python3");
    assert_eq!(about.len(), 1, "{report:#}");
    let message = about[0]["message"].as_str().unwrap();
    assert!(message.contains(&other.version), "{message}");
    assert_eq!(entry_named(&report, &venv, "python3")["status"], "broken");
    assert_eq!(
        entry_named(&report, &venv, "python3")["version"],
        other.version.as_str()
    );
    assert_eq!(entry_named(&report, &venv, "python")["status"], "ok");
    assert_eq!(
        entry_named(&report, &venv, "python")["version"],
        py.version.as_str()
    );
    assert_eq!(
        venv_entry(&report, &venv)["entries"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    env.venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .assert()
        .code(0);
    assert_eq!(
        fs::canonicalize(venv.join("bin/python3")).unwrap(),
        py.exe,
        "the relink fixed the entry the user relinked"
    );
    let report = check_json(&env, &[&venv], 0);
    assert_eq!(venv_entry(&report, &venv)["status"], "ok", "{report:#}");
}

/// Finding 9.1 on the machine's own Pythons: a Debian-made venv (`python3 -> /usr/bin/python3`,
/// `python` and `python3.11 -> python3`) whose `bin/python3.11` a user pointed at pyenv's 3.11
/// build. `home` still names `/usr/bin`, so that binary runs Debian's standard library (`No
/// module named '_struct'`): mixed builds, while `bin/python` is fine.
#[test]
#[cfg_attr(
    not(all(system_python, pyenv_3_11)),
    ignore = "needs /usr/bin/python3.11 and pyenv 3.11"
)]
fn a_system_venv_with_one_entry_relinked_to_another_build_is_broken() {
    let env = TestEnv::new();
    let system = probe(Path::new("/usr/bin/python3.11")).expect("/usr/bin/python3.11");
    let pyenv = pyenv_python("3.11").expect("pyenv 3.11");
    env.search_path(&[Path::new("/usr/bin")]).add_python(&pyenv);
    let venv = env.path("venv");
    make_venv(Path::new("/usr/bin/python3"), &venv, &["--without-pip"]);
    fs::remove_file(venv.join("bin/python3.11")).unwrap();
    symlink(&pyenv.exe, venv.join("bin/python3.11")).unwrap();
    // What the user sees: the entry they relinked cannot import a compiled stdlib module.
    let out = Command::new(venv.join("bin/python3.11"))
        .args(["-I", "-c", "import struct"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the mixed build imported struct");

    let report = check_changes_nothing(&env, &venv, 1);
    let about = problems_of(&report, &venv, "bin/python3.11");
    assert!(
        about.iter().any(|p| p["kind"] == "home-mismatch"),
        "{report:#}"
    );
    assert_eq!(venv_entry(&report, &venv)["status"], "broken");
    assert_eq!(
        entry_named(&report, &venv, "python3.11")["status"],
        "broken"
    );
    assert_eq!(entry_named(&report, &venv, "python")["status"], "ok");
    assert_eq!(
        entry_named(&report, &venv, "python")["version"],
        system.version.as_str()
    );
}

/// Finding 9.6: a script is never an interpreter, whatever its name and whatever sits beside it
/// (`lib/python3.11`, a `patchlevel.h` saying 3.11.2); nor is a chain through `/proc`. None is
/// `ok`, none is run.
#[test]
fn scripts_posing_as_interpreters_and_chains_through_proc_are_never_ok() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let marker = env.path("MARKER");
    let payload = format!(
        "#!/bin/sh\ntouch {}\nexec {} \"$@\"\n",
        marker.display(),
        py.exe.display()
    );
    // A fake installation: a script named like the interpreter, a stdlib dir, headers.
    let fake = env.path("fake");
    let script = env.write(format!("fake/bin/python{}", py.minor), &payload);
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    env.write(format!("fake/lib/python{}/os.py", py.minor), "");
    env.write(
        format!("fake/include/python{}/patchlevel.h", py.minor),
        format!("#define PY_VERSION \"{}\"\n", py.version),
    );
    let to_script = env.path("to-script");
    make_venv(&py.exe, &to_script, &["--without-pip"]);
    fs::remove_file(to_script.join(format!("bin/python{}", py.minor))).unwrap();
    symlink(&script, to_script.join(format!("bin/python{}", py.minor))).unwrap();
    let cfg = fs::read_to_string(to_script.join("pyvenv.cfg")).unwrap();
    fs::write(
        to_script.join("pyvenv.cfg"),
        cfg.replace(
            py.bin_dir().to_str().unwrap(),
            fake.join("bin").to_str().unwrap(),
        ),
    )
    .unwrap();

    // `bin/python` itself a script, in a venv whose `home` holds a real Python.
    let is_script = env.path("is-script");
    make_venv(&py.exe, &is_script, &["--without-pip"]);
    for entry in fs::read_dir(is_script.join("bin")).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("python") {
            fs::remove_file(entry.path()).unwrap();
            fs::write(entry.path(), &payload).unwrap();
            fs::set_permissions(
                entry.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
    }

    // A chain through /proc/self/root, and one through a directory link into /proc.
    let via_proc = env.path("via-proc");
    make_venv(&py.exe, &via_proc, &["--without-pip"]);
    let versioned = via_proc.join(format!("bin/python{}", py.minor));
    fs::remove_file(&versioned).unwrap();
    symlink(
        Path::new("/proc/self/root").join(py.exe.strip_prefix("/").unwrap()),
        &versioned,
    )
    .unwrap();
    let via_dir = env.path("via-dir");
    make_venv(&py.exe, &via_dir, &["--without-pip"]);
    symlink(
        Path::new("/proc/self/root").join(py.bin_dir().strip_prefix("/").unwrap()),
        env.path("procbin"),
    )
    .unwrap();
    let versioned = via_dir.join(format!("bin/python{}", py.minor));
    fs::remove_file(&versioned).unwrap();
    symlink(
        env.path("procbin").join(py.exe.file_name().unwrap()),
        &versioned,
    )
    .unwrap();

    for venv in [&to_script, &is_script, &via_proc, &via_dir] {
        let report = check_json(&env, &[venv], 1);
        let entry = venv_entry(&report, venv);
        assert_eq!(entry["status"], "broken", "{report:#}");
        assert!(
            entry["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["kind"] == "unknown-interpreter" && p["severity"] == "error"),
            "{report:#}"
        );
        env.venvfix().arg("check").arg(venv).assert().code(1);
    }
    let report = check_json(&env, &[&via_proc], 1);
    let message = venv_entry(&report, &via_proc)["problems"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("/proc/self/root"), "{message}");
    assert!(
        !marker.exists(),
        "venvfix executed a file reached through a venv"
    );
}

/// A `usrbin/python3` link the test can repoint, as an OS upgrade repoints `/usr/bin/python3`.
fn repoint(usrbin: &Path, to: &Path) {
    let link = usrbin.join("python3");
    if fs::symlink_metadata(&link).is_ok() {
        fs::remove_file(&link).unwrap();
    }
    fs::create_dir_all(usrbin).unwrap();
    symlink(to, &link).unwrap();
}

/// Finding 9.4: the user's own fix after an upgrade, `python3 -m venv --upgrade`, seeds pip into
/// the new minor's `lib/python3.12` and leaves every package in `lib/python3.11`: nothing the
/// user installed imports. That is broken (it was a warning, exit 0), and repair has a plan.
#[test]
#[cfg_attr(not(all(pyenv_3_11, pyenv_3_12)), ignore = "needs pyenv 3.11 and 3.12")]
fn after_venv_upgrade_across_minors_the_packages_left_behind_make_it_broken() {
    let env = TestEnv::new();
    let py311 = pyenv_python("3.11").expect("pyenv 3.11");
    let py312 = pyenv_python("3.12").expect("pyenv 3.12");
    env.add_python(&py311).add_python(&py312);
    let usrbin = env.path("usrbin");
    repoint(&usrbin, &py311.exe);
    let venv = env.path("venv");
    make_venv(&usrbin.join("python3"), &venv, &["--without-pip"]);
    install(&venv, &["tinyjson", "venvfix-demo"]);
    repoint(&usrbin, &py312.exe);
    run_ok(
        Command::new(usrbin.join("python3"))
            .args(["-m", "venv", "--upgrade"])
            .arg(&venv),
    );
    assert!(venv.join("lib/python3.12/site-packages").is_dir());

    let report = check_changes_nothing(&env, &venv, 1);
    let entry = venv_entry(&report, &venv);
    assert_eq!(entry["status"], "broken", "{report:#}");
    let message = entry["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["severity"] == "error")
        .and_then(|p| p["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("lib/python3.11/site-packages"),
        "{message}"
    );
    assert!(message.contains("holds only pip"), "{message}");

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(plan["venvs"][0]["strategy"], "none", "{plan:#}");
}

/// Finding 9.4, the reverse: a package installed into the live `lib/python3.12` after the base
/// moved to 3.12 is the user's, not an orphan "Python 3.12 never reads".
#[test]
#[cfg_attr(not(all(pyenv_3_11, pyenv_3_12)), ignore = "needs pyenv 3.11 and 3.12")]
fn a_package_installed_into_the_live_minor_is_not_an_orphan() {
    let env = TestEnv::new();
    let py311 = pyenv_python("3.11").expect("pyenv 3.11");
    let py312 = pyenv_python("3.12").expect("pyenv 3.12");
    env.add_python(&py311).add_python(&py312);
    let usrbin = env.path("usrbin");
    repoint(&usrbin, &py311.exe);
    let venv = env.path("venv");
    make_venv(&usrbin.join("python3"), &venv, &["--without-pip"]);
    install(&venv, &["tinyjson"]);
    repoint(&usrbin, &py312.exe);
    install(&venv, &["venvfix-demo"]);
    assert!(venv.join("lib/python3.12/site-packages").is_dir());

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["minor-mismatch"], "{report:#}");
    let message = venv_entry(&report, &venv)["problems"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("venvfix-demo"), "{message}");
    assert!(message.contains("which Python 3.12 reads"), "{message}");
}

/// Finding 9.3: a Debian `--copies` venv holds the static 3.11.2 binary. Its version is the
/// copy's own, read from the file, not that of whatever `home` now holds (here a 3.13): the
/// copy still finds its own standard library and works, so the venv is not broken.
#[test]
#[cfg_attr(
    not(all(system_python, pyenv_3_13)),
    ignore = "needs /usr/bin/python3.11 and pyenv 3.13"
)]
fn a_copied_static_interpreter_is_judged_by_its_own_version() {
    let env = TestEnv::new();
    let system = probe(Path::new("/usr/bin/python3.11")).expect("/usr/bin/python3.11");
    let py313 = pyenv_python("3.13").expect("pyenv 3.13");
    let upgraded = env.copy_prefix(&py313, "usr");
    env.search_path(&[Path::new("/usr/bin")])
        .add_python(&upgraded);
    let venv = env.path("venv");
    make_venv(
        Path::new("/usr/bin/python3.11"),
        &venv,
        &["--copies", "--without-pip"],
    );
    // The upgrade: `home`'s dir now holds 3.13 only.
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            "home = /usr/bin",
            &format!("home = {}", upgraded.bin_dir().display()),
        ),
    )
    .unwrap();
    let works = Command::new(venv.join("bin/python3.11"))
        .args(["-I", "-c", "import encodings, sys; print(sys.version)"])
        .output()
        .unwrap();
    assert!(works.status.success(), "{works:?}");

    let report = check_changes_nothing(&env, &venv, 0);
    let entry = venv_entry(&report, &venv);
    assert_ne!(entry["status"], "broken", "{report:#}");
    assert!(
        !kinds(&report, &venv).contains(&"minor-mismatch".to_string()),
        "{report:#}"
    );
    for name in ["python", "python3", "python3.11"] {
        assert_eq!(entry_named(&report, &venv, name)["kind"], "copy");
        assert_eq!(
            entry_named(&report, &venv, name)["version"],
            system.version.as_str(),
            "{report:#}"
        );
    }
}

/// Finding 9.7: CPython skips a line such as `[extra]` and the venv works: a warning naming the
/// line, exit 0, and no rebuild planned.
#[test]
fn a_line_cpython_skips_in_pyvenv_cfg_is_a_warning_not_a_recreate() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &["--without-pip"]);
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(venv.join("pyvenv.cfg"), format!("{cfg}[extra]\n")).unwrap();

    let report = check_changes_nothing(&env, &venv, 0);
    assert_eq!(kinds(&report, &venv), ["invalid-config"], "{report:#}");
    let problem = &venv_entry(&report, &venv)["problems"][0];
    assert_eq!(problem["severity"], "warning");
    assert_eq!(problem["entry"], "pyvenv.cfg");
    assert!(
        problem["message"].as_str().unwrap().contains("`[extra]`"),
        "{problem}"
    );
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["venvs"][0]["strategy"], "none", "{plan:#}");
}

/// Finding 9.7: a venv that lost its `pyvenv.cfg` but whose entries still lead to an installed
/// Python is repaired offline by writing the file, not rebuilt.
#[test]
fn a_missing_pyvenv_cfg_is_written_back_offline() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &["--without-pip"]);
    install(&venv, &["tinyjson"]);
    fs::remove_file(venv.join("pyvenv.cfg")).unwrap();
    check_changes_nothing(&env, &venv, 1);

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json", "--offline"])
        .arg(&venv)
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["venvs"][0]["strategy"], "update-config", "{plan:#}");
    env.venvfix()
        .args(["repair", "--yes", "--offline"])
        .arg(&venv)
        .assert()
        .code(0);
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("home = {}", py.bin_dir().display())),
        "{cfg}"
    );
    let report = check_json(&env, &[&venv], 0);
    assert_eq!(venv_entry(&report, &venv)["status"], "ok", "{report:#}");
    let imported = run_ok(
        Command::new(venv.join("bin/python"))
            .args(["-c", "import tinyjson, sys; print(sys.prefix)"]),
    );
    assert_eq!(imported.trim(), venv.to_str().unwrap());
}

/// Finding 9.8: labels and messages. Another minor only in `pyvenv.cfg` is not a
/// `patch-mismatch`; a virtualenv < 20 is not told its `pyvenv.cfg` "cannot be read" (it never
/// had one); `check venv/bin` checks the venv; the JSON `interpreter.path` is the entry the
/// message names.
#[test]
fn labels_and_messages_say_what_is_true() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);

    let recorded = env.path("recorded");
    make_venv(&py.exe, &recorded, &["--without-pip"]);
    install(&recorded, &["tinyjson"]);
    let (major, minor) = py.minor.split_once('.').unwrap();
    let other = format!("{major}.{}.13", minor.parse::<u32>().unwrap() - 2);
    let cfg = fs::read_to_string(recorded.join("pyvenv.cfg")).unwrap();
    fs::write(
        recorded.join("pyvenv.cfg"),
        cfg.replace(
            &format!("version = {}", py.version),
            &format!("version = {other}"),
        ),
    )
    .unwrap();
    let report = check_changes_nothing(&env, &recorded, 0);
    assert_eq!(kinds(&report, &recorded), ["minor-mismatch"], "{report:#}");
    assert_eq!(
        venv_entry(&report, &recorded)["problems"][0]["severity"],
        "warning"
    );

    let base = env.copy_prefix(&py, "sys/py");
    let legacy = env.path("legacy");
    make_legacy_virtualenv(&base, &legacy);
    fs::remove_dir_all(&base.prefix).unwrap();
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json", "--strategy", "relink"])
        .arg(&legacy)
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = plan["venvs"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("virtualenv (< 20) has no pyvenv.cfg"),
        "{reason}"
    );
    assert!(!reason.contains("cannot be read"), "{reason}");

    let gone = env.copy_prefix(&py, "sys/gone");
    let venv = env.path("venv");
    make_venv(&gone.exe, &venv, &["--without-pip"]);
    fs::remove_dir_all(&gone.prefix).unwrap();
    let out = env
        .venvfix()
        .args(["check", "--json"])
        .arg(venv.join("bin"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = venv_entry(&report, &venv);
    let shown = entry["interpreter"]["path"].as_str().unwrap();
    let rel = Path::new(shown).strip_prefix(&venv).unwrap();
    let message = entry["problems"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("`{}`", rel.display())),
        "interpreter.path {shown} vs {message}"
    );
    assert_eq!(entry["problems"][0]["entry"], rel.to_str().unwrap());
}

/// Finding 9.8/9.9: `--known` says which homes it searched, and when none exists says where it
/// looked (it printed `no venv found in ` with nothing after it).
#[test]
fn known_says_which_homes_it_searched() {
    let env = TestEnv::new();
    let home = env.path("home");
    fs::create_dir_all(&home).unwrap();
    let out = known_check(&env, &home, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("none of the well-known homes of venvs exists here"),
        "{stderr}"
    );
    // The tools by name; every place looked at with `-v`.
    assert!(stderr.contains("pipx, hatch"), "{stderr}");
    assert!(!stderr.contains("no venv found in \n"), "{stderr}");
    let out = known_check(&env, &home, &[]).arg("-v").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(".local/share/pipx/venvs"), "{stderr}");
}

/// `venvfix check --known` with a controlled home: nothing from the developer's own tools.
fn known_check(env: &TestEnv, home: &Path, vars: &[(&str, &Path)]) -> assert_cmd::Command {
    let mut cmd = env.venvfix();
    cmd.args(["check", "--known", "--json"])
        .env("HOME", home)
        .env("PIPX_GLOBAL_HOME", home.join("no-global-pipx"));
    for var in [
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "WORKON_HOME",
        "PIPX_HOME",
        "POETRY_CONFIG_DIR",
        "POETRY_CACHE_DIR",
        "POETRY_VIRTUALENVS_PATH",
        "HATCH_CONFIG",
        "HATCH_DATA_DIR",
        "UV_TOOL_DIR",
        "PYENV_ROOT",
    ] {
        cmd.env_remove(var);
    }
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

/// Finding 9.9: homes the tools' settings move are searched: poetry's `virtualenvs.path` in
/// its `config.toml`, `$PIPX_HOME` and its `shared/` venv, `$PIPX_GLOBAL_HOME`,
/// `$HATCH_DATA_DIR`, hatch's `dirs.env`, `$UV_TOOL_DIR`; a pyenv-virtualenv `versions/NAME`
/// link left dangling by `pyenv uninstall` is reported.
#[test]
fn known_finds_the_homes_tools_configuration_moves() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let home = env.path("home");
    let poetry_envs = env.path("elsewhere/poetry-envs");
    env.write(
        "home/.config/pypoetry/config.toml",
        format!("[virtualenvs]\npath = \"{}\"\n", poetry_envs.display()),
    );
    env.write(
        "home/.config/hatch/config.toml",
        "[dirs.env]\nvirtual = \"~/hatch-envs\"\n",
    );
    let pipx = env.path("pipx-home");
    let global = env.path("pipx-global");
    let uv_tools = env.path("uv-tools");
    let venvs = [
        poetry_envs.join("app-AbCdEf12-py3.12"),
        pipx.join("venvs/black"),
        pipx.join("shared"),
        global.join("venvs/ruff"),
        home.join("hatch-envs/proj/abc/proj"),
        uv_tools.join("httpie"),
    ];
    for venv in &venvs {
        make_venv(&py.exe, venv, &["--without-pip"]);
    }
    let pyenv = env.path("pyenv");
    fs::create_dir_all(pyenv.join("versions")).unwrap();
    symlink(
        pyenv.join("versions/3.8.18/envs/old"),
        pyenv.join("versions/old"),
    )
    .unwrap();

    let out = known_check(
        &env,
        &home,
        &[
            ("PIPX_HOME", &pipx),
            ("PIPX_GLOBAL_HOME", &global),
            ("UV_TOOL_DIR", &uv_tools),
            ("PYENV_ROOT", &pyenv),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for venv in &venvs {
        assert_eq!(venv_entry(&report, venv)["status"], "ok", "{report:#}");
    }
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(
            |e| e["path"] == pyenv.join("versions/old").to_str().unwrap()
                && e["message"].as_str().unwrap().contains("pyenv uninstall")
        ),
        "{report:#}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--known: searching"), "{stderr}");
    assert!(stderr.contains("poetry"), "{stderr}");

    // $HATCH_DATA_DIR moves hatch's envs when its config does not name them.
    fs::remove_file(home.join(".config/hatch/config.toml")).unwrap();
    let data = env.path("hatch-data");
    let hatch_venv = data.join("env/virtual/proj/xyz/proj");
    make_venv(&py.exe, &hatch_venv, &["--without-pip"]);
    let out = known_check(&env, &home, &[("HATCH_DATA_DIR", &data)])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        venv_entry(&report, &hatch_venv)["status"],
        "ok",
        "{report:#}"
    );
}

/// Finding 9.5: `include-system-site-packages = true` after the base moved to another minor is
/// half alive: the base's own packages import, the venv's do not. The report says so and names
/// the system packages the venv still sees.
#[test]
#[cfg_attr(not(all(pyenv_3_11, pyenv_3_12)), ignore = "needs pyenv 3.11 and 3.12")]
fn system_site_packages_after_a_minor_change_is_reported_half_alive() {
    let env = TestEnv::new();
    let py311 = pyenv_python("3.11").expect("pyenv 3.11");
    let py312 = pyenv_python("3.12").expect("pyenv 3.12");
    env.add_python(&py311).add_python(&py312);
    let usrbin = env.path("usrbin");
    repoint(&usrbin, &py311.exe);
    let venv = env.path("venv");
    make_venv(
        &usrbin.join("python3"),
        &venv,
        &["--without-pip", "--system-site-packages"],
    );
    install(&venv, &["tinyjson"]);
    repoint(&usrbin, &py312.exe);

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["minor-mismatch"], "{report:#}");
    let message = venv_entry(&report, &venv)["problems"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("half alive"), "{message}");
    let system = py312.prefix.join("lib/python3.12/site-packages");
    assert!(message.contains(system.to_str().unwrap()), "{message}");
}

// ---------------------------------------------------------------------------------------------
// `home` gone: the search up from it, then the prefix compiled into the binary (issue 13.4).

/// A copy of Debian's static `python3.11` at `root()/name` whose compiled-in prefix (`/usr`,
/// the one `\0/usr\0` string of the binary) is overwritten with `compiled` (same length). Run
/// directly it still finds its standard library from its own location.
fn debian_copy_compiled_for(env: &TestEnv, name: &str, compiled: &str) -> Python {
    assert_eq!(compiled.len(), "/usr".len());
    let debian = probe(Path::new("/usr/bin/python3.11")).expect("Debian's python3.11 runs");
    let copy = env.copy_prefix(&debian, name);
    let mut bytes = fs::read(&copy.exe).unwrap();
    let at: Vec<usize> = bytes
        .windows(6)
        .enumerate()
        .filter(|(_, w)| *w == b"\0/usr\0")
        .map(|(n, _)| n + 1)
        .collect();
    assert_eq!(at.len(), 1, "Debian's binary holds `/usr` once");
    bytes[at[0]..at[0] + 4].copy_from_slice(compiled.as_bytes());
    fs::write(&copy.exe, bytes).unwrap();
    assert!(
        copy.run(&["-I", "-S", "-c", "import sys"]).status.success(),
        "the copy runs from its own prefix"
    );
    copy
}

/// What `venv/bin/python` prints on stderr when it is started (it is expected to fail).
fn start_fails(venv: &Path) -> String {
    let out = python_command(&venv.join("bin/python"))
        .args(["-c", "import sys"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the test premise: the venv cannot start"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn only_problem<'a>(report: &'a Value, venv: &Path, kind: &str) -> &'a Value {
    let problems: Vec<&Value> = venv_entry(report, venv)["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind)
        .collect();
    assert_eq!(problems.len(), 1, "{report:#}");
    problems[0]
}

#[test]
#[cfg_attr(not(system_python), ignore = "needs Debian's /usr/bin/python3.11")]
fn a_copies_venv_whose_home_and_compiled_prefix_are_gone_cannot_start() {
    let env = TestEnv::new();
    let base = debian_copy_compiled_for(&env, "sys/py", "/nox");
    let venv = env.path("copies");
    make_venv(&base.exe, &venv, &["--copies"]);
    fs::remove_dir_all(&base.prefix).unwrap();
    let stderr = start_fails(&venv);
    assert!(stderr.contains("No module named 'encodings'"), "{stderr}");

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(venv_entry(&report, &venv)["status"], "broken", "{report:#}");
    let problem = only_problem(&report, &venv, "interpreter-missing");
    assert_eq!(problem["severity"], "error");
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("cannot start"), "{message}");
    assert!(message.contains("compiled into"), "{message}");
    assert!(message.contains("No module named 'encodings'"), "{message}");
    assert!(!kinds(&report, &venv).contains(&"stale-home".to_string()));
}

#[test]
#[cfg_attr(not(system_python), ignore = "needs Debian's /usr/bin/python3.11")]
fn a_copies_venv_whose_home_is_gone_falls_back_to_the_compiled_prefix() {
    let env = TestEnv::new();
    let debian = probe(Path::new("/usr/bin/python3.11")).unwrap();
    let base = env.copy_prefix(&debian, "sys/py");
    let venv = env.path("copies");
    make_venv(&base.exe, &venv, &["--copies"]);
    fs::remove_dir_all(&base.prefix).unwrap();
    let runs = run_ok(
        python_command(&venv.join("bin/python")).args(["-c", "import sys; print(sys.base_prefix)"]),
    );
    assert_eq!(runs.trim(), "/usr", "the premise: it falls back to /usr");

    let report = check_changes_nothing(&env, &venv, 0);
    assert_eq!(
        venv_entry(&report, &venv)["status"],
        "warning",
        "{report:#}"
    );
    let problem = only_problem(&report, &venv, "stale-home");
    assert_eq!(problem["severity"], "warning");
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("`/usr`"), "{message}");
}

/// A venv made on `sys/old` (then removed), its link pointed by hand at another installation
/// `survivor` and `home` forgotten: the survivor is found by discovery and may be inspected.
fn linked_to_survivor(env: &TestEnv, survivor: &Python) -> std::path::PathBuf {
    let debian = probe(Path::new("/usr/bin/python3.11")).unwrap();
    let old = env.copy_prefix(&debian, "sys/old");
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    fs::remove_dir_all(&old.prefix).unwrap();
    env.add_python(survivor);
    let link = venv.join("bin/python3.11");
    fs::remove_file(&link).unwrap();
    symlink(&survivor.exe, &link).unwrap();
    venv
}

#[test]
#[cfg_attr(not(system_python), ignore = "needs Debian's /usr/bin/python3.11")]
fn a_link_whose_home_and_compiled_prefix_are_gone_is_a_stale_home_error() {
    let env = TestEnv::new();
    let survivor = debian_copy_compiled_for(&env, "sys/new", "/nox");
    let venv = linked_to_survivor(&env, &survivor);
    let stderr = start_fails(&venv);
    assert!(
        stderr.contains("Could not find platform independent libraries"),
        "{stderr}"
    );

    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(venv_entry(&report, &venv)["status"], "broken", "{report:#}");
    let problem = only_problem(&report, &venv, "stale-home");
    assert_eq!(problem["severity"], "error", "{report:#}");
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("cannot start"), "{message}");
    assert!(
        message.contains(survivor.exe.to_str().unwrap()),
        "{message}"
    );
    let text = env.venvfix().arg("check").arg(&venv).output().unwrap();
    assert_eq!(text.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("error [stale-home]"), "{shown}");

    // The repair points `home` at the survivor, and the venv starts.
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    run_ok(python_command(&venv.join("bin/python")).args(["-c", "import sys"]));
    check_changes_nothing(&env, &venv, 0);
}

#[test]
#[cfg_attr(not(system_python), ignore = "needs Debian's /usr/bin/python3.11")]
fn a_link_whose_home_is_gone_but_compiled_prefix_stays_is_a_stale_home_warning() {
    let env = TestEnv::new();
    let debian = probe(Path::new("/usr/bin/python3.11")).unwrap();
    let survivor = env.copy_prefix(&debian, "sys/new");
    let venv = linked_to_survivor(&env, &survivor);
    run_ok(python_command(&venv.join("bin/python")).args(["-c", "import sys"]));

    let report = check_changes_nothing(&env, &venv, 0);
    let problem = only_problem(&report, &venv, "stale-home");
    assert_eq!(problem["severity"], "warning", "{report:#}");
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("`/usr`"), "{message}");
}

/// A `--copies` venv of Debian's Python: the `system-interpreter` note names the installation
/// the copy is of, never the venv's own `bin/python` as "the base".
fn copies_note_names_the_original(discovered: bool) {
    let env = TestEnv::new();
    let debian = probe(Path::new("/usr/bin/python3.11")).unwrap();
    if discovered {
        env.add_python(&debian);
    }
    let venv = env.path("copies");
    make_venv(&debian.exe, &venv, &["--copies", "--without-pip"]);
    let report = check_changes_nothing(&env, &venv, 0);
    let problem = only_problem(&report, &venv, "system-interpreter");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.starts_with("`bin/python` is a copy of `/usr/bin/python3.11` (Python 3.11"),
        "{message}"
    );
    assert!(
        message.contains("belongs to the OS package manager"),
        "{message}"
    );
    assert!(!message.contains("the base"), "{message}");
    assert!(!message.contains(venv.to_str().unwrap()), "{message}");
}

#[test]
#[cfg_attr(not(system_python), ignore = "needs Debian's /usr/bin/python3.11")]
fn a_copies_venvs_system_note_names_the_discovered_installation_it_copies() {
    copies_note_names_the_original(true);
}

#[test]
#[cfg_attr(not(system_python), ignore = "needs Debian's /usr/bin/python3.11")]
fn a_copies_venvs_system_note_names_its_homes_interpreter_when_not_discovered() {
    copies_note_names_the_original(false);
}
