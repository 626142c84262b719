//! `venvfix repair`: diagnose, plan, show the plan, ask (or not), apply, report.
//!
//! The plan shown is the plan applied: rendering and applying both read the same `Plan` value.
//! Nothing is changed with `--dry-run`, and nothing is changed without either a `y` from a
//! person at a terminal or `--yes`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use venvfix::ExitCode;
use venvfix::check::{add_interrupted, find_venvs};
use venvfix::diagnose::{Diagnosis, Severity, Status, diagnose};
use venvfix::execute::history::human_size;
use venvfix::execute::recreate::{self, BuildEvent};
use venvfix::execute::{self, ExecError, ExecOptions};
use venvfix::inventory::{Inventory, InventoryOptions};
use venvfix::plan::{
    Action, Allowed, Plan, PlanRequest, PythonRequest, RecreateSpec, Strategy, left_to_tool, plan,
};
use venvfix::records;
use venvfix::report::{ErrorDetail, RepairEntry, RepairReport, shown};
use venvfix::scan::ScanOptions;
use venvfix::settings::Settings;
use venvfix::venv::Venv;

use super::args::{RepairArgs, StrategyChoice};
use super::check::{Paths, print_diagnosis, resolve_paths, warn_unchecked};
use super::plan_view::{print_plan, with_python};
use super::printer::{Printer, Style};
use super::progress::{InstallProgress, ScanSpinner, batch_bar};
use super::python_arg;

/// One venv on its way through the command.
struct Item {
    path: PathBuf,
    diagnosis: Option<Diagnosis>,
    plan: Result<Plan, ErrorDetail>,
}

impl Item {
    /// Nothing to show in a batch: no problem above a note, and nothing to apply.
    fn is_healthy(&self) -> bool {
        self.diagnosis
            .as_ref()
            .is_some_and(|d| d.status() == Status::Ok)
            && self.plan.as_ref().is_ok_and(Plan::is_empty)
    }
}

