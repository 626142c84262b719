//! `venvfix backups [VENV...] [--json]`: every backup venvfix keeps, grouped by venv, with when
//! it was taken, the repair it precedes, its size on disk and what `undo` can do with it; a
//! total at the end. Read-only (DESIGN.md rule 1). `undo --list` prints a venv's steps with the
//! same rendering.

use std::path::{Path, PathBuf};

use serde::Serialize;

use venvfix::ExitCode;
use venvfix::execute::history::{Applicable, History, Side, Step, VenvHistory, human_size};
use venvfix::execute::state::canonical_venv;
use venvfix::execute::{ExecOptions, StepKind};
use venvfix::report::shown;

use super::args::BackupsArgs;
use super::printer::{Printer, Style};

/// The state dir's options and its history, as `backups`, `prune` and `undo` all start; an error
/// is printed here (the caller returns exit 2).
pub fn load_history(printer: &Printer) -> Option<(ExecOptions, History)> {
    let loaded = ExecOptions::from_env()
        .map_err(|e| e.to_string())
        .and_then(|options| {
            History::load(&options.state_dir)
                .map(|history| (options, history))
                .map_err(|e| e.to_string())
        });
    loaded.map_err(|message| printer.error(&message, None)).ok()
}

pub fn run(args: &BackupsArgs, printer: &Printer) -> ExitCode {
    let Some((options, history)) = load_history(printer) else {
        return ExitCode::Error;
    };
    let mut venvs = Vec::new();
    for path in &args.venvs {
        match select(&history, path) {
            Ok(found) => venvs.extend(found),
            Err(message) => {
                printer.error(&message, None);
                return ExitCode::Error;
            }
        }
    }
    if args.venvs.is_empty() {
        venvs = history.all();
    }
    if args.json {
        printer.json(&report(&venvs));
        return ExitCode::Success;
    }
    if venvs.iter().all(|v| v.steps.is_empty()) {
        printer.status(&format!("no backups in `{}`", options.state_dir.display()));
        return ExitCode::Success;
    }
    for venv in &venvs {
        print_history(venv, printer);
    }
    let count: usize = venvs.iter().map(|v| v.steps.len()).sum();
    let size: u64 = venvs.iter().map(VenvHistory::size).sum();
    printer.out(&format!(
        "total: {count} backup{}, {} on disk, in `{}`",
        if count == 1 { "" } else { "s" },
        human_size(size),
        options.state_dir.display()
    ));
    ExitCode::Success
}

/// The histories `path` names: the venv there (found by identity if it was moved), or every
/// venv venvfix knows under that directory.
pub fn select(history: &History, path: &Path) -> Result<Vec<VenvHistory>, String> {
    let canonical = canonical_venv(path).map_err(|e| e.to_string())?;
    if !history.groups_of(&canonical).is_empty() || venvfix::scan::venv_marker(&canonical).is_some()
    {
        return Ok(vec![history.of_venv(&canonical)]);
    }
    if !canonical.is_dir() {
        return Err(format!("`{}` does not exist", path.display()));
    }
    Ok(history
        .all()
        .into_iter()
        .filter(|h| {
            h.venv.as_ref().is_some_and(|v| v.starts_with(&canonical))
                || (h.venv.is_none() && h.was.iter().any(|w| w.starts_with(&canonical)))
        })
        .collect())
}

