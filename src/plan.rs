//! Plans: the ordered actions that would fix one venv, as data.
//!
//! A [`Plan`] is what `--dry-run` prints, what the prompt shows, what `--json` reports and what
//! the executor applies: there is no other description of a repair, so what the user reads is
//! exactly what will be done (STYLE.md rule 1). Every action carries its before and after.
//! Building a plan reads the diagnosis and the inventory, and for a recreate the venv's package
//! metadata ([`recreate`]) and the installer's dry run on each candidate Python
//! ([`crate::resolve`]: the only thing planning runs, and never from a venv); it never changes
//! the disk.

use std::path::PathBuf;

use serde::Serialize;

use crate::diagnose::{ProblemKind, Severity};
use crate::inventory::{Installation, Source, stability};
use crate::records::{self, NewBase, RecordEdit};
use crate::version::PythonVersion;

pub mod recreate;

pub use recreate::RecreateSpec;

/// How a venv is to be repaired (DESIGN.md `strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Point the venv's interpreter link (and `home`) at an installed Python of its minor.
    Relink,
    /// Rewrite the files of a moved or copied venv that name its old path.
    Relocate,
    /// Rebuild the venv in place on another Python with the same distributions.
    Recreate,
    /// Only rewrite `pyvenv.cfg` keys (`home`, the recorded version).
    UpdateConfig,
    /// Nothing to do, or nothing that can be done with what is installed.
    None,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Relink => "relink",
            Strategy::Relocate => "relocate",
            Strategy::Recreate => "recreate",
            Strategy::UpdateConfig => "update-config",
            Strategy::None => "none",
        }
    }
}

/// One change to a venv. Paths are relative to the venv root (but for the link outside it an
/// [`Action::ExternalLink`] changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Action {
    /// Make `path` a symlink to `to` (replacing a link, a copied binary, or nothing).
    Symlink {
        path: PathBuf,
        /// The current link target, `null` if `path` is not a link now.
        from: Option<PathBuf>,
        to: PathBuf,
    },
    /// Replace the regular file `path` (a copied interpreter) with a copy of `source`.
    CopyFile { path: PathBuf, source: PathBuf },
    /// Set a `pyvenv.cfg` key; every other line stays as it is.
    Config {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// Rewrite the text file `path` so that it names `to` where it named the old venv path
    /// `from` (only those bytes change; [`crate::relocate::rewrite`]).
    Rewrite {
        path: PathBuf,
        from: PathBuf,
        to: PathBuf,
    },
    /// Point a tool's link to the venv that lives outside it (pyenv-virtualenv's
    /// `versions/NAME` under a moved pyenv root) at `to` instead of `from`. `path` is absolute;
    /// only a link is ever replaced, by a link to the venv itself. JSON op `rewrite`, like the
    /// files that name the old path.
    ExternalLink {
        path: PathBuf,
        from: PathBuf,
        to: PathBuf,
    },
    /// Recreate the venv in place (the original is moved aside as the backup).
    Recreate(Box<RecreateSpec>),
    /// Change fields of a tool's own record of the venv (pipx, uv tool, tox) so that it names
    /// the new base; every other byte of the file stays.
    Record(RecordEdit),
}

impl Action {
    /// The venv entry this action changes (relative), for backups and locking; `None` for a
    /// link outside the venv ([`Action::outside`]).
    pub fn touches(&self) -> Option<PathBuf> {
        match self {
            Action::Symlink { path, .. }
            | Action::CopyFile { path, .. }
            | Action::Rewrite { path, .. } => Some(path.clone()),
            Action::Config { .. } => Some(PathBuf::from("pyvenv.cfg")),
            Action::Recreate(_) => Some(PathBuf::from(".")),
            Action::Record(edit) => Some(edit.path.clone()),
            Action::ExternalLink { .. } => None,
        }
    }

    /// The entry outside the venv this action changes (absolute), if it changes one.
    pub fn outside(&self) -> Option<&Path> {
        match self {
            Action::ExternalLink { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// The Python a plan moves the venv to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The installation's executable (its canonical path: what identifies it in the inventory,
    /// what `--python PATH` picks and the history records).
    pub path: PathBuf,
    /// The path the venv's links and `home` name: the installation's most stable alias (uv's
    /// minor link, Homebrew's `opt/python@3.X`), else `path`. What the plan shows.
    pub link: PathBuf,
    pub version: PythonVersion,
    pub implementation: String,
    pub prefix: PathBuf,
    pub source: Source,
}

impl Target {
    pub fn from_installation(installation: &Installation) -> Self {
        Target {
            path: installation.path.clone(),
            link: link_target(installation),
            version: installation.version,
            implementation: installation.implementation.clone(),
            prefix: installation.prefix.clone(),
            source: installation.source,
        }
    }
}

/// Another Python the plan could have used, and why it ranks where it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternative {
    pub target: Target,
    pub strategy: Strategy,
    pub why: String,
}

/// A problem the plan leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    pub kind: ProblemKind,
    pub severity: Severity,
    pub why: String,
}

/// The complete, reviewable fix for one venv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The venv root (absolute).
    pub venv: PathBuf,
    pub strategy: Strategy,
    pub target: Option<Target>,
    /// Ordered actions; empty for `none`.
    pub actions: Vec<Action>,
    /// Other candidates, best first (the recommended one is `target`).
    pub alternatives: Vec<Alternative>,
    /// Problems this plan fixes.
    pub resolves: Vec<ProblemKind>,
    /// Problems it leaves, with the reason.
    pub unresolved: Vec<Unresolved>,
    /// One sentence on why this strategy and target were chosen.
    pub reason: String,
    /// What else the user should know: tools' records venvfix leaves as they are, why the
    /// written path is stable.
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether applying the plan leaves no error-level problem behind.
    pub fn fixes_everything(&self) -> bool {
        self.unresolved.iter().all(|u| !u.blocks())
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

impl Unresolved {
    /// An unresolved problem that keeps the venv broken.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Error
    }
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

use std::collections::BTreeMap;
use std::path::Path;

use crate::diagnose::{Diagnosis, Status};
use crate::inventory::Inventory;
use crate::venv::{ConfigState, Creator, EntryKind, Venv};

/// Which kinds of repair the user allows (`--strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allowed {
    /// Relink when a Python of the venv's minor is installed, else recreate.
    #[default]
    Auto,
    /// Only relink or update the config.
    Relink,
    /// Only rewrite a moved or copied venv's files to its path.
    Relocate,
    /// Only recreate.
    Recreate,
}

/// The Python the user asked for with `--python`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonRequest {
    Path(PathBuf),
    Version(PythonVersion),
}

