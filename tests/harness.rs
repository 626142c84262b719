//! Self-tests of the integration-test harness (`tests/support`): if these fail, every other
//! integration test's failure says more about the harness than about venvfix.

mod support;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use support::*;

#[test]
fn python3_is_a_real_canonical_interpreter() {
    let py = python3();
    assert!(py.exe.is_absolute() && py.exe.is_file(), "{py:?}");
    assert_eq!(py.exe.canonicalize().unwrap(), py.exe);
    assert!(py.version.starts_with(&format!("{}.", py.minor)), "{py:?}");
    assert!(py.stdlib().join("os.py").is_file(), "{py:?}");
}

#[test]
fn copy_prefix_runs_with_its_own_prefix_and_removing_it_keeps_the_original() {
    let env = TestEnv::new();
    let py = python3();
    let copy = env.copy_prefix(&py, "copied");
    assert_eq!(copy.prefix, env.path("copied"));
    assert_eq!(copy.version, py.version);

    let out = copy.run(&["-c", "import sys, json, _struct; print(sys.base_prefix)"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        copy.prefix.to_str().unwrap()
    );
    // The relative links run the same binary.
    let probed = probe(&copy.prefix.join("bin/python3")).expect("the copy runs");
    assert_eq!(probed.prefix, copy.prefix);
    assert_eq!(probed.version, py.version);

    // A venv made from the copy works, and dies when the copy is removed.
    let venv = env.path("venv");
    make_venv(&copy.prefix.join("bin/python3"), &venv, &[]);
    assert!(
        python_command(&venv.join("bin/python"))
            .arg("-c")
            .arg("1")
            .status()
            .unwrap()
            .success()
    );
    let stdlib_entries = fs::read_dir(py.stdlib()).unwrap().count();
    fs::remove_dir_all(&copy.prefix).unwrap();
    assert!(py.exe.is_file(), "the original binary survives");
    assert_eq!(
        fs::read_dir(py.stdlib()).unwrap().count(),
        stdlib_entries,
        "stdlib untouched"
    );
    let dead = python_command(&venv.join("bin/python"))
        .args(["-c", "1"])
        .status()
        .map_or(true, |s| !s.success());
    assert!(dead, "a venv of a removed installation must not run");
}

#[test]
fn creators_make_venvs() {
    let env = TestEnv::new();
    let py = python3();
    for (name, make) in [
        ("stdlib", make_venv as fn(&Path, &Path, &[&str])),
        ("virtualenv", make_virtualenv),
        ("uv", make_uv_venv),
    ] {
        let venv = env.path(name);
        let extra: &[&str] = if name == "virtualenv" {
            &["--no-seed"]
        } else {
            &[]
        };
        make(&py.exe, &venv, extra);
        let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
        assert!(cfg.contains("home"), "{name}: {cfg}");
        let site = venv.join(format!("lib/python{}/site-packages", py.minor));
        assert!(site.is_dir(), "{name}: no {}", site.display());
    }
}

#[test]
fn wheels_install_and_import_offline() {
    let env = TestEnv::new();
    let py = python3();
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    let markupsafe = format!("markupsafe=={}", markupsafe_version(&py.minor));
    install(&venv, &["venvfix-demo==2.3.1", "tinyjson", &markupsafe]);
    let out = python_command(&venv.join("bin/python"))
        .args([
            "-c",
            "import venvfix_demo, tinydep, tinyjson, markupsafe; print(tinydep.__version__)",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0.5");
    assert!(
        venv.join("bin/venvfix-demo").is_file(),
        "console script installed"
    );

    let project = make_project(&env.path("src/tinyedit"), "tinyedit", "0.1.0");
    install_editable(&venv, &project);
    let site = venv.join(format!("lib/python{}/site-packages", py.minor));
    let direct_url =
        fs::read_to_string(site.join("tinyedit-0.1.0.dist-info/direct_url.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&direct_url).unwrap();
    assert_eq!(v["dir_info"]["editable"], true, "{direct_url}");
}

#[test]
fn snapshot_sees_link_targets_modes_and_contents() {
    let env = TestEnv::new();
    let dir = env.path("tree");
    env.write("tree/a/file.txt", "one");
    symlink("a/file.txt", dir.join("link")).unwrap();
    symlink("/nonexistent/target", dir.join("dangling")).unwrap();
    let before = snapshot(&dir);
    assert_eq!(before.len(), 4, "{before:?}");
    assert_same_tree(&before, &snapshot(&dir));

    fs::remove_file(dir.join("link")).unwrap();
    symlink("a/other.txt", dir.join("link")).unwrap();
    fs::set_permissions(dir.join("a/file.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    let after = snapshot(&dir);
    let diff = tree_diff(&before, &after);
    assert_eq!(diff.len(), 2, "{diff:#?}");
    assert!(
        diff.iter()
            .any(|l| l.contains("link") && l.contains("target")),
        "{diff:#?}"
    );
    assert!(
        diff.iter()
            .any(|l| l.contains("file.txt") && l.contains("mode")),
        "{diff:#?}"
    );

    env.write("tree/a/file.txt", "two");
    let diff = tree_diff(&after, &snapshot(&dir));
    assert!(
        diff.iter().any(|l| l.contains("contents changed")),
        "{diff:#?}"
    );
}

#[test]
fn venvfix_binary_runs_in_the_test_env() {
    let env = TestEnv::new();
    env.add_python(&python3());
    env.venvfix().arg("--version").assert().success();
}
