//! `venvfix check` on real venvs, made with real interpreters and broken the way users break
//! them: the base deleted, `python3` repointed, a link swapped to another build, the venv moved,
//! the config garbled. Every test also proves that `check` changed nothing on disk.

mod support;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;

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

#[test]
fn copied_interpreter_whose_base_is_gone_is_interpreter_missing() {
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
    let report = check_changes_nothing(&env, &venv, 1);
    assert_eq!(kinds(&report, &venv), ["interpreter-missing"]);
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
    not(feature = "multi-python"),
    ignore = "needs pyenv 3.8 and 3.9: cargo test --features multi-python"
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
    let report = check_changes_nothing(&env, &new, 0);
    assert_eq!(kinds(&report, &new), ["moved-venv"]);
    let message = venv_entry(&report, &new)["problems"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(old.to_str().unwrap()), "{message}");
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
    let out = env.venvfix().args(["check", "empty"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no venv found in `empty`"), "{stderr}");
}
