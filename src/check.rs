//! The `check` operation: scan the user's paths, inspect and diagnose every venv found.
//!
//! Read-only from end to end (DESIGN.md rule 1): it lists directories, reads small files and
//! asks the inventory, which may refresh venvfix's own cache and nothing else. One unreadable
//! venv becomes an error entry; the others are still diagnosed (rule 8).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::diagnose::{Diagnosis, Problem, ProblemKind, Severity, Status, diagnose};
use crate::execute::{self, ExecOptions};
use crate::inventory::Inventory;
use crate::scan::{ScanError, ScanOptions, ScanProgress, scan};
use crate::venv::Venv;

/// A path that could not be searched or inspected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchecked {
    pub path: PathBuf,
    /// A stable id for scripts (JSON `code`): `not-found`, `not-a-venv`, `unreadable`,
    /// `invalid-venv`.
    pub code: &'static str,
    pub message: String,
}

impl From<&ScanError> for Unchecked {
    fn from(e: &ScanError) -> Self {
        Unchecked {
            path: e.path().to_path_buf(),
            code: match e {
                ScanError::NotFound { .. } => "not-found",
                ScanError::NotADirectory { .. } => "not-a-venv",
                ScanError::Io { .. } => "unreadable",
            },
            message: e.to_string(),
        }
    }
}

/// Everything `check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckOutcome {
    /// One diagnosis per venv, sorted by path.
    pub diagnoses: Vec<Diagnosis>,
    /// Paths that could not be searched or inspected.
    pub errors: Vec<Unchecked>,
}

impl CheckOutcome {
    /// How many venvs have each status: `(ok, warning, broken)`.
    pub fn summary(&self) -> (usize, usize, usize) {
        let count = |s: Status| self.diagnoses.iter().filter(|d| d.status() == s).count();
        (
            count(Status::Ok),
            count(Status::Warning),
            count(Status::Broken),
        )
    }
}

/// Find the venvs under `paths`, reporting progress as the walk goes. With `state`, also the
/// venvs under `paths` a killed repair left a journal for, even where no venv is on disk right
/// now (DESIGN.md rule 5: the next venvfix that touches the path finds it).
pub fn find_venvs(
    paths: &[PathBuf],
    options: &ScanOptions,
    state: Option<&ExecOptions>,
    progress: &(dyn Fn(ScanProgress) + Sync),
) -> (Vec<PathBuf>, Vec<Unchecked>) {
    // venvfix's own backups are copies of venvs: never report them as the user's.
    let mut options = options.clone();
    if let Some(state) = state {
        options.skip.push(state.state_dir.clone());
    }
    let report = scan(paths, &options, progress);
    let mut venvs: Vec<PathBuf> = report.venvs.into_iter().map(|f| f.path).collect();
    let interrupted = state
        .map(|s| execute::interrupted_under(paths, s))
        .unwrap_or_default();
    let is_interrupted =
        |path: &Path| execute::state::canonical_venv(path).is_ok_and(|p| interrupted.contains(&p));
    let errors = report
        .errors
        .iter()
        .filter(|e| !is_interrupted(e.path()))
        .map(Unchecked::from)
        .collect();
    let scanned: Vec<PathBuf> = venvs
        .iter()
        .filter_map(|v| execute::state::canonical_venv(v).ok())
        .collect();
    venvs.extend(interrupted.iter().filter(|v| !scanned.contains(v)).cloned());
    venvs.sort();
    (venvs, errors)
}

/// Inspect and diagnose each venv; `inventory` is asked only if there is a venv to judge.
/// With `state`, a repair interrupted on a venv is reported (its journal is only read).
pub fn check_venvs(
    venvs: &[PathBuf],
    inventory: impl FnOnce() -> Inventory,
    state: Option<&ExecOptions>,
) -> CheckOutcome {
    let mut outcome = CheckOutcome::default();
    if venvs.is_empty() {
        return outcome;
    }
    let inventory = inventory();
    let results: Vec<Result<Diagnosis, Unchecked>> = venvs
        .par_iter()
        .map(|path| {
            let venv = Venv::inspect(path).map_err(|e| Unchecked {
                path: path.clone(),
                code: "invalid-venv",
                // A venv moved aside by a killed recreate: what to run says more than "missing".
                message: state
                    .and_then(|s| execute::pending(path, s))
                    .map(|p| p.message())
                    .unwrap_or_else(|| e.to_string()),
            })?;
            let mut diagnosis = diagnose(venv, &inventory);
            if let Some(state) = state {
                add_interrupted(&mut diagnosis, path, state);
            }
            Ok(diagnosis)
        })
        .collect();
    for result in results {
        match result {
            Ok(diagnosis) => outcome.diagnoses.push(diagnosis),
            Err(unchecked) => outcome.errors.push(unchecked),
        }
    }
    outcome
}

/// A journal left by a killed repair means the venv may be half-changed. A journal of a run
/// that is still going (its process holds the lock) is only a note: nothing needs recovering.
pub fn add_interrupted(diagnosis: &mut Diagnosis, venv: &Path, state: &ExecOptions) {
    if let Some(pending) = execute::pending(venv, state) {
        let (kind, severity, hint) = if pending.in_progress {
            (ProblemKind::RepairInProgress, Severity::Warning, None)
        } else {
            (
                ProblemKind::InterruptedRepair,
                Severity::Error,
                Some(format!("run `venvfix undo {}`", crate::shell::quote(venv))),
            )
        };
        diagnosis.problems.insert(
            0,
            Problem {
                kind,
                severity,
                entry: None,
                message: pending.message(),
                hint,
            },
        );
    }
}
