//! Backups a user can see, keep and prune, and `undo` as a history, on real venvs: three
//! repairs then three undos give the first state back exactly; a moved venv is undone; a batch
//! of ten is undone in one command; `prune` removes what it says and nothing else;
//! `backups --json` matches the disk; a failed repair leaves no backup; undoing a recreate
//! keeps one tree; a damaged backup is refused before anything changes; and the state dir of
//! the new-user scenario (ten recreates) stays below twice the venvs' own size.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::*;

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

/// A venv at `rel` made on a copy of [`python3`] at `sys/<base>` (with one module), whose base
/// was then deleted.
fn venv_on_removed_base(env: &TestEnv, rel: &str, base: &str) -> PathBuf {
    let py = python3();
    let old = env.copy_prefix(&py, &format!("sys/{base}"));
    let venv = env.path(rel);
    make_venv(&old.exe, &venv, &[]);
    let site = venv.join(format!("lib/python{}/site-packages", py.minor));
    fs::write(site.join("hello.py"), "GREETING = 'hi'\n").unwrap();
    fs::remove_dir_all(&old.prefix).unwrap();
    venv
}

/// A new installation at `sys/<name>` that venvfix discovers.
fn new_base(env: &TestEnv, name: &str) -> Python {
    let new = env.copy_prefix(&python3(), &format!("sys/{name}"));
    env.add_python(&new);
    new
}

fn repair_yes(env: &TestEnv, path: &Path) -> std::process::Output {
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    out
}

