//! `venvfix check`: diagnose venvs and print a verdict per venv (text or JSON).

use std::path::{Path, PathBuf};

use venvfix::ExitCode;
use venvfix::check::{CheckOutcome, Unchecked, check_venvs, find_venvs};
use venvfix::diagnose::{Diagnosis, Severity, Status};
use venvfix::execute::ExecOptions;
use venvfix::inventory::{Inventory, InventoryOptions};
use venvfix::report::{CheckReport, ErrorReport};
use venvfix::scan::{KnownHome, KnownHomes, ScanOptions, discover_known_homes, venv_marker};
use venvfix::settings::Settings;

use super::args::CheckArgs;
use super::printer::{Printer, Style, count};
use super::progress::ScanSpinner;

pub fn run(args: &CheckArgs, settings: &Settings, printer: &Printer) -> ExitCode {
    let Paths {
        search: paths,
        errors: path_errors,
        gone,
        mut code,
    } = resolve_paths(&args.paths, args.known, settings, printer);
    if let Some(python) = &args.uses {
        if paths.is_empty() {
            return code;
        }
        let uses = super::uses::check_uses(python, &paths, args.follow_links, args.json, printer);
        return code.worst(uses);
    }
    let options = ScanOptions {
        follow_links: args.follow_links,
        ..ScanOptions::default()
    };
    let started = std::time::Instant::now();
    let spinner = ScanSpinner::new(printer);
    let dirs = std::sync::atomic::AtomicU64::new(0);
    let state = ExecOptions::from_env().ok();
    let (venvs, scan_errors) = find_venvs(&paths, &options, state.as_ref(), &|p| {
        dirs.fetch_max(p.dirs_visited, std::sync::atomic::Ordering::Relaxed);
        spinner.update(p)
    });
    spinner.finish();
    printer.detail(&format!(
        "scan: {} in {:.0?}",
        count(venvs.len(), "venv", "venvs"),
        started.elapsed()
    ));
    let started = std::time::Instant::now();
    let mut outcome = check_venvs(
        &venvs,
        || {
            let started = std::time::Instant::now();
            let inventory = Inventory::discover(&InventoryOptions::from_env());
            printer.detail(&format!(
                "inventory: {} in {:.0?}",
                count(inventory.pythons.len(), "Python", "Pythons"),
                started.elapsed()
            ));
            inventory
        },
        state.as_ref(),
    );
    printer.detail(&format!(
        "inspect and diagnose: {} in {:.0?}",
        count(venvs.len(), "venv", "venvs"),
        started.elapsed()
    ));
    outcome.errors.splice(0..0, scan_errors);
    outcome.errors.extend(gone);

    if args.json {
        let mut report = CheckReport::new(&outcome);
        // The named paths that could not be used belong in the report too.
        report
            .errors
            .splice(0..0, path_errors.iter().map(ErrorReport::from));
        printer.json(&report);
    } else if !paths.is_empty() || path_errors.is_empty() {
        // Nothing was searched when every named path was unusable: the errors say it all.
        print_text(&outcome, printer);
    }
    for error in &outcome.errors {
        warn_unchecked(error, printer);
    }
    if venvs.is_empty() && path_errors.is_empty() {
        // What was searched is the verdict when nothing was found: a first run on a machine
        // without venvs must still say what it looked at (`--known` said which homes).
        let dirs = dirs.into_inner();
        let said = if paths.is_empty() {
            "no venv found".to_string()
        } else {
            let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
            format!(
                "no venv found in {} ({})",
                shown.join(", "),
                count(dirs as usize, "directory", "directories")
            )
        };
        // A directory searched that holds no venv is a verdict (nothing here is broken), not
        // an error: a first run on a machine without venvs must end well (exit 0), as
        // `repair DIR` does.
        if !args.json {
            printer.status(&said);
            if !args.paths.is_empty() {
                printer.hint("give the venv directory itself, or a directory that contains venvs");
            }
        }
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

/// The paths to search, resolved once from what the user typed.
pub struct Paths {
    /// Dirs and venvs to scan.
    pub search: Vec<PathBuf>,
    /// Named paths that cannot be searched (each already printed as an error).
    pub errors: Vec<Unchecked>,
    /// Venvs `--known` found gone (pyenv-virtualenv links left dangling by `pyenv uninstall`).
    pub gone: Vec<Unchecked>,
    /// `Error` (2) when a named path cannot be used, else `Success`.
    pub code: ExitCode,
}

/// The paths to search: the user's, plus the well-known homes with `--known` (and the config
/// file's `known-homes`); `.` when neither.
/// A named path that does not exist, or a file outside any venv, is an error (exit 2) but the
/// others are still checked; a file inside a venv (`venv/bin/python`) means that venv; a
/// well-known home that does not exist is simply skipped.
pub fn resolve_paths(
    given: &[PathBuf],
    known: bool,
    settings: &Settings,
    printer: &Printer,
) -> Paths {
    let mut paths = Paths {
        search: Vec::new(),
        errors: Vec::new(),
        gone: Vec::new(),
        code: ExitCode::Success,
    };
    let state = ExecOptions::from_env().ok();
    for path in given {
        let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
        let interrupted = || {
            state
                .as_ref()
                .is_some_and(|s| venvfix::execute::pending(path, s).is_some())
        };
        let problem = if std::fs::symlink_metadata(path).is_err() && interrupted() {
            // A venv moved aside by a killed repair: found from the state dir.
            paths.search.push(path.clone());
            None
        } else if std::fs::symlink_metadata(path).is_err() {
            Some(("not-found", "does not exist"))
        } else if let Some(venv) = (is_dir && venv_marker(path).is_none())
            .then(|| enclosing_venv(path))
            .flatten()
        {
            // `venv/bin`, `venv/lib/python3.12/site-packages`: the venv it belongs to.
            printer.status(&format!(
                "`{}` is inside the venv `{}`: checking that venv",
                path.display(),
                venv.display()
            ));
            paths.search.push(venv);
            None
        } else if is_dir {
            paths.search.push(path.clone());
            None
        } else {
            // A file or a link (perhaps dangling) such as `venv/bin/python`.
            match enclosing_venv(path) {
                Some(venv) => {
                    printer.status(&format!(
                        "`{}` is inside the venv `{}`: checking that venv",
                        path.display(),
                        venv.display()
                    ));
                    paths.search.push(venv);
                    None
                }
                None => Some(("not-a-venv", "is not a directory or a venv")),
            }
        };
        if let Some((code, problem)) = problem {
            printer.error(
                &format!("`{}` {problem}", path.display()),
                Some("give a venv directory or a directory to search for venvs"),
            );
            paths.errors.push(Unchecked {
                path: path.clone(),
                code,
                message: problem.to_string(),
            });
            paths.code = ExitCode::Error;
        }
    }
    if known {
        let mut known = discover_known_homes();
        for home in &settings.known_homes {
            let home = KnownHome {
                path: home.clone(),
                source: "known-homes in venvfix's config file".into(),
            };
            if !home.path.is_dir() {
                known.absent.push(home);
            } else if !known.found.iter().any(|h| h.path == home.path) {
                known.found.push(home);
            }
        }
        say_known_homes(&known, printer);
        for link in &known.dangling {
            paths.gone.push(Unchecked {
                path: link.path.clone(),
                code: "venv-gone",
                message: format!(
                    "the pyenv-virtualenv link `{}` -> `{}` leads nowhere: its venv was deleted                      (`pyenv uninstall` of its Python removes the envs made from it)",
                    link.path.display(),
                    link.target.display()
                ),
            });
        }
        paths.search.extend(known.found.into_iter().map(|h| h.path));
    } else if given.is_empty() {
        paths.search.push(PathBuf::from("."));
    }
    paths
}

/// The tools `homes` belong to, each once, in order (`pipx --global (...)` is `pipx --global`).
fn tools_of(homes: &[KnownHome]) -> Vec<&str> {
    let mut tools: Vec<&str> = Vec::new();
    for home in homes {
        let tool = home.source.split(" (").next().unwrap_or(&home.source);
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    tools
}

/// Which homes `--known` searches, and where they come from: a count and the tools by default,
/// each home with `-v`; when none exists, the places looked for.
fn say_known_homes(known: &KnownHomes, printer: &Printer) {
    let listed = |homes: &[KnownHome]| -> String {
        homes
            .iter()
            .map(|h| format!("`{}` ({})", h.path.display(), h.source))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if known.found.is_empty() {
        printer.status(&format!(
            "--known: none of the well-known homes of venvs exists here ({}; -v lists the {} looked for)",
            tools_of(&known.absent).join(", "),
            count(known.absent.len(), "place", "places")
        ));
        printer.detail(&format!("looked for {}", listed(&known.absent)));
        return;
    }
    let tools = tools_of(&known.found);
    let noun = if known.found.len() == 1 {
        "home"
    } else {
        "homes"
    };
    printer.status(&format!(
        "--known: searching {} {noun} where tools keep venvs ({}); -v lists them",
        known.found.len(),
        tools.join(", ")
    ));
    printer.detail(&format!("--known: searching {}", listed(&known.found)));
    if !known.absent.is_empty() {
        printer.detail(&format!("--known: not here: {}", listed(&known.absent)));
    }
}

/// The venv a file such as `venv/bin/python` or `venv/pyvenv.cfg` belongs to.
fn enclosing_venv(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .take(3)
        .find(|dir| venv_marker(dir).is_some())
        .map(Path::to_path_buf)
}

/// Readable for one venv and for a tree of hundreds: venvs with a problem in full, healthy ones
/// counted (listed with `-v`, or when only one venv was checked). With `-q`, only what a script
/// acts on: the path of each broken venv, one a line, and nothing else.
fn print_text(outcome: &CheckOutcome, printer: &Printer) {
    if printer.quiet() {
        for diagnosis in &outcome.diagnoses {
            if diagnosis.status() == Status::Broken {
                printer.out(&diagnosis.venv.root.display().to_string());
            }
        }
        return;
    }
    let list_healthy = printer.verbose() || outcome.diagnoses.len() == 1;
    for diagnosis in &outcome.diagnoses {
        let shown = match diagnosis.status() {
            Status::Broken => true,
            Status::Warning => !printer.quiet(),
            Status::Ok => list_healthy && !printer.quiet(),
        };
        if shown {
            print_diagnosis(diagnosis, printer, false);
        }
    }
    let (ok, warning, broken) = outcome.summary();
    let total = ok + warning + broken;
    let unlisted = if ok > 0 && !list_healthy {
        " (healthy venvs are listed with -v)"
    } else {
        ""
    };
    printer.status(&format!(
        "{} checked: {ok} ok, {warning} with warnings, {broken} broken{unlisted}",
        count(total, "venv", "venvs")
    ));
    if broken > 0 && !printer.quiet() {
        printer.hint("`venvfix repair PATH --dry-run` shows the fix without changing anything");
    }
}

/// One venv: a status line, then each problem with its hint.
/// `in_repair`: the output of `repair` itself, where a hint to run `venvfix repair` is noise.
pub fn print_diagnosis(d: &Diagnosis, printer: &Printer, in_repair: bool) {
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
            && !(in_repair && hint.contains("venvfix repair"))
        {
            printer.out(&format!(
                "        {}: {hint}",
                printer.paint(Style::Cyan, "hint")
            ));
        }
    }
}
