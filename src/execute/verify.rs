//! Verification (DESIGN.md rule 7): after a repair, run the venv's own interpreter, isolated,
//! and check that it is the intended Python, that it sees the venv's site-packages, that its
//! standard library is whole, and that the venv's packages import.
//!
//! Before anything runs, the venv's `bin/python` must resolve (canonically) to an installation
//! the inventory found: a link pointing anywhere else is reported, never executed (rule 2). The
//! interpreter runs with `-I -B` (no user site, no environment, no bytecode written into the
//! venv), a scrubbed environment, stdin from `/dev/null` and a timeout. An embedded script
//! answers in JSON; the judgement is made here. This module never changes the venv.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::inventory::Inventory;
use crate::safe_read::{self, Follow};
use crate::version::PythonVersion;

/// The outcome of running the repaired interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// The version the interpreter reported, if it ran.
    pub version: Option<PythonVersion>,
    /// What is wrong, one sentence each; empty when `ok`.
    pub problems: Vec<String>,
    /// What was not checked and why (never a failure), one sentence each.
    pub notes: Vec<String>,
}

impl Verification {
    fn failed(problem: String) -> Verification {
        Verification {
            ok: false,
            version: None,
            problems: vec![problem],
            notes: Vec::new(),
        }
    }
}

/// Python 2.7 / 3.6+ compatible: no f-strings. Output goes to stdout after a marker line,
/// because importing a package may print.
const SCRIPT: &str = r#"
import sys
real_stdout = sys.stdout
sys.stdout = sys.stderr
def main():
    import json
    request = json.loads(sys.argv[1])
    problems = []
    try:
        import importlib.util
        def find(name):
            return importlib.util.find_spec(name) is not None
    except ImportError:
        import imp
        def find(name):
            try:
                imp.find_module(name)
                return True
            except ImportError:
                return False
    def try_import(name, what):
        try:
            __import__(name)
        except BaseException as e:
            problems.append("%s: import %s failed: %s: %s" % (what, name, type(e).__name__, e))
    for name in ("_struct", "json", "os", "encodings"):
        try_import(name, "standard library")
    try:
        has_ssl = find("_ssl")
    except BaseException:
        has_ssl = False
    if has_ssl:
        try_import("ssl", "standard library")
    for name in request["find"]:
        try:
            if not find(name):
                problems.append("package: module %s is not found" % name)
        except BaseException as e:
            problems.append("package: looking for %s failed: %s: %s" % (name, type(e).__name__, e))
    for name in request["import"]:
        try_import(name, "compiled package")
    answer = {
        "version": list(sys.version_info[:3]),
        "prefix": sys.prefix,
        "path": list(sys.path),
        "problems": problems,
    }
    real_stdout.write("\nVENVFIX-VERIFY:" + json.dumps(answer) + "\n")
    real_stdout.flush()
main()
"#;

const MARKER: &str = "VENVFIX-VERIFY:";
/// Compiled modules imported per venv, at most: enough to catch an ABI mismatch, bounded time.
const MAX_IMPORTS: usize = 200;

#[derive(Debug, Serialize)]
struct Request {
    find: Vec<String>,
    import: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    version: Vec<u64>,
    prefix: PathBuf,
    path: Vec<PathBuf>,
    problems: Vec<String>,
}

/// The venv's entry interpreter: `bin/python`, else `bin/python3`, else `bin/pythonX.Y`.
pub fn venv_python(venv: &Path, minor: Option<&PythonVersion>) -> PathBuf {
    let mut names = vec!["python".to_string(), "python3".to_string()];
    if let Some(v) = minor {
        names.push(format!("python{}", v.short()));
    }
    names
        .iter()
        .map(|n| venv.join("bin").join(n))
        .find(|p| fs::symlink_metadata(p).is_ok())
        .unwrap_or_else(|| venv.join("bin/python"))
}

