//! `pyvenv.cfg`, read and rewritten the way CPython reads it: lines split at the first `=`.
//!
//! CPython lower-cases keys and trims whitespace; it reads only `home` and
//! `include-system-site-packages`. Every creator adds keys of its own (uv's `uv`, virtualenv's
//! `base-prefix`, stdlib's `command`), and users add comments. A repair must change exactly the
//! keys it means to and keep everything else byte for byte, so the file is kept as its lines,
//! not as a map. This module never touches the disk: the caller reads and writes the bytes.

use std::fmt;

/// One line of a `pyvenv.cfg`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `key = value`. `raw` is the original text, kept so untouched lines are written back as-is.
    Entry {
        key: String,
        value: String,
        raw: String,
    },
    /// A blank line, a `#` comment, or any text CPython would skip.
    Other(String),
}

/// Why a `pyvenv.cfg` is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("not text: invalid UTF-8 at byte {offset}")]
    NotText { offset: usize },
    #[error("contains NUL bytes (a binary file, not `key = value` text)")]
    Binary,
    #[error("has no `home` key")]
    NoHome,
}

/// A parsed `pyvenv.cfg`, order and unknown keys kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PyvenvCfg {
    lines: Vec<Line>,
    /// Lines that are neither `key = value`, blank nor a comment: `(line number, text)`.
    ignored: Vec<(usize, String)>,
    /// Whether the original text ended with a newline (uv's files may not).
    trailing_newline: bool,
}

