//! The upgrade hooks in `examples/hooks/`, each run the way its package manager runs it (the
//! command read out of the hook file itself) against a fake home with one healthy venv and one
//! whose base Python was uninstalled: they warn about the broken one only, relink it when the
//! user opted in, print nothing when nothing broke, keep the package manager's exit status, and
//! never block it (a hung venvfix is stopped; a missing one is a message, exit 0).

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;
use wait_timeout::ChildExt;

fn hooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hooks")
}

/// Where the hook files expect the shared script, replaced by the repository's copy.
fn installed(command: &str, home: &Path) -> String {
    let script = hooks_dir().join("venvfix-hook.sh");
    let script = script.to_str().unwrap();
    command
        .replace("/usr/local/lib/venvfix/venvfix-hook.sh", script)
        .replace("%h/.local/lib/venvfix/venvfix-hook.sh", script)
        .replace("%h", home.to_str().unwrap())
}

/// The command each package manager runs, read from its hook file.
fn hook_commands(home: &Path) -> Vec<(&'static str, String)> {
    let read = |rel: &str| fs::read_to_string(hooks_dir().join(rel)).unwrap();
    let apt = read("apt/99venvfix");
    let apt = apt
        .lines()
        .find(|l| l.starts_with("DPkg::Post-Invoke"))
        .expect("a DPkg::Post-Invoke line");
    let apt = &apt[apt.find('"').unwrap() + 1..apt.rfind('"').unwrap()];
    let pacman = read("pacman/venvfix.hook");
    let pacman = pacman
        .lines()
        .find_map(|l| l.strip_prefix("Exec = "))
        .expect("an Exec line");
    let dnf = read("dnf/venvfix.action");
    let dnf = dnf
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .expect("an action line");
    let dnf = dnf.splitn(3, ':').nth(2).unwrap();
    let timer = read("systemd/venvfix-check.service");
    let timer = timer
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    vec![
        ("apt", installed(apt, home)),
        ("pacman", installed(pacman, home)),
        ("dnf", installed(dnf, home)),
        ("systemd", installed(timer, home)),
    ]
}

/// A fake home: `ok/.venv` healthy, and with `broken`, `proj/.venv` whose base is gone.
struct Home {
    env: TestEnv,
    home: PathBuf,
    healthy: PathBuf,
    broken: PathBuf,
    python: Python,
}

fn home(broken: bool) -> Home {
    let env = TestEnv::new();
    let python = python3();
    let home = env.path("home");
    let healthy = home.join("ok/.venv");
    make_venv(&python.exe, &healthy, &[]);
    let venv = home.join("proj/.venv");
    if broken {
        let base = env.copy_prefix(&python, "old-python");
        fs::create_dir_all(venv.parent().unwrap()).unwrap();
        make_venv(&base.exe, &venv, &[]);
        fs::remove_dir_all(&base.prefix).unwrap();
    }
    Home {
        env,
        home,
        healthy,
        broken: venv,
        python,
    }
}

impl Home {
    /// `sh -c COMMAND` (bash for the brew snippet) as the hook's caller, with venvfix and the
    /// home set up, bounded by a generous timeout (a hook that hangs fails the test).
    fn run(&self, shell: &str, command: &str, vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(shell);
        cmd.arg("-c").arg(command);
        let std = self.env.venvfix_std();
        for (key, value) in std.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.env("HOME", &self.home)
            .env("VENVFIX", env!("CARGO_BIN_EXE_venvfix"))
            .env("VENVFIX_HOOK_CONF", self.env.path("no-hook.env"))
            .env("VENVFIX_HOOK_PATHS", &self.home)
            .env("VENVFIX_PYTHON_SEARCH_PATH", self.python.bin_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in vars {
            cmd.env(key, value);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("run the hook");
        let status = child
            .wait_timeout(Duration::from_secs(60))
            .unwrap()
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("the hook `{command}` hung")
            });
        let mut out = child.wait_with_output().unwrap();
        out.status = status;
        eprintln!("{command}: {:.0?}", started.elapsed());
        out
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn each_hook_warns_about_the_broken_venv_only() {
    let h = home(true);
    for (who, command) in hook_commands(&h.home) {
        let out = h.run("sh", &command, &[]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{who}: {err}");
        assert!(err.contains("1 venv is broken"), "{who}: {err}");
        assert!(err.contains(h.broken.to_str().unwrap()), "{who}: {err}");
        assert!(!err.contains(h.healthy.to_str().unwrap()), "{who}: {err}");
        assert!(err.contains("VENVFIX_HOOK_REPAIR=relink"), "{who}: {err}");
    }
}

#[test]
fn hooks_print_nothing_when_nothing_broke() {
    let h = home(false);
    for (who, command) in hook_commands(&h.home) {
        let out = h.run("sh", &command, &[]);
        assert!(out.status.success(), "{who}");
        assert_eq!(text(&out.stderr), "", "{who}");
        assert_eq!(text(&out.stdout), "", "{who}");
    }
}

#[test]
fn the_brew_snippet_runs_after_brew_and_keeps_its_exit_status() {
    let h = home(true);
    // A stand-in `brew` that fails the way a real one can: its status must come through.
    let bin = h.env.path("fake-bin");
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("brew"), "#!/bin/sh\necho \"brew $*\"\nexit 3\n").unwrap();
    fs::set_permissions(bin.join("brew"), fs::Permissions::from_mode(0o755)).unwrap();
    let snippet = hooks_dir().join("brew/venvfix.sh");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let hook = hooks_dir().join("venvfix-hook.sh");
    let out = h.run(
        "bash",
        &format!(
            ". '{}'; brew upgrade python@3.12; echo \"status=$?\"; brew list; echo \"status=$?\"",
            snippet.display()
        ),
        &[("PATH", &path), ("VENVFIX_HOOK", hook.to_str().unwrap())],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stdout.contains("brew upgrade python@3.12\nstatus=3"),
        "{stdout}"
    );
    assert!(stdout.contains("brew list\nstatus=3"), "{stdout}");
    // Checked once: after `upgrade`, not after `list`.
    assert_eq!(stderr.matches("1 venv is broken").count(), 1, "{stderr}");
}

#[test]
fn with_the_opt_in_the_hook_relinks_and_says_how_to_undo() {
    let h = home(true);
    let (_, command) = hook_commands(&h.home).remove(0);
    let out = h.run("sh", &command, &[("VENVFIX_HOOK_REPAIR", "relink")]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("relinked {}", h.broken.display())),
        "{err}"
    );
    assert!(err.contains("venvfix undo"), "{err}");
    let check = h
        .env
        .venvfix()
        .arg("check")
        .arg(&h.broken)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn a_hung_or_missing_venvfix_never_blocks_the_package_manager() {
    let h = home(false);
    let (_, command) = hook_commands(&h.home).remove(0);
    let hung = h.env.path("hung-venvfix");
    fs::write(&hung, "#!/bin/sh\nexec sleep 300\n").unwrap();
    fs::set_permissions(&hung, fs::Permissions::from_mode(0o755)).unwrap();
    let out = h.run(
        "sh",
        &command,
        &[
            ("VENVFIX", hung.to_str().unwrap()),
            ("VENVFIX_HOOK_TIMEOUT", "1"),
        ],
    );
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("took longer than 1s"),
        "{}",
        text(&out.stderr)
    );

    let out = h.run("sh", &command, &[("VENVFIX", "/nonexistent/venvfix")]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("venvfix not found"),
        "{}",
        text(&out.stderr)
    );
}