impl PythonRequest {
    /// `PATH`, `X.Y` or `X.Y.Z`: a value with a `/` or naming an existing file is a path.
    pub fn parse(text: &str) -> PythonRequest {
        if !text.contains('/')
            && let Ok(version) = text.parse()
        {
            return PythonRequest::Version(version);
        }
        PythonRequest::Path(PathBuf::from(text))
    }

    /// Whether `installation` is what the user asked for.
    pub fn accepts(&self, installation: &Installation) -> bool {
        match self {
            PythonRequest::Version(v) => {
                installation.version.same_minor(v)
                    && (v.patch.is_none() || installation.version == *v)
            }
            PythonRequest::Path(p) => std::fs::canonicalize(p).is_ok_and(|c| {
                c == installation.path || installation.aliases.iter().any(|a| a == p)
            }),
        }
    }
}

/// What the user asked the planner for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub allowed: Allowed,
    pub python: Option<PythonRequest>,
    pub find_links: Vec<PathBuf>,
    pub offline: bool,
    /// The installers and creators a recreate may use ([`recreate::Tools::find`]).
    pub tools: recreate::Tools,
    /// `--stabilize`: also move a venv with `unstable-base` to its installation's stable path.
    pub stabilize: bool,
}

/// Why no plan could be made at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("`--python {0}` is not an installed Python venvfix found")]
    UnknownPython(String),
}

/// The plan for a venv its own tool rebuilds (`tox`, `nox`, from [`records::rebuilt_by`]),
/// found in a batch rather than named: nothing is done, and the reason says how to get it
/// repaired either way.
pub fn left_to_tool(d: &Diagnosis, tool: &str) -> Plan {
    let rebuild = match tool {
        "tox" => "`tox` rebuilds it when its Python changed, `tox -r` at once",
        "nox" => "`nox` rebuilds it on its next run without `-r`",
        _ => "the tool rebuilds it",
    };
    Plan {
        venv: d.venv.root.clone(),
        strategy: Strategy::None,
        target: None,
        actions: Vec::new(),
        alternatives: Vec::new(),
        resolves: Vec::new(),
        // Each problem is left for the reason the headline gives, not for a reason of its own.
        unresolved: unresolved(d, &[])
            .into_iter()
            .map(|u| Unresolved {
                why: format!("left to {tool}"),
                ..u
            })
            .collect(),
        reason: format!(
            "left to {tool}, which rebuilds its envs itself ({rebuild}); name this venv by path \
             to have venvfix repair it in place"
        ),
        notes: Vec::new(),
    }
}

/// Problems a relink (or config update) resolves.
const RELINK_FIXES: [ProblemKind; 5] = [
    ProblemKind::InterpreterMissing,
    ProblemKind::MinorMismatch,
    ProblemKind::HomeMismatch,
    ProblemKind::PatchMismatch,
    ProblemKind::StaleHome,
];

/// Plan the repair of a diagnosed venv.
pub fn plan(
    d: &Diagnosis,
    inventory: &Inventory,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    let venv = &d.venv;
    if let Some(python) = &request.python
        && !inventory.pythons.iter().any(|i| python.accepts(i))
    {
        let shown = match python {
            PythonRequest::Path(p) => p.display().to_string(),
            PythonRequest::Version(v) => v.to_string(),
        };
        return Err(PlanError::UnknownPython(shown));
    }
    let mut plan = Plan {
        venv: venv.root.clone(),
        strategy: Strategy::None,
        target: None,
        actions: Vec::new(),
        alternatives: Vec::new(),
        resolves: Vec::new(),
        unresolved: Vec::new(),
        reason: String::new(),
        notes: Vec::new(),
    };
    if d.has(ProblemKind::InterruptedRepair) {
        plan.reason = "an interrupted repair must be rolled back first: `venvfix repair` (without \
                       `--dry-run`) or `venvfix undo` does it"
            .into();
        plan.unresolved = unresolved(d, &[]);
        for u in &mut plan.unresolved {
            if u.kind != ProblemKind::InterruptedRepair {
                u.why = "planned once the interrupted repair is rolled back".into();
            }
        }
        return Ok(plan);
    }
    // A venv that lost its `pyvenv.cfg` (not a virtualenv < 20, which never had one) is
    // repaired offline by writing the file for the Python its entries lead to.
    let writes_config =
        matches!(venv.config, ConfigState::Missing) && venv.legacy_orig_prefix.is_none();
    let stabilizing = request.stabilize && d.has(ProblemKind::UnstableBase);
    let mut fixable: Vec<ProblemKind> = d
        .problems
        .iter()
        .map(|p| p.kind)
        .filter(|k| RELINK_FIXES.contains(k) || (stabilizing && *k == ProblemKind::UnstableBase))
        .collect();
    if writes_config {
        fixable.push(ProblemKind::InvalidConfig);
    }
    // A healthy venv moved on purpose (`--python` naming another installation than its own).
    let deliberate = deliberate_move(d, inventory, request);
    if let Some(why) = &deliberate {
        return Ok(move_plan(d, inventory, request, plan, why));
    }
    // A config that cannot be read is an error only a recreate can fix.
    let needs_recreate = !writes_config
        && d.problems
            .iter()
            .any(|p| p.kind == ProblemKind::InvalidConfig && p.severity == Severity::Error);
    let relocation = match request.allowed {
        Allowed::Auto | Allowed::Relocate => relocation_for(d),
        _ => None,
    };
    let relocate_only = request.allowed == Allowed::Relocate
        || (fixable.is_empty() && !needs_recreate && request.allowed == Allowed::Auto);
    if relocate_only && d.status() != Status::Ok {
        return Ok(relocate_plan(d, plan, relocation));
    }
    if (d.status() == Status::Ok && !stabilizing)
        || (fixable.is_empty() && !needs_recreate && request.allowed != Allowed::Recreate)
    {
        plan.reason = if d.status() == Status::Ok {
            "nothing to repair".into()
        } else {
            "only warnings a relink cannot fix; `--strategy recreate` rebuilds the venv".into()
        };
        plan.unresolved = unresolved(d, &[]);
        return Ok(plan);
    }

    let ranked = rank_candidates(d, inventory, request);
    // Relinking rewrites pyvenv.cfg keys, so it needs a config it can read.
    let relinkable = venv.cfg().is_some() || writes_config;
    if request.allowed != Allowed::Recreate
        && relinkable
        && let Some((best, _)) = ranked.first()
    {
        plan.target = Some(Target::from_installation(best));
        plan.actions = relink_actions(venv, best);
        let writes_path = plan.actions.iter().any(|a| match a {
            Action::Symlink { to, .. } => to.is_absolute(),
            Action::Config { key, .. } => key == "home",
            _ => false,
        });
        if writes_path && let Some(why) = best.stable_path().why {
            plan.notes.push(why);
        }
        let records = records::edits(
            &venv.root,
            &NewBase::new(&link_target(best), &best.path, best.version),
        );
        plan.actions
            .extend(records.edits.into_iter().map(Action::Record));
        // A link the relocation points at the venv needs no note that it leads elsewhere.
        let relinked_outside: Vec<&Path> = match &relocation {
            Some(Ok(r)) => r.actions.iter().filter_map(Action::outside).collect(),
            _ => Vec::new(),
        };
        plan.notes.extend(
            records
                .notes
                .iter()
                .filter(|n| !relinked_outside.contains(&n.path.as_path()))
                .map(|n| n.message.clone()),
        );
        plan.notes.extend(old_base_gone_note(venv, best));
        let current = d.base.as_ref().map(|b| b.executable.as_path());
        plan.strategy = if plan
            .actions
            .iter()
            .all(|a| matches!(a, Action::Config { .. } | Action::Record(_)))
        {
            Strategy::UpdateConfig
        } else {
            Strategy::Relink
        };
        plan.reason = ranked[0].1.clone();
        let upgraded_in_place = venv
            .recorded_version()
            .is_some_and(|r| r.patch.is_some() && r != best.version);
        if current == Some(best.path.as_path())
            && plan.strategy == Strategy::UpdateConfig
            && !upgraded_in_place
        {
            plan.reason = format!(
                "the interpreter link already leads to Python {}; only pyvenv.cfg needs to \
                 agree with it",
                best.version
            );
        }
        set_alternatives(&mut plan, request, &ranked[1..]);
        plan.resolves = fixable;
        plan.resolves.dedup();
        if let Some(Ok(relocation)) = relocation {
            // Moved and relinked: one plan, the files first, then the links and the config.
            let mut actions = relocation.actions;
            actions.append(&mut plan.actions);
            plan.actions = actions;
            plan.resolves.push(ProblemKind::MovedVenv);
            plan.reason = format!("{}; {}", plan.reason, relocation.reason);
            if plan.strategy == Strategy::UpdateConfig {
                plan.strategy = Strategy::Relocate;
            }
            plan.unresolved = unresolved(d, &plan.resolves);
            plan.unresolved.extend(relocation.cannot_rewrite);
        } else {
            plan.unresolved = unresolved(d, &plan.resolves);
        }
        if plan.actions.is_empty() {
            plan.strategy = Strategy::None;
            plan.reason = "the venv already agrees with its Python".into();
        }
        return Ok(plan);
    }

    // No Python of the venv's minor, `--strategy recreate`, or a config a relink cannot
    // rewrite: only a recreate can help.
    let minor = venv
        .minor()
        .map(|m| m.short())
        .unwrap_or_else(|| "of this venv's version".into());
    // Why a relink is out when it is the config: a virtualenv < 20 never had one.
    let no_config = if venv.creator == Creator::VirtualenvLegacy {
        "this virtualenv (< 20) has no pyvenv.cfg (it predates them), so it cannot be relinked"
    } else {
        "pyvenv.cfg cannot be read, so the venv cannot be relinked"
    };
    let no_relink = match request.allowed {
        Allowed::Relink | Allowed::Relocate => {
            plan.reason = if relinkable {
                format!(
                    "no installed Python {minor} to relink to; `--strategy relink` leaves it \
                     for a later decision"
                )
            } else {
                format!("{no_config}; `--strategy recreate` rebuilds it")
            };
            plan.unresolved = unresolved(d, &[]);
            return Ok(plan);
        }
        Allowed::Recreate => "`--strategy recreate` was asked for".to_string(),
        Allowed::Auto if !relinkable => no_config.to_string(),
        Allowed::Auto => format!("no installed Python {minor} to relink to"),
    };
    Ok(recreate_plan(d, inventory, request, plan, &no_relink))
}

