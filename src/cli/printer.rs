//! The one place output is written: stdout for data, stderr for status, warnings and progress.
//!
//! Every command prints through a [`Printer`], so `--quiet`, `--color`/`NO_COLOR` and the
//! terminal checks are decided once. Output must read well without colour: colour only
//! emphasises words that are already there.

use std::io::{IsTerminal, Write};

use super::args::{ColorChoice, GlobalArgs};

/// A text style, rendered as ANSI only when colour is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bold,
    Red,
    Yellow,
    Green,
    Cyan,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Red => "1;31",
            Style::Yellow => "1;33",
            Style::Green => "1;32",
            Style::Cyan => "36",
            Style::Dim => "2",
        }
    }
}

/// Owns stdout and stderr for a run.
#[derive(Debug, Clone)]
pub struct Printer {
    color_out: bool,
    color_err: bool,
    quiet: bool,
    verbose: u8,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |is_tty: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && !no_color,
        };
        Printer {
            color_out: decide(std::io::stdout().is_terminal()),
            color_err: decide(std::io::stderr().is_terminal()),
            quiet: global.quiet,
            verbose: global.verbose,
        }
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Whether `-v` was given (and not `-q`): list healthy venvs and every plan's details.
    pub fn verbose(&self) -> bool {
        self.verbose > 0 && !self.quiet
    }

    /// Whether progress bars may be drawn (stderr is a terminal and not `-q`).
    pub fn progress_allowed(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// `text` in `style` for stdout.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color_out, style, text)
    }

    /// `text` in `style` for stderr.
    pub fn paint_err(&self, style: Style, text: &str) -> String {
        paint(self.color_err, style, text)
    }

    /// A line of data on stdout.
    pub fn out(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`venvfix check | head`) is not an error worth a panic.
        let _ = writeln!(stdout, "{line}");
    }

    /// JSON on stdout, pretty-printed.
    pub fn json<T: serde::Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.out(&text),
            Err(e) => self.error(&format!("could not render JSON: {e}"), None),
        }
    }

    /// A status line on stderr (hidden by `-q`).
    pub fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// A detail line on stderr, shown with `-v`.
    pub fn detail(&self, line: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{}", self.paint_err(Style::Dim, line));
        }
    }

    /// A warning on stderr, always shown.
    pub fn warn(&self, message: &str) {
        eprintln!("{}: {message}", self.paint_err(Style::Yellow, "warning"));
    }

    /// An error on stderr with an optional hint, always shown.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        eprintln!("{}: {message}", self.paint_err(Style::Red, "error"));
        if let Some(hint) = hint {
            self.hint(hint);
        }
    }

    /// A `hint:` line on stderr.
    pub fn hint(&self, hint: &str) {
        eprintln!("{}: {hint}", self.paint_err(Style::Cyan, "hint"));
    }
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}
