//! The recreate *spec*: what a recreate will build, reinstall and carry over, read from the
//! venv's files before anything is touched.
//!
//! [`recreate_spec`] turns a venv and the Python chosen for it into a [`RecreateSpec`]: the
//! requirement lines (exact pins, editables, VCS commits, URLs), the seed packages at their
//! versions, the venv's shape (creator, `--copies`, system site packages, prompt, activators),
//! and every file no creator or installer made ([`carry_over`]): entries at the root and in
//! `bin/`, and every file in site-packages that no distribution's `RECORD` lists, `.pth` paths
//! into the old `lib/pythonX.Y` rewritten. Names are `OsStr` all the way: a name that is not
//! UTF-8 is carried like any other. It also says what will differ between the old and the new
//! venv, and records what it read so the executor can refuse a spec the venv no longer matches
//! ([`RecreateSpec::stale`]).
//!
//! What this module must never do: run anything, or write anything. Building the venv from the
//! spec is the executor's side ([`crate::execute::recreate`]); choosing the Python by what its
//! installer can resolve is [`crate::resolve`].

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::dists::{self, Distribution, DistsError, Record};
use crate::inventory::Installation;
use crate::records::{self, NewBase, RecordEdit};
use crate::safe_read::{self, Follow, limit};
use crate::venv::{Creator, Venv, is_interpreter_name};
use crate::version::PythonVersion;

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

/// Entries of site-packages that creators make (no `RECORD` lists them) or that are
/// regenerated: virtualenv's `_virtualenv` hook, its seed markers, byte-code caches.
const CREATOR_SITE_ENTRIES: &[&str] = &["_virtualenv.pth", "_virtualenv.py", "__pycache__"];

/// Why a recreate could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum RecreateError {
    #[error("cannot read what is installed: {0}")]
    Dists(#[from] DistsError),
    #[error(
        "the editable `{name}` was installed from `{}`, which is gone; restore that directory \
         (or uninstall `{name}`) first",
        source_dir.display()
    )]
    EditableGone { name: String, source_dir: PathBuf },
    #[error("{0}")]
    NoCreator(String),
}

/// How the new venv is made (its activators, links and layout come from this tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tool", rename_all = "kebab-case")]
pub enum Creation {
    /// The standard library's `python -m venv`.
    Venv,
    /// `uv venv`.
    Uv { uv: PathBuf },
    /// virtualenv: `program` followed by `args` (`virtualenv`, or `uv tool run --from
    /// virtualenv<20.22 virtualenv`).
    Virtualenv { program: PathBuf, args: Vec<String> },
}

impl Creation {
    /// How the creator is named in the plan.
    pub fn shown(&self) -> String {
        match self {
            Creation::Venv => "`python -m venv`".into(),
            Creation::Uv { uv } => format!("`{} venv`", uv.display()),
            Creation::Virtualenv { program, args } => {
                let mut words = vec![program.display().to_string()];
                words.extend(args.iter().cloned());
                format!("`{}`", words.join(" "))
            }
        }
    }
}

/// What installs the distributions into the new venv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "tool", rename_all = "kebab-case")]
pub enum Installer {
    /// `uv pip install --python <new venv>`.
    Uv { uv: PathBuf },
    /// The new venv's own pip.
    Pip,
}

/// A seed package of the old venv (pip, setuptools, wheel) and what the new one gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Seed {
    pub name: String,
    /// Its version in the old venv.
    pub old: String,
    /// The version the new venv gets: `old` where it installs, else the nearest that does;
    /// `None` when none does (then the creator's own seed, if any, stays).
    pub new: Option<String>,
}

impl Seed {
    /// The requirement line that installs it, if one is to be installed.
    pub fn requirement(&self) -> Option<String> {
        self.new.as_ref().map(|v| format!("{}=={v}", self.name))
    }
}

/// A file the creator and the installers did not make, copied from the old venv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarryOver {
    /// In the old venv, relative to its root (lossy in JSON: JSON cannot carry raw bytes).
    #[serde(serialize_with = "lossy")]
    pub from: PathBuf,
    /// In the new venv: the same path, or under the new `lib/pythonX.Y`.
    #[serde(serialize_with = "lossy")]
    pub to: PathBuf,
    /// A `.pth` whose lines name the old `lib/pythonX.Y`: those are rewritten to the new one.
    pub rewrite: Option<PthRewrite>,
}

/// Absolute prefixes replaced in a carried-over `.pth` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PthRewrite {
    #[serde(serialize_with = "lossy_all")]
    pub from: Vec<PathBuf>,
    #[serde(serialize_with = "lossy")]
    pub to: PathBuf,
}

fn lossy<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

fn lossy_all<S: Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