/// The files a relocation rewrites, why, and what it cannot rewrite.
struct PlannedRelocation {
    actions: Vec<Action>,
    reason: String,
    cannot_rewrite: Vec<Unresolved>,
}

/// The relocation of a venv whose files name another directory, or why it cannot be done;
/// `None` when the venv was not moved or copied.
fn relocation_for(d: &Diagnosis) -> Option<Result<PlannedRelocation, String>> {
    let venv = &d.venv;
    let moved = venv.scripts.moved.as_ref()?;
    let to = crate::relocate::new_root(venv);
    let found = match crate::relocate::relocation(venv, &moved.from, &to) {
        Ok(found) => found,
        Err(e) => return Some(Err(e.to_string())),
    };
    let from = moved.from.display();
    let files = found
        .actions
        .iter()
        .filter(|a| a.outside().is_none())
        .count();
    let s = if files == 1 { "" } else { "s" };
    let mut reason = if moved.original_exists {
        format!(
            "this venv is a copy of `{from}`, which still exists: today its console scripts \
             and `activate` act on `{from}` (`pip install` here installs there); {files} \
             file{s} are rewritten to name this venv instead"
        )
    } else {
        format!(
            "the venv was moved from `{from}`: {files} file{s} that name the old path are \
             rewritten to `{}`",
            to.display()
        )
    };
    for link in found.actions.iter().filter_map(Action::outside) {
        reason.push_str(&format!(
            ", and pyenv's link `{}` (which `pyenv activate` finds the venv by) is pointed at \
             it",
            link.display()
        ));
    }
    let cannot_rewrite = found
        .cannot_rewrite
        .iter()
        .map(|path| Unresolved {
            kind: ProblemKind::MovedVenv,
            severity: Severity::Warning,
            why: format!(
                "cannot rewrite `{}`: it is a binary file that names `{from}`, and venvfix \
                 never patches binaries; reinstall the package that made it",
                path.display()
            ),
        })
        .collect();
    Some(Ok(PlannedRelocation {
        actions: found.actions,
        reason,
        cannot_rewrite,
    }))
}

/// Fill `plan` with a relocation only (or say why there is none).
fn relocate_plan(
    d: &Diagnosis,
    mut plan: Plan,
    relocation: Option<Result<PlannedRelocation, String>>,
) -> Plan {
    match relocation {
        Some(Ok(relocation)) if !relocation.actions.is_empty() => {
            plan.strategy = Strategy::Relocate;
            plan.actions = relocation.actions;
            plan.reason = relocation.reason;
            plan.resolves = vec![ProblemKind::MovedVenv];
            plan.unresolved = unresolved(d, &plan.resolves);
            plan.unresolved.extend(relocation.cannot_rewrite);
        }
        Some(Ok(relocation)) => {
            plan.reason = "no file names the old path in a form venvfix can rewrite".into();
            plan.unresolved = unresolved(d, &[]);
            plan.unresolved.extend(relocation.cannot_rewrite);
        }
        Some(Err(why)) => {
            plan.reason = format!("the venv cannot be relocated: {why}");
            plan.unresolved = unresolved(d, &[]);
        }
        None if d.has(ProblemKind::MovedVenv) => {
            plan.reason = "the venv cannot be relocated".into();
            plan.unresolved = unresolved(d, &[]);
        }
        None => {
            plan.reason = if d.problems.iter().any(|p| RELINK_FIXES.contains(&p.kind)) {
                "`--strategy relocate` was asked for, and the venv was not moved; `--strategy \
                 auto` relinks it"
                    .into()
            } else {
                "only warnings a relink cannot fix; `--strategy recreate` rebuilds the venv".into()
            };
            plan.unresolved = unresolved(d, &[]);
        }
    }
    plan
}

