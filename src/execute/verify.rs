//! Verification (DESIGN.md rule 7): after a repair, run the venv's own interpreter, isolated,
//! and check that it is the intended Python, that it sees the venv's site-packages, that its
//! standard library is whole, and that the venv's packages import.
//!
//! Before anything runs, the venv's `bin/python` must resolve (canonically) to an installation
//! the inventory found, or be a byte-identical copy of one: anything else is reported, never
//! executed (rule 2), and what runs is always the installation's own file. It runs with `-I -B`
//! (no user site, no environment, no bytecode written into the venv; `-E -s` for Python 2), a
//! scrubbed environment, stdin from `/dev/null` and a timeout, twice at once: one run checks
//! the standard library, the other imports the packages. An embedded script answers in hex
//! lines; the judgement is made here. This module never changes the venv.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;
use wait_timeout::ChildExt;

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

/// What verification runs, twice at the same time in two interpreters: `SCRIPT stdlib` with
/// `-S` (the standard library does not depend on `site`; `pyvenv.cfg` is found without it;
/// but a Python 2 virtualenv's own `site.py` is what finds it),
/// and `SCRIPT packages NAME...` as the user's code runs. Python 2.7 / 3.6+ compatible: no
/// f-strings. The answer goes to stdout after a marker line, because importing a package may
/// print; `os._exit` at the end, because an imported package may leave a non-daemon thread.
/// No `json` (it costs `re`, more than the rest of the check): one line per value, `key hex`
/// (the hex of the exact bytes), then `end`.
///
/// The standard library: modules whose import needs its pure-Python part and extension modules
/// of this build's ABI (`_ssl` also the libssl an OS upgrade may have removed), the version,
/// and the extension suffixes the interpreter loads.
const SCRIPT: &str = r#"
import sys, os
real_stdout = sys.stdout
sys.stdout = sys.stderr
def hx(s):
    import binascii
    if not isinstance(s, bytes):
        try:
            s = os.fsencode(s)
        except AttributeError:
            s = s.encode("utf-8", "replace")
    return binascii.hexlify(s).decode("ascii")
def text(s):
    try:
        return hx(s.encode("utf-8", "replace"))
    except BaseException:
        return hx(s)
def failure(what, name, e):
    try:
        return text("%s: `import %s` fails: %s: %s" % (what, name, type(e).__name__, e))
    except BaseException:
        return text("%s: `import %s` fails: %s" % (what, name, type(e).__name__))
def stdlib(lines):
    for name in ("_struct", "_json", "math", "os", "encodings", "_ssl"):
        try:
            __import__(name)
        except BaseException as e:
            # `_ssl` is optional in a build; any other failure to load it is what is looked for.
            absent = type(e).__name__ == "ModuleNotFoundError" or str(e) == "No module named " + name
            if name != "_ssl" or not absent:
                lines.append("problem " + failure("standard library", name, e))
    lines.append("version " + text("%d.%d.%d" % tuple(sys.version_info[:3])))
    try:
        import _imp
        suffixes = list(_imp.extension_suffixes())
    except BaseException:
        import imp
        suffixes = [s for (s, _, kind) in imp.get_suffixes() if kind == imp.C_EXTENSION]
    for suffix in suffixes:
        lines.append("suffix " + text(suffix))
def packages(lines, names):
    for name in names:
        try:
            __import__(name)
        except BaseException as e:
            lines.append("problem " + failure("package", name, e))
            lines.append("failed " + text(name))
    lines.append("prefix " + hx(sys.prefix))
    for entry in sys.path:
        lines.append("path " + hx(entry))
def main():
    lines = []
    if sys.argv[1] == "stdlib":
        stdlib(lines)
    else:
        packages(lines, sys.argv[2:])
    real_stdout.write("\nVENVFIX-VERIFY:\n" + "\n".join(lines) + "\nend\n")
    real_stdout.flush()
main()
os._exit(0)
"#;

const MARKER: &str = "VENVFIX-VERIFY:";
/// Top-level names imported per venv, at most: what a user's code imports, in bounded time.
const MAX_IMPORTS: usize = 200;
/// Extension module files checked per venv, at most.
const MAX_EXTENSIONS: usize = 5000;

#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    import: Vec<String>,
}

