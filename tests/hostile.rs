//! Hostile trees (issue 10): a venv from a cloned repository must not hang venvfix, make it
//! run code, write outside the venv, or panic. Each case runs the real binary under a timeout,
//! looks for a marker file the hostile tree would create if its code ran, and snapshots a
//! sentinel tree around the venv to prove nothing outside it changed.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::*;
use wait_timeout::ChildExt;

/// How long one venvfix command may take on a hostile tree before the test calls it a hang.
const HANG: Duration = Duration::from_secs(60);

/// Run `cmd` with no stdin, killing it after [`HANG`]; panics on a hang or a panic message.
fn bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start venvfix");
    let status = match child.wait_timeout(HANG).expect("wait for venvfix") {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("venvfix hung (killed after {HANG:?}): {cmd:?}");
        }
    };
    let mut out = child.wait_with_output().expect("collect output");
    out.status = status;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "venvfix panicked: {cmd:?}\n{stderr}"
    );
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "venvfix exited with {:?}: {cmd:?}\n{stderr}",
        out.status
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A small real venv at `root()/repo/.venv` (stdlib venv, no pip) and a `sentinel/` tree
/// beside it that nothing may change.
fn cloned_repo(env: &TestEnv) -> PathBuf {
    let venv = env.path("repo/.venv");
    make_venv(&python3().exe, &venv, &[]);
    env.add_python(&python3());
    env.write("sentinel/bin/python3", "#!/bin/sh\necho sentinel\n");
    env.write("sentinel/pyvenv.cfg", "home = /nowhere\n");
    venv
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

/// Every command a user would point at a cloned repo: `check` of the venv and of the tree,
/// `repair --yes`, `freeze`. Returns the outputs in that order.
fn every_command(env: &TestEnv, venv: &Path) -> Vec<Output> {
    let repo = env.path("repo");
    let cmds: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["check".as_ref(), venv.as_os_str()],
        vec!["check".as_ref(), repo.as_os_str()],
        vec!["repair".as_ref(), "--yes".as_ref(), venv.as_os_str()],
        vec!["freeze".as_ref(), venv.as_os_str()],
    ];
    cmds.into_iter()
        .map(|args| {
            let mut cmd = env.venvfix_std();
            cmd.args(args);
            bounded(cmd)
        })
        .collect()
}

