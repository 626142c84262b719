//! `--python`, read the way uv reads it: a version (`3`, `3.12`, `3.12.1`), a path to an
//! interpreter (or to a prefix holding `bin/python3`), or a command name looked up on PATH
//! (`python3.12`, `pypy3`), a pyenv shim being followed to the interpreter it would run.
//!
//! What the user typed is resolved once, here, into a [`PythonRequest`] the planner takes: a
//! version some installed Python has, or the canonical path of an installation the inventory
//! knows (an interpreter outside the usual places is discovered in its own directory, with the
//! same rules: never inside a venv, never a script). A shim is followed by reading pyenv's
//! version files, never by running pyenv. Everything else is an error that says what was looked
//! at and what is installed instead.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use venvfix::inventory::{Installation, Inventory, InventoryOptions};
use venvfix::plan::PythonRequest;
use venvfix::version::PythonVersion;

/// Why `--python` names no installed Python: the message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonArgError {
    pub message: String,
    pub hint: String,
}

/// Resolve `text` against `inventory` (which may gain the installation a path names).
pub fn resolve(text: &str, inventory: &mut Inventory) -> Result<PythonRequest, PythonArgError> {
    let env = Env::from_process();
    let result = resolve_with(text, inventory, &env);
    result.map_err(|mut e| {
        // An empty search path is the cause of every "not found": name it.
        if env.search_path_empty {
            e.hint = "`VENVFIX_PYTHON_SEARCH_PATH` is set but empty, so no Python was \
                      discovered: unset it, or list the dirs that hold your Pythons"
                .to_string();
        }
        e
    })
}

/// What resolution reads from the environment, apart for tests.
struct Env {
    path: Option<OsString>,
    cwd: Option<PathBuf>,
    pyenv_root: Option<PathBuf>,
    pyenv_version: Option<String>,
    home: Option<PathBuf>,
    search_path_empty: bool,
}

impl Env {
    fn from_process() -> Env {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Env {
            path: std::env::var_os("PATH"),
            cwd: std::env::current_dir().ok(),
            pyenv_root: std::env::var_os("PYENV_ROOT")
                .filter(|r| !r.is_empty())
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".pyenv"))),
            pyenv_version: std::env::var("PYENV_VERSION")
                .ok()
                .filter(|v| !v.is_empty()),
            home,
            search_path_empty: InventoryOptions::from_env()
                .search_path
                .is_some_and(|dirs| dirs.is_empty()),
        }
    }
}

fn fail(message: String, hint: &str) -> PythonArgError {
    PythonArgError {
        message,
        hint: hint.to_string(),
    }
}

const LIST_HINT: &str = "`venvfix pythons` lists the Pythons venvfix found; `--python` also \
                         takes a path, a command on PATH, or a version like `3.12`";

fn resolve_with(
    text: &str,
    inventory: &mut Inventory,
    env: &Env,
) -> Result<PythonRequest, PythonArgError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(fail("`--python` is empty".into(), LIST_HINT));
    }
    if let Some(request) = by_version(text, inventory)? {
        return Ok(request);
    }
    let looks_like_path = text.contains('/') || text.starts_with('.') || text.starts_with('~');
    let path = if looks_like_path {
        let path = match (text.strip_prefix("~/"), &env.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(text),
        };
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(fail(
                format!("`--python {text}`: `{}` does not exist", path.display()),
                LIST_HINT,
            ));
        }
        if path.is_dir() {
            // A prefix (or a `bin/` dir): its `python3`.
            ["bin/python3", "python3", "bin/python"]
                .iter()
                .map(|name| path.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    fail(
                        format!("`--python {text}` is a directory without `bin/python3` in it"),
                        "give the interpreter itself, e.g. `~/python-3.8.11/bin/python3.8`",
                    )
                })?
        } else {
            path
        }
    } else {
        find_on_path(text, env.path.as_ref()).ok_or_else(|| {
            fail(
                format!("`--python {text}`: no command `{text}` on PATH"),
                LIST_HINT,
            )
        })?
    };
    let path = follow_pyenv_shim(&path, env).map_err(|why| fail(why, LIST_HINT))?;
    by_path(text, &path, inventory)
}

