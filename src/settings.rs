//! The user's config file, `$XDG_CONFIG_HOME/venvfix/config.toml` (else
//! `~/.config/venvfix/config.toml`): defaults for the flags users repeat on every run.
//!
//! Only defaults live here: a flag on the command line always wins, and `--no-config` ignores
//! the file. The file is read once and whole (it is small and the user's own); a file that is
//! not valid TOML, or has a key venvfix does not know, is an error naming the file, the line and
//! the column, never silently ignored: a typo in `ofline = true` must not mean "online".
//!
//! ```toml
//! strategy = "relink"                 # repair's default --strategy
//! offline = true                      # repair --offline
//! find-links = ["~/wheels"]           # repair --find-links, each
//! known-homes = ["~/venvs", "/srv/venvs"]   # more places --known searches
//! ```
//!
//! Paths may start with `~/`; relative paths are relative to the file's directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The largest config file read: it is a handful of lines, never a data file.
const MAX_BYTES: u64 = 1 << 20;

/// The defaults the config file sets; everything absent is `None` or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The file these came from (`None` when there is none).
    pub file: Option<PathBuf>,
    /// `strategy = "..."`, as written, with where it is (checked by the CLI, which knows the
    /// strategies).
    pub strategy: Option<Located<String>>,
    /// `offline = true|false`.
    pub offline: Option<bool>,
    /// `find-links = [...]`, resolved.
    pub find_links: Vec<PathBuf>,
    /// `known-homes = [...]`, resolved.
    pub known_homes: Vec<PathBuf>,
}

/// A value with the line and column (1-based) it was written at, for errors about its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    pub line: usize,
    pub column: usize,
}

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file `{}` is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("the config file `{}` is larger than {MAX_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("`{}` line {line}, column {column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    strategy: Option<toml::Spanned<String>>,
    offline: Option<bool>,
    #[serde(default)]
    find_links: Vec<String>,
    #[serde(default)]
    known_homes: Vec<String>,
}

/// Where the config file is: `$XDG_CONFIG_HOME/venvfix/config.toml` when that variable is an
/// absolute path, else `$HOME/.config/venvfix/config.toml`; `None` with neither.
pub fn default_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".config"))
    };
    xdg.or_else(home)
        .map(|dir| dir.join("venvfix").join("config.toml"))
}

impl Settings {
    /// Read the config file at its default place; no file is no settings, not an error.
    pub fn load() -> Result<Settings, SettingsError> {
        match default_path() {
            Some(path) => Settings::read(&path),
            None => Ok(Settings::default()),
        }
    }

    /// Read `path`; a missing file is no settings.
    pub fn read(path: &Path) -> Result<Settings, SettingsError> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        // A FIFO or a device would hang or never end; the file is the user's, but still.
        if !meta.is_file() {
            return Err(SettingsError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        if meta.len() > MAX_BYTES {
            return Err(SettingsError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Settings::parse(&text, path)
    }

    /// Parse the text of the file at `path` (used for error messages and relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            SettingsError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |list: Vec<String>| list.iter().map(|p| resolve_path(p, base)).collect();
        Ok(Settings {
            file: Some(path.to_path_buf()),
            strategy: raw.strategy.map(|s| {
                let (line, column) = line_column(text, s.span().start);
                Located {
                    value: s.into_inner(),
                    line,
                    column,
                }
            }),
            offline: raw.offline,
            find_links: resolve(raw.find_links),
            known_homes: resolve(raw.known_homes),
        })
    }
}

/// `~/x` under `$HOME`, absolute as is, anything else under `base`.
fn resolve_path(text: &str, base: &Path) -> PathBuf {
    if let Some(rest) = text.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = Path::new(text);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(text, Path::new("/cfg/venvfix/config.toml"))
    }

    #[test]
    fn every_key() {
        let s = parse(
            "strategy = \"relink\"\noffline = true\nfind-links = [\"/w\", \"rel\"]\n\
             known-homes = [\"/srv/venvs\"]\n",
        )
        .unwrap();
        assert_eq!(s.strategy.as_ref().unwrap().value, "relink");
        assert_eq!(
            (
                s.strategy.as_ref().unwrap().line,
                s.strategy.unwrap().column
            ),
            (1, 12)
        );
        assert_eq!(s.offline, Some(true));
        assert_eq!(
            s.find_links,
            [PathBuf::from("/w"), PathBuf::from("/cfg/venvfix/rel")]
        );
        assert_eq!(s.known_homes, [PathBuf::from("/srv/venvs")]);
    }

    #[test]
    fn empty_file_is_no_settings() {
        let s = parse("").unwrap();
        assert_eq!(s.strategy, None);
        assert_eq!(s.offline, None);
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse("offline = true\nstrategy = relink\n").unwrap_err();
        match e {
            SettingsError::Invalid { line, column, .. } => assert_eq!((line, column), (2, 12)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_key_is_an_error_not_ignored() {
        let e = parse("ofline = true\n").unwrap_err().to_string();
        assert!(e.contains("line 1, column 1"), "{e}");
        assert!(e.contains("ofline"), "{e}");
    }

    #[test]
    fn wrong_type_is_an_error() {
        let e = parse("offline = \"yes\"\n").unwrap_err().to_string();
        assert!(e.contains("line 1, column 11"), "{e}");
    }
}
