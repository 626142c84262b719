//! Relinks that stay right (issue 13): verification that imports what a user's code imports
//! and never rejects a working venv, patch upgrades in place kept, stable paths written, and
//! each installer's next routine upgrade survived.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The venv's `lib/pythonX.Y/site-packages`.
fn site_packages(venv: &Path, minor: &str) -> PathBuf {
    venv.join(format!("lib/python{minor}/site-packages"))
}

/// Put a distribution straight into site-packages, the way an installer leaves it:
/// `files` relative to site-packages, listed in `RECORD`, `top_level` in `top_level.txt`.
fn add_dist(site: &Path, name: &str, top_level: &[&str], files: &[(&str, &[u8])]) {
    let info = site.join(format!("{name}-1.0.dist-info"));
    fs::create_dir_all(&info).unwrap();
    let mut record = String::new();
    for (rel, bytes) in files {
        let path = site.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        record.push_str(&format!("{rel},,\n"));
    }
    fs::write(
        info.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
    )
    .unwrap();
    fs::write(info.join("INSTALLER"), "pip\n").unwrap();
    fs::write(info.join("top_level.txt"), top_level.join("\n") + "\n").unwrap();
    record.push_str(&format!("{name}-1.0.dist-info/RECORD,,\n"));
    fs::write(info.join("RECORD"), record).unwrap();
}

/// `importlib.machinery.EXTENSION_SUFFIXES[0]` of `python`: `.cpython-311-x86_64-linux-gnu.so`.
fn extension_suffix(python: &Python) -> String {
    let out = python.run(&[
        "-I",
        "-c",
        "import importlib.machinery as m; print(m.EXTENSION_SUFFIXES[0])",
    ]);
    text(&out.stdout).trim().to_string()
}

/// A venv on a copy of [`python3`] whose base was deleted, another copy discoverable.
struct Broken {
    env: TestEnv,
    venv: PathBuf,
    new: Python,
}

fn base_removed(prepare: impl FnOnce(&Path, &Python)) -> Broken {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let new = env.copy_prefix(&py, "sys/new");
    env.add_python(&new);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    prepare(&venv, &py);
    fs::remove_dir_all(&old.prefix).unwrap();
    Broken { env, venv, new }
}

