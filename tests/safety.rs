//! The safety rules of the executor seen from the user's side (DESIGN.md 4–7), for the cases a
//! new-user trial found wrong: a venv seeded by Debian's pip/setuptools verifies, `check` tells
//! a repair in progress from an interrupted one, `repair` leaves a venv another venvfix holds
//! alone, `undo` refuses to throw away changes made after the repair (unless `--force`), and a
//! state dir that cannot be created is a refusal that changes nothing.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use venvfix::execute::{
    self, Backup, ExecError, ExecOptions, Journal, JournalState, VenvState, apply_with,
};
use venvfix::inventory::{Installation, Inventory, Source};
use venvfix::plan::{Action, Plan, RecreateSpec, Strategy};
use venvfix::version::PythonVersion;

/// A venv made on a copy of [`python3`] at `sys/old` (with one module and its dist-info), whose
/// base was then deleted; `sys/new` is another installation of the same version, discoverable.
fn base_removed(env: &TestEnv) -> PathBuf {
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    let site = venv.join(format!("lib/python{}/site-packages", py.minor));
    fs::write(site.join("hello.py"), "GREETING = 'hi'\n").unwrap();
    let dist = site.join("hello-1.0.dist-info");
    fs::create_dir(&dist).unwrap();
    fs::write(dist.join("METADATA"), "Name: hello\nVersion: 1.0\n").unwrap();
    fs::write(dist.join("top_level.txt"), "hello\n").unwrap();
    fs::remove_dir_all(&old.prefix).unwrap();
    venv
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// `flock --no-fork <lock> sleep 30`: another process holding the venv's lock (no label).
struct Holder(Child);

impl Holder {
    fn hold(state: &VenvState) -> Holder {
        state.create().unwrap();
        let child = Command::new("flock")
            .arg("--no-fork")
            .arg(state.lock_path())
            .args(["sleep", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("util-linux flock");
        // Held once a probe sees it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while execute::lock::probe(&state.lock_path()).is_none() {
            assert!(Instant::now() < deadline, "flock never took the lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[cfg_attr(
    not(system_python),
    ignore = "needs Debian\'s /usr/bin/python3.11 with ensurepip (apt-get install python3-venv)"
)]
fn a_debian_pip_seeded_venv_is_relinked_and_verifies() {
    // Debian's python3.11 seeds setuptools 66.1.1, whose `top_level.txt` lists `debian`.
    let debian = Path::new("/usr/bin/python3.11");
    let system = probe(debian).unwrap_or_else(|| panic!("{} is not installed", debian.display()));
    let env = TestEnv::new();
    let old = env.copy_prefix(&system, "sys/old");
    let new = env.copy_prefix(&system, "sys/new");
    env.add_python(&new);
    let venv = env.path("proj/venv");
    let made = python_command(&old.exe)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "`{} -m venv` (with pip) fails here: {}",
        debian.display(),
        text(&made.stderr)
    );
    fs::remove_dir_all(&old.prefix).unwrap();
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::canonicalize(venv.join("bin/python")).unwrap(), new.exe);
}

#[test]
fn check_and_repair_leave_a_venv_alone_while_another_venvfix_changes_it() {
    let env = TestEnv::new();
    let venv = base_removed(&env);
    let state = VenvState::locate(&env.state_dir(), &venv).unwrap();
    state.create().unwrap();
    // The run in progress has backed up nothing yet and written its journal.
    let backup = Backup::take(&venv, &[], &state.backups_dir(), "repair").unwrap();
    Journal::new(
        JournalState::Applying,
        &state.venv,
        Value::Null,
        &backup.dir,
    )
    .write(&state.journal_path())
    .unwrap();
    let before = snapshot(&venv);
    let holder = Holder::hold(&state);

    let check = env
        .venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&check);
    let first = &report["venvs"][0]["problems"][0];
    assert_eq!(first["kind"], "repair-in-progress", "{report:#}");
    assert_eq!(first["severity"], "warning", "{report:#}");
    // freeze refuses to list a venv that is being changed.
    let freeze = env.venvfix().arg("freeze").arg(&venv).output().unwrap();
    assert_eq!(freeze.status.code(), Some(2));
    assert!(
        text(&freeze.stderr).contains("a repair is in progress"),
        "{}",
        text(&freeze.stderr)
    );
    let message = first["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("a repair is in progress (pid"),
        "{message}"
    );
    assert!(!message.contains("interrupted"), "{message}");

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let report = json_of(&out);
    let entry = &report["venvs"][0];
    assert_eq!(entry["outcome"], "failed", "{report:#}");
    // Not planned: nothing was diagnosed or decided for a venv someone else is changing.
    assert_eq!(entry["actions"], Value::Array(Vec::new()), "{report:#}");
    assert_eq!(entry["error"]["code"], "locked", "{report:#}");
    let error = entry["error"]["message"].as_str().unwrap_or_default();
    assert!(error.contains("is changing this venv"), "{error}");
    // The CLI names the venv once per line; the message does not repeat it.
    let stderr = text(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("is changing this venv"))
        .unwrap_or_else(|| panic!("no lock error in:\n{stderr}"));
    assert_eq!(line.matches(venv.to_str().unwrap()).count(), 1, "{line}");
    assert_same_tree(&before, &snapshot(&venv));
    assert!(
        state.journal_path().exists(),
        "the live run's journal is kept"
    );

    // Once the holder is gone, the same journal is an interrupted run, and the next repair
    // rolls it back and repairs.
    drop(holder);
    let check = env
        .venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&check);
    let first = &report["venvs"][0]["problems"][0];
    assert_eq!(first["kind"], "interrupted-repair", "{report:#}");
    assert_eq!(first["severity"], "error", "{report:#}");
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn undo_refuses_to_throw_away_an_edit_made_after_the_repair_unless_forced() {
    let env = TestEnv::new();
    let venv = base_removed(&env);
    let before = snapshot(&venv);
    env.venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .assert()
        .code(0);
    // The user edits pyvenv.cfg by hand after the repair.
    let cfg = venv.join("pyvenv.cfg");
    let mut edited = fs::read(&cfg).unwrap();
    edited.extend_from_slice(b"prompt = mine\n");
    fs::write(&cfg, &edited).unwrap();
    let after_edit = snapshot(&venv);

    let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`pyvenv.cfg` changed since the repair on"),
        "{stderr}"
    );
    assert!(stderr.contains("venvfix undo --force"), "{stderr}");
    assert_same_tree(&after_edit, &snapshot(&venv));

    let out = env
        .venvfix()
        .args(["undo", "--force"])
        .arg(&venv)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_same_tree(&before, &snapshot(&venv));
    // Said without `-v`: where the state before the undo (the edit) was saved.
    let saved = stderr
        .lines()
        .find_map(|l| l.strip_prefix("the state before this undo is saved in `"))
        .and_then(|rest| rest.strip_suffix('`'))
        .unwrap_or_else(|| panic!("no safety backup line in:\n{stderr}"));
    assert_eq!(
        fs::read(Path::new(saved).join("entries/pyvenv.cfg")).unwrap(),
        edited
    );
}

#[test]
fn an_unchanged_repair_is_undone_without_force() {
    let env = TestEnv::new();
    let venv = base_removed(&env);
    let before = snapshot(&venv);
    env.venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .assert()
        .code(0);
    // Running the repaired venv changes nothing that matters to undo.
    run_ok(python_command(&venv.join("bin/python")).args(["-c", "import hello"]));
    let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn a_state_dir_that_cannot_be_created_is_a_refusal_and_changes_nothing() {
    let env = TestEnv::new();
    let venv = base_removed(&env);
    let before = snapshot(&venv);
    let file = env.write("not-a-dir", "x");
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .env("VENVFIX_STATE_DIR", file.join("state"))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn a_venv_moved_under_a_path_that_is_not_utf8_is_refused_without_a_panic_and_changes_nothing() {
    use std::os::unix::ffi::OsStrExt;
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    // Python cannot make a venv under a non-UTF-8 path; users move them there.
    let made = env.path("made/venv");
    make_venv(&py.exe, &made, &[]);
    let odd = env.root().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    fs::rename(env.path("made"), &odd).unwrap();
    let venv = odd.join("venv");
    let before = snapshot(&venv);
    let out = env
        .venvfix()
        .args(["repair", "--yes", "--"])
        .arg(&venv)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("its path is not UTF-8"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_same_tree(&before, &snapshot(&venv));
}

// ---------------------------------------------------------------------------------------------
// Recreate, through the library (a hook that runs `python -m venv`, no installer)

fn version_of(python: &Python) -> PythonVersion {
    let n: Vec<u64> = python
        .version
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    PythonVersion::new(n[0], n[1], n[2])
}

fn recreate_plan(venv: &Path) -> Plan {
    Plan {
        venv: venv.to_path_buf(),
        strategy: Strategy::Recreate,
        target: None,
        actions: vec![Action::Recreate(Box::default())],
        alternatives: Vec::new(),
        resolves: Vec::new(),
        unresolved: Vec::new(),
        reason: "test".into(),
        notes: Vec::new(),
    }
}

#[test]
fn undo_of_a_recreate_refuses_when_packages_were_installed_since() {
    let env = TestEnv::new();
    let venv = base_removed(&env);
    let before = snapshot(&venv);
    let new = env.copy_prefix(&python3(), "sys/recreate");
    let inventory = Inventory {
        pythons: vec![Installation {
            path: new.exe.clone(),
            aliases: Vec::new(),
            version: version_of(&new),
            implementation: "cpython".into(),
            prefix: new.prefix.clone(),
            source: Source::SearchPath,
            os_managed: false,
            compiled_prefix: None,
        }],
        failures: Vec::new(),
    };
    let options = ExecOptions::new(env.state_dir());
    let hook = |_: &RecreateSpec, root: &Path, _: &Path| -> Result<(), String> {
        let out = python_command(&new.exe)
            .args(["-m", "venv", "--without-pip"])
            .arg(root)
            .output()
            .map_err(|e| e.to_string())?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| text(&out.stderr))
    };
    let plan = recreate_plan(&venv);

    // Untouched since: undone without force.
    apply_with(&plan, &inventory, &options, Some(&hook)).unwrap();
    execute::undo(&venv, &options, false).unwrap();
    assert_same_tree(&before, &snapshot(&venv));

    // Something installed since (as `pip install` would): refused, then forced.
    apply_with(&plan, &inventory, &options, Some(&hook)).unwrap();
    let site = venv.join(format!("lib/python{}/site-packages", new.minor));
    fs::write(site.join("added.py"), "").unwrap();
    let recreated = snapshot(&venv);
    match execute::undo(&venv, &options, false) {
        Err(e @ ExecError::ChangedSinceRepair { .. }) => {
            assert!(e.to_string().contains("site-packages"), "{e}");
            assert!(e.changed_nothing());
        }
        other => panic!("expected ChangedSinceRepair, got {other:?}"),
    }
    assert_same_tree(&recreated, &snapshot(&venv));
    let undone = execute::undo(&venv, &options, true).unwrap();
    assert_same_tree(&before, &snapshot(&venv));
    let safety = undone.safety_backup.expect("a safety backup");
    assert_same_tree(&recreated, &snapshot(&safety.join("venv")));
}