/// `3`, `3.12`, `3.12.1`: `None` when `text` is not a version at all.
fn by_version(text: &str, inventory: &Inventory) -> Result<Option<PythonRequest>, PythonArgError> {
    if let Ok(major) = text.parse::<u64>() {
        // The newest installed Python of that major (stable releases first).
        let newest = inventory
            .pythons
            .iter()
            .filter(|i| i.version.major == major)
            .max_by_key(|i| (i.version.pre.is_none(), i.version));
        return match newest {
            Some(i) => Ok(Some(PythonRequest::Path(i.path.clone()))),
            None => Err(fail(
                format!("`--python {text}`: no installed Python {major} was found"),
                LIST_HINT,
            )),
        };
    }
    let Ok(version) = text.parse::<PythonVersion>() else {
        return Ok(None);
    };
    let request = PythonRequest::Version(version);
    if inventory.pythons.iter().any(|i| request.accepts(i)) {
        return Ok(Some(request));
    }
    let same_minor: Vec<&Installation> = inventory
        .pythons
        .iter()
        .filter(|i| i.version.same_minor(&version))
        .collect();
    let message = if same_minor.is_empty() {
        let mut numbers: Vec<(u64, u64)> = inventory
            .pythons
            .iter()
            .map(|i| (i.version.major, i.version.minor))
            .collect();
        numbers.sort();
        numbers.dedup();
        let minors: Vec<String> = numbers.iter().map(|(x, y)| format!("{x}.{y}")).collect();
        let installed = if minors.is_empty() {
            "none was found".to_string()
        } else {
            format!("installed: {}", minors.join(", "))
        };
        format!("`--python {text}`: no installed Python {version} ({installed})")
    } else {
        let found: Vec<String> = same_minor
            .iter()
            .map(|i| format!("{} (`{}`)", i.version, i.path.display()))
            .collect();
        format!(
            "`--python {text}`: Python {version} is not installed; the installed {}.{} is {}",
            version.major,
            version.minor,
            found.join(", ")
        )
    };
    let hint = if same_minor.is_empty() {
        LIST_HINT.to_string()
    } else {
        format!(
            "`--python {}.{}` takes the installed one",
            version.major, version.minor
        )
    };
    Err(PythonArgError { message, hint })
}

/// The installation `path` is (discovered in its own dir when the inventory has not seen it).
fn by_path(
    text: &str,
    path: &Path,
    inventory: &mut Inventory,
) -> Result<PythonRequest, PythonArgError> {
    if let Some(found) = inventory.find(path) {
        return Ok(PythonRequest::Path(found.path.clone()));
    }
    if let Some(dir) = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let options = InventoryOptions {
            search_path: Some(vec![dir]),
            ..InventoryOptions::from_env()
        };
        for installation in Inventory::discover(&options).pythons {
            if !inventory
                .pythons
                .iter()
                .any(|i| i.path == installation.path)
            {
                inventory.pythons.push(installation);
            }
        }
        if let Some(found) = inventory.find(path) {
            return Ok(PythonRequest::Path(found.path.clone()));
        }
    }
    let shown = if text == path.to_string_lossy() {
        String::new()
    } else {
        format!(" (`{}`)", path.display())
    };
    Err(fail(
        format!(
            "`--python {text}`{shown} is not a Python installation (not an executable \
             interpreter outside a venv)"
        ),
        "give the interpreter of an installation, e.g. `~/python-3.8.11/bin/python3.8`",
    ))
}

/// `name` in the dirs of `path` (an executable file), like `which`.
fn find_on_path(name: &str, path: Option<&OsString>) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    which::which_in(name, path, cwd).ok()
}

