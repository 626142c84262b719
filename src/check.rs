//! The `check` operation: scan the user's paths, inspect and diagnose every venv found.
//!
//! Read-only from end to end (DESIGN.md rule 1): it lists directories, reads small files and
//! asks the inventory, which may refresh venvfix's own cache and nothing else. One unreadable
//! venv becomes an error entry; the others are still diagnosed (rule 8).

use std::path::PathBuf;

use rayon::prelude::*;

use crate::diagnose::{Diagnosis, Status, diagnose};
use crate::inventory::Inventory;
use crate::scan::{ScanError, ScanOptions, scan};
use crate::venv::Venv;

/// Everything `check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckOutcome {
    /// One diagnosis per venv, sorted by path.
    pub diagnoses: Vec<Diagnosis>,
    /// Paths that could not be searched or inspected.
    pub errors: Vec<ScanError>,
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

/// Find the venvs under `paths`.
pub fn find_venvs(paths: &[PathBuf], options: &ScanOptions) -> (Vec<PathBuf>, Vec<ScanError>) {
    let report = scan(paths, options);
    (
        report.venvs.into_iter().map(|f| f.path).collect(),
        report.errors,
    )
}

/// Inspect and diagnose each venv; `inventory` is asked only if there is a venv to judge.
pub fn check_venvs(venvs: &[PathBuf], inventory: impl FnOnce() -> Inventory) -> CheckOutcome {
    let mut outcome = CheckOutcome::default();
    if venvs.is_empty() {
        return outcome;
    }
    let inventory = inventory();
    let results: Vec<_> = venvs
        .par_iter()
        .map(|path| {
            Venv::inspect(path)
                .map(|v| diagnose(v, &inventory))
                .map_err(|e| (path, e))
        })
        .collect();
    for result in results {
        match result {
            Ok(diagnosis) => outcome.diagnoses.push(diagnosis),
            Err((path, e)) => outcome.errors.push(ScanError {
                path: path.clone(),
                message: e.to_string(),
            }),
        }
    }
    outcome
}