pub fn run(args: &RepairArgs, settings: &Settings, printer: &Printer) -> ExitCode {
    let Paths {
        search: paths,
        mut code,
        ..
    } = resolve_paths(&args.paths, args.known, settings, printer);
    if paths.is_empty() {
        if code == ExitCode::Success {
            printer.status("no venv found: none of the well-known homes of venvs exists here");
        }
        return code;
    }
    let spinner = ScanSpinner::new(printer);
    let state = ExecOptions::from_env().ok();
    let (venvs, scan_errors) = find_venvs(&paths, &ScanOptions::default(), state.as_ref(), &|p| {
        spinner.update(p)
    });
    spinner.finish();
    for error in &scan_errors {
        warn_unchecked(error, printer);
        // Part of the tree was not searched, so not everything asked for can have been done.
        code = code.worst(ExitCode::Problems);
    }
    if venvs.is_empty() {
        if args.paths.is_empty() && args.known {
            printer.status("no venv found in the well-known homes of venvs");
            return code;
        }
        let shown: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
        // Nothing to repair is everything asked for done (exit 0), as `check DIR` says.
        printer.status(&format!(
            "nothing to repair: no venv found in {}",
            shown.join(", ")
        ));
        printer.hint("give the venv directory itself, or a directory that contains venvs");
        return code;
    }
    let mut options = match ExecOptions::from_env() {
        Ok(options) => options,
        Err(e) => {
            printer.error(
                &e.to_string(),
                Some("set VENVFIX_STATE_DIR to a writable directory"),
            );
            return ExitCode::Error;
        }
    };
    // Every repair of this run belongs to one batch, which `venvfix undo DIR` undoes.
    options.batch = Some(format!(
        "{}-{}",
        execute::state::compact_now(),
        std::process::id()
    ));
    let mut locked = Vec::new();
    if !args.dry_run {
        let (recovered, held) = recover_interrupted(&venvs, &options, printer);
        code = code.worst(recovered);
        locked = held;
    }
    // Discovered once for the whole batch: every venv is diagnosed and planned against it, and
    // the executor and the prompt reuse it (each distinct interpreter is probed once, cached).
    let mut inventory = Inventory::discover(&InventoryOptions::from_env());
    let python = match args.python.as_deref() {
        None => None,
        Some(text) => match python_arg::resolve(text, &mut inventory) {
            Ok(request) => Some(request),
            Err(e) => {
                printer.error(&e.message, Some(&e.hint));
                return ExitCode::Error;
            }
        },
    };
    let request = PlanRequest {
        allowed: match args.strategy.unwrap_or(StrategyChoice::Auto) {
            StrategyChoice::Auto => Allowed::Auto,
            StrategyChoice::Relink => Allowed::Relink,
            StrategyChoice::Relocate => Allowed::Relocate,
            StrategyChoice::Recreate => Allowed::Recreate,
        },
        python,
        find_links: args.find_links.clone(),
        offline: args.offline,
        tools: venvfix::plan::recreate::Tools::find(),
        stabilize: args.stabilize,
    };
    // A venv another venvfix is changing is not planned: it fails with the lock's message.
    let mut items: Vec<Item> = venvs
        .par_iter()
        .map(|path| match locked.iter().find(|(p, _)| p == path) {
            Some((_, message)) => Item {
                path: path.clone(),
                diagnosis: None,
                plan: Err(ErrorDetail::new("locked", message.clone())),
            },
            None => prepare(path, &inventory, &request, &options, paths.contains(path)),
        })
        .collect();

    if args.dry_run {
        return code.worst(dry_run(&items, args.json, printer));
    }

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let pending = items
        .iter()
        .filter(|i| i.plan.as_ref().is_ok_and(|p| !p.is_empty()))
        .count();
    if pending > 0 && !args.yes {
        if !interactive {
            show_plans(&items, args.json, printer, "planned");
            printer.error(
                "not applying: no terminal to ask for confirmation",
                Some("review the plan above, then run again with `--yes` to apply it"),
            );
            return ExitCode::Error;
        }
        if args.json {
            printer.error(
                "`--json` needs `--yes` to apply (it cannot ask on a terminal it writes JSON to)",
                Some("use `--dry-run --json` to see the plan"),
            );
            return ExitCode::Error;
        }
        match ask(&mut items, &inventory, printer) {
            Some(true) => {}
            Some(false) | None => {
                printer.status("cancelled: nothing was changed");
                return code.worst(ExitCode::Problems);
            }
        }
    } else if !args.json && !printer.quiet() {
        // `--yes`: what is about to change is shown even when nobody is asked.
        show_plans(&items, false, printer, "planned");
    }
    // From here on the venvs change: Ctrl-C must not claim otherwise.
    on_interrupt(Interrupt::WhileApplying);
    code = code.worst(apply_all(&items, &inventory, &options, args.json, printer));
    if execute::cancelled() {
        printer.status(
            "cancelled: the venv being repaired was rolled back; venvs not reached were left as \
             they were",
        );
        code = code.worst(ExitCode::Problems);
    }
    code
}

/// What Ctrl-C means at this point of the run.
#[derive(Clone, Copy)]
enum Interrupt {
    /// A prompt is up and nothing has been changed: show the cursor it hid, say so, exit 130.
    AtPrompt,
    /// Repairs are being applied: the first Ctrl-C asks the executor to stop, which rolls the
    /// venv being repaired back and starts no other; a second one exits at once, leaving the
    /// journal for the next `venvfix repair` or `venvfix undo` to roll back.
    WhileApplying,
}

/// Install the Ctrl-C behaviour for `phase`.
fn on_interrupt(phase: Interrupt) {
    extern "C" fn at_prompt(_: nix::libc::c_int) {
        const MESSAGE: &[u8] = b"\x1b[?25h\ncancelled: nothing was changed\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is static.
        unsafe {
            nix::libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
            nix::libc::_exit(130);
        }
    }
    extern "C" fn while_applying(_: nix::libc::c_int) {
        static AGAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if AGAIN.swap(true, std::sync::atomic::Ordering::SeqCst) {
            const MESSAGE: &[u8] = b"\nstopped at once: a venv may be half-changed; `venvfix undo \
                VENV` (or `venvfix repair VENV`) rolls it back from its journal\n";
            // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is static.
            unsafe {
                nix::libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
                nix::libc::_exit(130);
            }
        }
        const MESSAGE: &[u8] = b"\x1b[?25h\nstopping: the venv being repaired is rolled back \
            (Ctrl-C again stops at once)\n";
        // SAFETY: write(2) is async-signal-safe; `cancel` is one atomic store.
        unsafe {
            nix::libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        }
        execute::cancel();
    }
    let handler = match phase {
        Interrupt::AtPrompt => at_prompt as extern "C" fn(nix::libc::c_int),
        Interrupt::WhileApplying => while_applying,
    };
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(handler),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    // SAFETY: the handlers only call async-signal-safe functions.
    let _ = unsafe { nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, &action) };
}

