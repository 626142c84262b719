//! What a venv's own scripts say about where the venv lives: console scripts (both shebang
//! forms pip writes), activators (the `VIRTUAL_ENV` they set), and the `command` in
//! `pyvenv.cfg`; and from them, whether the venv was moved or copied ([`Moved`]).
//!
//! A venv's absolute path is baked into the files its creator and installers wrote. After a
//! `mv` or `cp -a` those files still name the old directory: console scripts run the old
//! venv's Python (nothing, or the original venv, which then receives every `pip install`), and
//! `activate` exports the old `VIRTUAL_ENV`. This module reads them, bounded and without
//! following anything but `lstat`/`read_dir`, and never runs them (DESIGN.md rule 2). Which old
//! directory is the venv's own is decided by what its creator wrote (`activate`), else by what
//! most of its console scripts name; a script that runs another venv on purpose, or
//! `/usr/bin/env python3`, is not the venv's and is left out.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::safe_read::{self, Follow};
use crate::venv::is_interpreter_name;

/// How many bytes of a script are read to find its interpreter or its `VIRTUAL_ENV`: pip's
/// `/bin/sh` trampoline is used precisely when the path is long, and virtualenv's `activate`
/// assigns `VIRTUAL_ENV` some 4 KiB in.
const HEAD_BYTES: usize = 64 * 1024;

/// How a console script names its interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShebangForm {
    /// `#!/abs/venv/bin/python` (optionally with arguments).
    Direct,
    /// `#!/bin/sh` then `'''exec' "/abs/venv/bin/python" "$0" "$@"`: what pip (and uv,
    /// virtualenv, with single quotes) write when the path is long or has spaces.
    Trampoline,
}

/// A script in `bin/` whose interpreter is a `python*` in some `<dir>/bin/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleScript {
    /// File name (`pip`), lossy for display.
    pub name: String,
    pub path: PathBuf,
    pub form: ShebangForm,
    /// The interpreter it runs, as written.
    pub interpreter: PathBuf,
    /// The venv directory that interpreter belongs to (`<dir>` of `<dir>/bin/python3`).
    pub root: PathBuf,
}

/// An `activate*` script and the venv directory it activates, when it names one literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activator {
    pub name: String,
    pub path: PathBuf,
    /// The `VIRTUAL_ENV` it sets; `None` when it computes it from its own location
    /// (`activate.ps1`, `activate_this.py`, uv `--relocatable`).
    pub virtual_env: Option<PathBuf>,
}

/// Where a moved or copied venv's scripts lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The directory the venv's files name instead of its own.
    pub from: PathBuf,
    /// `from` still exists and is a venv: this one is a copy, and its scripts act on `from`.
    pub original_exists: bool,
    /// Console scripts that run `from`'s Python (names, sorted).
    pub scripts: Vec<String>,
    /// Those of [`Moved::scripts`] whose interpreter does not exist (they cannot start).
    pub dead_scripts: Vec<String>,
    /// The `VIRTUAL_ENV` `bin/activate` sets, when it is `from`.
    pub activate: Option<PathBuf>,
}

impl Moved {
    /// What `check` says: where the scripts lead and what `activate` does.
    pub fn message(&self) -> String {
        let from = self.from.display();
        let mut text = if self.original_exists {
            format!("this venv is a copy of `{from}`, which still exists")
        } else {
            format!("the venv was moved from `{from}`, which no longer exists")
        };
        if !self.scripts.is_empty() {
            let dead = self.dead_scripts.len();
            let listed = list_names(&self.scripts);
            let n = self.scripts.len();
            let s = if n == 1 { "" } else { "s" };
            if self.original_exists && dead < n {
                text.push_str(&format!(
                    ": {n} console script{s} ({listed}) run `{from}`'s Python, so `pip install` \
                     here installs into `{from}`"
                ));
            } else {
                text.push_str(&format!(
                    ": {n} console script{s} ({listed}) run `{from}/bin/...`, which does not \
                     exist, so they fail with \"required file not found\""
                ));
            }
        }
        match &self.activate {
            Some(_) if self.original_exists => text.push_str(&format!(
                "; `bin/activate` sets VIRTUAL_ENV to `{from}` and puts `{from}/bin` on PATH: \
                 after activation the shell works in the original"
            )),
            Some(_) => text.push_str(&format!(
                "; `bin/activate` sets VIRTUAL_ENV to `{from}` and puts `{from}/bin` on PATH: \
                 after activation the shell silently runs whatever `python` comes next on PATH"
            )),
            None => {}
        }
        text
    }

