//! Moved and copied venvs, on real venvs moved with `mv` and copied with `cp -a` the way users
//! do: `check` says where their scripts lead, `repair` relocates them in place (both shebang
//! forms pip writes, uv's launchers, every activator, `.pth` / `direct_url.json`, `command`),
//! after which `bin/pip install` installs into the venv itself, every console script starts,
//! `activate` exports the new path, and `undo` restores the exact previous bytes.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

/// `python -m venv` with pip (ensurepip), as most users make them.
fn make_venv_with_pip(python: &Path, dest: &Path) {
    run_ok(python_command(python).args(["-m", "venv"]).arg(dest));
}

/// `mv from to` (a rename, as the user's `mv` does on one filesystem).
fn mv(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::rename(from, to).unwrap();
}

/// `cp -a from to`.
fn cp_a(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    run_ok(Command::new("cp").arg("-a").arg(from).arg(to));
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check_json(env: &TestEnv, venv: &Path) -> Value {
    let out = env
        .venvfix()
        .arg("check")
        .arg("--json")
        .arg(venv)
        .output()
        .unwrap();
    json_of(&out)["venvs"][0].clone()
}

/// The one `moved-venv` problem `check` reports, or panic.
fn moved_problem(env: &TestEnv, venv: &Path) -> Value {
    let report = check_json(env, venv);
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "moved-venv")
        .cloned()
        .unwrap_or_else(|| panic!("no moved-venv problem: {report:#}"))
}

/// A command run the way a user's shell runs it: no bytecode written into the venv, no venv
/// of the caller's.
fn user_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("VIRTUAL_ENV")
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH");
    cmd
}

/// `repair --yes VENV`, asserting success; returns the JSON report of the venv.
fn repair(env: &TestEnv, venv: &Path) -> Value {
    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    assert!(
        out.status.success(),
        "repair failed: {report:#}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    report["venvs"][0].clone()
}

/// Every console script in `bin/` (a shebang naming a `python`) starts and exits 0.
fn assert_console_scripts_start(venv: &Path) {
    let mut started = 0;
    for entry in fs::read_dir(venv.join("bin")).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("python") || name.starts_with("activate") || !path.is_file() {
            continue;
        }
        let head = fs::read(&path).unwrap();
        if !head.starts_with(b"#!")
            || !String::from_utf8_lossy(&head[..head.len().min(400)]).contains("python")
        {
            continue;
        }
        let out = user_command(&path).arg("--help").output().unwrap();
        assert!(
            out.status.success(),
            "`{}` does not start: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        started += 1;
    }
    assert!(started > 0, "no console script in {}", venv.display());
}

/// `source bin/activate` exports the venv's new path and puts its `bin` first on PATH.
fn assert_activate_exports(venv: &Path) {
    let script = format!(
        ". '{}/bin/activate' && printf '%s\\n%s\\n' \"$VIRTUAL_ENV\" \"$(command -v python)\"",
        venv.display()
    );
    let out = run_ok(user_command("bash").arg("-c").arg(&script));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(venv.to_str().unwrap()),
        "VIRTUAL_ENV: {out}"
    );
    assert_eq!(
        lines.next().map(PathBuf::from),
        Some(venv.join("bin/python")),
        "python after activation: {out}"
    );
}

/// `bin/pip install` (offline, from the wheelhouse) puts the package into this venv.
fn assert_pip_installs_here(venv: &Path, minor: &str) {
    run_ok(
        user_command(venv.join("bin/pip"))
            .args(["install", "-q", "--no-index", "--find-links"])
            .arg(wheelhouse())
            .arg("tinyjson"),
    );
    let site = venv.join(format!("lib/python{minor}/site-packages"));
    assert!(
        site.join("tinyjson").exists() || site.join("tinyjson.py").exists(),
        "tinyjson was not installed into {}",
        site.display()
    );
}

fn assert_check_ok(env: &TestEnv, venv: &Path) {
    let report = check_json(env, venv);
    assert_eq!(report["status"], "ok", "{report:#}");
}

