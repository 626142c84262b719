//! `venvfix repair` recreating venvs on real interpreters, offline: the same pins, editables
//! still live, user files, prompt and console scripts kept; a failed install leaves the venv
//! byte-identical and names the requirement; `undo` restores the original tree; dry-run and
//! JSON show what a recreate would do; `--strategy relink` refuses to recreate.
//!
//! Tests that need only one Python recreate on the venv's own minor (`--strategy recreate`
//! after its base was deleted); the ones moving a venv to another minor need pyenv 3.12.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use support::*;

/// A venv made on a copy of `py` (deleted afterwards, so the venv is broken), with pinned
/// wheels, a compiled MarkupSafe, an editable project, a prompt and user files.
struct Broken {
    venv: PathBuf,
    project: PathBuf,
    /// `venvfix freeze` before the base was deleted.
    freeze: String,
}

fn broken_venv(env: &TestEnv, py: &Python) -> Broken {
    let base = env.copy_prefix(py, "base");
    let venv = env.path("venv");
    make_venv(
        &base.prefix.join("bin/python3"),
        &venv,
        &["--prompt", "my env"],
    );
    install(
        &venv,
        &[
            "tinyjson==1.0.0",
            "venvfix-demo==2.3.1",
            &format!("markupsafe=={}", markupsafe_version(&py.minor)),
        ],
    );
    let project = make_project(&env.path("src/tinyedit"), "tinyedit", "0.1.0");
    install_editable(&venv, &project);
    let hook = venv.join("bin/postactivate");
    fs::write(&hook, "export DJANGO_SETTINGS_MODULE=x\n").unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(
        venv.join(".project"),
        env.path("src/tinyedit").to_str().unwrap(),
    )
    .unwrap();
    let freeze = freeze(env, &venv);
    fs::remove_dir_all(&base.prefix).unwrap();
    Broken {
        venv,
        project,
        freeze,
    }
}

/// Install metadata of `oldpkg 1.0`, whose `Requires-Python: <3.0` excludes every Python 3.
fn add_python2_only_pin(venv: &Path, py: &Python) {
    let old = venv.join(format!(
        "lib/python{}/site-packages/oldpkg-1.0.dist-info",
        py.minor
    ));
    fs::create_dir(&old).unwrap();
    fs::write(
        old.join("METADATA"),
        "Name: oldpkg\nVersion: 1.0\nRequires-Python: <3.0\n",
    )
    .unwrap();
}

fn freeze(env: &TestEnv, venv: &Path) -> String {
    let out = env.venvfix().arg("freeze").arg(venv).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `venvfix repair` for recreates: offline, the wheelhouse, uv from the test tools (or none).
fn repair(env: &TestEnv, venv: &Path, uv: bool) -> assert_cmd::Command {
    let mut cmd = env.venvfix();
    cmd.arg("repair")
        .arg(venv)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg("--offline")
        .env("UV_CACHE_DIR", tools_dir().join("uv-cache"))
        .env("UV_TOOL_DIR", tools_dir().join("uv-tools"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("PIP_NO_CACHE_DIR", "1");
    if uv {
        cmd.env("VENVFIX_UV", tools().uv);
    } else {
        cmd.env("VENVFIX_UV", "none");
    }
    cmd
}

/// The one installer log in the state dir's `logs/`.
fn only_log(env: &TestEnv) -> PathBuf {
    let logs: Vec<PathBuf> = fs::read_dir(env.state_dir().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

fn run_python(venv: &Path, code: &str) -> String {
    run_ok(python_command(&venv.join("bin/python")).args(["-c", code]))
}

/// What every successful recreate must leave: pins, the editable live, user files, prompt,
/// console scripts, and a venv `check` calls ok.
fn assert_recreated(env: &TestEnv, b: &Broken, py: &Python, freeze_after: &str) {
    let version = run_python(
        &b.venv,
        "import sys; print('%d.%d.%d' % sys.version_info[:3])",
    );
    assert_eq!(version.trim(), py.version);
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split("  # compiled").next().unwrap().to_string())
            .collect()
    };
    assert_eq!(strip(freeze_after), strip(&b.freeze));
    // The editable install still points at the project: an edit shows on the next import.
    let init = b.project.join("tinyedit/__init__.py");
    fs::write(&init, "VERSION = 'edited'\n").unwrap();
    assert_eq!(
        run_python(&b.venv, "import tinyedit; print(tinyedit.VERSION)").trim(),
        "edited"
    );
    run_python(&b.venv, "import markupsafe, markupsafe._speedups, tinyjson");
    let hook = b.venv.join("bin/postactivate");
    assert_eq!(
        fs::read_to_string(&hook).unwrap(),
        "export DJANGO_SETTINGS_MODULE=x\n"
    );
    assert_eq!(
        fs::metadata(&hook).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    assert!(b.venv.join(".project").is_file());
    let cfg = fs::read_to_string(b.venv.join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains("my env"), "prompt lost:\n{cfg}");
    let demo = run_ok(&mut std::process::Command::new(
        b.venv.join("bin/venvfix-demo"),
    ));
    assert!(demo.contains("2.3.1"), "{demo}");
    env.venvfix().arg("check").arg(&b.venv).assert().code(0);
}

#[test]
fn recreate_on_the_same_minor_with_uv_keeps_everything_and_undo_restores_the_original() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let b = broken_venv(&env, &py);
    let before = snapshot(&b.venv);
    let started = Instant::now();
    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    eprintln!("recreate with uv took {took:?}");
    // The steps are shown, the installer's own output goes to the log in the state dir.
    assert!(
        stderr.contains("installing 5 requirements with uv"),
        "{stderr}"
    );
    assert!(!stderr.contains("tinyjson==1.0.0"), "{stderr}");
    let log = only_log(&env);
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("tinyjson==1.0.0"), "{text}");
    assert_recreated(&env, &b, &py, &freeze(&env, &b.venv));

    env.venvfix().arg("undo").arg(&b.venv).assert().code(0);
    assert_same_tree(&before, &snapshot(&b.venv));
}

#[test]
fn recreate_without_uv_uses_venv_and_pip() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let b = broken_venv(&env, &py);
    let started = Instant::now();
    let out = repair(&env, &b.venv, false)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    eprintln!("recreate with venv + pip took {took:?}");
    assert!(stderr.contains("pip check"), "{stderr}");
    // pip installed the requirements, so the new venv has pip: freeze leaves it out.
    assert_recreated(&env, &b, &py, &freeze(&env, &b.venv));
}

#[test]
#[cfg_attr(
    not(all(pyenv_3_8, pyenv_3_9, pyenv_3_12)),
    ignore = "needs pyenv 3.8, 3.9 and 3.12 (~/.pyenv/versions)"
)]
fn recreate_moves_a_312_venv_to_another_minor() {
    let env = TestEnv::new();
    let py312 = pyenv_python("3.12").expect("pyenv 3.12");
    let py = python3();
    assert_ne!(py.minor, py312.minor, "python3() must not be 3.12 here");
    add_markupsafe_wheel(&py312.minor);
    add_markupsafe_wheel(&py.minor);
    env.add_python(&py);
    let b = broken_venv(&env, &py312);
    // No Python 3.12 is known: `auto` plans a recreate on the newest installed Python 3.
    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let after = freeze(&env, &b.venv);
    assert!(
        after.contains(&format!("cp{}", py.minor.replace('.', ""))),
        "{after}"
    );
    assert_recreated(&env, &b, &py, &after);
    assert!(!b.venv.join("lib/python3.12").exists());
}

