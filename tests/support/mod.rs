//! The shared integration-test harness: real interpreters, real venvs, in unique temp dirs.
//!
//! Every integration test file starts with `mod support;` and builds what it needs from here:
//!
//! - [`TestEnv`]: a unique temp dir (removed on drop) with venvfix's cache and state dirs inside
//!   it, and [`TestEnv::venvfix`], the built binary with a controlled environment: the Pythons
//!   venvfix may discover are exactly the dirs registered with [`TestEnv::search_path`] /
//!   [`TestEnv::add_python`] (`VENVFIX_PYTHON_SEARCH_PATH`), nothing from the developer's shell.
//! - [`python3`]: THE interpreter most tests use (resolved once), [`pyenv_python`] for a second
//!   minor, and [`TestEnv::copy_prefix`]: "another installation" of the same Python in a few
//!   milliseconds, which a test may then delete to break the venvs made from it.
//! - [`make_venv`], [`make_virtualenv`], [`make_uv_venv`]: the three creators.
//! - [`tools`] (uv, virtualenv) and [`wheelhouse`] (tiny hand-made wheels plus one real compiled
//!   wheel), each created once per machine under `target/tmp`, under a file lock, because nextest
//!   runs every test in its own process. [`install`] / [`install_editable`] put wheels into a
//!   venv offline with `uv pip install --no-index --find-links <wheelhouse>`.
//! - [`snapshot`] and [`assert_same_tree`]: "changed nothing" and "restored byte-identical",
//!   comparing entry kinds, symlink targets (never followed), content hashes and modes.
//!
//! The harness panics with a message saying what failed: it is test code, and a failed setup
//! must read as such, not as a venvfix bug.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use nix::fcntl::{Flock, FlockArg};

// ---------------------------------------------------------------------------------------------
// TestEnv

/// A unique temp dir for one test, and the `venvfix` binary configured to live inside it.
pub struct TestEnv {
    dir: tempfile::TempDir,
    root: PathBuf,
    search_path: RefCell<Vec<PathBuf>>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A fresh, empty temp dir (canonical path), removed when the `TestEnv` is dropped.
    pub fn new() -> TestEnv {
        let dir = tempfile::Builder::new()
            .prefix("venvfix-test-")
            .tempdir()
            .expect("create the test temp dir");
        let root = dir
            .path()
            .canonicalize()
            .expect("canonicalize the test temp dir");
        fs::create_dir_all(root.join(".venvfix/cache")).expect("create cache dir");
        fs::create_dir_all(root.join(".venvfix/state")).expect("create state dir");
        fs::create_dir_all(root.join(".venvfix/tmp")).expect("create tmp dir");
        TestEnv {
            dir,
            root,
            search_path: RefCell::new(Vec::new()),
        }
    }

