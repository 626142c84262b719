//! The `venvfix` command line: parse, call the library, print. Nothing here decides a repair.

pub mod args;
pub mod check;
pub mod freeze;
pub mod plan_view;
pub mod printer;
pub mod progress;
pub mod pythons;
pub mod repair;
pub mod undo;

use clap::Parser;

use venvfix::ExitCode;

use args::{Cli, Command};
use printer::Printer;

/// Parse the command line, run the command, and return its exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Error
            } else {
                ExitCode::Success
            };
        }
    };
    let printer = Printer::new(&cli.global);
    match cli.command {
        Command::Check(args) => check::run(&args, &printer),
        Command::Repair(args) => repair::run(&args, &printer),
        Command::Undo(args) => undo::run(&args, &printer),
        Command::Pythons(args) => pythons::run(&args, &printer),
        Command::Freeze(args) => freeze::run(&args, &printer),
    }
}