#[test]
fn a_pin_with_no_wheel_leaves_the_venv_byte_identical_and_is_named() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let b = broken_venv(&env, &py);
    // A distribution the wheelhouse does not have.
    let site = b.venv.join(format!("lib/python{}/site-packages", py.minor));
    let ghost = site.join("ghostpkg-4.2.dist-info");
    fs::create_dir(&ghost).unwrap();
    fs::write(ghost.join("METADATA"), "Name: ghostpkg\nVersion: 4.2\n").unwrap();
    fs::write(ghost.join("RECORD"), "ghostpkg-4.2.dist-info/METADATA,,\n").unwrap();
    let before = snapshot(&b.venv);
    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed at `ghostpkg==4.2`"), "{stderr}");
    assert!(stderr.contains("--find-links"), "{stderr}");
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert_same_tree(&before, &snapshot(&b.venv));
    // Nothing to undo: the failed run recorded no repair.
    env.venvfix().arg("undo").arg(&b.venv).assert().code(1);
}

#[test]
fn dry_run_and_json_show_the_recreate() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let b = broken_venv(&env, &py);
    add_python2_only_pin(&b.venv, &py);
    let before = snapshot(&b.venv);
    let out = repair(&env, &b.venv, true)
        .args(["--dry-run", "--strategy", "recreate"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for expected in [
        &format!("Python {}", py.version) as &str,
        "reinstall 6 requirements",
        "tinyjson==1.0.0",
        "compiled: MarkupSafe==",
        "unavailable: oldpkg==1.0: Requires-Python `<3.0` excludes",
        "carried over: .project",
        "carried over: bin/postactivate",
        "prompt kept: my env",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }

    let out = repair(&env, &b.venv, true)
        .args(["--dry-run", "--json", "--strategy", "recreate"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &json["venvs"][0];
    assert_eq!(entry["strategy"], "recreate");
    assert_eq!(entry["outcome"], "planned");
    assert_eq!(entry["target"]["version"], py.version.as_str());
    let action = &entry["actions"][0];
    assert_eq!(action["op"], "recreate");
    let reqs: Vec<&str> = action["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(reqs.contains(&"venvfix-demo==2.3.1"), "{reqs:?}");
    assert!(reqs.iter().any(|r| r.starts_with("-e ")), "{reqs:?}");
    assert_eq!(action["recreate"]["carry_over"][0], ".project");
    assert_eq!(action["recreate"]["offline"], true);
    assert!(
        entry["problems"]
            .as_array()
            .unwrap()
            .contains(&"interpreter-missing".into())
    );
    assert_same_tree(&before, &snapshot(&b.venv));
}

#[test]
fn relink_only_changes_nothing_when_no_python_of_the_minor_is_installed() {
    let env = TestEnv::new();
    let py = python3();
    // No Python discoverable at all.
    let b = broken_venv(&env, &py);
    let before = snapshot(&b.venv);
    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--strategy", "relink"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains(&format!("no installed Python {}", py.minor)),
        "{stdout}\n{stderr}"
    );
    assert_same_tree(&before, &snapshot(&b.venv));

    // `auto` with no Python at all says why it cannot recreate either.
    let out = repair(&env, &b.venv, true)
        .args(["--dry-run", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &json["venvs"][0];
    assert_eq!(entry["strategy"], "none");
    let why = entry["unresolved"][0]["why"].as_str().unwrap();
    assert!(why.contains("cannot be recreated"), "{why}");
    assert_same_tree(&before, &snapshot(&b.venv));
}

/// The planner on a hand-made broken 3.8 venv and a made-up inventory (nothing runs).
#[test]
fn the_planner_picks_the_newest_python_3_and_lists_the_others() {
    use venvfix::diagnose::diagnose;
    use venvfix::inventory::{Installation, Inventory, Source};
    use venvfix::plan::{Action, Allowed, PlanRequest, PythonRequest, Strategy, plan};
    use venvfix::venv::Venv;

    let env = TestEnv::new();
    let venv = env.path("venv");
    env.write("venv/pyvenv.cfg", "home = /gone/bin\nversion = 3.8.18\n");
    env.write(
        "venv/lib/python3.8/site-packages/six-1.17.0.dist-info/METADATA",
        "Name: six\nVersion: 1.17.0\nRequires-Python: >=2.7, !=3.0.*, !=3.1.*\n",
    );
    env.write(
        "venv/lib/python3.8/site-packages/pip-23.0.1.dist-info/METADATA",
        "Name: pip\nVersion: 23.0.1\n",
    );
    fs::create_dir(venv.join("bin")).unwrap();
    std::os::unix::fs::symlink("/gone/bin/python3.8", venv.join("bin/python3.8")).unwrap();
    let fake = |version: &str, implementation: &str| {
        let exe = env.write(format!("py-{implementation}-{version}/bin/python"), "");
        Installation {
            path: exe.clone(),
            aliases: Vec::new(),
            version: version.parse().unwrap(),
            implementation: implementation.into(),
            prefix: exe.parent().unwrap().parent().unwrap().to_path_buf(),
            source: Source::Prefix,
            os_managed: false,
            compiled_prefix: None,
        }
    };
    let inventory = Inventory {
        pythons: vec![
            fake("2.7.18", "cpython"),
            fake("3.9.18", "cpython"),
            fake("3.12.1", "cpython"),
            fake("3.10.14", "pypy"),
        ],
        failures: Vec::new(),
    };
    let d = diagnose(Venv::inspect(&venv).unwrap(), &inventory);
    let p = plan(&d, &inventory, &PlanRequest::default()).unwrap();
    assert_eq!(p.strategy, Strategy::Recreate, "{}", p.reason);
    assert_eq!(p.target.as_ref().unwrap().version.to_string(), "3.12.1");
    let others: Vec<String> = p
        .alternatives
        .iter()
        .map(|a| a.target.version.to_string())
        .collect();
    assert_eq!(others, ["3.9.18"]);
    assert!(p.reason.contains("no installed Python 3.8"), "{}", p.reason);
    assert!(
        p.reason.contains("reinstall 1 distribution"),
        "{}",
        p.reason
    );
    assert!(
        p.resolves
            .contains(&venvfix::diagnose::ProblemKind::InterpreterMissing)
    );
    let Action::Recreate(spec) = &p.actions[0] else {
        panic!("not a recreate: {:?}", p.actions);
    };
    assert_eq!(spec.requirements, ["six==1.17.0"]);
    assert!(spec.with_pip);
    assert!(spec.unavailable.is_empty());

    // `--python 3.9` picks it; the user chose, so the others are not offered as alternatives.
    let request = PlanRequest {
        python: Some(PythonRequest::parse("3.9")),
        ..PlanRequest::default()
    };
    let p = plan(&d, &inventory, &request).unwrap();
    assert_eq!(p.target.as_ref().unwrap().version.to_string(), "3.9.18");
    assert!(p.alternatives.is_empty(), "{:?}", p.alternatives);

    // Only Python 2 installed: a 3.8 venv is never moved to it.
    let only2 = Inventory {
        pythons: vec![fake("2.7.18", "cpython")],
        failures: Vec::new(),
    };
    let request = PlanRequest {
        allowed: Allowed::Recreate,
        ..PlanRequest::default()
    };
    let p = plan(&d, &only2, &request).unwrap();
    assert_eq!(p.strategy, Strategy::None);
    assert!(p.reason.contains("no installed cpython 3"), "{}", p.reason);
}

/// A pin whose `Requires-Python` excludes the new Python fails the recreate before anything is
/// built, with uv as with pip (uv alone might install it into a venv where it cannot work).
#[test]
fn an_unavailable_pin_fails_the_recreate_the_same_way_with_uv() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let b = broken_venv(&env, &py);
    add_python2_only_pin(&b.venv, &py);
    let before = snapshot(&b.venv);
    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--strategy", "recreate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 of the venv's pins cannot be installed on Python"),
        "{stderr}"
    );
    assert!(stderr.contains("oldpkg==1.0"), "{stderr}");
    assert_same_tree(&before, &snapshot(&b.venv));
}

/// `uv pip install` into `venv` with the interpreter entry `python` (a name in `bin/`).
fn install_with(venv: &Path, python: &str, reqs: &[&str]) {
    run_ok(
        uv_command()
            .args(["pip", "install", "-q", "--python"])
            .arg(venv.join("bin").join(python))
            .arg("--no-index")
            .arg("--find-links")
            .arg(wheelhouse())
            .args(reqs),
    );
}

/// A package left in an older minor's lib dir whose `Requires-Python` excludes the new Python
/// is listed as left out: it does not make the whole recreate refuse, as an excluded pin of the
/// venv's own packages does.
#[test]
fn an_old_lib_dirs_package_the_new_python_excludes_is_left_out_not_a_refusal() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let base = env.copy_prefix(&py, "base");
    let venv = env.path("venv");
    make_venv(&base.exe, &venv, &[]);
    install(&venv, &["tinyjson==1.0.0"]);
    let info = "venv/lib/python3.8/site-packages/oldonly-1.0.dist-info";
    env.write(
        format!("{info}/METADATA"),
        "Metadata-Version: 2.1\nName: oldonly\nVersion: 1.0\nRequires-Python: <3.9\n",
    );
    env.write(
        format!("{info}/RECORD"),
        format!(
            "{}/METADATA,,\n",
            &info["venv/lib/python3.8/site-packages/".len()..]
        ),
    );
    fs::remove_dir_all(&base.prefix).unwrap();

    let out = repair(&env, &venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "left out: oldonly==1.0 (in `lib/python3.8/site-packages`): Requires-Python `<3.9` \
             excludes Python {}",
            py.version
        )),
        "{said}"
    );
    let site = venv.join(format!("lib/python{}/site-packages", py.minor));
    assert!(
        site.join("tinyjson").exists() || site.join("tinyjson.py").exists(),
        "{said}"
    );
}

