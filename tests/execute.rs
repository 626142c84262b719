//! The executor on real venvs made by the machine's Python: relink and undo, failed
//! verification, stale plans, the lock, and recovery of a run killed half-way.
//!
//! "Another installation" is a thin copy of the real prefix (its binary copied, its stdlib
//! linked), so a base can be deleted without touching the machine's Python.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use venvfix::execute::{
    self, ExecError, ExecOptions, VenvLock, VenvState, apply, pending, recover, undo,
};
use venvfix::inventory::{Installation, Inventory, Source};
use venvfix::plan::{Action, Plan, Strategy, Target};
use venvfix::version::PythonVersion;

/// The machine's real interpreter binary (canonical), its prefix, `X.Y` and version.
struct RealPython {
    binary: PathBuf,
    prefix: PathBuf,
    short: String,
    version: PythonVersion,
}

fn real_python() -> &'static RealPython {
    static REAL: OnceLock<RealPython> = OnceLock::new();
    REAL.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 on PATH");
        let exe = String::from_utf8(out.stdout).unwrap();
        let binary = fs::canonicalize(exe.trim()).unwrap();
        let prefix = binary.parent().unwrap().parent().unwrap().to_path_buf();
        let name = binary.file_name().unwrap().to_string_lossy().into_owned();
        let short = name.strip_prefix("python").unwrap().to_string();
        let header =
            fs::read_to_string(prefix.join(format!("include/python{short}/patchlevel.h"))).unwrap();
        let version = PythonVersion::from_patchlevel_h(&header).unwrap();
        RealPython {
            binary,
            prefix,
            short,
            version,
        }
    })
}

/// A thin installation at `dir`: the binary copied, the stdlib linked. Returns its binary.
fn thin_prefix(dir: &Path) -> PathBuf {
    let real = real_python();
    let short = &real.short;
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("lib")).unwrap();
    fs::create_dir_all(dir.join(format!("include/python{short}"))).unwrap();
    let binary = dir.join(format!("bin/python{short}"));
    // A child `cp`, not `fs::copy`: no write handle of this process for a forking test thread
    // to pass on, which would make executing the copy fail with "Text file busy".
    let copied = std::process::Command::new("cp")
        .arg("--")
        .arg(&real.binary)
        .arg(&binary)
        .status()
        .unwrap();
    assert!(copied.success());
    symlink(format!("python{short}"), dir.join("bin/python3")).unwrap();
    symlink(
        real.prefix.join(format!("lib/python{short}")),
        dir.join(format!("lib/python{short}")),
    )
    .unwrap();
    fs::copy(
        real.prefix
            .join(format!("include/python{short}/patchlevel.h")),
        dir.join(format!("include/python{short}/patchlevel.h")),
    )
    .unwrap();
    binary
}

fn installation(binary: &Path) -> Installation {
    let path = fs::canonicalize(binary).unwrap();
    Installation {
        prefix: path.parent().unwrap().parent().unwrap().to_path_buf(),
        path,
        aliases: Vec::new(),
        version: real_python().version,
        implementation: "cpython".into(),
        source: Source::Prefix,
        os_managed: false,
        compiled_prefix: None,
    }
}

/// A venv made by `old`'s Python with a module and its dist-info, then `old` deleted: the
/// venv's interpreter link dangles. `new` is a same-minor installation to relink to.
struct Scenario {
    root: PathBuf,
    venv: PathBuf,
    new_binary: PathBuf,
    options: ExecOptions,
}

impl Scenario {
    /// The paths of a scenario under `root` (also used by the failpoint child).
    fn at(root: &Path) -> Scenario {
        let root = fs::canonicalize(root).unwrap();
        Scenario {
            venv: root.join("venv"),
            new_binary: root.join(format!("py-new/bin/python{}", real_python().short)),
            options: ExecOptions::new(root.join("state")),
            root,
        }
    }