/// Why `--python` moves a venv that needs no repair: it names an installation other than the
/// one the venv runs on. `None` when the venv is broken (the normal planning honours `--python`)
/// or `--python` names what it already uses.
fn deliberate_move(d: &Diagnosis, inventory: &Inventory, request: &PlanRequest) -> Option<String> {
    let python = request.python.as_ref()?;
    if d.status() != Status::Ok {
        return None;
    }
    let current = d.base.as_ref().map(|b| b.executable.clone());
    let asked: Vec<&Installation> = inventory
        .pythons
        .iter()
        .filter(|i| python.accepts(i))
        .collect();
    if asked.iter().any(|i| Some(&i.path) == current.as_ref()) {
        return None;
    }
    let shown = match python {
        PythonRequest::Path(p) => p.display().to_string(),
        PythonRequest::Version(v) => v.to_string(),
    };
    Some(format!("`--python {shown}` asks to move this healthy venv"))
}

/// The plan for a deliberate move: a relink to the asked installation within the venv's minor,
/// else a recreate (which `--strategy relink` refuses, with the reason).
fn move_plan(
    d: &Diagnosis,
    inventory: &Inventory,
    request: &PlanRequest,
    mut plan: Plan,
    why: &str,
) -> Plan {
    let venv = &d.venv;
    let ranked = rank_candidates(d, inventory, request);
    if request.allowed != Allowed::Recreate
        && venv.cfg().is_some()
        && let Some((best, _)) = ranked.first()
    {
        plan.target = Some(Target::from_installation(best));
        plan.actions = relink_actions(venv, best);
        let records = records::edits(
            &venv.root,
            &NewBase::new(&link_target(best), &best.path, best.version),
        );
        plan.actions
            .extend(records.edits.into_iter().map(Action::Record));
        plan.notes
            .extend(records.notes.iter().map(|n| n.message.clone()));
        if let Some(stable) = best.stable_path().why {
            plan.notes.push(stable);
        }
        plan.strategy = Strategy::Relink;
        plan.reason = format!(
            "{why}: Python {} is of the venv's own minor, so a relink moves it",
            best.version
        );
        set_alternatives(&mut plan, request, &ranked[1..]);
        plan.unresolved = unresolved(d, &[]);
        return plan;
    }
    if request.allowed == Allowed::Relink {
        plan.reason = format!(
            "{why} to another minor, which only a recreate does; `--strategy relink` does not"
        );
        plan.unresolved = unresolved(d, &[]);
        return plan;
    }
    let because = match venv.minor() {
        Some(minor) => format!("{why} from Python {} to another minor", minor.short()),
        None => why.to_string(),
    };
    recreate_plan(d, inventory, request, plan, &because)
}

/// Problems a recreate resolves (a dangling link only when it is not carried over).
const RECREATE_FIXES: [ProblemKind; 9] = [
    ProblemKind::InterpreterMissing,
    ProblemKind::MinorMismatch,
    ProblemKind::HomeMismatch,
    ProblemKind::PatchMismatch,
    ProblemKind::StaleHome,
    ProblemKind::InvalidConfig,
    ProblemKind::MovedVenv,
    ProblemKind::OrphanedSitePackages,
    ProblemKind::DanglingLink,
];

/// Fill `plan` with a recreate on the best Python for it, or say in `reason` and `unresolved`
/// why a recreate is not possible. `no_relink` says why relinking is out.
fn recreate_plan(
    d: &Diagnosis,
    inventory: &Inventory,
    request: &PlanRequest,
    mut plan: Plan,
    no_relink: &str,
) -> Plan {
    let venv = &d.venv;
    let mut choices = recreate_candidates(d, inventory, request);
    // With `--python` the user chose: only that Python is tried, the others that match are
    // named once.
    if request.python.is_some() && choices.len() > 1 {
        let others: Vec<&Installation> = choices[1..].iter().map(|(i, _)| *i).collect();
        plan.notes.extend(also_asked_note(request, &others));
        choices.truncate(1);
    }
    let not_possible = |mut plan: Plan, why: String| {
        plan.reason = format!("{no_relink}, and it cannot be recreated: {why}");
        plan.unresolved = unresolved(d, &[]);
        for u in &mut plan.unresolved {
            if RECREATE_FIXES.contains(&u.kind) {
                u.why = format!("it cannot be recreated: {why}");
            }
        }
        plan
    };
    let Some((_, why_best)) = choices.first() else {
        let what = match venv.minor() {
            Some(m) => format!("{} {}", venv.implementation(), m.major),
            None => venv.implementation(),
        };
        return not_possible(plan, format!("no installed {what} to recreate it with"));
    };
    let found = match recreate::installed(venv) {
        Ok(found) => found,
        Err(e) => return not_possible(plan, e.to_string()),
    };
    let options = recreate::SpecOptions {
        find_links: request.find_links.clone(),
        offline: request.offline,
        tools: request.tools.clone(),
    };
    // The installer's dry run on every candidate, in parallel: they are independent children.
    let resolutions: Vec<recreate::Resolution> = {
        use rayon::prelude::*;
        choices
            .par_iter()
            .map(|(python, _)| crate::resolve::resolve(python, &found.pins, &found.seeds, &options))
            .collect()
    };
    let (pick, why_pick) = pick_candidate(&choices, &resolutions, request, why_best);
    let best = choices[pick].0;
    let mut spec =
        match recreate::recreate_spec(venv, found, best, &options, Some(&resolutions[pick])) {
            Ok(spec) => spec,
            Err(e) => return not_possible(plan, e.to_string()),
        };
    spec.candidates = std::iter::once(resolutions[pick].clone())
        .chain(
            resolutions
                .iter()
                .enumerate()
                .filter(|(n, _)| *n != pick)
                .map(|(_, r)| r.clone()),
        )
        .collect();
    for build in &resolutions[pick].builds {
        spec.differences.push(format!(
            "{build} is built from source (no wheel for Python {})",
            best.version
        ));
    }
    let carried_dangling = venv.dangling.iter().any(|l| {
        let rel = venv.relative(&l.path);
        spec.carry_over.iter().any(|c| rel.starts_with(&c.from))
    });
    let mut resolves = Vec::new();
    for p in &d.problems {
        let fixed = RECREATE_FIXES.contains(&p.kind)
            && !(p.kind == ProblemKind::DanglingLink && carried_dangling);
        if fixed && !resolves.contains(&p.kind) {
            resolves.push(p.kind);
        }
    }
    let count = spec.requirements.len();
    let mut reason = format!(
        "{no_relink}: recreate it on Python {} ({why_pick}) and reinstall {count} distribution{}",
        best.version,
        if count == 1 { "" } else { "s" }
    );
    if !spec.unavailable.is_empty() {
        reason.push_str(&format!(
            "; {} pinned version{} do{} not support Python {}",
            spec.unavailable.len(),
            if spec.unavailable.len() == 1 { "" } else { "s" },
            if spec.unavailable.len() == 1 {
                "es"
            } else {
                ""
            },
            best.version
        ));
    }
    if let Some(why) = best.stable_path().why {
        plan.notes.push(why);
    }
    plan.strategy = Strategy::Recreate;
    plan.target = Some(Target::from_installation(best));
    plan.actions = vec![Action::Recreate(Box::new(spec))];
    plan.alternatives = choices
        .iter()
        .zip(&resolutions)
        .enumerate()
        .filter(|(n, _)| *n != pick)
        .map(|(_, ((i, why), r))| Alternative {
            target: Target::from_installation(i),
            strategy: Strategy::Recreate,
            why: format!("{why}; {}", r.summary()),
        })
        .collect();
    plan.unresolved = unresolved(d, &resolves);
    plan.resolves = resolves;
    plan.reason = reason;
    plan
}

