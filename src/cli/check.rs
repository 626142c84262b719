//! `venvfix check`: diagnose venvs and print a verdict per venv (text or JSON).

use std::path::PathBuf;

use venvfix::ExitCode;
use venvfix::check::{CheckOutcome, check_venvs, find_venvs};
use venvfix::diagnose::{Diagnosis, Severity, Status};
use venvfix::execute::ExecOptions;
use venvfix::inventory::{Inventory, InventoryOptions};
use venvfix::report::CheckReport;
use venvfix::scan::ScanOptions;

use super::args::CheckArgs;
use super::printer::{Printer, Style};
use super::progress::ScanSpinner;

pub fn run(args: &CheckArgs, printer: &Printer) -> ExitCode {
    let (paths, mut code) = resolve_paths(&args.paths, args.known, printer);
    let options = ScanOptions {
        follow_links: args.follow_links,
        ..ScanOptions::default()
    };
    let spinner = ScanSpinner::new(printer);
    let (venvs, scan_errors) = find_venvs(&paths, &options, &|p| spinner.update(p));
    spinner.finish();
    let state = ExecOptions::from_env().ok();
    let mut outcome = check_venvs(
        &venvs,
        || Inventory::discover(&InventoryOptions::from_env()),
        state.as_ref(),
    );
    outcome.errors.splice(0..0, scan_errors);

    if args.json {
        printer.json(&CheckReport::new(&outcome));
    } else {
        print_text(&outcome, printer);
    }
    for error in &outcome.errors {
        printer.warn(&format!("`{}`: {}", error.path.display(), error.message));
    }
    let (_, _, broken) = outcome.summary();
    if broken > 0 {
        code = code.worst(ExitCode::Problems);
    }
    code
}

/// The paths to search: the user's, the well-known homes with `--known`, else `.`.
/// A named path that does not exist is an error (exit 2) but the others are still checked.
pub fn resolve_paths(
    given: &[PathBuf],
    _known: bool,
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
    if given.is_empty() {
        paths.push(PathBuf::from("."));
    }
    (paths, code)
}

fn print_text(outcome: &CheckOutcome, printer: &Printer) {
    for diagnosis in &outcome.diagnoses {
        print_diagnosis(diagnosis, printer);
    }
    let (ok, warning, broken) = outcome.summary();
    let total = ok + warning + broken;
    let noun = if total == 1 { "venv" } else { "venvs" };
    printer.status(&format!(
        "{total} {noun} checked: {ok} ok, {warning} with warnings, {broken} broken"
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
        {
            printer.out(&format!(
                "        {}: {hint}",
                printer.paint(Style::Cyan, "hint")
            ));
        }
    }
}
