//! `venvfix check --uses PYTHON` and `venvfix pythons --venvs`: which venvs depend on which
//! installed Python, asked before an upgrade or an uninstall. Thin: the library's
//! [`venvfix::uses`] groups and plans; this finds the venvs, resolves `PYTHON` like `--python`,
//! and prints.

use std::path::PathBuf;

use serde::Serialize;

use venvfix::ExitCode;
use venvfix::check::{CheckOutcome, check_venvs, find_venvs};
use venvfix::diagnose::Diagnosis;
use venvfix::inventory::{Installation, Inventory, InventoryOptions, ProbeFailure};
use venvfix::plan::{Action, Plan, Strategy};
use venvfix::report::shown;
use venvfix::scan::{ScanOptions, known_homes};
use venvfix::uses::{by_python, if_removed};

use super::check::warn_unchecked;
use super::plan_view::with_python;
use super::printer::{Printer, Style, count};
use super::python_arg;

/// Find and diagnose the venvs under `paths` against `inventory`; unreadable parts are
/// warnings (and make the result incomplete: `Problems`).
fn diagnose_all(
    paths: &[PathBuf],
    follow_links: bool,
    inventory: &Inventory,
    printer: &Printer,
) -> (CheckOutcome, ExitCode) {
    let options = ScanOptions {
        follow_links,
        ..ScanOptions::default()
    };
    let (venvs, scan_errors) = find_venvs(paths, &options, None, &|_| {});
    let mut outcome = check_venvs(&venvs, || inventory.clone(), None);
    outcome.errors.splice(0..0, scan_errors);
    for error in &outcome.errors {
        warn_unchecked(error, printer);
    }
    let code = if outcome.errors.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Problems
    };
    (outcome, code)
}

/// `check --uses PYTHON`: the venvs under `paths` that would break without PYTHON, each with
/// what venvfix would do then. Exit 1 when some would break.
pub fn check_uses(
    text: &str,
    paths: &[PathBuf],
    follow_links: bool,
    json: bool,
    printer: &Printer,
) -> ExitCode {
    let mut inventory = Inventory::discover(&InventoryOptions::from_env());
    let request = match python_arg::resolve(text, &mut inventory) {
        Ok(request) => request,
        Err(e) => {
            printer.error(&e.message, Some(&e.hint));
            return ExitCode::Error;
        }
    };
    let removed: Vec<&Installation> = inventory
        .pythons
        .iter()
        .filter(|i| request.accepts(i))
        .collect();
    let (outcome, mut code) = diagnose_all(paths, follow_links, &inventory, printer);
    let dependents = if_removed(&outcome.diagnoses, &removed, &inventory);

    if json {
        let report = UsesReport {
            pythons: removed.iter().map(|i| shown(&i.path)).collect(),
            venvs: dependents
                .iter()
                .map(|d| UsesEntry {
                    path: shown(&d.diagnosis.venv.root),
                    python: shown(&d.python),
                    version: venv_version(d.diagnosis),
                    then: d.plan.as_ref().ok().map(then_report),
                    error: d.plan.as_ref().err().map(|e| e.to_string()),
                })
                .collect(),
            summary: UsesSummary {
                would_break: dependents.len(),
                checked: outcome.diagnoses.len(),
            },
        };
        printer.json(&report);
    } else if printer.quiet() {
        for d in &dependents {
            printer.out(&d.diagnosis.venv.root.display().to_string());
        }
    } else {
        for d in &dependents {
            let then = match &d.plan {
                Ok(plan) => would_do(plan),
                Err(e) => format!("venvfix could not plan a repair: {e}"),
            };
            printer.out(&format!(
                "{} {} (Python {}): venvfix would {then}",
                printer.paint(Style::Yellow, "would break"),
                printer.paint(Style::Bold, &d.diagnosis.venv.root.display().to_string()),
                venv_version(d.diagnosis).unwrap_or_else(|| "?".into()),
            ));
        }
        let pythons: Vec<String> = removed
            .iter()
            .map(|i| format!("Python {} (`{}`)", i.version, i.path.display()))
            .collect();
        printer.status(&format!(
            "{} of {} checked {} {}",
            count(dependents.len(), "venv", "venvs"),
            outcome.diagnoses.len(),
            if dependents.len() == 1 { "uses" } else { "use" },
            pythons.join(" or ")
        ));
    }
    if !dependents.is_empty() {
        code = code.worst(ExitCode::Problems);
    }
    code
}