    fn build(root: &Path) -> Scenario {
        let s = Scenario::at(root);
        let old = thin_prefix(&s.root.join("py-old"));
        thin_prefix(&s.root.join("py-new"));
        let status = Command::new(&old)
            .args(["-m", "venv", "--without-pip"])
            .arg(&s.venv)
            .env_remove("PYTHONDONTWRITEBYTECODE")
            .status()
            .unwrap();
        assert!(status.success());
        let site = s.site_packages();
        fs::write(site.join("hello.py"), "GREETING = 'hi'\n").unwrap();
        let dist = site.join("hello-1.0.dist-info");
        fs::create_dir(&dist).unwrap();
        fs::write(dist.join("METADATA"), "Name: hello\nVersion: 1.0\n").unwrap();
        fs::write(
            dist.join("RECORD"),
            "hello.py,,\nhello-1.0.dist-info/METADATA,,\nhello-1.0.dist-info/RECORD,,\n",
        )
        .unwrap();
        // An unusual mode, to see it kept through repair and undo.
        fs::set_permissions(s.venv.join("pyvenv.cfg"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::remove_dir_all(s.root.join("py-old")).unwrap();
        s
    }

    fn site_packages(&self) -> PathBuf {
        self.venv
            .join(format!("lib/python{}/site-packages", real_python().short))
    }

    fn inventory(&self) -> Inventory {
        Inventory {
            pythons: vec![installation(&self.new_binary)],
            failures: Vec::new(),
        }
    }

    /// The venv's absolute interpreter link: `(relative path, target)`.
    fn absolute_link(&self) -> (PathBuf, PathBuf) {
        for entry in fs::read_dir(self.venv.join("bin")).unwrap() {
            let path = entry.unwrap().path();
            if let Ok(target) = fs::read_link(&path)
                && target.is_absolute()
            {
                return (path.strip_prefix(&self.venv).unwrap().to_path_buf(), target);
            }
        }
        panic!("no absolute link in {}", self.venv.display());
    }

    /// The relink plan a planner would make: the absolute link and `home` (+ `executable`).
    fn relink_plan(&self) -> Plan {
        let (link, from) = self.absolute_link();
        let cfg = fs::read_to_string(self.venv.join("pyvenv.cfg")).unwrap();
        let cfg = venvfix::config::PyvenvCfg::parse(cfg.as_bytes()).unwrap();
        let new_bin = self.new_binary.parent().unwrap();
        let mut actions = vec![
            Action::Symlink {
                path: link,
                from: Some(from),
                to: self.new_binary.clone(),
            },
            Action::Config {
                key: "home".into(),
                from: cfg.home().map(str::to_string),
                to: new_bin.display().to_string(),
            },
        ];
        if let Some(exe) = cfg.get("executable") {
            actions.push(Action::Config {
                key: "executable".into(),
                from: Some(exe.to_string()),
                to: self.new_binary.display().to_string(),
            });
        }
        Plan {
            venv: self.venv.clone(),
            strategy: Strategy::Relink,
            target: Some(Target::from_installation(&installation(&self.new_binary))),
            actions,
            alternatives: Vec::new(),
            resolves: Vec::new(),
            unresolved: Vec::new(),
            reason: "test".into(),
            notes: Vec::new(),
        }
    }
}

/// Relative path → kind, link target, mode and content hash; links are never followed.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, format!("link -> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(root, &path, out);
            } else {
                let hash = execute::state::fnv1a64(&fs::read(&path).unwrap());
                out.insert(rel, format!("file {mode:o} {hash:016x}"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn relink_is_applied_verified_and_undone_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let plan = s.relink_plan();
    let (link, old_target) = s.absolute_link();

    let applied = apply(&plan, &s.inventory(), &s.options).unwrap();
    assert!(applied.verification.ok, "{:?}", applied.verification);
    assert_eq!(applied.verification.version, Some(real_python().version));
    assert_eq!(fs::read_link(s.venv.join(&link)).unwrap(), s.new_binary);
    let cfg = fs::read_to_string(s.venv.join("pyvenv.cfg")).unwrap();
    assert!(cfg.contains(&format!(
        "home = {}",
        s.new_binary.parent().unwrap().display()
    )));
    // Only the plan's entries changed: no temp, lock or bytecode files in the venv.
    let after = snapshot(&s.venv);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        after[Path::new("pyvenv.cfg")].split(' ').nth(1),
        Some("640")
    );
    // The backup holds the old link as a link, not what it pointed to.
    let saved = applied.backup.join("entries").join(&link);
    assert_eq!(fs::read_link(&saved).unwrap(), old_target);
    assert!(pending(&s.venv, &s.options).is_none());

    // The repaired venv really works.
    let out = Command::new(s.venv.join("bin/python"))
        .args(["-I", "-B", "-c", "import hello; print(hello.GREETING)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");

    let undone = undo(&s.venv, &s.options, false).unwrap();
    assert!(undone.recovered.is_none());
    let lines: Vec<String> = undone.restored.iter().map(|r| r.to_string()).collect();
    assert!(
        lines.contains(&format!("{} -> {}", link.display(), old_target.display())),
        "{lines:?}"
    );
    assert!(lines.contains(&"pyvenv.cfg".to_string()), "{lines:?}");
    assert_eq!(snapshot(&s.venv), before);
    assert!(
        undone
            .safety_backup
            .unwrap()
            .join("manifest.json")
            .is_file()
    );

    let err = undo(&s.venv, &s.options, false).unwrap_err();
    assert!(matches!(err, ExecError::NothingToUndo { .. }), "{err}");
    assert!(err.to_string().contains("nothing to undo"), "{err}");
}

#[test]
fn failed_verification_rolls_back_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let mut plan = s.relink_plan();
    // The plan claims a patch the link does not lead to.
    if let Some(target) = &mut plan.target {
        target.version.patch = target.version.patch.map(|p| p + 50);
    }
    let err = apply(&plan, &s.inventory(), &s.options).unwrap_err();
    let text = err.to_string();
    match &err {
        ExecError::VerifyFailed { problems, .. } => {
            assert!(
                problems.iter().any(|p| p.contains("expected")),
                "{problems:?}"
            );
        }
        other => panic!("expected VerifyFailed, got {other}"),
    }
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(snapshot(&s.venv), before);
    assert!(pending(&s.venv, &s.options).is_none());
    // A rolled-back repair leaves no backup behind (the venv is its own backup).
    let state = VenvState::locate(&s.options.state_dir, &s.venv).unwrap();
    let left: Vec<_> = fs::read_dir(state.backups_dir()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(matches!(
        undo(&s.venv, &s.options, false),
        Err(ExecError::NothingToUndo { .. })
    ));
}

#[test]
fn a_link_to_an_unknown_python_is_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let plan = s.relink_plan();
    // The inventory does not know the target: verification must refuse to execute it.
    let err = apply(&plan, &Inventory::default(), &s.options).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("not an installed Python"), "{text}");
    assert_eq!(snapshot(&s.venv), before);
}

#[test]
fn a_stale_plan_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let plan = s.relink_plan();
    // The venv changes after planning.
    let cfg_path = s.venv.join("pyvenv.cfg");
    let cfg = fs::read_to_string(&cfg_path).unwrap();
    let cfg = venvfix::config::PyvenvCfg::parse(cfg.as_bytes()).map(|mut c| {
        c.set("home", "/somewhere/else/bin");
        c.render()
    });
    fs::write(&cfg_path, cfg.unwrap()).unwrap();
    let before = snapshot(&s.venv);
    let err = apply(&plan, &s.inventory(), &s.options).unwrap_err();
    assert!(matches!(err, ExecError::Stale { .. }), "{err}");
    assert!(err.to_string().contains("`home`"), "{err}");
    assert_eq!(snapshot(&s.venv), before);
    let state = VenvState::locate(&s.options.state_dir, &s.venv).unwrap();
    assert!(!state.journal_path().exists());