/// What the installer's dry run said about one candidate Python ([`crate::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Resolution {
    /// The candidate's executable.
    pub python: PathBuf,
    pub version: Option<PythonVersion>,
    /// `uv` or `pip`.
    pub tool: String,
    /// Exact pins checked (editables, VCS and URL installs are built from source anyway).
    pub pins: usize,
    /// Pins with no wheel for this Python (they would need a build).
    pub builds: Vec<String>,
    /// Pins that exist neither as a wheel nor as a source for this Python.
    pub missing: Vec<String>,
    /// The seed versions the resolution picked (`name`, `version`).
    pub seeds: Vec<(String, String)>,
    /// The dry run could not be done at all (no installer, it failed oddly): why.
    pub unchecked: Option<String>,
}

impl Resolution {
    /// Every pin installs from a wheel (or nothing could be checked: then nothing is claimed).
    pub fn wheels_only(&self) -> bool {
        self.unchecked.is_none() && self.builds.is_empty() && self.missing.is_empty()
    }

    /// Pins that would need a build or do not exist.
    pub fn trouble(&self) -> usize {
        self.builds.len() + self.missing.len()
    }

    /// `all 6 from wheels`, `numpy==2.0.2 needs a build`, `not checked: ...`.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.unchecked {
            return format!("not checked: {why}");
        }
        let mut parts = Vec::new();
        if !self.builds.is_empty() {
            parts.push(format!(
                "{} need{} a build",
                self.builds.join(", "),
                if self.builds.len() == 1 { "s" } else { "" }
            ));
        }
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} {} not available",
                self.missing.join(", "),
                if self.missing.len() == 1 { "is" } else { "are" }
            ));
        }
        if parts.is_empty() {
            return match self.pins {
                0 => "no pins to install".into(),
                1 => "the 1 pin installs from a wheel".into(),
                n => format!("all {n} from wheels"),
            };
        }
        parts.join("; ")
    }
}

/// What a recreate will rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RecreateSpec {
    /// The Python the new venv is made with: the installation's most stable alias, which the
    /// new venv's `home` and links name.
    pub python: PathBuf,
    /// Its version.
    pub version: Option<PythonVersion>,
    /// The tool that made the old venv (`venv`, `virtualenv`, `uv`...).
    pub creator: String,
    /// How the new venv is made.
    pub create: Option<Creation>,
    /// What installs the requirements and seeds.
    pub installer: Option<Installer>,
    /// The old venv's interpreters were copies (`--copies`): the new one's are too.
    pub copies: bool,
    /// The old venv had pip, so the new one gets pip too.
    pub with_pip: bool,
    /// Seed packages of the old venv (not in `requirements`), and the versions they get.
    pub seeds: Vec<Seed>,
    /// Requirement lines to install (`Name==1.0`, `-e /src/x`, `x @ git+...@sha`).
    pub requirements: Vec<String>,
    /// Distributions with compiled code (must be rebuilt or re-downloaded for the new Python).
    pub compiled: Vec<String>,
    /// Pins known not to support the new Python (`Requires-Python`), with the reason.
    pub unavailable: Vec<String>,
    /// Versions not reinstalled: a distribution installed in several `lib/pythonX.Y` dirs at
    /// different versions gets one; each other one is listed here, with which version is
    /// reinstalled instead and why. They stay in the backup.
    pub left_out: Vec<String>,
    /// Files the creator did not make, carried over from the old venv.
    pub carry_over: Vec<CarryOver>,
    /// The old venv's activation scripts: any the new creator does not make is copied over.
    pub activators: Vec<String>,
    /// `prompt` to keep, if the old venv had one.
    pub prompt: Option<String>,
    pub system_site_packages: bool,
    /// Extra wheel dirs (`--find-links`).
    pub find_links: Vec<PathBuf>,
    /// `--offline`.
    pub offline: bool,
    /// The installer's dry run on each candidate Python, the chosen one first.
    pub candidates: Vec<Resolution>,
    /// Things the user must know before saying yes (a major version change...).
    pub warnings: Vec<String>,
    /// Every way the new venv will differ from the old one, one short line each.
    pub differences: Vec<String>,
    /// Tools' own records of the venv (pipx, uv tool, tox) to update in the new venv once they
    /// are carried over, so they name the new Python ([`crate::records`]).
    pub records: Vec<RecordEdit>,
    /// What the spec was read from, to refuse it once the venv changed ([`Self::stale`]);
    /// `None` for a spec made by hand (nothing to compare).
    pub read: Option<Fingerprint>,
}

/// The names a spec was made from: the distributions and the carried-over files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Fingerprint {
    pub requirements: Vec<String>,
    #[serde(serialize_with = "lossy_all")]
    pub carry_over: Vec<PathBuf>,
}

/// The tools a recreate may build with, found once per run.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub uv: Option<PathBuf>,
    pub virtualenv: Option<PathBuf>,
}

impl Tools {
    /// `VENVFIX_UV` / `VENVFIX_VIRTUALENV` (a path; `none` or empty disables it), else the
    /// program on PATH.
    pub fn find() -> Tools {
        let find = |var: &str, name: &str| match std::env::var_os(var) {
            Some(v) if v.is_empty() || v == "none" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => which::which(name).ok(),
        };
        Tools {
            uv: find("VENVFIX_UV", "uv"),
            virtualenv: find("VENVFIX_VIRTUALENV", "virtualenv"),
        }
    }
}

