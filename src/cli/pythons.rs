//! `venvfix pythons`: list the installed Pythons the inventory found, as a table or JSON.
//!
//! A thin wrapper over [`Inventory::discover`]: it turns the flags into options, and renders
//! the result. It decides nothing about which Python is right for a venv, and changes nothing
//! but the inventory's cache (DESIGN.md rule 1).

use std::time::Instant;

use venvfix::ExitCode;
use venvfix::inventory::{Installation, Inventory, InventoryOptions};

use super::args::PythonsArgs;
use super::printer::{Printer, Style};
use super::uses;

/// Run `venvfix pythons`. Probe failures are warnings, not errors: exit 0.
pub fn run(args: &PythonsArgs, printer: &Printer) -> ExitCode {
    let mut options = InventoryOptions::from_env();
    options.refresh = args.refresh;
    match &options.search_path {
        Some(dirs) => printer.detail(&format!(
            "searching only `VENVFIX_PYTHON_SEARCH_PATH`: {}",
            dirs.iter()
                .map(|d| format!("`{}`", d.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => printer.detail("searching PATH and the well-known installation places"),
    }
    match &options.cache_dir {
        Some(dir) => printer.detail(&format!("probe cache in `{}`", dir.display())),
        None => printer.detail("no cache dir (no HOME, XDG_CACHE_HOME or VENVFIX_CACHE_DIR)"),
    }
    let started = Instant::now();
    let inventory = Inventory::discover(&options);
    let elapsed = started.elapsed();

    for failure in &inventory.failures {
        printer.warn(&format!("skipped an interpreter: {}", failure.reason));
    }
    let mut code = ExitCode::Success;
    let diagnosed = args.venvs.then(|| {
        let paths = uses::venv_paths(&args.paths);
        let (outcome, scan_code) = uses::diagnose_for_pythons(&paths, &inventory, printer);
        code = scan_code;
        (paths, outcome)
    });
    let with_venvs = diagnosed
        .as_ref()
        .map(|(_, outcome)| uses::PythonsWithVenvs::new(outcome, &inventory));
    match (&with_venvs, args.json) {
        (Some(with_venvs), true) => printer.json(&with_venvs.report(&inventory.failures)),
        (None, true) => printer.json(&inventory),
        (_, false) => {
            for line in table(&inventory.pythons, with_venvs.as_ref(), printer) {
                printer.out(&line);
            }
        }
    }
    let count = inventory.pythons.len();
    printer.status(&format!(
        "found {count} Python{} in {:.2}s",
        if count == 1 { "" } else { "s" },
        elapsed.as_secs_f64()
    ));
    if let (Some((paths, outcome)), Some(with_venvs)) = (&diagnosed, &with_venvs) {
        let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
        printer.status(&format!(
            "{} found in {}{}",
            super::printer::count(outcome.diagnoses.len(), "venv", "venvs"),
            if shown.is_empty() {
                "no directory (give one, e.g. `venvfix pythons --venvs ~`)".to_string()
            } else {
                shown.join(", ")
            },
            if with_venvs.others.is_empty() {
                String::new()
            } else {
                format!("; {} on no installed Python", with_venvs.others.len())
            }
        ));
    }
    match &options.search_path {
        Some(dirs) if dirs.is_empty() && count == 0 => printer.hint(
            "`VENVFIX_PYTHON_SEARCH_PATH` is set but empty, so no Python was discovered: unset \
             it, or list the dirs that hold your Pythons",
        ),
        Some(_) if count == 0 => {
            printer.hint("only the dirs in `VENVFIX_PYTHON_SEARCH_PATH` were searched")
        }
        _ => {}
    }
    code
}

/// Aligned rows: version, implementation, source, path (and a marker); aliases on the lines
/// below, under the path.
fn table(
    pythons: &[Installation],
    venvs: Option<&uses::PythonsWithVenvs>,
    printer: &Printer,
) -> Vec<String> {
    let rows: Vec<[String; 3]> = pythons
        .iter()
        .map(|p| {
            [
                p.version.to_string(),
                p.implementation.clone(),
                p.source.to_string(),
            ]
        })
        .collect();
    let width = |column: usize| rows.iter().map(|r| r[column].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let indent = widths.iter().sum::<usize>() + 3 * 2;

    let mut lines = Vec::new();
    for (python, row) in pythons.iter().zip(&rows) {
        let mut line = format!(
            "{}  {:w1$}  {:w2$}  {}",
            printer.paint(Style::Bold, &format!("{:w0$}", row[0], w0 = widths[0])),
            row[1],
            row[2],
            python.path.display(),
            w1 = widths[1],
            w2 = widths[2],
        );
        if python.os_managed {
            line.push_str(&format!(
                "  {}",
                printer.paint(Style::Yellow, "(os-managed)")
            ));
        }
        lines.push(line);
        for alias in &python.aliases {
            let text = format!("{:indent$}{}", "", alias.display());
            lines.push(printer.paint(Style::Dim, &text));
        }
        if let Some(venvs) = venvs {
            for d in venvs.of(python) {
                lines.push(format!("{:indent$}used by {}", "", d.venv.root.display()));
            }
        }
    }
    if let Some(venvs) = venvs
        && !venvs.others.is_empty()
    {
        lines.push(printer.paint(Style::Bold, "on no installed Python:"));
        for d in &venvs.others {
            lines.push(format!(
                "  {} {}",
                d.status().as_str(),
                d.venv.root.display()
            ));
        }
    }
    lines
}
