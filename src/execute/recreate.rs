//! Building a recreated venv from its [`RecreateSpec`]: the executor's recreate hook.
//!
//! By the time [`build`] runs, the executor has moved the original venv aside and made an
//! empty directory at its path, so the new venv is made in place (console-script shebangs and
//! activators name the right path). The spec's creator makes it (`python -m venv`, `uv venv`,
//! or virtualenv, with `--copies`, the prompt and system site packages as before, no seeds of
//! its own where the installer can put them in at their old versions); the installer (`uv pip`
//! or the new venv's pip) installs the seeds and the requirements; `pip check` checks them;
//! then every carried-over file is copied from the original (links as links, `.pth` paths into
//! the old `lib/pythonX.Y` rewritten) and any activator the new creator did not make is copied
//! from the old venv (same path, so it still names the venv). Every line of every child goes to
//! the log file the caller names; `progress` sees the steps and the installers' lines, for a
//! one-line display. On failure the error carries the lines that matter and the log's path.
//!
//! What this module must never do: run anything from the old venv (only the chosen installed
//! Python, the installer, and the *new* venv's interpreter run); delete or change the original
//! (the executor keeps it until the new venv verifies, and restores it on any error returned
//! from here); follow a symlink when copying carried-over files (links are copied as links).

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};

use crate::plan::recreate::{Creation, Installer, RecreateSpec, is_activator, rewrite_pth};
use crate::resolve::{failed_requirement, installer_command};

/// How many lines of installer output are kept to pick the relevant ones from.
const TAIL_LINES: usize = 60;

/// How many of them an error message shows at most.
const SHOWN_LINES: usize = 12;

/// What [`build`] reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum BuildEvent<'a> {
    /// A step starts (`installing 6 requirements with uv`).
    Step(&'a str),
    /// A line of a child's output (also in the log).
    Output(&'a str),
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
    #[error("{}", disk_full(path, mount.as_deref(), *free, log.as_deref()))]
    DiskFull {
        /// The venv being built.
        path: PathBuf,
        /// The mount point of its filesystem.
        mount: Option<PathBuf>,
        /// Bytes still free there, if known.
        free: Option<u64>,
        log: Option<PathBuf>,
    },
    #[error(
        "`{command}` failed ({status}){}{}",
        hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default(),
        render_tail(tail, log)
    )]
    Create {
        command: String,
        status: String,
        hint: Option<String>,
        tail: Vec<String>,
        log: PathBuf,
    },
    #[error("{}{}", install_summary(tool, failed.as_deref(), python, *pinned, *offline), render_tail(tail, log))]
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
        log: PathBuf,
    },
    #[error(
        "{} of the venv's pins cannot be installed on Python {python}: {}\nhint: recreate with \
         another `--python`, or relax those pins",
        pins.len(),
        pins.join("; ")
    )]
    Unavailable { python: String, pins: Vec<String> },
    #[error("{0}")]
    Record(String),
    #[error(
        "the reinstalled distributions are not consistent (`{command}` failed){}",
        render_tail(tail, log)
    )]
    Check {
        command: String,
        tail: Vec<String>,
        log: PathBuf,
    },
}