/// Packages in more than one `lib/pythonX.Y` lose nothing: after a minor change (`python3.11
/// -m venv --upgrade` over a 3.12 venv) the old dir keeps the user's packages and the user
/// installs more into the new one. A recreate reinstalls the union, one version per name: the
/// recorded (and running) minor's dir wins a version conflict, and the plan (text and JSON)
/// says which version was dropped and why, and what comes from the other dir.
#[test]
#[cfg_attr(not(pyenv_3_12), ignore = "needs pyenv 3.12 (~/.pyenv/versions)")]
fn packages_of_every_lib_dir_are_reinstalled_and_a_version_conflict_is_explained() {
    let env = TestEnv::new();
    let py312 = pyenv_python("3.12").expect("pyenv 3.12");
    let py = python3();
    assert_ne!(py.minor, py312.minor, "python3() must not be 3.12 here");
    env.add_python(&py);
    let old = env.copy_prefix(&py312, "old");
    let venv = env.path("venv");
    make_venv(&old.prefix.join("bin/python3"), &venv, &[]);
    install(
        &venv,
        &["tinyjson==1.0.0", "venvfix-demo==2.3.1", "tinyboth==1.0"],
    );
    env.write("venv/lib/python3.12/site-packages/mine.pth", "/opt/mine\n");
    let new = env.copy_prefix(&py, "new");
    run_ok(
        python_command(&new.exe)
            .args(["-m", "venv", "--upgrade", "--without-pip"])
            .arg(&venv),
    );
    let entry = format!("python{}", py.minor);
    install_with(&venv, &entry, &["tinyboth==1.1"]);
    fs::remove_dir_all(&old.prefix).unwrap();
    fs::remove_dir_all(&new.prefix).unwrap();
    let old_site = "lib/python3.12/site-packages";
    let new_site = format!("lib/python{}/site-packages", py.minor);

    let out = repair(&env, &venv, true)
        .args(["--dry-run", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for req in [
        "tinyboth==1.1",
        "tinydep==0.5",
        "tinyjson==1.0.0",
        "venvfix-demo==2.3.1",
    ] {
        assert!(
            stdout.contains(&format!("        {req}\n")),
            "{req}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("        tinyboth==1.0\n"), "{stdout}");
    let dropped = format!(
        "tinyboth==1.0 (in `{old_site}`): tinyboth==1.1 from `{new_site}` is reinstalled \
         instead, the lib dir of Python {}, which pyvenv.cfg records",
        py.version
    );
    assert!(stdout.contains(&format!("left out: {dropped}")), "{stdout}");
    assert!(
        stdout.contains(&format!("- not reinstalled: {dropped}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "- reinstalled from `{old_site}` as well (the venv's own packages are in \
             `lib/python{}`): tinydep==0.5, tinyjson==1.0.0, venvfix-demo==2.3.1",
            py.minor
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "carried over: {old_site}/mine.pth -> {new_site}/mine.pth"
        )),
        "{stdout}"
    );

    let out = repair(&env, &venv, true)
        .args(["--dry-run", "--json", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let action = &json["venvs"][0]["actions"][0];
    let requirements: Vec<&str> = action["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        requirements,
        [
            "tinyboth==1.1",
            "tinydep==0.5",
            "tinyjson==1.0.0",
            "venvfix-demo==2.3.1"
        ]
    );
    assert_eq!(
        action["recreate"]["left_out"][0],
        dropped.as_str(),
        "{action}"
    );
    let differences = action["recreate"]["differences"].to_string();
    assert!(differences.contains("reinstalled from"), "{differences}");

    let out = repair(&env, &venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run_python(
            &venv,
            "import tinyboth, tinyjson, venvfix_demo; print(tinyboth.__version__)"
        )
        .trim(),
        "1.1"
    );
    assert_eq!(
        fs::read_to_string(venv.join(&new_site).join("mine.pth")).unwrap(),
        "/opt/mine\n"
    );
    env.venvfix().arg("check").arg(&venv).assert().code(0);
}

/// Issue 11.1 / 10.15: every file no distribution's `RECORD` lists is carried over and listed in
/// the plan: `sitecustomize.py`, a hand-made `.pth` naming the old `lib/python3.12` (rewritten
/// to the new lib dir), pipx's `pipx_shared.pth` (pointing outside the venv: kept as is), a
/// package dir of the user's, and names that are not UTF-8 at the root, in `bin/` and in
/// site-packages.
#[test]
#[cfg_attr(not(pyenv_3_12), ignore = "needs pyenv 3.12 (~/.pyenv/versions)")]
fn files_no_distribution_owns_are_carried_over_to_the_new_minor() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let env = TestEnv::new();
    let py312 = pyenv_python("3.12").expect("pyenv 3.12");
    let py = python3();
    assert_ne!(py.minor, py312.minor, "python3() must not be 3.12 here");
    add_markupsafe_wheel(&py312.minor);
    add_markupsafe_wheel(&py.minor);
    env.add_python(&py);
    let b = broken_venv(&env, &py312);
    let old_site = b.venv.join("lib/python3.12/site-packages");
    fs::write(
        old_site.join("sitecustomize.py"),
        "import os\nos.environ['VENVFIX_SITECUSTOMIZE'] = 'ran'\n",
    )
    .unwrap();
    fs::create_dir(old_site.join("extra")).unwrap();
    fs::write(old_site.join("extra/handmod.py"), "WHERE = 'extra'\n").unwrap();
    fs::write(
        old_site.join("hand.pth"),
        format!("{}\n", old_site.join("extra").display()),
    )
    .unwrap();
    let shared = env.path("pipx/shared/lib/python3.12/site-packages");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("sharedmod.py"), "WHERE = 'shared'\n").unwrap();
    fs::write(
        old_site.join("pipx_shared.pth"),
        format!("{}\n", shared.display()),
    )
    .unwrap();
    let odd = OsString::from_vec(b"caf\xe9".to_vec());
    fs::write(b.venv.join(&odd), "root\n").unwrap();
    fs::write(b.venv.join("bin").join(&odd), "bin\n").unwrap();
    fs::write(old_site.join(&odd), "site\n").unwrap();

    let out = repair(&env, &b.venv, true)
        .args(["--dry-run", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let new_lib = format!("lib/python{}/site-packages", py.minor);
    for expected in [
        format!(
            "carried over: lib/python3.12/site-packages/sitecustomize.py -> \
             {new_lib}/sitecustomize.py"
        ),
        format!(
            "carried over: lib/python3.12/site-packages/hand.pth -> {new_lib}/hand.pth (paths \
             into the old lib dir rewritten)"
        ),
        format!(
            "carried over: lib/python3.12/site-packages/pipx_shared.pth -> {new_lib}/pipx_shared.pth\n"
        ),
        format!("carried over: lib/python3.12/site-packages/extra -> {new_lib}/extra"),
        "carried over: caf\u{fffd}".to_string(),
        "carried over: bin/caf\u{fffd}".to_string(),
        "differences from the old venv:".to_string(),
        format!("- Python {} -> {}", py312.version, py.version),
    ] {
        assert!(
            stdout.contains(&expected),
            "{expected:?} missing:\n{stdout}"
        );
    }
    let out = repair(&env, &b.venv, true)
        .args(["--dry-run", "--json", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let carried = &json["venvs"][0]["actions"][0]["recreate"]["carried"];
    assert!(
        carried
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["to"] == format!("{new_lib}/hand.pth") && !c["rewrite"].is_null()),
        "{carried}"
    );

    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let new_site = b.venv.join(&new_lib);
    assert_eq!(
        fs::read_to_string(new_site.join("hand.pth")).unwrap(),
        format!("{}\n", new_site.join("extra").display())
    );
    assert_eq!(
        fs::read_to_string(new_site.join("pipx_shared.pth")).unwrap(),
        format!("{}\n", shared.display())
    );
    let seen = run_python(
        &b.venv,
        "import os, handmod, sharedmod; print(handmod.WHERE, sharedmod.WHERE, \
         os.environ.get('VENVFIX_SITECUSTOMIZE'))",
    );
    assert_eq!(seen.trim(), "extra shared ran");
    assert_eq!(fs::read(b.venv.join(&odd)).unwrap(), b"root\n");
    assert_eq!(fs::read(b.venv.join("bin").join(&odd)).unwrap(), b"bin\n");
    assert_eq!(fs::read(new_site.join(&odd)).unwrap(), b"site\n");
    assert!(!b.venv.join("lib/python3.12").exists());
}

/// A Python 3.9 venv with `fakenum==2.0.2` (wheels for CPython 3.9 to 3.12 only).
fn fakenum_venv(env: &TestEnv) -> PathBuf {
    let py39 = pyenv_python("3.9").expect("pyenv 3.9");
    let base = env.copy_prefix(&py39, "base39");
    let venv = env.path("venv39");
    make_venv(&base.prefix.join("bin/python3"), &venv, &[]);
    install(&venv, &["fakenum==2.0.2", "tinyjson==1.0.0"]);
    fs::remove_dir_all(&base.prefix).unwrap();
    venv
}

/// Issue 11.3: the Python is chosen by the installer's dry run, not as "the newest installed":
/// with 3.12 and 3.13 installed, a pin without a cp313 wheel makes 3.12 the choice, and the
/// plan says why per candidate; with uv as with pip.
#[test]
#[cfg_attr(
    not(all(pyenv_3_9, pyenv_3_12, pyenv_3_13)),
    ignore = "needs pyenv 3.9, 3.12 and 3.13 (~/.pyenv/versions)"
)]
fn the_python_is_the_newest_on_which_every_pin_installs_from_a_wheel() {
    let env = TestEnv::new();
    let py312 = pyenv_python("3.12").unwrap();
    let py313 = pyenv_python("3.13").unwrap();
    env.add_python(&py312).add_python(&py313);
    let venv = fakenum_venv(&env);
    for uv in [true, false] {
        let out = repair(&env, &venv, uv).arg("--dry-run").output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        for expected in [
            format!("recreate with Python {}", py312.version),
            "the newest installed Python on which every pin installs from a wheel".to_string(),
            format!(
                "dry run: Python {}: all 2 from wheels (chosen)",
                py312.version
            ),
            format!(
                "dry run: Python {}: fakenum==2.0.2 needs a build",
                py313.version
            ),
        ] {
            assert!(
                stdout.contains(&expected),
                "uv={uv}: {expected:?} missing:\n{stdout}"
            );
        }
    }
    let out = repair(&env, &venv, true).arg("--yes").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let version = run_python(&venv, "import sys, fakenum; print(sys.version.split()[0])");
    assert_eq!(version.trim(), py312.version);
}

/// With no candidate on which every pin installs from a wheel, the plan says so and `--yes`
/// takes the one needing the fewest builds, naming them.
#[test]
#[cfg_attr(
    not(all(pyenv_3_9, pyenv_3_13)),
    ignore = "needs pyenv 3.9 and 3.13 (~/.pyenv/versions)"
)]
fn with_no_python_taking_every_pin_from_wheels_the_plan_says_so() {
    let env = TestEnv::new();
    let py313 = pyenv_python("3.13").unwrap();
    env.add_python(&py313);
    let venv = fakenum_venv(&env);
    let before = snapshot(&venv);
    let out = repair(&env, &venv, true).arg("--yes").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(
            "none of the 1 installed candidates installs every pin from wheels; this one needs \
             the fewest builds: fakenum==2.0.2 needs a build"
        ),
        "{stdout}\n{stderr}"
    );
    // Offline, with no source either, the install fails and the venv is put back.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fakenum"), "{stderr}");
    assert!(stderr.contains("full installer log: `"), "{stderr}");
    assert_same_tree(&before, &snapshot(&venv));
}

/// virtualenv's embedded seed wheels (pip, setuptools): a wheelhouse for the seeds, offline.
fn seed_wheels() -> PathBuf {
    let lib = tools_dir().join("lib");
    let python = fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("python")
        })
        .unwrap();
    python.join("site-packages/virtualenv/seed/wheels/embed")
}

/// The `name-version` of each seed package in `venv`'s site-packages.
fn seeds_of(venv: &Path, minor: &str) -> Vec<String> {
    let site = venv.join(format!("lib/python{minor}/site-packages"));
    let mut out: Vec<String> = fs::read_dir(site)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".dist-info").map(str::to_string))
        .filter(|n| {
            n.starts_with("pip-") || n.starts_with("setuptools-") || n.starts_with("wheel-")
        })
        .collect();
    out.sort();
    out
}

