//! Tools' own records of a venv, kept consistent with the Python the venv runs on.
//!
//! Several tools remember which Python a venv was made with, in a file of their own, and act on
//! that memory later (REFERENCE.md "Tools' own records of a venv"): pipx's
//! `pipx_metadata.json` (`python_version`, `source_interpreter`: what `pipx list` prints and
//! what `pipx reinstall` reuses), uv's `uv-receipt.toml` (`[tool] python`: the request
//! `uv tool upgrade` reinstalls with), tox's `.tox/<env>/.tox-info.json` (the base's `executable`
//! and `version_info`: any difference from what tox finds makes it rebuild the env), and
//! pyenv-virtualenv's `versions/NAME` link to `versions/X.Y.Z/envs/NAME`. A relink or a recreate
//! that leaves these behind makes the tool undo the repair or lie about the venv.
//!
//! This module finds the records of one venv and says, as [`RecordEdit`]s (data, shown in the
//! plan), which fields must change for a new base; [`render`] produces the new file text from
//! the current one, changing only those fields' values and keeping every other byte, and refuses
//! when a field no longer holds the value the edit was planned from (a stale plan). It never
//! writes: the executor (relink) and the recreate builder write the text atomically.
//! pyenv-virtualenv's link, outside the venv, is only reported here, as a [`Note`]: a relink
//! or a recreate keeps the venv's path, so the link still leads to it; when the whole pyenv
//! root moved, the relocation points the link at the venv ([`crate::relocate`]).
//! Reads go through [`crate::safe_read`]: bounded, non-blocking, regular files only, never
//! through a symlink.

use std::fs;
use std::io::Read;
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::safe_read::{self, Follow};
use crate::version::PythonVersion;

/// No tool's record is anywhere near this size; a bigger file is not one of them.
const MAX_RECORD_BYTES: u64 = 4 << 20;

/// A tool that keeps a record of the venvs it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Pipx,
    /// `uv tool install`.
    UvTool,
    Tox,
    PyenvVirtualenv,
}

impl Tool {
    /// The name used in output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::Pipx => "pipx",
            Tool::UvTool => "uv-tool",
            Tool::Tox => "tox",
            Tool::PyenvVirtualenv => "pyenv-virtualenv",
        }
    }

    /// The record's file name inside the venv root, for the tools that keep one there.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Tool::Pipx => Some("pipx_metadata.json"),
            Tool::UvTool => Some("uv-receipt.toml"),
            Tool::Tox => Some(".tox-info.json"),
            Tool::PyenvVirtualenv => None,
        }
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Python a venv is (or will be) based on, as the records must name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBase {
    /// The path the venv links to (the installation's most stable alias).
    pub link: PathBuf,
    /// The installation's canonical executable (what tox resolves its base to).
    pub executable: PathBuf,
    pub version: PythonVersion,
}

impl NewBase {
    /// The base a plan moves a venv to: `link` is the path written into the venv.
    pub fn new(link: &Path, executable: &Path, version: PythonVersion) -> NewBase {
        NewBase {
            link: link.to_path_buf(),
            executable: executable.to_path_buf(),
            version,
        }
    }
}

/// One field of a record to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field as the tool names it (`python_version`, `Python.executable`, `tool.python`).
    pub key: String,
    /// Its current value, as text (JSON for non-strings).
    pub from: String,
    pub to: String,
}

/// The changes one record needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordEdit {
    pub tool: Tool,
    /// The record file, relative to the venv root.
    pub path: PathBuf,
    pub changes: Vec<FieldChange>,
}

/// Something about a tool's record that venvfix leaves as it is, and what it means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub tool: Tool,
    /// The file or link it is about (absolute).
    pub path: PathBuf,
    pub message: String,
}

/// What [`edits`] found for one venv.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Records {
    /// The tools with a record of this venv.
    pub tools: Vec<Tool>,
    pub edits: Vec<RecordEdit>,
    pub notes: Vec<Note>,
}

