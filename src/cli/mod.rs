//! The `venvfix` command line: parse, call the library, print. Nothing here decides a repair.

pub mod args;
pub mod backups;
pub mod check;
pub mod freeze;
pub mod generate;
pub mod plan_view;
pub mod printer;
pub mod progress;
pub mod prune;
pub mod python_arg;
pub mod pythons;
pub mod repair;
pub mod undo;
pub mod uses;

use clap::{Parser, ValueEnum};

use venvfix::ExitCode;
use venvfix::settings::{Settings, SettingsError};

use args::{Cli, Command, StrategyChoice};
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
    let settings = if cli.global.no_config {
        Settings::default()
    } else {
        match load_settings() {
            Ok(settings) => settings,
            Err(e) => {
                printer.error(
                    &e.to_string(),
                    Some("fix the file, or run with `--no-config` to ignore it"),
                );
                return ExitCode::Error;
            }
        }
    };
    match cli.command {
        Command::Check(args) => check::run(&args, &settings, &printer),
        Command::Repair(mut args) => {
            apply_settings(&mut args, &settings);
            repair::run(&args, &settings, &printer)
        }
        Command::Undo(args) => undo::run(&args, &printer),
        Command::Backups(args) => backups::run(&args, &printer),
        Command::Prune(args) => prune::run(&args, &printer),
        Command::Pythons(args) => pythons::run(&args, &printer),
        Command::Freeze(args) => freeze::run(&args, &printer),
        Command::Completions(args) => generate::completions(&args, &printer),
        Command::Man => generate::man(&printer),
    }
}

/// The config file, with its `strategy` checked against the strategies this binary has.
fn load_settings() -> Result<Settings, SettingsError> {
    let settings = Settings::load()?;
    if let (Some(file), Some(strategy)) = (&settings.file, &settings.strategy)
        && StrategyChoice::from_str(&strategy.value, false).is_err()
    {
        let known: Vec<String> = StrategyChoice::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        return Err(SettingsError::Invalid {
            path: file.clone(),
            line: strategy.line,
            column: strategy.column,
            message: format!(
                "unknown strategy `{}`: expected one of {}",
                strategy.value,
                known.join(", ")
            ),
        });
    }
    Ok(settings)
}

/// Defaults from the config file for what the user did not type: flags win.
fn apply_settings(args: &mut args::RepairArgs, settings: &Settings) {
    if args.strategy.is_none() {
        args.strategy = settings
            .strategy
            .as_ref()
            .and_then(|s| StrategyChoice::from_str(&s.value, false).ok());
    }
    if args.find_links.is_empty() {
        args.find_links = settings.find_links.clone();
    }
    if !args.offline && !args.online {
        args.offline = settings.offline.unwrap_or(false);
    }
}
