//! Which Python can take a venv's pins: the installer's own dry run, per candidate Python,
//! before anything is touched.
//!
//! A recreate onto a Python for which a pin has no wheel compiles it from source (minutes, or a
//! failure without a compiler), so the planner asks the installer first: `uv pip compile
//! --no-build` against each candidate interpreter, or that Python's pip with `install
//! --dry-run --only-binary=:all: --report`. Both honour `--find-links`, `--offline` and the
//! user's index configuration (environment and config files are passed through). A pin the
//! installer names as failing is recorded as needing a build (or as not available at all) and
//! the rest is checked again, so the answer names every such pin ([`Resolution`]). Seeds (pip,
//! setuptools, wheel) are checked at their versions, then at the nearest older one, then at any.
//!
//! What this module must never do: run anything from a venv (only installed Pythons found by
//! discovery and the user's installer run), write anywhere but the installer's own cache, or
//! block the plan when no installer is at hand (then the candidate is "not checked").

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::dists::normalize_name;
use crate::inventory::Installation;
use crate::plan::recreate::{Resolution, SpecOptions};

/// One requirement of a dry run, and how it is currently asked for.
#[derive(Debug, Clone)]
struct Line {
    name: String,
    /// The line given to the installer.
    text: String,
    seed: Option<SeedStep>,
}

/// How far a seed's version was relaxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeedStep {
    Exact,
    Older,
    Any,
}

/// The installer's dry run of `pins` (exact `Name==1.0` lines) and `seeds` (`(name, version)`)
/// on `python`.
pub fn resolve(
    python: &Installation,
    pins: &[String],
    seeds: &[(String, String)],
    options: &SpecOptions,
) -> Resolution {
    let mut resolution = Resolution {
        python: python.path.clone(),
        version: Some(python.version),
        pins: pins.len(),
        ..Resolution::default()
    };
    let uv = options
        .tools
        .uv
        .clone()
        .filter(|_| (python.version.major, python.version.minor) >= (3, 8));
    // pip's `--dry-run --report` came with pip 22.2; Python 2's last pip is 20.3.
    if python.version.major < 3 {
        resolution.tool = "pip".into();
        resolution.unchecked = Some(format!(
            "Python {}'s pip has no dry run (pip 20.3 is the last for Python 2)",
            python.version
        ));
        return resolution;
    }
    let pip = if uv.is_none() { pip_for(python) } else { None };
    resolution.tool = match (&uv, &pip) {
        (Some(_), _) => "uv".into(),
        (None, Some(_)) => "pip".into(),
        (None, None) => {
            resolution.unchecked = Some("neither uv nor a pip for this Python is installed".into());
            return resolution;
        }
    };
    let mut lines: Vec<Line> = pins
        .iter()
        .map(|p| Line {
            name: normalize_name(p.split("==").next().unwrap_or(p)),
            text: p.clone(),
            seed: None,
        })
        .chain(seeds.iter().map(|(name, version)| Line {
            name: normalize_name(name),
            text: format!("{name}=={version}"),
            seed: Some(SeedStep::Exact),
        }))
        .collect();
    // Each failure takes one line out (or relaxes a seed): at most this many runs.
    for _ in 0..=lines.len() * 3 {
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        let outcome = match (&uv, &pip) {
            (Some(uv), _) => run_uv(uv, python, &texts, options),
            (None, Some(pip)) => run_pip(python, pip, &texts, options),
            (None, None) => unreachable!("checked above"),
        };
        match outcome {
            Ok(resolved) => {
                for line in lines.iter().filter(|l| l.seed.is_some()) {
                    if let Some((_, v)) = resolved.iter().find(|(n, _)| *n == line.name) {
                        resolution.seeds.push((line.name.clone(), v.clone()));
                    }
                }
                return resolution;
            }
            Err(output) => {
                let failed = failed_requirement(&output);
                let Some(index) = failed.as_deref().and_then(|f| {
                    let wanted = requirement_name(f);
                    lines.iter().position(|l| l.name == wanted)
                }) else {
                    resolution.unchecked = Some(first_error(&output));
                    return resolution;
                };
                let line = &mut lines[index];
                match line.seed {
                    Some(SeedStep::Exact) => {
                        let version = line.text.split("==").nth(1).unwrap_or("").to_string();
                        line.text = format!("{}<={version}", line.name);
                        line.seed = Some(SeedStep::Older);
                    }
                    Some(SeedStep::Older) => {
                        line.text = line.name.clone();
                        line.seed = Some(SeedStep::Any);
                    }
                    Some(SeedStep::Any) => {
                        lines.remove(index);
                    }
                    None => {
                        let text = line.text.clone();
                        if output.iter().any(|l| is_not_found(l)) {
                            resolution.missing.push(text);
                        } else {
                            resolution.builds.push(text);
                        }
                        lines.remove(index);
                    }
                }
            }
        }
    }
    resolution.unchecked = Some("the installer kept failing".into());
    resolution
}