#[test]
fn a_test_extension_that_never_imports_does_not_fail_the_relink() {
    // numpy's `core._umath_tests` raises in every healthy numpy; this one is not even an ELF.
    let Broken { env, venv, new } = base_removed(|venv, py| {
        install(
            venv,
            &[
                "tinyjson",
                &format!("markupsafe=={}", markupsafe_version(&py.minor)),
            ],
        );
        let suffix = extension_suffix(py);
        let trap = format!("trap/core/_trap_tests{suffix}");
        add_dist(
            &site_packages(venv, &py.minor),
            "trap",
            &["trap"],
            &[
                ("trap/__init__.py", b"from . import core\n"),
                ("trap/core/__init__.py", b""),
                (&trap, b"not an extension module"),
            ],
        );
    });
    let out = env
        .venvfix()
        .args(["repair", "--yes", "-v"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let link = fs::read_link(venv.join(format!("bin/python{}", new.minor))).unwrap();
    assert_eq!(link, new.exe);
    let imports = python_command(&venv.join("bin/python"))
        .args(["-c", "import tinyjson, markupsafe, trap"])
        .output()
        .unwrap();
    assert!(imports.status.success(), "{}", text(&imports.stderr));
}

#[test]
fn a_package_broken_everywhere_is_named_and_does_not_undo_the_repair() {
    let Broken { env, venv, .. } = base_removed(|venv, py| {
        add_dist(
            &site_packages(venv, &py.minor),
            "needslib",
            &["needslib"],
            &[(
                "needslib/__init__.py",
                b"raise ImportError('libneeds.so.1: cannot open shared object file')\n",
            )],
        );
    });
    let out = env
        .venvfix()
        .args(["repair", "--yes", "-v"])
        .arg(&venv)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("`import needslib` fails"), "{all}");
    assert!(all.contains("fails the same way in a fresh venv"), "{all}");
}

#[test]
fn an_extension_no_interpreter_of_the_minor_loads_is_named() {
    // A compiled module built for another ABI (copied in from another minor's venv): the
    // interpreter looks only for its own suffixes, so it can never load it.
    let Broken { env, venv, .. } = base_removed(|venv, py| {
        add_dist(
            &site_packages(venv, &py.minor),
            "oldabi",
            &["oldabi"],
            &[
                ("oldabi/__init__.py", b""),
                ("oldabi/_speed.cpython-27-x86_64-linux-gnu.so", b"x"),
            ],
        );
    });
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("`oldabi._speed`"), "{all}");
    assert!(all.contains(".cpython-27-x86_64-linux-gnu.so"), "{all}");
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[test]
#[cfg_attr(
    not(all(system_python, pyenv_3_11)),
    ignore = "needs Debian's /usr/bin/python3.11 and pyenv 3.11"
)]
fn a_patch_upgrade_in_place_is_recorded_not_relinked_back() {
    let env = TestEnv::new();
    let debian = probe(Path::new("/usr/bin/python3.11")).expect("Debian's python3.11 runs");
    let pyenv = pyenv_python("3.11").expect("pyenv 3.11");
    assert_ne!(
        debian.version, pyenv.version,
        "two patches of 3.11 are needed"
    );
    // `/opt/py311` as the admin built it (3.11.2), and another 3.11.2 elsewhere.
    let place = env.copy_prefix(&debian, "opt/py311");
    let other = env.copy_prefix(&debian, "opt/other-3.11.2");
    let venv = env.path("proj/venv");
    make_venv(&place.exe, &venv, &[]);
    // The upgrade in place: same path, now 3.11.7, binary and standard library one build.
    fs::remove_dir_all(&place.prefix).unwrap();
    let upgraded = env.copy_prefix(&pyenv, "opt/py311");
    env.add_python(&upgraded).add_python(&other);

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    let plan = &report["venvs"][0];
    assert_eq!(plan["strategy"], "update-config", "{report}");
    assert_eq!(
        plan["target"]["path"],
        upgraded.exe.to_str().unwrap(),
        "{report}"
    );
    assert!(
        plan["reason"]
            .as_str()
            .unwrap()
            .contains("upgraded in place"),
        "{report}"
    );
    let ops: Vec<&str> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert!(ops.iter().all(|op| *op == "config"), "{report}");

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("version = {}", pyenv.version)),
        "{cfg}"
    );
    let runs = run_ok(
        python_command(&venv.join("bin/python"))
            .args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]),
    );
    assert_eq!(runs.trim(), pyenv.version);
    // And the venv is healthy now.
    let check = env.venvfix().arg("check").arg(&venv).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

// ---------------------------------------------------------------------------------------------
// Installer layouts ([`Layout`], in tests/support): relinks through the stable link.

