//! `venvfix undo [VENV|DIR...]`: walk a venv back one step per call through its history (or
//! roll back a repair that was interrupted); `--list` shows the steps; `--from BACKUP VENV`
//! applies one backup explicitly; a DIR that is not a venv undoes, after one question, the last
//! repair of every venv under it that the last `repair` run (batch) repaired.
//!
//! Exit 0 when restored, 1 when there is nothing to undo (or part of a batch was not undone),
//! 2 on a refusal (another venvfix holds the venv, the venv was changed since the repair and
//! `--force` was not given, a damaged backup) or an error. Executor messages about the venv as
//! a whole do not name it; this command prefixes them with the venv's path, as `repair` does.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use venvfix::ExitCode;
use venvfix::check::find_venvs;
use venvfix::execute::history::{History, VenvHistory, human_size, last_batch};
use venvfix::execute::state::canonical_venv;
use venvfix::execute::{self, ExecError, ExecOptions, UndoRequest};
use venvfix::scan::ScanOptions;

use serde::Serialize;

use super::args::UndoArgs;
use super::backups::{load_history, print_history};
use super::printer::Printer;

/// What one path on the command line names.
enum Target {
    /// A venv (or the path of one venvfix can bring back): one step back.
    Venv(PathBuf),
    /// A directory of venvs: the last batch under it.
    Dir(PathBuf),
}

/// `undo --json` (the printer puts `"schema": 1` first).
#[derive(Debug, Default, Serialize)]
struct UndoDocument {
    /// `--json`: stdout carries only the document.
    #[serde(skip)]
    json: bool,
    venvs: Vec<UndoEntry>,
    summary: UndoSummary,
}

/// One venv in `undo --json`.
#[derive(Debug, Serialize)]
struct UndoEntry {
    path: String,
    /// `undone`, `recovered` (an interrupted run was rolled back), `nothing-to-undo`,
    /// `refused` or `failed`.
    outcome: &'static str,
    backup: Option<String>,
    /// The step that was undone, as `venvfix backups` records it.
    step: Option<venvfix::execute::history::Record>,
    restored: Vec<venvfix::execute::Restored>,
    safety_backup: Option<String>,
    freed: u64,
    error: Option<UndoError>,
}

#[derive(Debug, Serialize)]
struct UndoError {
    code: &'static str,
    message: String,
}

#[derive(Debug, Default, Serialize)]
struct UndoSummary {
    undone: usize,
    nothing: usize,
    refused: usize,
    failed: usize,
}

impl UndoDocument {
    fn push(&mut self, entry: UndoEntry) {
        match entry.outcome {
            "undone" | "recovered" => self.summary.undone += 1,
            "nothing-to-undo" => self.summary.nothing += 1,
            "refused" => self.summary.refused += 1,
            _ => self.summary.failed += 1,
        }
        self.venvs.push(entry);
    }
}

pub fn run(args: &UndoArgs, printer: &Printer) -> ExitCode {
    let mut document = UndoDocument {
        json: args.json,
        ..UndoDocument::default()
    };
    let code = run_into(args, printer, &mut document);
    if args.json {
        printer.json(&document);
    }
    code
}