/// Issue 11.2: a virtualenv venv is recreated with virtualenv: its activators
/// (`activate.nu`, `activate_this.py`), prompt and seed packages at their
/// versions are kept; without virtualenv or uv, `python -m venv` makes it, the plan says what
/// changes, and the old activators are copied over.
#[test]
fn a_virtualenv_venv_keeps_its_shape_and_seeds() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    for with_virtualenv in [true, false] {
        let base = env.copy_prefix(&py, "vbase");
        let venv = env.path("vvenv");
        make_virtualenv(&base.prefix.join("bin/python3"), &venv, &["--prompt", "vv"]);
        install(&venv, &["tinyjson==1.0.0"]);
        let seeds = seeds_of(&venv, &py.minor);
        assert!(seeds.iter().any(|s| s.starts_with("pip-")), "{seeds:?}");
        fs::remove_dir_all(&base.prefix).unwrap();
        let mut cmd = repair(&env, &venv, with_virtualenv);
        cmd.arg("--find-links")
            .arg(seed_wheels())
            .env(
                "VIRTUALENV_OVERRIDE_APP_DATA",
                tools_dir().join("virtualenv-data"),
            )
            .args(["--yes", "--strategy", "recreate", "--python"])
            .arg(&py.exe);
        if with_virtualenv {
            cmd.env("VENVFIX_VIRTUALENV", tools().virtualenv);
        } else {
            cmd.env("VENVFIX_VIRTUALENV", "none");
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
        assert!(cfg.contains("vv"), "{cfg}");
        for activator in [
            "activate",
            "activate.nu",
            "activate.fish",
            "activate_this.py",
        ] {
            assert!(
                venv.join("bin").join(activator).is_file(),
                "virtualenv={with_virtualenv}: bin/{activator} lost\n{stdout}"
            );
        }
        assert_eq!(seeds_of(&venv, &py.minor), seeds, "{stdout}");
        run_python(&venv, "import pip, tinyjson");
        if with_virtualenv {
            assert!(cfg.contains("virtualenv = "), "{cfg}");
        } else {
            assert!(
                stdout.contains("made with `python -m venv` instead of virtualenv"),
                "{stdout}"
            );
        }
        fs::remove_dir_all(&venv).unwrap();
    }
}