/// Why a record could not be read or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("could not read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a regular file (venvfix reads and writes no links, FIFOs or devices)", path.display())]
    NotRegular { path: PathBuf },
    #[error("`{}` is larger than {MAX_RECORD_BYTES} bytes; it is not a {tool} record", path.display())]
    TooLarge { path: PathBuf, tool: Tool },
    #[error("`{}` cannot be parsed as {tool}'s record: {why}", path.display())]
    Unreadable {
        path: PathBuf,
        tool: Tool,
        why: String,
    },
    #[error("`{}` changed since the plan was made: `{key}` is `{current}`, the plan expected `{expected}`", path.display())]
    Stale {
        path: PathBuf,
        key: String,
        current: String,
        expected: String,
    },
}

/// The records venvfix keeps consistent, found in `root`, and the changes each needs so that it
/// names `base`. A record that cannot be read becomes a [`Note`] (a bad record never stops a
/// repair; the tool itself will complain about it).
pub fn edits(root: &Path, base: &NewBase) -> Records {
    let mut records = Records::default();
    for tool in [Tool::Pipx, Tool::UvTool, Tool::Tox] {
        let Some(name) = tool.file_name() else {
            continue;
        };
        let path = root.join(name);
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        records.tools.push(tool);
        let changes =
            read_record(&path, tool).and_then(|text| changes_for(tool, &path, &text, base));
        match changes {
            Ok(changes) if changes.is_empty() => {}
            Ok(changes) => records.edits.push(RecordEdit {
                tool,
                path: PathBuf::from(name),
                changes,
            }),
            Err(error) => records.notes.push(Note {
                tool,
                path,
                message: format!("{error}; it is left as it is"),
            }),
        }
    }
    if let Some(note) = pyenv_virtualenv(root, base) {
        records.tools.push(Tool::PyenvVirtualenv);
        records.notes.extend(note);
    }
    records
}

/// The new text of the record `edit` is about, from its current `text`: only the edited fields'
/// values change. [`RecordError::Stale`] if a field no longer holds the edit's `from`.
pub fn render(edit: &RecordEdit, path: &Path, text: &str) -> Result<String, RecordError> {
    let mut out = text.to_string();
    for change in &edit.changes {
        let (span, current) = locate(edit.tool, path, &out, &change.key)?;
        if current != change.from {
            return Err(RecordError::Stale {
                path: path.to_path_buf(),
                key: change.key.clone(),
                current,
                expected: change.from.clone(),
            });
        }
        let value = encode(edit.tool, &change.key, &change.to);
        out.replace_range(span, &value);
    }
    Ok(out)
}

/// A record's new contents and mode, ready to be written atomically over `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Absolute path of the record.
    pub path: PathBuf,
    pub contents: String,
    pub mode: u32,
}

/// Read the record of `edit` under `root` and render its new contents (see [`render`]).
pub fn rewrite(root: &Path, edit: &RecordEdit) -> Result<Rewrite, RecordError> {
    let path = root.join(&edit.path);
    let (text, mode) = read_bounded(&path, edit.tool)?;
    let contents = render(edit, &path, &text)?;
    Ok(Rewrite {
        path,
        contents,
        mode,
    })
}

/// Every rewrite `root`'s records need for `base` (for a recreate, which applies them to the
/// new venv itself): [`edits`] then [`rewrite`] each. The notes are returned for the report.
pub fn rewrites(root: &Path, base: &NewBase) -> Result<(Vec<Rewrite>, Records), RecordError> {
    let records = edits(root, base);
    let rewrites = records
        .edits
        .iter()
        .map(|edit| rewrite(root, edit))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rewrites, records))
}

