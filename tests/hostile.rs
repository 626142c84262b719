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