fn run_into(args: &UndoArgs, printer: &Printer, document: &mut UndoDocument) -> ExitCode {
    let Some((options, history)) = load_history(printer) else {
        return ExitCode::Error;
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut targets = Vec::new();
    for path in &paths {
        match classify(path, &history, &options) {
            Ok(target) => targets.push(target),
            Err(message) => {
                printer.error(&message, None);
                return ExitCode::Error;
            }
        }
    }
    let request = UndoRequest {
        force: args.force,
        keep_recreated: args.keep_recreated,
        from: args.from.clone(),
    };
    if args.from.is_some() {
        let [Target::Venv(venv)] = targets.as_slice() else {
            printer.error(
                "`--from BACKUP` needs exactly one VENV to apply it to",
                Some("`venvfix backups` lists the backups; `venvfix undo --from BACKUP VENV`"),
            );
            return ExitCode::Error;
        };
        if args.list {
            printer.error("`--list` and `--from` do not go together", None);
            return ExitCode::Error;
        }
        return undo_one(venv, &options, &request, printer, document);
    }
    let mut code = ExitCode::Success;
    for target in &targets {
        let result = match (target, args.list) {
            (Target::Venv(venv), true) => {
                list(&[history.of_venv(venv)], printer);
                ExitCode::Success
            }
            (Target::Dir(dir), true) => {
                list(&histories_under(dir, &history), printer);
                ExitCode::Success
            }
            (Target::Venv(venv), false) => undo_one(venv, &options, &request, printer, document),
            (Target::Dir(dir), false) => undo_batch(
                dir, &history, &options, &request, args.yes, printer, document,
            ),
        };
        code = code.worst(result);
    }
    code
}

/// A venv (it is one, or venvfix has its history or a journal for it), else a directory.
fn classify(path: &Path, history: &History, options: &ExecOptions) -> Result<Target, String> {
    let canonical = canonical_venv(path).map_err(|e| e.to_string())?;
    let known = !history.groups_of(&canonical).is_empty()
        || execute::pending(&canonical, options).is_some();
    if venvfix::scan::venv_marker(&canonical).is_some() || known {
        return Ok(Target::Venv(canonical));
    }
    if canonical.is_dir() {
        return Ok(Target::Dir(canonical));
    }
    Err(format!("`{}` does not exist", path.display()))
}

fn list(histories: &[VenvHistory], printer: &Printer) {
    if histories.iter().all(|h| h.steps.is_empty()) {
        printer.status("nothing to undo: no backup is recorded here");
        return;
    }
    for history in histories {
        print_history(history, printer);
    }
}

/// The history of every venv under `dir`: those found there now (by identity, so moved ones
/// too) and those venvfix recorded there.
fn histories_under(dir: &Path, history: &History) -> Vec<VenvHistory> {
    let state = ExecOptions::from_env().ok();
    let (venvs, _) = find_venvs(
        &[dir.to_path_buf()],
        &ScanOptions::default(),
        state.as_ref(),
        &|_| {},
    );
    let mut out: Vec<VenvHistory> = venvs
        .iter()
        .filter_map(|v| canonical_venv(v).ok())
        .map(|v| history.of_venv(&v))
        .filter(|h| !h.steps.is_empty())
        .collect();
    for known in history.all() {
        let Some(path) = &known.venv else { continue };
        if path.starts_with(dir) && !out.iter().any(|h| h.venv.as_ref() == Some(path)) {
            out.push(known);
        }
    }
    out.sort_by(|a, b| a.venv.cmp(&b.venv));
    out
}

fn undo_one(
    venv: &Path,
    options: &ExecOptions,
    request: &UndoRequest,
    printer: &Printer,
    document: &mut UndoDocument,
) -> ExitCode {
    let shown = venv.display();
    let result = execute::undo_with(venv, options, request);
    document.push(entry_of(venv, &result));
    match result {
        Ok(undone) => {
            if let Some(recovered) = &undone.recovered {
                printer.status(&format!("`{}`: {recovered}", undone.venv.display()));
            } else {
                let what = undone
                    .step
                    .as_ref()
                    .map(|r| format!(" (undid {}, applied {})", r.describe(), r.applied_at))
                    .unwrap_or_default();
                printer.status(&format!(
                    "`{}`: restored from `{}`{what}",
                    undone.venv.display(),
                    undone.backup.display()
                ));
            }
            for restored in &undone.restored {
                if !document.json {
                    printer.out(&format!("restored {restored}"));
                }
            }
            if undone.freed > 0 {
                printer.status(&format!(
                    "removed the recreated venv ({} freed; `--keep-recreated` keeps it)",
                    human_size(undone.freed)
                ));
            }
            if let Some(safety) = &undone.safety_backup {
                printer.status(&format!(
                    "the state before this undo is saved in `{}`",
                    safety.display()
                ));
                printer.detail(&format!(
                    "`venvfix undo --from {} {}` puts it back",
                    venvfix::shell::quote(safety),
                    venvfix::shell::quote(venv)
                ));
            }
            if undone.recovered.is_none() && request.from.is_none() {
                let left = History::load(&options.state_dir)
                    .map(|h| {
                        h.of_venv(&undone.venv)
                            .steps
                            .iter()
                            .filter(|(s, a)| {
                                s.kind() == Some(execute::StepKind::Repair) && a.usable()
                            })
                            .count()
                    })
                    .unwrap_or(0);
                if left > 0 {
                    printer.status(&format!(
                        "{left} earlier repair{} can still be undone (`venvfix undo --list {}`)",
                        if left == 1 { "" } else { "s" },
                        venvfix::shell::quote(venv)
                    ));
                }
            }
            ExitCode::Success
        }
        Err(e @ ExecError::NothingToUndo { .. }) => {
            printer.error(
                &format!("`{shown}`: {e}"),
                Some(
                    "`venvfix backups` lists every backup, also those of venvs that were moved \
                     or are gone; `venvfix undo --from BACKUP VENV` applies one",
                ),
            );
            ExitCode::Problems
        }
        Err(e @ ExecError::Locked { .. }) => {
            printer.error(
                &format!("`{shown}`: {e}"),
                Some("wait for it to finish, then run `venvfix undo` again"),
            );
            ExitCode::Error
        }
        Err(ref e @ ExecError::ChangedSinceRepair { ref backups, .. }) => {
            printer.error(
                &format!("`{shown}`: {e}"),
                Some(&format!(
                    "`venvfix undo --force {}` restores anyway; the current state is saved \
                     first, in a new backup under `{}`",
                    venvfix::shell::quote(venv),
                    backups.display()
                )),
            );
            ExitCode::Error
        }
        Err(ref e @ ExecError::Corrupt { .. }) => {
            printer.error(
                &format!("`{shown}`: {e}"),
                Some("nothing was changed; `venvfix backups` shows what else can be applied"),
            );
            ExitCode::Error
        }
        Err(e) => {
            printer.error(&format!("`{shown}`: {e}"), None);
            ExitCode::Error
        }
    }
}

/// Undo the last batch's repair of every venv under `dir`, after one question.
fn undo_batch(
    dir: &Path,
    history: &History,
    options: &ExecOptions,
    request: &UndoRequest,
    yes: bool,
    printer: &Printer,
    document: &mut UndoDocument,
) -> ExitCode {
    let histories = histories_under(dir, history);
    let Some((batch, members)) = last_batch(&histories) else {
        printer.error(
            &format!(
                "nothing to undo under `{}`: no repair run recorded for a venv there is still \
                 applied",
                dir.display()
            ),
            Some("`venvfix undo --list DIR` shows the history of every venv under DIR"),
        );
        return ExitCode::Problems;
    };
    let count = members.len();
    printer.status(&format!(
        "the last repair run under `{}` ({batch}) repaired {count} venv{} still as it left them:",
        dir.display(),
        if count == 1 { "" } else { "s" }
    ));
    let mut venvs = Vec::new();
    for member in &members {
        let (Some(venv), Some((step, _))) = (&member.venv, member.next_undo()) else {
            continue;
        };
        let what = step
            .record
            .as_ref()
            .map(|r| r.describe())
            .unwrap_or_default();
        printer.status(&format!("  {}: {what}", venv.display()));
        venvs.push(venv.clone());
    }
    if !yes {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
            printer.error(
                "not undoing: no terminal to ask for confirmation",
                Some("review the list above, then run again with `--yes`"),
            );
            return ExitCode::Error;
        }
        let answer = dialoguer::Confirm::with_theme(&dialoguer::theme::SimpleTheme)
            .with_prompt(format!("Undo these {count} repairs?"))
            .default(false)
            .interact_opt()
            .ok()
            .flatten();
        if answer != Some(true) {
            printer.status("cancelled: nothing was changed");
            return ExitCode::Problems;
        }
    }
    let mut code = ExitCode::Success;
    let mut undone = 0usize;
    for venv in &venvs {
        let one = undo_one(venv, options, request, printer, document);
        if one == ExitCode::Success {
            undone += 1;
        } else {
            code = code.worst(ExitCode::Problems).worst(one);
        }
    }
    printer.status(&format!(
        "undid {undone} of {count} repair{}",
        if count == 1 { "" } else { "s" }
    ));
    code
}

/// The `undo --json` entry for one venv's result.
fn entry_of(venv: &Path, result: &Result<execute::Undone, ExecError>) -> UndoEntry {
    let shown = |p: &Path| venvfix::report::shown(p);
    match result {
        Ok(undone) => UndoEntry {
            path: shown(&undone.venv),
            outcome: if undone.recovered.is_some() {
                "recovered"
            } else {
                "undone"
            },
            backup: Some(shown(&undone.backup)),
            step: undone.step.clone(),
            restored: undone.restored.clone(),
            safety_backup: undone.safety_backup.as_deref().map(shown),
            freed: undone.freed,
            error: None,
        },
        Err(e) => UndoEntry {
            path: shown(venv),
            outcome: match e {
                ExecError::NothingToUndo { .. } => "nothing-to-undo",
                ExecError::Locked { .. }
                | ExecError::ChangedSinceRepair { .. }
                | ExecError::Corrupt { .. }
                | ExecError::Refused { .. } => "refused",
                _ => "failed",
            },
            backup: None,
            step: None,
            restored: Vec::new(),
            safety_backup: None,
            freed: 0,
            error: Some(UndoError {
                code: e.code(),
                message: e.to_string(),
            }),
        },
    }
}
