//! `venvfix freeze` on real venvs built with real interpreters: pins, editables, VCS, legacy
//! egg-links and compiled wheels, before and after the venv's base installation is deleted, and
//! the output fed back to `pip install -r`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::*;

fn site_packages(venv: &Path, py: &Python) -> PathBuf {
    venv.join(format!("lib/python{}/site-packages", py.minor))
}

fn freeze_stdout(env: &TestEnv, venv: &Path, extra: &[&str]) -> String {
    let out = env
        .venvfix()
        .arg("freeze")
        .arg(venv)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A legacy `setup.py develop` install, written the way old setuptools did: an `.egg-link`, a
/// line in `easy-install.pth`, and the metadata in the project's `.egg-info`.
fn write_legacy_editable(env: &TestEnv, site: &Path, name: &str, version: &str) -> PathBuf {
    let project = env.path(format!("src/{name}"));
    env.write(
        format!("src/{name}/setup.py"),
        format!("from setuptools import setup\nsetup(name='{name}', version='{version}')\n"),
    );
    env.write(
        format!("src/{name}/{name}.egg-info/PKG-INFO"),
        format!("Metadata-Version: 1.0\nName: {name}\nVersion: {version}\nSummary: UNKNOWN\n"),
    );
    env.write(format!("src/{name}/{name}/__init__.py"), "");
    fs::write(
        site.join(format!("{name}.egg-link")),
        format!("{}\n.", project.display()),
    )
    .unwrap();
    fs::write(
        site.join("easy-install.pth"),
        format!("{}\n", project.display()),
    )
    .unwrap();
    project
}

#[test]
fn freeze_reads_every_kind_of_install_and_survives_a_deleted_base() {
    let env = TestEnv::new();
    let py = python3();
    let base = env.copy_prefix(&py, "base");
    let venv = env.path("venv");
    make_venv(&base.prefix.join("bin/python3"), &venv, &[]);

    let markupsafe = markupsafe_version(&py.minor);
    install(
        &venv,
        &[
            "venvfix-demo==2.3.1",
            "tinyjson==1.0.0",
            &format!("markupsafe=={markupsafe}"),
        ],
    );
    let edit = make_project(&env.path("src/tiny edit"), "tinyedit", "0.1.0");
    install_editable(&venv, &edit);
    let repo = env.path("repo/tinyvcs");
    let commit = make_git_project(&repo, "tinyvcs", "0.2.0");
    let vcs_req = format!("tinyvcs @ git+file://{}", repo.display());
    install(&venv, &[&vcs_req]);
    let site = site_packages(&venv, &py);
    let legacy = write_legacy_editable(&env, &site, "tinylegacy", "0.4.0");

    let cp = format!("cp{}", py.minor.replace('.', ""));
    let expected = format!(
        "MarkupSafe=={markupsafe}  # compiled ({cp}-{cp}-manylinux_2_17_x86_64): must be rebuilt for another Python\n\
         tinydep==0.5\n\
         -e '{edit}'\n\
         tinyjson==1.0.0\n\
         -e {legacy}\n\
         git+file://{repo}@{commit}#egg=tinyvcs\n\
         venvfix-demo==2.3.1\n",
        edit = edit.display(),
        legacy = legacy.display(),
        repo = repo.display(),
    );

    let before = snapshot(&venv);
    let healthy = freeze_stdout(&env, &venv, &[]);
    assert_eq!(healthy, expected);
    assert_same_tree(&before, &snapshot(&venv));

    // Break it the way an uninstall does: the base installation disappears.
    fs::remove_dir_all(&base.prefix).unwrap();
    let runs = python_command(&venv.join("bin/python"))
        .args(["-c", "1"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(!runs, "the venv should be broken now");
    assert_eq!(freeze_stdout(&env, &venv, &[]), healthy);
    assert_same_tree(&before, &snapshot(&venv));
}

#[test]
fn freeze_output_reinstalls_the_same_set_with_pip() {
    let env = TestEnv::new();
    let py = python3();
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    install(
        &venv,
        &[
            "venvfix-demo==2.3.1",
            "tinyjson==1.0.0",
            &format!("markupsafe=={}", markupsafe_version(&py.minor)),
        ],
    );
    // A space in the path: the `-e` line must be quoted for pip's parser.
    let edit = make_project(&env.path("src/tiny edit"), "tinyedit", "0.1.0");
    install_editable(&venv, &edit);
    let repo = env.path("repo/tinyvcs");
    make_git_project(&repo, "tinyvcs", "0.2.0");
    install(
        &venv,
        &[&format!("tinyvcs @ git+file://{}", repo.display())],
    );

    let frozen = freeze_stdout(&env, &venv, &[]);
    assert!(frozen.contains("# compiled"), "{frozen}");
    let reqs = env.write("requirements.txt", &frozen);

    // pip, not uv: the output must be what `pip install -r` accepts (trailing comments included).
    let fresh = env.path("fresh");
    make_venv(&py.exe, &fresh, &[]);
    run_ok(
        python_command(&tools().python)
            .args(["-m", "pip", "--python"])
            .arg(fresh.join("bin/python"))
            .args(["install", "-q", "--no-index", "--find-links"])
            .arg(wheelhouse())
            .arg("-r")
            .arg(&reqs),
    );
    assert_eq!(freeze_stdout(&env, &fresh, &[]), frozen);
}

#[test]
fn malformed_metadata_is_a_warning_and_the_rest_is_listed() {
    let env = TestEnv::new();
    let py = python3();
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    install(&venv, &["tinyjson==1.0.0"]);
    let site = site_packages(&venv, &py);
    let garbage = site.join("garbage-1.0.dist-info");
    fs::create_dir(&garbage).unwrap();
    fs::write(
        garbage.join("METADATA"),
        b"\xff\xfe\x00\x01 not metadata \xc3\x28",
    )
    .unwrap();
    let empty = site.join("empty-2.0.dist-info");
    fs::create_dir(&empty).unwrap();
    // distutils / old setuptools: an `.egg-info` file that is the PKG-INFO itself.
    fs::write(
        site.join(format!("OldPkg-1.2-py{}.egg-info", py.minor)),
        "Metadata-Version: 1.0\nName: OldPkg\nVersion: 1.2\n",
    )
    .unwrap();

    let out = env.venvfix().arg("freeze").arg(&venv).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "OldPkg==1.2\ntinyjson==1.0.0\n");
    assert!(
        stderr.contains(&format!("warning: `{}", garbage.join("METADATA").display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("`{}`", empty.display())),
        "{stderr}"
    );
    assert!(stderr.contains("no METADATA"), "{stderr}");
}

#[test]
fn seeds_and_top_level() {
    let env = TestEnv::new();
    let py = python3();
    let venv = env.path("venv");
    make_virtualenv(&py.exe, &venv, &[]);
    // pip writes REQUESTED only on what was asked for, not on the dependency tinydep.
    run_ok(
        python_command(&tools().python)
            .args(["-m", "pip", "--python"])
            .arg(venv.join("bin/python"))
            .args(["install", "-q", "--no-index", "--find-links"])
            .arg(wheelhouse())
            .arg("venvfix-demo==2.3.1"),
    );
    assert_eq!(
        freeze_stdout(&env, &venv, &[]),
        "tinydep==0.5\nvenvfix-demo==2.3.1\n"
    );
    let all = freeze_stdout(&env, &venv, &["--all"]);
    assert!(
        all.lines().any(|l| l.starts_with("pip==")),
        "virtualenv seeds pip: {all}"
    );
    let out = env
        .venvfix()
        .args(["freeze", "--top-level"])
        .arg(&venv)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "venvfix-demo==2.3.1\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint only"));
}

#[test]
fn packages_in_two_lib_dirs_are_listed_once_with_a_warning() {
    let env = TestEnv::new();
    let py = python3();
    let venv = env.path("venv");
    make_venv(&py.exe, &venv, &[]);
    install(&venv, &["tinyjson==1.0.0"]);
    // What a minor upgrade leaves: an older lib/python3.X holding the user's packages.
    let old = venv.join("lib/python3.5/site-packages/tinyjson-0.9.dist-info");
    fs::create_dir_all(&old).unwrap();
    fs::write(old.join("METADATA"), "Name: tinyjson\nVersion: 0.9\n").unwrap();

    let out = env.venvfix().arg("freeze").arg(&venv).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tinyjson==0.9\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("also installed in"), "{stderr}");
}