fn disk_full(path: &Path, mount: Option<&Path>, free: Option<u64>, log: Option<&Path>) -> String {
    let place = match mount {
        Some(m) => format!("the filesystem mounted at `{}`", m.display()),
        None => "its filesystem".to_string(),
    };
    let free = free
        .map(|f| format!(" ({} free)", human_size(f)))
        .unwrap_or_default();
    let log = log
        .map(|l| format!("; installer log: `{}`", l.display()))
        .unwrap_or_default();
    format!(
        "the disk is full: no space left on {place}{free}, which holds `{}`{log}\nhint: free \
         some space there and run the repair again",
        path.display()
    )
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The lines of `tail` worth reading: errors, causes and hints, else the last few.
fn relevant(tail: &[String]) -> Vec<String> {
    let marked: Vec<String> = tail
        .iter()
        .filter(|l| {
            let t = l.trim_start();
            let lower = t.to_ascii_lowercase();
            lower.starts_with("error")
                || lower.starts_with("warning: ")
                || t.starts_with("×")
                || t.starts_with("╰")
                || lower.starts_with("cause")
                || lower.starts_with("hint")
                || lower.contains("because ")
                || lower.contains("no space left")
                || lower.contains("traceback")
                || lower.contains("exception")
        })
        .cloned()
        .collect();
    let pick = if marked.is_empty() {
        tail.to_vec()
    } else {
        marked
    };
    let skip = pick.len().saturating_sub(SHOWN_LINES);
    pick.into_iter().skip(skip).collect()
}

fn render_tail(tail: &[String], log: &Path) -> String {
    let lines = relevant(tail);
    let mut out = String::new();
    if !lines.is_empty() {
        out.push_str("\ninstaller output:\n  ");
        out.push_str(&lines.join("\n  "));
    }
    out.push_str(&format!("\nfull installer log: `{}`", log.display()));
    out
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

/// Where a build writes and reports.
struct Output<'a> {
    log_path: PathBuf,
    log: Mutex<Option<fs::File>>,
    progress: &'a (dyn Fn(BuildEvent<'_>) + Sync),
}

impl Output<'_> {
    fn step(&self, text: &str) {
        self.write(&format!("==> {text}"));
        (self.progress)(BuildEvent::Step(text));
    }

    fn line(&self, text: &str) {
        self.write(text);
        (self.progress)(BuildEvent::Output(text));
    }

    fn write(&self, text: &str) {
        if let Ok(mut log) = self.log.lock()
            && let Some(file) = log.as_mut()
        {
            // A log that cannot be written (a full disk) must not stop the build: the error
            // says what happened either way.
            let _ = writeln!(file, "{text}");
        }
    }
}