/// The venv runs and imports its package.
fn assert_runs(venv: &Path) {
    let out = python_command(&venv.join("bin/python"))
        .args(["-c", "import tinyjson, sys; print(sys.prefix)"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the venv does not run: {}",
        text(&out.stderr)
    );
}

/// A venv made on the layout's first patch dir (as tools that resolve links record it), that
/// patch then upgraded away; `repair` must relink to the stable link, and the venv must survive
/// the installer's next upgrade too.
fn relinks_to_the_stable_link_and_survives_the_next_upgrade(
    env: &TestEnv,
    layout: &Layout,
    search: &[PathBuf],
    stable_says: &str,
) {
    let py = python3();
    let first = layout.upgrade(env, "1", None);
    let venv = env.path("proj/venv");
    make_venv(&first.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    layout.upgrade(env, "2", Some("1"));
    for dir in search {
        env.search_path(&[dir.as_path()]);
    }

    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains(stable_says), "{shown}");
    let stable_exe = exe_in(&layout.link, &py.minor);
    let link = fs::read_link(venv.join(format!("bin/python{}", py.minor))).unwrap();
    assert_eq!(link, stable_exe, "{shown}");
    let cfg = fs::read_to_string(venv.join("pyvenv.cfg")).unwrap();
    assert!(
        cfg.contains(&format!("home = {}", layout.link.join("bin").display())),
        "{cfg}"
    );
    assert_runs(&venv);

    // The installer's next routine upgrade: the venv keeps working, and nothing is to repair.
    layout.upgrade(env, "3", Some("2"));
    assert_runs(&venv);
    let check = env.venvfix().arg("check").arg(&venv).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn uv_pythons_are_linked_through_the_minor_link() {
    let env = TestEnv::new();
    let layout = Layout::uv(&env);
    let search = vec![layout.link.join("bin"), layout.patch_dir("2").join("bin")];
    relinks_to_the_stable_link_and_survives_the_next_upgrade(
        &env,
        &layout,
        &search,
        "uv python upgrade",
    );
}

#[test]
fn mise_pythons_are_linked_through_the_minor_link() {
    let env = TestEnv::new();
    let minor = python3().minor;
    let root = env.path("home/.local/share/mise/installs/python");
    let layout = Layout {
        link: root.join(&minor),
        pattern: format!("{minor}.{{}}"),
        root,
    };
    let search = vec![layout.link.join("bin"), layout.patch_dir("2").join("bin")];
    relinks_to_the_stable_link_and_survives_the_next_upgrade(
        &env,
        &layout,
        &search,
        "installs/python",
    );
}

#[test]
fn homebrew_kegs_are_linked_through_opt() {
    let env = TestEnv::new();
    let minor = python3().minor;
    let brew = env.path("brew");
    let layout = Layout {
        link: brew.join(format!("opt/python@{minor}")),
        // A formula revision bump: same Python, another keg.
        pattern: format!("{minor}.7_{{}}"),
        root: brew.join(format!("Cellar/python@{minor}")),
    };
    fs::create_dir_all(brew.join("opt")).unwrap();
    // `opt/python@3` follows the default formula: it must not be what the venv links to.
    let search = vec![
        layout.link.join("bin"),
        brew.join("opt/python@3/bin"),
        layout.patch_dir("2").join("bin"),
    ];
    let first = layout.patch_dir("2");
    let _ = first;
    std::os::unix::fs::symlink(
        format!("../Cellar/python@{minor}/{minor}.7_2"),
        brew.join("opt/python@3"),
    )
    .unwrap();
    relinks_to_the_stable_link_and_survives_the_next_upgrade(
        &env,
        &layout,
        &search,
        "brew upgrade",
    );
}

#[test]
fn stabilize_moves_a_healthy_venv_off_its_patch_dir() {
    let env = TestEnv::new();
    let minor = python3().minor;
    let layout = Layout::uv(&env);
    let first = layout.upgrade(&env, "1", None);
    let venv = env.path("proj/venv");
    make_venv(&first.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    env.search_path(&[&layout.link.join("bin"), &layout.patch_dir("1").join("bin")]);

    let check = env
        .venvfix()
        .args(["check", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let report = json_of(&check);
    let kinds: Vec<&str> = report["venvs"][0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"unstable-base"), "{report}");
    // Without `--stabilize` a healthy venv is left alone.
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_link(venv.join(format!("bin/python{minor}"))).unwrap(),
        first.exe
    );

    let out = env
        .venvfix()
        .args(["repair", "--yes", "--stabilize"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_link(venv.join(format!("bin/python{minor}"))).unwrap(),
        exe_in(&layout.link, &minor)
    );
    layout.upgrade(&env, "2", Some("1"));
    assert_runs(&venv);
}

#[test]
#[cfg_attr(
    not(all(system_python, pyenv_3_11)),
    ignore = "needs Debian's /usr/bin/python3.11 and pyenv 3.11"
)]
fn homebrew_prefix_is_discovered_and_its_upgrade_preferred_over_the_os_exact_patch() {
    let env = TestEnv::new();
    let debian = probe(Path::new("/usr/bin/python3.11")).expect("Debian's python3.11 runs");
    let pyenv = pyenv_python("3.11").expect("pyenv 3.11");
    let brew = env.path("brew");
    fs::create_dir_all(brew.join("opt")).unwrap();
    let old_keg = format!("brew/Cellar/python@3.11/{}", debian.version);
    let old = env.copy_prefix(&debian, &old_keg);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    // `brew upgrade`: a new keg, `opt/` moved, the old keg removed.
    let new_keg = format!("brew/Cellar/python@3.11/{}", pyenv.version);
    let new = env.copy_prefix(&pyenv, &new_keg);
    std::os::unix::fs::symlink(
        format!("../Cellar/python@3.11/{}", pyenv.version),
        brew.join("opt/python@3.11"),
    )
    .unwrap();
    fs::remove_dir_all(&old.prefix).unwrap();

    // Discovery as on a real machine, with HOMEBREW_PREFIX naming this prefix.
    let mut cmd = env.venvfix();
    cmd.env_remove("VENVFIX_PYTHON_SEARCH_PATH")
        .env_remove("PYENV_ROOT")
        .env("HOME", env.path("home"))
        .env("PATH", "/usr/bin:/bin")
        .env("HOMEBREW_PREFIX", &brew)
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv);
    let report = json_of(&cmd.output().unwrap());
    let plan = &report["venvs"][0];
    assert_eq!(plan["target"]["source"], "homebrew", "{report}");
    assert_eq!(
        plan["target"]["version"],
        pyenv.version.as_str(),
        "{report}"
    );
    let reason = plan["reason"].as_str().unwrap();
    assert!(
        reason.contains("the venv follows the installation it belonged to"),
        "{reason}"
    );
    // The exact old patch elsewhere is named once, as the alternative, with why it ranks below.
    let alt = &plan["alternatives"][0];
    assert_eq!(alt["target"]["path"], "/usr/bin/python3.11", "{report}");
    let why = alt["why"].as_str().unwrap();
    assert!(why.contains("exact version"), "{why}");
    assert!(why.contains("another installation"), "{why}");
    assert!(!reason.contains("exact"), "{reason}");
    let link = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["op"] == "symlink")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        link["to"],
        brew.join("opt/python@3.11/bin/python3.11")
            .to_str()
            .unwrap(),
        "{report}"
    );
    let _ = new;
}

