//! The JSON reports of DESIGN.md, built from library results. Field names are a public contract:
//! fields may be added, never renamed.

use std::path::Path;

use serde::Serialize;

use crate::check::CheckOutcome;
use crate::diagnose::{Diagnosis, Problem};
use crate::venv::EntryKind;

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

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub path: String,
    pub message: String,
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
    pub problems: Vec<Problem>,
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

impl VenvReport {
    pub fn new(d: &Diagnosis) -> Self {
        let venv = &d.venv;
        let entry = venv.base_link().or_else(|| venv.runner());
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
                    .base
                    .as_ref()
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
            errors: outcome
                .errors
                .iter()
                .map(|e| ErrorReport {
                    path: shown(&e.path),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

/// A path as JSON text. Paths that are not UTF-8 are shown with U+FFFD in place of the bad
/// bytes: JSON cannot carry raw bytes, and a lossy path still names the venv to a reader.
pub fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
