//! Recreating a venv in place: the last resort when no Python of the venv's minor is installed.
//!
//! Planning ([`recreate_spec`]) reads what is installed from the venv's metadata files
//! ([`crate::dists`]) and turns it into a [`RecreateSpec`]: requirement lines (exact pins,
//! editables, VCS commits, URLs), what is compiled, which pins the new Python is known not to
//! support (`Requires-Python`, checked by [`specifier_allows`]), the prompt, and the files the
//! creator did not make ([`carry_over`]). Building ([`build`]) runs as the executor's recreate
//! hook: the original venv has already been moved aside, and the new one is made at the
//! original path (so console-script shebangs are right) with `uv` when available, else
//! `python -m venv` and pip, honouring the user's pip/uv configuration. Installer output is
//! streamed to a callback; the library never prints.
//!
//! What this module must never do: run anything from the old venv (only the chosen installed
//! Python, the installer, and the *new* venv's interpreter run); delete or change the original
//! (the executor keeps it until the new venv verifies, and restores it on any error returned
//! from here); follow a symlink when copying carried-over files (links are copied as links).

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use crate::dists::{self, DistsError, FreezeOptions};
use crate::inventory::Installation;
use crate::plan::RecreateSpec;
use crate::venv::{Venv, is_interpreter_name};
use crate::version::PythonVersion;

/// How many lines of installer output an error message keeps.
const TAIL_LINES: usize = 40;

/// Entries at a venv's root that its creator (or the packages) made; everything else is the
/// user's and is carried over.
const CREATOR_ROOT_ENTRIES: &[&str] = &[
    "pyvenv.cfg",
    "bin",
    "lib",
    "lib64",
    "include",
    "share",
    ".gitignore",
    "CACHEDIR.TAG",
    // uv's lock file for the environment.
    ".lock",
];

/// Why a recreate could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum RecreateError {
    #[error("cannot read what is installed: {0}")]
    Dists(#[from] DistsError),
}

/// Why building the new venv failed. The executor puts the original back.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("could not run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not {op} `{}`: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{command}` failed ({status}){}{}",
        hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default(),
        render_tail(tail)
    )]
    Create {
        command: String,
        status: String,
        hint: Option<String>,
        tail: Vec<String>,
    },
    #[error("{}{}", install_summary(tool, failed.as_deref(), python, *pinned, *offline), render_tail(tail))]
    Install {
        tool: String,
        /// The requirement the installer named, when its output says which.
        failed: Option<String>,
        /// The new Python's version, for the hint.
        python: String,
        /// Whether `failed` is one of the venv's own pins (else a build dependency).
        pinned: bool,
        /// `--offline` was given.
        offline: bool,
        tail: Vec<String>,
    },
    #[error(
        "{} of the venv's pins cannot be installed on Python {python}: {}\nhint: recreate with \
         another `--python`, or relax those pins",
        pins.len(),
        pins.join("; ")
    )]
    Unavailable { python: String, pins: Vec<String> },
    #[error(
        "the reinstalled distributions are not consistent (`{command}` failed){}",
        render_tail(tail)
    )]
    Check { command: String, tail: Vec<String> },
}

fn render_tail(tail: &[String]) -> String {
    if tail.is_empty() {
        return String::new();
    }
    format!(
        "\ninstaller output (last {} lines):\n  {}",
        tail.len(),
        tail.join("\n  ")
    )
}