#[test]
fn a_deliberate_move_within_the_minor_is_a_relink_plan() {
    let env = TestEnv::new();
    let py = python3();
    let here = env.copy_prefix(&py, "sys/here");
    let there = env.copy_prefix(&py, "sys/there");
    env.add_python(&here).add_python(&there);
    let venv = env.path("proj/venv");
    make_venv(&here.exe, &venv, &[]);
    install(&venv, &["tinyjson"]);
    // Healthy: without `--python` there is nothing to do.
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["venvs"][0]["strategy"], "none");
    let out = env
        .venvfix()
        .args(["repair", "--yes", "--python"])
        .arg(&there.exe)
        .arg(&venv)
        .output()
        .unwrap();
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(shown.contains("asks to move this healthy venv"), "{shown}");
    assert_eq!(
        fs::read_link(venv.join(format!("bin/python{}", py.minor))).unwrap(),
        there.exe
    );
    assert_runs(&venv);
}

#[test]
#[cfg_attr(not(all(pyenv_3_11, pyenv_3_12)), ignore = "needs pyenv 3.11 and 3.12")]
fn a_deliberate_move_across_minors_is_a_recreate_plan() {
    let env = TestEnv::new();
    let py311 = pyenv_python("3.11").unwrap();
    let py312 = pyenv_python("3.12").unwrap();
    env.add_python(&py311).add_python(&py312);
    let venv = env.path("proj/venv");
    make_venv(&py311.exe, &venv, &[]);
    let out = env
        .venvfix()
        .args([
            "repair",
            "--dry-run",
            "--json",
            "--strategy",
            "recreate",
            "--python",
            "3.12",
        ])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    let plan = &report["venvs"][0];
    assert_eq!(plan["strategy"], "recreate", "{report}");
    assert_eq!(
        plan["target"]["version"],
        py312.version.as_str(),
        "{report}"
    );
    assert!(
        plan["reason"]
            .as_str()
            .unwrap()
            .contains("asks to move this healthy venv"),
        "{report}"
    );
}