/// Roll back what an interrupted run left, before planning anything (DESIGN.md rule 5).
/// Returns the venvs another venvfix holds (with the lock's message), not to be planned: their
/// journal belongs to a run that is still going. Holding one is a refusal (exit 2).
fn recover_interrupted(
    venvs: &[PathBuf],
    options: &ExecOptions,
    printer: &Printer,
) -> (ExitCode, Vec<(PathBuf, String)>) {
    let mut code = ExitCode::Success;
    let mut locked = Vec::new();
    for venv in venvs {
        match execute::recover(venv, options) {
            Ok(None) => {}
            Ok(Some(recovered)) => {
                printer.warn(&format!("`{}`: {}", venv.display(), recovered.message()));
                for restored in &recovered.restored {
                    printer.status(&format!("  restored {restored}"));
                }
            }
            Err(e @ ExecError::Locked { .. }) => {
                // Reported with the batch's outcomes, as a failed venv.
                locked.push((venv.clone(), e.to_string()));
                code = ExitCode::Error;
            }
            Err(e) => {
                printer.error(&format!("`{}`: {e}", venv.display()), None);
                code = ExitCode::Error;
            }
        }
    }
    (code, locked)
}

fn prepare(
    path: &Path,
    inventory: &Inventory,
    request: &PlanRequest,
    options: &ExecOptions,
    named: bool,
) -> Item {
    let venv = match Venv::inspect(path) {
        Ok(venv) => venv,
        Err(e) => {
            return Item {
                path: path.to_path_buf(),
                diagnosis: None,
                plan: Err(ErrorDetail::new("invalid-venv", e.to_string())),
            };
        }
    };
    let mut diagnosis = diagnose(venv, inventory);
    // Only a dry run can still see a journal here: the others rolled it back first.
    add_interrupted(&mut diagnosis, path, options);
    // tox and nox rebuild their envs themselves: in a batch they are theirs, by path ours.
    let plan = match records::rebuilt_by(path) {
        Some(tool) if !named && diagnosis.status() != Status::Ok => {
            Ok(left_to_tool(&diagnosis, tool))
        }
        _ => plan_again(&diagnosis, inventory, request),
    };
    Item {
        path: path.to_path_buf(),
        diagnosis: Some(diagnosis),
        plan,
    }
}

fn dry_run(items: &[Item], json: bool, printer: &Printer) -> ExitCode {
    show_plans(items, json, printer, "planned");
    let complete = items
        .iter()
        .all(|i| i.plan.as_ref().is_ok_and(Plan::fixes_everything));
    if !json && !printer.quiet() {
        printer.status("dry run: nothing was changed");
    }
    if complete {
        ExitCode::Success
    } else {
        ExitCode::Problems
    }
}

/// Print every plan (text or JSON) with the given outcome.
///
/// Text for one venv: its diagnosis and plan in full. For many: one table of the venvs that need
/// something, healthy ones counted; each diagnosis and plan in full only with `-v`, so a tree of
/// fifty venvs stays readable.
fn show_plans(items: &[Item], json: bool, printer: &Printer, outcome: &'static str) {
    if json {
        let venvs = items
            .iter()
            .map(|item| entry(item, outcome, None, None))
            .collect();
        printer.json(&RepairReport::new(venvs));
        return;
    }
    // `-q`: only what a script acts on, the venvs the plans would change, one a line.
    if printer.quiet() {
        for item in items {
            if item.plan.as_ref().is_ok_and(|p| !p.is_empty()) {
                printer.out(&item.path.display().to_string());
            }
        }
        return;
    }
    if let [item] = items {
        print_details(item, printer);
        return;
    }
    let listed: Vec<&Item> = items
        .iter()
        .filter(|i| printer.verbose() || !i.is_healthy())
        .collect();
    if !listed.is_empty() {
        print_table(&listed, printer);
    }
    let healthy = items.iter().filter(|i| i.is_healthy()).count();
    let to_repair = items
        .iter()
        .filter(|i| i.plan.as_ref().is_ok_and(|p| !p.is_empty()))
        .count();
    let left = items.len() - healthy - to_repair;
    let mut summary = format!(
        "{} venvs: {to_repair} to repair, {left} left as they are, {healthy} healthy",
        items.len()
    );
    if printer.verbose() {
        printer.out(&summary);
        printer.out("");
        for item in &listed {
            print_details(item, printer);
        }
    } else {
        if healthy > 0 {
            summary.push_str(" (not listed)");
        }
        printer.out(&summary);
        if !printer.quiet() {
            printer.hint("`-v` shows each venv's problems and the changes of each plan");
        }
    }
}

