//! The JSON reports of DESIGN.md, built from library results. Field names are a public contract:
//! fields may be added, never renamed.

use std::path::Path;

use serde::Serialize;

use crate::check::{CheckOutcome, Unchecked};
use crate::diagnose::{Diagnosis, EntryVerdict, Problem};
use crate::plan::recreate::{CarryOver, Creation, Installer, Resolution, Seed};
use crate::plan::{Action, Plan, Target};
use crate::venv::{Entry, EntryKind, Leads};

/// The version of the JSON documents' shape: every document starts with `"schema": 1`. Fields
/// may be added within a schema; renaming or removing one means a new schema number.
pub const SCHEMA: u32 = 1;

/// Any report as a JSON document: `schema`, then the report's own fields (it must serialize as
/// a map). Every command's `--json` goes through this, so no document lacks its `schema`.
#[derive(Debug, Serialize)]
pub struct Document<'a, T: Serialize> {
    pub schema: u32,
    #[serde(flatten)]
    pub body: &'a T,
}

impl<'a, T: Serialize> Document<'a, T> {
    pub fn new(body: &'a T) -> Self {
        Document {
            schema: SCHEMA,
            body,
        }
    }
}

/// An error in a JSON document: a stable `code` for scripts, the message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
}

impl ErrorDetail {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ErrorDetail {
            code,
            message: message.into(),
        }
    }
}

/// `check --json`.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub venvs: Vec<VenvReport>,
    pub summary: Summary,
    /// Paths that could not be searched or inspected.
    pub errors: Vec<ErrorReport>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub ok: usize,
    pub warning: usize,
    pub broken: usize,
}

/// A path that could not be searched or inspected (`errors` of `check --json`).
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub path: String,
    /// `not-found`, `not-a-venv`, `unreadable`, `invalid-venv`.
    pub code: &'static str,
    pub message: String,
}

impl From<&Unchecked> for ErrorReport {
    fn from(e: &Unchecked) -> Self {
        ErrorReport {
            path: shown(&e.path),
            code: e.code,
            message: e.message.clone(),
        }
    }
}

/// One venv in `check --json`.
#[derive(Debug, Serialize)]
pub struct VenvReport {
    pub path: String,
    pub status: &'static str,
    pub creator: &'static str,
    /// The version the venv was made for (recorded, else its `lib/pythonX.Y`).
    pub version: Option<String>,
    pub interpreter: Option<InterpreterReport>,
    /// Every interpreter entry of `bin/`, each with what it leads to and its own verdict.
    pub entries: Vec<EntryReport>,
    pub problems: Vec<Problem>,
}

