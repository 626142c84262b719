//! The `venvfix` binary: a thin layer of argument parsing and printing over the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run().into()
}