/// What the two runs of [`SCRIPT`] answered, together (each fills its own part).
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    /// `major.minor.patch`.
    version: Option<String>,
    prefix: PathBuf,
    path: Vec<PathBuf>,
    problems: Vec<String>,
    /// The top-level names whose import failed (each also has a line in `problems`).
    failed: Vec<String>,
    /// `importlib.machinery.EXTENSION_SUFFIXES`: the only file name endings the interpreter
    /// loads extension modules from.
    extension_suffixes: Vec<String>,
}

impl Answer {
    /// Parse the lines after the marker; `None` unless they end with `end` and every line is a
    /// known key with valid hex.
    fn parse(lines: &str) -> Option<Answer> {
        use std::os::unix::ffi::OsStringExt;
        let mut answer = Answer::default();
        for line in lines.lines().filter(|l| !l.is_empty()) {
            if line == "end" {
                return Some(answer);
            }
            let (key, value) = line.split_once(' ')?;
            let bytes = unhex(value)?;
            let text = || String::from_utf8_lossy(&bytes).into_owned();
            match key {
                "version" => answer.version = Some(text()),
                "prefix" => answer.prefix = PathBuf::from(std::ffi::OsString::from_vec(bytes)),
                "path" => answer
                    .path
                    .push(PathBuf::from(std::ffi::OsString::from_vec(bytes))),
                "problem" => answer.problems.push(text()),
                "failed" => answer.failed.push(text()),
                "suffix" => answer.extension_suffixes.push(text()),
                _ => return None,
            }
        }
        None
    }

    /// The standard library's answer and the packages' answer, as one.
    fn merge(stdlib: Answer, packages: Answer) -> Answer {
        let mut problems = stdlib.problems;
        problems.extend(packages.problems);
        Answer {
            version: stdlib.version,
            prefix: packages.prefix,
            path: packages.path,
            problems,
            failed: packages.failed,
            extension_suffixes: stdlib.extension_suffixes,
        }
    }
}

/// `"2f746d70"` → `b"/tmp"`; `None` for anything but pairs of hex digits.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Every interpreter entry of the repaired venv must lead to the installation that was run
/// (a link to it, or a byte-identical copy of it): one entry left on the old base is a venv
/// that breaks for whoever types that name. Read only, nothing else is run.
fn entries_disagree(
    venv: &Path,
    installation: &crate::inventory::Installation,
    inventory: &Inventory,
) -> Option<String> {
    let model = crate::venv::Venv::inspect(venv).ok()?;
    let same_file =
        |file: &Path| file == installation.path || installation.aliases.iter().any(|a| a == file);
    for entry in &model.interpreters {
        let fine = match &entry.leads {
            crate::venv::Leads::Base(file) => same_file(file),
            // Only an installation of the same size is read, never more than its size.
            crate::venv::Leads::Copy(file) => inventory
                .copied_in(file)
                .is_some_and(|i| i.path == installation.path),
            crate::venv::Leads::Nowhere(_) => false,
        };
        if !fine {
            return Some(format!(
                "`bin/{}` does not lead to `{}` after the repair",
                entry.name,
                installation.path.display()
            ));
        }
    }
    None
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

/// The venv's entry interpreter, as accepted by the exec gate (rule 2): `python` leads to
/// `installation`, an installed Python discovery found (or is a byte-identical copy of it). What
/// actually runs is decided right before each start by [`exec_target`].
struct Gated<'a> {
    /// The venv's entry (`bin/python`): `argv[0]` of every run, so Python finds `pyvenv.cfg`.
    python: PathBuf,
    /// `python` relative to the venv, for messages.
    shown: String,
    installation: &'a crate::inventory::Installation,
    /// When the entry was accepted as a copy: the device and inode of the file in the venv the
    /// gate compared (what the entry leads to, through any link in the venv).
    copy: Option<(u64, u64)>,
}

impl Gated<'_> {
    /// What to execute now: the installation's own file (same device and inode as what the
    /// entry leads to at this instant, or the entry still leads to the copy the gate compared),
    /// never the entry.
    fn program(&self) -> Result<PathBuf, String> {
        exec_target(&self.python, &self.installation.path, self.copy).ok_or_else(|| {
            format!(
                "`{}` is no longer `{}` (device and inode differ); it was not run",
                self.shown,
                self.installation.path.display()
            )
        })
    }
}