/// Build the new venv for `spec` in the empty dir `root`, then copy the carried-over files from
/// `original` (the old venv, moved aside). This is the executor's recreate hook. Every line of
/// every child goes to `log` (created; its dir too); `progress` sees steps and output lines.
pub fn build(
    spec: &RecreateSpec,
    root: &Path,
    original: &Path,
    log: &Path,
    progress: &(dyn Fn(BuildEvent<'_>) + Sync),
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
    if let Some(dir) = log.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let out = Output {
        log_path: log.to_path_buf(),
        log: Mutex::new(fs::File::create(log).ok()),
        progress,
    };
    let result = build_logged(spec, root, original, &out);
    result.map_err(|e| as_disk_full(e, root, &out.log_path))
}

fn build_logged(
    spec: &RecreateSpec,
    root: &Path,
    original: &Path,
    out: &Output<'_>,
) -> Result<(), BuildError> {
    let installer = spec.installer.clone().unwrap_or(Installer::Pip);
    let create = spec.create.clone().unwrap_or(Creation::Venv);
    let isolated = spec
        .version
        .as_ref()
        .map_or(&["-I"][..], super::verify::isolated);
    let mut lines: Vec<String> = spec.seeds.iter().filter_map(|s| s.requirement()).collect();
    lines.extend(spec.requirements.iter().cloned());
    // pip installs into the venv it lives in: the creator seeds one.
    let needs_pip = installer == Installer::Pip && (!lines.is_empty() || spec.with_pip);

    let mut command = match &create {
        Creation::Venv => {
            let mut c = installer_command(&spec.python);
            // pip comes in its own step below: `venv` would hide ensurepip's output.
            c.args(isolated).args(["-m", "venv", "--without-pip"]);
            if spec.copies {
                c.arg("--copies");
            }
            c
        }
        Creation::Uv { uv } => {
            let mut c = installer_command(uv);
            c.args(["venv", "--no-project", "--python"])
                .arg(&spec.python);
            if needs_pip {
                c.arg("--seed");
                index_args(&mut c, spec, true);
            }
            c
        }
        Creation::Virtualenv { program, args } => {
            let mut c = installer_command(program);
            match args.as_slice() {
                // `uv tool run` finds virtualenv in its cache or the index, as configured; its
                // own options go before the tool's name.
                [tool, run, rest @ ..] if tool == "tool" && run == "run" => {
                    c.args([tool, run]);
                    if spec.offline {
                        c.arg("--offline");
                    }
                    for dir in &spec.find_links {
                        c.arg("--find-links").arg(dir);
                    }
                    c.args(rest);
                }
                _ => {
                    c.args(args);
                }
            }
            c.arg("--python").arg(&spec.python);
            // virtualenv seeds from the wheels it embeds (with its `_virtualenv` hook); the
            // installer then puts the seeds at their old versions.
            if needs_pip || !spec.seeds.is_empty() {
                c.arg("--no-download");
            } else {
                c.arg("--no-seed");
            }
            if spec.copies {
                c.arg("--copies");
            }
            c
        }
    };
    if let Some(prompt) = &spec.prompt {
        command.arg("--prompt").arg(prompt);
    }
    if spec.system_site_packages {
        command.arg("--system-site-packages");
    }
    command.arg(root);
    // Offline, uv seeds pip only from its cache or the wheelhouse.
    let seed_hint =
        (matches!(create, Creation::Uv { .. }) && needs_pip && spec.offline).then(|| {
            "uv seeds pip from its cache or a `--find-links` dir when offline: put a pip wheel \
         there, or set VENVFIX_UV=none to build with `python -m venv`, which bundles pip"
                .to_string()
        });
    out.step(&format!(
        "creating the venv with `{}`",
        shown_command(&command)
    ));
    run_step(&mut command, out, |command, status, tail, log| {
        BuildError::Create {
            command,
            status,
            hint: seed_hint,
            tail,
            log,
        }
    })?;

    name_the_alias(root, &spec.python, out)?;

    let new_python = root.join("bin/python");
    if needs_pip && create == Creation::Venv {
        let mut ensurepip = installer_command(&new_python);
        ensurepip
            .args(isolated)
            .args(["-m", "ensurepip", "--upgrade", "--default-pip"]);
        out.step("installing pip with `ensurepip`");
        run_step(&mut ensurepip, out, |command, status, tail, log| {
            BuildError::Create {
                command,
                status,
                hint: None,
                tail,
                log,
            }
        })?;
    }
    if !lines.is_empty() {
        let scratch = tempfile::Builder::new()
            .prefix("venvfix-recreate-")
            .tempdir()
            .map_err(|source| BuildError::Io {
                op: "create a temp dir for",
                path: std::env::temp_dir(),
                source,
            })?;
        let requirements = scratch.path().join("requirements.txt");
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(&requirements, text).map_err(|source| BuildError::Io {
            op: "write",
            path: requirements.clone(),
            source,
        })?;
        let (mut install, tool) = match &installer {
            Installer::Uv { uv } => {
                let mut c = installer_command(uv);
                c.args(["pip", "install", "--python"]).arg(&new_python);
                index_args(&mut c, spec, true);
                (c, "uv")
            }
            Installer::Pip => {
                let mut c = installer_command(&new_python);
                c.args(isolated)
                    .args(["-m", "pip", "install", "--disable-pip-version-check"]);
                index_args(&mut c, spec, false);
                (c, "pip")
            }
        };
        install.arg("-r").arg(&requirements);
        let count = lines.len();
        out.step(&format!(
            "installing {count} requirement{} with {tool}",
            if count == 1 { "" } else { "s" }
        ));
        run_step(&mut install, out, |_, _, tail, log| {
            let failed = failed_requirement(&tail);
            BuildError::Install {
                tool: tool.into(),
                pinned: failed.as_deref().is_some_and(|f| is_pinned(spec, f)),
                failed,
                python: new_python_shown(spec),
                offline: spec.offline,
                tail,
                log,
            }
        })?;
    }
    // uv resolves the whole set before it installs anything, so what it installed is
    // consistent by construction; pip's check still runs after pip (older pips did not
    // resolve, and a seed reinstalled over the creator's may leave a conflict).
    let check = match &installer {
        Installer::Uv { .. } => None,
        Installer::Pip if needs_pip => {
            let mut c = installer_command(&new_python);
            c.args(isolated).args(["-m", "pip", "check"]);
            Some((c, "pip check"))
        }
        Installer::Pip => None,
    };
    if let Some((mut check, name)) = check {
        out.step(&format!(
            "checking the installed distributions with `{name}`"
        ));
        run_step(&mut check, out, |command, _, tail, log| BuildError::Check {
            command,
            tail,
            log,
        })?;
    }

    for carried in &spec.carry_over {
        let from = original.join(&carried.from);
        let to = root.join(&carried.to);
        if fs::symlink_metadata(&to).is_ok() {
            out.step(&format!(
                "kept the new `{}` (the old one stays in the backup)",
                carried.to.display()
            ));
            continue;
        }
        if fs::symlink_metadata(&from).is_err() {
            continue;
        }
        out.step(&format!("carrying over `{}`", carried.from.display()));
        match &carried.rewrite {
            Some(rewrite) if fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) => {
                let meta = fs::symlink_metadata(&from).map_err(io("inspect", &from))?;
                let mut text = Vec::new();
                open_nofollow(&from)
                    .and_then(|mut f| f.read_to_end(&mut text))
                    .map_err(io("read", &from))?;
                write_new(&to, &rewrite_pth(&text, rewrite), meta.mode() & 0o7777)?;
            }
            _ => copy_no_follow(&from, &to)?,
        }
    }
    // Tools' own records (pipx, uv tool, tox), carried over above, now name the new Python.
    for edit in &spec.records {
        out.step(&format!(
            "updating {}'s record `{}`",
            edit.tool,
            edit.path.display()
        ));
        let rewrite =
            crate::records::rewrite(root, edit).map_err(|e| BuildError::Record(e.to_string()))?;
        super::state::write_atomic(&rewrite.path, rewrite.contents.as_bytes(), rewrite.mode)
            .map_err(|e| BuildError::Record(e.to_string()))?;
    }
    // Activators the new creator does not make (virtualenv's `activate.nu` after a
    // `python -m venv`): the old ones name this same path, so they still work.
    for name in &spec.activators {
        let to = root.join("bin").join(name);
        let from = original.join("bin").join(name);
        if !is_activator(std::ffi::OsStr::new(name))
            || fs::symlink_metadata(&to).is_ok()
            || !fs::symlink_metadata(&from).is_ok_and(|m| m.is_file())
        {
            continue;
        }
        out.step(&format!("keeping the old `bin/{name}`"));
        copy_no_follow(&from, &to)?;
    }
    Ok(())
}

/// Make the new venv's links to its base and its `home` name `python` (the installation's
/// stable alias) where the creator resolved it: virtualenv follows a link into another
/// directory (`bin/python3.12 -> ../Cellar/python@3.12/3.12.1/bin/python3.12`), so its venv
/// would name the keg the next upgrade removes. A link or `home` that leads elsewhere is left.
fn name_the_alias(root: &Path, python: &Path, out: &Output<'_>) -> Result<(), BuildError> {
    let Some(real) = fs::canonicalize(python).ok() else {
        return Ok(());
    };
    let bin = root.join("bin");
    let mut names: Vec<std::ffi::OsString> = fs::read_dir(&bin)
        .map_err(io("read", &bin))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for name in names {
        let link = bin.join(&name);
        let Ok(target) = fs::read_link(&link) else {
            continue;
        };
        if !target.is_absolute()
            || target == python
            || fs::canonicalize(&target).ok().as_ref() != Some(&real)
        {
            continue;
        }
        out.step(&format!(
            "linking `bin/{}` to `{}`",
            name.to_string_lossy(),
            python.display()
        ));
        // Beside, then renamed over: the link is replaced, never written through.
        super::backup::replace_with_symlink(&link, python)
            .map_err(|e| BuildError::Record(e.to_string()))?;
    }
    let (Some(dir), Some(real_dir)) = (python.parent(), real.parent()) else {
        return Ok(());
    };
    let cfg_path = root.join("pyvenv.cfg");
    let Ok(bytes) = crate::safe_read::read(
        &cfg_path,
        crate::safe_read::limit::SMALL,
        crate::safe_read::Follow::Never,
    ) else {
        return Ok(());
    };
    let Ok(mut cfg) = crate::config::PyvenvCfg::parse(&bytes) else {
        return Ok(());
    };
    let Some(home) = cfg.home().map(PathBuf::from) else {
        return Ok(());
    };
    let same_dir = fs::canonicalize(&home).is_ok_and(|h| h == real_dir);
    if home == dir || !same_dir {
        return Ok(());
    }
    out.step(&format!("naming `{}` in pyvenv.cfg's home", dir.display()));
    cfg.set("home", &dir.to_string_lossy());
    let mode = fs::symlink_metadata(&cfg_path)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0o644);
    super::state::write_atomic(&cfg_path, cfg.render().as_bytes(), mode)
        .map_err(|e| BuildError::Record(e.to_string()))
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = path.to_path_buf();
    move |source| BuildError::Io { op, path, source }
}