    /// The temp dir (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root()/rel`.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// venvfix's cache dir for this test (`VENVFIX_CACHE_DIR`).
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".venvfix/cache")
    }

    /// venvfix's state dir (backups, journals) for this test (`VENVFIX_STATE_DIR`).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".venvfix/state")
    }

    /// `XDG_CONFIG_HOME` for this test: `venvfix/config.toml` under it is the config file.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join(".venvfix/config")
    }

    /// Add dirs to the Python search path the binary sees; replaces automatic discovery.
    pub fn search_path(&self, dirs: &[&Path]) -> &Self {
        self.search_path
            .borrow_mut()
            .extend(dirs.iter().map(|d| d.to_path_buf()));
        self
    }

    /// Make `python` discoverable by the binary (adds the dir of its executable).
    pub fn add_python(&self, python: &Python) -> &Self {
        self.search_path(&[python.bin_dir()])
    }

    /// The built `venvfix` binary: current dir = root, cache and state inside root, no colour,
    /// no `PYTHON*` / `VIRTUAL_ENV` from the caller, and `VENVFIX_PYTHON_SEARCH_PATH` set to the
    /// registered dirs (empty when none: then venvfix discovers no Python at all).
    pub fn venvfix(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.venvfix_std())
    }

    /// [`TestEnv::venvfix`] as a plain `std::process::Command` (for pseudo-terminals, spawn).
    pub fn venvfix_std(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_venvfix"));
        cmd.current_dir(&self.root);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PYTHON") || key == "VIRTUAL_ENV" {
                cmd.env_remove(key);
            }
        }
        let joined = std::env::join_paths(self.search_path.borrow().iter())
            .expect("search path dirs must not contain ':'");
        cmd.env("VENVFIX_PYTHON_SEARCH_PATH", joined)
            .env("VENVFIX_CACHE_DIR", self.cache_dir())
            .env("VENVFIX_STATE_DIR", self.state_dir())
            // The developer's own config file must not change what a test sees.
            .env("XDG_CONFIG_HOME", self.config_dir())
            // What the binary and its installers put in temp dirs stays in this test's dir and
            // goes with it, even when a test kills the binary halfway.
            .env("TMPDIR", self.root.join(".venvfix/tmp"))
            .env("NO_COLOR", "1")
            .env_remove("CLICOLOR_FORCE");
        cmd
    }

    /// "Another installation" of `python`'s version at `root()/name`, made in milliseconds.
    ///
    /// `P/bin/python3.X` is a copy of the real binary (a pyenv launcher keeps its RUNPATH to the
    /// original `libpython`; Debian's static binary needs nothing), `P/bin/python3` and
    /// `P/bin/python` are relative links to it, `P/lib/python3.X` is a symlink to the original
    /// stdlib, and `P/include/python3.X/patchlevel.h` is copied when present. The copy finds its
    /// prefix from its own location, so `sys.base_prefix` is `P`. Deleting `P` (to break venvs
    /// made from it) removes the links, never the original installation.
    pub fn copy_prefix(&self, python: &Python, name: &str) -> Python {
        let p = self.root.join(name);
        let minor = &python.minor;
        let exe_name = format!("python{minor}");
        for sub in ["bin", "lib", "include"] {
            fs::create_dir_all(p.join(sub)).expect("create prefix copy dirs");
        }
        let exe = p.join("bin").join(&exe_name);
        copy_executable(&python.exe, &exe);
        symlink(&exe_name, p.join("bin/python3")).expect("link bin/python3");
        symlink(&exe_name, p.join("bin/python")).expect("link bin/python");
        let stdlib = python.prefix.join("lib").join(&exe_name);
        symlink(&stdlib, p.join("lib").join(&exe_name)).expect("link the stdlib");
        let patchlevel = python
            .prefix
            .join("include")
            .join(&exe_name)
            .join("patchlevel.h");
        if patchlevel.is_file() {
            let inc = p.join("include").join(&exe_name);
            fs::create_dir_all(&inc).expect("create include dir");
            fs::copy(&patchlevel, inc.join("patchlevel.h")).expect("copy patchlevel.h");
        }
        Python {
            exe,
            version: python.version.clone(),
            minor: python.minor.clone(),
            prefix: p,
        }
    }

    /// Write `contents` to `root()/rel`, creating parent dirs; returns the path.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Keep the temp dir after the test (for debugging); returns its path.
    pub fn keep(self) -> PathBuf {
        let root = self.root.clone();
        let _ = self.dir.keep();
        root
    }
}

// ---------------------------------------------------------------------------------------------
// Pythons

/// A real Python installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    /// The canonical real binary (`.../bin/python3.11`), never a shim or a link.
    pub exe: PathBuf,
    /// `3.11.7`
    pub version: String,
    /// `3.11`
    pub minor: String,
    /// `sys.base_prefix` (canonical): `<prefix>/lib/python3.X` is its stdlib.
    pub prefix: PathBuf,
}

impl Python {
    /// The dir holding `exe`.
    pub fn bin_dir(&self) -> &Path {
        self.exe
            .parent()
            .expect("a python executable has a parent dir")
    }