    /// Whether some console script leads nowhere or into another existing venv (DESIGN.md:
    /// `moved-venv` is then an error).
    pub fn scripts_fail(&self) -> bool {
        !self.scripts.is_empty()
    }
}

/// The scripts side of a venv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scripts {
    /// Console scripts, sorted by name.
    pub console: Vec<ConsoleScript>,
    /// `activate*` scripts, sorted by name.
    pub activators: Vec<Activator>,
    /// Set when the venv's files name another directory as the venv.
    pub moved: Option<Moved>,
}

impl Scripts {
    /// Read `root/bin` (`cfg_command`: `pyvenv.cfg`'s `command`, whose last word is the
    /// directory the creator was asked to make).
    pub fn read(root: &Path, cfg_command: Option<&str>) -> Scripts {
        let mut scripts = Scripts::default();
        let Ok(entries) = std::fs::read_dir(root.join("bin")) else {
            return scripts;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if is_interpreter_name(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            let shown = name.to_string_lossy().into_owned();
            let Some(head) = read_head(&path) else {
                continue;
            };
            if name.as_bytes().starts_with(b"activate") {
                scripts.activators.push(Activator {
                    name: shown,
                    virtual_env: activator_root(&head),
                    path,
                });
            } else if let Some((form, interpreter)) = shebang(&head)
                && let Some(script_root) = venv_of(&interpreter)
            {
                scripts.console.push(ConsoleScript {
                    name: shown,
                    path,
                    form,
                    interpreter,
                    root: script_root,
                });
            }
        }
        scripts.console.sort_by(|a, b| a.name.cmp(&b.name));
        scripts.activators.sort_by(|a, b| a.name.cmp(&b.name));
        scripts.moved = moved(root, &scripts, cfg_command);
        scripts
    }

    /// The `VIRTUAL_ENV` `bin/activate` sets, if it names one.
    pub fn activate_root(&self) -> Option<&Path> {
        self.activators
            .iter()
            .find(|a| a.name == "activate")
            .and_then(|a| a.virtual_env.as_deref())
    }
}

/// Whether `other` names the venv at `root` (textually, or the same directory canonically).
fn is_same_dir(root: &Path, canonical_root: Option<&Path>, other: &Path) -> bool {
    other == root
        || std::fs::canonicalize(other)
            .is_ok_and(|c| canonical_root.is_some_and(|r| c.as_path() == r))
}

/// Whether `dir` can be the venv's former self: gone, or a venv (a `pyvenv.cfg` beside `bin/`).
/// `/usr` (from `#!/usr/bin/python3`) is neither.
fn could_be_old_venv(dir: &Path) -> bool {
    match std::fs::symlink_metadata(dir) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(_) => dir.join("pyvenv.cfg").is_file(),
    }
}

fn moved(root: &Path, scripts: &Scripts, cfg_command: Option<&str>) -> Option<Moved> {
    let canonical = std::fs::canonicalize(root).ok();
    let canonical = canonical.as_deref();
    // The creator's word first: what `activate` exports, then the last word of `command`.
    let creator_says = scripts
        .activate_root()
        .map(Path::to_path_buf)
        .or_else(|| command_root(cfg_command?));
    let from = match creator_says {
        Some(dir) if is_same_dir(root, canonical, &dir) => return None,
        Some(dir) => Some(dir),
        None => None,
    };
    // Else the directory most console scripts run (ties: the first by name).
    let from = from.or_else(|| {
        let mut counts: Vec<(&Path, usize)> = Vec::new();
        for s in &scripts.console {
            match counts.iter_mut().find(|(r, _)| *r == s.root.as_path()) {
                Some((_, n)) => *n += 1,
                None => counts.push((&s.root, 1)),
            }
        }
        let (best, _) = counts
            .into_iter()
            .rev()
            .max_by_key(|(_, n)| *n)
            .filter(|(r, _)| !is_same_dir(root, canonical, r))?;
        Some(best.to_path_buf())
    })?;
    if !could_be_old_venv(&from) {
        return None;
    }
    let original_exists = std::fs::symlink_metadata(&from).is_ok();
    let mine: Vec<&ConsoleScript> = scripts.console.iter().filter(|s| s.root == from).collect();
    let dead_scripts = mine
        .iter()
        .filter(|s| std::fs::metadata(&s.interpreter).is_err())
        .map(|s| s.name.clone())
        .collect();
    Some(Moved {
        activate: scripts
            .activate_root()
            .filter(|a| *a == from)
            .map(Path::to_path_buf),
        scripts: mine.iter().map(|s| s.name.clone()).collect(),
        dead_scripts,
        original_exists,
        from,
    })
}