/// Create `path` (it must not exist) with `bytes` and `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BuildError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io("create", path))?;
    file.write_all(bytes).map_err(io("write", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("set the mode of", path))
}

/// A full disk, named as such, wherever in the build it showed (an installer's output, a copy).
fn as_disk_full(error: BuildError, root: &Path, log: &Path) -> BuildError {
    let full = match &error {
        BuildError::Io { source, .. } | BuildError::Spawn { source, .. } => {
            source.kind() == std::io::ErrorKind::StorageFull || source.raw_os_error() == Some(28)
        }
        BuildError::Create { tail, .. }
        | BuildError::Install { tail, .. }
        | BuildError::Check { tail, .. } => {
            tail.iter().any(|l| says_disk_full(l)) || {
                // The tail may have scrolled past it: the log has every line.
                fs::read(log)
                    .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).lines().any(says_disk_full))
            }
        }
        _ => false,
    };
    let free = nix::sys::statvfs::statvfs(root)
        .ok()
        .map(|s| s.blocks_available() * s.fragment_size());
    // A child that hid its error (or a filesystem still full after it): nearly no room left.
    let nearly_full =
        free.is_some_and(|f| f < 256 * 1024) && !matches!(error, BuildError::Unavailable { .. });
    if !full && !nearly_full {
        return error;
    }
    BuildError::DiskFull {
        path: root.to_path_buf(),
        mount: mount_point(root),
        free,
        log: fs::symlink_metadata(log).is_ok().then(|| log.to_path_buf()),
    }
}

