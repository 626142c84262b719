//! `venvfix completions SHELL` and `venvfix man`: generated at run time from the clap
//! definitions in [`super::args`], so they never drift from the flags the binary takes.
//!
//! The man page adds the sections clap does not know: ENVIRONMENT, FILES and EXIT STATUS.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::roff::{Roff, bold, roman};

use venvfix::ExitCode;

use super::args::{Cli, CompletionsArgs};
use super::printer::Printer;

/// Print the completion script for the shell asked for.
pub fn completions(args: &CompletionsArgs, printer: &Printer) -> ExitCode {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "venvfix", &mut script);
    write_out(&script, printer)
}

/// The environment variables venvfix reads, as the man page lists them.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "VENVFIX_PYTHON_SEARCH_PATH",
        "Directories (separated by `:`) to search for Pythons, replacing automatic discovery. \
         Set but empty, no Python is found.",
    ),
    (
        "VENVFIX_CACHE_DIR",
        "Where the interpreter probe cache lives (default `$XDG_CACHE_HOME/venvfix`, else \
         `~/.cache/venvfix`).",
    ),
    (
        "VENVFIX_STATE_DIR",
        "Where backups, journals and locks live (default `$XDG_STATE_HOME/venvfix`, else \
         `~/.local/state/venvfix`).",
    ),
    (
        "VENVFIX_UV",
        "The `uv` used to recreate venvs (default: `uv` on PATH); `none` disables it.",
    ),
    (
        "VENVFIX_PROBE_TIMEOUT_MS",
        "How long an interpreter may take to answer its probe (default 10000).",
    ),
    (
        "XDG_CONFIG_HOME",
        "Where the config file is looked for (`venvfix/config.toml`; default `~/.config`).",
    ),
    (
        "WORKON_HOME",
        "virtualenvwrapper's and pipenv's home of venvs, searched with `--known`.",
    ),
    (
        "NO_COLOR",
        "When set and not empty, no colour (like `--color never`).",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "$XDG_CONFIG_HOME/venvfix/config.toml",
        "Defaults for flags: `strategy`, `offline`, `find-links`, `known-homes`. Flags win; \
         `--no-config` ignores the file.",
    ),
    (
        "$XDG_STATE_HOME/venvfix/",
        "Backups, journals and locks of repairs (`venvfix undo` restores from here).",
    ),
    (
        "$XDG_CACHE_HOME/venvfix/",
        "What each installed interpreter answered when probed; safe to delete.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Nothing broken; everything asked for was done."),
    ("1", "Broken venvs remain, or some repairs were not done."),
    (
        "2",
        "Usage error, I/O error, or a refusal (nothing was changed).",
    ),
];

/// Print the man page (roff) for `venvfix` and every subcommand.
pub fn man(printer: &Printer) -> ExitCode {
    let command = Cli::command();
    let page = clap_mangen::Man::new(command.clone()).date(env!("VENVFIX_COMMIT_DATE"));
    let mut out = Vec::new();
    let rendered = (|| -> std::io::Result<()> {
        page.render_title(&mut out)?;
        page.render_name_section(&mut out)?;
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
        page.render_subcommands_section(&mut out)?;
        let mut roff = Roff::new();
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            subcommand_section(&mut roff, sub);
        }
        definitions(&mut roff, "ENVIRONMENT", ENVIRONMENT);
        definitions(&mut roff, "FILES", FILES);
        definitions(&mut roff, "EXIT STATUS", EXIT_STATUS);
        roff.to_writer(&mut out)?;
        page.render_version_section(&mut out)
    })();
    if let Err(e) = rendered {
        printer.error(&format!("could not render the man page: {e}"), None);
        return ExitCode::Error;
    }
    write_out(&out, printer)
}

/// A `.SH` of `name: value` definitions.
fn definitions(roff: &mut Roff, section: &str, items: &[(&str, &str)]) {
    roff.control("SH", [section]);
    for (name, text) in items {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*text)]);
    }
}

/// Each subcommand's usage, its own options and its notes, so `man venvfix` is the whole manual.
fn subcommand_section(roff: &mut Roff, sub: &clap::Command) {
    let mut sub = sub.clone().bin_name(format!("venvfix {}", sub.get_name()));
    let usage = sub.render_usage().to_string();
    roff.control(
        "SH",
        [format!("VENVFIX {}", sub.get_name().to_uppercase()).as_str()],
    );
    roff.text([bold(usage.trim_start_matches("Usage: "))]);
    if let Some(about) = sub.get_long_about().or(sub.get_about()) {
        roff.control("PP", []);
        roff.text([roman(about.to_string())]);
    }
    for arg in sub.get_arguments().filter(|a| !a.is_global_set()) {
        let name = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("-{s}, --{l}"),
            (None, Some(l)) => format!("--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, None) => arg
                .get_value_names()
                .map(|v| {
                    v.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|| arg.get_id().to_string().to_uppercase()),
        };
        if name == "--help" || name == "-h, --help" {
            continue;
        }
        roff.control("TP", []);
        roff.text([bold(name)]);
        if let Some(help) = arg.get_long_help().or(arg.get_help()) {
            roff.text([roman(help.to_string())]);
        }
    }
    if let Some(after) = sub.get_after_long_help().or(sub.get_after_help()) {
        for paragraph in after.to_string().split("\n\n") {
            roff.control("PP", []);
            roff.text([roman(paragraph.to_string())]);
        }
    }
}

fn write_out(bytes: &[u8], printer: &Printer) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::Success,
        // `venvfix man | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
        Err(e) => {
            printer.error(&format!("could not write to stdout: {e}"), None);
            ExitCode::Error
        }
    }
}