    // A link changed after planning is stale too.
    let (link, _) = s.absolute_link();
    fs::remove_file(s.venv.join(&link)).unwrap();
    symlink("/usr/bin/python3", s.venv.join(&link)).unwrap();
    let before = snapshot(&s.venv);
    let err = apply(&s.relink_plan_with_old_link(), &s.inventory(), &s.options).unwrap_err();
    assert!(matches!(err, ExecError::Stale { .. }), "{err}");
    assert_eq!(snapshot(&s.venv), before);
}

impl Scenario {
    /// A relink plan whose link `from` is the deleted old base, whatever the link is now.
    fn relink_plan_with_old_link(&self) -> Plan {
        let mut plan = self.relink_plan();
        let old = self
            .root
            .join(format!("py-old/bin/python{}", real_python().short));
        plan.actions.retain(|a| matches!(a, Action::Symlink { .. }));
        if let Some(Action::Symlink { from, .. }) = plan.actions.first_mut() {
            *from = Some(old);
        }
        plan
    }

    /// A tool's link to the venv outside it (as pyenv-virtualenv's `versions/NAME`), still
    /// naming the venv's old path: `(link, old target)`.
    fn external_link(&self) -> (PathBuf, PathBuf) {
        let link = self.root.join("tool/versions/venv");
        let old = self.root.join("old-root/venv");
        if fs::symlink_metadata(&link).is_err() {
            fs::create_dir_all(link.parent().unwrap()).unwrap();
            symlink(&old, &link).unwrap();
        }
        (link, old)
    }