    /// `<prefix>/lib/python3.X`.
    pub fn stdlib(&self) -> PathBuf {
        self.prefix
            .join("lib")
            .join(format!("python{}", self.minor))
    }

    /// Run this Python in isolated mode with `args`, returning its output (not checked).
    pub fn run(&self, args: &[&str]) -> Output {
        python_command(&self.exe)
            .args(args)
            .output()
            .expect("run python")
    }
}

/// Python 2 has no `sys.base_prefix` (and no `-I`): outside a venv it is `sys.prefix`.
const PROBE: &str = "import sys, json; print(json.dumps({'executable': sys.executable, \
'version': '%d.%d.%d' % sys.version_info[:3], \
'base_prefix': getattr(sys, 'base_prefix', sys.prefix)}))";

/// Ask an interpreter (or a shim) what it is. `None` if it cannot run.
pub fn probe(exe: &Path) -> Option<Python> {
    // `-E -s -S`: isolated as `-I -S` is, in words Python 2 knows too.
    let out = python_command(exe)
        .args(["-E", "-s", "-S", "-c", PROBE])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let exe = PathBuf::from(v["executable"].as_str()?)
        .canonicalize()
        .ok()?;
    let prefix = PathBuf::from(v["base_prefix"].as_str()?)
        .canonicalize()
        .ok()?;
    let version = v["version"].as_str()?.to_string();
    let minor = version.rsplit_once('.')?.0.to_string();
    Some(Python {
        exe,
        version,
        minor,
        prefix,
    })
}

/// THE Python most tests use, resolved once per test process.
///
/// `VENVFIX_TEST_PYTHON` (a path) if set; else whatever `python3` on PATH really is (a pyenv
/// shim is asked for its `sys.executable`). When that is the OS Python (prefix `/usr`), the
/// newest pyenv 3.8–3.12 is preferred if installed, because tests delete and copy installations
/// and a private prefix is safer and behaves like a user-built one.
pub fn python3() -> Python {
    static PYTHON: OnceLock<Python> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("VENVFIX_TEST_PYTHON") {
                return probe(Path::new(&path)).unwrap_or_else(|| {
                    panic!("VENVFIX_TEST_PYTHON={path:?} does not run as a Python")
                });
            }
            let found = probe(Path::new("python3"))
                .expect("no `python3` on PATH: install one or set VENVFIX_TEST_PYTHON");
            if found.prefix == Path::new("/usr") {
                for minor in ["3.12", "3.11", "3.10", "3.9", "3.8"] {
                    if let Some(p) = pyenv_python(minor) {
                        return p;
                    }
                }
            }
            found
        })
        .clone()
}

/// The pyenv root: `$PYENV_ROOT` or `~/.pyenv`.
pub fn pyenv_root() -> Option<PathBuf> {
    std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))
}

/// The newest pyenv build of `minor` (`~/.pyenv/versions/3.8.*/bin/python3.8`), if installed.
pub fn pyenv_python(minor: &str) -> Option<Python> {
    let versions = pyenv_root()?.join("versions");
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in fs::read_dir(&versions).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(patch) = name
            .strip_prefix(minor)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|p| p.parse::<u64>().ok())
        else {
            continue;
        };
        let exe = entry.path().join("bin").join(format!("python{minor}"));
        if exe.is_file() && best.as_ref().is_none_or(|(b, _)| patch > *b) {
            best = Some((patch, exe));
        }
    }
    probe(&best?.1)
}

