//! Batch mode on a real projects tree: `venvfix check DIR` and `venvfix repair DIR` over healthy
//! venvs and venvs broken in every way (each creator, each kind), one that cannot be repaired,
//! a garbage config, a symlink loop, an unreadable directory and a locked venv. One bad venv
//! never stops the others, and the exit code says whether everything asked for was done.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::*;

/// Run the binary with `args`, assert the exit code, return the output.
fn run(env: &TestEnv, args: &[&str], paths: &[&Path], code: i32) -> Output {
    let out = env
        .venvfix()
        .args(args)
        .args(paths)
        .output()
        .expect("run venvfix");
    // Shown by the test runner only when the test fails.
    println!(
        "$ venvfix {args:?} -> {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "venvfix {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
}

/// `path -> field` for every venv of a report.
fn by_path(report: &Value, field: &str) -> BTreeMap<String, String> {
    let venvs = report["venvs"].as_array().expect("venvs array");
    let map: BTreeMap<String, String> = venvs
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap().to_string(),
                v[field].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(map.len(), venvs.len(), "a venv is listed twice: {report:#}");
    map
}

fn key(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// Rewrite `version = X` in a venv's config.
fn set_version(venv: &Path, from: &str, to: &str) {
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    let new = cfg.replace(&format!("version = {from}"), &format!("version = {to}"));
    assert_ne!(cfg, new, "no `version = {from}` in {}", venv.display());
    fs::write(venv.join("pyvenv.cfg"), new).unwrap();
}

/// The tree every batch test works on.
struct Tree {
    projects: PathBuf,
    healthy: Vec<PathBuf>,
    /// Broken or warned about, and repairable by relinking or updating the config.
    repairable: Vec<PathBuf>,
    /// Packages of a minor no Python here has.
    ancient: PathBuf,
    garbage: PathBuf,
}

impl Tree {
    fn all(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = self
            .healthy
            .iter()
            .chain(&self.repairable)
            .cloned()
            .chain([self.ancient.clone(), self.garbage.clone()])
            .collect();
        all.sort();
        all
    }
}

fn build_tree(env: &TestEnv) -> Tree {
    let py = python3();
    let gone = env.copy_prefix(&py, "sys/gone");
    let b = env.copy_prefix(&py, "sys/b");
    let c = env.copy_prefix(&py, "sys/c");
    // Only copies are installed Pythons: a venv of the removed one is relinked to another copy.
    env.add_python(&b).add_python(&c);
    let p = |rel: &str| env.path(format!("projects/{rel}"));

    let healthy = vec![p("app/.venv"), p("svc/venv")];
    make_venv(&b.exe, &healthy[0], &[]);
    make_uv_venv(&b.exe, &healthy[1], &[]);

    // Base removed, one per creator: relinkable to another copy of the same Python.
    let gone_venv = p("web/.venv");
    let gone_ve = p("tools/env");
    let gone_uv = p("lib/.venv");
    make_venv(&gone.exe, &gone_venv, &[]);
    make_virtualenv(&gone.exe, &gone_ve, &["--no-seed"]);
    make_uv_venv(&gone.exe, &gone_uv, &[]);
    // Mixed builds: the link swapped to another build, `home` left behind.
    let mixed = p("mixed/.venv");
    make_venv(&b.exe, &mixed, &[]);
    let link = mixed.join(format!("bin/python{}", py.minor));
    fs::remove_file(&link).unwrap();
    symlink(&c.exe, &link).unwrap();
    // Patch mismatch: the venv recorded another patch than the one installed.
    let patch = p("deep/nested/patch/.venv");
    make_venv(&b.exe, &patch, &[]);
    let repairable = vec![gone_venv, gone_ve, gone_uv, mixed, patch];
    for venv in &repairable {
        install(venv, &["tinyjson"]);
    }
    let (minor, patch_level) = py.version.rsplit_once('.').unwrap();
    let next_patch = format!("{minor}.{}", patch_level.parse::<u32>().unwrap() + 1);
    set_version(&repairable[4], &py.version, &next_patch);
    fs::remove_dir_all(&gone.prefix).unwrap();

    // Packages in `lib/python3.1`, recorded 3.1.5: no Python 3.1 here to relink to.
    let ancient = p("old/.venv");
    make_venv(&b.exe, &ancient, &[]);
    fs::rename(
        ancient.join(format!("lib/python{}", py.minor)),
        ancient.join("lib/python3.1"),
    )
    .unwrap();
    set_version(&ancient, &py.version, "3.1.5");

    let garbage = p("garbage/.venv");
    make_venv(&b.exe, &garbage, &[]);
    fs::write(garbage.join("pyvenv.cfg"), b"\x00\x9f\xffPK\x03\x04garbage").unwrap();

    // A symlink loop: never followed, nothing found twice.
    symlink("..", p("app/loop")).unwrap();

    Tree {
        projects: p(""),
        healthy,
        repairable,
        ancient,
        garbage,
    }
}

#[test]
fn a_projects_tree_is_checked_planned_repaired_and_repaired_again_as_a_no_op() {
    let env = TestEnv::new();
    let tree = build_tree(&env);
    let projects = tree.projects.as_path();

    // Every venv found exactly once.
    let report = json(&run(&env, &["check", "--json"], &[projects], 1));
    let status = by_path(&report, "status");
    let found: Vec<String> = status.keys().cloned().collect();
    let expected: Vec<String> = tree.all().iter().map(|p| key(p)).collect();
    assert_eq!(found, expected, "{report:#}");
    for venv in &tree.healthy {
        assert_eq!(status[&key(venv)], "ok", "{report:#}");
    }

    // Text check of a tree: problems listed, healthy venvs only counted.
    let out = run(&env, &["check"], &[projects], 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(&key(&tree.healthy[0])), "{stdout}");
    assert!(stdout.contains(&key(&tree.ancient)), "{stdout}");
    assert!(
        stderr.contains("9 venvs checked: 2 ok, 1 with warnings, 6 broken"),
        "{stderr}"
    );
    let out = run(&env, &["check", "-q"], &[projects], 1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains(&key(&tree.repairable[4])),
        "-q lists broken venvs only, not the patch warning: {stdout}"
    );
    assert!(!stdout.contains("hint:"), "{stdout}");
    // Only what a script acts on: one broken venv path a line, nothing on stderr.
    let broken: Vec<&str> = stdout.lines().collect();
    assert_eq!(broken.len(), 6, "{stdout}");
    assert!(
        broken
            .iter()
            .all(|l| Path::new(l).join("pyvenv.cfg").exists() || Path::new(l).is_dir()),
        "{stdout}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&env, &["check", "-v"], &[projects], 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&key(&tree.healthy[1])));

    // A dry run and a refused run (no terminal, no --yes) change nothing.
    let before = snapshot(projects);
    // With `auto`, the venv of a minor nothing has and the one with a garbage config are
    // planned as recreates, so the plans would fix everything: exit 0.
    let out = run(&env, &["repair", "--dry-run"], &[projects], 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("VENV"), "one table first: {stdout}");
    assert!(stdout.contains("9 venvs: 7 to repair"), "{stdout}");
    let out = run(&env, &["repair", "--dry-run", "--json"], &[projects], 0);
    let planned = by_path(&json(&out), "outcome");
    assert_eq!(planned.len(), 9);
    assert_same_tree(&before, &snapshot(projects));
    let out = run(&env, &["repair"], &[projects], 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_tree(&before, &snapshot(projects));

    // Repair: the repairable ones are repaired, the others reported, exit 1.
    let out = run(
        &env,
        &["repair", "--yes", "--strategy", "relink"],
        &[projects],
        1,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("repaired 5, unchanged 2, skipped 2, failed 0"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "skipped {}: no installed Python 3.1",
            key(&tree.ancient)
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("skipped {}", key(&tree.garbage))),
        "{stderr}"
    );
    for venv in &tree.repairable {
        assert!(
            stderr.contains(&format!("repaired {}", key(venv))),
            "{stderr}"
        );
    }
    assert!(
        !stdout.contains(&key(&tree.healthy[0])),
        "healthy venvs are not listed: {stdout}"
    );

    let report = json(&run(&env, &["check", "--json"], &[projects], 1));
    let status = by_path(&report, "status");
    for venv in tree.repairable.iter().chain(&tree.healthy) {
        assert_eq!(status[&key(venv)], "ok", "{}: {report:#}", venv.display());
    }
    assert_eq!(status[&key(&tree.ancient)], "broken");
    assert_eq!(status[&key(&tree.garbage)], "broken");
    let copies = key(&env.path("sys"));
    for venv in &tree.repairable[..3] {
        let entry = report["venvs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["path"] == key(venv).as_str())
            .unwrap();
        let target = entry["interpreter"]["target"].as_str().unwrap();
        assert!(
            target.starts_with(&copies) && !target.contains("/gone/"),
            "relinked to another copy of the same Python: {entry:#}"
        );
    }
    for venv in &tree.repairable {
        run_ok(std::process::Command::new(venv.join("bin/python")).args(["-c", "import tinyjson"]));
    }

    // Again: nothing left to do for the repaired ones, nothing changes on disk.
    let before = snapshot(projects);
    let out = run(
        &env,
        &["repair", "--yes", "--json", "--strategy", "relink"],
        &[projects],
        1,
    );
    let outcome = by_path(&json(&out), "outcome");
    for venv in tree.repairable.iter().chain(&tree.healthy) {
        assert_eq!(outcome[&key(venv)], "unchanged", "{outcome:#?}");
    }
    assert_eq!(outcome[&key(&tree.ancient)], "skipped");
    assert_eq!(outcome[&key(&tree.garbage)], "skipped");
    let reasons = by_path(&json(&out), "reason");
    assert!(
        reasons[&key(&tree.ancient)].contains("later decision"),
        "{reasons:#?}"
    );
    assert_same_tree(&before, &snapshot(projects));
}

#[test]
fn a_locked_venv_fails_and_the_others_are_still_repaired() {
    use venvfix::execute::{ExecOptions, VenvLock, VenvState};

    let env = TestEnv::new();
    let py = python3();
    let gone = env.copy_prefix(&py, "sys/gone");
    env.add_python(&py);
    let venvs: Vec<PathBuf> = (0..4).map(|i| env.path(format!("p/v{i}"))).collect();
    for venv in &venvs {
        make_venv(&gone.exe, venv, &[]);
    }
    fs::remove_dir_all(&gone.prefix).unwrap();
    let options = ExecOptions::new(env.state_dir());
    let state = VenvState::locate(&options.state_dir, &venvs[2]).unwrap();
    state.create().unwrap();
    let _held = VenvLock::acquire(&state).unwrap();

    let out = run(&env, &["repair", "--yes", "--json"], &[&env.path("p")], 2);
    let outcome = by_path(&json(&out), "outcome");
    for (i, venv) in venvs.iter().enumerate() {
        let want = if i == 2 { "failed" } else { "repaired" };
        assert_eq!(outcome[&key(venv)], want, "{outcome:#?}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_directory_is_a_warning_naming_it_and_the_rest_is_checked() {
    use nix::unistd::{User, chown};

    let env = TestEnv::new();
    // The other user cannot enter /root, where the default test Python (pyenv) may live.
    let py = probe(Path::new("/usr/bin/python3")).unwrap_or_else(python3);
    env.add_python(&py);
    let visible = env.path("projects/visible/.venv");
    let hidden = env.path("projects/secret/.venv");
    make_venv(&py.exe, &visible, &[]);
    make_venv(&py.exe, &hidden, &[]);
    // Root reads everything: only another user meets the permission error.
    let nobody = User::from_name("nobody").unwrap().expect("user nobody");
    for dir in [env.root(), &env.path("projects")] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::set_permissions(
        env.path("projects/secret"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let own = env.path("nobody");
    for dir in [own.join("cache"), own.join("state")] {
        fs::create_dir_all(&dir).unwrap();
        chown(&dir, Some(nobody.uid), Some(nobody.gid)).unwrap();
    }

    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_venvfix"))
        .args(["check", "--json"])
        .arg(env.path("projects"))
        .current_dir(env.root())
        .env("VENVFIX_PYTHON_SEARCH_PATH", py.bin_dir())
        .env("VENVFIX_CACHE_DIR", own.join("cache"))
        .env("VENVFIX_STATE_DIR", own.join("state"))
        .env("HOME", &own)
        .env("NO_COLOR", "1")
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report = json(&out);
    let status = by_path(&report, "status");
    assert_eq!(status.keys().collect::<Vec<_>>(), [&key(&visible)]);
    assert_eq!(status[&key(&visible)], "ok");
    let secret = key(&env.path("projects/secret"));
    assert!(
        stderr.contains("warning:") && stderr.contains(&format!("`{secret}`")),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches(&secret).count(),
        1,
        "named once per line: {stderr}"
    );
    assert_eq!(report["errors"][0]["path"], secret.as_str(), "{report:#}");
}

#[test]
fn known_finds_the_venvs_in_a_fake_home() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let home = env.path("home");
    let x = home.join(".virtualenvs/x");
    make_venv(&py.exe, &x, &[]);
    let elsewhere = env.path("elsewhere/.venv");
    make_venv(&py.exe, &elsewhere, &[]);
    let known = |args: &[&str], paths: &[&Path]| {
        let mut cmd = env.venvfix();
        for var in [
            "WORKON_HOME",
            "PIPX_HOME",
            "POETRY_VIRTUALENVS_PATH",
            "POETRY_CACHE_DIR",
            "XDG_DATA_HOME",
            "XDG_CACHE_HOME",
            "UV_TOOL_DIR",
            "PYENV_ROOT",
        ] {
            cmd.env_remove(var);
        }
        let out = cmd
            .env("HOME", &home)
            .args(args)
            .args(paths)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        by_path(&json(&out), "status")
    };
    let only_known = known(&["check", "--json", "--known"], &[]);
    assert_eq!(only_known.keys().collect::<Vec<_>>(), [&key(&x)]);
    let both = known(&["check", "--json", "--known"], &[&elsewhere]);
    assert_eq!(
        both.keys().collect::<Vec<_>>(),
        [&key(&elsewhere), &key(&x)]
    );
    let repair = known(&["repair", "--json", "--known", "--dry-run"], &[]);
    assert_eq!(repair.keys().collect::<Vec<_>>(), [&key(&x)]);
}

/// A base this user may not read is not a missing base: the venv may work for its owner.
#[test]
fn a_base_this_user_cannot_read_is_unknown_not_missing() {
    use nix::unistd::{User, chown};

    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "private/py");
    let venv = env.path("projects/app/.venv");
    make_venv(&base.exe, &venv, &[]);
    let nobody = User::from_name("nobody").unwrap().expect("user nobody");
    for dir in [env.root(), &env.path("projects"), &env.path("projects/app")] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Root's own prefix, closed to everyone else.
    fs::set_permissions(env.path("private"), fs::Permissions::from_mode(0o700)).unwrap();
    let own = env.path("nobody");
    for dir in [own.join("cache"), own.join("state")] {
        fs::create_dir_all(&dir).unwrap();
        chown(&dir, Some(nobody.uid), Some(nobody.gid)).unwrap();
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_venvfix"))
        .args(["check", "--json"])
        .arg(&venv)
        .current_dir(env.root())
        .env("VENVFIX_PYTHON_SEARCH_PATH", "")
        .env("VENVFIX_CACHE_DIR", own.join("cache"))
        .env("VENVFIX_STATE_DIR", own.join("state"))
        .env("HOME", &own)
        .env("NO_COLOR", "1")
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a warning only: {stderr}");
    let report = json(&out);
    let problem = &report["venvs"][0]["problems"][0];
    assert_eq!(problem["kind"], "unknown-interpreter", "{report:#}");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("cannot be read by this user"),
        "{report:#}"
    );
}