/// Accept the venv's entry interpreter only if it is a discovered installation (see [`Gated`]);
/// otherwise why it is not run. Runs nothing.
fn gate<'a>(
    venv: &Path,
    target: Option<&PythonVersion>,
    inventory: &'a Inventory,
) -> Result<Gated<'a>, String> {
    let python = venv_python(venv, target);
    let shown = python
        .strip_prefix(venv)
        .unwrap_or(&python)
        .display()
        .to_string();
    use std::os::unix::fs::MetadataExt;
    let mut copy = None;
    let known = inventory.find(&python).or_else(|| {
        let installation = copied_installation(venv, &python, inventory)?;
        copy = fs::metadata(&python).ok().map(|m| (m.dev(), m.ino()));
        Some(installation)
    });
    if let Some(special) = through_special(&python) {
        return Err(format!(
            "`{shown}` leads through `{}`; venvfix never follows links into /proc or /dev, it \
             was not run",
            special.display()
        ));
    }
    let Some(installation) = known else {
        let resolved = match fs::canonicalize(&python) {
            Ok(path) => format!("resolves to `{}`", path.display()),
            Err(e) => format!("does not resolve ({e})"),
        };
        return Err(format!(
            "`{shown}` {resolved}, which is not an installed Python venvfix found; it was not run"
        ));
    };
    Ok(Gated {
        python,
        shown,
        installation,
        copy,
    })
}

/// The installation the venv's entry `python` is a byte-identical copy of (a `--copies` venv,
/// or a copy the repair just wrote): a regular file inside the venv with the same bytes as a
/// discovered installation's executable. Only files of the same size are read.
fn copied_installation<'a>(
    venv: &Path,
    python: &Path,
    inventory: &'a Inventory,
) -> Option<&'a crate::inventory::Installation> {
    let copy = fs::canonicalize(python).ok()?;
    if !copy.starts_with(venv) {
        return None;
    }
    inventory.copied_in(&copy)
}

/// Verify the venv at `venv` (canonical root) against the plan's `target` version. With
/// `pip` (a relocation rewrote `bin/pip`), also run `bin/pip --version` through the same gate,
/// as the user will notice the relocation.
pub fn verify(
    venv: &Path,
    target: Option<&PythonVersion>,
    inventory: &Inventory,
    timeout: Duration,
    pip: bool,
) -> Verification {
    let gated = match gate(venv, target, inventory) {
        Ok(gated) => gated,
        Err(problem) => return Verification::failed(problem),
    };
    let (python, shown, installation) = (&gated.python, &gated.shown, gated.installation);
    if let Some(problem) = entries_disagree(venv, installation, inventory) {
        return Verification::failed(problem);
    }
    let version = target.copied().unwrap_or(installation.version);
    let site_packages = venv
        .join("lib")
        .join(format!("python{}", version.short()))
        .join("site-packages");
    let checks = modules_to_check(&site_packages);
    // What runs is the discovered installation itself (its real path, checked by device and
    // inode right before the start), named as the venv's entry so Python finds `pyvenv.cfg`
    // as it does when the user runs it; for a byte-identical copy in the venv too.
    let program = match gated.program() {
        Ok(program) => program,
        Err(problem) => return Verification::failed(problem),
    };
    let answer = match run(&program, python, &version, &checks.request, timeout) {
        Ok(answer) => answer,
        Err(problem) => return Verification::failed(format!("`{shown}`: {problem}")),
    };
    let failed = answer.failed.clone();
    let suffixes = answer.extension_suffixes.clone();
    let mut verification = judge(venv, &version, &site_packages, answer);
    verification.problems.extend(unloadable_extensions(
        &checks.extensions,
        &suffixes,
        &version,
    ));
    if !failed.is_empty() {
        same_in_a_fresh_venv(
            &mut verification,
            &gated,
            &version,
            &site_packages,
            &failed,
            timeout,
        );
    }
    if verification.problems.is_empty() && pip {
        match verify_pip(venv, &gated, inventory, timeout) {
            Ok(Some(version)) => verification
                .notes
                .push(format!("`bin/pip --version`: {version}")),
            Ok(None) => {}
            Err(problem) => verification.problems.push(problem),
        }
    }
    verification.ok = verification.problems.is_empty();
    verification.notes.extend(checks.missing.iter().map(|name| {
        format!("a distribution lists top-level module `{name}`, which is not in site-packages; not checked")
    }));
    if checks.skipped_tests > 0 {
        verification.notes.push(format!(
            "{} top-level test module{} not imported (tests may need what only a test run \
             provides)",
            checks.skipped_tests,
            if checks.skipped_tests == 1 { "" } else { "s" }
        ));
    }
    verification
}

