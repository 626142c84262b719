//! Text a person reads or pastes into a shell: control characters made visible, paths quoted.
//!
//! Directory names come from trees venvfix did not make (a cloned repository, a tarball): a
//! name holding `ESC ] 0 ;` sets the terminal's title, one holding a newline forges a line of
//! output (`ok /fake/venv`). [`escape`] shows every control character as `ls -b` does (`\n`,
//! `\t`, `\033`), so text output always has one line per line venvfix wrote (DESIGN.md rule 9);
//! JSON carries names exactly and never goes through here. [`quote`] writes a path so that a
//! hint like `venvfix repair '/home/me/sp ace/.venv'` can be copied and pasted as is.

use std::borrow::Cow;
use std::fmt::Write;
use std::path::Path;

/// `text` with every control character (C0, DEL, C1) written as `ls -b` does: `\a \b \t \n \v
/// \f \r` by name, the others as octal bytes (`\033`, C1 as its two UTF-8 bytes `\302\233`).
/// Borrowed when there is nothing to escape, which is almost always.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Whether `c` is a control character that a terminal may act on.
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Append `c`, escaped if it is a control character.
pub fn push_escaped(out: &mut String, c: char) {
    let named = match c {
        '\x07' => Some('a'),
        '\x08' => Some('b'),
        '\t' => Some('t'),
        '\n' => Some('n'),
        '\x0b' => Some('v'),
        '\x0c' => Some('f'),
        '\r' => Some('r'),
        _ => None,
    };
    match named {
        Some(letter) => {
            out.push('\\');
            out.push(letter);
        }
        None if is_control(c) => {
            let mut bytes = [0u8; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(out, "\\{byte:03o}");
            }
        }
        None => out.push(c),
    }
}

/// A path (shown lossily when not UTF-8) with its control characters escaped.
pub fn shown(path: &Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

/// `path` as one word for a POSIX shell: as is when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside as `'\''`). A path with control characters
/// is written with `$'...'` and escapes (bash, zsh, ksh and dash 0.5.12+ read it), so the hint
/// stays on one line and still names the directory.
pub fn quote(path: &Path) -> String {
    quote_str(&path.to_string_lossy())
}

/// [`quote`] for a string.
pub fn quote_str(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c);
    if !text.is_empty() && text.chars().all(plain) && !text.starts_with('-') {
        return text.to_string();
    }
    if text.chars().any(is_control) {
        let mut out = String::from("$'");
        for c in text.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                c => push_escaped(&mut out, c),
            }
        }
        out.push('\'');
        return out;
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            escape("/home/me/prøjekt ü/.venv"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn controls_like_ls_b() {
        assert_eq!(escape("a\nok /fake/venv"), "a\\nok /fake/venv");
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\033]0;pwned\\a");
        assert_eq!(escape("x\u{9b}2J"), "x\\302\\2332J");
        assert_eq!(escape("tab\there\r\x7f"), "tab\\there\\r\\177");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(Path::new("/home/me/.venv")), "/home/me/.venv");
        assert_eq!(
            quote(Path::new("/home/me/sp ace/prøjekt ü/.venv")),
            "'/home/me/sp ace/prøjekt ü/.venv'"
        );
        assert_eq!(quote(Path::new("/it's")), "'/it'\\''s'");
        assert_eq!(quote(Path::new("-rf")), "'-rf'");
        assert_eq!(quote(Path::new("")), "''");
        assert_eq!(quote(Path::new("/a\nb")), "$'/a\\nb'");
    }
}