impl PyvenvCfg {
    /// Parse the bytes of a `pyvenv.cfg` as CPython does: lines split at the first `=`, other
    /// lines skipped (and listed by [`PyvenvCfg::ignored_lines`]). Binary garbage and text that
    /// is not UTF-8 are an error, because a repair must not rewrite what it cannot read.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.contains(&0) {
            return Err(ConfigError::Binary);
        }
        let text = std::str::from_utf8(bytes).map_err(|e| ConfigError::NotText {
            offset: e.valid_up_to(),
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        let mut ignored = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                lines.push(Line::Other(raw.to_string()));
                continue;
            }
            // CPython skips a line without `=` (`[extra]`) and never asks for an empty or odd
            // key: such lines are kept as written and reported, not a reason to rebuild.
            let entry = raw
                .split_once('=')
                .map(|(key, value)| (key.trim().to_ascii_lowercase(), value))
                .filter(|(key, _)| !key.is_empty() && !key.chars().any(|c| c.is_control()));
            let Some((key, value)) = entry else {
                ignored.push((index + 1, shorten(trimmed)));
                lines.push(Line::Other(raw.to_string()));
                continue;
            };
            lines.push(Line::Entry {
                key,
                value: value.trim().to_string(),
                raw: raw.to_string(),
            });
        }
        let cfg = PyvenvCfg {
            lines,
            ignored,
            trailing_newline: text.ends_with('\n') || text.is_empty(),
        };
        Ok(cfg)
    }

    /// A config with no lines, for a venv that lost its file.
    pub fn empty() -> Self {
        PyvenvCfg {
            lines: Vec::new(),
            ignored: Vec::new(),
            trailing_newline: true,
        }
    }

    /// The value of `key` (case-insensitive). CPython uses the last occurrence; so do we.
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.lines.iter().rev().find_map(|line| match line {
            Line::Entry { key: k, value, .. } if *k == key => Some(value.as_str()),
            _ => None,
        })
    }

    /// Every `(key, value)` in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|line| match line {
            Line::Entry { key, value, .. } => Some((key.as_str(), value.as_str())),
            Line::Other(_) => None,
        })
    }

    /// Lines CPython skips that are not blank or comments (`[extra]`): `(line number, text)`.
    pub fn ignored_lines(&self) -> &[(usize, String)] {
        &self.ignored
    }

    /// The lines as parsed.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Set `key` to `value`: every occurrence is rewritten in place (keeping the original
    /// spacing around `=`); a missing key is appended. Returns the previous value.
    pub fn set(&mut self, key: &str, value: &str) -> Option<String> {
        let key = key.to_ascii_lowercase();
        let mut previous = None;
        for line in &mut self.lines {
            if let Line::Entry {
                key: k,
                value: v,
                raw,
            } = line
                && *k == key
            {
                *raw = rewrite_value(raw, value);
                previous = Some(std::mem::replace(v, value.to_string()));
            }
        }
        if previous.is_none() {
            self.lines.push(Line::Entry {
                raw: format!("{key} = {value}"),
                key,
                value: value.to_string(),
            });
        }
        previous
    }

    /// `home`, required by CPython.
    pub fn home(&self) -> Option<&str> {
        self.get("home")
    }

    /// `include-system-site-packages`, read as CPython does (`true`, case-insensitive).
    pub fn include_system_site_packages(&self) -> bool {
        self.get("include-system-site-packages")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The prompt with the creator's quoting removed: `'x'` (stdlib), `"x"` (virtualenv), `x` (uv).
    pub fn prompt(&self) -> Option<String> {
        self.get("prompt").map(unquote)
    }

    /// The file's text, with untouched lines exactly as read.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match line {
                Line::Entry { raw, .. } => out.push_str(raw),
                Line::Other(raw) => out.push_str(raw),
            }
        }
        if self.trailing_newline && !self.lines.is_empty() {
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for PyvenvCfg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// Replace what follows the first `=` of `raw`, keeping the spacing the creator used.
fn rewrite_value(raw: &str, value: &str) -> String {
    match raw.split_once('=') {
        Some((key_part, old)) => {
            let leading: String = old.chars().take_while(|c| c.is_whitespace()).collect();
            let trailing_len = old.len() - old.trim_end().len();
            let trailing = &old[old.len() - trailing_len..];
            let leading = if leading.is_empty() && !old.trim().is_empty() {
                String::new()
            } else if leading.is_empty() {
                " ".to_string()
            } else {
                leading
            };
            format!("{key_part}={leading}{value}{trailing}")
        }
        None => raw.to_string(),
    }
}

/// Strip one level of matching single or double quotes.
pub fn unquote(value: &str) -> String {
    let v = value.trim();
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIRTUALENV21: &str = "home = /root/.pyenv/versions/3.12.1/bin
implementation = CPython
python-version = 3.12
version_info = 3.12.1.final.0
version = 3.12.1
executable = /root/.pyenv/versions/3.12.1/bin/python3.12
command = /lab/tools/bin/python3.12 -m virtualenv /lab/pve
virtualenv = 21.15.8
prompt = \"myproj\"
include-system-site-packages = true
base-prefix = /root/.pyenv/versions/3.12.1
base-exec-prefix = /root/.pyenv/versions/3.12.1
base-executable = /root/.pyenv/versions/3.12.1/bin/python3.12
";

    #[test]
    fn reads_every_key_in_order() {
        let cfg = PyvenvCfg::parse(VIRTUALENV21.as_bytes()).unwrap();
        let keys: Vec<&str> = cfg.entries().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 13);
        assert_eq!(keys[0], "home");
        assert_eq!(keys[12], "base-executable");
        assert_eq!(cfg.get("VERSION_INFO"), Some("3.12.1.final.0"));
        assert_eq!(cfg.prompt().as_deref(), Some("myproj"));
        assert!(cfg.include_system_site_packages());
        assert_eq!(cfg.render(), VIRTUALENV21);
    }

    #[test]
    fn prompt_quoting_of_each_creator() {
        for (line, want) in [
            ("prompt = 'myproj'", "myproj"),
            ("prompt = \"myproj\"", "myproj"),
            ("prompt = myproj", "myproj"),
            ("prompt = 'it''s'", "it''s"),
        ] {
            let cfg = PyvenvCfg::parse(format!("home = /x\n{line}\n").as_bytes()).unwrap();
            assert_eq!(cfg.prompt().as_deref(), Some(want), "{line}");
        }
    }

    #[test]
    fn splits_at_the_first_equals_and_lowercases_keys() {
        let cfg =
            PyvenvCfg::parse(b"Home=/opt/py\ncommand = /x -m venv --prompt=a=b /v\n").unwrap();
        assert_eq!(cfg.home(), Some("/opt/py"));
        assert_eq!(cfg.get("command"), Some("/x -m venv --prompt=a=b /v"));
    }

    #[test]
    fn set_changes_only_that_key_and_keeps_comments() {
        let text = "# made by hand\nhome = /usr/bin\ninclude-system-site-packages = false\nversion=3.8.18\nuv = 0.13.9";
        let mut cfg = PyvenvCfg::parse(text.as_bytes()).unwrap();
        assert_eq!(
            cfg.set("home", "/opt/py38/bin").as_deref(),
            Some("/usr/bin")
        );
        assert_eq!(cfg.set("version", "3.8.11").as_deref(), Some("3.8.18"));
        assert_eq!(
            cfg.render(),
            "# made by hand\nhome = /opt/py38/bin\ninclude-system-site-packages = false\nversion=3.8.11\nuv = 0.13.9"
        );
        assert_eq!(cfg.set("executable", "/opt/py38/bin/python3.8"), None);
        assert!(
            cfg.render()
                .ends_with("\nexecutable = /opt/py38/bin/python3.8")
        );
    }

    #[test]
    fn rejects_binary_and_skips_lines_cpython_skips() {
        assert_eq!(
            PyvenvCfg::parse(b"home = /x\n\0\0\x01"),
            Err(ConfigError::Binary)
        );
        assert!(matches!(
            PyvenvCfg::parse(b"home = /x\n\xff\xfe"),
            Err(ConfigError::NotText { offset: 10 })
        ));
        let cfg = PyvenvCfg::parse(b"home = /x\n[extra]\n = value\n").unwrap();
        assert_eq!(cfg.home(), Some("/x"));
        assert_eq!(
            cfg.ignored_lines(),
            [(2, "[extra]".to_string()), (3, "= value".to_string())]
        );
        assert_eq!(cfg.render(), "home = /x\n[extra]\n = value\n");
    }

    #[test]
    fn empty_and_crlf_files() {
        let cfg = PyvenvCfg::parse(b"").unwrap();
        assert_eq!(cfg.home(), None);
        let cfg = PyvenvCfg::parse(b"home = C:\\Python\r\nversion = 3.12.1\r\n").unwrap();
        assert_eq!(cfg.home(), Some("C:\\Python"));
        assert_eq!(cfg.get("version"), Some("3.12.1"));
    }
}