/// What the installers are asked to honour.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    pub find_links: Vec<PathBuf>,
    pub offline: bool,
    pub tools: Tools,
}

/// What a recreate reinstalls from `venv`, whichever Python it goes to: the requirement lines,
/// the seeds, the compiled and orphaned distributions. Reads files only.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub requirements: Vec<String>,
    /// Exact pins only (`Name==1.0`): what a dry run can check for wheels.
    pub pins: Vec<String>,
    /// `(name, version)` of each seed package.
    pub seeds: Vec<(String, String)>,
    pub compiled: Vec<String>,
    /// Other versions of a distribution installed in several lib dirs, with which one is
    /// reinstalled instead and why.
    pub left_out: Vec<String>,
    /// Distributions reinstalled from a lib dir other than the live one: `(pin shown, its
    /// site-packages relative to the venv)`.
    pub other_dirs: Vec<(String, PathBuf)>,
    /// `(pin shown, Requires-Python, its requirement line)`.
    pub requires_python: Vec<(String, String, String)>,
    /// Editables: (name, source dir).
    pub editables: Vec<(String, PathBuf)>,
    pub scripts: BTreeSet<String>,
}

/// Read what is installed in `venv`: the user's distributions of every `lib/pythonX.Y`, one
/// per normalized name. Recreate's promise is that nothing is dropped: after a minor change the
/// old dir keeps the user's packages while new ones go into the new dir (or the other way
/// round), and both are the user's. When a name is installed in several dirs at different
/// versions, the live dir's ([`Venv::packages_dir`]: the recorded minor's, else the one with most
/// packages) wins, else the newest minor's; each other version is listed as left out, with why.
pub fn installed(venv: &Venv) -> Result<Installed, RecreateError> {
    let all = dists::read_distributions(&venv.root)?;
    let mut out = Installed::default();
    let live_dir = venv.packages_dir();
    let live = live_dir.map(|dir| dir.path.join("site-packages"));
    // The live dir first, then the others newest minor first.
    let rank = |site: &Path| -> usize {
        if live.as_deref() == Some(site) {
            return 0;
        }
        venv.lib_dirs
            .iter()
            .rev()
            .position(|d| d.path.join("site-packages") == site)
            .map_or(usize::MAX, |n| n + 1)
    };
    let mut user: Vec<&Distribution> = all.dists.iter().filter(|d| !d.is_seed()).collect();
    user.sort_by(|a, b| {
        (a.normalized_name.as_str(), rank(&a.site_packages))
            .cmp(&(b.normalized_name.as_str(), rank(&b.site_packages)))
    });
    let shown = |dist: &Distribution| {
        if dist.version.is_empty() {
            dist.requirement()
        } else {
            format!("{}=={}", dist.name, dist.version)
        }
    };
    let mut chosen: Vec<&Distribution> = Vec::new();
    for dist in user {
        let Some(kept) = chosen
            .last()
            .filter(|k| k.normalized_name == dist.normalized_name)
        else {
            chosen.push(dist);
            continue;
        };
        if kept.requirement() == dist.requirement() {
            continue;
        }
        let why = match live_dir {
            Some(dir) if live.as_deref() == Some(kept.site_packages.as_path()) => {
                match venv.recorded_version() {
                    Some(recorded) if recorded.same_minor(&dir.version) => {
                        format!("the lib dir of Python {recorded}, which pyvenv.cfg records")
                    }
                    _ => "the lib dir holding most of the venv's packages".to_string(),
                }
            }
            _ => "the newest of the venv's lib dirs".to_string(),
        };
        out.left_out.push(format!(
            "{} (in `{}`): {} from `{}` is reinstalled instead, {why}",
            shown(dist),
            venv.relative(&dist.site_packages).display(),
            shown(kept),
            venv.relative(&kept.site_packages).display(),
        ));
    }
    for dist in chosen {
        let requirement = dist.requirement();
        let shown = shown(dist);
        if let Some(live) = &live
            && dist.site_packages != *live
        {
            out.other_dirs.push((
                shown.clone(),
                venv.relative(&dist.site_packages).to_path_buf(),
            ));
        }
        // A stable-ABI wheel (`abi3`) runs on later Pythons: nothing to rebuild.
        if let Some(compiled) = &dist.compiled
            && !compiled.evidence.contains("-abi3-")
        {
            out.compiled
                .push(format!("{shown} ({})", compiled.evidence));
        }
        if let Some(requires) = &dist.requires_python {
            out.requires_python
                .push((shown.clone(), requires.clone(), requirement.clone()));
        }
        if dist.is_editable()
            && let Some(dir) = requirement
                .strip_prefix("-e ")
                .filter(|r| r.starts_with('/') || r.starts_with('\''))
        {
            out.editables
                .push((dist.name.clone(), PathBuf::from(dir.trim_matches('\''))));
        }
        if requirement == format!("{}=={}", dist.name, dist.version) {
            out.pins.push(requirement.clone());
        }
        out.requirements.push(requirement);
    }
    // Seeds come from the live dir only: the creator and the installer make them anew.
    for dist in all.dists.iter().filter(|d| d.is_seed()) {
        let in_live = live.as_ref().is_none_or(|l| *l == dist.site_packages);
        if in_live && !out.seeds.iter().any(|(n, _)| *n == dist.normalized_name) {
            out.seeds
                .push((dist.normalized_name.clone(), dist.version.clone()));
        }
    }
    out.scripts = all
        .dists
        .iter()
        .flat_map(|d| d.console_scripts.iter().cloned())
        .collect();
    Ok(out)
}