/// Which candidate to recreate with, by the installer's dry runs, and why: the one asked for
/// (`--python`) or of the venv's own minor as it is; otherwise the newest on which every pin
/// installs from a wheel; if there is none, the one needing the fewest builds, said so.
fn pick_candidate(
    choices: &[(&Installation, String)],
    resolutions: &[recreate::Resolution],
    request: &PlanRequest,
    why_first: &str,
) -> (usize, String) {
    let first = &resolutions[0];
    let with_summary = |why: &str, r: &recreate::Resolution| format!("{why}; {}", r.summary());
    let own_minor = why_first.starts_with("the venv's own minor");
    if request.python.is_some() || own_minor || first.wheels_only() {
        return (0, with_summary(why_first, first));
    }
    if resolutions.iter().all(|r| r.unchecked.is_some()) {
        return (0, with_summary(why_first, first));
    }
    // `choices` after the first are newest first too, so the first wheel-only one is the newest.
    let newest = |n: usize| choices[n].0.version;
    let mut order: Vec<usize> = (0..choices.len()).collect();
    order.sort_by_key(|n| std::cmp::Reverse(newest(*n)));
    if let Some(n) = order
        .iter()
        .copied()
        .find(|n| resolutions[*n].wheels_only())
    {
        let r = &resolutions[n];
        return (
            n,
            format!(
                "the newest installed Python on which every pin installs from a wheel; {}; \
                 Python {}: {}",
                r.summary(),
                choices[0].0.version,
                first.summary()
            ),
        );
    }
    let n = order
        .iter()
        .copied()
        .filter(|n| resolutions[*n].unchecked.is_none())
        .min_by_key(|n| resolutions[*n].trouble())
        .unwrap_or(0);
    (
        n,
        format!(
            "none of the {} installed candidates installs every pin from wheels; this one needs \
             the fewest builds: {}",
            choices.len(),
            resolutions[n].summary()
        ),
    )
}

/// Pythons to recreate with, the chosen one first, then the others newest first, each with why.
/// Without `--python`: same implementation, same major (a Python 2 venv may move to 3, never
/// the reverse); with `--strategy recreate` the venv's own minor comes first when installed.
fn recreate_candidates<'a>(
    d: &Diagnosis,
    inventory: &'a Inventory,
    request: &PlanRequest,
) -> Vec<(&'a Installation, String)> {
    let venv = &d.venv;
    let minor = venv.minor();
    let major = minor.map(|m| m.major).unwrap_or(3);
    let implementation = venv.implementation();
    let mut all: Vec<&Installation> = inventory
        .pythons
        .iter()
        .filter(|i| i.implementation.eq_ignore_ascii_case(&implementation))
        .filter(|i| i.version.major == major || (major == 2 && i.version.major == 3))
        .collect();
    all.sort_by(|a, b| {
        (b.version.major == major)
            .cmp(&(a.version.major == major))
            .then(b.version.cmp(&a.version))
            .then(a.source.cmp(&b.source))
            .then(a.path.cmp(&b.path))
    });
    let own_minor = |i: &Installation| minor.is_some_and(|m| i.version.same_minor(&m));
    let chosen: Option<(&Installation, String)> = match &request.python {
        Some(python) => {
            let mut asked: Vec<&Installation> = inventory
                .pythons
                .iter()
                .filter(|i| python.accepts(i))
                .collect();
            asked.sort_by(|a, b| b.version.cmp(&a.version).then(a.path.cmp(&b.path)));
            asked
                .first()
                .map(|i| (*i, "the Python asked for".to_string()))
        }
        None => match all.iter().find(|i| own_minor(i)) {
            Some(i) => Some((*i, format!("the venv's own minor, {}", i.version.short()))),
            None => all.first().map(|i| {
                (
                    *i,
                    format!("the newest installed Python {}", i.version.major),
                )
            }),
        },
    };
    let Some((best, why)) = chosen else {
        return Vec::new();
    };
    let mut out = vec![(best, why)];
    if let Some(python) = &request.python {
        all.retain(|i| python.accepts(i));
    }
    for i in all {
        if i.path == best.path {
            continue;
        }
        let why = if own_minor(i) {
            format!("Python {} is of the venv's own minor", i.version)
        } else if i.version > best.version {
            format!("Python {} is newer than the recommended one", i.version)
        } else {
            format!("Python {} is older than the recommended one", i.version)
        };
        out.push((i, why));
    }
    out
}