/// A `Command` for a Python with the caller's `PYTHONHOME`/`PYTHONPATH`/`VIRTUAL_ENV` removed.
pub fn python_command(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    for key in [
        "PYTHONHOME",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "VIRTUAL_ENV",
        "PYTHONUSERBASE",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

/// Copy the executable `from` to `to` (in place when `to` exists, as `fs::copy` does) with a
/// child `cp`, never through a write handle of this process: a test thread that forks while
/// this process holds one passes it to its child until that child execs, and executing the
/// copy in that window fails with "Text file busy" (ETXTBSY).
pub fn copy_executable(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("--").arg(from).arg(to));
}

/// Run `cmd`, panic with its output unless it succeeds; returns stdout as text.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Creators

/// `<python> -m venv --without-pip [extra_args] dest`, asserting success.
pub fn make_venv(python: &Path, dest: &Path, extra_args: &[&str]) {
    run_ok(
        python_command(python)
            .args(["-m", "venv", "--without-pip"])
            .args(extra_args)
            .arg(dest),
    );
}

/// `virtualenv --python <python> [extra_args] dest` (seeds pip/setuptools/wheel unless
/// `--no-seed` is given), asserting success.
pub fn make_virtualenv(python: &Path, dest: &Path, extra_args: &[&str]) {
    run_ok(
        python_command(&tools().virtualenv)
            .env(
                "VIRTUALENV_OVERRIDE_APP_DATA",
                tools_dir().join("virtualenv-data"),
            )
            .arg("--python")
            .arg(python)
            .args(extra_args)
            .arg(dest),
    );
}

/// `virtualenv --python <python> [extra_args] dest` with virtualenv before 20.22, the last that
/// makes Python 2.7 venvs, run by `uv tool run --from 'virtualenv<20.22'` (cached in the test
/// tools' uv cache: PyPI must be reachable the first time), seeding pip, setuptools and wheel.
pub fn make_virtualenv_py2(python: &Path, dest: &Path, extra_args: &[&str]) {
    run_ok(
        uv_command()
            .env(
                "VIRTUALENV_OVERRIDE_APP_DATA",
                tools_dir().join("virtualenv-data"),
            )
            .args([
                "tool",
                "run",
                "--from",
                "virtualenv<20.22",
                "virtualenv",
                "-q",
            ])
            .arg("--python")
            .arg(python)
            .args(extra_args)
            .arg(dest),
    );
}

/// `uv venv --python <python> [extra_args] dest`, asserting success.
pub fn make_uv_venv(python: &Path, dest: &Path, extra_args: &[&str]) {
    run_ok(
        uv_command()
            .args(["venv", "-q", "--python"])
            .arg(python)
            .args(extra_args)
            .arg(dest),
    );
}

// ---------------------------------------------------------------------------------------------
// Installer layouts: copied prefixes shaped like each installer's, and its next routine upgrade.

/// An installer's tree for [`python3`]: patch (or keg) dirs made with `copy_prefix`, and the
/// stable link the installer moves at each upgrade.
pub struct Layout {
    /// The dir holding the patch dirs (`…/uv/python`, `…/installs/python`, `Cellar/python@3.X`).
    pub root: PathBuf,
    /// The stable link (`cpython-3.X-…`, `3.X`, `opt/python@3.X`) and the patch-dir name
    /// pattern, `{}` for the patch.
    pub link: PathBuf,
    pub pattern: String,
}

impl Layout {
    /// uv-managed Pythons for [`python3`]'s minor: patch dirs `cpython-3.X.N-linux-x86_64-gnu`
    /// under `home/.local/share/uv/python`, beside the minor link `cpython-3.X-linux-x86_64-gnu`
    /// (nothing installed yet: [`Layout::upgrade`] installs).
    pub fn uv(env: &TestEnv) -> Layout {
        let minor = python3().minor;
        let root = env.path("home/.local/share/uv/python");
        Layout {
            link: root.join(format!("cpython-{minor}-linux-x86_64-gnu")),
            pattern: format!("cpython-{minor}.{{}}-linux-x86_64-gnu"),
            root,
        }
    }

    pub fn patch_dir(&self, patch: &str) -> PathBuf {
        self.root.join(self.pattern.replace("{}", patch))
    }

    /// Install `patch` and point the stable link at it (the installer's upgrade); the previous
    /// patch dir is removed when `remove` names it.
    pub fn upgrade(&self, env: &TestEnv, patch: &str, remove: Option<&str>) -> Python {
        let py = python3();
        let rel = self
            .patch_dir(patch)
            .strip_prefix(env.root())
            .unwrap()
            .to_path_buf();
        let installed = env.copy_prefix(&py, rel.to_str().unwrap());
        let _ = fs::remove_file(&self.link);
        let target = pathdiff(&self.patch_dir(patch), self.link.parent().unwrap());
        symlink(target, &self.link).unwrap();
        if let Some(old) = remove {
            fs::remove_dir_all(self.patch_dir(old)).unwrap();
        }
        installed
    }
}

/// `to` relative to `from` when `to` is inside `from`'s parent tree (the installers' links are
/// relative), else absolute.
pub fn pathdiff(to: &Path, from: &Path) -> PathBuf {
    match to.strip_prefix(from) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => match to.strip_prefix(from.parent().unwrap()) {
            Ok(rel) => Path::new("..").join(rel),
            Err(_) => to.to_path_buf(),
        },
    }
}

