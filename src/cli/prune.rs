//! `venvfix prune [--keep N] [--older-than DAYS] [--include-recent] [--dry-run]`: remove
//! backups that are no longer needed and say what that freed. The library decides what goes
//! ([`plan_prune`], read-only) and removes it under each venv's lock ([`prune`]); this prints
//! every backup removed (or that would be), every one kept although selected, and the total.

use venvfix::ExitCode;
use venvfix::execute::history::{
    LOG_DAYS, PruneItem, PruneRequest, disk_usage, human_size, now_secs, old_logs, plan_prune,
    prune,
};

use super::args::PruneArgs;
use super::backups::load_history;
use super::printer::Printer;

pub fn run(args: &PruneArgs, printer: &Printer) -> ExitCode {
    let Some((options, history)) = load_history(printer) else {
        return ExitCode::Error;
    };
    let request = PruneRequest {
        keep: args.keep,
        older_than_days: args.older_than,
        include_recent: args.include_recent,
    };
    let plan = plan_prune(&history, &request, now_secs());
    for item in &plan.kept {
        printer.status(&format!("kept {}: {}", line(item), item.why));
    }
    // Recreates keep their installers' whole output; it goes after a while.
    let log_days = args.older_than.unwrap_or(LOG_DAYS);
    let logs = old_logs(&options.state_dir, log_days, now_secs());
    let log_why = format!("installer log older than {log_days} days");
    if plan.remove.is_empty() && plan.leftovers.is_empty() && logs.is_empty() {
        printer.status("nothing to prune");
        return ExitCode::Success;
    }
    if args.dry_run {
        for item in &plan.remove {
            printer.out(&format!("would remove {} ({})", line(item), item.why));
        }
        for log in &logs {
            printer.out(&format!("would remove `{}` ({log_why})", log.display()));
        }
        printer.status(&format!(
            "dry run: would free {}; nothing was removed",
            human_size(plan.size() + logs.iter().map(|l| disk_usage(l)).sum::<u64>())
        ));
        return ExitCode::Success;
    }
    let mut code = ExitCode::Success;
    let mut freed = plan.leftovers.iter().map(|p| disk_usage(p)).sum::<u64>();
    let mut logs_removed = 0usize;
    for log in &logs {
        let size = disk_usage(log);
        match std::fs::remove_file(log) {
            Ok(()) => {
                freed += size;
                logs_removed += 1;
                printer.out(&format!("removed `{}` ({log_why})", log.display()));
            }
            Err(e) => {
                printer.error(&format!("could not remove `{}`: {e}", log.display()), None);
                code = ExitCode::Error;
            }
        }
    }
    let mut removed = 0usize;
    for pruned in prune(&plan) {
        match pruned.result {
            Ok(()) => {
                removed += 1;
                freed += pruned.item.step.size;
                printer.out(&format!(
                    "removed {} ({})",
                    line(&pruned.item),
                    pruned.item.why
                ));
            }
            Err(e) => {
                printer.error(&e.to_string(), None);
                code = ExitCode::Error;
            }
        }
    }
    let logs_said = match logs_removed {
        0 => String::new(),
        1 => " and 1 installer log".to_string(),
        n => format!(" and {n} installer logs"),
    };
    printer.status(&format!(
        "removed {removed} backup{}{logs_said}, freed {}",
        if removed == 1 { "" } else { "s" },
        human_size(freed)
    ));
    code
}

/// `` `BACKUP` of `VENV`, SIZE ``.
fn line(item: &PruneItem) -> String {
    let venv = match &item.venv {
        Some(v) => format!("`{}`", v.display()),
        None => format!("`{}` (gone)", item.was.display()),
    };
    format!(
        "`{}` of {venv}: {}, {}",
        item.step.dir.display(),
        super::backups::describe(&item.step),
        human_size(item.step.size)
    )
}