/// One venv in full: its diagnosis, then its plan.
fn print_details(item: &Item, printer: &Printer) {
    if let Some(d) = &item.diagnosis {
        print_diagnosis(d, printer, true);
    }
    match &item.plan {
        Ok(plan) => print_plan(plan, printer),
        Err(e) => printer.out(&format!(
            "  cannot plan `{}`: {}",
            item.path.display(),
            e.message
        )),
    }
}

fn entry(
    item: &Item,
    outcome: &'static str,
    backup: Option<&Path>,
    error: Option<ErrorDetail>,
) -> RepairEntry {
    match &item.plan {
        Ok(plan) => {
            let outcome = match outcome {
                "planned" if plan.is_empty() && plan.fixes_everything() => "unchanged",
                "planned" if plan.is_empty() => "skipped",
                other => other,
            };
            let mut entry = RepairEntry::new(item.diagnosis.as_ref(), plan, outcome);
            entry.backup = backup.map(shown);
            entry.error = error;
            entry
        }
        Err(e) => RepairEntry::failed(&item.path, e.clone()),
    }
}

/// One line per venv: venv, problems, strategy, target (or why there is none).
fn print_table(items: &[&Item], printer: &Printer) {
    let rows: Vec<[String; 4]> = items
        .iter()
        .map(|item| {
            let problems = item
                .diagnosis
                .as_ref()
                .map(|d| {
                    let mut kinds: Vec<&str> = d
                        .problems
                        .iter()
                        .filter(|p| p.severity != Severity::Info)
                        .map(|p| p.kind.id())
                        .collect();
                    kinds.dedup();
                    if kinds.is_empty() {
                        "-".to_string()
                    } else {
                        kinds.join(",")
                    }
                })
                .unwrap_or_else(|| "unreadable".into());
            let (strategy, target) = match &item.plan {
                Ok(plan) => match &plan.target {
                    Some(t) if !plan.is_empty() => (
                        plan.strategy.as_str().to_string(),
                        format!("{} `{}`", t.version, t.link.display()),
                    ),
                    // A relocation keeps the venv's own Python.
                    None if !plan.is_empty() => {
                        (plan.strategy.as_str().to_string(), "in place".into())
                    }
                    _ if plan.fixes_everything() => ("none".into(), plan.reason.clone()),
                    _ => ("skip".into(), plan.reason.clone()),
                },
                Err(e) => ("fail".into(), e.message.clone()),
            };
            [item.path.display().to_string(), problems, strategy, target]
        })
        .collect();
    let header = ["VENV", "PROBLEMS", "STRATEGY", "TARGET"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )
    };
    printer.out(&printer.paint(Style::Bold, &line(&header)));
    for row in &rows {
        printer.out(&line(row));
    }
}