/// Extension module files whose name the interpreter would not load: the part after the
/// module name must be one of `EXTENSION_SUFFIXES` (`_speedups.cpython-38-x86_64-linux-gnu.so`
/// is invisible to 3.11, which looks for `.cpython-311-x86_64-linux-gnu.so`, `.abi3.so`, `.so`).
fn unloadable_extensions(
    extensions: &[Extension],
    suffixes: &[String],
    version: &PythonVersion,
) -> Vec<String> {
    if suffixes.is_empty() {
        return Vec::new();
    }
    let loadable = |e: &Extension| suffixes.contains(&e.suffix);
    // A module may ship files for several ABIs; one the interpreter loads is enough.
    let has_loadable = |dotted: &str| extensions.iter().any(|e| e.dotted == dotted && loadable(e));
    extensions
        .iter()
        .filter(|e| !loadable(e) && !has_loadable(&e.dotted))
        .map(|e| {
            format!(
                "extension module `{}` (`{}`) cannot be loaded by Python {version}: its file \
                 name ends in `{}`, not in one of `{}`",
                e.dotted,
                e.file.display(),
                e.suffix,
                suffixes.join("`, `")
            )
        })
        .collect()
}

/// Failures to import after other packages were imported can be those packages' doing
/// (setuptools refuses to import once the stdlib's `distutils` is loaded), so each failed name is
/// imported again on its own, first in the repaired venv, then in a fresh venv of the same base
/// that sees the same site-packages. What imports on its own is no problem; what fails the same
/// way in the fresh venv is not caused by the repair (a package broken everywhere), so it is a
/// note and the repair is kept; only a failure the fresh venv does not have stays a problem.
fn same_in_a_fresh_venv(
    verification: &mut Verification,
    gated: &Gated<'_>,
    version: &PythonVersion,
    site_packages: &Path,
    failed: &[String],
    timeout: Duration,
) {
    const MAX_RETRIED: usize = 20;
    let import_problem = |name: &str| format!("package: `import {name}` fails");
    let mut fresh: Option<Result<PathBuf, String>> = None;
    let scratch = tempfile::Builder::new().prefix("venvfix-verify-").tempdir();
    for name in failed.iter().take(MAX_RETRIED) {
        let Some(index) = verification
            .problems
            .iter()
            .position(|p| p.starts_with(&import_problem(name)))
        else {
            continue;
        };
        // In the repaired venv through the gate, as every run of its entry.
        let alone = match gated
            .program()
            .and_then(|program| import_alone(&program, &gated.python, version, name, timeout))
        {
            Ok(None) => {
                let problem = verification.problems.remove(index);
                verification.notes.push(format!(
                    "{problem} after the other packages were imported, but imports on its own"
                ));
                continue;
            }
            Ok(Some(problem)) => problem,
            Err(_) => continue,
        };
        let fresh_python = fresh.get_or_insert_with(|| match &scratch {
            Ok(dir) => fresh_venv(&gated.installation.path, version, site_packages, dir.path()),
            Err(e) => Err(format!("no temp dir: {e}")),
        });
        let there = match fresh_python {
            // A venv venvfix itself just made from the installation: run as it is.
            Ok(fresh_python) => import_alone(fresh_python, fresh_python, version, name, timeout),
            Err(why) => Err(why.clone()),
        };
        match there {
            Ok(Some(problem)) if problem == alone => {
                verification.problems.remove(index);
                verification.notes.push(format!(
                    "{alone}; it fails the same way in a fresh venv of Python {version} with the \
                     same packages, so the repair is not the cause"
                ));
            }
            Ok(_) => {
                verification.problems[index] = format!(
                    "{alone} (in a fresh venv of Python {version} with the same packages it \
                     does not, so the repair is the cause)"
                );
            }
            Err(why) => verification.notes.push(format!(
                "could not compare `import {name}` with a fresh venv: {why}"
            )),
        }
    }
}

/// Import `name` alone with `program` run as `python` (its `argv[0]`): `None` if it imports,
/// else the problem line.
fn import_alone(
    program: &Path,
    python: &Path,
    version: &PythonVersion,
    name: &str,
    timeout: Duration,
) -> Result<Option<String>, String> {
    let request = Request {
        import: vec![name.to_string()],
    };
    let answer = run_script(program, python, version, Some(&request), timeout)?;
    let prefix = format!("package: `import {name}` fails");
    Ok(answer.problems.into_iter().find(|p| p.starts_with(&prefix)))
}