/// The whole story after a move or copy: repair, the venv works at its new path, `undo`
/// restores the exact bytes, and a second repair leaves pip installing into the venv itself.
fn assert_relocated_and_undone(env: &TestEnv, venv: &Path, minor: &str) -> Value {
    let before = snapshot(venv);
    let report = repair(env, venv);
    assert_eq!(report["strategy"], "relocate", "{report:#}");
    assert_eq!(report["outcome"], "repaired", "{report:#}");
    assert_check_ok(env, venv);
    assert_console_scripts_start(venv);
    assert_activate_exports(venv);
    env.venvfix().arg("undo").arg(venv).assert().success();
    assert_same_tree(&before, &snapshot(venv));
    repair(env, venv);
    assert_pip_installs_here(venv, minor);
    report
}

fn rewritten_paths(report: &Value) -> Vec<String> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["op"] == "rewrite")
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn moved_stdlib_venv_is_an_error_naming_its_dead_scripts_and_activate() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let old = env.path("work/app/venv");
    make_venv_with_pip(&py.exe, &old);
    let new = env.path("src/app/venv");
    mv(&env.path("work/app"), &env.path("src/app"));
    let problem = moved_problem(&env, &new);
    assert_eq!(problem["severity"], "error", "{problem:#}");
    let message = problem["message"].as_str().unwrap();
    for needle in [
        old.to_str().unwrap(),
        "no longer exists",
        "`pip`",
        "does not exist",
        "`bin/activate` sets VIRTUAL_ENV",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    let report = assert_relocated_and_undone(&env, &new, &py.minor);
    let rewritten = rewritten_paths(&report);
    for file in [
        "bin/pip",
        "bin/pip3",
        "bin/activate",
        "bin/activate.csh",
        "bin/activate.fish",
    ] {
        assert!(
            rewritten.iter().any(|p| p == file),
            "{file} not rewritten: {report:#}"
        );
    }
    // `command` names the venv; the prompt (from the old directory name) stays as it was.
    let cfg = fs::read_to_string(new.join("pyvenv.cfg")).unwrap();
    if cfg.contains("command") {
        assert!(cfg.contains(new.to_str().unwrap()), "{cfg}");
    }
    assert!(!cfg.contains(old.to_str().unwrap()), "{cfg}");
}

#[test]
fn moved_virtualenv_and_uv_venvs_are_relocated() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("a/virtualenv");
    make_virtualenv(&py.exe, &venv, &[]);
    let uv = env.path("a/uv");
    make_uv_venv(&py.exe, &uv, &["--seed"]);
    // uv's own launchers for a package's console script.
    install(&uv, &["venvfix-demo"]);
    mv(&env.path("a"), &env.path("b"));
    for name in ["virtualenv", "uv"] {
        let moved = env.path("b").join(name);
        assert_eq!(moved_problem(&env, &moved)["severity"], "error");
        let report = assert_relocated_and_undone(&env, &moved, &py.minor);
        let rewritten = rewritten_paths(&report);
        for file in [
            "bin/activate",
            "bin/activate.fish",
            "bin/activate.nu",
            "bin/pip",
        ] {
            assert!(
                rewritten.iter().any(|p| p == file),
                "{name}: {file} not rewritten: {report:#}"
            );
        }
    }
    let demo = run_ok(&mut user_command(env.path("b/uv/bin/venvfix-demo")));
    assert!(demo.contains("venvfix-demo 2.3.1"), "{demo}");
}

#[test]
fn a_moved_copies_venv_is_relocated_and_verified_by_the_installation_it_copies() {
    // `--copies`: `bin/python` is the venv's own file, byte-identical to the base. Verification
    // accepted such a file only when the repair itself had copied it, so every relocation of a
    // `--copies` venv was rolled back ("not an installed Python venvfix found").
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("a/venv");
    run_ok(
        python_command(&py.exe)
            .args(["-m", "venv", "--copies"])
            .arg(&venv),
    );
    assert!(
        fs::symlink_metadata(venv.join("bin/python"))
            .unwrap()
            .is_file()
    );
    mv(&env.path("a"), &env.path("b"));
    let moved = env.path("b/venv");
    assert_relocated_and_undone(&env, &moved, &py.minor);
}