/// Show the plans and ask. For one venv: apply, pick another candidate, or cancel. For many:
/// one confirmation for all. `None` when the prompt itself failed (closed terminal).
fn ask(items: &mut [Item], inventory: &Inventory, printer: &Printer) -> Option<bool> {
    show_plans(items, false, printer, "planned");
    on_interrupt(Interrupt::AtPrompt);
    let theme = dialoguer::theme::SimpleTheme;
    let applicable: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.plan.as_ref().is_ok_and(|p| !p.is_empty()))
        .map(|(n, _)| n)
        .collect();
    if let [only] = applicable.as_slice() {
        let item = &mut items[*only];
        let Ok(plan) = &item.plan else {
            return Some(false);
        };
        if plan.strategy == Strategy::Recreate {
            return ask_recreate(item, printer);
        }
        let mut choices = vec![format!(
            "Apply the plan above ({})",
            plan.target
                .as_ref()
                .map(|t| with_python(plan.strategy, &t.version))
                .unwrap_or_else(|| plan.strategy.as_str().to_string())
        )];
        for alt in &plan.alternatives {
            choices.push(format!(
                "{} instead (`{}`)",
                with_python(alt.strategy, &alt.target.version),
                venvfix::shell::shown(&alt.target.link)
            ));
        }
        choices.push("Cancel (change nothing)".into());
        let picked = dialoguer::Select::with_theme(&theme)
            .with_prompt(prompt(std::slice::from_ref(&item.path)))
            .items(&choices)
            .default(0)
            .interact_opt()
            .ok()
            .flatten()?;
        if picked == choices.len() - 1 {
            return Some(false);
        }
        if picked > 0 {
            let alt = plan.alternatives[picked - 1].target.path.clone();
            let diagnosis = item.diagnosis.as_ref()?;
            let request = PlanRequest {
                python: Some(PythonRequest::Path(alt)),
                ..PlanRequest::default()
            };
            item.plan = plan_again(diagnosis, inventory, &request);
            if let Ok(plan) = &item.plan {
                print_plan(plan, printer);
            }
        }
        return Some(true);
    }
    dialoguer::Confirm::with_theme(&theme)
        .with_prompt(prompt(
            &applicable
                .iter()
                .map(|n| items[*n].path.clone())
                .collect::<Vec<_>>(),
        ))
        .default(true)
        .interact_opt()
        .ok()
        .flatten()
}

/// The one question every repair asks, for one venv or a batch: `Repair `/p/.venv`?`,
/// `Repair 3 venvs?` (paths escaped: the prompt is drawn outside the printer).
fn prompt(venvs: &[PathBuf]) -> String {
    match venvs {
        [one] => format!("Repair `{}`?", venvfix::shell::shown(one)),
        many => format!("Repair {} venvs?", many.len()),
    }
}

/// The choice for a recreate: each installed Python it could use, newest first, or cancel.
fn ask_recreate(item: &mut Item, printer: &Printer) -> Option<bool> {
    let Ok(plan) = &item.plan else {
        return Some(false);
    };
    let Some(Action::Recreate(spec)) = plan.actions.first() else {
        return Some(false);
    };
    let count = spec.requirements.len();
    let mut targets: Vec<&venvfix::plan::Target> = plan.target.iter().collect();
    targets.extend(plan.alternatives.iter().map(|a| &a.target));
    targets.sort_by_key(|t| std::cmp::Reverse(t.version));
    let recommended = plan.target.as_ref().map(|t| t.path.clone());
    let default = targets
        .iter()
        .position(|t| Some(&t.path) == recommended.as_ref())
        .unwrap_or(0);
    let mut choices: Vec<String> = targets
        .iter()
        .map(|t| {
            let dry_run = spec
                .candidates
                .iter()
                .find(|c| c.python == t.path)
                .map(|c| format!("{}; ", c.summary()))
                .unwrap_or_default();
            format!(
                "Recreate with Python {} ({count} distribution{} will be reinstalled: {dry_run}`{}`)",
                t.version,
                if count == 1 { "" } else { "s" },
                venvfix::shell::shown(&t.link)
            )
        })
        .collect();
    choices.push("Cancel (change nothing)".into());
    let picked = dialoguer::Select::with_theme(&dialoguer::theme::SimpleTheme)
        .with_prompt(prompt(std::slice::from_ref(&item.path)))
        .items(&choices)
        .default(default)
        .interact_opt()
        .ok()
        .flatten()?;
    if picked == choices.len() - 1 {
        return Some(false);
    }
    if picked != default {
        let target = targets[picked];
        let own_minor = item
            .diagnosis
            .as_ref()
            .and_then(|d| d.venv.minor())
            .is_some_and(|m| m.same_minor(&target.version));
        let request = PlanRequest {
            // Another minor cannot be relinked to, so `auto` plans the recreate (and says why);
            // the venv's own minor would be relinked unless a recreate is asked for.
            allowed: if own_minor {
                Allowed::Recreate
            } else {
                Allowed::Auto
            },
            python: Some(PythonRequest::Path(target.path.clone())),
            find_links: spec.find_links.clone(),
            offline: spec.offline,
            tools: venvfix::plan::recreate::Tools::find(),
            stabilize: false,
        };
        let diagnosis = item.diagnosis.as_ref()?;
        let inventory = Inventory::discover(&InventoryOptions::from_env());
        item.plan = plan_again(diagnosis, &inventory, &request);
        if let Ok(plan) = &item.plan {
            print_plan(plan, printer);
        }
    }
    Some(true)
}