/// Make a throw-away venv of `base` in `dir` whose site-packages adds `site_packages` (a `.pth`
/// line); its interpreter.
fn fresh_venv(
    base: &Path,
    version: &PythonVersion,
    site_packages: &Path,
    dir: &Path,
) -> Result<PathBuf, String> {
    let fresh = dir.join("venv");
    if version.major < 3 {
        return Err(format!("Python {version} has no `venv` module"));
    }
    let status = Command::new(base)
        .args(["-I", "-B", "-m", "venv", "--without-pip"])
        .arg(&fresh)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("could not start `{}`: {e}", base.display()))?;
    if !status.success() {
        return Err(format!("`{} -m venv` failed ({status})", base.display()));
    }
    let fresh_site = fresh
        .join("lib")
        .join(format!("python{}", version.short()))
        .join("site-packages");
    let line = format!("{}\n", site_packages.display());
    fs::write(fresh_site.join("venvfix-same-packages.pth"), line)
        .map_err(|e| format!("could not write into `{}`: {e}", fresh_site.display()))?;
    Ok(fresh.join("bin/python"))
}

fn judge(venv: &Path, want: &PythonVersion, site_packages: &Path, answer: Answer) -> Verification {
    let mut problems = Vec::new();
    let reported: Option<PythonVersion> = answer.version.as_deref().and_then(|v| v.parse().ok());
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

/// The first link target on the way to `path` (any component, hop by hop) that is in `/proc`
/// or `/dev`, where a link means something else to every process.
fn through_special(path: &Path) -> Option<PathBuf> {
    let special = |p: &Path| p.starts_with("/proc") || p.starts_with("/dev");
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut at = PathBuf::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        let next = at.join(&part);
        match fs::read_link(&next) {
            Ok(target) if hops < 40 => {
                hops += 1;
                let resolved = if target.is_absolute() {
                    target.clone()
                } else {
                    at.join(&target)
                };
                if special(&resolved) || special(&crate::links::normalize(&resolved)) {
                    return Some(target);
                }
                if target.is_absolute() {
                    at = PathBuf::new();
                }
                pending.extend(
                    target
                        .components()
                        .rev()
                        .map(|c| c.as_os_str().to_os_string()),
                );
            }
            _ => at = crate::links::normalize(&next),
        }
    }
    None
}

/// What to execute for the venv entry `python` known as `installation`: always the
/// installation's own file, when `python` leads to it (same device and inode now) or still
/// leads to `copy`, the byte-identical copy in the venv the gate compared (the same program;
/// Python finds `pyvenv.cfg` by `argv[0]`, so it behaves as the copy does, while nothing from
/// the venv is executed); `None` when neither holds.
fn exec_target(python: &Path, installation: &Path, copy: Option<(u64, u64)>) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let id = |m: &fs::Metadata| (m.dev(), m.ino());
    let entry = id(&fs::metadata(python).ok()?);
    let installed = id(&fs::metadata(installation).ok()?);
    (entry == installed || copy == Some(entry))
        .then(|| fs::canonicalize(installation).ok())
        .flatten()
}

/// The options that run a Python of `version` isolated from the user's environment and site
/// dir: `-I`, which Python 2 does not know (it stops with "Unknown option: -I"): there `-E -s`.
pub fn isolated(version: &PythonVersion) -> &'static [&'static str] {
    if version.major < 3 {
        &["-E", "-s"]
    } else {
        &["-I"]
    }
}

/// Run [`SCRIPT`] twice at the same time with `program` (as `python`: its `argv[0]`, a Python
/// of `version`), isolated, with a timeout: the standard library's check and the packages'
/// imports, answered together, or why not.
fn run(
    program: &Path,
    python: &Path,
    version: &PythonVersion,
    request: &Request,
    timeout: Duration,
) -> Result<Answer, String> {
    let (stdlib, packages) = std::thread::scope(|scope| {
        let stdlib = scope.spawn(|| run_script(program, python, version, None, timeout));
        let packages = run_script(program, python, version, Some(request), timeout);
        let stdlib = stdlib
            .join()
            .unwrap_or_else(|_| Err("the check of the standard library panicked".into()));
        (stdlib, packages)
    });
    Ok(Answer::merge(stdlib?, packages?))
}