#[test]
fn a_copies_venv_whose_entry_links_to_its_copy_is_verified_and_its_own_file_never_run() {
    // `bin/python -> python3.X`, the copy: the gate accepted it, and then refused to run it
    // ("no longer ... device and inode differ"). And when an import failed, the retry of it
    // alone executed the venv's own file. The copy is made non-executable here, so only a
    // verification that never executes it can keep this repair; a package broken everywhere
    // makes the retry happen.
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("a/venv");
    make_venv(&py.exe, &venv, &["--copies"]);
    let site = venv.join(format!("lib/python{}/site-packages", py.minor));
    fs::create_dir_all(site.join("badpkg")).unwrap();
    fs::write(
        site.join("badpkg/__init__.py"),
        "raise ImportError('broken everywhere')\n",
    )
    .unwrap();
    let info = site.join("badpkg-1.0.dist-info");
    fs::create_dir_all(&info).unwrap();
    fs::write(
        info.join("METADATA"),
        "Metadata-Version: 2.1\nName: badpkg\nVersion: 1.0\n",
    )
    .unwrap();
    fs::write(info.join("top_level.txt"), "badpkg\n").unwrap();
    fs::write(
        info.join("RECORD"),
        "badpkg/__init__.py,,\nbadpkg-1.0.dist-info/METADATA,,\nbadpkg-1.0.dist-info/RECORD,,\n",
    )
    .unwrap();
    let copy = venv.join(format!("bin/python{}", py.minor));
    fs::remove_file(venv.join("bin/python")).unwrap();
    std::os::unix::fs::symlink(copy.file_name().unwrap(), venv.join("bin/python")).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
    mv(&env.path("a"), &env.path("b"));
    let moved = env.path("b/venv");
    let out = env
        .venvfix()
        .args(["repair", "--yes", "-v"])
        .arg(&moved)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("repaired"), "{said}");
    assert!(
        said.contains("it fails the same way in a fresh venv"),
        "{said}"
    );
    assert!(
        !fs::read_to_string(moved.join("bin/activate"))
            .unwrap()
            .contains(env.path("a/venv").to_str().unwrap())
    );
}

#[test]
fn trampolines_of_paths_with_spaces_are_rewritten_in_both_directions() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let spaced = env.path("my projects/app/venv");
    make_venv_with_pip(&py.exe, &spaced);
    let pip = fs::read_to_string(spaced.join("bin/pip")).unwrap();
    assert!(
        pip.starts_with("#!/bin/sh\n'''exec' \""),
        "pip wrote no trampoline: {pip}"
    );
    // Moved to another path with spaces: the trampoline stays a trampoline.
    let moved = env.path("other projects/app/venv");
    mv(
        &env.path("my projects/app"),
        &env.path("other projects/app"),
    );
    assert_eq!(moved_problem(&env, &moved)["severity"], "error");
    assert_relocated_and_undone(&env, &moved, &py.minor);
    let pip = fs::read_to_string(moved.join("bin/pip")).unwrap();
    assert!(
        pip.contains(&format!("'''exec' \"{}/bin/python", moved.display())),
        "{pip}"
    );

    // A direct shebang moved under a path with a space cannot stay one: it becomes the
    // trampoline pip itself would write.
    let plain = env.path("plain/venv");
    make_venv_with_pip(&py.exe, &plain);
    let target = env.path("with space/venv");
    mv(&env.path("plain"), &env.path("with space"));
    assert_relocated_and_undone(&env, &target, &py.minor);
    let pip = fs::read_to_string(target.join("bin/pip")).unwrap();
    assert!(pip.starts_with("#!/bin/sh\n'''exec' \""), "{pip}");
}