fn install_summary(
    tool: &str,
    failed: Option<&str>,
    python: &str,
    pinned: bool,
    offline: bool,
) -> String {
    let what = match failed {
        Some(req) => format!("installing the requirements with {tool} failed at `{req}`"),
        None => format!("installing the requirements with {tool} failed"),
    };
    let offline_hint = if offline {
        " (`--offline`: every wheel must come from a `--find-links` directory)"
    } else {
        ""
    };
    let hint = match failed {
        Some(req) if !pinned => format!(
            "`{req}` is not one of the venv's pins: something needs it to be built (an editable \
             or source install); give a `--find-links DIR` wheelhouse that has it{offline_hint}"
        ),
        Some(req) => format!(
            "try `--python` with another installed version, a `--find-links DIR` wheelhouse with \
             a wheel of `{req}` for Python {python}{offline_hint}, or relax the pin `{req}` (pick \
             a version that exists for Python {python})"
        ),
        None => format!(
            "try `--python` with another installed version, or a `--find-links DIR` wheelhouse \
             with wheels for Python {python}{offline_hint}"
        ),
    };
    format!("{what}\nhint: {hint}")
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

/// The recreate of `venv` with `python`: what will be reinstalled and carried over. Reads
/// files only.
pub fn recreate_spec(
    venv: &Venv,
    python: &Installation,
    find_links: &[PathBuf],
    offline: bool,
) -> Result<RecreateSpec, RecreateError> {
    let installed = dists::read_distributions(&venv.root)?;
    let freeze = dists::freeze(&venv.root, &FreezeOptions::default())?;
    let version = python.version;
    let mut spec = RecreateSpec {
        python: python.path.clone(),
        version: Some(version),
        with_pip: freeze.omitted_seeds.iter().any(|s| s == "pip"),
        seeds: freeze.omitted_seeds.clone(),
        creator: venv.creator.as_str().to_string(),
        uv: find_uv(),
        find_links: find_links.to_vec(),
        offline,
        ..RecreateSpec::default()
    };
    // Only what the venv's Python read: packages orphaned in another `lib/pythonX.Y` are listed
    // as left out, not reinstalled. Unless the live dir holds nothing of the user's (only
    // seeds, as `venv --upgrade` across minors leaves it): then the orphans are the user's
    // packages, and bringing them back is the point.
    let live = venv
        .packages_dir()
        .map(|dir| dir.path.join("site-packages"))
        .filter(|live| freeze.dists.iter().any(|d| d.site_packages == *live));
    for dist in &freeze.dists {
        let requirement = dist.requirement();
        let shown = if dist.version.is_empty() {
            requirement.clone()
        } else {
            format!("{}=={}", dist.name, dist.version)
        };
        if let Some(live) = &live
            && dist.site_packages != *live
        {
            spec.left_out.push(format!(
                "{shown} (in `{}`, which the venv's Python never read)",
                venv.relative(&dist.site_packages).display()
            ));
            continue;
        }
        // A stable-ABI wheel (`abi3`) runs on later Pythons: nothing to rebuild.
        if let Some(compiled) = &dist.compiled
            && !compiled.evidence.contains("-abi3-")
        {
            spec.compiled
                .push(format!("{shown} ({})", compiled.evidence));
        }
        if let Some(requires) = &dist.requires_python
            && specifier_allows(requires, &version) == Some(false)
        {
            spec.unavailable.push(format!(
                "{shown}: Requires-Python `{requires}` excludes Python {version}"
            ));
        }
        spec.requirements.push(requirement);
    }
    if let Some(cfg) = venv.cfg() {
        spec.prompt = cfg.get("prompt").map(unquote).filter(|p| !p.is_empty());
        spec.system_site_packages = cfg
            .get("include-system-site-packages")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    }
    let scripts: BTreeSet<String> = installed
        .dists
        .iter()
        .flat_map(|d| d.console_scripts.iter().cloned())
        .collect();
    spec.carry_over = carry_over(&venv.root, &scripts);
    Ok(spec)
}

/// `'x'` (stdlib venv writes a repr) or `"x"` (virtualenv) → `x`.
fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// The `uv` to build with: `VENVFIX_UV` (a path; `none` or empty disables uv), else `uv` on
/// PATH.
pub fn find_uv() -> Option<PathBuf> {
    match std::env::var_os("VENVFIX_UV") {
        Some(v) if v.is_empty() || v == "none" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => which::which("uv").ok(),
    }
}

/// Whether `relative` (a `bin/` entry name) is something a creator makes: an interpreter or an
/// activation script.
fn is_creator_bin_entry(name: &str) -> bool {
    is_interpreter_name(std::ffi::OsStr::new(name))
        || name.starts_with("activate")
        || name.starts_with("Activate")
        || name.starts_with("deactivate")
        || name == "pydoc.bat"
        || name == "__pycache__"
}

/// The entries of the venv at `root` its creator and installers did not make (relative paths,
/// sorted): files at the root other than the creator's, and `bin/` entries that are neither
/// interpreters, activators, nor console scripts listed in a `RECORD` (`scripts`).
pub fn carry_over(root: &Path, scripts: &BTreeSet<String>) -> Vec<PathBuf> {
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let mut out = Vec::new();
    for name in names(root) {
        if !CREATOR_ROOT_ENTRIES.contains(&name.as_str()) {
            out.push(PathBuf::from(name));
        }
    }
    // A `bin` that is a link is not walked (its entries are not the venv's).
    let bin = root.join("bin");
    if fs::symlink_metadata(&bin).is_ok_and(|m| m.is_dir()) {
        for name in names(&bin) {
            if !is_creator_bin_entry(&name) && !scripts.contains(&name) {
                out.push(Path::new("bin").join(name));
            }
        }
    }
    out
}

/// Whether `version` satisfies the PEP 440 specifier set `spec` (`>=3.8, !=3.9.*, <4`), for the
/// common operators (`>=`, `<=`, `>`, `<`, `==`, `!=`, `~=`, `===`, `.*` wildcards) on release
/// numbers. `None` when a clause cannot be read (then nothing is claimed).
pub fn specifier_allows(spec: &str, version: &PythonVersion) -> Option<bool> {
    let have = [version.major, version.minor, version.patch.unwrap_or(0)];
    let mut all = true;
    for clause in spec.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let op_len = clause
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(clause.len());
        let (op, rest) = clause.split_at(op_len);
        let rest = rest.trim();
        if op == "===" {
            all &= rest == version.to_string();
            continue;
        }
        let (text, wildcard) = match rest.strip_suffix(".*") {
            Some(t) => (t, true),
            None => (rest, false),
        };
        let release = parse_release(text)?;
        let cmp = compare(&have, &release);
        let prefix = || {
            release
                .iter()
                .enumerate()
                .all(|(i, n)| have.get(i).copied().unwrap_or(0) == *n)
        };
        use std::cmp::Ordering::*;
        let ok = match (op, wildcard) {
            ("==", true) => prefix(),
            ("!=", true) => !prefix(),
            ("==", false) => cmp == Equal,
            ("!=", false) => cmp != Equal,
            (">=", false) => cmp != Less,
            ("<=", false) => cmp != Greater,
            (">", false) => cmp == Greater,
            ("<", false) => cmp == Less,
            ("~=", false) if release.len() >= 2 => {
                cmp != Less
                    && release[..release.len() - 1]
                        .iter()
                        .enumerate()
                        .all(|(i, n)| have.get(i).copied().unwrap_or(0) == *n)
            }
            _ => return None,
        };
        all &= ok;
    }
    Some(all)
}