pub fn exe_in(dir: &Path, minor: &str) -> PathBuf {
    dir.join("bin").join(format!("python{minor}"))
}

// ---------------------------------------------------------------------------------------------
// Tools and wheels, created once per machine

/// The test tools, from a venv shared by every test run.
#[derive(Debug, Clone)]
pub struct Tools {
    pub uv: PathBuf,
    pub virtualenv: PathBuf,
    /// The tools venv's own python (has pip).
    pub python: PathBuf,
}

/// Where shared, machine-wide test artefacts live: `target/tmp` (`CARGO_TARGET_TMPDIR`).
fn shared_dir() -> PathBuf {
    match option_env!("CARGO_TARGET_TMPDIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tmp"),
    }
}

/// The tools venv dir: `$VENVFIX_TEST_TOOLS` or `target/tmp/test-tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("VENVFIX_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| shared_dir().join("test-tools"))
}

/// Build `dir` once with `create` (into a fresh `dir`), under an exclusive `flock` on
/// `<dir>.lock`; a `.complete` marker says a previous process finished it.
fn once_per_machine(dir: &Path, what: &str, create: impl FnOnce(&Path)) {
    let marker = dir.join(".complete");
    if marker.exists() {
        return;
    }
    let parent = dir.parent().expect("shared dirs have a parent");
    fs::create_dir_all(parent).expect("create the shared test dir");
    let mut lock_name = OsString::from(dir.file_name().expect("a named dir"));
    lock_name.push(".lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(lock_name))
        .expect("open the lock file");
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("lock for {what}: {e}"));
    if marker.exists() {
        return;
    }
    if dir.exists() {
        fs::remove_dir_all(dir).expect("remove a half-made shared dir");
    }
    create(dir);
    fs::write(&marker, "").expect("write the .complete marker");
}

/// uv and virtualenv, installed once into [`tools_dir`] with pip from PyPI.
pub fn tools() -> Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let dir = tools_dir();
            once_per_machine(&dir, "the test tools", |dir| {
                let python = python3();
                let help = "PyPI must be reachable, or `.ci/run` must pre-install the tools \
                            (or set VENVFIX_TEST_TOOLS to a venv holding uv and virtualenv)";
                let venv = python_command(&python.exe)
                    .args(["-m", "venv"])
                    .arg(dir)
                    .output()
                    .expect("run python -m venv");
                assert!(
                    venv.status.success(),
                    "creating the test tools venv {} with {} failed: {}\n{help}",
                    dir.display(),
                    python.exe.display(),
                    String::from_utf8_lossy(&venv.stderr)
                );
                let pip = python_command(&dir.join("bin/python"))
                    .args(["-m", "pip", "install", "-q", "uv", "virtualenv"])
                    .output()
                    .expect("run pip");
                assert!(
                    pip.status.success(),
                    "`pip install uv virtualenv` into {} failed: {}\n{help}",
                    dir.display(),
                    String::from_utf8_lossy(&pip.stderr)
                );
            });
            Tools {
                uv: dir.join("bin/uv"),
                virtualenv: dir.join("bin/virtualenv"),
                python: dir.join("bin/python"),
            }
        })
        .clone()
}