/// Issue 11.2: a `--copies` venv stays a `--copies` venv (uv cannot make copies: `python -m
/// venv --copies` makes it, uv installs into it).
#[test]
fn a_copies_venv_is_recreated_with_copies() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let base = env.copy_prefix(&py, "cbase");
    let venv = env.path("cvenv");
    make_venv(&base.prefix.join("bin/python3"), &venv, &["--copies"]);
    install(&venv, &["tinyjson==1.0.0"]);
    fs::remove_dir_all(&base.prefix).unwrap();
    let out = repair(&env, &venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("made with `python -m venv` --copies"),
        "{stdout}"
    );
    let meta = fs::symlink_metadata(venv.join("bin/python")).unwrap();
    assert!(meta.is_file(), "bin/python is not a copy: {meta:?}");
    run_python(&venv, "import tinyjson");
}

/// Issue 11.4: an editable whose source directory is gone is refused at plan time, with the
/// reason, before anything is touched.
#[test]
fn an_editable_whose_source_is_gone_is_refused_at_plan_time() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let b = broken_venv(&env, &py);
    fs::remove_dir_all(&b.project).unwrap();
    let before = snapshot(&b.venv);
    let out = repair(&env, &b.venv, true)
        .args(["--yes", "--strategy", "recreate"])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains(&format!(
            "the editable `tinyedit` was installed from `{}`, which is gone",
            b.project.display()
        )),
        "{all}"
    );
    assert_same_tree(&before, &snapshot(&b.venv));
}