#[test]
fn a_copy_whose_original_exists_is_separated_from_it() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let original = env.path("orig/venv");
    make_venv_with_pip(&py.exe, &original);
    let copy = env.path("copy/venv");
    cp_a(&original, &copy);
    let original_before = snapshot(&original);
    let problem = moved_problem(&env, &copy);
    assert_eq!(problem["severity"], "error", "{problem:#}");
    let message = problem["message"].as_str().unwrap();
    assert!(message.contains("copy of"), "{message}");
    assert!(message.contains("installs into"), "{message}");
    // The plan says plainly that today the copy's tools act on the original.
    let dry = env
        .venvfix()
        .args(["repair", "--dry-run", "-v"])
        .arg(&copy)
        .output()
        .unwrap();
    let shown =
        String::from_utf8_lossy(&dry.stdout).into_owned() + &String::from_utf8_lossy(&dry.stderr);
    assert!(
        shown.contains("act on") && shown.contains("installs there"),
        "{shown}"
    );
    assert_relocated_and_undone(&env, &copy, &py.minor);
    // The original was never touched, and the install went into the copy only.
    assert_same_tree(&original_before, &snapshot(&original));
    // The original itself is healthy: its scripts name it.
    assert_check_ok(&env, &original);
}

#[test]
fn moved_with_its_base_gone_gets_one_plan_that_relinks_and_relocates() {
    let env = TestEnv::new();
    let py = python3();
    let old_base = env.copy_prefix(&py, "sys/old");
    let new_base = env.copy_prefix(&py, "sys/new");
    env.add_python(&new_base);
    let venv = env.path("proj/venv");
    make_venv_with_pip(&old_base.exe, &venv);
    let moved = env.path("elsewhere/venv");
    mv(&env.path("proj"), &env.path("elsewhere"));
    fs::remove_dir_all(&old_base.prefix).unwrap();
    let before = snapshot(&moved);
    let report = repair(&env, &moved);
    assert_eq!(report["strategy"], "relink", "{report:#}");
    let ops: Vec<&str> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"rewrite") && ops.contains(&"symlink"),
        "{report:#}"
    );
    assert_check_ok(&env, &moved);
    assert_console_scripts_start(&moved);
    assert_activate_exports(&moved);
    env.venvfix().arg("undo").arg(&moved).assert().success();
    assert_same_tree(&before, &snapshot(&moved));
    repair(&env, &moved);
    assert_pip_installs_here(&moved, &py.minor);
}

#[test]
fn a_moved_tree_of_twenty_venvs_is_repaired_in_one_run() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    for i in 0..20 {
        let venv = env.path(format!("projects/p{i:02}/.venv"));
        make_venv(&py.exe, &venv, &[]);
        install(&venv, &["venvfix-demo"]);
    }
    mv(&env.path("projects"), &env.path("moved/projects"));
    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(env.path("moved"))
        .output()
        .unwrap();
    let report = json_of(&out);
    assert!(out.status.success(), "{report:#}");
    let repaired = report["venvs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["outcome"] == "repaired" && v["strategy"] == "relocate")
        .count();
    assert_eq!(repaired, 20, "{report:#}");
    for i in 0..20 {
        let venv = env.path(format!("moved/projects/p{i:02}/.venv"));
        assert_check_ok(&env, &venv);
        let demo = run_ok(&mut user_command(venv.join("bin/venvfix-demo")));
        assert!(demo.contains("venvfix-demo 2.3.1"), "{demo}");
        assert_activate_exports(&venv);
    }
}

