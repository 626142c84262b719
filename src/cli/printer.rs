//! The one place output is written: stdout for data, stderr for status, warnings and progress.
//!
//! Every command prints through a [`Printer`], so `--quiet`, `--color`/`NO_COLOR` and the
//! terminal checks are decided once. Output must read well without colour: colour only
//! emphasises words that are already there.
//!
//! Every line of text is escaped on its way out (DESIGN.md rule 9, like `ls -b`): a directory
//! named with a newline or an escape sequence cannot forge a line, set the terminal's title or
//! clear the screen, whatever the command module formatted into it. The only escape sequences
//! that pass are the colour codes [`Printer::paint`] itself writes, and only when colour is on
//! for that stream. JSON is not text: it carries names exactly. A warning or error whose message
//! spans lines is printed as one message: every line after the first indented, so none can
//! pass for a line of its own.

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

    const ALL: [Style; 6] = [
        Style::Bold,
        Style::Red,
        Style::Yellow,
        Style::Green,
        Style::Cyan,
        Style::Dim,
    ];
}

/// The colour reset [`paint`] ends with.
const RESET: &str = "\x1b[0m";

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

    /// A line of data on stdout (escaped).
    pub fn out(&self, line: &str) {
        let line = escape_line(line, self.color_out);
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`venvfix check | head`) is not an error worth a panic.
        let _ = writeln!(stdout, "{line}");
    }

    /// A line on stderr (escaped).
    fn err_line(&self, line: &str) {
        let line = escape_line(line, self.color_err);
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }

    /// A JSON document on stdout, pretty-printed, with `"schema": 1` first (DESIGN.md "JSON").
    /// `value` must serialize as a map (a struct): its fields follow `schema`.
    pub fn json<T: serde::Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(&venvfix::report::Document::new(value)) {
            Ok(text) => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{text}");
            }
            Err(e) => self.error(&format!("could not render JSON: {e}"), None),
        }
    }

    /// A status line on stderr (hidden by `-q`).
    pub fn status(&self, line: &str) {
        if !self.quiet {
            self.err_line(line);
        }
    }

    /// A detail line on stderr, shown with `-v`.
    pub fn detail(&self, line: &str) {
        if self.verbose > 0 && !self.quiet {
            self.err_line(&self.paint_err(Style::Dim, line));
        }
    }

    /// A warning on stderr, always shown.
    pub fn warn(&self, message: &str) {
        self.diagnostic(&self.paint_err(Style::Yellow, "warning"), message);
    }

    /// An error on stderr with an optional hint, always shown.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        self.diagnostic(&self.paint_err(Style::Red, "error"), message);
        if let Some(hint) = hint {
            self.hint(hint);
        }
    }

    /// `label: message` on stderr. A library message may span lines (an installer's output,
    /// its own `hint:`): each line after the first is escaped and indented by two spaces, so it
    /// reads as part of this message and can never pass for a line of its own, whatever a
    /// name inside it holds.
    fn diagnostic(&self, label: &str, message: &str) {
        for line in diagnostic_lines(label, message) {
            self.err_line(&line);
        }
    }

    /// A `hint:` line on stderr (hidden by `-q`: hints are for people).
    pub fn hint(&self, hint: &str) {
        if !self.quiet {
            self.err_line(&format!("{}: {hint}", self.paint_err(Style::Cyan, "hint")));
        }
    }
}

/// The lines of `label: message`: the first after the label, each further one indented.
fn diagnostic_lines(label: &str, message: &str) -> Vec<String> {
    message
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                format!("{label}: {line}")
            } else {
                format!("  {line}")
            }
        })
        .collect()
}

/// `1 venv`, `3 venvs`, `0 venvs`: a count with its noun agreeing.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `line` with every control character escaped (`ls -b`), except the colour codes [`paint`]
/// writes when `color` is on for the stream.
pub fn escape_line(line: &str, color: bool) -> std::borrow::Cow<'_, str> {
    if !color {
        return venvfix::shell::escape(line);
    }
    if !line.chars().any(venvfix::shell::is_control) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '\x1b' {
            for code in Style::ALL.iter().map(|s| s.code()) {
                let sgr = format!("\x1b[{code}m");
                if let Some(after) = rest.strip_prefix(sgr.as_str()) {
                    out.push_str(&sgr);
                    rest = after;
                    continue 'outer;
                }
            }
            if let Some(after) = rest.strip_prefix(RESET) {
                out.push_str(RESET);
                rest = after;
                continue;
            }
        }
        venvfix::shell::push_escaped(&mut out, c);
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("\x1b[{}m{text}{RESET}", style.code())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_escaped_without_colour() {
        assert_eq!(
            escape_line("broken /t/a\nok /fake/venv", false),
            "broken /t/a\\nok /fake/venv"
        );
        assert_eq!(
            escape_line("\x1b[1;31mred\x1b[0m", false),
            "\\033[1;31mred\\033[0m"
        );
    }

    #[test]
    fn a_message_over_several_lines_stays_one_message() {
        assert_eq!(
            diagnostic_lines("error", "pip failed\nhint: try --offline"),
            ["error: pip failed", "  hint: try --offline"]
        );
        // A name with a newline inside a message cannot start a line of its own.
        let lines = diagnostic_lines("error", "cannot read `/t/a\nok /fake/venv`");
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("error: ") || l.starts_with("  "))
        );
    }

    #[test]
    fn own_colour_codes_pass_when_colour_is_on() {
        let painted = paint(true, Style::Red, "broken");
        let line = format!("{painted} /t/\x1b]0;title\x07\x1b[2J");
        assert_eq!(
            escape_line(&line, true),
            format!("{painted} /t/\\033]0;title\\a\\033[2J")
        );
    }
}