/// Issue 11.4: a Python 2.7 venv is planned with a creator that makes Python 2 venvs
/// (virtualenv before 20.22, run by uv), or refused with the reason; moving a venv to another
/// major version is warned about.
#[test]
fn python_2_venvs_get_a_creator_that_supports_them_and_major_changes_are_warned() {
    use venvfix::diagnose::diagnose;
    use venvfix::inventory::{Installation, Inventory, Source};
    use venvfix::plan::recreate::{Creation, Tools};
    use venvfix::plan::{Action, Allowed, PlanRequest, PythonRequest, Strategy, plan};
    use venvfix::venv::Venv;

    let env = TestEnv::new();
    let fake = |version: &str| {
        let exe = env.write(format!("py-{version}/bin/python"), "");
        Installation {
            path: exe.clone(),
            aliases: Vec::new(),
            version: version.parse().unwrap(),
            implementation: "cpython".into(),
            prefix: exe.parent().unwrap().parent().unwrap().to_path_buf(),
            source: Source::Prefix,
            os_managed: false,
            compiled_prefix: None,
        }
    };
    let inventory = Inventory {
        pythons: vec![fake("2.7.18"), fake("3.10.13")],
        failures: Vec::new(),
    };
    let make = |name: &str, minor: &str| {
        let venv = env.path(name);
        env.write(
            format!("{name}/pyvenv.cfg"),
            format!("home = /gone/bin\nversion = {minor}.1\nvirtualenv = 20.21.0\n"),
        );
        env.write(
            format!("{name}/lib/python{minor}/site-packages/six-1.16.0.dist-info/METADATA"),
            "Name: six\nVersion: 1.16.0\n",
        );
        fs::create_dir_all(venv.join("bin")).unwrap();
        std::os::unix::fs::symlink("/gone/bin/python", venv.join("bin/python")).unwrap();
        diagnose(Venv::inspect(&venv).unwrap(), &inventory)
    };
    let request = |python: &str, tools: Tools| PlanRequest {
        allowed: Allowed::Recreate,
        python: Some(PythonRequest::parse(python)),
        tools,
        ..PlanRequest::default()
    };
    let py2 = make("venv27", "2.7");
    let uv = Tools {
        uv: Some("/opt/uv/bin/uv".into()),
        virtualenv: Some("/usr/bin/virtualenv".into()),
    };
    let p = plan(&py2, &inventory, &request("2.7", uv.clone())).unwrap();
    assert_eq!(p.strategy, Strategy::Recreate, "{}", p.reason);
    let Action::Recreate(spec) = &p.actions[0] else {
        panic!("{:?}", p.actions)
    };
    assert_eq!(
        spec.create,
        Some(Creation::Virtualenv {
            program: "/opt/uv/bin/uv".into(),
            args: ["tool", "run", "--from", "virtualenv<20.22", "virtualenv"]
                .map(String::from)
                .to_vec(),
        })
    );
    let none = Tools::default();
    let p = plan(&py2, &inventory, &request("2.7", none)).unwrap();
    assert_eq!(p.strategy, Strategy::None);
    assert!(
        p.reason
            .contains("has no `venv` module, and only virtualenv before 20.22"),
        "{}",
        p.reason
    );

    // 3.10 -> 2.7 and 2.7 -> 3.10: a major change is a warning in the plan.
    let py310 = make("venv310", "3.10");
    for (d, to) in [(&py310, "2.7"), (&py2, "3.10")] {
        let p = plan(d, &inventory, &request(to, uv.clone())).unwrap();
        let Action::Recreate(spec) = &p.actions[0] else {
            panic!("{}", p.reason)
        };
        assert!(
            spec.warnings
                .iter()
                .any(|w| w.contains("is a major version change")),
            "{:?}",
            spec.warnings
        );
    }
}

