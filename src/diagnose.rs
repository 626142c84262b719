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
use crate::getpath;
use crate::inventory::{self, Installation, Inventory, stability};
use crate::links::ChainEnd;
use crate::safe_read::{self, Follow};
use crate::venv::{
    ConfigState, DanglingLink, Entry, Leads, LibDir, SEED_DISTRIBUTIONS, Venv, is_interpreter_name,
};
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
    /// The base path names a patch release or a package-manager build (a Homebrew keg, a patch
    /// dir) although a path that survives the next upgrade reaches the same installation.
    UnstableBase,
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
            ProblemKind::UnstableBase => "unstable-base",
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
    /// The interpreter entry or file it is about, relative to the venv (`bin/python3`,
    /// `pyvenv.cfg`, `lib/python3.8/site-packages`).
    pub entry: Option<String>,
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

/// The verdict on one interpreter entry of `bin/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryVerdict {
    /// Its path in the venv (absolute).
    pub path: PathBuf,
    /// Its file name (`python3`).
    pub name: String,
    /// What it runs (links) or is (copies), when known.
    pub base: Option<Base>,
    /// The worst of the problems found for it.
    pub status: Status,
}

/// A venv and everything wrong with it.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub venv: Venv,
    /// The installation the venv's link out leads to (for copies: the one the copy is bound to);
    /// what a single-valued report names. Each entry's own is in `entries`.
    pub base: Option<Base>,
    /// One verdict per interpreter entry, by name.
    pub entries: Vec<EntryVerdict>,
    pub problems: Vec<Problem>,
}

