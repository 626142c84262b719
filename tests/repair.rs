//! `venvfix repair` and `venvfix undo` end to end, on real venvs broken the way users break
//! them: plans shown and applied, packages importing afterwards (compiled ones included), pip
//! working, dry runs and undos compared byte for byte, a killed run recovered, the lock, and the
//! interactive flow on a real pseudo-terminal.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// A venv made on a copy of [`python3`] at `sys/old`, with packages (one compiled), whose base
/// was then deleted; `sys/new` is another installation of the same version, discoverable.
struct Broken {
    env: TestEnv,
    venv: PathBuf,
    new: Python,
    old: Python,
}

fn base_removed(with_pip: bool) -> Broken {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    if with_pip {
        run_ok(python_command(&venv.join("bin/python")).args(["-m", "ensurepip"]));
    }
    install(
        &venv,
        &[
            "tinyjson",
            "venvfix-demo",
            &format!("markupsafe=={}", markupsafe_version(&py.minor)),
        ],
    );
    fs::remove_dir_all(&old.prefix).unwrap();
    Broken {
        env,
        venv,
        new,
        old,
    }
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The venv's packages import, the compiled one included, through the venv's own interpreter.
fn assert_packages_import(venv: &Path) {
    let out = python_command(&venv.join("bin/python"))
        .args([
            "-c",
            "import sys, tinyjson, markupsafe, markupsafe._speedups; print(sys.prefix)",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imports fail after the repair: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), venv.to_str().unwrap());
}

#[test]
fn base_removed_is_relinked_packages_and_pip_work_and_undo_restores_it() {
    let Broken {
        env,
        venv,
        new,
        old,
    } = base_removed(true);
    let broken = snapshot(&venv);

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let link = format!("bin/python{}", new.minor);
    assert!(
        stdout.contains(&format!(
            "{link}: {} -> {}",
            old.exe.display(),
            new.exe.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "pyvenv.cfg home: {} -> {}",
            old.bin_dir().display(),
            new.bin_dir().display()
        )),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("repaired"),
        "{}",
        text(&out.stderr)
    );

    assert_packages_import(&venv);
    let pip = Command::new(venv.join("bin/pip3"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(pip.status.success(), "pip fails: {}", text(&pip.stderr));
    let demo = Command::new(venv.join("bin/venvfix-demo"))
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "console script fails: {}",
        text(&demo.stderr)
    );
    env.venvfix().arg("check").arg(&venv).assert().code(0);

    // Repairing again changes nothing.
    let repaired = snapshot(&venv);
    env.venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .assert()
        .code(0);
    assert_same_tree(&repaired, &snapshot(&venv));

    // Undo puts the broken venv back exactly.
    let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("restored {link}")),
        "{}",
        text(&out.stdout)
    );
    assert_same_tree(&broken, &snapshot(&venv));
    let again = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("nothing to undo"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn dry_run_shows_the_plan_and_changes_nothing() {
    let Broken { env, venv, new, .. } = base_removed(false);
    let before = snapshot(&venv);
    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "the plan fixes everything");
    assert!(
        text(&out.stdout).contains("plan: relink"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("dry run: nothing was changed"));
    assert_same_tree(&before, &snapshot(&venv));

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report = json_of(&out);
    let entry = &report["venvs"][0];
    assert_eq!(entry["strategy"], "relink");
    assert_eq!(entry["outcome"], "planned");
    assert_eq!(entry["target"]["path"], new.exe.to_str().unwrap());
    assert_eq!(entry["target"]["version"], new.version.as_str());
    let ops: Vec<&str> = entry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert!(
        ops.contains(&"symlink") && ops.contains(&"config"),
        "{ops:?}"
    );
    let home = entry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "home")
        .expect("a home action");
    assert_eq!(home["to"], new.bin_dir().to_str().unwrap());
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn no_terminal_and_no_yes_prints_the_plan_and_refuses() {
    let Broken { env, venv, .. } = base_removed(false);
    let before = snapshot(&venv);
    let out = env.venvfix().arg("repair").arg(&venv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("plan: relink"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn a_healthy_venv_is_left_unchanged() {
    let env = TestEnv::new();
    let py = python3();
    env.add_python(&py);
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    let before = snapshot(&venv);
    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    assert_eq!(report["venvs"][0]["strategy"], "none");
    assert_eq!(report["venvs"][0]["outcome"], "unchanged");
    assert_same_tree(&before, &snapshot(&venv));
}

/// The half-done manual fix: the link swapped to another build, `home` left behind.
#[test]
fn a_mixed_build_is_relinked_to_one_installation() {
    let env = TestEnv::new();
    let py = python3();
    let a = env.copy_prefix(&py, "sys/a");
    let b = env.copy_prefix(&py, "sys/b");
    env.add_python(&a).add_python(&b);
    let venv = env.path("venv");
    make_venv(&a.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    let link = venv.join(format!("bin/python{}", py.minor));
    fs::remove_file(&link).unwrap();
    symlink(&b.exe, &link).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    assert_eq!(report["venvs"][0]["outcome"], "repaired");
    assert_eq!(report["venvs"][0]["problems"][0], "home-mismatch");
    let target = PathBuf::from(report["venvs"][0]["target"]["path"].as_str().unwrap());
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    let home = cfg.lines().find_map(|l| l.strip_prefix("home = ")).unwrap();
    assert_eq!(Path::new(home), target.parent().unwrap(), "{cfg}");
    assert_eq!(fs::canonicalize(&link).unwrap(), target);
    let check = env
        .venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(json_of(&check)["venvs"][0]["status"], "ok");
}

/// virtualenv and uv write their own keys; a relink rewrites only those that name the base.
#[test]
fn virtualenv_and_uv_venvs_keep_their_own_config_keys() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let ve = env.path("ve");
    let uv = env.path("uv");
    make_virtualenv(&old.exe, &ve, &["--no-seed", "--prompt", "my proj"]);
    make_uv_venv(&old.exe, &uv, &["--prompt", "uvproj"]);
    install(&ve, &["tinyjson"]);
    install(&uv, &["tinyjson"]);
    let before_ve = fs::read_to_string(ve.join("pyvenv.cfg")).unwrap();
    let before_uv = fs::read_to_string(uv.join("pyvenv.cfg")).unwrap();
    fs::remove_dir_all(&old.prefix).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&ve)
        .arg(&uv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for (venv, before) in [(&ve, &before_ve), (&uv, &before_uv)] {
        let after = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
        let keys = |t: &str| -> Vec<String> {
            t.lines()
                .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
                .collect()
        };
        assert_eq!(keys(before), keys(&after), "key order kept");
        // Every changed line names the base; the others are byte-identical.
        for (old_line, new_line) in before.lines().zip(after.lines()) {
            if old_line != new_line {
                assert!(
                    old_line.contains(old.prefix.to_str().unwrap()),
                    "{old_line} -> {new_line}"
                );
                assert!(
                    new_line.contains(new.prefix.to_str().unwrap()),
                    "{new_line}"
                );
            }
        }
        let run = python_command(&venv.join("bin/python"))
            .args(["-c", "import tinyjson"])
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    assert!(before_ve.contains("prompt = \"my proj\""), "{before_ve}");
    assert!(
        fs::read_to_string(ve.join("pyvenv.cfg"))
            .unwrap()
            .contains("prompt = \"my proj\"")
    );
    assert!(
        fs::read_to_string(uv.join("pyvenv.cfg"))
            .unwrap()
            .contains("uv = ")
    );
}

/// Story 1 for real: the venv was made through `usrbin/python3` -> 3.8; an upgrade repointed it
/// to 3.9 and removed the old 3.8; the user has another 3.8 at `~/python-3.8.18`.
#[test]
#[cfg_attr(
    not(all(pyenv_3_8, pyenv_3_9)),
    ignore = "needs pyenv 3.8 and 3.9 (~/.pyenv/versions/3.8.*, 3.9.*)"
)]
fn python3_repointed_to_a_new_minor_is_relinked_to_another_3_8() {
    let env = TestEnv::new();
    let py38 = pyenv_python("3.8").expect("pyenv 3.8");
    let py39 = pyenv_python("3.9").expect("pyenv 3.9");
    add_markupsafe_wheel("3.8");
    let system38 = env.copy_prefix(&py38, "usr-old");
    let mine38 = env.copy_prefix(&py38, "home/python-3.8.18");
    env.add_python(&mine38).add_python(&py39);
    let usrbin = env.path("usrbin");
    fs::create_dir(&usrbin).unwrap();
    symlink(&system38.exe, usrbin.join("python3")).unwrap();
    let venv = env.path("venv");
    make_venv(&usrbin.join("python3"), &venv, &[]);
    install(
        &venv,
        &[
            "tinyjson",
            &format!("markupsafe=={}", markupsafe_version("3.8")),
        ],
    );
    fs::remove_file(usrbin.join("python3")).unwrap();
    symlink(&py39.exe, usrbin.join("python3")).unwrap();
    fs::remove_dir_all(&system38.prefix).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    assert_eq!(report["venvs"][0]["problems"][0], "minor-mismatch");
    assert_eq!(
        report["venvs"][0]["target"]["path"],
        mine38.exe.to_str().unwrap()
    );
    assert_packages_import(&venv);
}

#[test]
fn a_killed_repair_is_reported_by_check_and_rolled_back_by_the_next_run() {
    let Broken { env, venv, new, .. } = base_removed(false);
    let before = snapshot(&venv);
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .env("VENVFIX_FAILPOINT", "after-action:1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the failpoint must kill the run");
    assert_ne!(snapshot(&venv), before, "the first action was applied");

    let check = env
        .venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert_eq!(
        json_of(&check)["venvs"][0]["problems"][0]["kind"],
        "interrupted-repair"
    );

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("rolled back a repair interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs::canonicalize(venv.join("bin/python")).unwrap(),
        new.exe,
        "repaired after the rollback"
    );
    // The backup of the completed repair is the state before the killed run.
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn a_second_venvfix_is_told_who_holds_the_lock() {
    let Broken { env, venv, .. } = base_removed(false);
    let state = venvfix::execute::VenvState::locate(&env.state_dir(), &venv).unwrap();
    state.create().unwrap();
    // `--no-fork`: the holder is `sleep` itself, so killing it releases the lock.
    let mut holder = Command::new("flock")
        .arg("--no-fork")
        .arg(state.lock_path())
        .args(["sleep", "30"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("util-linux flock");
    // Wait until the holder has the lock.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::metadata(state.lock_path()).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = snapshot(&venv);
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    holder.kill().ok();
    holder.wait().ok();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("lock"), "{}", text(&out.stderr));
    assert_same_tree(&before, &snapshot(&venv));
}

/// A real pseudo-terminal: the user reads the plan and presses Enter.
#[test]
fn interactive_repair_on_a_terminal_applies_the_plan_after_enter() {
    let Broken { env, venv, new, .. } = base_removed(false);
    let (output, status) = run_on_pty(&env, &["repair"], &venv, &[("Repair", "\r")]);
    assert_eq!(status, Some(0), "{output}");
    assert!(output.contains("plan: relink"), "{output}");
    assert!(output.contains("Apply the plan above"), "{output}");
    assert_eq!(fs::canonicalize(venv.join("bin/python")).unwrap(), new.exe);
}

#[test]
fn interactive_cancel_changes_nothing() {
    let Broken { env, venv, .. } = base_removed(false);
    let before = snapshot(&venv);
    // Down to "Cancel" (the last choice), then Enter.
    let (output, status) = run_on_pty(
        &env,
        &["repair"],
        &venv,
        &[("Repair", "\x1b[B\x1b[B\x1b[B\r")],
    );
    assert_eq!(status, Some(1), "{output}");
    assert!(
        output.contains("cancelled: nothing was changed"),
        "{output}"
    );
    assert_same_tree(&before, &snapshot(&venv));
}

/// Run venvfix on a new pseudo-terminal; when the output shows each `(wait_for, keys)` prompt,
/// type the keys. Returns everything the terminal showed and the exit code.
fn run_on_pty(
    env: &TestEnv,
    args: &[&str],
    venv: &Path,
    script: &[(&str, &str)],
) -> (String, Option<i32>) {
    run_on_pty_with(env, args, venv, script, &[])
}

fn run_on_pty_with(
    env: &TestEnv,
    args: &[&str],
    venv: &Path,
    script: &[(&str, &str)],
    vars: &[(&str, &str)],
) -> (String, Option<i32>) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = std::fs::File::from(pty.slave);
    let mut cmd = env.venvfix_std();
    cmd.envs(vars.iter().copied());
    // The pty becomes the child's controlling terminal, so Ctrl-C there is SIGINT to venvfix
    // and to the installers it runs, as in a real terminal.
    // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.args(args)
        .arg(venv)
        .env("TERM", "xterm")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().expect("spawn venvfix on a pty");
    let mut master = std::fs::File::from(pty.master);
    let flags = nix::fcntl::fcntl(&master, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut step = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let mut buf = [0u8; 4096];
        match master.read(&mut buf) {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
        if step < script.len() && text(&seen).contains(script[step].0) {
            std::thread::sleep(Duration::from_millis(150));
            master.write_all(script[step].1.as_bytes()).unwrap();
            step += 1;
        }
        if let Some(status) = child.try_wait().unwrap() {
            // Drain what is left.
            std::thread::sleep(Duration::from_millis(50));
            let mut buf = [0u8; 65536];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            break status.code();
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!(
                "venvfix on a pty did not finish; it showed:\n{}",
                text(&seen)
            );
        }
    };
    (text(&seen), status)
}

#[test]
fn ctrl_c_at_the_prompt_restores_the_cursor_and_changes_nothing() {
    let Broken { env, venv, .. } = base_removed(false);
    let before = snapshot(&venv);
    let (output, status) = run_on_pty(&env, &["repair"], &venv, &[("Repair", "\x03")]);
    assert_eq!(status, Some(130), "{output}");
    assert!(
        output.contains("\x1b[?25h"),
        "the cursor is shown again: {output:?}"
    );
    assert!(
        output.contains("cancelled: nothing was changed"),
        "{output}"
    );
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn python_named_by_path_outside_discovery_is_used_and_a_bad_one_is_a_usage_error() {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let mine = env.copy_prefix(&py, "home/python-mine");
    let venv = env.path("venv");
    make_venv(&old.exe, &venv, &[]);
    fs::remove_dir_all(&old.prefix).unwrap();
    // Discovery finds nothing (empty search path); the user names the Python.
    let out = env
        .venvfix()
        .args(["repair", "--yes", "--python"])
        .arg(&mine.exe)
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fs::canonicalize(venv.join("bin/python")).unwrap(), mine.exe);

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--python", "no-such-python"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no-such-python"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_dry_run_shows_an_interrupted_repair_instead_of_planning() {
    let Broken { env, venv, .. } = base_removed(false);
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .env("VENVFIX_FAILPOINT", "after-action:1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = json_of(&out);
    assert_eq!(report["venvs"][0]["strategy"], "none");
    assert_eq!(report["venvs"][0]["problems"][0], "interrupted-repair");
}

/// A venv made through `python3` whose `home` went stale: its link still leads to the right
/// file, so only the config changes.
#[test]
fn a_link_that_already_leads_to_the_target_is_kept() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    env.add_python(&base);
    let venv = env.path("venv");
    make_venv(&base.prefix.join("bin/python3"), &venv, &[]);
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            &format!("home = {}", base.bin_dir().display()),
            "home = /gone/bin",
        ),
    )
    .unwrap();
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    assert_eq!(
        report["venvs"][0]["strategy"], "update-config",
        "{report:#}"
    );
    let ops: Vec<&str> = report["venvs"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert!(ops.iter().all(|op| *op == "config"), "{ops:?}");
}

/// Story 2: a `--copies` venv whose base was upgraded in place to another patch: the copied
/// binary is another build than the standard library it loads. The copies are replaced with
/// the installed build's binary and the recorded version follows.
#[test]
fn copied_binaries_of_another_patch_are_recopied_from_the_installed_build() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "sys/py");
    env.add_python(&base);
    let venv = env.path("venv");
    make_venv(&base.exe, &venv, &["--copies"]);
    install(&venv, &["tinyjson"]);
    let (minor, patch) = py.version.rsplit_once('.').unwrap();
    let older = format!(
        "{minor}.{}",
        patch.parse::<u32>().unwrap().saturating_sub(1)
    );
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    fs::write(
        venv.join("pyvenv.cfg"),
        cfg.replace(
            &format!("version = {}", py.version),
            &format!("version = {older}"),
        ),
    )
    .unwrap();
    let before = snapshot(&venv);
    let check = env
        .venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&check);
    assert_eq!(report["venvs"][0]["problems"][0]["kind"], "patch-mismatch");
    assert_eq!(report["venvs"][0]["problems"][0]["severity"], "error");

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json_of(&out);
    let ops: Vec<&str> = report["venvs"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"copy-file"), "{ops:?}");
    assert!(
        !fs::symlink_metadata(venv.join("bin/python"))
            .unwrap()
            .is_symlink(),
        "copies stay copies"
    );
    assert!(
        fs::read_to_string(venv.join("pyvenv.cfg"))
            .unwrap()
            .contains(&format!("version = {}", py.version))
    );
    let run = python_command(&venv.join("bin/python"))
        .args(["-c", "import tinyjson, json, _struct"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    env.venvfix().arg("check").arg(&venv).assert().code(0);
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
    assert_same_tree(&before, &snapshot(&venv));
}

/// Ctrl-C while a recreate installs: the installer stops, the venv is rolled back exactly, and
/// the run says so (issue 5: Ctrl-C ends where the user started).
#[test]
fn ctrl_c_while_applying_says_how_to_roll_back() {
    let Broken { env, venv, new, .. } = base_removed(false);
    let before = snapshot(&venv);
    let python = new.exe.to_str().unwrap().to_string();
    let house = wheelhouse();
    let (output, status) = run_on_pty_with(
        &env,
        &[
            "repair",
            "--yes",
            "--strategy",
            "recreate",
            "--offline",
            "--find-links",
            house.to_str().unwrap(),
            "--python",
            &python,
        ],
        &venv,
        &[("installing", "\x03")],
        // pip (not uv) makes the install slow enough to interrupt reliably.
        &[("VENVFIX_UV", "none")],
    );
    assert_eq!(status, Some(1), "{output}");
    assert!(
        output.contains("stopping: the venv being repaired is rolled back"),
        "{output}"
    );
    assert!(output.contains("stopped at the user's request"), "{output}");
    assert!(
        output.contains("cancelled: the venv being repaired was rolled back"),
        "{output}"
    );
    assert_same_tree(&before, &snapshot(&venv));
    env.venvfix().arg("check").arg(&venv).assert().code(1);
}
