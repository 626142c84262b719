//! The `venvfix` command line: parse, call the library, print. Nothing here decides a repair.

pub mod args;
// Until every command is wired, parts of the printer are unused; remove when they all are.
#[allow(dead_code)]
pub mod printer;
pub mod pythons;

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
        Command::Pythons(args) => pythons::run(&args, &printer),
        Command::Check(_) | Command::Repair(_) | Command::Undo(_) | Command::Freeze(_) => {
            printer.error("not implemented yet", None);
            ExitCode::Error
        }
    }
}