/// One run of [`SCRIPT`]: the standard library's check without `request`, else the packages'
/// imports.
fn run_script(
    program: &Path,
    python: &Path,
    version: &PythonVersion,
    request: Option<&Request>,
    timeout: Duration,
) -> Result<Answer, String> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    command.arg0(python).args(isolated(version));
    match request {
        // A Python 2 virtualenv finds its standard library through the `site.py` it carries.
        None if version.major < 3 => command.args(["-B", "-c", SCRIPT, "stdlib"]),
        None => command.args(["-S", "-B", "-c", SCRIPT, "stdlib"]),
        Some(request) => command
            .args(["-B", "-c", SCRIPT, "packages"])
            .args(&request.import),
    };
    let (status, stdout, stderr) = run_bounded(command, timeout)?;
    let answer = stdout
        .rfind(&format!("\n{MARKER}\n"))
        .map(|at| &stdout[at + MARKER.len() + 2..]);
    match answer {
        Some(lines) if status.success() => {
            Answer::parse(lines).ok_or_else(|| "gave an unreadable answer".to_string())
        }
        _ => Err(failure(status, &stderr)),
    }
}

fn failure(status: std::process::ExitStatus, stderr: &str) -> String {
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    format!("failed ({status}): {}", last.trim())
}

/// Run `command` with a scrubbed environment (no `PYTHON*`, `PIP_*`, `VIRTUAL_ENV*`; no
/// bytecode written), stdin
/// from `/dev/null`, in `/`, killed after `timeout`: its status, stdout and stderr.
fn run_bounded(
    mut command: Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir("/");
    super::children::contain(&mut command);
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
    // Nothing it runs may write into the venv: a script run by its shebang cannot get `-B`.
    command.env("PYTHONDONTWRITEBYTECODE", "1");
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
    // Woken by the child's exit (no polling): verification is on every repair's critical path.
    let status = match child.wait_timeout(timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "did not finish within {} s and was killed",
                timeout.as_secs()
            ));
        }
        Err(e) => return Err(format!("could not wait for it: {e}")),
    };
    let stdout = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    Ok((status, stdout, stderr))
}

/// After a relocation: check that `bin/pip` runs this venv's pip, the way a user will notice
/// it. Its shebang (either form) must lead to the same file as the venv's entry interpreter,
/// which passed [`verify`]'s exec gate (`gated`); then the installation itself runs `bin/pip
/// --version` as its script (pip's `/bin/sh` trampoline is valid Python too). The shebang is
/// never followed: what the kernel or `/bin/sh` would execute is only read (rule 2).
/// `Ok(None)`: no `bin/pip`.
fn verify_pip(
    venv: &Path,
    gated: &Gated<'_>,
    inventory: &Inventory,
    timeout: Duration,
) -> Result<Option<String>, String> {
    let pip = venv.join("bin/pip");
    let Some(head) = crate::scripts::read_script_head(&pip) else {
        return Ok(None);
    };
    let Some((_, interpreter)) = crate::scripts::shebang(&head) else {
        return Err("`bin/pip` has no shebang naming an interpreter".into());
    };
    // The same file as the verified entry, or (a `--copies` venv, where `python3.11` is a copy
    // of its own) another copy of the same installation.
    let same = match (
        fs::canonicalize(&interpreter),
        fs::canonicalize(&gated.python),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    } || copied_installation(venv, &interpreter, inventory)
        .is_some_and(|i| i.path == gated.installation.path);
    if !same {
        return Err(format!(
            "`bin/pip` runs `{}`, not the venv's verified interpreter; it was not run",
            interpreter.display()
        ));
    }
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(gated.program()?);
    // `argv[0]` as the kernel would pass it for the shebang.
    command.arg0(&interpreter).arg(&pip).arg("--version");
    let (status, stdout, stderr) =
        run_bounded(command, timeout).map_err(|e| format!("`bin/pip --version` {e}"))?;
    if !status.success() {
        return Err(format!("`bin/pip --version` {}", failure(status, &stderr)));
    }
    // `pip 23.2.1 from /venv/lib/python3.11/site-packages/pip (python 3.11)`
    let location = stdout
        .split(" from ")
        .nth(1)
        .and_then(|rest| rest.rsplit_once(" (python"))
        .map(|(path, _)| PathBuf::from(path.trim()));
    let inside = location.as_ref().is_some_and(|path| {
        match (fs::canonicalize(path), fs::canonicalize(venv)) {
            (Ok(p), Ok(v)) => p.starts_with(v),
            _ => false,
        }
    });
    if !inside {
        return Err(format!(
            "`bin/pip --version` says `{}`: it is not this venv's pip",
            stdout.trim()
        ));
    }
    Ok(Some(stdout.trim().to_string()))
}