/// Verify the venv at `venv` (canonical root) against the plan's `target` version.
/// `copied_from`: the installed binary a `CopyFile` action copied into the venv; a venv binary
/// byte-identical to it (and it known to the inventory) may run, as it is the same program.
pub fn verify(
    venv: &Path,
    target: Option<&PythonVersion>,
    inventory: &Inventory,
    copied_from: Option<&Path>,
    timeout: Duration,
) -> Verification {
    let python = venv_python(venv, target);
    let shown = python
        .strip_prefix(venv)
        .unwrap_or(&python)
        .display()
        .to_string();
    let known = inventory.find(&python).or_else(|| {
        let source = copied_from?;
        let installation = inventory.find(source)?;
        let copy = fs::canonicalize(&python).ok()?;
        let same = copy.starts_with(venv)
            && fs::symlink_metadata(&copy).is_ok_and(|m| m.is_file())
            && fs::read(&copy).ok()? == fs::read(&installation.path).ok()?;
        same.then_some(installation)
    });
    let Some(installation) = known else {
        let resolved = match fs::canonicalize(&python) {
            Ok(path) => format!("resolves to `{}`", path.display()),
            Err(e) => format!("does not resolve ({e})"),
        };
        return Verification::failed(format!(
            "`{shown}` {resolved}, which is not an installed Python venvfix found; it was not run"
        ));
    };
    let version = target.copied().unwrap_or(installation.version);
    let site_packages = venv
        .join("lib")
        .join(format!("python{}", version.short()))
        .join("site-packages");
    let (request, missing) = modules_to_check(&site_packages);
    let answer = match run(&python, &request, timeout) {
        Ok(answer) => answer,
        Err(problem) => return Verification::failed(format!("`{shown}`: {problem}")),
    };
    let mut verification = judge(venv, &version, &site_packages, answer);
    verification.notes.extend(missing.iter().map(|name| {
        format!("a distribution lists top-level module `{name}`, which is not in site-packages; not checked")
    }));
    verification
}

fn judge(venv: &Path, want: &PythonVersion, site_packages: &Path, answer: Answer) -> Verification {
    let mut problems = Vec::new();
    let reported = match answer.version.as_slice() {
        [major, minor, patch] => Some(PythonVersion::new(*major, *minor, *patch)),
        _ => None,
    };
    match reported {
        Some(v) => {
            let same = v.same_minor(want) && want.patch.is_none_or(|p| Some(p) == v.patch);
            if !same {
                problems.push(format!(
                    "the interpreter is Python {v}, the plan expected {want}"
                ));
            }
        }
        None => problems.push("the interpreter did not report its version".into()),
    }
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let prefix = canonical(&answer.prefix);
    if prefix != canonical(venv) {
        problems.push(format!(
            "`sys.prefix` is `{}`, not the venv (the interpreter does not see `pyvenv.cfg`)",
            answer.prefix.display()
        ));
    }
    let site = canonical(site_packages);
    if !answer.path.iter().any(|p| canonical(p) == site) {
        problems.push(format!(
            "`{}` is not on `sys.path`",
            site_packages
                .strip_prefix(venv)
                .unwrap_or(site_packages)
                .display()
        ));
    }
    problems.extend(answer.problems);
    Verification {
        ok: problems.is_empty(),
        version: reported,
        problems,
        notes: Vec::new(),
    }
}

/// Run the script with `python`, isolated, with a timeout; the parsed answer or why not.
fn run(python: &Path, request: &Request, timeout: Duration) -> Result<Answer, String> {
    let request = serde_json::to_string(request).map_err(|e| e.to_string())?;
    let mut command = Command::new(python);
    command
        .args(["-I", "-B", "-c", SCRIPT, &request])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir("/");
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("PYTHON")
            || k.starts_with("PIP_")
            || k.starts_with("VIRTUAL_ENV")
            || k == "__PYVENV_LAUNCHER__"
        {
            command.env_remove(&key);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not finish within {} s and was killed",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("could not wait for it: {e}")),
        }
    };
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    let answer = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(MARKER));
    match answer {
        Some(json) if status.success() => {
            serde_json::from_str(json).map_err(|e| format!("gave an unreadable answer: {e}"))
        }
        _ => {
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output");
            Err(format!("failed ({status}): {}", last.trim()))
        }
    }
}