/// The output line says the project or version does not exist (rather than has no wheel).
/// uv says which; pip with `--only-binary` cannot tell (`from versions: none` either way), so
/// its failures count as needing a build.
fn is_not_found(line: &str) -> bool {
    line.contains("there is no version of")
        || line.contains("there are no versions of")
        || line.contains("was not found in")
        || line.contains("not found in the package registry")
}

/// `numpy==2.0.2` / `numpy` → `numpy` (normalised).
fn requirement_name(text: &str) -> String {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len());
    normalize_name(&text[..end])
}

fn first_error(output: &[String]) -> String {
    output
        .iter()
        .find(|l| l.contains("error") || l.contains("ERROR"))
        .or_else(|| output.last())
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "the installer failed without saying why".into())
}

/// How to run pip for `python`: its own (`-m pip`), else the pip wheel bundled with its
/// `ensurepip` (or Debian's `/usr/share/python-wheels`).
fn pip_for(python: &Installation) -> Option<Vec<String>> {
    let stdlib = python
        .prefix
        .join(format!("lib/python{}", python.version.short()));
    // Debian's pip lives outside the stdlib, in `dist-packages` shared by its Pythons.
    let has_pip = stdlib.join("site-packages/pip").is_dir()
        || (python.os_managed && Path::new("/usr/lib/python3/dist-packages/pip").is_dir());
    if has_pip {
        return Some(vec!["-m".into(), "pip".into()]);
    }
    let wheel = bundled_pip(python)?;
    Some(vec![format!("{}/pip", wheel.display())])
}

/// The pip wheel `ensurepip` would install for `python`.
pub fn bundled_pip(python: &Installation) -> Option<PathBuf> {
    let stdlib = python
        .prefix
        .join(format!("lib/python{}", python.version.short()));
    let dirs = [
        stdlib.join("ensurepip/_bundled"),
        PathBuf::from("/usr/share/python-wheels"),
    ];
    dirs.iter().find_map(|dir| {
        let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("pip-") && n.ends_with(".whl"))
            })
            .collect();
        wheels.sort();
        wheels.pop()
    })
}

/// The version of `name` in the pip wheel bundled with `python`, if any.
pub fn bundled_version(python: &Installation, name: &str) -> Option<String> {
    let wheel = bundled_pip(python)?;
    let dir = wheel.parent()?;
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let file = e.file_name().to_string_lossy().into_owned();
        let rest = file.strip_prefix(&format!("{name}-"))?;
        rest.split('-').next().map(str::to_string)
    })
}

/// A command with the user's installer configuration kept and nothing that would make the
/// Python read another Python's files.
pub fn installer_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for key in [
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "PYTHONEXECUTABLE",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "__PYVENV_LAUNCHER__",
    ] {
        command.env_remove(key);
    }
    command.stdin(Stdio::null());
    command
}

/// `uv pip compile --no-build --no-deps` of `lines` against `python`: the resolved
/// `(name, version)` pairs, or the output lines on failure.
fn run_uv(
    uv: &Path,
    python: &Installation,
    lines: &[&str],
    options: &SpecOptions,
) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut command = installer_command(uv);
    command
        .args([
            "pip",
            "compile",
            "-",
            "--no-build",
            "--no-deps",
            "--no-header",
        ])
        .args(["--no-annotate", "--quiet", "--python"])
        .arg(&python.path);
    for dir in &options.find_links {
        command.arg("--find-links").arg(dir);
    }
    if options.offline {
        command.arg("--offline");
    }
    let output = run_with_input(&mut command, lines)?;
    Ok(output
        .lines()
        .filter_map(|l| {
            let (name, version) = l.trim().split_once("==")?;
            Some((normalize_name(name), version.trim().to_string()))
        })
        .collect())
}