/// What verification checks in one site-packages.
#[derive(Debug, Default, PartialEq, Eq)]
struct Checks {
    /// Top-level names to import, as a user's code does.
    request: Request,
    /// Every extension module file of those packages, to check its name's suffix.
    extensions: Vec<Extension>,
    /// Names metadata lists that have nothing in site-packages.
    missing: Vec<String>,
    /// Top-level test packages left out of the imports.
    skipped_tests: usize,
}

/// One extension module file in site-packages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Extension {
    /// `markupsafe._speedups`.
    dotted: String,
    /// Relative to site-packages.
    file: PathBuf,
    /// Everything after the module name: `.cpython-311-x86_64-linux-gnu.so`.
    suffix: String,
}

/// The top-level modules of the venv's distributions (to import) and the extension module
/// files among them (to check by name, never to import: a package's own test extensions, like
/// numpy's `core._umath_tests`, may refuse to import in any healthy venv).
fn modules_to_check(site_packages: &Path) -> Checks {
    let TopLevel { present, missing } = top_level(site_packages);
    let mut extensions = Vec::new();
    for name in &present {
        extension_files(site_packages, name, &mut extensions);
    }
    extensions.sort_by(|a, b| a.file.cmp(&b.file));
    extensions.dedup();
    extensions.truncate(MAX_EXTENSIONS);
    let (tests, mut import): (Vec<String>, Vec<String>) =
        present.into_iter().partition(|n| is_test_module(n));
    // setuptools replaces the stdlib's `distutils` and refuses to import once that is loaded
    // (`import pip` loads it): it goes first, as a build script would import it.
    import.sort_by_key(|n| n != "setuptools");
    import.truncate(MAX_IMPORTS);
    Checks {
        request: Request { import },
        extensions,
        missing,
        skipped_tests: tests.len(),
    }
}

/// Top-level names no user code imports and that may need a test runner or run code on import:
/// `test`, `tests`, `testing`, `conftest`, `test_*`, `*_test(s)`, and `setup` (a stray
/// `setup.py` runs setuptools when imported).
fn is_test_module(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "test" | "tests" | "testing" | "conftest" | "setup"
    ) || lower.starts_with("test_")
        || lower.ends_with("_test")
        || lower.ends_with("_tests")
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

/// The extension module files of top-level `name` (a package dir, walked without following
/// links, or a single extension module beside it).
fn extension_files(site_packages: &Path, name: &str, out: &mut Vec<Extension>) {
    let dir = site_packages.join(name);
    match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => walk(&dir, Path::new(name), name, 0, out),
        _ => {
            let Ok(entries) = fs::read_dir(site_packages) else {
                return;
            };
            for entry in entries.filter_map(Result::ok) {
                let file = entry.file_name().to_string_lossy().into_owned();
                if is_extension_file(&file) && module_name(&file) == name {
                    out.push(extension(name.to_string(), PathBuf::from(&file), &file));
                }
            }
        }
    }
}

fn is_extension_file(file: &str) -> bool {
    file.ends_with(".so") || file.ends_with(".pyd")
}

fn extension(dotted: String, file: PathBuf, name: &str) -> Extension {
    let suffix = name[module_name(name).len()..].to_string();
    Extension {
        dotted,
        file,
        suffix,
    }
}