/// The first bytes of a regular file, opened without following a link and without blocking.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    safe_read::read_head(path, HEAD_BYTES, Follow::Never).ok()
}

/// The interpreter a script names, in either form, or `None` (no shebang, `/usr/bin/env`).
pub fn shebang(head: &[u8]) -> Option<(ShebangForm, PathBuf)> {
    let rest = head.strip_prefix(b"#!")?;
    let mut lines = rest.split(|b| *b == b'\n');
    let first = lines.next()?.trim_ascii();
    let interpreter = first.split(|b| b.is_ascii_whitespace()).next()?;
    if interpreter == b"/bin/sh" {
        let second = lines.next()?;
        let quoted = second.strip_prefix(b"'''exec' ")?;
        let quote = *quoted.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let inner = &quoted[1..];
        let end = inner.iter().position(|b| *b == quote)?;
        let path = &inner[..end];
        return path.starts_with(b"/").then(|| {
            (
                ShebangForm::Trampoline,
                PathBuf::from(OsStr::from_bytes(path)),
            )
        });
    }
    (interpreter.starts_with(b"/")).then(|| {
        (
            ShebangForm::Direct,
            PathBuf::from(OsStr::from_bytes(interpreter)),
        )
    })
}

/// `<dir>` when `interpreter` is `<dir>/bin/python*`.
fn venv_of(interpreter: &Path) -> Option<PathBuf> {
    if !interpreter.file_name().is_some_and(is_interpreter_name) {
        return None;
    }
    let bin = interpreter.parent()?;
    if bin.file_name() != Some(OsStr::new("bin")) {
        return None;
    }
    bin.parent().map(Path::to_path_buf)
}

/// The venv directory an activator names literally: the value assigned to `VIRTUAL_ENV` (sh,
/// csh, fish), `virtual_env` (nushell), `_virtualenv_dir` (virtualenv's csh) or the path
/// xonsh's activator embeds. A value computed at run time (`$(cygpath ...)`, `$CURRENT_ENV`)
/// is skipped: the literal assignment comes later in the same file.
pub fn activator_root(head: &[u8]) -> Option<PathBuf> {
    const MARKERS: [&[u8]; 4] = [
        b"VIRTUAL_ENV",
        b"virtual_env",
        b"_virtualenv_dir",
        b"embedded_virtual_env",
    ];
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for line in head.split(|b| *b == b'\n') {
        let line = line.trim_ascii_start();
        if line.starts_with(b"#") {
            continue;
        }
        for marker in MARKERS {
            let Some(at) = find(line, marker) else {
                continue;
            };
            let before = at.checked_sub(1).map(|i| line[i]);
            let after = line.get(at + marker.len()).copied();
            if before.is_some_and(|b| ident(b) || b == b'$' || b == b'{')
                || !after.is_some_and(|b| b == b'=' || b == b' ' || b == b'\t')
            {
                continue;
            }
            if let Some(path) = first_path_literal(&line[at + marker.len()..]) {
                return Some(path);
            }
        }
    }
    None
}

/// The absolute path right after an assignment: `="/x"`, `='/x'`, `=/x`, ` "/x"`,
/// `= r#'/x'#`, ` = self._fs_path('/x'`; not `=$(cygpath "/x")` or `="$OTHER"`.
fn first_path_literal(rest: &[u8]) -> Option<PathBuf> {
    let start = rest.iter().position(|b| *b == b'/')?;
    let before = &rest[..start];
    let plain = before.iter().all(|b| b" \t=:'\"r#".contains(b));
    let call = before.ends_with(b"('") || before.ends_with(b"(\"");
    if before.contains(&b'$') || !(plain || call) {
        return None;
    }
    let quote = before
        .iter()
        .rev()
        .find(|b| **b == b'"' || **b == b'\'')
        .copied();
    let path = &rest[start..];
    let end = match quote {
        Some(q) => path.iter().position(|b| *b == q)?,
        None => path
            .iter()
            .position(|b| b.is_ascii_whitespace() || b";)".contains(b))
            .unwrap_or(path.len()),
    };
    let path = &path[..end];
    let path = path.strip_suffix(b"/").unwrap_or(path);
    (!path.is_empty()).then(|| PathBuf::from(OsStr::from_bytes(path)))
}