fn plan_again(
    d: &Diagnosis,
    inventory: &Inventory,
    request: &PlanRequest,
) -> Result<Plan, ErrorDetail> {
    plan(d, inventory, request).map_err(|e| ErrorDetail::new("cannot-plan", e.to_string()))
}

/// How one venv of the batch ended.
enum Outcome {
    Repaired(Repaired),
    Unchanged,
    Skipped,
    Failed { error: ErrorDetail, refused: bool },
}

/// Apply every plan that has actions, in parallel where it is safe; report each outcome, then
/// one summary line. A failure is reported and the others go on (DESIGN.md rule 8).
///
/// Relinks and config updates run in parallel: each touches only its own venv, under its own
/// lock, backup and journal (the executor's job). Recreates run one at a time after them: they
/// run installers that download, build and share caches.
fn apply_all(
    items: &[Item],
    inventory: &Inventory,
    options: &ExecOptions,
    json: bool,
    printer: &Printer,
) -> ExitCode {
    let runnable = |i: &Item| i.plan.as_ref().is_ok_and(|p| !p.is_empty());
    let bar = batch_bar(
        printer,
        items.iter().filter(|i| runnable(i)).count(),
        "repairing",
    );
    let run_one = |item: &Item| -> Outcome {
        let plan = match &item.plan {
            Ok(plan) => plan,
            Err(e) => {
                return Outcome::Failed {
                    error: e.clone(),
                    refused: false,
                };
            }
        };
        if plan.is_empty() {
            return if plan.fixes_everything() {
                Outcome::Unchanged
            } else {
                Outcome::Skipped
            };
        }
        bar.set_message(venvfix::shell::shown(&item.path));
        let outcome = match apply_plan(plan, inventory, options, printer, &bar) {
            Ok(backup) => Outcome::Repaired(backup),
            Err(failure) => Outcome::Failed {
                error: failure.error,
                refused: failure.refused,
            },
        };
        bar.inc(1);
        outcome
    };
    let is_recreate = |i: &Item| {
        i.plan
            .as_ref()
            .is_ok_and(|p| p.strategy == Strategy::Recreate)
    };
    let mut outcomes: Vec<Option<Outcome>> = items
        .par_iter()
        .map(|item| (!is_recreate(item)).then(|| run_one(item)))
        .collect();
    for (item, outcome) in items.iter().zip(outcomes.iter_mut()) {
        if outcome.is_none() {
            *outcome = Some(run_one(item));
        }
    }
    bar.finish_and_clear();

    let batch = items.len() > 1;
    let mut code = ExitCode::Success;
    let mut counts = [0usize; 4];
    let mut backup_total = 0u64;
    let mut entries = Vec::new();
    for (item, outcome) in items.iter().zip(outcomes.into_iter().flatten()) {
        let path = item.path.display();
        let reason = || {
            item.plan
                .as_ref()
                .map(|p| p.reason.clone())
                .unwrap_or_default()
        };
        match outcome {
            Outcome::Repaired(Repaired {
                backup,
                size,
                whole_venv,
            }) => {
                counts[0] += 1;
                backup_total += size;
                let Ok(plan) = &item.plan else { continue };
                let done = plan
                    .target
                    .as_ref()
                    .map(|t| with_python(plan.strategy, &t.version))
                    .unwrap_or_else(|| plan.strategy.as_str().to_string());
                let repaired = printer.paint_err(Style::Green, "repaired");
                let what = format!("{repaired} {path}: {done}");
                let took = if whole_venv {
                    format!("the original venv, moved aside: {}", human_size(size))
                } else {
                    human_size(size)
                };
                let undo = format!(
                    "backup in `{}` ({took}; `venvfix undo {}` restores it)",
                    backup.display(),
                    venvfix::shell::quote(&item.path)
                );
                if !json {
                    if batch {
                        printer.status(&what);
                        printer.detail(&format!("    {undo}"));
                    } else {
                        printer.status(&format!("{what}; {undo}"));
                    }
                }
                if !plan.fixes_everything() {
                    code = code.worst(ExitCode::Problems);
                }
                entries.push(entry(item, "repaired", Some(&backup), None));
            }
            Outcome::Unchanged => {
                counts[1] += 1;
                if !json && (!batch || printer.verbose()) {
                    printer.status(&format!("unchanged {path}: {}", reason()));
                }
                entries.push(entry(item, "unchanged", None, None));
            }
            Outcome::Skipped => {
                counts[2] += 1;
                code = code.worst(ExitCode::Problems);
                if !json {
                    let skipped = printer.paint_err(Style::Yellow, "skipped");
                    printer.status(&format!("{skipped} {path}: {}", reason()));
                }
                entries.push(entry(item, "skipped", None, None));
            }
            Outcome::Failed { error, refused } => {
                counts[3] += 1;
                printer.error(&format!("`{path}`: {}", error.message), None);
                code = code.worst(if refused {
                    ExitCode::Error
                } else {
                    ExitCode::Problems
                });
                entries.push(entry(item, "failed", None, Some(error)));
            }
        }
    }
    if json {
        printer.json(&RepairReport::new(entries));
    }
    if batch && !json {
        let [repaired, unchanged, skipped, failed] = counts;
        printer.status(&format!(
            "repaired {repaired}, unchanged {unchanged}, skipped {skipped}, failed {failed}"
        ));
        if repaired > 0 {
            printer.status(&format!(
                "the backups took {} (`venvfix backups` lists them, `venvfix prune` removes old \
                 ones)",
                human_size(backup_total)
            ));
            printer.hint(
                "`venvfix undo VENV` restores a repaired venv from its backup; `venvfix undo DIR` \
                 undoes this whole run under DIR",
            );
        }
    }
    code
}