fn walk(dir: &Path, rel: &Path, dotted: &str, depth: usize, out: &mut Vec<Extension>) {
    if depth > 8 || out.len() >= MAX_EXTENSIONS {
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
            walk(
                &entry.path(),
                &rel.join(&file),
                &format!("{dotted}.{file}"),
                depth + 1,
                out,
            );
        } else if kind.is_file() && is_extension_file(&file) && is_identifier(module_name(&file)) {
            out.push(extension(
                format!("{dotted}.{}", module_name(&file)),
                rel.join(&file),
                &file,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script's answer as the real interpreters give it, non-UTF-8 paths exact; anything
    /// cut short or malformed is no answer at all.
    #[test]
    fn the_scripts_answers_are_parsed_exactly_and_only_when_complete() {
        use std::os::unix::ffi::OsStrExt;
        for python in ["/usr/bin/python3.11", "/usr/bin/python3"] {
            if !Path::new(python).exists() {
                continue;
            }
            let out = Command::new(python)
                .args([
                    "-I",
                    "-B",
                    "-c",
                    SCRIPT,
                    "packages",
                    "json",
                    "no_such_module_here",
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8(out.stdout).unwrap();
            let at = stdout.rfind(&format!("\n{MARKER}\n")).unwrap();
            let answer = Answer::parse(&stdout[at + MARKER.len() + 2..]).unwrap();
            assert_eq!(answer.failed, ["no_such_module_here"]);
            assert!(answer.problems[0].starts_with("package: `import no_such_module_here` fails"));
            assert!(!answer.path.is_empty());
            let out = Command::new(python)
                .args(["-I", "-S", "-B", "-c", SCRIPT, "stdlib"])
                .output()
                .unwrap();
            let stdout = String::from_utf8(out.stdout).unwrap();
            let at = stdout.rfind(&format!("\n{MARKER}\n")).unwrap();
            let answer = Answer::parse(&stdout[at + MARKER.len() + 2..]).unwrap();
            assert!(answer.problems.is_empty(), "{answer:?}");
            assert!(answer.version.unwrap().starts_with("3."));
            assert!(answer.extension_suffixes.contains(&".so".to_string()));
        }
        let odd = Answer::parse("prefix 2f6361ff\npath 2f61\nend\n").unwrap();
        assert_eq!(odd.prefix.as_os_str().as_bytes(), b"/ca\xff");
        assert_eq!(odd.path, [PathBuf::from("/a")]);
        assert_eq!(Answer::parse("prefix 2f61\n"), None, "no `end`");
        assert_eq!(Answer::parse("prefix 2f6\nend\n"), None, "odd hex");
        assert_eq!(Answer::parse("prefix zz\nend\n"), None, "not hex");
        assert_eq!(Answer::parse("other 2f61\nend\n"), None, "unknown key");
    }

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
        let checks = modules_to_check(sp);
        assert_eq!(checks.request.import, vec!["markupsafe", "six"]);
        assert_eq!(
            checks.extensions,
            vec![Extension {
                dotted: "markupsafe._speedups".into(),
                file: "markupsafe/_speedups.cpython-38-x86_64-linux-gnu.so".into(),
                suffix: ".cpython-38-x86_64-linux-gnu.so".into(),
            }]
        );
        assert!(checks.missing.is_empty(), "{:?}", checks.missing);
        let v38 = PythonVersion::new(3, 8, 18);
        let ok = [
            ".cpython-38-x86_64-linux-gnu.so".to_string(),
            ".abi3.so".into(),
            ".so".into(),
        ];
        assert!(unloadable_extensions(&checks.extensions, &ok, &v38).is_empty());
        let v311 = PythonVersion::new(3, 11, 7);
        let other = [
            ".cpython-311-x86_64-linux-gnu.so".to_string(),
            ".abi3.so".into(),
            ".so".into(),
        ];
        let problems = unloadable_extensions(&checks.extensions, &other, &v311);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("markupsafe._speedups"), "{problems:?}");
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
        let checks = modules_to_check(sp);
        assert_eq!(
            checks.request.import,
            vec![
                "setuptools",
                "_distutils_hack",
                "fast",
                "pkg_resources",
                "plain",
                "sourceless",
                "winext"
            ]
        );
        assert_eq!(checks.missing, vec!["debian", "fast_helper", "gone"]);
        // Extension modules are checked by name.
        let files: Vec<&str> = checks
            .extensions
            .iter()
            .map(|e| e.dotted.as_str())
            .collect();
        assert_eq!(files, vec!["fast", "winext"]);
    }

    #[test]
    fn test_packages_are_never_imported() {
        let tmp = tempfile::tempdir().unwrap();
        let sp = tmp.path();
        let dist = sp.join("x-1.0.dist-info");
        fs::create_dir_all(&dist).unwrap();
        fs::write(dist.join("top_level.txt"), "x\ntests\nsetup\nx_tests\n").unwrap();
        for dir in ["x", "tests", "x_tests"] {
            fs::create_dir(sp.join(dir)).unwrap();
        }
        fs::write(sp.join("setup.py"), "").unwrap();
        let checks = modules_to_check(sp);
        assert_eq!(checks.request.import, vec!["x"]);
        assert_eq!(checks.skipped_tests, 3);
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