/// `3.8.1` → `[3, 8, 1]`; pre/post/dev suffixes after the release are ignored.
fn parse_release(text: &str) -> Option<Vec<u64>> {
    let text = text.trim().trim_start_matches('v');
    let text = text.split_once('!').map(|(_, r)| r).unwrap_or(text);
    let mut out = Vec::new();
    for part in text.split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            break;
        }
        out.push(digits.parse().ok()?);
        if digits.len() != part.len() {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Compare release numbers, the shorter padded with zeros.
fn compare(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let len = a.len().max(b.len());
    (0..len)
        .map(|i| {
            a.get(i)
                .copied()
                .unwrap_or(0)
                .cmp(&b.get(i).copied().unwrap_or(0))
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/// Build the new venv for `spec` in the empty dir `root`, then copy the carried-over files from
/// `original` (the old venv, moved aside). This is the executor's recreate hook. `progress`
/// receives every line of installer output and a line per step.
pub fn build(
    spec: &RecreateSpec,
    root: &Path,
    original: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), BuildError> {
    let python_version = new_python_shown(spec);
    // Pins whose Requires-Python excludes the new Python fail with pip, and uv may install them
    // anyway into a venv where they cannot work: the same answer either way, before any work.
    if !spec.unavailable.is_empty() {
        return Err(BuildError::Unavailable {
            python: python_version,
            pins: spec.unavailable.clone(),
        });
    }
    let new_python = root.join("bin/python");
    let scratch = tempfile::Builder::new()
        .prefix("venvfix-recreate-")
        .tempdir()
        .map_err(|source| BuildError::Io {
            op: "create a temp dir for",
            path: std::env::temp_dir(),
            source,
        })?;
    let requirements = scratch.path().join("requirements.txt");
    let mut text = spec.requirements.join("\n");
    text.push('\n');
    fs::write(&requirements, text).map_err(|source| BuildError::Io {
        op: "write",
        path: requirements.clone(),
        source,
    })?;

    match &spec.uv {
        Some(uv) => {
            let mut create = installer_command(uv);
            create.args(["venv", "--no-project", "--python"]);
            create.arg(&spec.python);
            if let Some(prompt) = &spec.prompt {
                create.arg("--prompt").arg(prompt);
            }
            if spec.system_site_packages {
                create.arg("--system-site-packages");
            }
            if spec.with_pip {
                create.arg("--seed");
                index_args(&mut create, spec, true);
            }
            create.arg(root);
            progress(&format!(
                "creating the venv with `{}`",
                shown_command(&create)
            ));
            // Offline, uv seeds pip only from its cache or the wheelhouse.
            let seed_hint = (spec.with_pip && spec.offline).then(|| {
                "uv seeds pip from its cache or a `--find-links` dir when offline: put a pip \
                 wheel there, or set VENVFIX_UV=none to build with `python -m venv`, which \
                 bundles pip"
                    .to_string()
            });
            run_step(&mut create, progress, |command, status, tail| {
                BuildError::Create {
                    command,
                    status,
                    hint: seed_hint,
                    tail,
                }
            })?;
            if !spec.requirements.is_empty() {
                let mut install = installer_command(uv);
                install.args(["pip", "install", "--python"]);
                install.arg(&new_python);
                index_args(&mut install, spec, true);
                install_requirements(&mut install, "uv", spec, &requirements, progress)?;
            }
            let mut check = installer_command(uv);
            check.args(["pip", "check", "--python"]).arg(&new_python);
            progress("checking the installed distributions with `uv pip check`");
            run_step(&mut check, progress, |command, _, tail| BuildError::Check {
                command,
                tail,
            })?;
        }
        None => {
            // Without uv, pip installs the requirements, so the new venv needs pip.
            let with_pip = spec.with_pip || !spec.requirements.is_empty();
            let mut create = installer_command(&spec.python);
            create.args(["-I", "-m", "venv"]);
            if !with_pip {
                create.arg("--without-pip");
            }
            if let Some(prompt) = &spec.prompt {
                create.arg("--prompt").arg(prompt);
            }
            if spec.system_site_packages {
                create.arg("--system-site-packages");
            }
            create.arg(root);
            progress(&format!(
                "creating the venv with `{}`",
                shown_command(&create)
            ));
            run_step(&mut create, progress, |command, status, tail| {
                BuildError::Create {
                    command,
                    status,
                    hint: None,
                    tail,
                }
            })?;
            if !spec.requirements.is_empty() {
                let mut install = installer_command(&new_python);
                install.args(["-I", "-m", "pip", "install"]);
                index_args(&mut install, spec, false);
                install_requirements(&mut install, "pip", spec, &requirements, progress)?;
            }
            if with_pip {
                let mut check = installer_command(&new_python);
                check.args(["-I", "-m", "pip", "check"]);
                progress("checking the installed distributions with `pip check`");
                run_step(&mut check, progress, |command, _, tail| BuildError::Check {
                    command,
                    tail,
                })?;
            }
        }
    }

    for relative in &spec.carry_over {
        let from = original.join(relative);
        let to = root.join(relative);
        if fs::symlink_metadata(&to).is_ok() {
            progress(&format!(
                "kept the new `{}` (the old one stays in the backup)",
                relative.display()
            ));
            continue;
        }
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        progress(&format!("carrying over `{}`", relative.display()));
        copy_no_follow(&from, &to)?;
    }
    Ok(())
}

/// `--find-links` for each dir, and `--offline` (uv) or `--no-index` (pip).
/// The new Python's version for messages (`3.12.1`).
fn new_python_shown(spec: &RecreateSpec) -> String {
    spec.version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "the new Python".into())
}

/// Run `install -r requirements` (uv's or pip's), naming the requirement that failed.
fn install_requirements(
    install: &mut Command,
    tool: &str,
    spec: &RecreateSpec,
    requirements: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), BuildError> {
    install.arg("-r").arg(requirements);
    progress(&format!(
        "installing {} requirements with {tool}",
        spec.requirements.len()
    ));
    run_step(install, progress, |_, _, tail| {
        let failed = failed_requirement(&tail);
        BuildError::Install {
            tool: tool.into(),
            pinned: failed.as_deref().is_some_and(|f| is_pinned(spec, f)),
            failed,
            python: new_python_shown(spec),
            offline: spec.offline,
            tail,
        }
    })
}

fn index_args(command: &mut Command, spec: &RecreateSpec, uv: bool) {
    for dir in &spec.find_links {
        command.arg("--find-links").arg(dir);
    }
    if spec.offline {
        command.arg(if uv { "--offline" } else { "--no-index" });
    }
}

/// A command with the user's pip/uv configuration (`PIP_*`, `UV_*`, config files) kept, and
/// nothing that would make the new interpreter read another Python's files.
fn installer_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for key in [
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "PYTHONEXECUTABLE",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "__PYVENV_LAUNCHER__",
    ] {
        command.env_remove(key);
    }
    command.stdin(Stdio::null());
    command
}

fn shown_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `command`, streaming each output line to `progress`; on failure, `error(command,
/// status, last lines)`.
fn run_step(
    command: &mut Command,
    progress: &(dyn Fn(&str) + Sync),
    error: impl FnOnce(String, String, Vec<String>) -> BuildError,
) -> Result<(), BuildError> {
    let shown = shown_command(command);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| BuildError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    let (sender, receiver) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for pipe in pipes.into_iter().flatten() {
        let sender = sender.clone();
        readers.push(std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        // Progress bars redraw with `\r`: keep the last state of the line.
                        let line = line.trim_end().rsplit('\r').next().unwrap_or("");
                        if sender.send(line.to_string()).is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    drop(sender);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    for line in receiver {
        if line.trim().is_empty() {
            continue;
        }
        progress(&line);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(|source| BuildError::Spawn {
        program: shown.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(error(shown, status.to_string(), tail.into()))
    }
}

/// The requirement an installer's error output names: uv's `Because <req> ...` / `you require
/// <req>`, pip's `... satisfies the requirement <req>` / `No matching distribution found for
/// <req>`, or a `Failed to build `<req>``.
/// Whether the requirement the installer named (`six`, `six==1.16`) is one of `spec`'s pins.
fn is_pinned(spec: &RecreateSpec, failed: &str) -> bool {
    let name = |req: &str| {
        let end = req
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(req.len());
        crate::dists::normalize_name(&req[..end])
    };
    let wanted = name(failed);
    spec.requirements
        .iter()
        .any(|r| !r.starts_with('-') && name(r) == wanted)
}

pub fn failed_requirement(lines: &[String]) -> Option<String> {
    let token = |text: &str| -> Option<String> {
        let word = text
            .split_whitespace()
            .next()?
            .trim_end_matches([',', '.', ';', ':']);
        (!word.is_empty()).then(|| word.to_string())
    };
    for line in lines {
        if let Some((_, rest)) = line.split_once("satisfies the requirement ") {
            return token(rest);
        }
        if let Some((_, rest)) = line.split_once("No matching distribution found for ") {
            return token(rest);
        }
    }
    for line in lines {
        if let Some((_, rest)) = line.split_once("Because ") {
            let rest = rest
                .trim_start_matches("there is no version of ")
                .trim_start_matches("there are no versions of ")
                .trim_start_matches("only ")
                .trim_start_matches("all versions of ");
            let because = token(rest)?;
            // `Because ghostpkg was not found ... and you require ghostpkg==4.2`: the pin is
            // in the second half.
            let required = line
                .split_once("you require ")
                .and_then(|(_, r)| token(r))
                .filter(|r| r.starts_with(&because));
            let bare = !because.contains(['=', '<', '>', '!', '~', '@']);
            return Some(match required {
                Some(r) if bare => r,
                _ => because,
            });
        }
    }
    for line in lines {
        if let Some((_, rest)) = line.split_once("Failed to ")
            && let Some((_, quoted)) = rest.split_once('`')
            && let Some((req, _)) = quoted.split_once('`')
        {
            return Some(req.to_string());
        }
    }
    None
}

/// Copy `from` to `to` without following any symlink: links are recreated as links, dirs are
/// walked, regular files copied with their mode; other special files are skipped.
pub fn copy_no_follow(from: &Path, to: &Path) -> Result<(), BuildError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io { op, path, source }
    };
    let meta = fs::symlink_metadata(from).map_err(io("inspect", from))?;
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = fs::read_link(from).map_err(io("read the link", from))?;
        symlink(&target, to).map_err(io("create the link", to))?;
    } else if kind.is_dir() {
        fs::create_dir(to).map_err(io("create", to))?;
        let mut entries: Vec<_> = fs::read_dir(from)
            .map_err(io("read", from))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries {
            copy_no_follow(&from.join(&name), &to.join(&name))?;
        }
        fs::set_permissions(to, meta.permissions()).map_err(io("set the mode of", to))?;
    } else if kind.is_file() {
        let mut source = open_nofollow(from).map_err(io("open", from))?;
        let mut dest = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .map_err(io("create", to))?;
        std::io::copy(&mut source, &mut dest).map_err(io("copy to", to))?;
        fs::set_permissions(
            to,
            fs::Permissions::from_mode(meta.permissions().mode() & 0o7777),
        )
        .map_err(io("set the mode of", to))?;
    }
    Ok(())
}

fn open_nofollow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> PythonVersion {
        text.parse().unwrap()
    }

    #[test]
    fn specifiers_with_the_common_operators() {
        let py312 = v("3.12.1");
        assert_eq!(specifier_allows(">=3.7", &py312), Some(true));
        assert_eq!(specifier_allows(">=3.7, <3.12", &py312), Some(false));
        assert_eq!(specifier_allows("<3.12", &v("3.11.7")), Some(true));
        assert_eq!(specifier_allows("<=3.12", &py312), Some(false));
        assert_eq!(specifier_allows("<=3.12.1", &py312), Some(true));
        assert_eq!(specifier_allows(">3.12", &py312), Some(true));
        assert_eq!(specifier_allows(">3.12.1", &py312), Some(false));
        assert_eq!(specifier_allows("==3.12.*", &py312), Some(true));
        assert_eq!(specifier_allows("==3.1.*", &py312), Some(false));
        assert_eq!(specifier_allows("!=3.12.*", &py312), Some(false));
        assert_eq!(specifier_allows("!=3.11.*", &py312), Some(true));
        assert_eq!(specifier_allows("==3.12", &v("3.12.0")), Some(true));
        assert_eq!(specifier_allows("==3.12", &py312), Some(false));
        assert_eq!(specifier_allows("!=3.12.1", &py312), Some(false));
        assert_eq!(specifier_allows("~=3.8", &py312), Some(true));
        assert_eq!(specifier_allows("~=3.8.0", &py312), Some(false));
        assert_eq!(specifier_allows("~=3.12.0", &py312), Some(true));
        assert_eq!(
            specifier_allows(">=2.7, !=3.0.*, !=3.1.*, !=3.2.*", &py312),
            Some(true)
        );
        assert_eq!(specifier_allows(">= 3.8", &v("3.6.15")), Some(false));
        assert_eq!(specifier_allows(">=3.8.0rc1", &py312), Some(true));
        assert_eq!(specifier_allows("===3.12.1", &py312), Some(true));
        assert_eq!(specifier_allows("", &py312), Some(true));
        assert_eq!(specifier_allows("~=3", &py312), None);
        assert_eq!(specifier_allows("garbage", &py312), None);
        assert_eq!(specifier_allows(">=3.*", &py312), None);
    }

    #[test]
    fn carry_over_keeps_only_what_the_creator_did_not_make() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for dir in ["bin", "lib/python3.8/site-packages", "include", "share/man"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "pyvenv.cfg",
            ".gitignore",
            "CACHEDIR.TAG",
            ".project",
            "notes.txt",
            "bin/activate",
            "bin/activate.fish",
            "bin/Activate.ps1",
            "bin/activate_this.py",
            "bin/deactivate.bat",
            "bin/pydoc.bat",
            "bin/pip",
            "bin/pip3.8",
            "bin/venvfix-demo",
            "bin/postactivate",
            "bin/predeactivate",
            "bin/my-tool",
        ] {
            fs::write(root.join(file), "x").unwrap();
        }
        symlink("/gone/python3.8", root.join("bin/python3.8")).unwrap();
        symlink("python3.8", root.join("bin/python")).unwrap();
        symlink("lib", root.join("lib64")).unwrap();
        symlink("/elsewhere", root.join("data")).unwrap();
        let scripts: BTreeSet<String> = ["pip", "pip3.8", "venvfix-demo"].map(String::from).into();
        let found = carry_over(root, &scripts);
        let expected: Vec<PathBuf> = [
            ".project",
            "bin/my-tool",
            "bin/postactivate",
            "bin/predeactivate",
            "data",
            "notes.txt",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let mut found_sorted = found.clone();
        found_sorted.sort();
        assert_eq!(found_sorted, expected);
    }

    #[test]
    fn copies_links_as_links_and_never_follows_them() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "s").unwrap();
        let from = tmp.path().join("from");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("sub/hook"), "echo hi\n").unwrap();
        fs::set_permissions(from.join("sub/hook"), fs::Permissions::from_mode(0o750)).unwrap();
        symlink(&outside, from.join("sub/out")).unwrap();
        let to = tmp.path().join("to/dir");
        copy_no_follow(&from, &to).unwrap();
        assert_eq!(fs::read(to.join("sub/hook")).unwrap(), b"echo hi\n");
        let mode = fs::metadata(to.join("sub/hook"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o750);
        assert_eq!(fs::read_link(to.join("sub/out")).unwrap(), outside);
        // A link at the top is copied as a link too.
        copy_no_follow(&from.join("sub/out"), &tmp.path().join("link")).unwrap();
        assert!(
            fs::symlink_metadata(tmp.path().join("link"))
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn the_failed_requirement_is_read_from_installer_output() {
        let lines = |text: &str| text.lines().map(String::from).collect::<Vec<_>>();
        let uv = lines(
            "error: No solution found when resolving dependencies\n  cause: Because \
             markupsafe==2.1.5 has no wheels with a matching Python ABI tag (e.g., `cp312`) and \
             you require markupsafe==2.1.5, we can conclude that your requirements are \
             unsatisfiable.",
        );
        assert_eq!(
            failed_requirement(&uv).as_deref(),
            Some("markupsafe==2.1.5")
        );
        let uv = lines(
            "  cause: Because there is no version of tinyjson==9.9.9 and you require \
             tinyjson==9.9.9, we can conclude that your requirements are unsatisfiable.",
        );
        assert_eq!(failed_requirement(&uv).as_deref(), Some("tinyjson==9.9.9"));
        let uv = lines(
            "  cause: Because ghostpkg was not found in the cache and you require ghostpkg==4.2, \
             we can conclude that your requirements are unsatisfiable.",
        );
        assert_eq!(failed_requirement(&uv).as_deref(), Some("ghostpkg==4.2"));
        let pip = lines(
            "Looking in links: /w\nERROR: Could not find a version that satisfies the \
             requirement tinyjson==9.9.9 (from versions: 1.0.0)\nERROR: No matching \
             distribution found for tinyjson==9.9.9",
        );
        assert_eq!(failed_requirement(&pip).as_deref(), Some("tinyjson==9.9.9"));
        let build = lines("  × Failed to build `tinyedit @ file:///src/tinyedit`");
        assert_eq!(
            failed_requirement(&build).as_deref(),
            Some("tinyedit @ file:///src/tinyedit")
        );
        assert_eq!(failed_requirement(&lines("something else")), None);
    }

    #[test]
    fn prompts_lose_their_quotes() {
        assert_eq!(unquote("'my env'"), "my env");
        assert_eq!(unquote("\"x\""), "x");
        assert_eq!(unquote("plain"), "plain");
    }
}