#[test]
fn special_files_named_like_metadata_never_hang_any_command() {
    // Finding 12: FIFOs, `/dev/zero`, a sparse giant, in every place metadata is read.
    type Make = fn(&Path);
    let cases: Vec<(&str, &str, Make)> = vec![
        ("fifo pyvenv.cfg", "pyvenv.cfg", |p| mkfifo(p)),
        ("pyvenv.cfg -> /dev/zero", "pyvenv.cfg", |p| {
            symlink("/dev/zero", p).unwrap()
        }),
        ("1 GB sparse pyvenv.cfg", "pyvenv.cfg", |p| {
            let file = fs::File::create(p).unwrap();
            file.set_len(1 << 30).unwrap();
        }),
        ("pyvenv.cfg -> /proc/self/environ", "pyvenv.cfg", |p| {
            symlink("/proc/self/environ", p).unwrap()
        }),
        ("fifo METADATA", "SITE/evil-1.0.dist-info/METADATA", |p| {
            mkfifo(p)
        }),
        ("fifo RECORD", "SITE/evil-1.0.dist-info/RECORD", |p| {
            mkfifo(p)
        }),
        ("fifo WHEEL", "SITE/evil-1.0.dist-info/WHEEL", |p| mkfifo(p)),
        (
            "fifo direct_url.json",
            "SITE/evil-1.0.dist-info/direct_url.json",
            |p| mkfifo(p),
        ),
        (
            "top_level.txt -> /dev/zero",
            "SITE/evil-1.0.dist-info/top_level.txt",
            |p| symlink("/dev/zero", p).unwrap(),
        ),
        ("fifo egg-link", "SITE/evil.egg-link", |p| mkfifo(p)),
        ("fifo PKG-INFO", "SITE/evil-1.0.egg-info", |p| mkfifo(p)),
        ("fifo .pth", "SITE/evil.pth", |p| mkfifo(p)),
        ("fifo console script", "bin/evil", |p| mkfifo(p)),
        ("bin/pip -> /dev/zero", "bin/pip", |p| {
            symlink("/dev/zero", p).unwrap()
        }),
    ];
    let mut covered = 0;
    for (name, rel, make) in cases {
        let env = TestEnv::new();
        let venv = cloned_repo(&env);
        let site = format!("lib/python{}/site-packages", python3().minor);
        let rel = rel.replace("SITE", &site);
        let path = venv.join(&rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        if rel.contains("dist-info/") && !rel.ends_with("METADATA") {
            fs::write(
                path.parent().unwrap().join("METADATA"),
                "Name: evil\nVersion: 1.0\n",
            )
            .unwrap();
        }
        let _ = fs::remove_file(&path);
        make(&path);
        let sentinel = snapshot(&env.path("sentinel"));
        let outs = every_command(&env, &venv);
        // The file is named in what venvfix says, when it reads it at all.
        if rel == "pyvenv.cfg" {
            let said = text(&outs[0].stdout) + &text(&outs[0].stderr);
            assert!(said.contains("pyvenv.cfg"), "{name}: {said}");
        }
        assert_same_tree(&sentinel, &snapshot(&env.path("sentinel")));
        covered += 1;
    }
    println!("hostile special-file cases covered: {covered}");
}

/// A venv made on a copy of the system Python whose base is then deleted (broken, relinkable
/// to a second copy that discovery finds), inside `root()/repo/.venv`.
fn broken_repo_venv(env: &TestEnv) -> PathBuf {
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let venv = env.path("repo/.venv");
    make_venv(&old.exe, &venv, &[]);
    fs::remove_dir_all(&old.prefix).unwrap();
    env.write("sentinel/keep", "keep");
    venv
}

/// A script that creates `marker` if anything ever runs it.
fn marker_script(path: &Path, marker: &Path) {
    fs::write(path, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn an_interpreter_reached_through_proc_is_never_run() {
    // Finding 9: `bin/python -> /proc/self/cwd/P` resolves per process; venvfix runs only
    // what discovery found, by device and inode.
    let env = TestEnv::new();
    let venv = broken_repo_venv(&env);
    let marker = env.path("MARKER");
    marker_script(&env.path("repo/P"), &marker);
    for name in ["python", "python3", &format!("python{}", python3().minor)] {
        let link = venv.join("bin").join(name);
        let _ = fs::remove_file(&link);
        symlink("/proc/self/cwd/P", &link).unwrap();
    }
    let sentinel = snapshot(&env.path("sentinel"));
    for args in [vec!["check"], vec!["repair", "--yes"], vec!["freeze"]] {
        let mut cmd = env.venvfix_std();
        cmd.current_dir(env.path("repo")).args(&args).arg(&venv);
        bounded(cmd);
        assert!(!marker.exists(), "`venvfix {args:?}` ran the repo's script");
    }
    assert_same_tree(&sentinel, &snapshot(&env.path("sentinel")));
}

#[test]
fn a_folded_metadata_header_never_becomes_a_requirement() {
    // Finding 10: `Version: 1.0` folded onto `-e /path/evil` must not be built.
    let env = TestEnv::new();
    let venv = broken_repo_venv(&env);
    let marker = env.path("MARKER");
    let evil = env.path("evil");
    fs::create_dir_all(&evil).unwrap();
    fs::write(
        evil.join("setup.py"),
        format!("open('{}', 'w').close()\n", marker.display()),
    )
    .unwrap();
    let site = venv.join(format!("lib/python{}/site-packages", python3().minor));
    let dist = site.join("evil-1.0.dist-info");
    fs::create_dir_all(&dist).unwrap();
    fs::write(
        dist.join("METADATA"),
        format!("Name: evil\nVersion: 1.0\n -e {}\n", evil.display()),
    )
    .unwrap();
    let forged = site.join("forged-1.0.dist-info");
    fs::create_dir_all(&forged).unwrap();
    fs::write(forged.join("METADATA"), "Name: forged\nVersion: 1.0\n").unwrap();
    fs::write(
        forged.join("direct_url.json"),
        format!(
            r#"{{"url": "file://{}\n-e {}", "dir_info": {{}}}}"#,
            evil.display(),
            evil.display()
        ),
    )
    .unwrap();
    let freeze = bounded({
        let mut cmd = env.venvfix_std();
        cmd.arg("freeze").arg(&venv);
        cmd
    });
    let out = text(&freeze.stdout);
    assert!(
        !out.contains("-e"),
        "a smuggled line reached freeze:\n{out}"
    );
    let said = text(&freeze.stderr);
    assert!(said.contains("METADATA"), "the file is not named:\n{said}");
    let sentinel = snapshot(&env.path("sentinel"));
    let mut cmd = env.venvfix_std();
    cmd.args(["repair", "--yes", "--strategy", "recreate", "--offline"])
        .arg("--python")
        .arg(&python3().exe)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg(&venv)
        .env("VENVFIX_UV", "none");
    bounded(cmd);
    assert!(!marker.exists(), "the smuggled editable was built");
    assert_same_tree(&sentinel, &snapshot(&env.path("sentinel")));
}

#[test]
fn a_linked_bin_dir_is_refused_not_written_through() {
    // Finding 11: `.venv/bin -> ../outside/bin`.
    let env = TestEnv::new();
    let venv = broken_repo_venv(&env);
    let outside = env.path("repo/outside");
    fs::create_dir_all(&outside).unwrap();
    fs::rename(venv.join("bin"), outside.join("bin")).unwrap();
    symlink("../outside/bin", venv.join("bin")).unwrap();
    let before = snapshot(&outside);
    let mut cmd = env.venvfix_std();
    cmd.args(["repair", "--yes"]).arg(&venv);
    let out = bounded(cmd);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("symlink"),
        "the refusal does not name the link:\n{}",
        text(&out.stderr)
    );
    assert_same_tree(&before, &snapshot(&outside));
}

#[test]
fn a_forged_journal_never_makes_recovery_write_elsewhere() {
    // Finding 14: a journal in V's state dir whose backup is another venv's.
    let env = TestEnv::new();
    let venv = broken_repo_venv(&env);
    let other = env.path("other/.venv");
    make_venv(&python3().exe, &other, &[]);
    let before_other = snapshot(&other);
    let before = snapshot(&venv);
    let state = venvfix::execute::VenvState::locate(&env.state_dir(), &venv).unwrap();
    let other_state = venvfix::execute::VenvState::locate(&env.state_dir(), &other).unwrap();
    other_state.create().unwrap();
    // A real backup of the other venv (its pyvenv.cfg), then the other venv changes.
    let backup = venvfix::execute::Backup::take(
        &other_state.venv,
        &[PathBuf::from("pyvenv.cfg")],
        &other_state.backups_dir(),
        "repair",
    )
    .unwrap();
    state.create().unwrap();
    for (journal_venv, journal_backup) in [
        (state.venv.clone(), backup.dir.clone()),
        (other_state.venv.clone(), backup.dir.clone()),
    ] {
        venvfix::execute::Journal::new(
            venvfix::execute::JournalState::Applying,
            &journal_venv,
            serde_json::Value::Null,
            &journal_backup,
        )
        .write(&state.journal_path())
        .unwrap();
        fs::write(other.join("pyvenv.cfg"), "home = /changed\n").unwrap();
        let changed = snapshot(&other);
        for args in [vec!["repair", "--yes"], vec!["undo"]] {
            let mut cmd = env.venvfix_std();
            cmd.args(&args).arg(&venv);
            let out = bounded(cmd);
            assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
            assert_same_tree(&changed, &snapshot(&other));
            assert_same_tree(&before, &snapshot(&venv));
        }
    }
    let _ = before_other;
}

#[test]
fn a_venv_locked_by_a_run_with_another_state_dir_is_left_alone() {
    // Finding 8: the lock is on the venv itself.
    let env = TestEnv::new();
    let venv = broken_repo_venv(&env);
    let before = snapshot(&venv);
    let mut holder = Command::new("flock")
        .arg("--no-fork")
        .arg(&venv)
        .args(["sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .expect("util-linux flock");
    std::thread::sleep(Duration::from_millis(300));
    let mut cmd = env.venvfix_std();
    cmd.args(["repair", "--yes"])
        .arg(&venv)
        .env("VENVFIX_STATE_DIR", env.path("another-state"));
    let out = bounded(cmd);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("lock"), "{}", text(&out.stderr));
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn a_read_only_venv_is_refused_without_a_journal() {
    // Finding 6: as an unprivileged user, a venv it cannot write is a refusal (exit 2) that
    // leaves no journal and reports no interrupted repair afterwards.
    let env = TestEnv::new();
    let venv = broken_repo_venv(&env);
    let before = snapshot(&venv);
    let open = |p: &Path, mode| {
        fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap()
    };
    open(env.root(), 0o755);
    let state = env.path("nobody-state");
    let cache = env.path("nobody-cache");
    for dir in [&state, &cache] {
        fs::create_dir(dir).unwrap();
        open(dir, 0o777);
    }
    let run = |args: &[&str]| {
        let std = env.venvfix_std();
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(std.get_program())
            .args(args)
            .arg(&venv)
            .current_dir("/")
            .env("VENVFIX_STATE_DIR", &state)
            .env("VENVFIX_CACHE_DIR", &cache)
            .env("HOME", "/nonexistent");
        for (k, v) in std.get_envs() {
            if let Some(v) = v
                && k != "VENVFIX_STATE_DIR"
                && k != "VENVFIX_CACHE_DIR"
            {
                cmd.env(k, v);
            }
        }
        bounded(cmd)
    };
    let out = run(&["repair", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("ALSO failed"),
        "{}",
        text(&out.stderr)
    );
    let check = run(&["check"]);
    assert!(
        !text(&check.stdout).contains("interrupted")
            && !text(&check.stderr).contains("interrupted"),
        "{}",
        text(&check.stdout)
    );
    assert_same_tree(&before, &snapshot(&venv));
    open(env.root(), 0o700);
}