#[test]
#[cfg_attr(
    not(system_python),
    ignore = "needs Debian's /usr/bin/python3.11 with its dist-packages"
)]
fn system_site_packages_venvs_keep_the_base_whose_packages_they_see() {
    let env = TestEnv::new();
    let debian = probe(Path::new("/usr/bin/python3.11")).expect("Debian's python3.11 runs");
    // A hand-built 3.11.2 (a copy of the same binary): same version, no dist-packages.
    let hand = env.copy_prefix(&debian, "opt/python-3.11.2");
    env.add_python(&hand).search_path(&[Path::new("/usr/bin")]);
    let venv = env.path("proj/venv");
    make_venv(
        Path::new("/usr/bin/python3.11"),
        &venv,
        &["--system-site-packages"],
    );
    // The link is broken (a hand-made `ln -sf` gone wrong); `home` still names /usr/bin.
    fs::remove_file(venv.join("bin/python3.11")).unwrap();
    std::os::unix::fs::symlink("/gone/bin/python3.11", venv.join("bin/python3.11")).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    let plan = &report["venvs"][0];
    assert_eq!(plan["target"]["path"], "/usr/bin/python3.11", "{report}");
    let alt = plan["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["target"]["path"] == hand.exe.to_str().unwrap())
        .unwrap_or_else(|| panic!("{report}"));
    let why = alt["why"].as_str().unwrap();
    assert!(why.contains("no longer see these system packages"), "{why}");
    assert!(why.contains("pyyaml"), "{why}");
}

/// A copy of [`python3`] at `root()/name` whose `lib/pythonX.Y` is a dir of its own (links to
/// the original stdlib's entries) with a `site-packages` holding only `dists`, each a real
/// importable package: what an `include-system-site-packages` venv sees from this base.
fn prefix_with_site_packages(env: &TestEnv, name: &str, dists: &[&str]) -> Python {
    let py = python3();
    let copy = env.copy_prefix(&py, name);
    let lib = copy.prefix.join(format!("lib/python{}", py.minor));
    fs::remove_file(&lib).unwrap();
    fs::create_dir(&lib).unwrap();
    for entry in fs::read_dir(py.stdlib()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "site-packages" {
            std::os::unix::fs::symlink(entry.path(), lib.join(entry.file_name())).unwrap();
        }
    }
    let site = lib.join("site-packages");
    fs::create_dir(&site).unwrap();
    for dist in dists {
        add_dist(
            &site,
            dist,
            &[dist],
            &[(&format!("{dist}/__init__.py"), b"")],
        );
    }
    copy
}

/// An `include-system-site-packages` venv made on a base whose site-packages holds `sysyaml`.
fn system_site_venv(env: &TestEnv) -> (Python, PathBuf) {
    let old = prefix_with_site_packages(env, "sys/old", &["sysyaml"]);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &["--system-site-packages"]);
    let sees = python_command(&venv.join("bin/python"))
        .args(["-c", "import sysyaml"])
        .output()
        .unwrap();
    assert!(sees.status.success(), "{}", text(&sees.stderr));
    (old, venv)
}