/// Relink candidates, best first, each with why it ranks there (DESIGN.md planning rules):
/// the installation the venv's link already leads to, unless `home` leads to another build
/// (an upgrade in place: the new patch is recorded, never undone by a relink to another
/// installation's older patch); then the recorded patch; then the highest patch.
fn rank_candidates<'a>(
    d: &Diagnosis,
    inventory: &'a Inventory,
    request: &PlanRequest,
) -> Vec<(&'a Installation, String)> {
    let venv = &d.venv;
    let Some(minor) = venv.minor() else {
        return Vec::new();
    };
    let recorded = venv.recorded_version().filter(|r| r.same_minor(&minor));
    let wanted = recorded.unwrap_or(minor);
    // Mixed builds (home-mismatch): the link's installation is one of two, not the venv's own.
    let current = d
        .base
        .as_ref()
        .filter(|_| !d.has(ProblemKind::HomeMismatch))
        .map(|b| b.executable.clone());
    let mut found: Vec<&Installation> = inventory
        .candidates(&wanted, &venv.implementation())
        .into_iter()
        .filter(|i| request.python.as_ref().is_none_or(|p| p.accepts(i)))
        .collect();
    let exact = |i: &Installation| recorded.is_some_and(|r| r.patch.is_some() && i.version == r);
    let is_current = |i: &Installation| current.as_ref() == Some(&i.path);
    // Where the venv's link pointed, when it named a patch dir or keg that an upgrade replaced:
    // the installation now in that place (`Cellar/python@3.11`, uv's python dir) is the one
    // the user upgraded, and the venv follows it.
    let place = venv.base_link().and_then(|entry| match &entry.kind {
        EntryKind::Link { target, .. } if target.is_absolute() => {
            stability::upgrade_root(target, &minor)
        }
        _ => None,
    });
    let same_place = |i: &Installation| {
        place.as_ref().is_some_and(|root| {
            std::iter::once(&i.path)
                .chain(&i.aliases)
                .any(|p| p.starts_with(root))
        })
    };
    // An `include-system-site-packages` venv sees its base's packages: those it saw before
    // (its old `home`'s prefix, when still there) should stay visible.
    let saw_before = system_packages_before(venv, &minor);
    let lost = |i: &Installation| -> Vec<String> {
        match &saw_before {
            SystemPackages::Before(before) if !before.is_empty() => {
                let after = i.system_distributions();
                before.difference(&after).cloned().collect()
            }
            _ => Vec::new(),
        }
    };
    let keeps = |i: &Installation| lost(i).is_empty();
    found.sort_by(|a, b| {
        is_current(b)
            .cmp(&is_current(a))
            .then(same_place(b).cmp(&same_place(a)))
            .then(keeps(b).cmp(&keeps(a)))
            .then(exact(b).cmp(&exact(a)))
            .then(b.version.cmp(&a.version))
            .then(a.source.cmp(&b.source))
            .then(a.path.cmp(&b.path))
    });
    let chosen = found.first().copied();
    let newest = found.iter().map(|i| i.version).max();
    // Why the chosen one wins is said once, in its own reason; each other candidate says why
    // it ranks below it, never the chosen one's reason again.
    let upgraded_from =
        |i: &Installation| recorded.filter(|r| r.patch.is_some() && *r != i.version);
    let chosen_upgraded = chosen.is_some_and(|c| is_current(c) && upgraded_from(c).is_some());
    let chosen_same_place = chosen.is_some_and(|c| !is_current(c) && same_place(c));
    found
        .iter()
        .enumerate()
        .map(|(rank, i)| {
            let same_as_chosen = rank > 0 && chosen.is_some_and(|c| c.version == i.version);
            let why = if is_current(i) {
                match upgraded_from(i) {
                    Some(r) => format!(
                        "the venv's link already leads to Python {}, upgraded in place from {r}: \
                         the new patch is recorded",
                        i.version
                    ),
                    None => format!("the venv's link already leads to Python {}", i.version),
                }
            } else if same_place(i) && rank == 0 {
                let root = place
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                format!(
                    "Python {} is what the upgrade put where the venv's link pointed (`{root}`): \
                     the venv follows the installation it belonged to",
                    i.version
                )
            } else if exact(i) && rank > 0 && chosen_upgraded {
                format!(
                    "Python {} is the version the venv was made with, from another \
                     installation: relinking to it would undo the upgrade in place",
                    i.version
                )
            } else if exact(i) && rank > 0 && chosen_same_place {
                format!(
                    "Python {} is the exact version the venv was made with, but another \
                     installation than the one its link pointed into",
                    i.version
                )
            } else if same_as_chosen {
                format!(
                    "Python {} is the same version, another installation",
                    i.version
                )
            } else if exact(i) {
                format!(
                    "Python {} is the exact version the venv was made with",
                    i.version
                )
            } else if rank == 0 || chosen.is_some_and(|c| c.version < i.version) {
                if Some(i.version) == newest {
                    format!(
                        "Python {} is the newest installed {}.{}",
                        i.version, minor.major, minor.minor
                    )
                } else {
                    format!("Python {} is newer than the recommended one", i.version)
                }
            } else {
                format!("Python {} is older than the recommended one", i.version)
            };
            let lost = lost(i);
            let why = if lost.is_empty() {
                why
            } else {
                format!(
                    "{why}; the venv would no longer see these system packages: {}",
                    lost.join(", ")
                )
            };
            (*i, why)
        })
        .collect()
}

/// What an `include-system-site-packages` venv saw from the base its `home` names.
enum SystemPackages {
    /// Not such a venv, or no `home` to tell the old base by.
    NotShared,
    /// The distributions its old base's system site-packages hold (read from the listings).
    Before(std::collections::BTreeSet<String>),
    /// The old base prefix is gone (after an upgrade, usually): what the venv imported from
    /// it cannot be compared with a new base's.
    BaseGone(PathBuf),
}

fn system_packages_before(venv: &Venv, minor: &PythonVersion) -> SystemPackages {
    let shared = venv.cfg().is_some_and(|c| c.include_system_site_packages());
    let Some(prefix) = venv
        .home()
        .filter(|_| shared)
        .and_then(|home| home.parent().map(Path::to_path_buf))
    else {
        return SystemPackages::NotShared;
    };
    let before = crate::inventory::system_distributions(&prefix, minor);
    let stdlib = prefix.join("lib").join(format!("python{}", minor.short()));
    if before.is_empty() && !stdlib.is_dir() {
        SystemPackages::BaseGone(prefix)
    } else {
        SystemPackages::Before(before)
    }
}

/// For an `include-system-site-packages` venv whose old base is gone, the plan's note saying
/// so, and what the new base's system site-packages offer instead.
fn old_base_gone_note(venv: &Venv, target: &Installation) -> Option<String> {
    let minor = venv.minor()?;
    let SystemPackages::BaseGone(prefix) = system_packages_before(venv, &minor) else {
        return None;
    };
    const NAMED: usize = 12;
    let offered: Vec<String> = target.system_distributions().into_iter().collect();
    let offers = match offered.len() {
        0 => "none".to_string(),
        n if n <= NAMED => offered.join(", "),
        n => format!("{}, and {} more", offered[..NAMED].join(", "), n - NAMED),
    };
    Some(format!(
        "the venv sees its base's system packages (`include-system-site-packages = true`), \
         and its old base `{}` is gone, so what the venv imported from it cannot be compared \
         with the new base; Python {}'s system site-packages offer: {offers}",
        prefix.display(),
        target.version
    ))
}

