//! Diagnosis: the problems of one venv, each with a stable kind id, a severity and its evidence.
//!
//! The detector reads the [`Venv`] model and asks the [`Inventory`] what the interpreter its
//! links lead to really is. It never runs anything itself: a base the inventory did not find is
//! judged from its files (`patchlevel.h`, `lib/pythonX.Y`), and a copied interpreter from its
//! ELF dynamic section ([`crate::elf`]: which `libpython` it loads, from where), as DESIGN.md
//! rule 2 requires. A file it cannot identify is reported as such, never called healthy. The
//! problem kinds and severities are the public contract of DESIGN.md; messages name the link,
//! its target, both versions and the file, so a user can verify every claim by hand.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::elf;
use crate::inventory::{self, Installation, Inventory};
use crate::links::ChainEnd;
use crate::venv::{ConfigState, DanglingLink, EntryKind, Interpreter, Venv, is_interpreter_name};
use crate::version::PythonVersion;

/// The stable problem ids of DESIGN.md (used in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    InterpreterMissing,
    MinorMismatch,
    PatchMismatch,
    HomeMismatch,
    InvalidConfig,
    DanglingLink,
    OrphanedSitePackages,
    SystemInterpreter,
    /// `home` names a directory that no longer exists; Python silently falls back to the
    /// binary's compiled-in prefix.
    StaleHome,
    /// Console scripts' shebangs name another directory: the venv was moved or copied.
    MovedVenv,
    /// A repair was killed halfway: its journal is still there and the venv may be half-changed.
    InterruptedRepair,
    /// The interpreter link leads to a file venvfix cannot identify as a Python installation
    /// (not discovered, no version in its files or name); it was not run.
    UnknownInterpreter,
    /// Another venvfix is repairing the venv right now (it holds the lock).
    RepairInProgress,
}

impl ProblemKind {
    /// The id used in JSON and text output.
    pub fn id(self) -> &'static str {
        match self {
            ProblemKind::InterpreterMissing => "interpreter-missing",
            ProblemKind::MinorMismatch => "minor-mismatch",
            ProblemKind::PatchMismatch => "patch-mismatch",
            ProblemKind::HomeMismatch => "home-mismatch",
            ProblemKind::InvalidConfig => "invalid-config",
            ProblemKind::DanglingLink => "dangling-link",
            ProblemKind::OrphanedSitePackages => "orphaned-site-packages",
            ProblemKind::SystemInterpreter => "system-interpreter",
            ProblemKind::StaleHome => "stale-home",
            ProblemKind::MovedVenv => "moved-venv",
            ProblemKind::InterruptedRepair => "interrupted-repair",
            ProblemKind::RepairInProgress => "repair-in-progress",
            ProblemKind::UnknownInterpreter => "unknown-interpreter",
        }
    }
}

/// How much a problem matters. Info never changes a venv's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The verdict on a venv: broken if any error, else warning if any warning, else ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Warning,
    Broken,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Broken => "broken",
        }
    }
}

/// One problem with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub severity: Severity,
    /// What is wrong, naming the link, its target, the versions, the file.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// How the version of the base interpreter is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// The inventory ran it (it is an installed Python found by discovery).
    Probed,
    /// Read from its installation's files, without running it (the file named).
    Files(String),
}

/// The installation a venv's interpreter leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Base {
    /// The canonical executable.
    pub executable: PathBuf,
    pub version: PythonVersion,
    pub prefix: PathBuf,
    pub evidence: Evidence,
    /// Owned by the OS package manager.
    pub os_managed: bool,
    /// The inventory entry, when discovery found it.
    #[serde(skip)]
    pub installation: Option<Installation>,
}

/// A venv and everything wrong with it.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub venv: Venv,
    /// The installation the interpreter runs (for links) or is bound to (for copies).
    pub base: Option<Base>,
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    pub fn status(&self) -> Status {
        match self.problems.iter().map(|p| p.severity).max() {
            Some(Severity::Error) => Status::Broken,
            Some(Severity::Warning) => Status::Warning,
            _ => Status::Ok,
        }
    }

    pub fn has(&self, kind: ProblemKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }

    /// The kinds found, in order.
    pub fn kinds(&self) -> Vec<ProblemKind> {
        self.problems.iter().map(|p| p.kind).collect()
    }
}