/// Where the full installer output of a recreate of `venv` goes: the state dir's `logs/`.
fn install_log(options: &ExecOptions, venv: &Path) -> PathBuf {
    let name = venv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "venv".into());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    options.state_dir.join("logs").join(format!(
        "recreate-{name}-{stamp}-{}.log",
        std::process::id()
    ))
}

/// A plan applied: its backup and what that takes on disk.
struct Repaired {
    backup: PathBuf,
    size: u64,
    /// The backup is the original venv (a recreate), moved aside rather than copied.
    whole_venv: bool,
}

/// How applying one plan ended badly: `refused` when nothing was changed (locked, stale plan,
/// state dir unusable: exit 2), else not done and rolled back (exit 1).
struct ApplyFailure {
    error: ErrorDetail,
    refused: bool,
}

/// Apply one plan with the executor (lock, backup, journal, verify, roll back). A recreate
/// builds the new venv with [`recreate::build`], its installer output shown as progress.
///
/// `bar` is the batch's progress bar (hidden for one venv): lines printed meanwhile go above it,
/// and a recreate's installer output is shown in it, so the screen keeps no stale lines.
fn apply_plan(
    plan: &Plan,
    inventory: &Inventory,
    options: &ExecOptions,
    printer: &Printer,
    bar: &indicatif::ProgressBar,
) -> Result<Repaired, ApplyFailure> {
    // Only a recreate runs an installer worth a spinner; a relink takes milliseconds.
    let progress =
        (plan.strategy == Strategy::Recreate).then(|| InstallProgress::new(printer, bar));
    let show = |event: BuildEvent<'_>| {
        if let Some(progress) = &progress {
            progress.event(event);
        }
    };
    let hook = |spec: &RecreateSpec, root: &Path, original: &Path| {
        let log = install_log(options, root);
        recreate::build(spec, root, original, &log, &show).map_err(|e| e.to_string())
    };
    let result = execute::apply_with(plan, inventory, options, Some(&hook));
    if let Some(progress) = &progress {
        progress.finish();
    }
    result
        .map(|applied| {
            bar.suspend(|| {
                for note in &applied.verification.notes {
                    printer.detail(&format!("verification: {note}"));
                }
                if let Some(original) = &applied.original {
                    printer.status(&format!(
                        "the original venv is kept on its own filesystem, in `{}` (`venvfix \
                         undo` puts it back)",
                        original.display()
                    ));
                }
            });
            Repaired {
                backup: applied.backup,
                size: applied.backup_size,
                whole_venv: applied.whole_venv,
            }
        })
        .map_err(|e| ApplyFailure {
            refused: e.changed_nothing(),
            error: ErrorDetail::new(e.code(), e.to_string()),
        })
}