#[test]
fn scripts_that_run_another_python_on_purpose_are_left_alone() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let other = env.path("tools/venv");
    make_venv(&py.exe, &other, &[]);
    let venv = env.path("proj/venv");
    make_venv_with_pip(&py.exe, &venv);
    let env_script = b"#!/usr/bin/env python3\nprint('hi')\n".as_slice();
    let foreign = format!("#!{}/bin/python\nprint('other')\n", other.display());
    for (name, text) in [("hello", env_script), ("other-tool", foreign.as_bytes())] {
        fs::write(venv.join("bin").join(name), text).unwrap();
        fs::set_permissions(
            venv.join("bin").join(name),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    // Healthy: not reported.
    assert_check_ok(&env, &venv);
    // Moved: relocated, and the two scripts stay byte for byte.
    let moved = env.path("moved/venv");
    mv(&env.path("proj"), &env.path("moved"));
    let report = repair(&env, &moved);
    let rewritten = rewritten_paths(&report);
    assert!(
        !rewritten
            .iter()
            .any(|p| p == "bin/hello" || p == "bin/other-tool"),
        "{report:#}"
    );
    assert_eq!(fs::read(moved.join("bin/hello")).unwrap(), env_script);
    assert_eq!(
        fs::read(moved.join("bin/other-tool")).unwrap(),
        foreign.as_bytes()
    );
    assert_check_ok(&env, &moved);
}

#[test]
fn a_binary_file_naming_the_old_path_is_never_patched() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("proj/venv");
    make_venv_with_pip(&py.exe, &venv);
    let mut launcher = b"\x7fELF\0\0\0\0".to_vec();
    launcher.extend_from_slice(venv.join("bin/python").to_str().unwrap().as_bytes());
    launcher.extend_from_slice(b"\0\0");
    fs::write(venv.join("bin/tool.exe"), &launcher).unwrap();
    let moved = env.path("moved/venv");
    mv(&env.path("proj"), &env.path("moved"));
    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .arg(&moved)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("cannot rewrite `bin/tool.exe`"), "{shown}");
    let report = repair(&env, &moved);
    assert!(!rewritten_paths(&report).iter().any(|p| p == "bin/tool.exe"));
    assert_eq!(fs::read(moved.join("bin/tool.exe")).unwrap(), launcher);
}

#[test]
fn editable_installs_inside_the_venv_follow_it() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("proj/venv");
    make_venv(&py.exe, &venv, &[]);
    // pip's `-e` of a VCS URL clones into `<venv>/src`: the .pth and direct_url.json name it.
    let project = make_project(&venv.join("src/inside"), "inside", "1.0");
    install_editable(&venv, &project);
    let moved = env.path("moved/venv");
    mv(&env.path("proj"), &env.path("moved"));
    let report = repair(&env, &moved);
    let rewritten = rewritten_paths(&report);
    assert!(rewritten.iter().any(|p| p.ends_with(".pth")), "{report:#}");
    assert!(
        rewritten.iter().any(|p| p.ends_with("direct_url.json")),
        "{report:#}"
    );
    let out = run_ok(
        user_command(moved.join("bin/python"))
            .args(["-c", "import inside; print(inside.__file__)"]),
    );
    assert!(out.trim().starts_with(moved.to_str().unwrap()), "{out}");
}

#[test]
fn a_moved_pyenv_root_gets_its_versions_link_pointed_at_the_env_and_undo_restores_it() {
    let env = TestEnv::new();
    let (base, old_venv) = pyenv_root_with_env(&env, "pyenv");
    mv(&env.path("pyenv"), &env.path("moved/pyenv"));
    let version = &base.version;
    // Discovery finds the moved installation (as `$PYENV_ROOT/versions/*/bin` would).
    let moved_bin = env.path(format!("moved/pyenv/versions/{version}/bin"));
    env.search_path(&[&moved_bin]);
    let moved = env.path(format!("moved/pyenv/versions/{version}/envs/app"));
    let link = env.path("moved/pyenv/versions/app");
    let before = snapshot(&moved);

    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .arg(&moved)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = format!(
        "{}: {} -> {}",
        link.display(),
        old_venv.display(),
        moved.display()
    );
    assert!(shown.contains(&line), "no `{line}` in:\n{shown}");
    assert!(!shown.contains("ln -sfn"), "{shown}");
    assert!(!shown.contains("not to this venv"), "{shown}");

    let report = repair(&env, &moved);
    let op = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == link.to_str().unwrap())
        .unwrap_or_else(|| panic!("no action on the link: {report:#}"))
        .clone();
    assert_eq!(op["op"], "rewrite", "{op:#}");
    assert_eq!(op["from"], old_venv.to_str().unwrap(), "{op:#}");
    assert_eq!(op["to"], moved.to_str().unwrap(), "{op:#}");
    assert_eq!(fs::read_link(&link).unwrap(), moved);
    assert_check_ok(&env, &moved);
    let demo = run_ok(&mut user_command(moved.join("bin/venvfix-demo")));
    assert!(demo.contains("venvfix-demo 2.3.1"), "{demo}");
    // pyenv-virtualenv reaches the env through the link.
    let through =
        run_ok(user_command(link.join("bin/python")).args(["-c", "import sys; print(sys.prefix)"]));
    assert_eq!(Path::new(through.trim()), link);

    let out = env.venvfix().arg("undo").arg(&moved).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "restored {} -> {}",
            link.display(),
            old_venv.display()
        )),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(fs::read_link(&link).unwrap(), old_venv);
    assert_same_tree(&before, &snapshot(&moved));
}