/// `relink to Python 3.10.12 (`/usr/bin/python3.10`)`, `recreate with Python 3.12.1 and
/// reinstall 14 distributions`, or why it would not.
fn would_do(plan: &Plan) -> String {
    let Some(target) = &plan.target else {
        return format!("not repair it: {}", plan.reason);
    };
    let what = with_python(plan.strategy, &target.version);
    match (plan.strategy, plan.actions.first()) {
        (Strategy::Recreate, Some(Action::Recreate(spec))) => format!(
            "{what} and reinstall {}",
            count(spec.requirements.len(), "distribution", "distributions")
        ),
        _ => format!("{what} (`{}`)", target.link.display()),
    }
}

fn venv_version(d: &Diagnosis) -> Option<String> {
    d.venv
        .recorded_version()
        .or(d.venv.minor())
        .map(|v| v.to_string())
}

fn then_report(plan: &Plan) -> ThenReport {
    ThenReport {
        strategy: plan.strategy.as_str(),
        target: plan.target.as_ref().map(|t| shown(&t.path)),
        version: plan.target.as_ref().map(|t| t.version.to_string()),
        reason: plan.reason.clone(),
    }
}

/// `check --uses --json`.
#[derive(Debug, Serialize)]
struct UsesReport {
    /// The installations asked about (every one `PYTHON` matches).
    pythons: Vec<String>,
    venvs: Vec<UsesEntry>,
    summary: UsesSummary,
}

#[derive(Debug, Serialize)]
struct UsesEntry {
    path: String,
    /// The installation it uses.
    python: String,
    version: Option<String>,
    /// What venvfix would plan once that installation is gone.
    then: Option<ThenReport>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct ThenReport {
    strategy: &'static str,
    target: Option<String>,
    version: Option<String>,
    reason: String,
}

#[derive(Debug, Serialize)]
struct UsesSummary {
    would_break: usize,
    checked: usize,
}

/// `pythons --venvs`: the paths given plus the well-known homes.
pub fn venv_paths(given: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = given.to_vec();
    for home in known_homes() {
        if !paths.contains(&home) {
            paths.push(home);
        }
    }
    paths
}

/// The `venvs` part of `pythons --venvs`: under each Python, the venvs that use it.
pub struct PythonsWithVenvs<'a> {
    pub groups: Vec<(&'a Installation, Vec<&'a Diagnosis>)>,
    pub others: Vec<&'a Diagnosis>,
}

impl<'a> PythonsWithVenvs<'a> {
    pub fn new(outcome: &'a CheckOutcome, inventory: &'a Inventory) -> Self {
        let (groups, others) = by_python(&outcome.diagnoses, inventory);
        PythonsWithVenvs { groups, others }
    }

    /// The venvs of `installation`, for the table.
    pub fn of(&self, installation: &Installation) -> &[&'a Diagnosis] {
        self.groups
            .iter()
            .find(|(i, _)| i.path == installation.path)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default()
    }

    pub fn report(&self, failures: &'a [ProbeFailure]) -> PythonsVenvsReport<'a> {
        PythonsVenvsReport {
            pythons: self
                .groups
                .iter()
                .map(|(i, venvs)| PythonWithVenvs {
                    installation: i,
                    venvs: venvs.iter().map(|d| shown(&d.venv.root)).collect(),
                })
                .collect(),
            failures,
            other_venvs: self
                .others
                .iter()
                .map(|d| OtherVenv {
                    path: shown(&d.venv.root),
                    status: d.status().as_str(),
                })
                .collect(),
        }
    }
}

pub fn diagnose_for_pythons(
    paths: &[PathBuf],
    inventory: &Inventory,
    printer: &Printer,
) -> (CheckOutcome, ExitCode) {
    diagnose_all(paths, false, inventory, printer)
}

/// `pythons --venvs --json`.
#[derive(Debug, Serialize)]
pub struct PythonsVenvsReport<'a> {
    pythons: Vec<PythonWithVenvs<'a>>,
    failures: &'a [ProbeFailure],
    /// Venvs on no installed Python (broken, or a base discovery does not know).
    other_venvs: Vec<OtherVenv>,
}

#[derive(Debug, Serialize)]
struct PythonWithVenvs<'a> {
    #[serde(flatten)]
    installation: &'a Installation,
    venvs: Vec<String>,
}

#[derive(Debug, Serialize)]
struct OtherVenv {
    path: String,
    status: &'static str,
}