/// One venv's steps, newest first: a heading, then one line per backup.
pub fn print_history(venv: &VenvHistory, printer: &Printer) {
    let heading = match &venv.venv {
        Some(path) if venv.was.is_empty() => format!("`{}`", path.display()),
        Some(path) => format!(
            "`{}` (moved; was `{}`)",
            path.display(),
            join_paths(&venv.was)
        ),
        None => format!(
            "orphan: `{}` is gone (`venvfix undo --from BACKUP VENV` applies one of these)",
            join_paths(&venv.was)
        ),
    };
    printer.out(&printer.paint(Style::Bold, &heading));
    if venv.steps.is_empty() {
        printer.out("  no backups");
        return;
    }
    for (step, applicable) in &venv.steps {
        let when = step
            .record
            .as_ref()
            .map(|r| r.applied_at.clone())
            .unwrap_or_else(|| step.created_at());
        let status = match applicable {
            Applicable::Next => printer.paint(Style::Green, &applicable.label()),
            Applicable::Damaged { .. } => printer.paint(Style::Red, &applicable.label()),
            _ => applicable.label(),
        };
        printer.out(&format!(
            "  {when}  {:<44}  {:>9}  {status}",
            describe(step),
            human_size(step.size)
        ));
        printer.out(&printer.paint(Style::Dim, &format!("      {}", step.dir.display())));
        match applicable {
            Applicable::Damaged { why } => printer.out(&format!("      damaged: {why}")),
            Applicable::Changed { changed } => printer.out(&format!(
                "      changed since the repair: {}",
                changed.join(", ")
            )),
            _ => {}
        }
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join("`, `")
}

/// What the step was, in a few words.
pub fn describe(step: &Step) -> String {
    match &step.record {
        Some(record) if record.kind == StepKind::Undo => {
            let what = record
                .undoes
                .as_ref()
                .and_then(|d| venvfix::execute::history::read_record(d).ok().flatten())
                .map(|r| r.describe())
                .unwrap_or_else(|| "a repair".into());
            format!("before undo of {what}")
        }
        Some(record) => record.describe(),
        None => match &step.manifest {
            Some(m) if m.reason == "undo" => "before an undo that did not finish".into(),
            Some(_) => "before a repair that did not finish".into(),
            None => "incomplete backup".into(),
        },
    }
}

/// `backups --json` (the printer puts `"schema": 1` first).
#[derive(Serialize)]
struct BackupsReport {
    venvs: Vec<VenvEntry>,
    summary: BackupsSummary,
}

#[derive(Serialize)]
struct VenvEntry {
    /// The venv's path now; `null` for an orphan.
    path: Option<String>,
    /// Paths it had when its steps were taken, when different.
    was: Vec<String>,
    orphan: bool,
    size: u64,
    backups: Vec<BackupEntry>,
}

#[derive(Serialize)]
struct BackupEntry {
    path: String,
    created_at: String,
    /// `repair`, `undo`, or `null` for a backup whose run did not finish.
    kind: Option<StepKind>,
    strategy: Option<String>,
    from: Option<Side>,
    to: Option<Side>,
    applied_at: Option<String>,
    undone_at: Option<String>,
    batch: Option<String>,
    /// The venv path recorded when it was taken.
    venv: Option<String>,
    whole_venv: bool,
    size: u64,
    undo: Applicable,
}

#[derive(Serialize)]
struct BackupsSummary {
    venvs: usize,
    orphans: usize,
    backups: usize,
    size: u64,
}

fn report(venvs: &[VenvHistory]) -> BackupsReport {
    let entries: Vec<VenvEntry> = venvs
        .iter()
        .map(|v| VenvEntry {
            path: v.venv.as_deref().map(shown),
            was: v.was.iter().map(|p| shown(p)).collect(),
            orphan: v.venv.is_none(),
            size: v.size(),
            backups: v
                .steps
                .iter()
                .map(|(step, applicable)| {
                    let record = step.record.as_ref();
                    BackupEntry {
                        path: shown(&step.dir),
                        created_at: step.created_at(),
                        kind: record.map(|r| r.kind),
                        strategy: record.and_then(|r| r.strategy.clone()),
                        from: record.and_then(|r| r.from.clone()),
                        to: record.and_then(|r| r.to.clone()),
                        applied_at: record.map(|r| r.applied_at.clone()),
                        undone_at: record.and_then(|r| r.undone_at.clone()),
                        batch: record.and_then(|r| r.batch.clone()),
                        venv: step.recorded_venv().map(shown),
                        whole_venv: step.manifest.as_ref().is_some_and(|m| m.whole_venv),
                        size: step.size,
                        undo: applicable.clone(),
                    }
                })
                .collect(),
        })
        .collect();
    BackupsReport {
        summary: BackupsSummary {
            venvs: entries.iter().filter(|v| !v.orphan).count(),
            orphans: entries.iter().filter(|v| v.orphan).count(),
            backups: entries.iter().map(|v| v.backups.len()).sum(),
            size: entries.iter().map(|v| v.size).sum(),
        },
        venvs: entries,
    }
}