/// Tools that own venvs (tox, pipx), installed once from PyPI into `target/tmp/test-apps` and
/// used for real: their records of a venv are what venvfix must keep consistent.
#[derive(Debug, Clone)]
pub struct Apps {
    pub tox: PathBuf,
    pub pipx: PathBuf,
    /// `PIPX_SHARED_LIBS` for the tests: pipx's own pip, made once.
    pub pipx_shared: PathBuf,
}

/// [`Apps`], installed once per machine (PyPI must be reachable the first time).
pub fn apps() -> Apps {
    static APPS: OnceLock<Apps> = OnceLock::new();
    APPS.get_or_init(|| {
        let dir = shared_dir().join("test-apps");
        once_per_machine(&dir, "tox and pipx", |dir| {
            let python = python3();
            run_ok(python_command(&python.exe).args(["-m", "venv"]).arg(dir));
            run_ok(
                python_command(&dir.join("bin/python"))
                    .args(["-m", "pip", "install", "-q", "tox", "pipx"]),
            );
        });
        Apps {
            tox: dir.join("bin/tox"),
            pipx: dir.join("bin/pipx"),
            pipx_shared: dir.join("pipx-shared"),
        }
    })
    .clone()
}

/// A `uv` command that never downloads Pythons, with its cache beside the tools.
pub fn uv_command() -> Command {
    let mut cmd = python_command(&tools().uv);
    cmd.env("UV_CACHE_DIR", tools_dir().join("uv-cache"))
        // `uv tool run` locks its tools dir, `~/.local/share/uv/tools` by default.
        .env("UV_TOOL_DIR", tools_dir().join("uv-tools"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_NO_CONFIG", "1");
    cmd
}

/// The MarkupSafe release with a compiled wheel for `minor` (2.1.5 up to 3.12, 3.0.2 after).
pub fn markupsafe_version(minor: &str) -> &'static str {
    let n: u32 = minor
        .strip_prefix("3.")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if n <= 12 { "2.1.5" } else { "3.0.2" }
}

/// The local wheel dir, created once: `tinyjson 1.0.0`, `tinydep 0.5`, `venvfix-demo 2.3.1`
/// (requires `tinydep==0.5`, console script `venvfix-demo`), `fakenum 2.0.2` (wheels tagged
/// `cp39`..`cp312` only, like numpy 2.0.2 has no `cp313` wheel), `flit_core` (the build backend of
/// [`make_project`]'s projects, for offline editable and git installs), `tinyboth 1.0` and `1.1`
/// and `tinyold 0.3` (`py2.py3-none-any`, installable on Python 2.7 too), and the compiled
/// `MarkupSafe` wheel for [`python3`]'s minor. `$VENVFIX_TEST_WHEELHOUSE` overrides the dir.
pub fn wheelhouse() -> PathBuf {
    static WHEELHOUSE: OnceLock<PathBuf> = OnceLock::new();
    WHEELHOUSE
        .get_or_init(|| {
            let dir = std::env::var_os("VENVFIX_TEST_WHEELHOUSE")
                .map(PathBuf::from)
                .unwrap_or_else(|| shared_dir().join("wheelhouse"));
            let make_wheels = |dir: &Path| {
                run_ok(
                    python_command(&tools().python)
                        .args(["-I", "-c", include_str!("make_wheels.py")])
                        .arg(dir),
                );
            };
            once_per_machine(&dir, "the wheelhouse", |dir| {
                let tools = tools();
                make_wheels(dir);
                let minor = python3().minor;
                download(
                    &tools.python,
                    dir,
                    &minor,
                    &[
                        &format!("markupsafe=={}", markupsafe_version(&minor)),
                        "flit_core",
                    ],
                );
            });
            // A wheelhouse made before make_wheels.py grew a wheel gets the new ones (each is
            // written beside and renamed, so this is safe to race).
            if !dir.join("tinyold-0.3-py2.py3-none-any.whl").exists() {
                make_wheels(&dir);
            }
            dir
        })
        .clone()
}

/// Add the compiled MarkupSafe wheel for another minor (a pyenv Python's) to the wheelhouse.
pub fn add_markupsafe_wheel(minor: &str) {
    let house = wheelhouse();
    let scratch = shared_dir().join(format!("markupsafe-{minor}"));
    once_per_machine(&scratch, "an extra wheel", |dir| {
        let req = format!("markupsafe=={}", markupsafe_version(minor));
        download(&tools().python, dir, minor, &[&req]);
        for entry in fs::read_dir(dir).expect("read downloaded wheels").flatten() {
            if entry.path().extension().is_some_and(|e| e == "whl") {
                // Copy then rename, so readers of the wheelhouse never see half a wheel.
                let tmp = house.join(format!(".{}", entry.file_name().to_string_lossy()));
                fs::copy(entry.path(), &tmp).expect("copy wheel");
                fs::rename(&tmp, house.join(entry.file_name())).expect("rename wheel");
            }
        }
    });
}

fn download(pip_python: &Path, dest: &Path, minor: &str, reqs: &[&str]) {
    let out = python_command(pip_python)
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary=:all:",
            "--python-version",
        ])
        .arg(minor)
        .arg("--dest")
        .arg(dest)
        .args(reqs)
        .output()
        .expect("run pip download");
    assert!(
        out.status.success(),
        "`pip download {reqs:?} --python-version {minor}` into {} failed: {}\n\
         PyPI must be reachable, or `.ci/run` must pre-create the wheelhouse",
        dest.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `uv pip install --no-index --find-links <wheelhouse> reqs` into `venv` (offline, fast).
pub fn install(venv: &Path, reqs: &[&str]) {
    let house = wheelhouse();
    run_ok(
        uv_command()
            .args(["pip", "install", "-q", "--python"])
            .arg(venv.join("bin/python"))
            .arg("--no-index")
            .arg("--find-links")
            .arg(&house)
            .args(reqs),
    );
}

/// `uv pip install -e project_dir` into `venv`, offline (the backend comes from the
/// wheelhouse). The dist-info gets a `direct_url.json` with `dir_info.editable = true`.
pub fn install_editable(venv: &Path, project_dir: &Path) {
    let project = project_dir.to_str().expect("UTF-8 project path");
    install(venv, &["-e", project]);
}

/// Write a tiny flit_core project `dir` (package `<name with _>`), installable offline.
pub fn make_project(dir: &Path, name: &str, version: &str) -> PathBuf {
    let module = name.replace('-', "_");
    fs::create_dir_all(dir.join(&module)).expect("create project dirs");
    fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"flit_core>=3.4\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"venvfix test project\"\n"
        ),
    )
    .expect("write pyproject.toml");
    fs::write(
        dir.join(&module).join("__init__.py"),
        format!("\"\"\"{name}\"\"\"\nVERSION = \"{version}\"\n"),
    )
    .expect("write __init__.py");
    dir.to_path_buf()
}