    /// The relink plan with the external link pointed at the venv first.
    fn plan_with_external_link(&self) -> Plan {
        let (link, old) = self.external_link();
        let mut plan = self.relink_plan();
        plan.actions.insert(
            0,
            Action::ExternalLink {
                path: link,
                from: old,
                to: self.venv.clone(),
            },
        );
        plan
    }
}

#[test]
fn a_link_outside_the_venv_is_backed_up_changed_and_undone_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let (link, old) = s.external_link();
    let mut plan = s.plan_with_external_link();

    // Only ever pointed at the venv itself.
    if let Action::ExternalLink { to, .. } = &mut plan.actions[0] {
        *to = s.root.clone();
    }
    let err = apply(&plan, &s.inventory(), &s.options).unwrap_err();
    assert!(matches!(err, ExecError::InvalidPlan { .. }), "{err}");
    // Never through a linked directory on its way.
    symlink("tool", s.root.join("via")).unwrap();
    let mut plan = s.plan_with_external_link();
    if let Action::ExternalLink { path, .. } = &mut plan.actions[0] {
        *path = s.root.join("via/versions/venv");
    }
    let err = apply(&plan, &s.inventory(), &s.options).unwrap_err();
    assert!(
        matches!(err, ExecError::Refused { .. }) && err.to_string().contains("symlink"),
        "{err}"
    );
    assert_eq!(snapshot(&s.venv), before);
    assert_eq!(fs::read_link(&link).unwrap(), old);
    assert!(pending(&s.venv, &s.options).is_none());

    let applied = apply(&s.plan_with_external_link(), &s.inventory(), &s.options).unwrap();
    assert_eq!(fs::read_link(&link).unwrap(), s.venv);
    let manifest = fs::read_to_string(applied.backup.join("manifest.json")).unwrap();
    assert!(manifest.contains(link.to_str().unwrap()), "{manifest}");
    // An entry outside the venv makes it format 2, which a venvfix knowing only 1 refuses.
    assert!(manifest.contains("\"format\": 2"), "{manifest}");
    let undone = undo(&s.venv, &s.options, false).unwrap();
    let lines: Vec<String> = undone.restored.iter().map(|r| r.to_string()).collect();
    assert!(
        lines.contains(&format!("{} -> {}", link.display(), old.display())),
        "{lines:?}"
    );
    assert_eq!(fs::read_link(&link).unwrap(), old);
    assert_eq!(snapshot(&s.venv), before);
    // The undo's own backup holds the link as the repair left it: `undo --from` puts it back.
    let safety = undone.safety_backup.unwrap();
    assert_eq!(fs::read_link(safety.join("external/0")).unwrap(), s.venv);
}

#[test]
fn an_interrupted_run_that_changed_a_link_outside_the_venv_is_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let (link, old) = s.external_link();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "failpoint_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &s.root)
        .env(CHILD_EXTERNAL, "1")
        .env("VENVFIX_FAILPOINT", "after-action:1")
        .output()
        .unwrap();
    assert!(!output.status.success(), "the child was meant to abort");
    // The link was changed, the venv not yet.
    assert_eq!(fs::read_link(&link).unwrap(), s.venv);
    assert_eq!(snapshot(&s.venv), before);
    assert!(pending(&s.venv, &s.options).is_some());
    let recovered = recover(&s.venv, &s.options)
        .unwrap()
        .expect("something to recover");
    assert_eq!(recovered.done, vec![0]);
    assert_eq!(fs::read_link(&link).unwrap(), old);
    assert_eq!(snapshot(&s.venv), before);
    assert!(pending(&s.venv, &s.options).is_none());
}

#[test]
fn a_second_venvfix_is_told_who_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let state = VenvState::locate(&s.options.state_dir, &s.venv).unwrap();
    // Held through another open file description, as another process would.
    let held = std::thread::scope(|scope| {
        scope
            .spawn(|| VenvLock::acquire(&state).unwrap())
            .join()
            .unwrap()
    });
    let err = apply(&s.relink_plan(), &s.inventory(), &s.options).unwrap_err();
    match &err {
        ExecError::Locked { pid, .. } => assert_eq!(*pid, std::process::id()),
        other => panic!("expected Locked, got {other}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(matches!(
        undo(&s.venv, &s.options, false),
        Err(ExecError::Locked { .. })
    ));
    assert_eq!(snapshot(&s.venv), before);
    drop(held);
    apply(&s.relink_plan(), &s.inventory(), &s.options).unwrap();
}