/// pip's `install --dry-run --only-binary=:all: --no-deps --report -` of `lines` with
/// `python`.
fn run_pip(
    python: &Installation,
    pip: &[String],
    lines: &[&str],
    options: &SpecOptions,
) -> Result<Vec<(String, String)>, Vec<String>> {
    let scratch = tempfile::Builder::new()
        .prefix("venvfix-resolve-")
        .tempdir()
        .map_err(|e| vec![format!("error: cannot make a temp dir: {e}")])?;
    let requirements = scratch.path().join("requirements.txt");
    std::fs::write(&requirements, lines.join("\n") + "\n").map_err(|e| {
        vec![format!(
            "error: cannot write {}: {e}",
            requirements.display()
        )]
    })?;
    let mut command = installer_command(&python.path);
    command.arg("-I").args(pip).args([
        "install",
        "--dry-run",
        "--ignore-installed",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--report",
        "-",
        "-r",
    ]);
    command.arg(&requirements);
    for dir in &options.find_links {
        command.arg("--find-links").arg(dir);
    }
    if options.offline {
        command.arg("--no-index");
    }
    let output = run_with_input(&mut command, &[])?;
    let report: serde_json::Value = serde_json::from_str(&output)
        .map_err(|e| vec![format!("error: pip's report is not JSON: {e}")])?;
    Ok(report["install"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let meta = &i["metadata"];
                    Some((
                        normalize_name(meta["name"].as_str()?),
                        meta["version"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Run `command` with `input` lines on stdin: stdout on success, every output line on failure.
fn run_with_input(command: &mut Command, input: &[&str]) -> Result<String, Vec<String>> {
    use std::io::Write;
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Programs venvfix starts die with it (DESIGN.md rule 6).
    crate::execute::children::contain(command);
    let mut child = command.spawn().map_err(|e| {
        vec![format!(
            "error: could not run `{}`: {e}",
            command.get_program().to_string_lossy()
        )]
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut text = input.join("\n");
        text.push('\n');
        // A child that exits early closes its stdin: its output says why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| vec![format!("error: waiting for the installer: {e}")])?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    Err(String::from_utf8_lossy(&output.stderr)
        .lines()
        .chain(stdout.lines())
        .map(str::to_string)
        .collect())
}

/// The requirement an installer's error output names: uv's `Because <req> ...` / `you require
/// <req>`, pip's `... satisfies the requirement <req>` / `No matching distribution found for
/// <req>`, or a `Failed to build `<req>``.
pub fn failed_requirement(lines: &[String]) -> Option<String> {
    let token = |text: &str| -> Option<String> {
        let word = text
            .split_whitespace()
            .next()?
            .trim_end_matches([',', '.', ';', ':']);
        (!word.is_empty()).then(|| word.to_string())
    };
    for line in lines {
        if let Some((_, rest)) = line.split_once("satisfies the requirement ") {
            return token(rest);
        }
        if let Some((_, rest)) = line.split_once("No matching distribution found for ") {
            return token(rest);
        }
    }
    for line in lines {
        if let Some((_, rest)) = line.split_once("Because ") {
            let rest = rest
                .trim_start_matches("there is no version of ")
                .trim_start_matches("there are no versions of ")
                .trim_start_matches("only ")
                .trim_start_matches("all versions of ");
            let because = token(rest)?;
            // `Because ghostpkg was not found ... and you require ghostpkg==4.2`: the pin is
            // in the second half.
            let required = line
                .split_once("you require ")
                .and_then(|(_, r)| token(r))
                .filter(|r| r.starts_with(&because));
            let bare = !because.contains(['=', '<', '>', '!', '~', '@']);
            return Some(match required {
                Some(r) if bare => r,
                _ => because,
            });
        }
    }
    for line in lines {
        if let Some((_, rest)) = line.split_once("Failed to ")
            && let Some((_, quoted)) = rest.split_once('`')
            && let Some((req, _)) = quoted.split_once('`')
        {
            return Some(req.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failed_requirement_is_read_from_installer_output() {
        let lines = |text: &str| text.lines().map(String::from).collect::<Vec<_>>();
        let uv = lines(
            "error: No solution found when resolving dependencies\n  cause: Because \
             markupsafe==2.1.5 has no wheels with a matching Python ABI tag (e.g., `cp312`) and \
             you require markupsafe==2.1.5, we can conclude that your requirements are \
             unsatisfiable.",
        );
        assert_eq!(
            failed_requirement(&uv).as_deref(),
            Some("markupsafe==2.1.5")
        );
        let uv = lines(
            "  cause: Because there is no version of tinyjson==9.9.9 and you require \
             tinyjson==9.9.9, we can conclude that your requirements are unsatisfiable.",
        );
        assert_eq!(failed_requirement(&uv).as_deref(), Some("tinyjson==9.9.9"));
        let uv = lines(
            "  cause: Because ghostpkg was not found in the cache and you require ghostpkg==4.2, \
             we can conclude that your requirements are unsatisfiable.",
        );
        assert_eq!(failed_requirement(&uv).as_deref(), Some("ghostpkg==4.2"));
        let pip = lines(
            "Looking in links: /w\nERROR: Could not find a version that satisfies the \
             requirement tinyjson==9.9.9 (from versions: 1.0.0)\nERROR: No matching \
             distribution found for tinyjson==9.9.9",
        );
        assert_eq!(failed_requirement(&pip).as_deref(), Some("tinyjson==9.9.9"));
        let build = lines("  × Failed to build `tinyedit @ file:///src/tinyedit`");
        assert_eq!(
            failed_requirement(&build).as_deref(),
            Some("tinyedit @ file:///src/tinyedit")
        );
        assert_eq!(failed_requirement(&lines("something else")), None);
        assert_eq!(requirement_name("NumPy==2.0.2"), "numpy");
        assert_eq!(requirement_name("pip<=26.3"), "pip");
    }
}