/// [`make_project`], committed into a new git repo at `dir`; returns the commit id.
pub fn make_git_project(dir: &Path, name: &str, version: &str) -> String {
    make_project(dir, name, version);
    let git = |args: &[&str]| {
        run_ok(
            Command::new("git")
                .args([
                    "-c",
                    "user.name=venvfix tests",
                    "-c",
                    "user.email=tests@invalid",
                ])
                .args(["-c", "init.defaultBranch=main"])
                .arg("-C")
                .arg(dir)
                .args(args),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "initial"]);
    git(&["rev-parse", "HEAD"]).trim().to_string()
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// The kind of a directory entry, never following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of a [`snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// The link target as stored (`read_link`), for symlinks.
    pub target: Option<PathBuf>,
    /// A hash of the contents, for files.
    pub hash: Option<u64>,
    /// Length in bytes, for files.
    pub len: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// Every entry under `dir` (relative paths, `dir` itself excluded), symlinks recorded and never
/// followed. Missing `dir` gives an empty map.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut map = BTreeMap::new();
    if fs::symlink_metadata(dir).is_ok() {
        walk(dir, dir, &mut map);
    }
    map
}

fn walk(base: &Path, dir: &Path, map: &mut BTreeMap<PathBuf, Entry>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("read dir entry");
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        let rel = path.strip_prefix(base).expect("under base").to_path_buf();
        let mode = meta.permissions().mode() & 0o7777;
        let e = if ft.is_symlink() {
            Entry {
                kind: Kind::Symlink,
                target: Some(fs::read_link(&path).expect("read_link")),
                hash: None,
                len: 0,
                mode,
            }
        } else if ft.is_dir() {
            Entry {
                kind: Kind::Dir,
                target: None,
                hash: None,
                len: 0,
                mode,
            }
        } else if ft.is_file() {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let mut h = DefaultHasher::new();
            h.write(&bytes);
            Entry {
                kind: Kind::File,
                target: None,
                hash: Some(h.finish()),
                len: bytes.len() as u64,
                mode,
            }
        } else {
            Entry {
                kind: Kind::Other,
                target: None,
                hash: None,
                len: 0,
                mode,
            }
        };
        let is_dir = e.kind == Kind::Dir;
        map.insert(rel, e);
        if is_dir {
            walk(base, &path, map);
        }
    }
}

