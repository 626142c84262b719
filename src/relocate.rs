//! Relocate: make a moved or copied venv work at its new path, in place, by rewriting the
//! files that name the old path, and nothing else.
//!
//! The planner side ([`relocation`]) lists every file that names the old venv directory:
//! console scripts in `bin/` (both shebang forms, uv's and setuptools' launchers), every
//! activator, `.pth`, `.egg-link` and editable-finder files and `direct_url.json` entries that
//! point into the old venv, and `pyvenv.cfg`'s `command`; each becomes one `rewrite` action
//! (pyenv-virtualenv's `versions/NAME` link, outside the venv, an `external-link`). The
//! executor side ([`rewrite`]) computes the new bytes of one file: only occurrences of the old
//! path that stand as a whole path (not `/old/venv2`) change, with the quoting each context
//! needs (a shebang that can no longer hold the path becomes pip's `/bin/sh` trampoline; an
//! unquoted shell word gets quotes). Binary files are never patched: the plan says "cannot
//! rewrite". Nothing here writes: the executor does, atomically, after its backup.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::plan::Action;
use crate::safe_read::{self, Follow};
use crate::scripts;
use crate::venv::{Venv, is_interpreter_name};

/// Files larger than this are not read: no script or activator is anywhere near it.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The kernel's (and pip's) limit for a `#!` line; longer ones need the trampoline.
const MAX_SHEBANG: usize = 127;

/// What a relocation changes, and what it cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relocation {
    /// `rewrite` actions in path order, then the `external-link` of pyenv-virtualenv's
    /// `versions/NAME` when it still names the old path, then a `config` action for `command`.
    pub actions: Vec<Action>,
    /// Binary files that name the old path: never patched (relative paths).
    pub cannot_rewrite: Vec<PathBuf>,
}

/// Why a venv cannot be relocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelocateError {
    #[error(
        "the venv's path `{}` contains {what}, which venvfix cannot write into scripts safely",
        path.display()
    )]
    UnsafePath { path: PathBuf, what: String },
}

/// The path the venv's files should name: its root as the user named it, or canonical when
/// that path goes through `..`.
pub fn new_root(venv: &Venv) -> PathBuf {
    let has_dot_dot = venv
        .root
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir));
    if has_dot_dot {
        std::fs::canonicalize(&venv.root).unwrap_or_else(|_| venv.root.clone())
    } else {
        venv.root.clone()
    }
}

/// Plan the rewrite of every file in `venv` that names `from`, to name `to` instead.
pub fn relocation(venv: &Venv, from: &Path, to: &Path) -> Result<Relocation, RelocateError> {
    check_path(to)?;
    let mut out = Relocation::default();
    let mut files: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(venv.root.join("bin")) {
        for entry in entries.flatten() {
            if !is_interpreter_name(&entry.file_name())
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                files.push(entry.path());
            }
        }
    }
    for lib in &venv.lib_dirs {
        let site = lib.path.join("site-packages");
        let Ok(entries) = std::fs::read_dir(&site) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.as_bytes();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_file()
                && (name.ends_with(b".pth")
                    || name.ends_with(b".egg-link")
                    || (name.starts_with(b"__editable__") && name.ends_with(b".py")))
            {
                files.push(entry.path());
            } else if file_type.is_dir() && name.ends_with(b".dist-info") {
                let direct_url = entry.path().join("direct_url.json");
                if std::fs::symlink_metadata(&direct_url).is_ok_and(|m| m.is_file()) {
                    files.push(direct_url);
                }
            }
        }
    }
    files.sort();
    let (from_b, to_b) = (from.as_os_str().as_bytes(), to.as_os_str().as_bytes());
    for file in files {
        let Some(bytes) = read_bounded(&file) else {
            continue;
        };
        let rel = venv.relative(&file).to_path_buf();
        if scripts::is_binary(&bytes) {
            if !occurrences(&bytes, from_b).is_empty() {
                out.cannot_rewrite.push(rel);
            }
            continue;
        }
        if rewrite(&bytes, kind_of(&rel), from_b, to_b).is_some() {
            out.actions.push(Action::Rewrite {
                path: rel,
                from: from.to_path_buf(),
                to: to.to_path_buf(),
            });
        }
    }
    out.actions.extend(pyenv_link(&venv.root, from, to));
    if let Some(command) = venv.cfg().and_then(|c| c.get("command")) {
        let new = replace_plain(command.as_bytes(), from_b, to_b);
        if let Some(new) = new {
            out.actions.push(Action::Config {
                key: "command".into(),
                from: Some(command.to_string()),
                to: String::from_utf8_lossy(&new).into_owned(),
            });
        }
    }
    Ok(out)
}