const CHILD: &str = "VENVFIX_TEST_FAILPOINT_ROOT";
/// Set for the child to apply [`Scenario::plan_with_external_link`].
const CHILD_EXTERNAL: &str = "VENVFIX_TEST_FAILPOINT_EXTERNAL";

/// Not a test on its own: the child process of `an_interrupted_run_is_recovered`.
#[test]
fn failpoint_child() {
    let Some(root) = std::env::var_os(CHILD) else {
        return;
    };
    let s = Scenario::at(Path::new(&root));
    let plan = if std::env::var_os(CHILD_EXTERNAL).is_some() {
        s.plan_with_external_link()
    } else {
        s.relink_plan()
    };
    let _ = apply(&plan, &s.inventory(), &s.options);
    unreachable!("the failpoint aborts the process");
}

#[test]
fn an_interrupted_run_is_recovered() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "failpoint_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &s.root)
        .env("VENVFIX_FAILPOINT", "after-action:1")
        .output()
        .unwrap();
    assert!(!output.status.success(), "the child was meant to abort");
    // Action 1 (the link) was applied, the config was not.
    assert_ne!(snapshot(&s.venv), before);

    let info = pending(&s.venv, &s.options).expect("a journal is left");
    assert!(
        info.message().contains("venvfix undo"),
        "{}",
        info.message()
    );
    assert!(info.backup.is_some());

    let recovered = recover(&s.venv, &s.options)
        .unwrap()
        .expect("something to recover");
    assert_eq!(recovered.done, vec![0]);
    assert_eq!(snapshot(&s.venv), before);
    assert!(pending(&s.venv, &s.options).is_none());
    assert!(recover(&s.venv, &s.options).unwrap().is_none());
}

#[test]
fn undo_command_prints_what_it_restored_and_exits_by_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    let before = snapshot(&s.venv);
    let venvfix = || {
        let mut cmd = assert_cmd::Command::cargo_bin("venvfix").unwrap();
        cmd.env("VENVFIX_STATE_DIR", &s.options.state_dir)
            .env("NO_COLOR", "1");
        cmd
    };
    // Nothing recorded yet: exit 1, said clearly.
    let out = venvfix().arg("undo").arg(&s.venv).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to undo"));
    // A path that does not exist: exit 2.
    let out = venvfix()
        .arg("undo")
        .arg(tmp.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    apply(&s.relink_plan(), &s.inventory(), &s.options).unwrap();
    // Locked by someone else: exit 2, naming the holder.
    let state = VenvState::locate(&s.options.state_dir, &s.venv).unwrap();
    let held = VenvLock::acquire(&state).unwrap();
    let out = venvfix().arg("undo").arg(&s.venv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    drop(held);

    let out = venvfix().arg("undo").arg(&s.venv).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let link = s.relink_plan().actions[0].touches().unwrap();
    assert!(
        stdout.contains(&format!("restored {} -> ", link.display())),
        "{stdout}"
    );
    assert!(stdout.contains("restored pyvenv.cfg"), "{stdout}");
    assert_eq!(snapshot(&s.venv), before);
}

#[test]
fn a_listed_module_that_is_not_installed_does_not_fail_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Scenario::build(tmp.path());
    // Like Debian's setuptools 66.1.1, whose `top_level.txt` lists a `debian` that is not there.
    let dist = s.site_packages().join("stale-1.0.dist-info");
    fs::create_dir(&dist).unwrap();
    fs::write(dist.join("METADATA"), "Name: stale\nVersion: 1.0\n").unwrap();
    fs::write(dist.join("top_level.txt"), "debian\nhello\n").unwrap();
    let applied = apply(&s.relink_plan(), &s.inventory(), &s.options).unwrap();
    assert!(applied.verification.ok, "{:?}", applied.verification);
    assert!(
        applied
            .verification
            .notes
            .iter()
            .any(|n| n.contains("`debian`")),
        "{:?}",
        applied.verification.notes
    );
}