/// Issue 11.6: a package installed between planning and applying is not left out: the
/// recreate is refused as stale, and the venv is untouched.
#[test]
fn a_package_installed_after_planning_makes_the_recreate_stale() {
    use venvfix::diagnose::diagnose;
    use venvfix::execute::{self, ExecError, ExecOptions};
    use venvfix::inventory::{Inventory, InventoryOptions};
    use venvfix::plan::{Allowed, PlanRequest, PythonRequest, plan};
    use venvfix::venv::Venv;

    let env = TestEnv::new();
    let py = python3();
    let b = broken_venv(&env, &py);
    let inventory = Inventory::discover(&InventoryOptions {
        search_path: Some(vec![py.exe.parent().unwrap().to_path_buf()]),
        ..InventoryOptions::from_env()
    });
    let d = diagnose(Venv::inspect(&b.venv).unwrap(), &inventory);
    let request = PlanRequest {
        allowed: Allowed::Recreate,
        python: Some(PythonRequest::Path(py.exe.clone())),
        ..PlanRequest::default()
    };
    let p = plan(&d, &inventory, &request).unwrap();
    assert!(!p.actions.is_empty(), "{}", p.reason);
    // The base is gone, so the package arrives the way a copied-in install would.
    let site = b.venv.join(format!("lib/python{}/site-packages", py.minor));
    let late = site.join("latecomer-1.0.dist-info");
    fs::create_dir(&late).unwrap();
    fs::write(late.join("METADATA"), "Name: latecomer\nVersion: 1.0\n").unwrap();
    let before = snapshot(&b.venv);
    let hook = |_: &venvfix::plan::RecreateSpec, _: &Path, _: &Path| -> Result<(), String> {
        panic!("the build must not start")
    };
    let options = ExecOptions::new(env.state_dir());
    match execute::apply_with(&p, &inventory, &options, Some(&hook)) {
        Err(e @ ExecError::Stale { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("`latecomer==1.0` installed since the plan"),
                "{text}"
            );
            assert!(e.changed_nothing());
        }
        other => panic!("expected a stale plan, got {other:?}"),
    }
    assert_same_tree(&before, &snapshot(&b.venv));
}

/// A tmpfs mounted for one test, unmounted (lazily, so a failed test cannot leave it busy)
/// when dropped: declare it after the `TestEnv`, so it goes first.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size}"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and must run as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A venv with `tinyjson` on the tmpfs `mnt`, its base Python (on the disk) removed.
fn venv_on(env: &TestEnv, mnt: &Path, py: &Python) -> PathBuf {
    let base = env.copy_prefix(py, "fsbase");
    let venv = mnt.join("venv");
    make_venv(&base.prefix.join("bin/python3"), &venv, &[]);
    install(&venv, &["tinyjson==1.0.0"]);
    fs::remove_dir_all(&base.prefix).unwrap();
    venv
}

/// Issue 11.5: a venv on another filesystem than the state dir is recreated: the original is
/// kept by a rename on its own filesystem (beside it, recorded in the backup's manifest), the
/// output says where, and `undo` puts it back exactly.
#[test]
fn a_venv_on_another_filesystem_is_recreated_and_undone() {
    let env = TestEnv::new();
    let mnt = env.path("mnt");
    let _tmpfs = Tmpfs::mount(&mnt, "256m");
    let py = python3();
    env.add_python(&py);
    let venv = venv_on(&env, &mnt, &py);
    let before = snapshot(&venv);
    let out = repair(&env, &venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let kept = format!(
        "the original venv is kept on its own filesystem, in `{}/.venv.venvfix-original-",
        mnt.display()
    );
    assert!(stderr.contains(&kept), "{stderr}");
    let aside: Vec<PathBuf> = fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "venv")
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_same_tree(&before, &snapshot(&aside[0].join("venv")));
    run_python(&venv, "import tinyjson");
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
    assert_same_tree(&before, &snapshot(&venv));
    assert!(!aside[0].exists(), "the emptied dir beside the venv stays");
}

/// Finding 10.7: a recreate with pip on a full disk says the disk is full, and where; the
/// venv is put back as it was.
#[test]
fn a_full_disk_is_named_with_its_mount_point() {
    let env = TestEnv::new();
    let mnt = env.path("small");
    let _tmpfs = Tmpfs::mount(&mnt, "3m");
    let py = python3();
    env.add_python(&py);
    let venv = venv_on(&env, &mnt, &py);
    let before = snapshot(&venv);
    let out = repair(&env, &venv, false)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py.exe)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the disk is full: no space left on the filesystem mounted at `{}`",
            mnt.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert_same_tree(&before, &snapshot(&venv));
}

/// Issue 11, the pipx story (11.1 and 11.8): a pipx app's venv recreated keeps
/// `pipx_shared.pth` (so `pipx runpip` still finds pip), its app still runs, and pipx's own
/// record names the new Python.
#[test]
fn a_pipx_app_recreated_keeps_runpip_and_its_record() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let pipx_home = env.path("pipx");
    let pipx = || {
        let mut cmd = std::process::Command::new(apps().pipx);
        cmd.env("PIPX_HOME", &pipx_home)
            .env("PIPX_SHARED_LIBS", apps().pipx_shared)
            .env("PIPX_BIN_DIR", env.path("pipx-bin"))
            .env("PIPX_MAN_DIR", env.path("pipx-man"))
            .env("PATH", format!("{}:/usr/bin:/bin", new.bin_dir().display()))
            .env_remove("VIRTUAL_ENV");
        cmd
    };
    run_ok(
        pipx()
            .args(["install", "--python"])
            .arg(&old.exe)
            .arg(format!(
                "--pip-args=--find-links {}",
                wheelhouse().display()
            ))
            .arg("venvfix-demo"),
    );
    let venv = pipx_home.join("venvs/venvfix-demo");
    fs::remove_dir_all(&old.prefix).unwrap();
    let out = repair(&env, &venv, true)
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&new.exe)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "carried over: lib/python{}/site-packages/pipx_shared.pth",
            py.minor
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("pipx record `pipx_metadata.json`"),
        "{stdout}"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(venv.join("pipx_metadata.json")).unwrap()).unwrap();
    assert_eq!(
        meta["source_interpreter"]["__Path__"],
        new.exe.to_str().unwrap()
    );
    let runpip = run_ok(pipx().args(["runpip", "venvfix-demo", "--version"]));
    assert!(runpip.starts_with("pip "), "{runpip}");
    let app = run_ok(&mut std::process::Command::new(
        env.path("pipx-bin/venvfix-demo"),
    ));
    assert!(app.contains("venvfix-demo 2.3.1"), "{app}");
}