/// A venv at `<root>/versions/X.Y.Z/envs/NAME` (pyenv-virtualenv) whose `<root>/versions/NAME`
/// link (absolute, as `ln -fsn` in pyenv-virtualenv writes it) still names `from`: the pyenv
/// root itself moved. The link is pointed at `to`, the venv (it lives outside the venv: the
/// executor backs it up and restores it like any entry). It is looked for where the venv really
/// is (a pyenv root reached through a linked directory is not written through it).
fn pyenv_link(root: &Path, from: &Path, to: &Path) -> Option<Action> {
    let root = std::fs::canonicalize(root).ok()?;
    let name = root.file_name()?;
    let envs = root.parent()?;
    let versions = envs.parent()?.parent()?;
    if envs.file_name()? != "envs" || versions.file_name()? != "versions" {
        return None;
    }
    let link = versions.join(name);
    let target = std::fs::read_link(&link).ok()?;
    (target == from).then(|| Action::ExternalLink {
        path: link,
        from: target,
        to: to.to_path_buf(),
    })
}

/// Refuse a new path that cannot be written into shell, Python and JSON text as it is.
fn check_path(to: &Path) -> Result<(), RelocateError> {
    let bad = to.as_os_str().as_bytes().iter().find_map(|b| match b {
        b'"' | b'\'' | b'\\' | b'$' | b'`' => Some(format!("`{}`", *b as char)),
        b if b.is_ascii_control() => Some("a control character".to_string()),
        _ => None,
    });
    match bad {
        Some(what) => Err(RelocateError::UnsafePath {
            path: to.to_path_buf(),
            what,
        }),
        None => Ok(()),
    }
}

/// How a file's text is quoted, which decides how a path is written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A `bin/` file other than a shell activator: its first line may be a shebang.
    Script,
    /// `activate`, `activate.csh`, `activate.fish`: shell words.
    Shell,
    /// `direct_url.json`: paths also appear as `file://` URLs, percent-encoded.
    Url,
    /// Anything else (`.pth`, `.egg-link`, Python, nushell, xonsh, PowerShell): written as is.
    Plain,
}

/// The kind of the venv file at relative path `rel`.
pub fn kind_of(rel: &Path) -> FileKind {
    let name = rel.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    let in_bin = rel.parent() == Some(Path::new("bin"));
    if name == b"direct_url.json" {
        FileKind::Url
    } else if in_bin && matches!(name, b"activate" | b"activate.csh" | b"activate.fish") {
        FileKind::Shell
    } else if in_bin && !name.starts_with(b"activate") {
        FileKind::Script
    } else {
        FileKind::Plain
    }
}

/// Read a regular file (never through a link, never more than [`MAX_FILE_BYTES`]).
pub fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    safe_read::read(path, MAX_FILE_BYTES, Follow::Never).ok()
}

/// Bytes that continue a path component: `/old/venv` is not in `/old/venv2` or `/old/venv.bak`.
fn continues_path(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._-~+@%".contains(&b)
}

