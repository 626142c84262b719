//! `venvfix check`: diagnose venvs and print a verdict per venv (text or JSON).

use std::path::PathBuf;

use venvfix::ExitCode;
use venvfix::check::{CheckOutcome, Unchecked, check_venvs, find_venvs};
use venvfix::diagnose::{Diagnosis, Severity, Status};
use venvfix::execute::ExecOptions;
use venvfix::inventory::{Inventory, InventoryOptions};
use venvfix::report::CheckReport;
use venvfix::scan::{ScanOptions, known_homes};

use super::args::CheckArgs;
use super::printer::{Printer, Style};
use super::progress::ScanSpinner;

pub fn run(args: &CheckArgs, printer: &Printer) -> ExitCode {
    let (paths, mut code) = resolve_paths(&args.paths, args.known, printer);
    let options = ScanOptions {
        follow_links: args.follow_links,
        ..ScanOptions::default()
    };
    let started = std::time::Instant::now();
    let spinner = ScanSpinner::new(printer);
    let (venvs, scan_errors) = find_venvs(&paths, &options, &|p| spinner.update(p));
    spinner.finish();
    printer.detail(&format!(
        "scan: {} venvs in {:.0?}",
        venvs.len(),
        started.elapsed()
    ));
    let started = std::time::Instant::now();
    let state = ExecOptions::from_env().ok();
    let mut outcome = check_venvs(
        &venvs,
        || {
            let started = std::time::Instant::now();
            let inventory = Inventory::discover(&InventoryOptions::from_env());
            printer.detail(&format!(
                "inventory: {} Pythons in {:.0?}",
                inventory.pythons.len(),
                started.elapsed()
            ));
            inventory
        },
        state.as_ref(),
    );
    printer.detail(&format!(
        "inspect and diagnose: {} venvs in {:.0?}",
        venvs.len(),
        started.elapsed()
    ));
    outcome.errors.splice(0..0, scan_errors);

    if args.json {
        printer.json(&CheckReport::new(&outcome));
    } else {
        print_text(&outcome, printer);
    }
    for error in &outcome.errors {
        warn_unchecked(error, printer);
    }
    let (_, _, broken) = outcome.summary();
    if broken > 0 {
        code = code.worst(ExitCode::Problems);
    }
    // Part of the tree could not be read: "nothing broken" cannot be claimed, so not 0; but
    // everything readable was checked and reported, so not the "nothing done" of exit 2.
    if !outcome.errors.is_empty() {
        code = code.worst(ExitCode::Problems);
    }
    code
}

/// A directory or venv that could not be read, as a warning naming it (once).
pub fn warn_unchecked(error: &Unchecked, printer: &Printer) {
    let shown = format!("`{}`", error.path.display());
    if error.message.contains(&shown) {
        printer.warn(&error.message);
    } else {
        printer.warn(&format!("{shown}: {}", error.message));
    }
}

/// The paths to search: the user's, plus the well-known homes with `--known`; `.` when neither.
/// A named path that does not exist is an error (exit 2) but the others are still checked; a
/// well-known home that does not exist is simply skipped.
pub fn resolve_paths(
    given: &[PathBuf],
    known: bool,
    printer: &Printer,
) -> (Vec<PathBuf>, ExitCode) {
    let mut code = ExitCode::Success;
    let mut paths = Vec::new();
    for path in given {
        if std::fs::symlink_metadata(path).is_err() {
            printer.error(
                &format!("`{}` does not exist", path.display()),
                Some("give a venv directory or a directory to search for venvs"),
            );
            code = ExitCode::Error;
        } else {
            paths.push(path.clone());
        }
    }
    if known {
        let homes = known_homes();
        if homes.is_empty() {
            printer.detail("--known: none of the well-known homes of venvs exists here");
        }
        for home in homes {
            printer.detail(&format!("--known: searching `{}`", home.display()));
            paths.push(home);
        }
    } else if given.is_empty() {
        paths.push(PathBuf::from("."));
    }
    (paths, code)
}

/// Readable for one venv and for a tree of hundreds: venvs with a problem in full, healthy ones
/// counted (listed with `-v`, or when only one venv was checked); with `-q`, broken ones only.
fn print_text(outcome: &CheckOutcome, printer: &Printer) {
    let list_healthy = printer.verbose() || outcome.diagnoses.len() == 1;
    for diagnosis in &outcome.diagnoses {
        let shown = match diagnosis.status() {
            Status::Broken => true,
            Status::Warning => !printer.quiet(),
            Status::Ok => list_healthy && !printer.quiet(),
        };
        if shown {
            print_diagnosis(diagnosis, printer);
        }
    }
    let (ok, warning, broken) = outcome.summary();
    let total = ok + warning + broken;
    let noun = if total == 1 { "venv" } else { "venvs" };
    let unlisted = if ok > 0 && !list_healthy {
        " (healthy venvs are listed with -v)"
    } else {
        ""
    };
    printer.status(&format!(
        "{total} {noun} checked: {ok} ok, {warning} with warnings, {broken} broken{unlisted}"
    ));
    if broken > 0 && !printer.quiet() {
        printer.hint("`venvfix repair PATH --dry-run` shows the fix without changing anything");
    }
}

/// One venv: a status line, then each problem with its hint.
pub fn print_diagnosis(d: &Diagnosis, printer: &Printer) {
    let status = d.status();
    let label = match status {
        Status::Ok => printer.paint(Style::Green, "ok     "),
        Status::Warning => printer.paint(Style::Yellow, "warning"),
        Status::Broken => printer.paint(Style::Red, "broken "),
    };
    let venv = &d.venv;
    let version = venv
        .recorded_version()
        .or(venv.minor())
        .map(|v| format!(", Python {v}"))
        .unwrap_or_default();
    printer.out(&format!(
        "{label} {} ({}{version})",
        printer.paint(Style::Bold, &venv.root.display().to_string()),
        venv.creator.as_str()
    ));
    for problem in &d.problems {
        let severity = match problem.severity {
            Severity::Error => printer.paint(Style::Red, "error"),
            Severity::Warning => printer.paint(Style::Yellow, "warning"),
            Severity::Info => printer.paint(Style::Cyan, "note"),
        };
        printer.out(&format!(
            "    {severity} [{}] {}",
            problem.kind.id(),
            problem.message
        ));
        if let Some(hint) = &problem.hint
            && problem.severity != Severity::Info
            && !printer.quiet()
        {
            printer.out(&format!(
                "        {}: {hint}",
                printer.paint(Style::Cyan, "hint")
            ));
        }
    }
}