#[test]
fn errors_name_the_path() {
    let env = TestEnv::new();
    let missing = env.path("no-such-venv");
    let out = env.venvfix().arg("freeze").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("`{}` does not exist", missing.display())),
        "{stderr}"
    );

    fs::create_dir(env.path("plain")).unwrap();
    let out = env.venvfix().args(["freeze", "plain"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("site-packages"));
}

#[test]
#[cfg_attr(
    not(all(pyenv_3_8, pyenv_3_9)),
    ignore = "needs pyenv 3.8 and 3.9 (~/.pyenv/versions/3.8.*, 3.9.*)"
)]
fn a_38_venv_keeps_its_cp38_marker_and_orphaned_39_dir_is_read() {
    let env = TestEnv::new();
    let py38 = pyenv_python("3.8").expect("pyenv 3.8");
    add_markupsafe_wheel("3.8");
    let venv = env.path("venv38");
    make_venv(&py38.exe, &venv, &[]);
    install(&venv, &["markupsafe==2.1.5", "tinyjson==1.0.0"]);
    // `venv --upgrade` with a 3.9 leaves an empty lib/python3.9 (REFERENCE.md, 2b).
    fs::create_dir_all(venv.join("lib/python3.9/site-packages")).unwrap();
    assert_eq!(
        freeze_stdout(&env, &venv, &[]),
        "MarkupSafe==2.1.5  # compiled (cp38-cp38-manylinux_2_17_x86_64): must be rebuilt for another Python\n\
         tinyjson==1.0.0\n"
    );
}