/// The top-level modules of the venv's distributions (to find) and the compiled modules among
/// them (to import); second, the names metadata lists that have nothing in site-packages.
fn modules_to_check(site_packages: &Path) -> (Request, Vec<String>) {
    let TopLevel { present, missing } = top_level(site_packages);
    let mut import = Vec::new();
    for name in &present {
        compiled_modules(site_packages, name, &mut import);
    }
    import.sort();
    import.dedup();
    import.truncate(MAX_IMPORTS);
    let request = Request {
        find: present,
        import,
    };
    (request, missing)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `foo.py`, `foo.cpython-38-x86_64-linux-gnu.so`, `foo` → `foo`.
fn module_name(entry: &str) -> &str {
    entry.split('.').next().unwrap_or(entry)
}

/// Top-level names from each `*.dist-info` / `*.egg-info`: `top_level.txt`, else the first
/// components of `RECORD`; with no metadata at all, the entries of site-packages. Only names
/// that have an entry in site-packages are returned (see [`has_entry`]).
pub fn top_level_names(site_packages: &Path) -> Vec<String> {
    top_level(site_packages).present
}

/// The top-level names metadata lists, split by whether site-packages has an entry for them.
#[derive(Debug, Default, PartialEq, Eq)]
struct TopLevel {
    present: Vec<String>,
    /// Listed but with no entry: stale metadata, such as `debian` in the `top_level.txt` of
    /// Debian's setuptools 66, or a module provided by a `.pth` path; never a failure.
    missing: Vec<String>,
}

/// Whether site-packages (its entry names) has something that imports as top-level `name`: a
/// directory or file `name`, `name.py`, `name.pyc`, or an extension `name.*.so` / `name.*.pyd`.
/// Paths added by `.pth` files are not followed.
fn has_entry(entries: &[String], name: &str) -> bool {
    entries.iter().any(|entry| {
        entry == name
            || entry
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|ext| {
                    matches!(ext, "py" | "pyc" | "so" | "pyd")
                        || ext.ends_with(".so")
                        || ext.ends_with(".pyd")
                })
    })
}

fn top_level(site_packages: &Path) -> TopLevel {
    let Ok(dir) = fs::read_dir(site_packages) else {
        return TopLevel::default();
    };
    let entries: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = Vec::new();
    let mut any_metadata = false;
    for entry in &entries {
        if !(entry.ends_with(".dist-info") || entry.ends_with(".egg-info")) {
            continue;
        }
        any_metadata = true;
        let meta = site_packages.join(entry);
        let read = |name: &str, limit| safe_read::read_text(&meta.join(name), limit, Follow::Links);
        if let Ok(text) = read("top_level.txt", safe_read::limit::SMALL) {
            names.extend(text.lines().map(|l| l.trim().to_string()));
        } else if let Ok(text) = read("RECORD", safe_read::limit::RECORD) {
            for line in text.lines() {
                let path = match line.strip_prefix('"') {
                    Some(rest) => rest.split('"').next().unwrap_or(""),
                    None => line.split(',').next().unwrap_or(""),
                };
                let first = path.split('/').next().unwrap_or("");
                if path.contains('/') || first.ends_with(".py") || first.ends_with(".so") {
                    names.push(first.to_string());
                }
            }
        }
    }
    if !any_metadata {
        names.extend(entries.iter().cloned());
    }
    let mut names: Vec<String> = names
        .iter()
        .filter(|n| {
            !(n.ends_with(".dist-info")
                || n.ends_with(".egg-info")
                || n.ends_with(".data")
                || n.ends_with(".pth")
                || n.as_str() == ".."
                || n.as_str() == "__pycache__"
                || n.as_str() == "bin")
        })
        .map(|n| module_name(n).to_string())
        .filter(|n| is_identifier(n))
        .collect();
    names.sort();
    names.dedup();
    let (present, missing) = names.into_iter().partition(|n| has_entry(&entries, n));
    TopLevel { present, missing }
}

/// Dotted names of the `.so` modules of top-level `name` (a package dir, walked without
/// following links, or a single extension module).
fn compiled_modules(site_packages: &Path, name: &str, out: &mut Vec<String>) {
    let dir = site_packages.join(name);
    match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => walk(&dir, name, 0, out),
        _ => {
            let Ok(entries) = fs::read_dir(site_packages) else {
                return;
            };
            for entry in entries.filter_map(Result::ok) {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.ends_with(".so") && module_name(&file) == name {
                    out.push(name.to_string());
                }
            }
        }
    }
}