/// A pyenv shim (`$PYENV_ROOT/shims/NAME`) as the interpreter it would run, read from pyenv's
/// version files (`PYENV_VERSION`, `.python-version` up from the current dir, then
/// `$PYENV_ROOT/version`); anything else as it is.
fn follow_pyenv_shim(path: &Path, env: &Env) -> Result<PathBuf, String> {
    let Some(root) = &env.pyenv_root else {
        return Ok(path.to_path_buf());
    };
    let shims = root.join("shims");
    let in_shims = path.parent().is_some_and(|dir| {
        dir == shims || std::fs::canonicalize(dir).ok() == std::fs::canonicalize(&shims).ok()
    });
    let Some(name) = path.file_name().filter(|_| in_shims) else {
        return Ok(path.to_path_buf());
    };
    let versions = pyenv_versions(root, env);
    for version in &versions {
        if version == "system" {
            // The first `NAME` on PATH that is not a shim.
            let rest: Option<OsString> = env.path.as_ref().and_then(|p| {
                let dirs = std::env::split_paths(p).filter(|d| d != &shims);
                std::env::join_paths(dirs).ok()
            });
            if let Some(found) = find_on_path(&name.to_string_lossy(), rest.as_ref()) {
                return Ok(found);
            }
            continue;
        }
        let candidate = root.join("versions").join(version).join("bin").join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "`{}` is a pyenv shim, and the pyenv version{} selected here ({}) {} no `{}`",
        path.display(),
        if versions.len() == 1 { "" } else { "s" },
        versions.join(", "),
        if versions.len() == 1 { "has" } else { "have" },
        name.to_string_lossy()
    ))
}

/// The pyenv versions selected for the current dir, in pyenv's order of precedence.
fn pyenv_versions(root: &Path, env: &Env) -> Vec<String> {
    let split = |text: &str| -> Vec<String> {
        text.split(|c: char| c == ':' || c.is_whitespace())
            .filter(|v| !v.is_empty() && !v.starts_with('#'))
            .map(String::from)
            .collect()
    };
    if let Some(version) = &env.pyenv_version {
        return split(version);
    }
    let mut files: Vec<PathBuf> = env
        .cwd
        .iter()
        .flat_map(|cwd| cwd.ancestors().map(|d| d.join(".python-version")))
        .collect();
    files.push(root.join("version"));
    for file in files {
        // A version file is a few short lines; a bigger one is not pyenv's.
        let small = std::fs::metadata(&file).is_ok_and(|m| m.is_file() && m.len() < 4096);
        if small && let Ok(text) = std::fs::read_to_string(&file) {
            let versions = split(&text);
            if !versions.is_empty() {
                return versions;
            }
        }
    }
    vec!["system".to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn env_with(root: &Path, path: &[&Path], version: Option<&str>) -> Env {
        Env {
            path: Some(std::env::join_paths(path).unwrap()),
            cwd: Some(root.to_path_buf()),
            pyenv_root: Some(root.join("pyenv")),
            pyenv_version: version.map(String::from),
            home: None,
            search_path_empty: false,
        }
    }

    fn executable(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_shim_is_followed_by_pyenv_version_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let shim = root.join("pyenv/shims/python3.9");
        executable(&shim);
        let real = root.join("pyenv/versions/3.9.18/bin/python3.9");
        executable(&real);
        let env = env_with(root, &[&root.join("pyenv/shims")], Some("3.9.18"));
        assert_eq!(follow_pyenv_shim(&shim, &env).unwrap(), real);
        // From `.python-version` when PYENV_VERSION is unset.
        std::fs::write(root.join(".python-version"), "3.12.1\n3.9.18\n").unwrap();
        let env = env_with(root, &[&root.join("pyenv/shims")], None);
        assert_eq!(follow_pyenv_shim(&shim, &env).unwrap(), real);
        // A version without that command is named in the error.
        let env = env_with(root, &[&root.join("pyenv/shims")], Some("3.12.1"));
        let e = follow_pyenv_shim(&shim, &env).unwrap_err();
        assert!(e.contains("(3.12.1) has no `python3.9`"), "{e}");
        // Not a shim: as is.
        assert_eq!(follow_pyenv_shim(&real, &env).unwrap(), real);
    }

    #[test]
    fn system_means_the_first_command_on_path_that_is_not_a_shim() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let shim = root.join("pyenv/shims/python3");
        executable(&shim);
        let system = root.join("usr/bin/python3");
        executable(&system);
        let env = env_with(
            root,
            &[&root.join("pyenv/shims"), &root.join("usr/bin")],
            Some("system"),
        );
        assert_eq!(follow_pyenv_shim(&shim, &env).unwrap(), system);
    }
}