#[test]
fn a_system_site_packages_venv_whose_old_base_is_gone_is_told_so() {
    let env = TestEnv::new();
    let (old, venv) = system_site_venv(&env);
    let new = prefix_with_site_packages(&env, "sys/new", &["sysother"]);
    env.add_python(&new);
    fs::remove_dir_all(&old.prefix).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    let plan = &report["venvs"][0];
    assert_eq!(
        plan["target"]["path"],
        new.exe.to_str().unwrap(),
        "{report}"
    );
    let notes: Vec<&str> = plan["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let gone: Vec<&&str> = notes.iter().filter(|n| n.contains("is gone")).collect();
    assert_eq!(gone.len(), 1, "{report}");
    let note = gone[0];
    assert!(note.contains(old.prefix.to_str().unwrap()), "{note}");
    assert!(note.contains("cannot be compared"), "{note}");
    assert!(note.contains("sysother"), "{note}");

    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .arg(&venv)
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(shown.matches("cannot be compared").count(), 1, "{shown}");
    assert!(shown.contains(note), "{shown}");
}

#[test]
fn a_system_site_packages_venv_keeps_the_base_with_its_system_packages() {
    // The old base is still there (the venv's link was broken by hand): of two installations
    // of the same version, the one whose system packages include the venv's is chosen, even
    // where the other sorts first.
    let env = TestEnv::new();
    let (_old, venv) = system_site_venv(&env);
    let plain = prefix_with_site_packages(&env, "sys/a-plain", &["sysother"]);
    let keeps = prefix_with_site_packages(&env, "sys/z-keeps", &["sysyaml"]);
    env.add_python(&plain).add_python(&keeps);
    let link = venv.join(format!("bin/python{}", python3().minor));
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/gone/bin/python3", &link).unwrap();

    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    let plan = &report["venvs"][0];
    assert_eq!(
        plan["target"]["path"],
        keeps.exe.to_str().unwrap(),
        "{report}"
    );
    let alt = &plan["alternatives"][0];
    assert_eq!(
        alt["target"]["path"],
        plain.exe.to_str().unwrap(),
        "{report}"
    );
    assert!(
        alt["why"]
            .as_str()
            .unwrap()
            .contains("no longer see these system packages: sysyaml"),
        "{report}"
    );
    assert!(
        !report.to_string().contains("cannot be compared"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// Plan messages (13.10): each fact once; no alternatives once the user chose with `--python`.

/// A venv whose base was removed, with two other installations `sys/a` and `sys/b` of the
/// same version discoverable.
fn two_installations() -> (TestEnv, PathBuf, Python, Python) {
    let env = TestEnv::new();
    let py = python3();
    let old = env.copy_prefix(&py, "sys/old");
    let a = env.copy_prefix(&py, "sys/a");
    let b = env.copy_prefix(&py, "sys/b");
    env.add_python(&a).add_python(&b);
    let venv = env.path("proj/venv");
    make_venv(&old.exe, &venv, &[]);
    fs::remove_dir_all(&old.prefix).unwrap();
    (env, venv, a, b)
}

fn dry_run(env: &TestEnv, venv: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .args(args)
        .arg(venv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn an_alternative_says_why_it_ranks_below_not_the_chosen_ones_reason_again() {
    let (env, venv, a, b) = two_installations();
    let shown = dry_run(&env, &venv, &[]);
    let plan = shown.lines().find(|l| l.contains("plan:")).unwrap();
    assert!(plan.contains(a.exe.to_str().unwrap()), "{shown}");
    assert!(
        plan.contains("the exact version the venv was made with"),
        "{shown}"
    );
    assert_eq!(shown.matches("exact version").count(), 1, "{shown}");
    let alternatives: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("alternative:"))
        .collect();
    assert_eq!(alternatives.len(), 1, "{shown}");
    assert!(alternatives[0].contains(b.exe.to_str().unwrap()), "{shown}");
    assert!(
        alternatives[0].contains("the same version, another installation"),
        "{shown}"
    );
    // And the repair prints the same plan once.
    let out = env
        .venvfix()
        .args(["repair", "--yes"])
        .arg(&venv)
        .output()
        .unwrap();
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(all.matches("plan:").count(), 1, "{all}");
    assert_eq!(all.matches("exact version").count(), 1, "{all}");
}

#[test]
fn with_python_named_the_plan_offers_no_alternatives() {
    let (env, venv, a, b) = two_installations();
    // A path: that installation, and nothing else is mentioned.
    let shown = dry_run(&env, &venv, &["--python".as_ref(), a.exe.as_os_str()]);
    assert!(!shown.contains("alternative"), "{shown}");
    assert!(!shown.contains(b.exe.to_str().unwrap()), "{shown}");
    // A version two installations match: venvfix picks one, and says once that the other
    // matches too and how to pick it.
    let minor = python3().minor;
    let shown = dry_run(&env, &venv, &["--python".as_ref(), minor.as_ref()]);
    assert!(!shown.contains("alternative"), "{shown}");
    let mentions: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains(b.exe.to_str().unwrap()))
        .collect();
    assert_eq!(mentions.len(), 1, "{shown}");
    assert!(
        mentions[0].contains(&format!("`--python {minor}` also matches")),
        "{shown}"
    );
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json", "--python", &minor])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    assert_eq!(
        report["venvs"][0]["alternatives"],
        serde_json::json!([]),
        "{report}"
    );
}

#[test]
fn a_deliberate_move_names_the_python_asked_for_once() {
    let env = TestEnv::new();
    let py = python3();
    let here = env.copy_prefix(&py, "sys/here");
    let there = env.copy_prefix(&py, "sys/there");
    env.add_python(&here).add_python(&there);
    let venv = env.path("proj/venv");
    make_venv(&here.exe, &venv, &[]);
    let shown = dry_run(&env, &venv, &["--python".as_ref(), there.exe.as_os_str()]);
    let plan = shown.lines().find(|l| l.contains("plan:")).unwrap();
    assert!(
        plan.contains(&format!("`--python {}` asks to move", there.exe.display())),
        "{shown}"
    );
    assert!(!shown.contains("alternative"), "{shown}");
}

#[test]
#[cfg_attr(not(all(pyenv_3_11, pyenv_3_12)), ignore = "needs pyenv 3.11 and 3.12")]
fn a_recreate_with_python_named_tries_only_that_python() {
    let env = TestEnv::new();
    let py311 = pyenv_python("3.11").unwrap();
    let py312 = pyenv_python("3.12").unwrap();
    env.add_python(&py311).add_python(&py312);
    for other in ["3.10", "3.13"] {
        if let Some(p) = pyenv_python(other) {
            env.add_python(&p);
        }
    }
    let venv = env.path("proj/venv");
    make_venv(&py311.exe, &venv, &[]);
    let shown = dry_run(&env, &venv, &["--python".as_ref(), "3.12".as_ref()]);
    let plan = shown.lines().find(|l| l.contains("plan:")).unwrap();
    assert!(plan.contains("recreate with Python 3.12"), "{shown}");
    assert_eq!(plan.matches("--python").count(), 1, "{shown}");
    assert!(
        !plan.contains("recreated with the same packages"),
        "{shown}"
    );
    assert!(!shown.contains("alternative"), "{shown}");
    let dry_runs: Vec<&str> = shown
        .lines()
        .filter(|l| l.contains("dry run: Python"))
        .collect();
    assert_eq!(dry_runs.len(), 1, "{shown}");
    assert!(dry_runs[0].contains("3.12"), "{shown}");
}

/// The `plan:` line of a dry run of `repair ARGS VENV`.
fn headline(env: &TestEnv, venv: &Path, args: &[&str]) -> String {
    let out = env
        .venvfix()
        .args(["repair", "--dry-run"])
        .args(args)
        .arg(venv)
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    shown
        .lines()
        .find(|l| l.contains("plan:"))
        .unwrap_or_else(|| panic!("no plan line: {shown}{}", text(&out.stderr)))
        .to_string()
}

/// A venv made on `layout`'s first patch dir, that patch upgraded away: the headlines of a
/// relink and of a recreate (text) and the JSON target name the stable link they write, not the
/// patch dir or keg the installation resolves to.
fn the_plan_names_the_stable_link_it_writes(env: &TestEnv, layout: &Layout, search: &[PathBuf]) {
    let minor = python3().minor;
    let first = layout.upgrade(env, "1", None);
    let venv = env.path("proj/venv");
    make_venv(&first.exe, &venv, &[]);
    layout.upgrade(env, "2", Some("1"));
    let paths: Vec<&Path> = search.iter().map(PathBuf::as_path).collect();
    env.search_path(&paths);
    let stable = exe_in(&layout.link, &minor);
    let canonical = exe_in(&layout.patch_dir("2"), &minor);

    for args in [&[][..], &["--strategy", "recreate"][..]] {
        let line = headline(env, &venv, args);
        assert!(
            line.contains(&format!("`{}`", stable.display())),
            "{args:?}: {line}"
        );
        assert!(
            !line.contains(canonical.to_str().unwrap()),
            "{args:?}: {line}"
        );
    }
    let out = env
        .venvfix()
        .args(["repair", "--dry-run", "--json"])
        .arg(&venv)
        .output()
        .unwrap();
    let report = json_of(&out);
    let target = &report["venvs"][0]["target"];
    // `path` stays the installation; `link` is what the venv's links and `home` name.
    assert_eq!(target["path"], canonical.to_str().unwrap(), "{report}");
    assert_eq!(target["link"], stable.to_str().unwrap(), "{report}");
}

#[test]
fn the_plan_names_the_uv_minor_link_it_writes() {
    let env = TestEnv::new();
    let layout = Layout::uv(&env);
    let search = vec![layout.link.join("bin"), layout.patch_dir("2").join("bin")];
    the_plan_names_the_stable_link_it_writes(&env, &layout, &search);
}

#[test]
fn the_plan_names_the_homebrew_opt_link_it_writes() {
    let env = TestEnv::new();
    let minor = python3().minor;
    let brew = env.path("brew");
    let layout = Layout {
        link: brew.join(format!("opt/python@{minor}")),
        pattern: format!("{minor}.7_{{}}"),
        root: brew.join(format!("Cellar/python@{minor}")),
    };
    fs::create_dir_all(brew.join("opt")).unwrap();
    let search = vec![layout.link.join("bin"), layout.patch_dir("2").join("bin")];
    the_plan_names_the_stable_link_it_writes(&env, &layout, &search);
}