/// Which tool rebuilds this venv by itself when its base changes (tox, nox), so a batch repair
/// leaves it to that tool unless the user names it: `.tox/<env>` (or a `.tox-info.json`),
/// `.nox/<session>`.
pub fn rebuilt_by(root: &Path) -> Option<&'static str> {
    let parent = root.parent().and_then(Path::file_name);
    if parent.is_some_and(|p| p == ".tox")
        || fs::symlink_metadata(root.join(".tox-info.json")).is_ok()
    {
        return Some("tox");
    }
    if parent.is_some_and(|p| p == ".nox") {
        return Some("nox");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// What each tool's record must say

fn changes_for(
    tool: Tool,
    path: &Path,
    text: &str,
    base: &NewBase,
) -> Result<Vec<FieldChange>, RecordError> {
    let mut wanted: Vec<(&str, String)> = Vec::new();
    match tool {
        Tool::Pipx => {
            // What `python --version` prints, which is what pipx stores.
            wanted.push(("python_version", format!("Python {}", base.version)));
            wanted.push(("source_interpreter", base.link.display().to_string()));
        }
        Tool::Tox => {
            // tox compares the canonical path of the base it resolves and its version_info.
            wanted.push(("Python.executable", base.executable.display().to_string()));
            wanted.push(("Python.version_info", version_info_json(&base.version)));
        }
        Tool::UvTool => {
            let Ok((_, current)) = locate(tool, path, text, "tool.python") else {
                return Ok(Vec::new()); // No `python` request: uv picks one itself.
            };
            if let Some(to) = uv_python_request(&current, base) {
                wanted.push(("tool.python", to));
            }
        }
        Tool::PyenvVirtualenv => {}
    }
    let mut changes = Vec::new();
    for (key, to) in wanted {
        let current = match locate(tool, path, text, key) {
            Ok((_, current)) => current,
            // pipx before 1.1 wrote no `source_interpreter`; nothing to keep consistent.
            Err(RecordError::Unreadable { .. }) if key == "source_interpreter" => continue,
            Err(error) => return Err(error),
        };
        if current == "null" && key == "source_interpreter" {
            continue;
        }
        if current != to {
            changes.push(FieldChange {
                key: key.to_string(),
                from: current,
                to,
            });
        }
    }
    Ok(changes)
}

/// The `python` request uv will reinstall with, if the current one no longer leads to `base`:
/// a path is replaced by the base's stable path; a version the base does not satisfy by the
/// base's minor. A request `base` satisfies (`3.12`, `>=3.10`, a name) is the user's and stays.
fn uv_python_request(current: &str, base: &NewBase) -> Option<String> {
    if current.contains('/') {
        let leads_to_base = fs::canonicalize(current).is_ok_and(|c| c == base.executable);
        return (!leads_to_base).then(|| base.link.display().to_string());
    }
    let version: PythonVersion = current
        .strip_prefix("cpython@")
        .or_else(|| current.strip_prefix("cpython-"))
        .unwrap_or(current)
        .parse()
        .ok()?;
    let satisfied =
        version.same_minor(&base.version) && (version.patch.is_none() || version == base.version);
    (!satisfied).then(|| base.version.short())
}

/// `sys.version_info` as tox stores it: `[3, 11, 2, "final", 0]`.
fn version_info_json(version: &PythonVersion) -> String {
    use crate::version::PreRelease;
    let (level, serial) = match version.pre {
        None => ("final", 0),
        Some(PreRelease::Alpha(n)) => ("alpha", n),
        Some(PreRelease::Beta(n)) => ("beta", n),
        Some(PreRelease::Candidate(n)) => ("candidate", n),
    };
    format!(
        "[{}, {}, {}, \"{level}\", {serial}]",
        version.major,
        version.minor,
        version.patch.unwrap_or(0)
    )
}

/// pyenv-virtualenv keeps `versions/X.Y.Z/envs/NAME` and a link `versions/NAME` to it. What a
/// user must know about the link is noted here; only a relocation changes it.
fn pyenv_virtualenv(root: &Path, base: &NewBase) -> Option<Vec<Note>> {
    let name = root.file_name()?;
    let envs = root.parent()?;
    if envs.file_name()? != "envs" {
        return None;
    }
    let prefix = envs.parent()?;
    let versions = prefix.parent()?;
    if versions.file_name()? != "versions" {
        return None;
    }
    let link = versions.join(name);
    let mut notes = Vec::new();
    match fs::read_link(&link) {
        Ok(target) => {
            let resolved = versions.join(&target);
            let same = fs::canonicalize(&resolved)
                .ok()
                .zip(fs::canonicalize(root).ok())
                .is_some_and(|(a, b)| a == b);
            if !same {
                notes.push(Note {
                    tool: Tool::PyenvVirtualenv,
                    path: link.clone(),
                    message: format!(
                        "pyenv's `{}` leads to `{}`, not to this venv; `pyenv activate {}` \
                         starts another environment",
                        link.display(),
                        target.display(),
                        name.to_string_lossy()
                    ),
                });
            }
        }
        Err(_) => notes.push(Note {
            tool: Tool::PyenvVirtualenv,
            path: link.clone(),
            message: format!(
                "pyenv's link `{}` is missing, so pyenv does not list this venv by its name",
                link.display()
            ),
        }),
    }
    let version_dir = prefix.file_name()?.to_string_lossy().into_owned();
    // The executable is canonical: so must the version dir be, or a root reached through a
    // linked dir (`~/.pyenv -> /data/pyenv`) never contains the Python it runs on.
    let canonical_prefix = fs::canonicalize(prefix).unwrap_or_else(|_| prefix.to_path_buf());
    if !base.executable.starts_with(&canonical_prefix) {
        notes.push(Note {
            tool: Tool::PyenvVirtualenv,
            path: root.to_path_buf(),
            message: format!(
                "the venv lives inside pyenv's `{version_dir}` directory but runs on Python {}: \
                 `pyenv uninstall {version_dir}` deletes it",
                base.version
            ),
        });
    }
    Some(notes)
}

// ---------------------------------------------------------------------------------------------
// Reading and locating fields without reformatting the file

fn read_record(path: &Path, tool: Tool) -> Result<String, RecordError> {
    read_bounded(path, tool).map(|(text, _)| text)
}

/// A regular file's text and permission bits, read by [`safe_read`] without following a link
/// (venvfix rewrites these files) and at most [`MAX_RECORD_BYTES`].
fn read_bounded(path: &Path, tool: Tool) -> Result<(String, u32), RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = safe_read::open_regular(path, Follow::Never).map_err(|e| match e {
        safe_read::ReadError::NotRegular { .. } | safe_read::ReadError::Special { .. } => {
            RecordError::NotRegular {
                path: path.to_path_buf(),
            }
        }
        other => io(other.into_io()),
    })?;
    let meta = file.metadata().map_err(io)?;
    if meta.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge {
            path: path.to_path_buf(),
            tool,
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge {
            path: path.to_path_buf(),
            tool,
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| RecordError::Unreadable {
        path: path.to_path_buf(),
        tool,
        why: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    Ok((text, meta.permissions().mode() & 0o7777))
}

/// Where the value of `key` is in `text`, and that value as [`FieldChange`] text.
fn locate(
    tool: Tool,
    path: &Path,
    text: &str,
    key: &str,
) -> Result<(Range<usize>, String), RecordError> {
    let unreadable = |why: String| RecordError::Unreadable {
        path: path.to_path_buf(),
        tool,
        why,
    };
    match tool {
        Tool::Pipx | Tool::Tox => {
            let doc: serde_json::Value =
                serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
            let mut keys: Vec<&str> = key.split('.').collect();
            // pipx stores paths as `{"__Path__": "...", "__type__": "Path"}`.
            let pointer = format!("/{}", keys.join("/"));
            if doc
                .pointer(&pointer)
                .and_then(|v| v.get("__Path__"))
                .is_some()
            {
                keys.push("__Path__");
            }
            let span = json_value_span(text, &keys)
                .ok_or_else(|| unreadable(format!("it has no `{key}`")))?;
            let value: serde_json::Value =
                serde_json::from_str(&text[span.clone()]).map_err(|e| unreadable(e.to_string()))?;
            let shown = match &value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => {
                    let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
                    format!("[{}]", items.join(", "))
                }
                other => other.to_string(),
            };
            Ok((span, shown))
        }
        Tool::UvTool => {
            let (table, name) = key
                .rsplit_once('.')
                .ok_or_else(|| unreadable(format!("no `{key}`")))?;
            toml_string_span(text, table, name)
                .ok_or_else(|| unreadable(format!("it has no string `{key}`")))
        }
        Tool::PyenvVirtualenv => Err(unreadable("a link, not a file".into())),
    }
}

/// `to` written the way the record's format needs it.
fn encode(tool: Tool, key: &str, to: &str) -> String {
    match tool {
        Tool::Tox if key == "Python.version_info" => to.to_string(),
        Tool::Pipx | Tool::Tox => serde_json::Value::String(to.to_string()).to_string(),
        Tool::UvTool => toml_basic_string(to),
        Tool::PyenvVirtualenv => to.to_string(),
    }
}

/// The byte range of the value at `keys` (object keys from the top) in JSON `text`.
fn json_value_span(text: &str, keys: &[&str]) -> Option<Range<usize>> {
    let mut scanner = JsonScanner {
        bytes: text.as_bytes(),
        at: 0,
    };
    scanner.space();
    scanner.find(keys)
}

/// Just enough of a JSON reader to find a value's bytes; the text was validated by serde_json.
struct JsonScanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl JsonScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.space();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// The value at the cursor (after whitespace), at `keys` below it.
    fn find(&mut self, keys: &[&str]) -> Option<Range<usize>> {
        self.space();
        let Some((first, rest)) = keys.split_first() else {
            let start = self.at;
            self.skip_value()?;
            return Some(start..self.at);
        };
        self.eat(b'{')?;
        loop {
            self.space();
            if self.peek() == Some(b'}') {
                return None;
            }
            let key_start = self.at;
            self.skip_string()?;
            let key: String = serde_json::from_slice(&self.bytes[key_start..self.at]).ok()?;
            self.eat(b':')?;
            if key == *first {
                return self.find(rest);
            }
            self.space();
            self.skip_value()?;
            self.space();
            self.eat(b',')?;
        }
    }

    fn skip_string(&mut self) -> Option<()> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' => self.at += 1,
                b'"' => return Some(()),
                _ => {}
            }
        }
        None
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(b) = self.peek() {
                    match b {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
                None
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

/// The byte range of the string value of `key = "..."` in the TOML `[table]` of `text`, and
/// the string itself. Only basic (`"..."`) and literal (`'...'`) one-line strings: what uv writes.
fn toml_string_span(text: &str, table: &str, key: &str) -> Option<(Range<usize>, String)> {
    let mut current = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            continue;
        }
        if current != table {
            continue;
        }
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        if name.trim() != key {
            continue;
        }
        let eq = line.find('=')?;
        let after = &line[eq + 1..];
        let lead = after.len() - after.trim_start().len();
        let value_start = start + eq + 1 + lead;
        let value = &text[value_start..];
        let (len, decoded) = toml_string_at(value)?;
        return Some((value_start..value_start + len, decoded));
    }
    None
}