/// The candidates ranked after the chosen one, each as a relink with the reason it ranks there,
/// as the plan's alternatives. With `--python` the user chose, so none are listed as if the
/// choice were open: one note names the other installations that also match what was asked.
fn set_alternatives(plan: &mut Plan, request: &PlanRequest, rest: &[(&Installation, String)]) {
    if request.python.is_some() {
        let others: Vec<&Installation> = rest.iter().map(|(i, _)| *i).collect();
        plan.notes.extend(also_asked_note(request, &others));
        return;
    }
    plan.alternatives = rest
        .iter()
        .map(|(i, why)| Alternative {
            target: Target::from_installation(i),
            strategy: Strategy::Relink,
            why: why.clone(),
        })
        .collect();
}

/// The one line saying which other installations also match `--python X.Y`, and how to pick
/// one of them instead; `None` when there are none (always for a path).
fn also_asked_note(request: &PlanRequest, others: &[&Installation]) -> Option<String> {
    let Some(PythonRequest::Version(asked)) = &request.python else {
        return None;
    };
    if others.is_empty() {
        return None;
    }
    const NAMED: usize = 3;
    let mut named: Vec<String> = others
        .iter()
        .take(NAMED)
        .map(|i| format!("`{}` ({})", i.path.display(), i.version))
        .collect();
    if others.len() > NAMED {
        named.push(format!("and {} more", others.len() - NAMED));
    }
    Some(format!(
        "`--python {asked}` also matches {}; `--python PATH` picks one of them instead",
        named.join(", ")
    ))
}

/// The problems of `d` a plan resolving `fixed` leaves behind.
fn unresolved(d: &Diagnosis, fixed: &[ProblemKind]) -> Vec<Unresolved> {
    d.problems
        .iter()
        .filter(|p| !fixed.contains(&p.kind) && p.severity != crate::diagnose::Severity::Info)
        .map(|p| Unresolved {
            kind: p.kind,
            severity: p.severity,
            why: match p.kind {
                ProblemKind::DanglingLink => {
                    "venvfix leaves links it did not make as they are".into()
                }
                ProblemKind::OrphanedSitePackages => {
                    "packages of another minor are kept; remove them by hand once you no longer \
                     need them"
                        .into()
                }
                ProblemKind::MovedVenv => {
                    "its files name the old location; `venvfix repair --strategy relocate` \
                     rewrites them"
                        .into()
                }
                ProblemKind::InvalidConfig if p.severity == Severity::Warning => {
                    "CPython skips those lines; venvfix leaves the file as the user wrote it".into()
                }
                ProblemKind::InvalidConfig => {
                    "pyvenv.cfg cannot be read; it must be recreated".into()
                }
                ProblemKind::InterruptedRepair => {
                    "roll the interrupted repair back first (`venvfix undo`)".into()
                }
                _ => "no installed Python can fix it by relinking".into(),
            },
        })
        .collect()
}

/// The link target to write for `installation`: of all the paths that reach it, the one its
/// installer keeps across routine upgrades (Homebrew's `opt/python@3.X`, uv's and mise's
/// minor-version links, `/usr/bin/python3.X` over `/usr/bin/python3`).
fn link_target(installation: &Installation) -> PathBuf {
    installation.stable_path().path
}

/// Whether the path-valued `pyvenv.cfg` value `old` can stay where `new` would be written: it
/// reaches the same file or dir and is no less stable across upgrades (`name` is the
/// interpreter's file name, to judge a dir by).
fn keeps(old: &str, new: &Path, name: Option<&str>, version: &PythonVersion) -> bool {
    let old = Path::new(old);
    let same = std::fs::canonicalize(old)
        .ok()
        .zip(std::fs::canonicalize(new).ok())
        .is_some_and(|(a, b)| a == b);
    if !same {
        return false;
    }
    let judge = |p: &Path| match name {
        Some(name) => stability::stability(&p.join(name), version),
        None => stability::stability(p, version),
    };
    judge(old) <= judge(new)
}

/// The actions that point `venv` at `target`.
fn relink_actions(venv: &Venv, target: &Installation) -> Vec<Action> {
    let mut actions = Vec::new();
    let to = link_target(target);
    // Every entry is fixed, not only the one `bin/python` means: copies are re-copied, links
    // (a user's `ln -sf` beside the copies included) are pointed at the target.
    for entry in venv.interpreters.iter().filter(|i| i.is_copy()) {
        actions.push(Action::CopyFile {
            path: venv.relative(&entry.path).to_path_buf(),
            source: target.path.clone(),
        });
    }
    actions.extend(link_actions(venv, target, &to));
    let home = to.parent().unwrap_or(Path::new("/")).display().to_string();
    if let Some(cfg) = venv.cfg() {
        let home_dir = to.parent().unwrap_or(Path::new("/"));
        let name = to.file_name().map(|n| n.to_string_lossy().into_owned());
        let version = target.version;
        let mut set = |key: &str, value: String, same: Option<(&Path, Option<&str>)>| {
            if let Some(old) = cfg.get(key)
                && old != value
                && !same.is_some_and(|(new, name)| keeps(old, new, name, &version))
            {
                actions.push(Action::Config {
                    key: key.to_string(),
                    from: Some(old.to_string()),
                    to: value,
                });
            }
        };
        // A `home` that already leads to the target as stably (a uv minor-link dir, Homebrew's
        // `opt/`) is the user's and stays: an update-config never trades it for a patch dir.
        set("home", home.clone(), Some((home_dir, name.as_deref())));
        set("version", version.to_string(), None);
        if let Some(old) = cfg.get("version_info") {
            set("version_info", version_info_like(old, &version), None);
        }
        set(
            "executable",
            target.path.display().to_string(),
            Some((&target.path, None)),
        );
        set(
            "base-executable",
            to.display().to_string(),
            Some((&to, None)),
        );
        set(
            "base-prefix",
            target.prefix.display().to_string(),
            Some((&target.prefix, None)),
        );
        set(
            "base-exec-prefix",
            target.prefix.display().to_string(),
            Some((&target.prefix, None)),
        );
        if cfg.home().is_none() {
            actions.push(Action::Config {
                key: "home".into(),
                from: None,
                to: home,
            });
        }
    } else if matches!(venv.config, ConfigState::Missing) {
        // The keys `python -m venv` writes, for the Python the entries lead to.
        for (key, to) in [
            ("home", home),
            ("include-system-site-packages", "false".to_string()),
            ("version", target.version.to_string()),
        ] {
            actions.push(Action::Config {
                key: key.into(),
                from: None,
                to,
            });
        }
    }
    actions
}

/// Write `version` in the form `old` used: `3.12.1.final.0`, `3.13.0` or `3.12`.
fn version_info_like(old: &str, version: &PythonVersion) -> String {
    let parts = old.split('.').count();
    let patch = version.patch.unwrap_or(0);
    match parts {
        2 => version.short(),
        5 => {
            let (level, serial) = match version.pre {
                None => ("final", 0),
                Some(crate::version::PreRelease::Alpha(n)) => ("alpha", n),
                Some(crate::version::PreRelease::Beta(n)) => ("beta", n),
                Some(crate::version::PreRelease::Candidate(n)) => ("candidate", n),
            };
            format!(
                "{}.{}.{patch}.{level}.{serial}",
                version.major, version.minor
            )
        }
        _ => version.to_string(),
    }
}