fn backups_json(env: &TestEnv, args: &[&Path]) -> Value {
    let out = env
        .venvfix()
        .args(["backups", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    json_of(&out)
}

/// Every backup directory on disk under the state dir.
fn backup_dirs(env: &TestEnv) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    let Ok(venvs) = fs::read_dir(env.state_dir().join("venvs")) else {
        return dirs;
    };
    for group in venvs.flatten() {
        if let Ok(backups) = fs::read_dir(group.path().join("backups")) {
            dirs.extend(backups.flatten().map(|b| b.path()));
        }
    }
    dirs
}

/// `backups --json` lists exactly the backup dirs on disk, each with its size on disk, and
/// the summary adds them up.
fn assert_backups_match_disk(env: &TestEnv) -> Value {
    let report = backups_json(env, &[]);
    assert_eq!(report["schema"], 1);
    let mut listed = BTreeSet::new();
    let mut total = 0;
    for venv in report["venvs"].as_array().unwrap() {
        for backup in venv["backups"].as_array().unwrap() {
            let path = PathBuf::from(backup["path"].as_str().unwrap());
            assert!(path.join("manifest.json").is_file(), "{backup}");
            let size = backup["size"].as_u64().unwrap();
            assert_eq!(size, du(&path), "{}", path.display());
            total += size;
            listed.insert(path);
        }
    }
    assert_eq!(listed, backup_dirs(env));
    assert_eq!(
        report["summary"]["backups"].as_u64().unwrap() as usize,
        listed.len()
    );
    assert_eq!(report["summary"]["size"].as_u64().unwrap(), total);
    report
}

/// Bytes on disk under `path` (`du -sB1`, which counts each inode once like venvfix).
fn du(path: &Path) -> u64 {
    let out = run_ok(std::process::Command::new("du").arg("-sB1").arg(path));
    out.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn three_repairs_then_three_undos_give_the_first_state_back_exactly() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    let mut states = vec![snapshot(&venv)];
    for name in ["new1", "new2", "new3"] {
        let base = new_base(&env, name);
        let out = repair_yes(&env, &venv);
        assert!(
            text(&out.stderr).contains("backup in `"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(fs::canonicalize(venv.join("bin/python")).unwrap(), base.exe);
        states.push(snapshot(&venv));
        // The next repair finds this base gone.
        fs::remove_dir_all(&base.prefix).unwrap();
    }
    let report = assert_backups_match_disk(&env);
    let steps = report["venvs"][0]["backups"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{report}");
    assert_eq!(steps[0]["undo"]["state"], "next");
    assert_eq!(steps[1]["undo"]["state"], "later");
    assert_eq!(steps[0]["strategy"], "relink");
    assert!(
        steps[0]["to"]["python"]
            .as_str()
            .unwrap()
            .contains("sys/new3")
    );

    let list = env
        .venvfix()
        .args(["undo", "--list"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(list.status.code(), Some(0));
    assert_eq!(
        text(&list.stdout).matches("relink").count(),
        3,
        "{}",
        text(&list.stdout)
    );

    states.pop();
    while let Some(expected) = states.pop() {
        let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_same_tree(&expected, &snapshot(&venv));
        assert_backups_match_disk(&env);
    }
    let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nothing to undo"));
}

#[test]
fn a_moved_venv_keeps_its_history_and_is_undone() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/v310", "old");
    let before = snapshot(&venv);
    new_base(&env, "new");
    repair_yes(&env, &venv);
    let moved = env.path("proj/v310-renamed");
    fs::rename(&venv, &moved).unwrap();

    // Listed as an orphan with the path it had, and found by identity from its new path.
    let all = backups_json(&env, &[]);
    assert_eq!(all["venvs"][0]["orphan"], true, "{all}");
    assert_eq!(all["venvs"][0]["was"][0], venv.to_str().unwrap());
    let mine = backups_json(&env, &[&moved]);
    assert_eq!(mine["venvs"][0]["path"], moved.to_str().unwrap(), "{mine}");
    assert_eq!(mine["venvs"][0]["backups"][0]["undo"]["state"], "next");

    let out = env.venvfix().arg("undo").arg(&moved).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_same_tree(&before, &snapshot(&moved));
    assert!(!venv.exists(), "nothing is written at the old path");
}

#[test]
fn undo_from_applies_an_orphans_backup_to_a_copied_venv() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    let before = snapshot(&venv);
    new_base(&env, "new");
    repair_yes(&env, &venv);
    // A copy (another inode, as across filesystems), and the original gone.
    let copy = env.path("elsewhere/venv");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&venv)
            .arg(&copy),
    );
    fs::remove_dir_all(&venv).unwrap();
    let all = backups_json(&env, &[]);
    assert_eq!(all["venvs"][0]["orphan"], true, "{all}");
    assert_eq!(all["venvs"][0]["backups"][0]["undo"]["state"], "orphan");
    let backup = all["venvs"][0]["backups"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();

    let out = env.venvfix().arg("undo").arg(&copy).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("undo --from"),
        "{}",
        text(&out.stderr)
    );
    let out = env
        .venvfix()
        .args(["undo", "--from", &backup])
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_same_tree(&before, &snapshot(&copy));
}

#[test]
fn a_batch_of_ten_is_undone_in_one_command() {
    let env = TestEnv::new();
    let projects = env.path("projects");
    let mut venvs = Vec::new();
    for n in 0..10 {
        venvs.push(venv_on_removed_base(
            &env,
            &format!("projects/p{n}/.venv"),
            &format!("old{n}"),
        ));
    }
    // One venv under DIR repaired by an earlier run is not part of the last batch.
    let earlier = venv_on_removed_base(&env, "projects/earlier/.venv", "old-earlier");
    new_base(&env, "new");
    repair_yes(&env, &earlier);
    let earlier_repaired = snapshot(&earlier);
    let before: Vec<_> = venvs.iter().map(|v| snapshot(v)).collect();
    let out = repair_yes(&env, &projects);
    assert!(
        text(&out.stderr).contains("the backups took"),
        "{}",
        text(&out.stderr)
    );

    // No terminal and no --yes: a refusal, nothing changed.
    let out = env.venvfix().arg("undo").arg(&projects).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = env
        .venvfix()
        .args(["undo", "--yes"])
        .arg(&projects)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("undid 10 of 10"),
        "{}",
        text(&out.stderr)
    );
    for (venv, before) in venvs.iter().zip(&before) {
        assert_same_tree(before, &snapshot(venv));
    }
    assert_same_tree(&earlier_repaired, &snapshot(&earlier));
    // The next `undo DIR` is the earlier run.
    let out = env
        .venvfix()
        .args(["undo", "--yes"])
        .arg(&projects)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("undid 1 of 1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_backup_of_a_newer_format_is_refused_not_half_restored() {
    // Format 2 added links outside the venv; a venvfix that ignored the format would restore
    // the venv and silently leave those. Any format this one does not know is refused.
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    new_base(&env, "new");
    repair_yes(&env, &venv);
    let before = snapshot(&venv);
    let backup = backup_dirs(&env).into_iter().next().unwrap();
    let manifest = backup.join("manifest.json");
    let mut json: Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    assert_eq!(json["format"], 1, "no link outside the venv here");
    json["format"] = 3.into();
    fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("format 3 and this venvfix knows up to 2"),
        "{stderr}"
    );
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn prune_removes_installer_logs_after_a_while_and_only_those() {
    // Every recreate keeps its installer's whole output in the state dir's `logs/`; nothing
    // removed them, so they piled up for good.
    let env = TestEnv::new();
    let logs = env.state_dir().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let old = logs.join("recreate-venv-1-1.log");
    let young = logs.join("recreate-venv-2-2.log");
    fs::write(&old, "Collecting numpy\n").unwrap();
    fs::write(&young, "Collecting numpy\n").unwrap();
    // Last written `days` days ago.
    let age = |path: &Path, days: u64| {
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(
                std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400),
            )
            .unwrap();
    };
    age(&old, 40);
    // Not a log of ours: a link is never followed nor removed as one.
    std::os::unix::fs::symlink(&old, logs.join("link.log")).unwrap();

    let dry = env.venvfix().args(["prune", "--dry-run"]).output().unwrap();
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let said = text(&dry.stdout);
    assert!(
        said.contains(&format!(
            "would remove `{}` (installer log older than 30 days)",
            old.display()
        )),
        "{said}"
    );
    assert!(!said.contains("recreate-venv-2-2"), "{said}");
    assert!(old.exists());

    let out = env.venvfix().arg("prune").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("and 1 installer log"),
        "{}",
        text(&out.stderr)
    );
    assert!(!old.exists());
    assert!(young.exists());
    assert!(fs::symlink_metadata(logs.join("link.log")).is_ok());

    // `--older-than` sets the age for logs too.
    age(&young, 2);
    let out = env
        .venvfix()
        .args(["prune", "--older-than", "1", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("recreate-venv-2-2"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn prune_removes_what_it_says_and_nothing_else() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    for name in ["new1", "new2", "new3"] {
        let base = new_base(&env, name);
        repair_yes(&env, &venv);
        fs::remove_dir_all(&base.prefix).unwrap();
    }
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
    let state_before = snapshot(&env.state_dir());
    let dirs_before = backup_dirs(&env);

    // Every repair was applied within the last day: only the undone one goes, with the backup
    // taken before that undo (`--keep` counts repairs).
    let dry = env
        .venvfix()
        .args(["prune", "--keep", "1", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    assert_same_tree(&state_before, &snapshot(&env.state_dir()));
    let said = |out: &std::process::Output, verb: &str| -> BTreeSet<PathBuf> {
        text(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix(verb))
            .filter_map(|l| l.strip_prefix('`'))
            .filter_map(|l| l.split('`').next())
            .map(PathBuf::from)
            .collect()
    };
    let would = said(&dry, "would remove ");
    assert_eq!(would.len(), 2, "{}", text(&dry.stdout));
    assert!(
        text(&dry.stderr).contains("the only way back"),
        "{}",
        text(&dry.stderr)
    );

    let out = env
        .venvfix()
        .args(["prune", "--keep", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("freed"), "{}", text(&out.stderr));
    let removed = said(&out, "removed ");
    assert_eq!(removed, would);
    let dirs_after = backup_dirs(&env);
    assert_eq!(
        dirs_before
            .difference(&dirs_after)
            .cloned()
            .collect::<BTreeSet<_>>(),
        removed
    );
    // Nothing else in the state dir changed.
    let after = snapshot(&env.state_dir());
    for (path, entry) in &state_before {
        let gone = removed
            .iter()
            .any(|r| env.state_dir().join(path).starts_with(r));
        if !gone {
            assert_eq!(after.get(path), Some(entry), "{}", path.display());
        }
    }

    // Asked to, the recent ones go too, down to one.
    let out = env
        .venvfix()
        .args(["prune", "--keep", "1", "--include-recent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = assert_backups_match_disk(&env);
    let kept = report["venvs"][0]["backups"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{report}");
    assert_eq!(kept[0]["undo"]["state"], "next");
    // The one kept still undoes.
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
}

#[test]
fn a_damaged_backup_is_reported_and_never_half_applied() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    new_base(&env, "new");
    repair_yes(&env, &venv);
    let repaired = snapshot(&venv);
    let report = backups_json(&env, &[]);
    let backup = PathBuf::from(report["venvs"][0]["backups"][0]["path"].as_str().unwrap());
    // The saved pyvenv.cfg is changed on disk (the links are fine).
    fs::write(
        backup.join("entries/pyvenv.cfg"),
        "home = /somewhere/else\n",
    )
    .unwrap();
    let report = backups_json(&env, &[]);
    assert_eq!(
        report["venvs"][0]["backups"][0]["undo"]["state"], "damaged",
        "{report}"
    );
    let out = env.venvfix().arg("undo").arg(&venv).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("damaged"),
        "{}",
        text(&out.stderr)
    );
    assert_same_tree(&repaired, &snapshot(&venv));
}

/// `venvfix repair --strategy recreate` offline (the venv has no distributions to install).
fn recreate(env: &TestEnv, path: &Path) -> std::process::Output {
    let py = python3();
    let out = env
        .venvfix()
        .args([
            "repair",
            "--yes",
            "--strategy",
            "recreate",
            "--offline",
            "--python",
        ])
        .arg(&py.exe)
        .arg(path)
        .env("VENVFIX_UV", tools().uv)
        .env("UV_CACHE_DIR", tools_dir().join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    out
}

#[test]
fn undoing_a_recreate_keeps_one_tree_unless_asked() {
    let env = TestEnv::new();
    env.add_python(&python3());
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    let before = snapshot(&venv);
    let out = recreate(&env, &venv);
    assert!(
        text(&out.stderr).contains("the original venv, moved aside"),
        "{}",
        text(&out.stderr)
    );
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
    assert_same_tree(&before, &snapshot(&venv));
    let trees: Vec<_> = backup_dirs(&env)
        .into_iter()
        .filter(|d| d.join("venv").exists())
        .collect();
    assert!(trees.is_empty(), "a second tree was kept: {trees:?}");

    recreate(&env, &venv);
    let recreated = snapshot(&venv);
    env.venvfix()
        .args(["undo", "--keep-recreated"])
        .arg(&venv)
        .assert()
        .code(0);
    assert_same_tree(&before, &snapshot(&venv));
    let kept: Vec<_> = backup_dirs(&env)
        .into_iter()
        .filter(|d| d.join("venv").exists())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_same_tree(&recreated, &snapshot(&kept[0].join("venv")));
    assert_backups_match_disk(&env);
}

/// The new-user trial: ten broken venvs recreated (and one of them undone). The state dir must
/// stay below twice what the repairs changed (for a recreate: the whole original venv).
#[test]
fn ten_recreates_leave_a_state_dir_below_twice_the_venvs() {
    let env = TestEnv::new();
    env.add_python(&python3());
    let mut venvs = Vec::new();
    for n in 0..10 {
        venvs.push(venv_on_removed_base(
            &env,
            &format!("projects/p{n}/venv"),
            &format!("old{n}"),
        ));
    }
    let originals: u64 = venvs.iter().map(|v| du(v)).sum();
    recreate(&env, &env.path("projects"));
    env.venvfix().arg("undo").arg(&venvs[0]).assert().code(0);
    let state = du(&env.state_dir());
    eprintln!(
        "ten recreates, one undone: venvs {originals} bytes, state dir {state} bytes ({:.2}x)",
        state as f64 / originals as f64
    );
    assert!(
        state < 2 * originals,
        "state dir {state} >= 2 x {originals}"
    );
    assert_backups_match_disk(&env);
}

#[test]
fn an_undo_is_itself_undone_with_from() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    let before = snapshot(&venv);
    new_base(&env, "new");
    repair_yes(&env, &venv);
    let repaired = snapshot(&venv);
    env.venvfix().arg("undo").arg(&venv).assert().code(0);
    assert_same_tree(&before, &snapshot(&venv));
    let report = backups_json(&env, &[&venv]);
    let steps = report["venvs"][0]["backups"].as_array().unwrap();
    assert_eq!(steps[0]["kind"], "undo", "{report}");
    assert_eq!(steps[0]["undo"]["state"], "redo");
    assert_eq!(steps[1]["undo"]["state"], "undone");
    let redo = steps[0]["path"].as_str().unwrap().to_string();
    let out = env
        .venvfix()
        .args(["undo", "--from", &redo])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_same_tree(&repaired, &snapshot(&venv));
    // A backup that is not one is refused, naming it.
    let out = env
        .venvfix()
        .args(["undo", "--from"])
        .arg(env.path("proj"))
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not a backup"),
        "{}",
        text(&out.stderr)
    );
    assert_same_tree(&repaired, &snapshot(&venv));
}

#[test]
fn a_failed_recreate_leaves_no_backup() {
    let env = TestEnv::new();
    env.add_python(&python3());
    let venv = venv_on_removed_base(&env, "proj/venv", "old");
    // A pin no wheelhouse has: the install fails and the venv is rolled back.
    let dist = venv.join(format!(
        "lib/python{}/site-packages/nosuchdist-1.0.dist-info",
        python3().minor
    ));
    fs::create_dir(&dist).unwrap();
    fs::write(dist.join("METADATA"), "Name: nosuchdist\nVersion: 1.0\n").unwrap();
    fs::write(dist.join("INSTALLER"), "pip\n").unwrap();
    let before = snapshot(&venv);
    let out = env
        .venvfix()
        .args([
            "repair",
            "--yes",
            "--strategy",
            "recreate",
            "--offline",
            "--python",
        ])
        .arg(&python3().exe)
        .arg("--find-links")
        .arg(wheelhouse())
        .arg(&venv)
        .env("VENVFIX_UV", tools().uv)
        .env("UV_CACHE_DIR", tools_dir().join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("rolled back"),
        "{}",
        text(&out.stderr)
    );
    assert_same_tree(&before, &snapshot(&venv));
    assert!(backup_dirs(&env).is_empty(), "{:?}", backup_dirs(&env));
    let report = assert_backups_match_disk(&env);
    assert_eq!(report["summary"]["backups"], 0);
}

#[test]
fn undo_json_reports_each_venv_with_schema_and_summary() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "v", "old");
    new_base(&env, "new");
    repair_yes(&env, &venv);
    let before_undo = snapshot(&venv);

    let out = env
        .venvfix()
        .args(["undo", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["schema"], 1);
    let entry = &doc["venvs"][0];
    assert_eq!(entry["path"], venv.to_str().unwrap());
    assert_eq!(entry["outcome"], "undone");
    assert_eq!(entry["step"]["strategy"], "relink");
    assert!(
        entry["backup"]
            .as_str()
            .is_some_and(|b| Path::new(b).is_dir())
    );
    assert!(!entry["restored"].as_array().unwrap().is_empty());
    assert_eq!(doc["summary"]["undone"], 1);
    assert_ne!(
        snapshot(&venv),
        before_undo,
        "the undo changed the venv back"
    );

    // Nothing left: the entry says so with a stable code, and stdout is still one document.
    let out = env
        .venvfix()
        .args(["undo", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["venvs"][0]["outcome"], "nothing-to-undo");
    assert_eq!(doc["venvs"][0]["error"]["code"], "nothing-to-undo");
    assert_eq!(doc["summary"]["nothing"], 1);
}

/// The state dir inside a scanned tree (the default `~/.local/state/venvfix` under `check ~`):
/// its backups are copies of venvs, never reported or repaired as the user's venvs.
#[test]
fn backups_in_a_scanned_tree_are_not_venvs() {
    let env = TestEnv::new();
    let venv = venv_on_removed_base(&env, "projects/v", "old");
    new_base(&env, "new");
    repair_yes(&env, &venv);
    let out = recreate(&env, &venv);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(env.state_dir().starts_with(env.root()));

    let out = env
        .venvfix()
        .args(["check", "--json"])
        .arg(env.root())
        .output()
        .unwrap();
    let report = json_of(&out);
    let found: Vec<&str> = report["venvs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert_eq!(found, [venv.to_str().unwrap()], "{}", text(&out.stderr));
}
