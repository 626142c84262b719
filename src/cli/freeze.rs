//! `venvfix freeze VENV`: print a venv's requirements, rebuilt from its metadata files.
//!
//! Thin: the library reads ([`venvfix::dists::freeze`]); this prints the lines on stdout and the
//! warnings on stderr. It works the same on healthy and broken venvs because nothing in the venv
//! is run.

use venvfix::ExitCode;
use venvfix::dists::{self, FreezeOptions};
use venvfix::execute::{self, ExecOptions};

use super::args::FreezeArgs;
use super::printer::Printer;

/// Run `venvfix freeze`.
pub fn run(args: &FreezeArgs, printer: &Printer) -> ExitCode {
    // Mid-repair (or after a killed one) the venv may be half-built or moved aside: a listing
    // of it would read as "these are your packages" and be wrong.
    if let Ok(state) = ExecOptions::from_env()
        && let Some(pending) = execute::pending(&args.venv, &state)
    {
        let hint = if pending.in_progress {
            "wait for the repair to finish, then run `venvfix freeze` again"
        } else {
            "roll it back first with `venvfix undo VENV`, then run `venvfix freeze` again"
        };
        printer.error(
            &format!("`{}`: {}", args.venv.display(), pending.message()),
            Some(hint),
        );
        return ExitCode::Error;
    }
    let options = FreezeOptions {
        all: args.all,
        top_level: args.top_level,
    };
    let frozen = match dists::freeze(&args.venv, &options) {
        Ok(frozen) => frozen,
        Err(e) => {
            printer.error(
                &e.to_string(),
                Some("give the directory that holds the venv's `pyvenv.cfg` and `lib/`"),
            );
            return ExitCode::Error;
        }
    };
    for warning in &frozen.warnings {
        printer.warn(&warning.to_string());
    }
    if args.top_level {
        printer.status(
            "note: --top-level keeps distributions marked REQUESTED, a hint only: \
             uv writes REQUESTED on everything it installs",
        );
    }
    if !frozen.omitted_seeds.is_empty() {
        printer.detail(&format!(
            "left out seed tooling: {} (use --all to list it)",
            frozen.omitted_seeds.join(", ")
        ));
    }
    for line in frozen.lines() {
        printer.out(&line);
    }
    ExitCode::Success
}
