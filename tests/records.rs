//! Tools' own records of a venv after a relink (issue 13 finding 8), with the real tools: tox
//! reuses a relinked env instead of rebuilding it, pipx's metadata and uv's tool receipt name
//! the repaired venv's Python, and tox envs are left to tox in batch repairs.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `PATH` with `first` before the system dirs only (no developer shell, no pyenv shims).
fn path_with(first: &Path) -> String {
    format!("{}:/usr/bin:/bin", first.display())
}

/// `tox -e py` finding its base Python in `python_dir` first (tox itself runs on a Python of the
/// same minor, which it would otherwise prefer).
fn tox(project: &Path, python: &Path) -> std::process::Output {
    let python_dir = python.parent().unwrap();
    Command::new(apps().tox)
        .args(["-e", "py", "--discover"])
        .arg(python)
        .current_dir(project)
        .env("PATH", path_with(python_dir))
        .env(
            "VIRTUALENV_OVERRIDE_APP_DATA",
            tools_dir().join("virtualenv-app-data"),
        )
        .env_remove("VIRTUAL_ENV")
        .output()
        .expect("run tox")
}

#[test]
fn tox_reuses_a_relinked_env() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let project = env.path("proj");
    env.write(
        "proj/tox.ini",
        format!(
            "[tox]\nskipsdist = true\n[testenv]\nbasepython = python{}\ncommands = python -c \"print('ran')\"\n",
            py.minor
        ),
    );
    let first = tox(&project, &old.exe);
    assert!(first.status.success(), "tox: {}", text(&first.stdout));
    let venv = project.join(".tox/py");
    // A file tox knows nothing about: gone if tox rebuilds the env.
    fs::write(venv.join("marker"), "kept").unwrap();
    fs::remove_dir_all(&old.prefix).unwrap();

    let out = env
        .venvfix()
        .arg("repair")
        .arg("--yes")
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let info: Value =
        serde_json::from_slice(&fs::read(venv.join(".tox-info.json")).unwrap()).unwrap();
    assert_eq!(info["Python"]["executable"], new.exe.to_str().unwrap());

    let second = tox(&project, &new.exe);
    let shown = text(&second.stdout);
    assert!(second.status.success(), "tox: {shown}");
    assert!(shown.contains("ran"), "{shown}");
    assert!(!shown.contains("recreate"), "tox rebuilt the env: {shown}");
    assert!(venv.join("marker").exists(), "tox rebuilt the env: {shown}");
}

#[test]
fn tox_and_nox_envs_are_left_to_their_tools_in_a_batch() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let tox_env = env.path("proj/.tox/py");
    let nox_env = env.path("proj/.nox/tests");
    let plain = env.path("proj/.venv");
    for venv in [&tox_env, &nox_env, &plain] {
        make_venv(&old.exe, venv, &[]);
    }
    fs::remove_dir_all(&old.prefix).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(env.path("proj"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let entry = |venv: &PathBuf| {
        report["venvs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["path"] == venv.to_str().unwrap())
            .cloned()
            .unwrap_or_else(|| panic!("{} not reported: {report}", venv.display()))
    };
    assert_eq!(entry(&plain)["outcome"], "repaired", "{report}");
    for (venv, tool) in [(&tox_env, "tox"), (&nox_env, "nox")] {
        let e = entry(venv);
        assert_eq!(e["outcome"], "skipped", "{report}");
        assert!(e["reason"].as_str().unwrap().contains(tool), "{report}");
        // What is left is left to the tool, not for want of a Python (one is installed).
        let left = &e["unresolved"][0];
        assert_eq!(left["kind"], "interpreter-missing", "{report}");
        assert_eq!(left["why"], format!("left to {tool}"), "{report}");
    }
    // Named by path, it is repaired.
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&tox_env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn pipx_metadata_names_the_repaired_python() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let pipx_home = env.path("pipx");
    let pipx = || {
        let mut cmd = Command::new(apps().pipx);
        // pipx upgrades its shared pip from PyPI: once, in a dir shared by the test runs.
        cmd.env("PIPX_HOME", &pipx_home)
            .env("PIPX_SHARED_LIBS", apps().pipx_shared)
            .env("PIPX_BIN_DIR", env.path("pipx-bin"))
            .env("PIPX_MAN_DIR", env.path("pipx-man"))
            .env("PATH", path_with(new.bin_dir()))
            .env_remove("VIRTUAL_ENV");
        cmd
    };
    let house = wheelhouse();
    run_ok(
        pipx()
            .args(["install", "--python"])
            .arg(&old.exe)
            .arg(format!("--pip-args=--find-links {}", house.display()))
            .arg("venvfix-demo"),
    );
    let venv = pipx_home.join("venvs/venvfix-demo");
    fs::remove_dir_all(&old.prefix).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let meta: Value =
        serde_json::from_slice(&fs::read(venv.join("pipx_metadata.json")).unwrap()).unwrap();
    assert_eq!(
        meta["source_interpreter"]["__Path__"],
        new.exe.to_str().unwrap()
    );
    assert_eq!(meta["python_version"], format!("Python {}", py.version));
    let listed = run_ok(pipx().arg("list"));
    assert!(listed.contains("venvfix-demo"), "{listed}");
    let app = run_ok(&mut Command::new(env.path("pipx-bin/venvfix-demo")));
    assert!(app.contains("venvfix-demo 2.3.1"), "{app}");
}

#[test]
fn uv_tool_receipt_names_the_repaired_python() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let tool_dir = env.path("uv-tools");
    run_ok(
        uv_command()
            .env("UV_TOOL_DIR", &tool_dir)
            .env("UV_TOOL_BIN_DIR", env.path("uv-bin"))
            .args(["tool", "install", "--no-index", "--find-links"])
            .arg(wheelhouse())
            .arg("--python")
            .arg(&old.exe)
            .arg("venvfix-demo"),
    );
    let venv = tool_dir.join("venvfix-demo");
    fs::remove_dir_all(&old.prefix).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let receipt = fs::read_to_string(venv.join("uv-receipt.toml")).unwrap();
    assert!(
        receipt.contains(&format!("python = \"{}\"", new.exe.display())),
        "{receipt}"
    );
    let listed = run_ok(
        uv_command()
            .env("UV_TOOL_DIR", &tool_dir)
            .env("UV_TOOL_BIN_DIR", env.path("uv-bin"))
            .args(["tool", "list"]),
    );
    assert!(listed.contains("venvfix-demo"), "{listed}");
}

/// A pyenv root reached through a linked directory (`~/.pyenv -> /data/pyenv`): the env runs
/// on its own version's Python, so there is no "`pyenv uninstall` deletes it" note. Moved, so
/// the repair relocates it and reads its records.
#[test]
fn a_pyenv_env_reached_through_a_linked_dir_is_not_said_to_run_on_another_python() {
    let env = TestEnv::new();
    let (base, _) = pyenv_root_with_env(&env, "data/pyenv");
    let version = &base.version;
    fs::rename(env.path("data/pyenv"), env.path("data/moved")).unwrap();
    std::os::unix::fs::symlink("data/moved", env.path("dot-pyenv")).unwrap();
    env.search_path(&[&env.path(format!("data/moved/versions/{version}/bin"))]);
    let named = env.path(format!("dot-pyenv/versions/{version}/envs/app"));
    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .arg(&named)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("versions/app"), "no pyenv link in:\n{shown}");
    assert!(!shown.contains("pyenv uninstall"), "{shown}");
}