#[test]
fn a_changed_pyenv_link_is_not_thrown_away_by_undo_and_a_linked_root_is_not_written_through() {
    let env = TestEnv::new();
    let (base, _) = pyenv_root_with_env(&env, "pyenv");
    mv(&env.path("pyenv"), &env.path("moved/pyenv"));
    let version = &base.version;
    env.search_path(&[&env.path(format!("moved/pyenv/versions/{version}/bin"))]);
    let moved = env.path(format!("moved/pyenv/versions/{version}/envs/app"));
    let link = env.path("moved/pyenv/versions/app");
    repair(&env, &moved);
    // The user points the link elsewhere after the repair: `undo` refuses to throw that away.
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/elsewhere", &link).unwrap();
    let out = env.venvfix().arg("undo").arg(&moved).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(link.to_str().unwrap()), "{said}");
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("/elsewhere"));

    // A pyenv root the user reaches through a linked directory (`~/.pyenv -> /data/pyenv`):
    // the link outside the venv is changed where it really is, never through the linked dir.
    let env = TestEnv::new();
    let (base, _) = pyenv_root_with_env(&env, "real/pyenv");
    mv(&env.path("real/pyenv"), &env.path("real/moved"));
    std::os::unix::fs::symlink("real", env.path("via")).unwrap();
    let version = &base.version;
    env.search_path(&[&env.path(format!("real/moved/versions/{version}/bin"))]);
    let named = env.path(format!("via/moved/versions/{version}/envs/app"));
    let report = repair(&env, &named);
    let link = env.path("real/moved/versions/app");
    assert!(
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == link.to_str().unwrap()),
        "{report:#}"
    );
    assert_eq!(
        fs::canonicalize(&link).unwrap(),
        env.path(format!("real/moved/versions/{version}/envs/app"))
    );
}

/// Verification runs `bin/pip --version` through the exec gate: the verified installation
/// itself, with `bin/pip` as its script (pip's `/bin/sh` trampoline is valid Python too), never
/// through the script's shebang. A trampoline whose shell line does more than `exec` the
/// venv's Python would run that code if the shebang were followed: the marker proves it is not.
#[test]
fn pip_is_verified_through_the_installation_never_its_shebang() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let spaced = env.path("my projects/app/venv");
    make_venv_with_pip(&py.exe, &spaced);
    let pip_path = spaced.join("bin/pip");
    let pip = fs::read_to_string(&pip_path).unwrap();
    assert!(
        pip.starts_with("#!/bin/sh\n'''exec' \""),
        "no trampoline: {pip}"
    );
    let marker = env.path("shebang-was-run");
    let (first, rest) = pip.split_once('\n').unwrap();
    let (second, rest) = rest.split_once('\n').unwrap();
    let tampered = format!("{first}\n{second} $(touch '{}')\n{rest}", marker.display());
    fs::write(&pip_path, tampered).unwrap();
    let moved = env.path("other projects/app/venv");
    mv(
        &env.path("my projects/app"),
        &env.path("other projects/app"),
    );
    let out = env
        .venvfix()
        .args(["repair", "--yes", "-v"])
        .arg(&moved)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "repair failed: {stderr}");
    assert!(
        !marker.exists(),
        "the shell line of `bin/pip` was run during verification"
    );
    // pip did run (as Python), and it is this venv's own.
    let line = stderr
        .lines()
        .find(|l| l.contains("`bin/pip --version`: pip "))
        .unwrap_or_else(|| panic!("pip was not verified: {stderr}"));
    assert!(line.contains(moved.to_str().unwrap()), "{line}");
}