fn walk(dir: &Path, dotted: &str, depth: usize, out: &mut Vec<String>) {
    if depth > 8 || out.len() >= MAX_IMPORTS {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && is_identifier(&file) {
            walk(&entry.path(), &format!("{dotted}.{file}"), depth + 1, out);
        } else if kind.is_file() && file.ends_with(".so") && is_identifier(module_name(&file)) {
            out.push(format!("{dotted}.{}", module_name(&file)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_from_metadata_and_compiled_modules() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path();
        fs::create_dir_all(sp.join("markupsafe")).unwrap();
        fs::write(sp.join("markupsafe/__init__.py"), "").unwrap();
        fs::write(
            sp.join("markupsafe/_speedups.cpython-38-x86_64-linux-gnu.so"),
            "",
        )
        .unwrap();
        fs::create_dir_all(sp.join("MarkupSafe-2.1.5.dist-info")).unwrap();
        fs::write(
            sp.join("MarkupSafe-2.1.5.dist-info/top_level.txt"),
            "markupsafe\n",
        )
        .unwrap();
        fs::write(sp.join("six.py"), "").unwrap();
        fs::create_dir_all(sp.join("six-1.16.0.dist-info")).unwrap();
        fs::write(
            sp.join("six-1.16.0.dist-info/RECORD"),
            "six.py,sha256=x,1\nsix-1.16.0.dist-info/RECORD,,\n__pycache__/six.cpython-38.pyc,,\n../../../bin/x,,\n",
        )
        .unwrap();
        let (request, missing) = modules_to_check(sp);
        assert_eq!(request.find, vec!["markupsafe", "six"]);
        assert_eq!(request.import, vec!["markupsafe._speedups"]);
        assert!(missing.is_empty(), "{missing:?}");
    }

    #[test]
    fn listed_names_without_an_entry_are_skipped_not_looked_for() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path();
        // Debian's setuptools 66.1.1: `debian` is listed, nothing of that name is installed.
        let dist = sp.join("setuptools-66.1.1.dist-info");
        fs::create_dir_all(&dist).unwrap();
        fs::write(
            dist.join("top_level.txt"),
            "_distutils_hack\ndebian\npkg_resources\nsetuptools\n",
        )
        .unwrap();
        for dir in ["_distutils_hack", "pkg_resources", "setuptools"] {
            fs::create_dir(sp.join(dir)).unwrap();
        }
        let other = sp.join("other-1.0.dist-info");
        fs::create_dir_all(&other).unwrap();
        fs::write(
            other.join("top_level.txt"),
            "plain\nsourceless\nfast\nwinext\ngone\nfast_helper\n",
        )
        .unwrap();
        fs::write(sp.join("plain.py"), "").unwrap();
        fs::write(sp.join("sourceless.pyc"), "").unwrap();
        fs::write(sp.join("fast.cpython-311-x86_64-linux-gnu.so"), "").unwrap();
        fs::write(sp.join("winext.cp311-win_amd64.pyd"), "").unwrap();
        // Entries that only look like `gone` / `fast_helper`: metadata, a `.pth`, another name.
        fs::create_dir(sp.join("gone-2.0.dist-info")).unwrap();
        fs::write(sp.join("gone.pth"), "").unwrap();
        fs::write(sp.join("fast_helper_extra.py"), "").unwrap();
        let (request, missing) = modules_to_check(sp);
        assert_eq!(
            request.find,
            vec![
                "_distutils_hack",
                "fast",
                "pkg_resources",
                "plain",
                "setuptools",
                "sourceless",
                "winext"
            ]
        );
        assert_eq!(missing, vec!["debian", "fast_helper", "gone"]);
        // Compiled modules are still imported.
        assert_eq!(request.import, vec!["fast"]);
        assert_eq!(top_level_names(sp), request.find);
    }

    #[test]
    fn without_metadata_site_packages_entries_are_used() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("hello.py"), "").unwrap();
        fs::write(tmp.path().join("distutils-precedence.pth"), "").unwrap();
        fs::create_dir(tmp.path().join("__pycache__")).unwrap();
        assert_eq!(top_level_names(tmp.path()), vec!["hello"]);
    }
}