fn says_disk_full(line: &str) -> bool {
    line.contains("No space left on device") || line.contains("[Errno 28]")
}

/// The mount point of the filesystem holding `path`: the last ancestor on the same device.
pub fn mount_point(path: &Path) -> Option<PathBuf> {
    let dev = fs::symlink_metadata(path).ok()?.dev();
    let mut mount = path.to_path_buf();
    let mut current = path.parent();
    while let Some(dir) = current {
        if fs::symlink_metadata(dir).ok()?.dev() != dev {
            break;
        }
        mount = dir.to_path_buf();
        current = dir.parent();
    }
    Some(mount)
}

/// The new Python's version for messages (`3.12.1`).
fn new_python_shown(spec: &RecreateSpec) -> String {
    spec.version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "the new Python".into())
}

/// `--find-links` for each dir, and `--offline` (uv) or `--no-index` (pip).
fn index_args(command: &mut Command, spec: &RecreateSpec, uv: bool) {
    for dir in &spec.find_links {
        command.arg("--find-links").arg(dir);
    }
    if spec.offline {
        command.arg(if uv { "--offline" } else { "--no-index" });
    }
}

fn shown_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `command`, every output line to the log and `progress`; on failure, `error(command,
/// status, last lines, log path)`.
fn run_step(
    command: &mut Command,
    out: &Output<'_>,
    error: impl FnOnce(String, String, Vec<String>, PathBuf) -> BuildError,
) -> Result<(), BuildError> {
    let shown = shown_command(command);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    // Installers die with venvfix, and recovery kills what is left of their group.
    super::children::contain(command);
    let mut child = command.spawn().map_err(|source| BuildError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    super::failpoint::hit("installer-started");
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
        out.line(&line);
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
        out.write(&format!("==> `{shown}` failed ({status})"));
        Err(error(
            shown,
            status.to_string(),
            tail.into(),
            out.log_path.clone(),
        ))
    }
}

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
        .chain(
            spec.seeds
                .iter()
                .filter_map(|s| s.new.as_ref().map(|_| &s.name)),
        )
        .any(|r| !r.starts_with('-') && name(r) == wanted)
}