/// The differences between two snapshots, one readable line each (empty when identical).
pub fn tree_diff(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (path, b) in before {
        match after.get(path) {
            None => lines.push(format!("- {} ({:?}) removed", path.display(), b.kind)),
            Some(a) if a != b => {
                let mut what = Vec::new();
                if a.kind != b.kind {
                    what.push(format!("kind {:?} -> {:?}", b.kind, a.kind));
                }
                if a.target != b.target {
                    what.push(format!("target {:?} -> {:?}", b.target, a.target));
                }
                if a.hash != b.hash || a.len != b.len {
                    what.push(format!("contents changed ({} -> {} bytes)", b.len, a.len));
                }
                if a.mode != b.mode {
                    what.push(format!("mode {:o} -> {:o}", b.mode, a.mode));
                }
                lines.push(format!("~ {}: {}", path.display(), what.join(", ")));
            }
            Some(_) => {}
        }
    }
    for (path, a) in after {
        if !before.contains_key(path) {
            lines.push(format!("+ {} ({:?}) added", path.display(), a.kind));
        }
    }
    lines
}

/// Panic with a readable diff unless the two snapshots are identical.
#[track_caller]
pub fn assert_same_tree(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) {
    let diff = tree_diff(before, after);
    assert!(
        diff.is_empty(),
        "the trees differ ({} changes):\n{}",
        diff.len(),
        diff.join("\n")
    );
}

/// A pyenv root as pyenv and pyenv-virtualenv lay it out: the Python in `versions/X.Y.Z`, the
/// env in `versions/X.Y.Z/envs/app` made with it, and `versions/app` an absolute link to the env
/// (`ln -fsn "${VIRTUALENV_PATH}" "${COMPAT_VIRTUALENV_PATH}"`). Returns the base and the venv.
pub fn pyenv_root_with_env(env: &TestEnv, root: &str) -> (Python, PathBuf) {
    let py = python3();
    let base = env.copy_prefix(&py, &format!("{root}/versions/{}", py.version));
    let venv = env.path(format!("{root}/versions/{}/envs/app", py.version));
    make_venv(&base.exe, &venv, &[]);
    install(&venv, &["venvfix-demo"]);
    std::os::unix::fs::symlink(&venv, env.path(format!("{root}/versions/app"))).unwrap();
    (base, venv)
}