/// The directory a creator's `command` line made: its last word (`... -m venv /abs/venv`).
fn command_root(command: &str) -> Option<PathBuf> {
    let last = command.split_whitespace().last()?;
    last.starts_with('/')
        .then(|| PathBuf::from(last.trim_end_matches('/')))
}

/// `` `pip`, `pip3` and 4 more `` for a message.
fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Read just the file's head (a shebang, an activator's assignment): for callers outside the
/// model, such as verification, which must look at a script before running it.
pub fn read_script_head(path: &Path) -> Option<Vec<u8>> {
    read_head(path)
}

/// Whether a file is binary (a NUL byte in its first bytes): never rewritten.
pub fn is_binary(head: &[u8]) -> bool {
    head.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shebang_forms_are_read() {
        assert_eq!(
            shebang(b"#!/a/v/bin/python3\n# -*- coding: utf-8 -*-\n"),
            Some((ShebangForm::Direct, PathBuf::from("/a/v/bin/python3")))
        );
        assert_eq!(
            shebang(b"#!/a/v/bin/python -E\n"),
            Some((ShebangForm::Direct, PathBuf::from("/a/v/bin/python")))
        );
        assert_eq!(
            shebang(b"#!/bin/sh\n'''exec' \"/a b/v/bin/python3\" \"$0\" \"$@\"\n' '''\n"),
            Some((ShebangForm::Trampoline, PathBuf::from("/a b/v/bin/python3")))
        );
        assert_eq!(
            shebang(b"#!/bin/sh\n'''exec' '/a b/uv/bin/python' \"$0\" \"$@\"\n' '''\n"),
            Some((ShebangForm::Trampoline, PathBuf::from("/a b/uv/bin/python")))
        );
        assert_eq!(shebang(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(
            shebang(b"#!/usr/bin/env python3\n"),
            Some((ShebangForm::Direct, PathBuf::from("/usr/bin/env")))
        );
        assert_eq!(venv_of(Path::new("/usr/bin/env")), None);
        assert_eq!(
            venv_of(Path::new("/a/v/bin/python3.11")),
            Some("/a/v".into())
        );
        assert_eq!(shebang(b"import sys\n"), None);
    }

    #[test]
    fn activators_of_every_creator_name_their_venv() {
        let cases: [(&[u8], &str); 9] = [
            (b"VIRTUAL_ENV=\"/a/v\"\nexport VIRTUAL_ENV\n", "/a/v"),
            (b"        VIRTUAL_ENV=/a/vv\n", "/a/vv"),
            (b"VIRTUAL_ENV='/a b/uv'\n", "/a b/uv"),
            (b"setenv VIRTUAL_ENV \"/a/v\"\n", "/a/v"),
            (b"set -gx VIRTUAL_ENV '/a/v'\n", "/a/v"),
            (b"    let virtual_env = r#'/a/v'#\n", "/a/v"),
            (
                b"        VIRTUAL_ENV=$(cygpath \"/x\")\n        export VIRTUAL_ENV=\"/a/v\"\n",
                "/a/v",
            ),
            (b"set _virtualenv_dir='/a/v'\n", "/a/v"),
            (
                b"  self.embedded_virtual_env = self._fs_path('/a/v', required=True)\n",
                "/a/v",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                activator_root(text),
                Some(PathBuf::from(want)),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        // Computed from the script's own location: nothing literal.
        assert_eq!(
            activator_root(
                b"# VIRTUAL_ENV=/x\nexport PATH=\"$VIRTUAL_ENV/bin:$PATH\"\nVIRTUAL_ENV_PROMPT=\"/v\"\n"
            ),
            None
        );
    }

    #[test]
    fn command_names_the_dir_made() {
        assert_eq!(
            command_root("/usr/bin/python3 -m venv /a/v"),
            Some(PathBuf::from("/a/v"))
        );
        assert_eq!(command_root("/usr/bin/python3 -m venv v"), None);
    }
}