/// The site-packages the venv's Python reads.
fn live_site_packages(venv: &Venv) -> Option<PathBuf> {
    venv.packages_dir()
        .map(|dir| dir.path.join("site-packages"))
}

/// The recreate of `venv` with `python`: what will be reinstalled and carried over, and how
/// the new venv is made, from what [`installed`] read of it (`found`). `resolution` is the
/// installer's dry run on `python`, if one was done.
/// Reads files only.
pub fn recreate_spec(
    venv: &Venv,
    found: Installed,
    python: &Installation,
    options: &SpecOptions,
    resolution: Option<&Resolution>,
) -> Result<RecreateSpec, RecreateError> {
    for (name, dir) in &found.editables {
        if fs::symlink_metadata(dir).is_err() {
            return Err(RecreateError::EditableGone {
                name: name.clone(),
                source_dir: dir.clone(),
            });
        }
    }
    let version = python.version;
    let old_version = venv.recorded_version().or(venv.minor());
    // The creator runs through the installation's most stable alias (uv's minor link, mise's
    // `installs/python/3.X`, Homebrew's `opt/python@3.X`): `python -m venv`, `uv venv` and
    // virtualenv name the path they were run by in `home` and `bin/`, so the new venv survives
    // the next routine upgrade, as a relinked one does.
    let stable = python.stable_path();
    let mut spec = RecreateSpec {
        python: stable.path.clone(),
        version: Some(version),
        creator: venv.creator.as_str().to_string(),
        copies: venv.uses_copies(),
        with_pip: found.seeds.iter().any(|(n, _)| n == "pip"),
        requirements: found.requirements.clone(),
        compiled: found.compiled.clone(),
        left_out: found.left_out.clone(),
        find_links: options.find_links.clone(),
        offline: options.offline,
        ..RecreateSpec::default()
    };
    for (shown, requires, requirement) in &found.requires_python {
        if specifier_allows(requires, &version) != Some(false) {
            continue;
        }
        // A package left in another lib dir (an older minor's) may never have been meant for
        // the new Python: it is listed as left out, not a reason to refuse the whole recreate.
        match found.other_dirs.iter().find(|(pin, _)| pin == shown) {
            Some((_, dir)) => {
                spec.requirements.retain(|r| r != requirement);
                spec.left_out.push(format!(
                    "{shown} (in `{}`): Requires-Python `{requires}` excludes Python {version}",
                    dir.display()
                ));
            }
            None => spec.unavailable.push(format!(
                "{shown}: Requires-Python `{requires}` excludes Python {version}"
            )),
        }
    }
    if let Some(cfg) = venv.cfg() {
        spec.prompt = cfg.get("prompt").map(unquote).filter(|p| !p.is_empty());
        spec.system_site_packages = cfg
            .get("include-system-site-packages")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    }
    let (create, installer, why) = choose_tools(venv, &version, &options.tools)?;
    if let Some(why) = why {
        spec.differences.push(why);
    }
    spec.create = Some(create);
    spec.installer = Some(installer);
    // Seeds at their versions where installable, else what the resolution found nearest.
    for (name, old) in &found.seeds {
        let picked = resolution.and_then(|r| {
            r.seeds
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        });
        let new = match (resolution, picked) {
            (Some(r), picked) if r.unchecked.is_none() => picked,
            _ => Some(old.clone()),
        };
        match &new {
            Some(v) if v != old => spec
                .differences
                .push(format!("{name} {old} -> {v} ({old} does not install here)")),
            None => spec.differences.push(format!(
                "{name} {old} is not installed: no version of it installs here{}",
                if name == "pip" {
                    " (the creator's own pip, if any, stays)"
                } else {
                    ""
                }
            )),
            _ => {}
        }
        spec.seeds.push(Seed {
            name: name.clone(),
            old: old.clone(),
            new,
        });
    }
    spec.activators = activators(&venv.root);
    let found_records = records::edits(
        &venv.root,
        &NewBase::new(&stable.path, &python.path, version),
    );
    for edit in &found_records.edits {
        for change in &edit.changes {
            spec.differences.push(format!(
                "{} record `{}`: {} {} -> {}",
                edit.tool,
                edit.path.display(),
                change.key,
                change.from,
                change.to
            ));
        }
    }
    spec.warnings
        .extend(found_records.notes.iter().map(|n| n.message.clone()));
    spec.records = found_records.edits;
    let lib_name = lib_dir_name(venv, &version);
    spec.carry_over = carry_over(venv, &found.scripts, &lib_name);
    spec.read = Some(Fingerprint {
        requirements: found.requirements,
        carry_over: spec.carry_over.iter().map(|c| c.from.clone()).collect(),
    });
    // What differs, old vs new.
    if let Some(old) = old_version {
        if old.major != version.major {
            spec.warnings.push(format!(
                "Python {old} -> {version} is a major version change: code and packages made \
                 for Python {} may not run on Python {}",
                old.major, version.major
            ));
        }
        if !old.same_minor(&version) || old.patch.is_some_and(|_| old != version) {
            spec.differences.push(format!("Python {old} -> {version}"));
        }
    }
    for c in &spec.compiled {
        spec.differences
            .push(format!("{c}: reinstalled for Python {version}"));
    }
    for c in &spec.carry_over {
        if c.to != c.from {
            spec.differences.push(format!(
                "`{}` moves to `{}`{}",
                c.from.display(),
                c.to.display(),
                if c.rewrite.is_some() {
                    ", its paths into the old lib dir rewritten"
                } else {
                    ""
                }
            ));
        }
    }
    let other_dirs: BTreeSet<&PathBuf> = found.other_dirs.iter().map(|(_, dir)| dir).collect();
    for dir in other_dirs {
        let names: Vec<&str> = found
            .other_dirs
            .iter()
            .filter(|(_, d)| d == dir)
            .map(|(shown, _)| shown.as_str())
            .collect();
        let own = venv
            .packages_dir()
            .map(|d| {
                format!(
                    " (the venv's own packages are in `{}`)",
                    venv.relative(&d.path).display()
                )
            })
            .unwrap_or_default();
        spec.differences.push(format!(
            "reinstalled from `{}` as well{own}: {}",
            dir.display(),
            names.join(", ")
        ));
    }
    for l in &spec.left_out {
        spec.differences.push(format!("not reinstalled: {l}"));
    }
    if !spec.unavailable.is_empty() {
        spec.differences.push(format!(
            "{} pin{} cannot install on Python {version}",
            spec.unavailable.len(),
            if spec.unavailable.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(spec)
}

/// `lib/pythonX.Y` (or `lib/pypyX.Y`) of the new venv, named like the old one.
fn lib_dir_name(venv: &Venv, version: &PythonVersion) -> String {
    let pypy = venv.lib_dirs.iter().any(|d| {
        d.path
            .file_name()
            .is_some_and(|n| n.as_bytes().starts_with(b"pypy"))
    });
    let stem = if pypy { "pypy" } else { "python" };
    format!("{stem}{}", version.short())
}

/// Which tool makes the new venv and which installs into it, and what changes if the old
/// venv's creator cannot be used.
fn choose_tools(
    venv: &Venv,
    version: &PythonVersion,
    tools: &Tools,
) -> Result<(Creation, Installer, Option<String>), RecreateError> {
    let python2 = version.major < 3;
    // uv installs into Python 3.8 and later only.
    let uv_installs = !python2 && (version.major, version.minor) >= (3, 8);
    let installer = match &tools.uv {
        Some(uv) if uv_installs => Installer::Uv { uv: uv.clone() },
        _ => Installer::Pip,
    };
    // Python 2 has no `venv` module: only virtualenv before 20.22 makes its venvs.
    let virtualenv = |pin: Option<&str>| -> Option<Creation> {
        match (pin, &tools.virtualenv, &tools.uv) {
            (None, Some(program), _) => Some(Creation::Virtualenv {
                program: program.clone(),
                args: Vec::new(),
            }),
            (pin, _, Some(uv)) => Some(Creation::Virtualenv {
                program: uv.clone(),
                args: vec![
                    "tool".into(),
                    "run".into(),
                    "--from".into(),
                    pin.unwrap_or("virtualenv").into(),
                    "virtualenv".into(),
                ],
            }),
            _ => None,
        }
    };
    if python2 {
        // A `virtualenv` on PATH may be too new for Python 2; uv can run one that is not.
        return match virtualenv(Some("virtualenv<20.22")) {
            Some(create) => Ok((create, Installer::Pip, None)),
            None => Err(RecreateError::NoCreator(format!(
                "Python {version} has no `venv` module, and only virtualenv before 20.22 makes \
                 Python 2 venvs: install uv (to run `uv tool run --from 'virtualenv<20.22' \
                 virtualenv`) and retry"
            ))),
        };
    }
    let from_creator = match venv.creator {
        Creator::Virtualenv | Creator::VirtualenvLegacy => match virtualenv(None) {
            Some(create) => return Ok((create, installer, None)),
            None => Some(
                "made with `python -m venv` instead of virtualenv (neither virtualenv nor uv \
                 is installed): no `activate_this.py` or `_virtualenv.pth`; the old \
                 activators are copied over"
                    .to_string(),
            ),
        },
        _ => None,
    };
    // uv cannot make copies of the interpreter; the standard library can.
    let create = match (&tools.uv, venv.creator) {
        (Some(uv), Creator::Uv | Creator::Unknown) if !venv.uses_copies() && uv_installs => {
            Creation::Uv { uv: uv.clone() }
        }
        _ => Creation::Venv,
    };
    let change = match (venv.creator, &create) {
        (Creator::Uv, Creation::Venv) => Some(if venv.uses_copies() {
            "made with `python -m venv --copies` instead of `uv venv`, which makes no copies"
                .to_string()
        } else {
            "made with `python -m venv` instead of `uv venv` (uv is not installed)".to_string()
        }),
        _ => from_creator,
    };
    Ok((create, installer, change))
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

/// Whether a `bin/` entry name is an activation script.
pub fn is_activator(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.starts_with(b"activate")
        || name.starts_with(b"Activate")
        || name.starts_with(b"deactivate")
}

/// Whether a `bin/` entry is something a creator makes: an interpreter or an activation script.
fn is_creator_bin_entry(name: &OsStr) -> bool {
    is_interpreter_name(name) || is_activator(name) || name == "pydoc.bat" || name == "__pycache__"
}

/// The names of `dir`'s entries, sorted, as they are (not UTF-8 is fine).
fn names(dir: &Path) -> Vec<OsString> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The old venv's activation scripts (`bin/activate*`).
fn activators(root: &Path) -> Vec<String> {
    names(&root.join("bin"))
        .into_iter()
        .filter(|n| is_activator(n))
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

/// Whether `path` is a real directory (not a link to one).
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// The entries of `venv` its creator and installers did not make, sorted: entries at the root
/// other than the creator's, `bin/` entries that are neither interpreters, activators, nor
/// console scripts listed in a `RECORD` (`scripts`), and the files of every site-packages (the
/// live one's first, for a name in several) no distribution's `RECORD` lists (carried into
/// `lib/<new_lib>/site-packages`).
pub fn carry_over(venv: &Venv, scripts: &BTreeSet<String>, new_lib: &str) -> Vec<CarryOver> {
    let root = &venv.root;
    let same = |rel: PathBuf| CarryOver {
        from: rel.clone(),
        to: rel,
        rewrite: None,
    };
    let mut out = Vec::new();
    for name in names(root) {
        if !CREATOR_ROOT_ENTRIES.iter().any(|c| OsStr::new(c) == name) {
            out.push(same(PathBuf::from(name)));
        }
    }
    // A `bin` that is a link is not walked (its entries are not the venv's).
    let bin = root.join("bin");
    if is_real_dir(&bin) {
        for name in names(&bin) {
            let script = name.to_str().is_some_and(|n| scripts.contains(n));
            if !is_creator_bin_entry(&name) && !script {
                out.push(same(Path::new("bin").join(name)));
            }
        }
    }
    // Every site-packages, the live one first: a file of the user's in an old lib dir is as
    // much theirs (a name in both is taken from the live dir).
    let live = live_site_packages(venv);
    let sites = live.iter().cloned().chain(
        venv.lib_dirs
            .iter()
            .rev()
            .map(|d| d.path.join("site-packages"))
            .filter(|s| live.as_ref() != Some(s)),
    );
    let new_site = Path::new("lib").join(new_lib).join("site-packages");
    let mut taken: BTreeSet<PathBuf> = BTreeSet::new();
    for site in sites {
        let Some(old_lib) = site.parent().map(Path::to_path_buf) else {
            continue;
        };
        if !is_real_dir(&site) {
            continue;
        }
        let owned = Owned::read(&site);
        let old_site = venv.relative(&site).to_path_buf();
        let rewrite = (old_lib.file_name() != Some(OsStr::new(new_lib))).then(|| PthRewrite {
            from: [Some(old_lib.clone()), fs::canonicalize(&old_lib).ok()]
                .into_iter()
                .flatten()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            to: root.join("lib").join(new_lib),
        });
        let mut found = Vec::new();
        owned.unowned(&site, Path::new(""), &mut found);
        for rel in found {
            if !taken.insert(rel.clone()) {
                continue;
            }
            let from = old_site.join(&rel);
            let rewrite = rewrite
                .as_ref()
                .filter(|_| rel.extension() == Some(OsStr::new("pth")))
                .filter(|r| pth_names(&site.join(&rel), &r.from))
                .cloned();
            out.push(CarryOver {
                from,
                to: new_site.join(&rel),
                rewrite,
            });
        }
    }
    out
}

/// Whether the `.pth` file at `path` names one of `prefixes`.
fn pth_names(path: &Path, prefixes: &[PathBuf]) -> bool {
    let Some(text) = read_bounded(path, limit::METADATA) else {
        return false;
    };
    prefixes
        .iter()
        .any(|p| contains(&text, p.as_os_str().as_bytes()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A regular file's bytes (never through a link, bounded, never blocking), if it is one.
fn read_bounded(path: &Path, limit: u64) -> Option<Vec<u8>> {
    safe_read::read(path, limit, Follow::Never).ok()
}

/// `text` with every occurrence of each `from` prefix replaced by `to` (a carried `.pth`).
pub fn rewrite_pth(text: &[u8], rewrite: &PthRewrite) -> Vec<u8> {
    let mut out = text.to_vec();
    for from in &rewrite.from {
        let needle = from.as_os_str().as_bytes();
        let replacement = rewrite.to.as_os_str().as_bytes();
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(needle) {
                next.extend_from_slice(replacement);
                i += needle.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = next;
    }
    out
}

/// The paths of a site-packages dir that some distribution owns (its `RECORD`, or a legacy
/// egg-info's `installed-files.txt`), and the directories above them.
struct Owned {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl Owned {
    fn read(site: &Path) -> Owned {
        let mut owned = Owned {
            files: BTreeSet::new(),
            dirs: BTreeSet::new(),
        };
        for name in names(site) {
            let bytes = name.as_bytes();
            let meta_dir = site.join(&name);
            if bytes.ends_with(b".dist-info") {
                match read_bounded(&meta_dir.join("RECORD"), limit::RECORD) {
                    Some(text) => {
                        for file in Record::parse(&String::from_utf8_lossy(&text)).files {
                            owned.add(Path::new(&file));
                        }
                    }
                    // No RECORD (a hand-made or broken install): guess its import name.
                    None => owned.add_guess(&name),
                }
            } else if bytes.ends_with(b".egg-info") {
                match read_bounded(&meta_dir.join("installed-files.txt"), limit::RECORD) {
                    Some(text) => {
                        let base = PathBuf::from(&name);
                        for line in String::from_utf8_lossy(&text).lines() {
                            owned.add(&base.join(line.trim()));
                        }
                    }
                    None => owned.add_guess(&name),
                }
            }
        }
        owned
    }

    /// Add a path relative to site-packages (`..` resolved lexically; outside it, ignored).
    fn add(&mut self, path: &Path) {
        let mut normal = PathBuf::new();
        for component in path.components() {
            match component {
                Component::Normal(c) => normal.push(c),
                Component::ParentDir => {
                    if !normal.pop() {
                        return;
                    }
                }
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => return,
            }
        }
        let mut dir = normal.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            self.dirs.insert(d.to_path_buf());
            dir = d.parent();
        }
        self.files.insert(normal);
    }

    /// `foo-1.0.dist-info` without a file list: `foo` and `foo.py` are taken as its own.
    fn add_guess(&mut self, meta_name: &OsStr) {
        let name = meta_name.to_string_lossy();
        let project = name.split('-').next().unwrap_or("").replace('.', "_");
        if !project.is_empty() {
            self.files.insert(PathBuf::from(&project));
            self.files.insert(PathBuf::from(format!("{project}.py")));
        }
    }

    /// Collect into `out` the entries under `site/rel` nobody owns (relative to `site`).
    fn unowned(&self, site: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
        for name in names(&site.join(rel)) {
            let bytes = name.as_bytes();
            let path = rel.join(&name);
            let metadata = rel.as_os_str().is_empty()
                && (bytes.ends_with(b".dist-info")
                    || bytes.ends_with(b".egg-info")
                    || bytes.ends_with(b".egg-link")
                    || bytes.ends_with(b".virtualenv")
                    || name == "easy-install.pth");
            if metadata
                || CREATOR_SITE_ENTRIES.iter().any(|c| OsStr::new(c) == name)
                || self.files.contains(&path)
            {
                continue;
            }
            let full = site.join(&path);
            if self.dirs.contains(&path) && is_real_dir(&full) {
                self.unowned(site, &path, out);
            } else if is_real_dir(&full) && names(&full).is_empty() {
                // An empty dir (wheels carry some, as zip entries no RECORD lists) holds
                // nothing to lose.
            } else {
                out.push(path);
            }
        }
    }
}

impl RecreateSpec {
    /// Why the spec no longer describes `venv` (a distribution installed or removed, a file
    /// added or removed since it was planned), or `None` if it still does. Reads files only.
    pub fn stale(&self, venv: &Path) -> Option<String> {
        let read = self.read.as_ref()?;
        let now = match Venv::inspect(venv) {
            Ok(v) => v,
            Err(e) => return Some(format!("the venv can no longer be read: {e}")),
        };
        let found = match installed(&now) {
            Ok(found) => found,
            Err(e) => return Some(e.to_string()),
        };
        let was: BTreeSet<&String> = read.requirements.iter().collect();
        let is: BTreeSet<&String> = found.requirements.iter().collect();
        let added: Vec<&&String> = is.difference(&was).collect();
        let removed: Vec<&&String> = was.difference(&is).collect();
        if !added.is_empty() || !removed.is_empty() {
            let list = |v: &[&&String]| {
                v.iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!("{} installed", list(&added)));
            }
            if !removed.is_empty() {
                parts.push(format!("{} removed", list(&removed)));
            }
            return Some(format!(
                "{} since the plan was made; plan again",
                parts.join(", ")
            ));
        }
        let lib = self
            .carry_over
            .iter()
            .find_map(|c| {
                c.to.strip_prefix("lib")
                    .ok()?
                    .components()
                    .next()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
            })
            .or_else(|| self.version.map(|v| format!("python{}", v.short())))
            .unwrap_or_default();
        let files: BTreeSet<PathBuf> = carry_over(&now, &found.scripts, &lib)
            .into_iter()
            .map(|c| c.from)
            .collect();
        let planned: BTreeSet<PathBuf> = read.carry_over.iter().cloned().collect();
        if let Some(new) = files.difference(&planned).next() {
            return Some(format!(
                "`{}` appeared since the plan was made; plan again",
                new.display()
            ));
        }
        None
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::fs::symlink;

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
    fn carry_over_keeps_only_what_the_creator_and_the_installers_did_not_make() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let site = root.join("lib/python3.8/site-packages");
        for dir in ["bin", "include", "share/man"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::create_dir_all(site.join("six-1.0.dist-info")).unwrap();
        fs::create_dir_all(site.join("ns/owned")).unwrap();
        fs::create_dir_all(site.join("__pycache__")).unwrap();
        fs::write(
            site.join("six-1.0.dist-info/RECORD"),
            "six.py,sha256=x,1\nns/owned/__init__.py,,\n\"ns/owned/a,b.py\",,\n\
             six-1.0.dist-info/METADATA,,\n../../../bin/six-tool,,\n",
        )
        .unwrap();
        fs::write(
            site.join("six-1.0.dist-info/METADATA"),
            "Name: six\nVersion: 1.0\n",
        )
        .unwrap();
        for file in [
            "six.py",
            "ns/owned/__init__.py",
            "ns/owned/a,b.py",
            "ns/mine.py",
            "sitecustomize.py",
            "_virtualenv.pth",
            "_virtualenv.py",
            "__pycache__/six.cpython-38.pyc",
        ] {
            fs::write(site.join(file), "x").unwrap();
        }
        fs::write(site.join("hand.pth"), format!("{}/extra\n", site.display())).unwrap();
        fs::write(site.join("other.pth"), "/opt/elsewhere\n").unwrap();
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
            "bin/six-tool",
            "bin/postactivate",
            "bin/my-tool",
        ] {
            fs::write(root.join(file), "x").unwrap();
        }
        let odd = OsString::from_vec(b"caf\xe9".to_vec());
        fs::write(root.join(&odd), "x").unwrap();
        fs::write(root.join("bin").join(&odd), "x").unwrap();
        fs::write(site.join(&odd), "x").unwrap();
        symlink("/gone/python3.8", root.join("bin/python3.8")).unwrap();
        symlink("python3.8", root.join("bin/python")).unwrap();
        symlink("lib", root.join("lib64")).unwrap();
        symlink("/elsewhere", root.join("data")).unwrap();
        let venv = Venv::inspect(root).unwrap();
        let scripts: BTreeSet<String> = ["six-tool"].map(String::from).into();
        let found = carry_over(&venv, &scripts, "python3.12");
        let from: Vec<PathBuf> = found.iter().map(|c| c.from.clone()).collect();
        let rel = |s: &str| PathBuf::from(s);
        let site_rel = |s: &OsStr| Path::new("lib/python3.8/site-packages").join(s);
        let expected: Vec<PathBuf> = vec![
            rel(".project"),
            rel("data"),
            rel("notes.txt"),
            PathBuf::from(&odd),
            rel("bin/my-tool"),
            rel("bin/postactivate"),
            Path::new("bin").join(&odd),
            site_rel(OsStr::new("hand.pth")),
            site_rel(OsStr::new("ns/mine.py")),
            site_rel(OsStr::new("other.pth")),
            site_rel(OsStr::new("sitecustomize.py")),
            site_rel(&odd),
        ];
        let sorted = |mut v: Vec<PathBuf>| {
            v.sort();
            v
        };
        assert_eq!(sorted(from), sorted(expected));
        let hand = found.iter().find(|c| c.from.ends_with("hand.pth")).unwrap();
        assert_eq!(
            hand.to,
            PathBuf::from("lib/python3.12/site-packages/hand.pth")
        );
        let rewrite = hand.rewrite.as_ref().expect("hand.pth names the old lib");
        assert_eq!(
            rewrite_pth(format!("{}/extra\n", site.display()).as_bytes(), rewrite),
            format!("{}/lib/python3.12/site-packages/extra\n", root.display()).into_bytes()
        );
        let other = found
            .iter()
            .find(|c| c.from.ends_with("other.pth"))
            .unwrap();
        assert!(other.rewrite.is_none());
    }

    #[test]
    fn resolution_summaries_name_the_pins_that_need_a_build() {
        let mut r = Resolution {
            pins: 6,
            ..Resolution::default()
        };
        assert_eq!(r.summary(), "all 6 from wheels");
        r.pins = 1;
        assert_eq!(r.summary(), "the 1 pin installs from a wheel");
        r.builds.push("numpy==2.0.2".into());
        assert_eq!(r.summary(), "numpy==2.0.2 needs a build");
        assert!(!r.wheels_only());
    }

    #[test]
    fn prompts_lose_their_quotes() {
        assert_eq!(unquote("'my env'"), "my env");
        assert_eq!(unquote("\"x\""), "x");
        assert_eq!(unquote("plain"), "plain");
    }
}