/// The absolute links in `venv/bin` (the links to the base), with their targets.
fn base_links(venv: &Path) -> Vec<(String, PathBuf)> {
    let mut links: Vec<(String, PathBuf)> = fs::read_dir(venv.join("bin"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let target = fs::read_link(&p).ok()?;
            let name = p.file_name()?.to_string_lossy().into_owned();
            target.is_absolute().then_some((name, target))
        })
        .collect();
    links.sort();
    links
}

/// A recreate names the installation's stable alias, like a relink: venvs made on a uv-managed
/// Python's patch dir (as tools that resolve links record it), that patch upgraded away, are
/// recreated (by each creator: `python -m venv`, `uv venv`, virtualenv) through the minor link
/// `cpython-3.X-…`, so `home` and `bin/` name it and the plan says why; the next `uv python
/// upgrade` (new patch dir, link moved, old dir deleted) leaves them working.
#[test]
fn a_recreate_links_through_the_stable_alias_and_survives_the_next_upgrade() {
    let env = TestEnv::new();
    let py = python3();
    let layout = Layout::uv(&env);
    let first = layout.upgrade(&env, "1", None);
    type Make = fn(&Path, &Path, &[&str]);
    let creators: [(&str, Make, &[&str]); 3] = [
        ("venv", make_venv, &[]),
        ("uv", make_uv_venv, &[]),
        ("virtualenv", make_virtualenv, &["--no-seed"]),
    ];
    let venvs: Vec<PathBuf> = creators
        .iter()
        .map(|(name, make, args)| {
            let venv = env.path(format!("proj/{name}"));
            make(&first.exe, &venv, args);
            install(&venv, &["tinyjson==1.0.0"]);
            venv
        })
        .collect();
    layout.upgrade(&env, "2", Some("1"));
    env.search_path(&[&layout.link.join("bin"), &layout.patch_dir("2").join("bin")]);
    let stable_exe = exe_in(&layout.link, &py.minor);
    let home = format!("home = {}", layout.link.join("bin").display());

    for venv in &venvs {
        let out = repair(&env, venv, true)
            .env("VENVFIX_VIRTUALENV", tools().virtualenv)
            .env(
                "VIRTUALENV_OVERRIDE_APP_DATA",
                tools_dir().join("virtualenv-data"),
            )
            .args(["--yes", "--strategy", "recreate", "--python"])
            .arg(&stable_exe)
            .output()
            .unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{shown}");
        assert!(shown.contains("uv python upgrade"), "{shown}");
        let links = base_links(venv);
        assert!(!links.is_empty(), "{}: no link to the base", venv.display());
        for (name, target) in &links {
            assert_eq!(
                target,
                &stable_exe,
                "{}: bin/{name}\n{shown}",
                venv.display()
            );
        }
        let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
        assert!(cfg.contains(&home), "{}:\n{cfg}", venv.display());
        run_python(venv, "import tinyjson");
    }

    // uv's next routine upgrade: every recreated venv keeps working, nothing to repair.
    layout.upgrade(&env, "3", Some("2"));
    env.search_path(&[&layout.patch_dir("3").join("bin")]);
    for venv in &venvs {
        run_python(venv, "import tinyjson");
        let check = env.venvfix().arg("check").arg(venv).output().unwrap();
        assert_eq!(
            check.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

/// Issue 11.4, end to end: a Python 2.7 virtualenv venv (virtualenv before 20.22, its seeds,
/// two `py2.py3` wheels, one with a console script) on a copied pyenv 2.7 prefix, broken by
/// deleting the prefix, is rebuilt with virtualenv run by uv and Python 2.7's pip: the packages
/// import, the script runs, the seeds keep their versions, and `check` is ok.
#[test]
#[cfg_attr(not(pyenv_2_7), ignore = "needs pyenv 2.7")]
fn a_python_2_7_virtualenv_is_recreated_end_to_end() {
    let env = TestEnv::new();
    let py27 = pyenv_python("2.7").expect("pyenv 2.7");
    env.add_python(&py27);
    let base = env.copy_prefix(&py27, "base27");
    let venv = env.path("venv27");
    make_virtualenv_py2(&base.exe, &venv, &["--prompt", "old"]);
    run_ok(
        python_command(&venv.join("bin/python"))
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .arg("--no-index")
            .arg("--find-links")
            .arg(wheelhouse())
            .args(["tinyboth==1.0", "tinyold==0.3"]),
    );
    let seeds = seeds_of(&venv, "2.7");
    assert!(seeds.iter().any(|s| s.starts_with("pip-")), "{seeds:?}");
    fs::remove_dir_all(&base.prefix).unwrap();

    let out = repair(&env, &venv, true)
        .env(
            "VIRTUALENV_OVERRIDE_APP_DATA",
            tools_dir().join("virtualenv-data"),
        )
        .env("VENVFIX_VIRTUALENV", "none")
        .args(["--yes", "--strategy", "recreate", "--python"])
        .arg(&py27.exe)
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("virtualenv<20.22"), "{shown}");
    assert_eq!(
        run_python(
            &venv,
            "import sys, tinyboth, tinyold; print(tinyboth.__version__)"
        )
        .trim(),
        "1.0"
    );
    let script = run_ok(&mut std::process::Command::new(venv.join("bin/tinyold")));
    assert!(script.contains("tinyold 0.3"), "{script}");
    assert_eq!(seeds_of(&venv, "2.7"), seeds, "{shown}");
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains("virtualenv = 20.21"), "{cfg}");
    assert!(cfg.contains("old"), "prompt lost:\n{cfg}");
    let check = env.venvfix().arg("check").arg(&venv).output().unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