impl Diagnosis {
    /// The worst of the problems: broken, warning, or ok.
    pub fn status(&self) -> Status {
        status_of(&self.problems)
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
///
/// Every interpreter entry of `bin/` is judged: entries that lead to the same file (the usual
/// `python -> python3.12 -> /usr/bin/python3.12`) are judged once, as a group named by the entry
/// that leaves the venv; an entry a user relinked by hand is judged on its own. The venv's status
/// is the worst of them.
pub fn diagnose(venv: Venv, inventory: &Inventory) -> Diagnosis {
    let mut d = Detector {
        venv: &venv,
        inventory,
        problems: Vec::new(),
        entry: None,
    };
    d.config();
    let mut entries = Vec::new();
    if venv.interpreters.is_empty() {
        let hint = d.repair_hint();
        d.entry = Some("bin".into());
        d.push(
            ProblemKind::InterpreterMissing,
            Severity::Error,
            format!(
                "`{}` has no python interpreter entry",
                venv.root.join("bin").display()
            ),
            hint,
        );
        d.entry = None;
    }
    for group in groups(&venv) {
        let first_problem = d.problems.len();
        d.entry = Some(d.rel(&group.named().path));
        let base = d.judge(&group);
        d.entry = None;
        let status = status_of(&d.problems[first_problem..]);
        for member in &group.members {
            entries.push(EntryVerdict {
                path: member.path.clone(),
                name: member.name.clone(),
                base: base.clone(),
                status,
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let base = main_base(&venv, &entries);
    let mut seen_system = Vec::new();
    for verdict in &entries {
        let Some(base) = verdict.base.as_ref().filter(|b| b.os_managed) else {
            continue;
        };
        let copy = venv
            .interpreters
            .iter()
            .find(|e| e.path == verdict.path)
            .and_then(|e| match &e.leads {
                Leads::Copy(file) => Some(file),
                _ => None,
            });
        // A copy is named as what it copies: never the venv's own file as "the base".
        let installation = match copy {
            Some(file) => d.copied_from(file, base),
            None => base.executable.clone(),
        };
        if seen_system.contains(&installation) {
            continue;
        }
        seen_system.push(installation.clone());
        {
            d.entry = Some(d.rel(&verdict.path));
            d.push(
                ProblemKind::SystemInterpreter,
                Severity::Info,
                {
                    let (owner, upgrade) = managed_by(&installation);
                    let what = match copy {
                        Some(file) => format!(
                            "`{}` is a copy of `{}` (Python {}), which",
                            d.rel(file),
                            installation.display(),
                            base.version
                        ),
                        None => format!(
                            "the base `{}` (Python {})",
                            installation.display(),
                            base.version
                        ),
                    };
                    format!(
                        "{what} belongs to {owner}: the next {upgrade} can replace it with \
                         another version"
                    )
                },
                Some("pin the venv to a Python you manage (pyenv, uv) with `venvfix repair --python`".into()),
            );
            d.entry = None;
        }
    }
    if let Some(base) = &base {
        d.unstable_base(base);
    }
    d.orphans(&entries);
    d.links();
    d.moved();
    let problems = d.problems;
    Diagnosis {
        venv,
        base,
        entries,
        problems,
    }
}

/// The base a single-valued report names: that of the link out of the venv, else of the entry
/// a user reaches for first that runs something.
fn main_base(venv: &Venv, entries: &[EntryVerdict]) -> Option<Base> {
    let of = |path: &Path| {
        entries
            .iter()
            .find(|e| e.path == path)
            .and_then(|e| e.base.clone())
    };
    if let Some(link) = venv.base_link()
        && let Some(base) = of(&link.path)
    {
        return Some(base);
    }
    venv.entries_by_use().into_iter().find_map(|e| of(&e.path))
}

fn status_of(problems: &[Problem]) -> Status {
    match problems.iter().map(|p| p.severity).max() {
        Some(Severity::Error) => Status::Broken,
        Some(Severity::Warning) => Status::Warning,
        _ => Status::Ok,
    }
}

/// Entries that lead to the same thing, judged once.
struct Group<'a> {
    /// By use (`python`, `python3`, versioned), the link out of the venv first.
    members: Vec<&'a Entry>,
    leads: &'a Leads,
}

impl Group<'_> {
    /// The entry a problem is about: the one that leaves the venv when there is one.
    fn named(&self) -> &Entry {
        self.members[0]
    }
}

/// What makes two entries the same for a verdict: the file they run (a copy by its content,
/// since `--copies` writes each name as its own file), or where their chain ends.
#[derive(PartialEq, Eq)]
enum GroupKey {
    Base(PathBuf),
    Copy(u64, u64),
    Nowhere(PathBuf),
}

fn groups(venv: &Venv) -> Vec<Group<'_>> {
    let mut groups: Vec<(GroupKey, Group)> = Vec::new();
    let base_link = venv.base_link().map(|e| e.path.clone());
    let mut ordered = venv.entries_by_use();
    ordered.sort_by_key(|e| Some(&e.path) != base_link.as_ref());
    for entry in ordered {
        let key = match &entry.leads {
            Leads::Base(file) => GroupKey::Base(file.clone()),
            Leads::Copy(file) => match read_copy(file) {
                Ok(bytes) => {
                    let mut hasher = std::hash::DefaultHasher::new();
                    std::hash::Hasher::write(&mut hasher, &bytes);
                    GroupKey::Copy(bytes.len() as u64, std::hash::Hasher::finish(&hasher))
                }
                Err(_) => GroupKey::Nowhere(file.clone()),
            },
            // Entries caught in one loop are one problem, whichever hop each entered it by.
            Leads::Nowhere(ChainEnd::Loop { .. }) => GroupKey::Nowhere(
                entry
                    .chain()
                    .and_then(|c| c.hops.iter().map(|h| crate::links::normalize(h)).min())
                    .unwrap_or_else(|| entry.path.clone()),
            ),
            Leads::Nowhere(end) => GroupKey::Nowhere(end.path().to_path_buf()),
        };
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.members.push(entry),
            None => groups.push((
                key,
                Group {
                    members: vec![entry],
                    leads: &entry.leads,
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// Copies are read whole, to a bound (a static interpreter is a few MB), through
/// [`safe_read`]: never blocking, never a device or a file under `/proc`.
const MAX_COPY_BYTES: u64 = 64 << 20;

fn read_copy(path: &Path) -> Result<Vec<u8>, safe_read::ReadError> {
    safe_read::read(path, MAX_COPY_BYTES, Follow::Never)
}

/// The first bytes of `path`, for telling a binary from a script; `None` if unreadable.
fn head(path: &Path) -> Option<Vec<u8>> {
    safe_read::read_head(path, 128, Follow::Links).ok()
}

/// Why a file is not an interpreter binary: a script (its `#!` line) or something else.
fn not_a_binary(bytes: &[u8]) -> Option<String> {
    if inventory::discover::is_native_binary(bytes) {
        return None;
    }
    if let Some(rest) = bytes.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or(rest);
        return Some(format!(
            "a script (`#!{}`), not an interpreter",
            String::from_utf8_lossy(line).trim()
        ));
    }
    Some("not an executable binary".into())
}

struct Detector<'a> {
    venv: &'a Venv,
    inventory: &'a Inventory,
    problems: Vec<Problem>,
    /// The entry (or file) the problems pushed now are about.
    entry: Option<String>,
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
            entry: self.entry.clone(),
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

    /// The group's entries for a message: "`bin/python3`", or "`bin/python3` (and
    /// `bin/python`, `bin/python3.12`)".
    fn label(&self, group: &Group) -> String {
        format!("`{}`{}", self.rel(&group.named().path), self.others(group))
    }

    /// " (and `bin/python`, `bin/python3.12`)" for the group's other entries, or nothing.
    fn others(&self, group: &Group) -> String {
        if group.members.len() < 2 {
            return String::new();
        }
        let others: Vec<String> = group.members[1..]
            .iter()
            .map(|e| format!("`{}`", self.rel(&e.path)))
            .collect();
        format!(" (and {})", others.join(", "))
    }

    /// The chain of the group's named entry, with the venv's own paths shown relative.
    fn chain_text(&self, group: &Group) -> String {
        let entry = group.named();
        match entry.chain() {
            Some(chain) => {
                let text = chain.describe().replace(
                    &format!("`{}`", entry.path.display()),
                    &format!("`{}`", self.rel(&entry.path)),
                );
                format!("{text}{}", self.others(group))
            }
            None => self.label(group),
        }
    }

    fn config(&mut self) {
        let file = self.venv.root.join("pyvenv.cfg");
        let message = match &self.venv.config {
            ConfigState::Parsed(cfg) => {
                let ignored = cfg.ignored_lines();
                if !ignored.is_empty() {
                    let lines: Vec<String> = ignored
                        .iter()
                        .map(|(n, text)| format!("line {n} `{text}`"))
                        .collect();
                    self.entry = Some("pyvenv.cfg".into());
                    self.push(
                        ProblemKind::InvalidConfig,
                        Severity::Warning,
                        format!(
                            "`{}` has lines that are not `key = value` ({}): CPython skips them                              and the venv works, other tools may not",
                            file.display(),
                            lines.join(", ")
                        ),
                        None,
                    );
                    self.entry = None;
                }
                return;
            }
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
        self.entry = Some("pyvenv.cfg".into());
        self.push(ProblemKind::InvalidConfig, Severity::Error, message, hint);
        self.entry = None;
    }

    /// Judge one group of entries: what it runs, and whether that fits the venv.
    fn judge(&mut self, group: &Group) -> Option<Base> {
        let base = match group.leads {
            Leads::Base(file) => self.linked_base(group, file),
            Leads::Copy(file) => self.copied_base(group, file),
            Leads::Nowhere(end) => {
                self.nowhere(group, end);
                None
            }
        }?;
        if base.version.major == 0 {
            self.unknown(group, &base);
            return Some(base);
        }
        self.versions(group, &base, matches!(group.leads, Leads::Copy(_)));
        Some(base)
    }

    /// A chain that ends nowhere runnable.
    fn nowhere(&mut self, group: &Group, end: &ChainEnd) {
        let chain = self.chain_text(group);
        match end {
            // Not missing: this user may not read it (a base under another user's home).
            ChainEnd::Unreadable { path, error } => {
                let message = format!(
                    "{chain} cannot be followed: `{}` cannot be read by this user ({error}); the \
                     venv may work for its owner",
                    path.display()
                );
                self.push(
                    ProblemKind::UnknownInterpreter,
                    Severity::Warning,
                    message,
                    Some("run venvfix as the user who owns the venv and its Python".into()),
                );
            }
            ChainEnd::Special { path } => {
                let message = format!(
                    "{chain} goes through `{}`: a link into `/proc` or `/dev` resolves \
                     differently for each process that reads it, so it is not an interpreter \
                     venvfix can identify; it was not followed and not run",
                    path.display()
                );
                let hint = self.repair_hint();
                self.push(
                    ProblemKind::UnknownInterpreter,
                    Severity::Error,
                    message,
                    hint,
                );
            }
            ChainEnd::NotAFile { path } if group.named().chain().is_none() => {
                let message = format!(
                    "{} is not an interpreter file (`{}` is a directory or a special file)",
                    self.label(group),
                    path.display()
                );
                let hint = self.repair_hint();
                self.push(
                    ProblemKind::InterpreterMissing,
                    Severity::Error,
                    message,
                    hint,
                );
            }
            end => {
                let why = match end {
                    ChainEnd::Missing { path } => {
                        format!(
                            "`{}` does not exist (its Python was removed)",
                            path.display()
                        )
                    }
                    ChainEnd::Loop { path } => format!("the links loop at `{}`", path.display()),
                    ChainEnd::NotAFile { path } => format!("`{}` is not a file", path.display()),
                    ChainEnd::File { path, .. } => format!("`{}` cannot be read", path.display()),
                    ChainEnd::Unreadable { .. } | ChainEnd::Special { .. } => {
                        unreachable!("handled above")
                    }
                };
                let hint = self.repair_hint();
                self.push(
                    ProblemKind::InterpreterMissing,
                    Severity::Error,
                    format!("{chain} leads nowhere: {why}"),
                    hint,
                );
            }
        }
    }

    /// The base a link out of the venv runs: an installed Python discovery found, else judged
    /// from its files. A file discovery did not find that is a script or not a native binary
    /// is never an interpreter.
    fn linked_base(&mut self, group: &Group, file: &Path) -> Option<Base> {
        if self.inventory.find(file).is_none()
            && let Some(why) = head(file).as_deref().and_then(not_a_binary)
        {
            let message = format!(
                "{} leads to `{}`, which is {why}; it was not run",
                self.chain_text(group),
                file.display()
            );
            let hint = self.repair_hint();
            self.push(
                ProblemKind::UnknownInterpreter,
                Severity::Error,
                message,
                hint,
            );
            return None;
        }
        Some(self.base_of(file))
    }

    /// What a copied interpreter runs (`--copies`, virtualenv < 20), read from the copy itself,
    /// never by running it: a launcher (pyenv's `--enable-shared` builds) is bound to the
    /// `libpython` its `RUNPATH` finds, which is not `home`; a static interpreter (Debian's)
    /// carries its own version and takes its standard library from `home/../lib/pythonX.Y`
    /// or above it, and cannot start without one.
    fn copied_base(&mut self, group: &Group, file: &Path) -> Option<Base> {
        let venv = self.venv;
        let entry = group.named();
        let shown = if file == entry.path {
            self.label(group)
        } else {
            format!("{} (a link to `{}`)", self.label(group), self.rel(file))
        };
        let bytes = match read_copy(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                let message = format!("{shown} cannot be read: {}", e.reason());
                self.push(
                    ProblemKind::UnknownInterpreter,
                    Severity::Warning,
                    message,
                    Some("run venvfix as the user who owns the venv".into()),
                );
                return None;
            }
        };
        if let Some(why) = not_a_binary(&bytes) {
            let message =
                format!("{shown} is {why}; venvfix cannot tell what it runs, and did not run it");
            let hint = self.repair_hint();
            self.push(
                ProblemKind::UnknownInterpreter,
                Severity::Error,
                message,
                hint,
            );
            return None;
        }
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
            // No config and no orig-prefix.txt: `invalid-config` says so; the copy is still
            // judged by what it needs, with no `home` to look in.
            (None, None) => PathBuf::new(),
        };

        let binding = match elf::parse_dynamic(&bytes) {
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

        match binding {
            Binding::Shared { lib, dir } => {
                let base = self.bound_base(&lib, &dir);
                if !home.as_os_str().is_empty() && !home.is_dir() {
                    let version = base.as_ref().map(|b| b.version);
                    let above = version.and_then(|v| getpath::search_up(&home, &v));
                    let fallback = match (version, &above) {
                        (Some(v), None) => compiled_fallback(file, &v, None),
                        _ => getpath::Fallback::Unknown,
                    };
                    let hint = self.repair_hint();
                    if let (Some(v), getpath::Fallback::Nowhere) = (version, &fallback) {
                        let message = format!(
                            "pyvenv.cfg `home = {}` does not exist, and {shown}, a copied \
                             launcher that loads `{lib}` from `{}`, has no standard library for \
                             {} under any prefix compiled into it: it cannot start (`No module \
                             named 'encodings'`)",
                            home.display(),
                            dir.display(),
                            v.short()
                        );
                        self.push(
                            ProblemKind::InterpreterMissing,
                            Severity::Error,
                            message,
                            hint,
                        );
                        return None;
                    }
                    let falls_back = match (&above, &fallback) {
                        (Some(prefix), _) => format!(
                            "finding a standard library above `home`, under `{}`",
                            prefix.display()
                        ),
                        (None, getpath::Fallback::Prefix(prefix)) => format!(
                            "falling back to the prefix compiled into it, `{}`",
                            prefix.display()
                        ),
                        _ => "falling back to its compiled-in prefix".to_string(),
                    };
                    let message = format!(
                        "pyvenv.cfg `home = {}` does not exist, but {shown} is a copied launcher \
                         that loads `{lib}` from `{}` (its RUNPATH, not `home`): it still runs, \
                         {falls_back}, which works only while that installation stays",
                        home.display(),
                        dir.display()
                    );
                    self.push(ProblemKind::StaleHome, Severity::Warning, message, hint);
                }
                base
            }
            Binding::Static => self.static_copy(group, &shown, file, &bytes, &home),
            Binding::Unreadable => {
                let message = format!(
                    "{shown} is a copied interpreter venvfix cannot read what it needs to start \
                     from (not an ELF binary it can parse); it was not run"
                );
                let (severity, hint) = if home.is_dir() {
                    (Severity::Warning, None)
                } else {
                    (Severity::Error, self.repair_hint())
                };
                self.push(ProblemKind::UnknownInterpreter, severity, message, hint);
                None
            }
        }
    }

    /// A complete copied interpreter (it needs no `libpython`): its version is the one in the
    /// file, and it starts only if it finds a standard library of its own minor where CPython
    /// looks from `home`: `home/../lib/pythonX.Y/os.py`, then each dir above.
    fn static_copy(
        &mut self,
        group: &Group,
        shown: &str,
        file: &Path,
        bytes: &[u8],
        home: &Path,
    ) -> Option<Base> {
        let name_minor = group
            .members
            .iter()
            .find_map(|e| PythonVersion::from_lib_dir_name(&e.name));
        let Some(version) = inventory::static_version::from_binary(bytes, name_minor)
            .or_else(|| inventory::static_version::from_binary(bytes, None))
        else {
            let message = format!(
                "{shown} is a complete copied interpreter whose version venvfix cannot read \
                 from the file; it was not run"
            );
            self.push(
                ProblemKind::UnknownInterpreter,
                Severity::Warning,
                message,
                Some(format!(
                    "`venvfix repair --strategy recreate {}` rebuilds the venv on a Python \
                     venvfix knows",
                    self.venv.root.display()
                )),
            );
            return None;
        };
        let stdlib_name = format!("lib/python{}", version.short());
        let start = if home.as_os_str().is_empty() {
            file.parent().unwrap_or(file)
        } else {
            home
        };
        // CPython's own search: up from `home`, then the prefix compiled into the binary.
        let found = getpath::search_up(start, &version)
            .map(|prefix| (prefix, false))
            .or_else(|| {
                let code = elf::constant_data(bytes).unwrap_or_else(|| vec![bytes]);
                match getpath::compiled_fallback(&code, &version, None) {
                    getpath::Fallback::Prefix(prefix) => Some((prefix, true)),
                    getpath::Fallback::Nowhere | getpath::Fallback::Unknown => None,
                }
            });
        let evidence = format!("the version string `{version}` in `{}`", self.rel(file));
        let Some((prefix, compiled)) = found else {
            let message = format!(
                "{shown} is a copied Python {version} (read from the file) that cannot start: it \
                 needs a standard library for {} and there is none at `{}` nor above it, nor \
                 under any prefix compiled into it (`No module named 'encodings'`)",
                version.short(),
                start.parent().unwrap_or(start).join(&stdlib_name).display()
            );
            let hint = self.repair_hint();
            self.push(
                ProblemKind::InterpreterMissing,
                Severity::Error,
                message,
                hint,
            );
            return None;
        };
        let stdlib = prefix.join(&stdlib_name);
        if !home.as_os_str().is_empty() && !home.is_dir() {
            let runs_with = if compiled {
                format!(
                    "so it falls back to the prefix compiled into it, `{}`, and runs with the \
                     standard library at `{}`, which works only while that installation stays",
                    prefix.display(),
                    stdlib.display()
                )
            } else {
                format!(
                    "so it still runs, with the standard library it finds at `{}`, which works \
                     only while that stays",
                    stdlib.display()
                )
            };
            let message = format!(
                "pyvenv.cfg `home = {}` does not exist; {shown} is a complete copied Python \
                 {version}, {runs_with}",
                home.display(),
            );
            let hint = self.repair_hint();
            self.push(ProblemKind::StaleHome, Severity::Warning, message, hint);
        }
        Some(Base {
            os_managed: inventory::is_os_managed(
                &prefix
                    .join("bin")
                    .join(format!("python{}", version.short())),
            ),
            executable: file.to_path_buf(),
            version,
            prefix,
            evidence: Evidence::Files(evidence),
            installation: None,
        })
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
    fn unknown(&mut self, group: &Group, base: &Base) {
        let message = format!(
            "{} leads to `{}`, which venvfix cannot identify as a Python installation \
             (not found by discovery, no lib/pythonX.Y next to it); it was not run",
            self.label(group),
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

    /// The installation the copied interpreter `file` (judged as `base`) is a copy of: the
    /// discovered installation with its bytes, else the installation it is bound to, else the
    /// interpreter of the prefix it finds its standard library under (`home`'s).
    fn copied_from(&self, file: &Path, base: &Base) -> PathBuf {
        if let Some(installation) = self.inventory.copied_in(file) {
            return installation.path.clone();
        }
        let root = &self.venv.root;
        let inside = base.executable.starts_with(root)
            || std::fs::canonicalize(root).is_ok_and(|r| base.executable.starts_with(r));
        if !inside {
            return base.executable.clone();
        }
        base.prefix
            .join("bin")
            .join(format!("python{}", base.version.short()))
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

    /// `unstable-base`: the venv reaches its installation through a path the next routine
    /// upgrade removes (a Homebrew keg, a patch dir), although a stable alias exists.
    fn unstable_base(&mut self, base: &Base) {
        let Some(installation) = &base.installation else {
            return;
        };
        let stable = installation.stable_path();
        let version = installation.version;
        let mut used: Vec<(String, PathBuf)> = Vec::new();
        if let Some(entry) = self.venv.base_link()
            && let Some(target) = entry.target()
            && target.is_absolute()
        {
            used.push((
                format!("`{}` links to", self.rel(&entry.path)),
                target.to_path_buf(),
            ));
        }
        if let Some(home) = self.venv.home()
            && let Some(name) = stable.path.file_name()
        {
            used.push(("pyvenv.cfg `home` is".to_string(), home.join(name)));
        }
        let worse: Vec<String> = used
            .iter()
            .filter(|(_, path)| {
                // DESIGN.md: a patch release or a keg. An unversioned `python3` moves with the
                // next minor, but that is `system-interpreter`'s story, not this one.
                stability::stability(path, &version) == stability::Stability::Patch
                    && stable.stability == stability::Stability::Minor
                    && std::fs::canonicalize(path).is_ok_and(|c| c == installation.path)
            })
            .map(|(what, path)| {
                let shown = if what.starts_with("pyvenv.cfg") {
                    path.parent().unwrap_or(path).display().to_string()
                } else {
                    path.display().to_string()
                };
                format!("{what} `{shown}`")
            })
            .collect();
        if worse.is_empty() {
            return;
        }
        let why = stable
            .why
            .clone()
            .unwrap_or_else(|| format!("`{}` survives it", stable.path.display()));
        self.push(
            ProblemKind::UnstableBase,
            Severity::Info,
            format!(
                "{}, a path the next upgrade of Python {} removes; {why}",
                worse.join(" and "),
                version.short()
            ),
            Some("`venvfix repair --stabilize` moves the venv to the stable path".into()),
        );
    }

    /// Whether what a group runs fits the venv: its minor against the packages', its patch
    /// against the recorded one, and `home` against its link.
    fn versions(&mut self, group: &Group, base: &Base, copies: bool) {
        let venv = self.venv;
        let label = self.label(group);
        let runs = if copies {
            format!(
                "{label} is a copied Python {} (bound to `{}`)",
                base.version,
                base.prefix.display(),
            )
        } else {
            format!(
                "{label} runs Python {} (`{}`)",
                base.version,
                base.executable.display()
            )
        };
        let Some(minor) = venv.minor() else { return };
        if !minor.same_minor(&base.version) {
            let whose = match venv.packages_dir() {
                Some(dir) => format!(
                    "the venv's packages are in `{}/site-packages` ({})",
                    self.rel(&dir.path),
                    count(dir.distributions, "distribution")
                ),
                None => format!("the venv was made for Python {minor}"),
            };
            let recorded = venv
                .recorded_version()
                .map(|v| format!("; pyvenv.cfg records {v}"))
                .unwrap_or_default();
            let live = self.live_dir_note(&base.version);
            let system = self.system_site_note(base);
            let hint = self.repair_hint();
            self.push(
                ProblemKind::MinorMismatch,
                Severity::Error,
                format!(
                    "{runs}, but {whose}{recorded}: every import of an installed package \
                     fails{live}{system}"
                ),
                hint,
            );
            return;
        }
        // Copies were judged by what they load when their base was found.
        let home_problem = if copies { None } else { self.home(group, base) };
        let mixed = home_problem
            .as_ref()
            .is_some_and(|p| p.kind == ProblemKind::HomeMismatch);
        if let Some(recorded) = venv.recorded_version()
            && !recorded.same_minor(&base.version)
        {
            // The packages and the interpreter agree; only the record is of another minor.
            // CPython never reads it, tools that do (uv) are misled.
            self.push(
                ProblemKind::MinorMismatch,
                Severity::Warning,
                format!(
                    "{runs} and the venv's packages are for {}, but pyvenv.cfg records \
                     {recorded}: the venv works, tools that read the record are misled",
                    base.version.short()
                ),
                self.repair_hint(),
            );
        } else if let Some(recorded) = venv.recorded_version()
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

    /// For a minor mismatch: what the `lib/pythonX.Y` of the minor that runs holds.
    fn live_dir_note(&self, running: &PythonVersion) -> String {
        let Some(live) = self
            .venv
            .lib_dirs
            .iter()
            .find(|d| d.version.same_minor(running))
        else {
            return String::new();
        };
        if live.distributions == 0 {
            return String::new();
        }
        if live.only_seeds() {
            format!(
                "; `{}/site-packages`, which Python {} reads, holds only {} (what `python -m \
                 venv --upgrade` seeds)",
                self.rel(&live.path),
                running.short(),
                live.names.join(", ")
            )
        } else {
            format!(
                "; `{}/site-packages`, which Python {} reads, holds {} installed since ({})",
                self.rel(&live.path),
                running.short(),
                count(live.user_distributions(), "distribution"),
                live.names
                    .iter()
                    .filter(|n| !SEED_DISTRIBUTIONS.contains(&n.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    /// For a minor mismatch in a venv with `include-system-site-packages = true`: the half
    /// that still works, the base's own packages.
    fn system_site_note(&self, base: &Base) -> String {
        if !self
            .venv
            .cfg()
            .is_some_and(|c| c.include_system_site_packages())
        {
            return String::new();
        }
        let dirs = system_site_dirs(base);
        let seen: Vec<String> = dirs
            .iter()
            .filter_map(|dir| {
                let n = count_distributions(dir);
                (n > 0).then(|| format!("`{}` ({})", dir.display(), count(n, "distribution")))
            })
            .collect();
        let sees = if seen.is_empty() {
            "no system packages".to_string()
        } else {
            seen.join(", ")
        };
        let pip = if system_site_dirs(base)
            .iter()
            .any(|d| d.join("pip").join("__init__.py").is_file())
        {
            "; `bin/pip` runs the system's pip and installs into the venv's new `lib/python"
                .to_string()
                + &base.version.short()
                + "`"
        } else {
            String::new()
        };
        format!(
            "; with `include-system-site-packages = true` the venv is half alive: it still sees \
             {sees}{pip}"
        )
    }

    /// Whether `home` leads to the same installation as the group's link: the problem if
    /// not (`stale-home` or `home-mismatch`), for the caller to report.
    fn home(&self, group: &Group, base: &Base) -> Option<Problem> {
        let home = self.venv.home()?;
        let Ok(home_canonical) = std::fs::canonicalize(&home) else {
            // Python then searches up from `home`, then falls back to the prefix compiled into
            // the binary; when that has no standard library either (python-build-standalone's
            // `/install`), it cannot start at all.
            let sysconfig = base
                .installation
                .as_ref()
                .and_then(|i| i.compiled_prefix.as_deref());
            let exe = base.executable.display();
            let (severity, message) = match getpath::search_up(&home, &base.version) {
                Some(prefix) => (
                    Severity::Warning,
                    format!(
                        "pyvenv.cfg `home = {}` does not exist; Python finds a standard library \
                         above it, at `{}`, which works only while that stays",
                        home.display(),
                        prefix
                            .join(format!("lib/python{}", base.version.short()))
                            .display()
                    ),
                ),
                None => match compiled_fallback(&base.executable, &base.version, sysconfig) {
                    getpath::Fallback::Prefix(prefix) => (
                        Severity::Warning,
                        format!(
                            "pyvenv.cfg `home = {}` does not exist; Python falls back to the \
                             prefix compiled into `{exe}` (`{}`), which works only while that \
                             installation stays",
                            home.display(),
                            prefix.display()
                        ),
                    ),
                    getpath::Fallback::Nowhere => (
                        Severity::Error,
                        format!(
                            "pyvenv.cfg `home = {}` does not exist, and no prefix compiled into \
                             `{exe}` has a standard library for {}: the venv cannot start \
                             (`Could not find platform independent libraries`, then `No module \
                             named 'encodings'`)",
                            home.display(),
                            base.version.short()
                        ),
                    ),
                    // The binary cannot be read: what `sysconfig` said when it was probed.
                    getpath::Fallback::Unknown => match sysconfig {
                        Some(prefix) if !getpath::has_stdlib(prefix, &base.version) => (
                            Severity::Error,
                            format!(
                                "pyvenv.cfg `home = {}` does not exist, and the prefix compiled \
                                 into `{exe}` (`{}`) has no standard library either: the venv \
                                 cannot start (`No module named 'encodings'`)",
                                home.display(),
                                prefix.display()
                            ),
                        ),
                        Some(prefix) => (
                            Severity::Warning,
                            format!(
                                "pyvenv.cfg `home = {}` does not exist; Python falls back to the \
                                 prefix compiled into `{exe}` (`{}`), which works only while \
                                 that installation stays",
                                home.display(),
                                prefix.display()
                            ),
                        ),
                        None => (
                            Severity::Warning,
                            format!(
                                "pyvenv.cfg `home = {}` does not exist; Python falls back to the \
                                 prefix compiled into `{exe}`, which works only while no other \
                                 Python appears there",
                                home.display()
                            ),
                        ),
                    },
                },
            };
            return Some(Problem {
                kind: ProblemKind::StaleHome,
                severity,
                entry: Some("pyvenv.cfg".into()),
                message,
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
            .map(|exe| match head(&exe).as_deref().and_then(not_a_binary) {
                Some(why) => format!(" (`{}` is {why})", exe.display()),
                None if self.inventory.find(&exe).is_none() => String::new(),
                None => {
                    let o = self.base_of(&exe);
                    format!(" (Python {} at `{}`)", o.version, o.executable.display())
                }
            })
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
            entry: Some(self.rel(&group.named().path)),
            message: format!(
                "pyvenv.cfg `home = {}` is another installation{other} than the one {} \
                 leads to (`{}`): {consequence}",
                home.display(),
                self.label(group),
                base.executable.display()
            ),
            hint: self.repair_hint(),
        })
    }

    /// Packages in a `lib/pythonX.Y` no entry runs. Judged against the minors that run, not
    /// the recorded one: a package installed into the live dir after an upgrade is the user's,
    /// not an orphan. When the live dir holds nothing the user installed and another holds the
    /// packages, nothing the user installed imports: an error.
    fn orphans(&mut self, entries: &[EntryVerdict]) {
        let venv = self.venv;
        let mut running: Vec<PythonVersion> = entries
            .iter()
            .filter_map(|e| e.base.as_ref())
            .map(|b| b.version)
            .filter(|v| v.major != 0)
            .collect();
        running.dedup_by(|a, b| a.same_minor(b));
        if running.is_empty() {
            // Nothing identifiable runs: judge against the venv's own minor.
            match venv.minor() {
                Some(minor) => running.push(minor),
                None => return,
            }
        }
        // Already reported as the minor-mismatch's evidence.
        let mismatched = self.has(ProblemKind::MinorMismatch, Severity::Error);
        let live: Vec<&LibDir> = venv
            .lib_dirs
            .iter()
            .filter(|d| running.iter().any(|r| r.same_minor(&d.version)))
            .collect();
        let live_empty = live.iter().all(|d| d.only_seeds());
        let reading = running
            .iter()
            .map(|r| r.short())
            .collect::<Vec<_>>()
            .join(" or ");
        for dir in &venv.lib_dirs {
            if dir.distributions == 0 || running.iter().any(|r| r.same_minor(&dir.version)) {
                continue;
            }
            if mismatched && venv.packages_dir().is_some_and(|p| p.path == dir.path) {
                continue;
            }
            let error = live_empty && !dir.only_seeds();
            let consequence = if error {
                let live = live
                    .first()
                    .map(|d| format!("`{}/site-packages`", self.rel(&d.path)))
                    .unwrap_or_else(|| format!("`lib/python{reading}`"));
                format!(
                    ", while {live} holds nothing the user installed: no package the user \
                     installed imports"
                )
            } else {
                String::new()
            };
            let message = format!(
                "`{}/site-packages` holds {} that Python {reading} never reads{consequence}",
                self.rel(&dir.path),
                count(dir.distributions, "distribution"),
            );
            self.entry = Some(format!("{}/site-packages", self.rel(&dir.path)));
            let severity = if error {
                Severity::Error
            } else {
                Severity::Warning
            };
            self.push(
                ProblemKind::OrphanedSitePackages,
                severity,
                message,
                Some(format!(
                    "reinstall what you need with `venvfix freeze {}`, then remove `{}`",
                    crate::shell::quote(&venv.root),
                    dir.path.display()
                )),
            );
            self.entry = None;
        }
    }

    fn has(&self, kind: ProblemKind, severity: Severity) -> bool {
        self.problems
            .iter()
            .any(|p| p.kind == kind && p.severity == severity)
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
                self.entry = Some(shown_dir);
                self.push(ProblemKind::DanglingLink, Severity::Warning, message, None);
                self.entry = None;
                continue;
            }
            for link in links {
                let message = format!(
                    "`{}` -> `{}` leads nowhere",
                    self.rel(&link.path),
                    link.target.display()
                );
                self.entry = Some(self.rel(&link.path));
                self.push(ProblemKind::DanglingLink, Severity::Warning, message, None);
                self.entry = None;
            }
        }
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
            self.entry = Some("bin".into());
            self.push(ProblemKind::MovedVenv, severity, moved.message(), hint);
            self.entry = None;
        }
    }
}

/// `1 distribution`, `2 distributions`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Where a base Python's own packages live, that a venv with `include-system-site-packages`
/// sees: `<prefix>/lib/pythonX.Y/site-packages`, and on Debian `/usr/lib/python3/dist-packages`
/// (no version in its path: rebuilt for each new minor) and `/usr/local/lib/pythonX.Y/dist-packages`.
fn system_site_dirs(base: &Base) -> Vec<PathBuf> {
    let short = base.version.short();
    let mut dirs = vec![base.prefix.join(format!("lib/python{short}/site-packages"))];
    if base.prefix == Path::new("/usr") {
        dirs.push(PathBuf::from(format!(
            "/usr/local/lib/python{short}/dist-packages"
        )));
        dirs.push(PathBuf::from(format!(
            "/usr/lib/python{}/dist-packages",
            base.version.major
        )));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

fn count_distributions(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.as_encoded_bytes();
                    n.ends_with(b".dist-info") || n.ends_with(b".egg-info")
                })
                .count()
        })
        .unwrap_or(0)
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

/// What the interpreter binary at `exe` falls back to when the search up from `home` finds no
/// standard library: the prefix compiled into it, read from its bytes and, for a launcher,
/// from the `libpython` it loads ([`getpath`]). `hint` is what `sysconfig` said it was.
fn compiled_fallback(
    exe: &Path,
    version: &PythonVersion,
    hint: Option<&Path>,
) -> getpath::Fallback {
    // Only the parts the loader maps are read: a `libpython` is mostly debug info.
    let read = |path: &Path| {
        safe_read::open_regular(path, Follow::Links)
            .ok()
            .and_then(|file| elf::read_constant_data(file, MAX_COPY_BYTES))
    };
    let Some((dynamic, mut code)) = read(exe) else {
        return getpath::Fallback::Unknown;
    };
    if let Some(name) = dynamic.libpython() {
        let found =
            find_library(name, &dynamic.search_dirs(exe)).and_then(|dir| read(&dir.join(name)));
        match found {
            Some((_, lib)) => code.extend(lib),
            None => return getpath::Fallback::Unknown,
        }
    }
    let code: Vec<&[u8]> = code.iter().map(Vec::as_slice).collect();
    getpath::compiled_fallback(&code, version, hint)
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
    if inventory::is_homebrew(exe) {
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

    /// A venv whose `home` is gone, on a base whose compiled-in prefix has (or lacks) its
    /// standard library.
    fn stale_home_severity(compiled_has_stdlib: bool) -> Severity {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let base = root.join("base/bin/python3.12");
        std::fs::create_dir_all(base.parent().unwrap()).unwrap();
        std::fs::write(&base, "\x7fELF").unwrap();
        let compiled = root.join("install");
        if compiled_has_stdlib {
            std::fs::create_dir_all(compiled.join("lib/python3.12")).unwrap();
            std::fs::write(compiled.join("lib/python3.12/os.py"), "").unwrap();
        }
        let venv = root.join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::create_dir_all(venv.join("lib/python3.12/site-packages")).unwrap();
        symlink(&base, venv.join("bin/python")).unwrap();
        std::fs::write(
            venv.join("pyvenv.cfg"),
            format!(
                "home = {}\ninclude-system-site-packages = false\nversion = 3.12.1\n",
                root.join("gone/bin").display()
            ),
        )
        .unwrap();
        let inventory = Inventory {
            pythons: vec![Installation {
                path: base.clone(),
                aliases: Vec::new(),
                version: PythonVersion::new(3, 12, 1),
                implementation: "cpython".into(),
                prefix: root.join("base"),
                source: crate::inventory::Source::SearchPath,
                os_managed: false,
                compiled_prefix: Some(compiled),
            }],
            failures: Vec::new(),
        };
        let d = diagnose(Venv::inspect(&venv).unwrap(), &inventory);
        let problem = d
            .problems
            .iter()
            .find(|p| p.kind == ProblemKind::StaleHome)
            .unwrap_or_else(|| panic!("no stale-home: {:?}", d.problems));
        problem.severity
    }

    #[test]
    fn a_stale_home_is_an_error_when_the_compiled_prefix_is_gone_too() {
        assert_eq!(stale_home_severity(false), Severity::Error);
        assert_eq!(stale_home_severity(true), Severity::Warning);
    }
}