/// Where `from` occurs in `bytes` as a whole path: not preceded by a path byte (except the
/// `/` of `file://`), not followed by one.
fn occurrences(bytes: &[u8], from: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    if from.is_empty() || bytes.len() < from.len() {
        return found;
    }
    let mut i = 0;
    while let Some(pos) = memchr_find(&bytes[i..], from) {
        let at = i + pos;
        let before_ok = match at.checked_sub(1).map(|j| bytes[j]) {
            None => true,
            Some(b'/') => bytes[..at].ends_with(b"file://"),
            Some(b) => !continues_path(b),
        };
        let after_ok = bytes
            .get(at + from.len())
            .is_none_or(|b| !continues_path(*b));
        if before_ok && after_ok {
            found.push(at);
            i = at + from.len();
        } else {
            i = at + 1;
        }
        if i >= bytes.len() {
            break;
        }
    }
    found
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut start = 0;
    while start + needle.len() <= haystack.len() {
        let pos = haystack[start..].iter().position(|b| *b == first)?;
        let at = start + pos;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

/// Replace every whole-path occurrence of `from` by `to`; `None` if there is none.
fn replace_plain(bytes: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    replace_with(bytes, from, |_, _| to.to_vec())
}

/// Replace each whole-path occurrence of `from`, at offset `at`, by `with(bytes, at)`.
fn replace_with(
    bytes: &[u8],
    from: &[u8],
    mut with: impl FnMut(&[u8], usize) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let found = occurrences(bytes, from);
    if found.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + 64);
    let mut last = 0;
    for at in found {
        out.extend_from_slice(&bytes[last..at]);
        out.extend(with(bytes, at));
        last = at + from.len();
    }
    out.extend_from_slice(&bytes[last..]);
    Some(out)
}

/// The new contents of a file of `kind` with the old venv path `from` written as `to`, or
/// `None` when the file does not name `from`. `to` must have passed [`relocation`]'s check.
pub fn rewrite(bytes: &[u8], kind: FileKind, from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    match kind {
        FileKind::Plain => replace_plain(bytes, from, to),
        FileKind::Url => {
            let (from_url, to_url) = (percent_encode(from), percent_encode(to));
            let once = replace_plain(bytes, from, to);
            let source = once.as_deref().unwrap_or(bytes);
            match (from_url != from)
                .then(|| replace_plain(source, &from_url, &to_url))
                .flatten()
            {
                Some(twice) => Some(twice),
                None => once,
            }
        }
        FileKind::Shell => {
            let needs_quotes = to.contains(&b' ');
            replace_with(bytes, from, |bytes, at| {
                if needs_quotes && !quoted_at(bytes, at) {
                    let mut word = b"'".to_vec();
                    word.extend_from_slice(to);
                    word.push(b'\'');
                    word
                } else {
                    to.to_vec()
                }
            })
        }
        FileKind::Script => rewrite_script(bytes, from, to),
    }
}

/// A script: the shebang line, if it names `from`, is rewritten so the kernel can still run
/// it (pip's trampoline when the new path has a space or the line gets too long); the rest of
/// the file is rewritten as is.
fn rewrite_script(bytes: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let line_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(bytes.len());
    let (first, rest) = bytes.split_at(line_end);
    let is_direct = first.starts_with(b"#!")
        && !first.starts_with(b"#!/bin/sh")
        && !occurrences(first, from).is_empty();
    if !is_direct {
        return replace_plain(bytes, from, to);
    }
    let new_first = replace_plain(first, from, to)?;
    let new_rest = replace_plain(rest, from, to).unwrap_or_else(|| rest.to_vec());
    let text = new_first[2..].trim_ascii();
    let end = interpreter_end(text, to);
    let (interpreter, args) = (&text[..end], text[end..].trim_ascii());
    let mut out = Vec::with_capacity(bytes.len() + 64);
    if interpreter.contains(&b' ') || new_first.len() > MAX_SHEBANG {
        // `#!/new path/bin/python` cannot be a shebang: write what pip writes instead.
        out.extend_from_slice(b"#!/bin/sh\n'''exec' \"");
        out.extend_from_slice(interpreter);
        out.extend_from_slice(b"\" ");
        if !args.is_empty() {
            out.extend_from_slice(args);
            out.push(b' ');
        }
        out.extend_from_slice(b"\"$0\" \"$@\"\n' '''");
    } else {
        out.extend_from_slice(&new_first);
    }
    out.extend_from_slice(&new_rest);
    Some(out)
}

/// Where the interpreter ends in a shebang's text (after `#!`): past the new root `to` if it
/// starts with it (it may hold spaces), then at the first space.
fn interpreter_end(text: &[u8], to: &[u8]) -> usize {
    let skip = if text.starts_with(to) { to.len() } else { 0 };
    text[skip..]
        .iter()
        .position(|b| *b == b' ' || *b == b'\t' || *b == b'\r')
        .map(|p| skip + p)
        .unwrap_or(text.len())
}

/// Whether offset `at` of a shell file is inside quotes on its line.
fn quoted_at(bytes: &[u8], at: usize) -> bool {
    let line_start = bytes[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let mut single = false;
    let mut double = false;
    let mut escaped = false;
    for &b in &bytes[line_start..at] {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if !single => escaped = true,
            b'\'' if !double => single = !single,
            b'"' if !single => double = !double,
            _ => {}
        }
    }
    single || double
}

/// A path as pip writes it in a `file://` URL (`urllib.parse.quote`, `/` kept).
fn percent_encode(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_alphanumeric() || b"/_.-~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(text: &str, kind: FileKind, from: &str, to: &str) -> Option<String> {
        rewrite(text.as_bytes(), kind, from.as_bytes(), to.as_bytes())
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn only_whole_paths_change() {
        let text = "/a/v\n/a/v/src/x\n/a/v2/src\n/a/v.bak\n/x/a/v\nfile:///a/v/src\n";
        assert_eq!(
            rw(text, FileKind::Plain, "/a/v", "/b/w").as_deref(),
            Some("/b/w\n/b/w/src/x\n/a/v2/src\n/a/v.bak\n/x/a/v\nfile:///b/w/src\n")
        );
        assert_eq!(rw("/a/v2\n", FileKind::Plain, "/a/v", "/b/w"), None);
    }

    #[test]
    fn direct_shebang_stays_direct_when_it_fits() {
        let script = "#!/a/v/bin/python3\n# -*- coding: utf-8 -*-\nimport re\n";
        assert_eq!(
            rw(script, FileKind::Script, "/a/v", "/b/w").as_deref(),
            Some("#!/b/w/bin/python3\n# -*- coding: utf-8 -*-\nimport re\n")
        );
    }

    #[test]
    fn shebang_becomes_the_trampoline_when_the_new_path_has_a_space_or_is_long() {
        let script = "#!/a/v/bin/python3\nimport re\n";
        assert_eq!(
            rw(script, FileKind::Script, "/a/v", "/b c/w").as_deref(),
            Some("#!/bin/sh\n'''exec' \"/b c/w/bin/python3\" \"$0\" \"$@\"\n' '''\nimport re\n")
        );
        let long = format!("/{}", "x".repeat(130));
        let out = rw(script, FileKind::Script, "/a/v", &long).unwrap();
        assert!(out.starts_with("#!/bin/sh\n'''exec' \"/xxx"), "{out}");
        let with_args = "#!/a/v/bin/python -E\nimport re\n";
        assert_eq!(
            rw(with_args, FileKind::Script, "/a/v", "/b c/w").as_deref(),
            Some("#!/bin/sh\n'''exec' \"/b c/w/bin/python\" -E \"$0\" \"$@\"\n' '''\nimport re\n")
        );
    }

    #[test]
    fn trampolines_keep_their_form() {
        let pip = "#!/bin/sh\n'''exec' \"/a b/v/bin/python3\" \"$0\" \"$@\"\n' '''\nimport re\n";
        assert_eq!(
            rw(pip, FileKind::Script, "/a b/v", "/c/w").as_deref(),
            Some("#!/bin/sh\n'''exec' \"/c/w/bin/python3\" \"$0\" \"$@\"\n' '''\nimport re\n")
        );
        let uv = "#!/bin/sh\n'''exec' '/a b/v/bin/python' \"$0\" \"$@\"\n' '''\n";
        assert_eq!(
            rw(uv, FileKind::Script, "/a b/v", "/c d/w").as_deref(),
            Some("#!/bin/sh\n'''exec' '/c d/w/bin/python' \"$0\" \"$@\"\n' '''\n")
        );
    }

    #[test]
    fn unquoted_shell_words_get_quotes_when_the_new_path_needs_them() {
        let activate = "if [ ! -d /a/v ]; then\n    VIRTUAL_ENV=/a/v\nfi\nX=\"/a/v\"\n";
        assert_eq!(
            rw(activate, FileKind::Shell, "/a/v", "/b c/w").as_deref(),
            Some("if [ ! -d '/b c/w' ]; then\n    VIRTUAL_ENV='/b c/w'\nfi\nX=\"/b c/w\"\n")
        );
        assert_eq!(
            rw(activate, FileKind::Shell, "/a/v", "/b/w").as_deref(),
            Some("if [ ! -d /b/w ]; then\n    VIRTUAL_ENV=/b/w\nfi\nX=\"/b/w\"\n")
        );
    }

    #[test]
    fn urls_are_percent_encoded() {
        let json = r#"{"url": "file:///a%20b/v/src/x", "dir_info": {"editable": true}}"#;
        assert_eq!(
            rw(json, FileKind::Url, "/a b/v", "/c d/w").as_deref(),
            Some(r#"{"url": "file:///c%20d/w/src/x", "dir_info": {"editable": true}}"#)
        );
    }

    #[test]
    fn unsafe_new_paths_are_refused() {
        assert!(check_path(Path::new("/a/it's")).is_err());
        assert!(check_path(Path::new("/a/$HOME")).is_err());
        assert!(check_path(Path::new("/a/b c")).is_ok());
    }

    #[test]
    fn kinds_by_path() {
        assert_eq!(kind_of(Path::new("bin/pip")), FileKind::Script);
        assert_eq!(kind_of(Path::new("bin/activate")), FileKind::Shell);
        assert_eq!(kind_of(Path::new("bin/activate.fish")), FileKind::Shell);
        assert_eq!(kind_of(Path::new("bin/activate.nu")), FileKind::Plain);
        assert_eq!(kind_of(Path::new("bin/activate_this.py")), FileKind::Plain);
        assert_eq!(
            kind_of(Path::new(
                "lib/python3.11/site-packages/x.dist-info/direct_url.json"
            )),
            FileKind::Url
        );
    }
}
