//! `venvfix undo VENV`: put a venv back exactly as it was before its last repair (or roll back
//! a repair that was interrupted). Exit 0 when restored, 1 when there is nothing to undo, 2 on
//! a refusal (another venvfix holds the venv, or the venv was changed since the repair and
//! `--force` was not given) or an error.
//!
//! Executor messages about the venv as a whole do not name it; this command prefixes them with
//! the venv's path, as `repair` does.

use venvfix::ExitCode;
use venvfix::execute::{self, ExecError, ExecOptions};

use super::args::UndoArgs;
use super::printer::Printer;

pub fn run(args: &UndoArgs, printer: &Printer) -> ExitCode {
    let options = match ExecOptions::from_env() {
        Ok(options) => options,
        Err(e) => {
            printer.error(&e.to_string(), None);
            return ExitCode::Error;
        }
    };
    // A venv being recreated may be missing while venvfix can still bring it back.
    if std::fs::symlink_metadata(&args.venv).is_err() && !has_history(&args.venv, &options) {
        printer.error(&format!("`{}` does not exist", args.venv.display()), None);
        return ExitCode::Error;
    }
    let venv = args.venv.display();
    match execute::undo(&args.venv, &options, args.force) {
        Ok(undone) => {
            if undone.recovered {
                printer.status(&format!(
                    "rolled back an interrupted repair of `{}`",
                    undone.venv.display()
                ));
            } else {
                printer.status(&format!(
                    "`{}`: restored from `{}`",
                    undone.venv.display(),
                    undone.backup.display()
                ));
            }
            for restored in &undone.restored {
                printer.out(&format!("restored {restored}"));
            }
            if let Some(safety) = &undone.safety_backup {
                printer.status(&format!(
                    "the state before this undo is saved in `{}`",
                    safety.display()
                ));
            }
            ExitCode::Success
        }
        Err(e @ ExecError::NothingToUndo { .. }) => {
            printer.error(
                &format!("`{venv}`: {e}"),
                Some("only the last repair made by venvfix can be undone, once"),
            );
            ExitCode::Problems
        }
        Err(e @ ExecError::Locked { .. }) => {
            printer.error(
                &format!("`{venv}`: {e}"),
                Some("wait for it to finish, then run `venvfix undo` again"),
            );
            ExitCode::Error
        }
        Err(ref e @ ExecError::ChangedSinceRepair { ref backups, .. }) => {
            printer.error(
                &format!("`{venv}`: {e}"),
                Some(&format!(
                    "`venvfix undo --force {}` restores anyway; the current state is saved \
                     first, in a new backup under `{}`",
                    venvfix::shell::quote(&args.venv),
                    backups.display()
                )),
            );
            ExitCode::Error
        }
        Err(e) => {
            printer.error(&format!("`{venv}`: {e}"), None);
            ExitCode::Error
        }
    }
}

/// Whether venvfix recorded anything to restore for `venv` (read-only).
fn has_history(venv: &std::path::Path, options: &ExecOptions) -> bool {
    execute::pending(venv, options).is_some()
        || execute::VenvState::locate(&options.state_dir, venv)
            .is_ok_and(|state| state.last_path().exists())
}