/// A TOML one-line string at the start of `text`: its length in bytes and its value.
fn toml_string_at(text: &str) -> Option<(usize, String)> {
    let quote = text.chars().next()?;
    match quote {
        '\'' => {
            let end = text[1..].find('\'')?;
            Some((end + 2, text[1..end + 1].to_string()))
        }
        '"' => {
            let mut out = String::new();
            let mut chars = text.char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => return Some((i + 1, out)),
                    '\\' => match chars.next()?.1 {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        _ => return None, // \u escapes and the like: not from uv
                    },
                    '\n' => return None,
                    c => out.push(c),
                }
            }
            None
        }
        _ => None,
    }
}

/// `value` as a TOML basic string.
fn toml_basic_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> NewBase {
        NewBase::new(
            Path::new("/opt/homebrew/opt/python@3.11/bin/python3.11"),
            Path::new("/opt/homebrew/Cellar/python@3.11/3.11.7_1/bin/python3.11"),
            PythonVersion::new(3, 11, 7),
        )
    }

    const PIPX: &str = r#"{
    "injected_packages": {},
    "main_package": {"app_paths": [{"__Path__": "/v/bin/x", "__type__": "Path"}]},
    "pipx_metadata_version": "0.12",
    "python_version": "Python 3.11.2",
    "source_interpreter": {
        "__Path__": "/usr/bin/python3.11",
        "__type__": "Path"
    },
    "venv_args": []
}
"#;

    #[test]
    fn pipx_fields_change_and_nothing_else() {
        let path = Path::new("/v/pipx_metadata.json");
        let changes = changes_for(Tool::Pipx, path, PIPX, &base()).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].from, "Python 3.11.2");
        assert_eq!(changes[1].from, "/usr/bin/python3.11");
        let edit = RecordEdit {
            tool: Tool::Pipx,
            path: "pipx_metadata.json".into(),
            changes,
        };
        let out = render(&edit, path, PIPX).unwrap();
        let expected = PIPX.replace("Python 3.11.2", "Python 3.11.7").replace(
            "\"/usr/bin/python3.11\"",
            "\"/opt/homebrew/opt/python@3.11/bin/python3.11\"",
        );
        assert_eq!(out, expected);
        // Applying the same edit again finds the new values: stale.
        assert!(matches!(
            render(&edit, path, &out),
            Err(RecordError::Stale { .. })
        ));
    }

    #[test]
    fn old_pipx_without_source_interpreter() {
        let text = r#"{"python_version": "Python 3.11.2", "source_interpreter": null}"#;
        let changes = changes_for(Tool::Pipx, Path::new("m"), text, &base()).unwrap();
        assert_eq!(changes.len(), 1);
        let text = r#"{"python_version": "Python 3.11.2"}"#;
        let changes = changes_for(Tool::Pipx, Path::new("m"), text, &base()).unwrap();
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn tox_info_keeps_its_layout() {
        let text = "{\n  \"ToxEnv\": {\"name\": \"py\"},\n  \"Python\": {\n    \"version_info\": [\n      3,\n      11,\n      2,\n      \"final\",\n      0\n    ],\n    \"executable\": \"/usr/bin/python3.11\",\n    \"virtualenv version\": \"21\"\n  }\n}";
        let path = Path::new(".tox-info.json");
        let changes = changes_for(Tool::Tox, path, text, &base()).unwrap();
        let edit = RecordEdit {
            tool: Tool::Tox,
            path: path.into(),
            changes,
        };
        let out = render(&edit, path, text).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            doc["Python"]["version_info"],
            serde_json::json!([3, 11, 7, "final", 0])
        );
        assert_eq!(
            doc["Python"]["executable"],
            "/opt/homebrew/Cellar/python@3.11/3.11.7_1/bin/python3.11"
        );
        assert!(out.starts_with("{\n  \"ToxEnv\": {\"name\": \"py\"},\n"));
        assert_eq!(
            edit.changes[0].from, "/usr/bin/python3.11",
            "{:?}",
            edit.changes
        );
    }

    #[test]
    fn uv_receipt_python_request() {
        let text = "[tool]\nrequirements = [{ name = \"x\" }]\npython = \"/gone/bin/python3.11\"\nentrypoints = [\n    { name = \"x\", install-path = \"/b/x\", from = \"x\" },\n]\n";
        let path = Path::new("uv-receipt.toml");
        let changes = changes_for(Tool::UvTool, path, text, &base()).unwrap();
        assert_eq!(changes.len(), 1);
        let edit = RecordEdit {
            tool: Tool::UvTool,
            path: path.into(),
            changes,
        };
        let out = render(&edit, path, text).unwrap();
        assert_eq!(
            out,
            text.replace(
                "/gone/bin/python3.11",
                "/opt/homebrew/opt/python@3.11/bin/python3.11"
            )
        );
        // A version the base satisfies is the user's request and stays.
        let text = "[tool]\npython = \"3.11\"\n";
        assert!(
            changes_for(Tool::UvTool, path, text, &base())
                .unwrap()
                .is_empty()
        );
        // One it does not is moved to the base's minor.
        let text = "[tool]\npython = '3.10'\n";
        let changes = changes_for(Tool::UvTool, path, text, &base()).unwrap();
        assert_eq!(changes[0].to, "3.11");
        // No request: nothing to keep consistent.
        assert!(
            changes_for(Tool::UvTool, path, "[tool]\n", &base())
                .unwrap()
                .is_empty()
        );
        // A `python` key in another table is not the tool's.
        let text = "[tool.options]\npython = \"3.9\"\n";
        assert!(
            changes_for(Tool::UvTool, path, text, &base())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn json_spans() {
        let text = r#"{"a": {"b": [1, {"c": "}"}], "d": "x\"y"}, "e": null}"#;
        assert_eq!(
            &text[json_value_span(text, &["a", "d"]).unwrap()],
            r#""x\"y""#
        );
        assert_eq!(&text[json_value_span(text, &["e"]).unwrap()], "null");
        assert_eq!(json_value_span(text, &["z"]), None);
        assert_eq!(
            &text[json_value_span(text, &["a", "b"]).unwrap()],
            r#"[1, {"c": "}"}]"#
        );
    }

    #[test]
    fn toml_strings_round_trip() {
        for value in ["/p/bin/python", "a \"q\" \\ b", "tab\there"] {
            let encoded = toml_basic_string(value);
            assert_eq!(
                toml_string_at(&encoded),
                Some((encoded.len(), value.to_string()))
            );
        }
    }
}