/// Diagnose `venv` against the installed Pythons.
pub fn diagnose(venv: Venv, inventory: &Inventory) -> Diagnosis {
    let mut d = Detector {
        venv: &venv,
        inventory,
        problems: Vec::new(),
    };
    d.config();
    let base = d.interpreter();
    if let Some(base) = &base {
        if base.version.major == 0 {
            d.unknown(base);
        }
        d.versions(base);
        if base.os_managed {
            d.push(
                ProblemKind::SystemInterpreter,
                Severity::Info,
                {
                    let (owner, upgrade) = managed_by(&base.executable);
                    format!(
                        "the base `{}` (Python {}) belongs to {owner}: the next {upgrade} can \
                         replace it with another version",
                        base.executable.display(),
                        base.version
                    )
                },
                Some("pin the venv to a Python you manage (pyenv, uv) with `venvfix repair --python`".into()),
            );
        }
    }
    d.orphans(base.as_ref());
    d.links();
    d.moved();
    let problems = d.problems;
    Diagnosis {
        venv,
        base,
        problems,
    }
}

struct Detector<'a> {
    venv: &'a Venv,
    inventory: &'a Inventory,
    problems: Vec<Problem>,
}

impl Detector<'_> {
    fn push(
        &mut self,
        kind: ProblemKind,
        severity: Severity,
        message: String,
        hint: Option<String>,
    ) {
        self.problems.push(Problem {
            kind,
            severity,
            message,
            hint,
        });
    }

    fn repair_hint(&self) -> Option<String> {
        Some(format!(
            "run `venvfix repair {}`",
            crate::shell::quote(&self.venv.root)
        ))
    }

    fn rel(&self, path: &Path) -> String {
        self.venv.relative(path).display().to_string()
    }

    fn config(&mut self) {
        let file = self.venv.root.join("pyvenv.cfg");
        let message = match &self.venv.config {
            ConfigState::Parsed(_) => return,
            ConfigState::Missing if self.venv.legacy_orig_prefix.is_some() => return,
            ConfigState::Missing => format!(
                "`{}` is missing: Python cannot tell this directory is a venv and runs without \
                 its site-packages",
                file.display()
            ),
            ConfigState::Unreadable(e) => format!("cannot read `{}`: {e}", file.display()),
            ConfigState::Invalid(e) => format!("`{}` {e}", file.display()),
        };
        let hint = self.repair_hint();
        self.push(ProblemKind::InvalidConfig, Severity::Error, message, hint);
    }

    /// Find what the venv's `bin/python` runs; report it if it runs nothing.
    fn interpreter(&mut self) -> Option<Base> {
        let venv = self.venv;
        let Some(runner) = venv.runner() else {
            let hint = self.repair_hint();
            self.push(
                ProblemKind::InterpreterMissing,
                Severity::Error,
                format!(
                    "`{}` has no python interpreter entry",
                    venv.root.join("bin").display()
                ),
                hint,
            );
            return None;
        };
        // A chain that ends at a regular file inside the venv is a copied interpreter
        // (virtualenv < 20: `bin/python -> python3.8`, a copy): the venv is not its base.
        if let Some(file) = venv.copied_runner() {
            return self.copied_base(runner, &file);
        }
        match &runner.kind {
            EntryKind::Link { chain, .. } => match &chain.end {
                ChainEnd::File { canonical, .. } => Some(self.base_of(canonical)),
                // Not missing: this user may not read it (a base under another user's home).
                ChainEnd::Unreadable { path, error } => {
                    let message = format!(
                        "{} cannot be followed: `{}` cannot be read by this user ({error}); the \
                         venv may work for its owner",
                        chain.describe().replace(
                            &format!("`{}`", runner.path.display()),
                            &format!("`{}`", self.rel(&runner.path))
                        ),
                        path.display()
                    );
                    self.push(
                        ProblemKind::UnknownInterpreter,
                        Severity::Warning,
                        message,
                        Some("run venvfix as the user who owns the venv and its Python".into()),
                    );
                    None
                }
                end => {
                    let why = match end {
                        ChainEnd::Missing { path } => {
                            format!(
                                "`{}` does not exist (its Python was removed)",
                                path.display()
                            )
                        }
                        ChainEnd::Loop { path } => {
                            format!("the links loop at `{}`", path.display())
                        }
                        ChainEnd::NotAFile { path } => {
                            format!("`{}` is not a file", path.display())
                        }
                        ChainEnd::File { .. } | ChainEnd::Unreadable { .. } => {
                            unreachable!("handled above")
                        }
                    };
                    let message = format!(
                        "{} leads nowhere: {why}",
                        chain.describe().replace(
                            &format!("`{}`", runner.path.display()),
                            &format!("`{}`", self.rel(&runner.path))
                        )
                    );
                    let hint = self.repair_hint();
                    self.push(
                        ProblemKind::InterpreterMissing,
                        Severity::Error,
                        message,
                        hint,
                    );
                    None
                }
            },
            EntryKind::Copy { .. } => self.copied_base(runner, &runner.path),
            EntryKind::Other => {
                let hint = self.repair_hint();
                let message = format!("`{}` is not an interpreter file", self.rel(&runner.path));
                self.push(
                    ProblemKind::InterpreterMissing,
                    Severity::Error,
                    message,
                    hint,
                );
                None
            }
        }
    }

    /// The base of a venv whose `bin/python` is a copy (`--copies`, virtualenv < 20): the
    /// installation `home` (or `orig-prefix.txt`) names. Whether the copy can start at all is
    /// read from its ELF dynamic section, never by running it: a launcher (pyenv's
    /// `--enable-shared` builds) needs `libpython` from its `RUNPATH`, which is not `home`.
    fn copied_base(&mut self, runner: &Interpreter, file: &Path) -> Option<Base> {
        let venv = self.venv;
        let shown = if file == runner.path {
            format!("`{}`", self.rel(&runner.path))
        } else {
            format!(
                "`{}` (a link to `{}`)",
                self.rel(&runner.path),
                self.rel(file)
            )
        };
        let home = match (venv.home(), &venv.legacy_orig_prefix) {
            (Some(home), _) => home,
            (None, Some(prefix)) => {
                if !prefix.is_dir() {
                    let named_by = venv
                        .lib_dirs
                        .iter()
                        .map(|d| d.path.join("orig-prefix.txt"))
                        .find(|p| p.is_file())
                        .map(|p| self.rel(&p))
                        .unwrap_or_else(|| "orig-prefix.txt".into());
                    let message = format!(
                        "{shown} is a copied interpreter (virtualenv < 20) whose base prefix `{}`, \
                         named by `{named_by}`, is gone: the standard library links into it lead \
                         nowhere, so `bin/python` cannot import the venv's packages",
                        prefix.display()
                    );
                    let hint = self.repair_hint();
                    self.push(
                        ProblemKind::InterpreterMissing,
                        Severity::Error,
                        message,
                        hint,
                    );
                    return None;
                }
                prefix.join("bin")
            }
            // No config and no orig-prefix.txt: `invalid-config` says so.
            (None, None) => return None,
        };

        let binding = match elf::read_dynamic(file) {
            None => Binding::Unreadable,
            Some(dynamic) => match dynamic.libpython() {
                None => Binding::Static,
                Some(lib) => {
                    let runpath = dynamic.search_dirs(file);
                    match find_library(lib, &runpath) {
                        Some(dir) => Binding::Shared {
                            lib: lib.to_string_lossy().into_owned(),
                            dir,
                        },
                        None => {
                            let searched = if runpath.is_empty() {
                                "it has no RUNPATH".to_string()
                            } else {
                                format!(
                                    "its RUNPATH {}",
                                    runpath
                                        .iter()
                                        .map(|d| format!("`{}`", d.display()))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            let message = format!(
                                "{shown} is a copied launcher that needs `{}`, found neither in \
                                 {searched} nor in the system library dirs ({}): it cannot start",
                                lib.to_string_lossy(),
                                system_lib_dirs()
                                    .iter()
                                    .map(|d| format!("`{}`", d.display()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            );
                            let hint = self.repair_hint();
                            self.push(
                                ProblemKind::InterpreterMissing,
                                Severity::Error,
                                message,
                                hint,
                            );
                            return None;
                        }
                    }
                }
            },
        };

        if !home.is_dir() {
            let (message, base) = match &binding {
                Binding::Shared { lib, dir } => (
                    format!(
                        "pyvenv.cfg `home = {}` does not exist, but {shown} is a copied launcher \
                         that loads `{lib}` from `{}` (its RUNPATH, not `home`): it still runs, \
                         falling back to its compiled-in prefix, which works only while that \
                         installation stays",
                        home.display(),
                        dir.display()
                    ),
                    self.bound_base(lib, dir),
                ),
                Binding::Static => (
                    format!(
                        "pyvenv.cfg `home = {}` does not exist; {shown} is a complete copied \
                         interpreter (it needs no `libpython`), so it still runs and falls back \
                         to its compiled-in prefix, which works only while that prefix holds its \
                         standard library",
                        home.display()
                    ),
                    None,
                ),
                Binding::Unreadable => {
                    let message = format!(
                        "{shown} is a copied interpreter whose base `{}` is gone, and venvfix \
                         cannot read what it needs to start (not an ELF binary it can parse)",
                        home.display()
                    );
                    let hint = self.repair_hint();
                    self.push(
                        ProblemKind::InterpreterMissing,
                        Severity::Error,
                        message,
                        hint,
                    );
                    return None;
                }
            };
            let hint = self.repair_hint();
            self.push(ProblemKind::StaleHome, Severity::Warning, message, hint);
            return base;
        }
        let minor = venv.minor();
        let found = self
            .inventory
            .find_by_dir(&home)
            .into_iter()
            .max_by_key(|i| (minor.is_some_and(|m| m.same_minor(&i.version)), i.version));
        if let Some(installation) = found {
            return Some(base_from_installation(installation));
        }
        let name = minor.map(|m| format!("python{}", m.short()));
        let in_home = name
            .map(|n| home.join(n))
            .filter(|p| p.exists())
            .or_else(|| first_interpreter_in(&home))
            .and_then(|exe| std::fs::canonicalize(exe).ok())
            .map(|exe| self.base_of(&exe))
            .filter(|b| b.version.major != 0);
        match (in_home, &binding) {
            (Some(base), _) => Some(base),
            (None, Binding::Shared { lib, dir }) => self.bound_base(lib, dir),
            (None, _) => None,
        }
    }

    /// The installation a launcher is bound to by the dir its `libpython` loads from: the
    /// inventory's installation with that prefix, else the prefix's own files.
    fn bound_base(&self, lib: &str, dir: &Path) -> Option<Base> {
        let prefix = prefix_of_lib_dir(dir);
        let hint = libpython_version(lib);
        let canonical = std::fs::canonicalize(&prefix).ok();
        let same_prefix = |i: &&Installation| {
            i.prefix == prefix
                || canonical.is_some()
                    && std::fs::canonicalize(&i.prefix).ok().as_ref() == canonical.as_ref()
        };
        if let Some(installation) = self
            .inventory
            .pythons
            .iter()
            .filter(same_prefix)
            .find(|i| hint.is_none_or(|h| h.same_minor(&i.version)))
        {
            return Some(base_from_installation(installation));
        }
        let found = inventory::static_version::from_prefix(&prefix, hint)?;
        let executable = prefix
            .join("bin")
            .join(format!("python{}", found.version.short()));
        Some(Base {
            os_managed: inventory::is_os_managed(&executable),
            executable,
            version: found.version,
            prefix: found.prefix,
            evidence: Evidence::Files(found.evidence),
            installation: None,
        })
    }

    /// The link leads to a file whose version nothing tells: say so rather than call it ok.
    fn unknown(&mut self, base: &Base) {
        let runner = self
            .venv
            .runner()
            .map(|r| self.rel(&r.path))
            .unwrap_or_else(|| "bin/python".into());
        let message = format!(
            "`{runner}` leads to `{}`, which venvfix cannot identify as a Python installation \
             (not found by discovery, no lib/pythonX.Y next to it); it was not run",
            base.executable.display()
        );
        let hint = Some(format!(
            "check what `{}` is; `venvfix pythons` lists the Pythons venvfix knows, and `venvfix \
             repair --strategy recreate {}` rebuilds the venv on one of them",
            base.executable.display(),
            self.venv.root.display()
        ));
        self.push(
            ProblemKind::UnknownInterpreter,
            Severity::Warning,
            message,
            hint,
        );
    }

    /// What is known about the installation of the canonical executable `exe`.
    fn base_of(&self, exe: &Path) -> Base {
        if let Some(installation) = self.inventory.find(exe) {
            return base_from_installation(installation);
        }
        match inventory::static_version(exe) {
            Some(found) => Base {
                executable: exe.to_path_buf(),
                version: found.version,
                os_managed: inventory::is_os_managed(exe),
                prefix: found.prefix,
                evidence: Evidence::Files(found.evidence),
                installation: None,
            },
            None => Base {
                executable: exe.to_path_buf(),
                version: version_from_name(exe).unwrap_or(PythonVersion::minor_only(0, 0)),
                prefix: prefix_of(exe),
                os_managed: inventory::is_os_managed(exe),
                evidence: Evidence::Files(format!("the file name `{}`", exe.display())),
                installation: None,
            },
        }
    }

    fn versions(&mut self, base: &Base) {
        if base.version.major == 0 {
            return;
        }
        let venv = self.venv;
        let copies = venv.uses_copies();
        let runner_path = venv
            .runner()
            .map(|r| self.rel(&r.path))
            .unwrap_or_else(|| "bin/python".into());
        let runs = if copies {
            format!(
                "`{runner_path}` is a copy bound to `{}` (Python {})",
                base.prefix.display(),
                base.version
            )
        } else {
            format!(
                "`{runner_path}` runs Python {} (`{}`)",
                base.version,
                base.executable.display()
            )
        };
        let Some(minor) = venv.minor() else { return };
        if !minor.same_minor(&base.version) {
            let whose = match venv.packages_dir() {
                Some(dir) => format!(
                    "the venv's packages are in `{}/site-packages` ({} distribution{})",
                    self.rel(&dir.path),
                    dir.distributions,
                    if dir.distributions == 1 { "" } else { "s" }
                ),
                None => format!("the venv was made for Python {minor}"),
            };
            let recorded = venv
                .recorded_version()
                .map(|v| format!("; pyvenv.cfg records {v}"))
                .unwrap_or_default();
            let hint = self.repair_hint();
            self.push(
                ProblemKind::MinorMismatch,
                Severity::Error,
                format!(
                    "{runs}, but {whose}{recorded}: every import of an installed package fails"
                ),
                hint,
            );
            return;
        }
        // Copies were judged against `home` when their base was found.
        let home_problem = if copies { None } else { self.home(base) };
        let mixed = home_problem
            .as_ref()
            .is_some_and(|p| p.kind == ProblemKind::HomeMismatch);
        if let Some(recorded) = venv.recorded_version()
            && recorded.patch.is_some()
            && base.version.patch.is_some()
            && recorded != base.version
        {
            let (severity, consequence) = if copies {
                (
                    Severity::Error,
                    ": the copied binary is another build than the standard library it now loads",
                )
            } else if mixed {
                // The home-mismatch beside it says binary and library are two builds.
                (Severity::Warning, "")
            } else {
                (
                    Severity::Warning,
                    ": harmless while binary and standard library come from one build",
                )
            };
            let hint = self.repair_hint();
            self.push(
                ProblemKind::PatchMismatch,
                severity,
                format!("{runs}, but pyvenv.cfg records {recorded}{consequence}"),
                hint,
            );
        }
        if let Some(problem) = home_problem {
            self.problems.push(problem);
        }
    }

    /// Whether `home` leads to the same installation as the interpreter link: the problem if
    /// not (`stale-home` or `home-mismatch`), for the caller to report.
    fn home(&self, base: &Base) -> Option<Problem> {
        let home = self.venv.home()?;
        let Ok(home_canonical) = std::fs::canonicalize(&home) else {
            return Some(Problem {
                kind: ProblemKind::StaleHome,
                severity: Severity::Warning,
                message: format!(
                    "pyvenv.cfg `home = {}` does not exist; Python falls back to the prefix \
                     compiled into `{}`, which works only while no other Python appears there",
                    home.display(),
                    base.executable.display()
                ),
                hint: self.repair_hint(),
            });
        };
        if consistent_home(&home_canonical, base) {
            return None;
        }
        let stdlib = home_canonical
            .parent()
            .map(|p| p.join(format!("lib/python{}", base.version.short())));
        let mixed = stdlib.as_ref().filter(|s| s.join("os.py").exists());
        let other = first_interpreter_in(&home_canonical)
            .and_then(|p| std::fs::canonicalize(p).ok())
            .map(|exe| self.base_of(&exe));
        let other_desc = other
            .as_ref()
            .map(|o| format!(" (Python {} at `{}`)", o.version, o.executable.display()))
            .unwrap_or_default();
        let consequence = match mixed {
            Some(stdlib) => format!(
                "Python takes its standard library from `{}` with the binary from `{}`: mixed \
                 builds, imports of compiled modules fail",
                stdlib.display(),
                base.executable.display()
            ),
            None => "the half-done relink works only while that installation has no standard \
                     library for this minor"
                .to_string(),
        };
        Some(Problem {
            kind: ProblemKind::HomeMismatch,
            severity: Severity::Error,
            message: format!(
                "pyvenv.cfg `home = {}` is another installation{other_desc} than the one the \
                 interpreter link leads to (`{}`): {consequence}",
                home.display(),
                base.executable.display()
            ),
            hint: self.repair_hint(),
        })
    }

    fn orphans(&mut self, base: Option<&Base>) {
        let venv = self.venv;
        let Some(minor) = venv.minor() else { return };
        let reading = base
            .filter(|b| b.version.major != 0)
            .map(|b| b.version)
            .unwrap_or(minor);
        for dir in &venv.lib_dirs {
            if dir.distributions == 0 || dir.version.same_minor(&minor) {
                continue;
            }
            let message = format!(
                "`{}/site-packages` holds {} distribution{} that Python {} never reads",
                self.rel(&dir.path),
                dir.distributions,
                if dir.distributions == 1 { "" } else { "s" },
                reading.short()
            );
            self.push(
                ProblemKind::OrphanedSitePackages,
                Severity::Warning,
                message,
                Some(format!(
                    "reinstall what you need with `venvfix freeze {}`, then remove `{}`",
                    crate::shell::quote(&venv.root),
                    dir.path.display()
                )),
            );
        }
    }

    fn links(&mut self) {
        let venv = self.venv;
        // One problem per dir that has many (virtualenv < 20 links the whole stdlib), so a
        // report lists what is wrong rather than fifty copies of it.
        let mut by_dir: Vec<(&Path, Vec<&DanglingLink>)> = Vec::new();
        for link in &venv.dangling {
            let dir = link.path.parent().unwrap_or(Path::new(""));
            match by_dir.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, links)) => links.push(link),
                None => by_dir.push((dir, vec![link])),
            }
        }
        for (dir, mut links) in by_dir {
            if links.len() > MAX_DANGLING_LISTED {
                links.sort_by(|a, b| a.path.cmp(&b.path));
                let example = links
                    .iter()
                    .find(|l| l.path.file_name().is_some_and(|n| n == "os.py"))
                    .unwrap_or(&links[0]);
                let shown_dir = match self.rel(dir) {
                    rel if rel.is_empty() => ".".to_string(),
                    rel => rel,
                };
                let message = format!(
                    "`{shown_dir}`: {} links lead nowhere, e.g. `{} -> {}`",
                    links.len(),
                    example
                        .path
                        .file_name()
                        .unwrap_or(example.path.as_os_str())
                        .to_string_lossy(),
                    example.target.display()
                );
                self.push(ProblemKind::DanglingLink, Severity::Warning, message, None);
                continue;
            }
            for link in links {
                let message = format!(
                    "`{}` -> `{}` leads nowhere",
                    self.rel(&link.path),
                    link.target.display()
                );
                self.push(ProblemKind::DanglingLink, Severity::Warning, message, None);
            }
        }
        // Interpreter entries other than the runner that dangle on their own.
        let runner = venv.runner().map(|r| r.name.clone());
        for entry in &venv.interpreters {
            if Some(&entry.name) == runner.as_ref() {
                continue;
            }
            if let EntryKind::Link { target, chain } = &entry.kind
                && !chain.resolves()
                && !self.has_missing_interpreter()
            {
                let message = format!(
                    "`{}` -> `{}` leads nowhere",
                    self.rel(&entry.path),
                    target.display()
                );
                let hint = self.repair_hint();
                self.push(ProblemKind::DanglingLink, Severity::Warning, message, hint);
            }
        }
    }

    fn has_missing_interpreter(&self) -> bool {
        self.problems
            .iter()
            .any(|p| p.kind == ProblemKind::InterpreterMissing)
    }

    fn moved(&mut self) {
        if let Some(moved) = &self.venv.scripts.moved {
            let severity = if moved.scripts_fail() {
                Severity::Error
            } else {
                Severity::Warning
            };
            let hint = Some(format!(
                "`venvfix repair {}` rewrites them to this directory, in place",
                crate::shell::quote(&self.venv.root)
            ));
            self.push(ProblemKind::MovedVenv, severity, moved.message(), hint);
        }
    }
}