/// Copy `from` to `to` without following any symlink: links are recreated as links, dirs are
/// walked, regular files copied with their mode; other special files are skipped.
pub fn copy_no_follow(from: &Path, to: &Path) -> Result<(), BuildError> {
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
    fn links_and_home_a_creator_resolved_are_pointed_at_the_stable_alias() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().canonicalize().unwrap();
        let keg = top.join("Cellar/python@3.12/3.12.1/bin");
        fs::create_dir_all(&keg).unwrap();
        fs::write(keg.join("python3.12"), "").unwrap();
        fs::create_dir_all(top.join("bin")).unwrap();
        symlink(
            "../Cellar/python@3.12/3.12.1/bin/python3.12",
            top.join("bin/python3.12"),
        )
        .unwrap();
        fs::write(top.join("elsewhere"), "").unwrap();
        let alias = top.join("bin/python3.12");
        // What virtualenv makes when run through `bin/python3.12`: the keg, resolved.
        let root = top.join("venv");
        fs::create_dir_all(root.join("bin")).unwrap();
        symlink(keg.join("python3.12"), root.join("bin/python")).unwrap();
        symlink("python", root.join("bin/python3")).unwrap();
        symlink(top.join("elsewhere"), root.join("bin/tool")).unwrap();
        fs::write(
            root.join("pyvenv.cfg"),
            format!("home = {}\nversion_info = 3.12.1\n", keg.display()),
        )
        .unwrap();
        let out = Output {
            log_path: top.join("log"),
            log: Mutex::new(None),
            progress: &|_| {},
        };
        name_the_alias(&root, &alias, &out).unwrap();
        assert_eq!(fs::read_link(root.join("bin/python")).unwrap(), alias);
        assert_eq!(
            fs::read_link(root.join("bin/python3")).unwrap(),
            Path::new("python")
        );
        assert_eq!(
            fs::read_link(root.join("bin/tool")).unwrap(),
            top.join("elsewhere")
        );
        assert_eq!(
            fs::read_to_string(root.join("pyvenv.cfg")).unwrap(),
            format!(
                "home = {}\nversion_info = 3.12.1\n",
                top.join("bin").display()
            )
        );
    }

    #[test]
    fn errors_show_the_relevant_lines_once_and_name_the_log() {
        let tail: Vec<String> = (0..50)
            .map(|i| format!("Collecting pkg{i}"))
            .chain([
                "error: No solution found when resolving dependencies:".to_string(),
                "  ╰─▶ Because ghost was not found and you require ghost==1, ...".to_string(),
            ])
            .collect();
        let text = render_tail(&tail, Path::new("/state/logs/x.log"));
        assert!(text.contains("No solution found"), "{text}");
        assert!(!text.contains("Collecting pkg3"), "{text}");
        assert!(
            text.ends_with("full installer log: `/state/logs/x.log`"),
            "{text}"
        );
        assert_eq!(human_size(2048), "2.0 KiB");
        let full = disk_full(
            Path::new("/mnt/x/venv"),
            Some(Path::new("/mnt/x")),
            Some(0),
            None,
        );
        assert!(
            full.starts_with(
                "the disk is full: no space left on the filesystem mounted at `/mnt/x` (0 B free)"
            ),
            "{full}"
        );
    }
}
