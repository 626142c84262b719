//! "What would break?": which venvs depend on an installed Python, and what venvfix would do
//! for each if that installation went away (before `apt full-upgrade`, `pyenv uninstall
//! 3.10.13`, `brew upgrade python@3.12`).
//!
//! A venv uses the installation its diagnosis found as its base: the one its interpreter links
//! lead to, or the one a copied binary is bound to. What would happen is planned, not guessed:
//! the venv's diagnosis is given the problem it would have (`interpreter-missing`), the
//! installation is taken out of the inventory, and the ordinary planner says what it would do
//! then (relink to another build of the same minor, or recreate on another Python). Read-only,
//! like `check` (DESIGN.md rule 1): nothing is run, nothing is written.

use std::path::{Path, PathBuf};

use crate::diagnose::{Diagnosis, Problem, ProblemKind, Severity};
use crate::inventory::{Installation, Inventory};
use crate::plan::{Plan, PlanError, PlanRequest, plan};

/// Whether `d`'s venv runs on (or is bound to) `installation`.
/// Any interpreter entry counts: one `bin/python3.X` left on an installation breaks with it.
pub fn uses(d: &Diagnosis, installation: &Installation) -> bool {
    let same = |p: &Path| p == installation.path || installation.aliases.iter().any(|a| a == p);
    let on = |base: &crate::diagnose::Base| {
        base.installation
            .as_ref()
            .is_some_and(|i| i.path == installation.path)
            || same(&base.executable)
    };
    d.base.as_ref().is_some_and(on) || d.entries.iter().filter_map(|e| e.base.as_ref()).any(on)
}

/// For each installation of `inventory` (in its order), the venvs of `diagnoses` that use it;
/// then the venvs that use none of them (broken ones, or bases discovery did not find).
pub fn by_python<'a>(
    diagnoses: &'a [Diagnosis],
    inventory: &'a Inventory,
) -> (
    Vec<(&'a Installation, Vec<&'a Diagnosis>)>,
    Vec<&'a Diagnosis>,
) {
    let groups: Vec<(&Installation, Vec<&Diagnosis>)> = inventory
        .pythons
        .iter()
        .map(|i| (i, diagnoses.iter().filter(|d| uses(d, i)).collect()))
        .collect();
    let others = diagnoses
        .iter()
        .filter(|d| !inventory.pythons.iter().any(|i| uses(d, i)))
        .collect();
    (groups, others)
}

/// What would happen to a venv that uses a removed installation.
#[derive(Debug, Clone)]
pub struct Dependent<'a> {
    pub diagnosis: &'a Diagnosis,
    /// The installation it uses that would go away.
    pub python: PathBuf,
    /// What venvfix would plan then.
    pub plan: Result<Plan, PlanError>,
}

/// The venvs of `diagnoses` that use one of `removed`, each with the plan venvfix would make
/// once the installations in `removed` are gone from `inventory`.
pub fn if_removed<'a>(
    diagnoses: &'a [Diagnosis],
    removed: &[&Installation],
    inventory: &Inventory,
) -> Vec<Dependent<'a>> {
    let remaining = Inventory {
        pythons: inventory
            .pythons
            .iter()
            .filter(|i| !removed.iter().any(|r| r.path == i.path))
            .cloned()
            .collect(),
        failures: Vec::new(),
    };
    diagnoses
        .iter()
        .filter_map(|d| {
            let gone = removed.iter().find(|r| uses(d, r))?;
            let after = without_base(d, gone);
            Some(Dependent {
                diagnosis: d,
                python: gone.path.clone(),
                plan: plan(&after, &remaining, &PlanRequest::default()),
            })
        })
        .collect()
}

/// `d` as it would be diagnosed once `gone` is uninstalled: no base, its interpreter missing.
fn without_base(d: &Diagnosis, gone: &Installation) -> Diagnosis {
    let mut after = d.clone();
    after.base = None;
    for entry in &mut after.entries {
        entry.base = None;
    }
    after.problems.insert(
        0,
        Problem {
            kind: ProblemKind::InterpreterMissing,
            severity: Severity::Error,
            entry: None,
            message: format!(
                "Python {} (`{}`) is gone",
                gone.version,
                gone.path.display()
            ),
            hint: None,
        },
    );
    after
}