/// One interpreter entry in `check --json`.
#[derive(Debug, Serialize)]
pub struct EntryReport {
    pub path: String,
    /// The link target as written; `null` for a copied binary.
    pub target: Option<String>,
    /// `link`, `copy` or `other` (a directory or special file).
    pub kind: &'static str,
    /// Whether it leads to an existing file.
    pub exists: bool,
    /// The canonical file it runs, for links that resolve.
    pub resolved: Option<String>,
    /// The version of the Python it runs, when known.
    pub version: Option<String>,
    /// `ok`, `warning` or `broken`: the worst problem found for this entry.
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct InterpreterReport {
    /// The venv's link to its base (or its runner when all entries are copies).
    pub path: String,
    /// The link target as written; `null` for a copied binary.
    pub target: Option<String>,
    /// Whether the chain ends at an existing file.
    pub exists: bool,
    /// The version of the Python it runs, when known.
    pub version: Option<String>,
    /// The canonical file it runs.
    pub resolved: Option<String>,
}

impl EntryReport {
    fn new(entry: &Entry, verdict: Option<&EntryVerdict>) -> Self {
        let (target, kind) = match &entry.kind {
            EntryKind::Link { target, .. } => (Some(shown(target)), "link"),
            EntryKind::Copy { .. } => (None, "copy"),
            EntryKind::Other => (None, "other"),
        };
        EntryReport {
            path: shown(&entry.path),
            target,
            kind,
            exists: !matches!(entry.leads, Leads::Nowhere(_)),
            resolved: match &entry.leads {
                Leads::Base(file) | Leads::Copy(file) => Some(shown(file)),
                Leads::Nowhere(_) => None,
            },
            version: verdict
                .and_then(|v| v.base.as_ref())
                .filter(|b| b.version.major != 0)
                .map(|b| b.version.to_string()),
            status: verdict.map(|v| v.status.as_str()).unwrap_or("broken"),
        }
    }
}

impl VenvReport {
    pub fn new(d: &Diagnosis) -> Self {
        let venv = &d.venv;
        let entry = venv
            .base_link()
            .or_else(|| venv.entries_by_use().into_iter().next());
        let entries = venv
            .interpreters
            .iter()
            .map(|e| EntryReport::new(e, d.entries.iter().find(|v| v.path == e.path)))
            .collect();
        let interpreter = entry.map(|e| {
            let (target, exists) = match &e.kind {
                EntryKind::Link { target, chain } => (Some(shown(target)), chain.resolves()),
                EntryKind::Copy { .. } => (None, true),
                EntryKind::Other => (None, false),
            };
            InterpreterReport {
                path: shown(&e.path),
                target,
                exists,
                version: d
                    .entries
                    .iter()
                    .find(|v| v.path == e.path)
                    .and_then(|v| v.base.as_ref())
                    .filter(|b| b.version.major != 0)
                    .map(|b| b.version.to_string()),
                resolved: e.chain().and_then(|c| c.canonical()).map(shown),
            }
        });
        VenvReport {
            path: shown(&venv.root),
            status: d.status().as_str(),
            creator: venv.creator.as_str(),
            version: venv
                .recorded_version()
                .or(venv.minor())
                .map(|v| v.to_string()),
            interpreter,
            entries,
            problems: d.problems.clone(),
        }
    }
}

impl CheckReport {
    pub fn new(outcome: &CheckOutcome) -> Self {
        let (ok, warning, broken) = outcome.summary();
        CheckReport {
            venvs: outcome.diagnoses.iter().map(VenvReport::new).collect(),
            summary: Summary {
                ok,
                warning,
                broken,
            },
            errors: outcome.errors.iter().map(ErrorReport::from).collect(),
        }
    }
}

/// A path as JSON text. Paths that are not UTF-8 are shown with U+FFFD in place of the bad
/// bytes: JSON cannot carry raw bytes, and a lossy path still names the venv to a reader.
pub fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `repair --json`: one entry per venv, and how many ended each way.
#[derive(Debug, Serialize)]
pub struct RepairReport {
    pub venvs: Vec<RepairEntry>,
    pub summary: RepairSummary,
}

/// The `summary` of `repair --json`: entries counted by `outcome`.
#[derive(Debug, Default, Serialize)]
pub struct RepairSummary {
    pub planned: usize,
    pub repaired: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl RepairReport {
    pub fn new(venvs: Vec<RepairEntry>) -> Self {
        let mut summary = RepairSummary::default();
        for entry in &venvs {
            match entry.outcome {
                "planned" => summary.planned += 1,
                "repaired" => summary.repaired += 1,
                "unchanged" => summary.unchanged += 1,
                "skipped" => summary.skipped += 1,
                _ => summary.failed += 1,
            }
        }
        RepairReport { venvs, summary }
    }
}

/// A planned, applied, skipped or failed repair of one venv.
#[derive(Debug, Serialize)]
pub struct RepairEntry {
    pub path: String,
    pub strategy: &'static str,
    pub target: Option<TargetReport>,
    pub actions: Vec<ActionReport>,
    /// `planned`, `repaired`, `unchanged`, `skipped` or `failed`.
    pub outcome: &'static str,
    pub backup: Option<String>,
    /// Why the repair failed: `{"code", "message"}`; `null` otherwise.
    pub error: Option<ErrorDetail>,
    /// Why this strategy and target.
    pub reason: String,
    /// What else the plan says (tools' records left as they are, why a path is stable).
    pub notes: Vec<String>,
    /// The problem kinds found before the repair.
    pub problems: Vec<&'static str>,
    /// Problems the plan leaves, with why.
    pub unresolved: Vec<UnresolvedReport>,
    pub alternatives: Vec<AlternativeReport>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    /// The installation (its canonical executable).
    pub path: String,
    /// What the venv's links and `home` name: the installation's most stable alias.
    pub link: String,
    pub version: String,
    pub source: crate::inventory::Source,
}

#[derive(Debug, Serialize)]
pub struct AlternativeReport {
    pub strategy: &'static str,
    pub target: TargetReport,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct UnresolvedReport {
    pub kind: &'static str,
    pub why: String,
}

/// One action as DESIGN.md shows it: `{"op": "symlink", "path", "from", "to"}`,
/// `{"op": "config", "key", "from", "to"}`.
#[derive(Debug, Serialize)]
pub struct ActionReport {
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Recreate only: the requirements it installs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Vec<String>>,
    /// Recreate only: what else it will do and knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recreate: Option<RecreateReport>,
    /// Record only: the tool whose record this is (`pipx`, `uv-tool`, `tox`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<&'static str>,
    /// Record only: each field's `key`, `from` and `to`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<crate::records::FieldChange>>,
}

/// The details of a recreate action.
#[derive(Debug, Serialize)]
pub struct RecreateReport {
    pub python_version: Option<String>,
    /// The `uv` that installs into the venv; `null` for pip.
    pub uv: Option<String>,
    /// How the new venv is made (`{"tool": "venv"}`, `uv`, `virtualenv`).
    pub creator: Option<Creation>,
    /// The interpreters are copies (`--copies`), as in the old venv.
    pub copies: bool,
    /// Seed packages: old version, and the version the new venv gets.
    pub seeds: Vec<Seed>,
    /// The installer's dry run on each candidate Python, the chosen one first.
    pub candidates: Vec<Resolution>,
    pub warnings: Vec<String>,
    /// Every way the new venv differs from the old.
    pub differences: Vec<String>,
    pub with_pip: bool,
    /// Distributions with compiled code, with the evidence.
    pub compiled: Vec<String>,
    /// Pins whose `Requires-Python` excludes the new Python.
    pub unavailable: Vec<String>,
    /// Other versions of a distribution installed in several lib dirs, not reinstalled, each
    /// with the version reinstalled instead and why.
    pub left_out: Vec<String>,
    /// User files copied from the old venv (relative).
    pub carry_over: Vec<String>,
    /// The same, with where each goes and whether a `.pth` is rewritten.
    pub carried: Vec<CarryOver>,
    pub prompt: Option<String>,
    pub system_site_packages: bool,
    pub find_links: Vec<String>,
    pub offline: bool,
}

impl ActionReport {
    pub fn new(action: &Action) -> Self {
        let blank = ActionReport {
            op: "",
            path: None,
            key: None,
            from: None,
            to: None,
            requirements: None,
            recreate: None,
            tool: None,
            changes: None,
        };
        match action {
            Action::Symlink { path, from, to } => ActionReport {
                op: "symlink",
                path: Some(shown(path)),
                from: from.as_deref().map(shown),
                to: Some(shown(to)),
                ..blank
            },
            Action::CopyFile { path, source } => ActionReport {
                op: "copy-file",
                path: Some(shown(path)),
                to: Some(shown(source)),
                ..blank
            },
            Action::Config { key, from, to } => ActionReport {
                op: "config",
                key: Some(key.clone()),
                from: from.clone(),
                to: Some(to.clone()),
                ..blank
            },
            Action::Rewrite { path, from, to } => ActionReport {
                op: "rewrite",
                path: Some(shown(path)),
                from: Some(shown(from)),
                to: Some(shown(to)),
                ..blank
            },
            // A link outside the venv that names its old path is rewritten like a file that
            // does: `path` (absolute) names `from`, then `to`.
            Action::ExternalLink { path, from, to } => ActionReport {
                op: "rewrite",
                path: Some(shown(path)),
                from: Some(shown(from)),
                to: Some(shown(to)),
                ..blank
            },
            Action::Record(edit) => ActionReport {
                op: "record",
                path: Some(shown(&edit.path)),
                tool: Some(edit.tool.as_str()),
                changes: Some(edit.changes.clone()),
                ..blank
            },
            Action::Recreate(spec) => ActionReport {
                op: "recreate",
                path: Some(".".into()),
                to: Some(shown(&spec.python)),
                requirements: Some(spec.requirements.clone()),
                recreate: Some(RecreateReport {
                    python_version: spec.version.map(|v| v.to_string()),
                    uv: match &spec.installer {
                        Some(Installer::Uv { uv }) => Some(shown(uv)),
                        _ => None,
                    },
                    creator: spec.create.clone(),
                    copies: spec.copies,
                    seeds: spec.seeds.clone(),
                    candidates: spec.candidates.clone(),
                    warnings: spec.warnings.clone(),
                    differences: spec.differences.clone(),
                    with_pip: spec.with_pip,
                    compiled: spec.compiled.clone(),
                    unavailable: spec.unavailable.clone(),
                    left_out: spec.left_out.clone(),
                    carry_over: spec.carry_over.iter().map(|c| shown(&c.from)).collect(),
                    carried: spec.carry_over.clone(),
                    prompt: spec.prompt.clone(),
                    system_site_packages: spec.system_site_packages,
                    find_links: spec.find_links.iter().map(|p| shown(p)).collect(),
                    offline: spec.offline,
                }),
                ..blank
            },
        }
    }
}

impl TargetReport {
    pub fn new(target: &Target) -> Self {
        TargetReport {
            path: shown(&target.path),
            link: shown(&target.link),
            version: target.version.to_string(),
            source: target.source,
        }
    }
}

impl RepairEntry {
    /// The entry for `plan` with the given outcome.
    pub fn new(d: Option<&Diagnosis>, plan: &Plan, outcome: &'static str) -> Self {
        RepairEntry {
            path: shown(&plan.venv),
            strategy: plan.strategy.as_str(),
            target: plan.target.as_ref().map(TargetReport::new),
            actions: plan.actions.iter().map(ActionReport::new).collect(),
            outcome,
            backup: None,
            error: None,
            reason: plan.reason.clone(),
            notes: plan.notes.clone(),
            problems: d
                .map(|d| d.problems.iter().map(|p| p.kind.id()).collect())
                .unwrap_or_default(),
            unresolved: plan
                .unresolved
                .iter()
                .map(|u| UnresolvedReport {
                    kind: u.kind.id(),
                    why: u.why.clone(),
                })
                .collect(),
            alternatives: plan
                .alternatives
                .iter()
                .map(|a| AlternativeReport {
                    strategy: a.strategy.as_str(),
                    target: TargetReport::new(&a.target),
                    why: a.why.clone(),
                })
                .collect(),
        }
    }

    /// An entry for a venv that could not even be planned.
    pub fn failed(path: &Path, error: ErrorDetail) -> Self {
        RepairEntry {
            path: shown(path),
            strategy: "none",
            target: None,
            actions: Vec::new(),
            outcome: "failed",
            backup: None,
            error: Some(error),
            reason: String::new(),
            notes: Vec::new(),
            problems: Vec::new(),
            unresolved: Vec::new(),
            alternatives: Vec::new(),
        }
    }
}