/// More dangling links than this in one dir are reported as one problem.
const MAX_DANGLING_LISTED: usize = 3;

/// What a copied binary needs to start, from its ELF dynamic section.
enum Binding {
    /// It loads `lib` (`libpython3.11.so.1.0`), found in `dir`.
    Shared { lib: String, dir: PathBuf },
    /// It needs no `libpython`: a whole interpreter.
    Static,
    /// Not an ELF file venvfix can read.
    Unreadable,
}

/// The dir among `runpath` and the system library dirs that holds `lib`, in the loader's order.
fn find_library(lib: &std::ffi::OsStr, runpath: &[PathBuf]) -> Option<PathBuf> {
    runpath
        .iter()
        .cloned()
        .chain(system_lib_dirs())
        .find(|dir| dir.join(lib).is_file())
}

/// The dirs the dynamic loader searches after `RUNPATH` on a usual Linux system
/// (`ld.so.cache` lists the multiarch ones on Debian).
fn system_lib_dirs() -> Vec<PathBuf> {
    let triplet = format!("{}-linux-gnu", std::env::consts::ARCH);
    [
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib64".into(),
        "/usr/lib64".into(),
        "/lib".into(),
        "/usr/lib".into(),
        "/usr/local/lib".into(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// The prefix a library dir belongs to: `<prefix>/lib`, `<prefix>/lib64` or
/// `<prefix>/lib/<multiarch triplet>`.
fn prefix_of_lib_dir(dir: &Path) -> PathBuf {
    let is_lib = |p: &Path| p.file_name().is_some_and(|n| n == "lib" || n == "lib64");
    if is_lib(dir) {
        return dir.parent().unwrap_or(dir).to_path_buf();
    }
    match dir.parent() {
        Some(parent) if is_lib(parent) => parent.parent().unwrap_or(parent).to_path_buf(),
        _ => dir.parent().unwrap_or(dir).to_path_buf(),
    }
}

/// `libpython3.11.so.1.0`, `libpython3.13t.so.1.0`, `libpython3.6m.so.1.0` → the minor.
fn libpython_version(lib: &str) -> Option<PythonVersion> {
    let rest = lib.strip_prefix("libpython")?;
    let version = rest.split(".so").next()?;
    let version = version.trim_end_matches(['d', 'm', 'u']);
    PythonVersion::from_lib_dir_name(&format!("python{version}"))
}

fn base_from_installation(installation: &Installation) -> Base {
    Base {
        executable: installation.path.clone(),
        version: installation.version,
        prefix: installation.prefix.clone(),
        evidence: Evidence::Probed,
        os_managed: installation.os_managed,
        installation: Some(installation.clone()),
    }
}

/// `home` is consistent when it is the binary's own dir, holds a link to the same binary, or
/// is the `bin/` of the binary's prefix.
fn consistent_home(home: &Path, base: &Base) -> bool {
    if base.executable.parent() == Some(home) {
        return true;
    }
    if let Ok(prefix) = std::fs::canonicalize(&base.prefix)
        && home.parent() == Some(prefix.as_path())
    {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(home) else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| is_interpreter_name(&e.file_name()))
        .any(|e| std::fs::canonicalize(e.path()).is_ok_and(|c| c == base.executable))
}

fn first_interpreter_in(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| is_interpreter_name(&e.file_name()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    // The most specific name first: python3.8 before python3 before python.
    names.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    names.into_iter().next()
}

fn prefix_of(exe: &Path) -> PathBuf {
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn version_from_name(exe: &Path) -> Option<PythonVersion> {
    let name = exe.file_name()?.to_str()?;
    PythonVersion::from_lib_dir_name(name)
}

/// Who replaces a package-managed base, and when: Homebrew is not the OS's package manager,
/// and `brew upgrade`, not an OS upgrade, swaps its kegs.
fn managed_by(exe: &Path) -> (&'static str, &'static str) {
    let homebrew = exe.components().any(|c| c.as_os_str() == "Cellar")
        || [
            "/opt/homebrew",
            "/home/linuxbrew/.linuxbrew",
            "/usr/local/opt",
        ]
        .iter()
        .any(|p| exe.starts_with(p));
    if homebrew {
        ("Homebrew", "`brew upgrade`")
    } else {
        ("the OS package manager", "OS upgrade")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn homebrew_bases_are_not_the_os_package_managers() {
        let (owner, upgrade) = super::managed_by(Path::new(
            "/opt/homebrew/Cellar/python@3.12/3.12.1/bin/python3.12",
        ));
        assert_eq!((owner, upgrade), ("Homebrew", "`brew upgrade`"));
        let (owner, _) = super::managed_by(Path::new("/usr/bin/python3.11"));
        assert_eq!(owner, "the OS package manager");
    }

    use super::*;

    #[test]
    fn libpython_names_give_their_minor() {
        for (name, minor) in [
            ("libpython3.11.so.1.0", "3.11"),
            ("libpython3.13t.so.1.0", "3.13"),
            ("libpython3.6m.so.1.0", "3.6"),
            ("libpython2.7.so.1.0", "2.7"),
        ] {
            assert_eq!(
                libpython_version(name).map(|v| v.short()).as_deref(),
                Some(minor),
                "{name}"
            );
        }
        assert_eq!(libpython_version("libc.so.6"), None);
        assert_eq!(libpython_version("libpython.so"), None);
    }

    #[test]
    fn the_prefix_of_a_library_dir() {
        for (dir, prefix) in [
            (
                "/root/.pyenv/versions/3.11.7/lib",
                "/root/.pyenv/versions/3.11.7",
            ),
            ("/usr/lib/x86_64-linux-gnu", "/usr"),
            ("/opt/py/lib64", "/opt/py"),
        ] {
            assert_eq!(prefix_of_lib_dir(Path::new(dir)), PathBuf::from(prefix));
        }
    }
}