/// Rewrite the one absolute link, and any interpreter entry that would not reach it.
fn link_actions(venv: &Venv, target: &Installation, to: &Path) -> Vec<Action> {
    let mut actions = Vec::new();
    let bin = venv.root.join("bin");
    // The entries to point at the base: every link that leads out of bin/ (a hand-made fix
    // may have added a second one), else the name the creator would have used.
    let copies: Vec<String> = venv
        .interpreters
        .iter()
        .filter(|i| i.is_copy())
        .map(|i| i.name.clone())
        .collect();
    let mut base_names: Vec<String> = venv
        .interpreters
        .iter()
        .filter(|i| i.is_absolute_link())
        .map(|i| i.name.clone())
        .collect();
    if !copies.is_empty() && !venv.interpreters.iter().any(|i| i.target().is_some()) {
        return actions;
    }
    if base_names.is_empty() && !copies.is_empty() {
        // A copies venv: relative links lead to a copy, which is re-copied.
        base_names = copies.clone();
    } else if base_names.is_empty() {
        base_names.push(match venv.base_link() {
            Some(entry) => entry.name.clone(),
            None => match venv.creator {
                Creator::Virtualenv | Creator::Uv => "python".to_string(),
                _ => format!("python{}", target.version.short()),
            },
        });
    }
    let base_name = base_names[0].clone();
    // Link targets after the change, by entry name, to simulate resolution inside bin/.
    let mut after: BTreeMap<String, Option<PathBuf>> = venv
        .interpreters
        .iter()
        .map(|i| {
            let t = match &i.kind {
                EntryKind::Link { target, .. } => Some(target.clone()),
                _ => None,
            };
            (i.name.clone(), t)
        })
        .collect();
    for name in &base_names {
        if copies.contains(name) {
            continue;
        }
        let current = after.get(name).cloned().flatten();
        // A link that already leads to the target's file (`python3 -> .../bin/python3`, a link
        // to `python3.12` beside it) is left as the creator wrote it.
        let same_file = std::fs::canonicalize(bin.join(name)).is_ok_and(|c| c == target.path);
        // ... unless it goes through a keg or patch dir that the next upgrade removes while `to`
        // survives it (`unstable-base`): a link through an unversioned name (`python3`) is
        // the creator's choice and stays.
        let as_stable = current.as_deref().is_none_or(|c| {
            !c.is_absolute()
                || stability::stability(c, &target.version) != stability::Stability::Patch
                || stability::stability(to, &target.version) != stability::Stability::Minor
        });
        if same_file && as_stable {
            continue;
        }
        if current.as_deref() != Some(to) {
            actions.push(Action::Symlink {
                path: venv.relative(&bin.join(name)).to_path_buf(),
                from: current,
                to: to.to_path_buf(),
            });
        }
        after.insert(name.clone(), Some(to.to_path_buf()));
    }
    let names: Vec<String> = after.keys().cloned().collect();
    for name in names {
        if base_names.contains(&name) || base_names.iter().any(|b| reaches(&after, &name, b)) {
            continue;
        }
        let from = after.get(&name).cloned().flatten();
        // Only links are rewritten; a stray regular file is left for the user.
        if from.is_none() {
            continue;
        }
        actions.push(Action::Symlink {
            path: venv.relative(&bin.join(&name)).to_path_buf(),
            from,
            to: PathBuf::from(&base_name),
        });
        after.insert(name, Some(PathBuf::from(&base_name)));
    }
    actions
}

/// Whether the entry `name` reaches `goal` through relative links inside `bin/`.
fn reaches(after: &BTreeMap<String, Option<PathBuf>>, name: &str, goal: &str) -> bool {
    let mut current = name.to_string();
    for _ in 0..after.len() + 1 {
        if current == goal {
            return true;
        }
        match after.get(&current) {
            Some(Some(target)) if target.components().count() == 1 => {
                current = target.to_string_lossy().into_owned();
            }
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_info_keeps_the_creators_form() {
        let v = PythonVersion::new(3, 8, 11);
        assert_eq!(version_info_like("3.8.18.final.0", &v), "3.8.11.final.0");
        assert_eq!(version_info_like("3.8.18", &v), "3.8.11");
        assert_eq!(version_info_like("3.8", &v), "3.8");
        let rc: PythonVersion = "3.13.0rc2".parse().unwrap();
        assert_eq!(
            version_info_like("3.13.0.final.0", &rc),
            "3.13.0.candidate.2"
        );
    }

    #[test]
    fn python_request_is_a_version_or_a_path() {
        assert_eq!(
            PythonRequest::parse("3.8"),
            PythonRequest::Version(PythonVersion::minor_only(3, 8))
        );
        assert_eq!(
            PythonRequest::parse("3.8.11"),
            PythonRequest::Version(PythonVersion::new(3, 8, 11))
        );
        assert_eq!(
            PythonRequest::parse("/opt/py/bin/python3"),
            PythonRequest::Path("/opt/py/bin/python3".into())
        );
        assert_eq!(
            PythonRequest::parse("python3.8"),
            PythonRequest::Path("python3.8".into())
        );
    }

    #[test]
    fn relative_links_are_followed_inside_bin_only() {
        let after: BTreeMap<String, Option<PathBuf>> = [
            ("python", Some("python3")),
            ("python3", Some("python3.8")),
            ("python3.8", Some("/opt/py/bin/python3.8")),
            ("python3.9", Some("../other/python3.9")),
            ("loop", Some("loop")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.map(PathBuf::from)))
        .collect();
        assert!(reaches(&after, "python", "python3.8"));
        assert!(!reaches(&after, "python3.9", "python3.8"));
        assert!(!reaches(&after, "loop", "python3.8"));
    }

    #[test]
    fn homebrew_opt_alias_is_the_stable_link_target() {
        let installation = Installation {
            path: "/opt/homebrew/Cellar/python@3.12/3.12.1/bin/python3.12".into(),
            aliases: vec!["/opt/homebrew/opt/python@3.12/bin/python3.12".into()],
            version: PythonVersion::new(3, 12, 1),
            implementation: "cpython".into(),
            prefix: "/opt/homebrew/Cellar/python@3.12/3.12.1".into(),
            source: Source::Homebrew,
            os_managed: true,
            compiled_prefix: None,
        };
        assert_eq!(
            link_target(&installation),
            PathBuf::from("/opt/homebrew/opt/python@3.12/bin/python3.12")
        );
    }
}
