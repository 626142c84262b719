//! The probe: run one interpreter once, isolated, and read what it says about itself.
//!
//! An interpreter's name and directory can lie (`bin/python3.12 -V` printing 3.13.0 is real),
//! so the inventory asks each one. The probe runs the executable with `-I -S` (no environment,
//! no user or site packages: pyenv's 3.11.7 imports certifi from a `.pth` otherwise), a cleared
//! `PYTHON*` environment, stdin from `/dev/null`, the working directory `/`, in a process group
//! of its own, and an embedded script that prints one JSON object. Python 2 rejects `-I`; it is
//! asked again with `-E -S`, the closest it has.
//!
//! A probe must never hang or crash venvfix: a timeout kills the whole process group, output is
//! read by threads that are given up on after a grace period, and every failure becomes a
//! [`ProbeError`] for the caller to list. This module must only ever be handed executables that
//! discovery found (DESIGN.md rule 2); it does not decide what is safe to run.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wait_timeout::ChildExt;

use crate::version::PythonVersion;

/// The script run by every probe. Python 2.7 and 3.6+: no f-strings, `json` from the stdlib.
/// The first line drops the current directory from `sys.path` so a stray `json.py` in it can
/// never be imported (Python 2 has no `-I`).
pub const PROBE_SCRIPT: &str = r#"import sys
if sys.path and sys.path[0] in ('', '.'):
    del sys.path[0]
import json
v = sys.version_info
impl = getattr(sys, 'implementation', None)
if impl is not None:
    name = impl.name
elif '__pypy__' in sys.builtin_module_names:
    name = 'pypy'
else:
    name = 'cpython'
# The prefix compiled in at build time: where a venv's Python looks when its `home` is gone.
try:
    import sysconfig
    compiled_prefix = sysconfig.get_config_var('prefix')
except Exception:
    compiled_prefix = None
sys.stdout.write(json.dumps({
    'marker': 'venvfix-probe',
    'version_info': [v[0], v[1], v[2], v[3], v[4]],
    'implementation': name,
    'base_prefix': getattr(sys, 'base_prefix', sys.prefix),
    'base_exec_prefix': getattr(sys, 'base_exec_prefix', sys.exec_prefix),
    'executable': sys.executable,
    'platform': sys.platform,
    'compiled_prefix': compiled_prefix,
}))
"#;

/// How long to wait for the output pipes after the process ended or was killed: a grandchild
/// that escaped the process group may hold them open forever.
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// What an interpreter said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeInfo {
    pub version: PythonVersion,
    pub implementation: String,
    pub base_prefix: PathBuf,
    pub base_exec_prefix: PathBuf,
    pub executable: PathBuf,
    pub platform: String,
    /// The `prefix` it was configured with (`sysconfig`): a venv whose `home` is gone falls
    /// back to it. `None` when the interpreter does not say.
    #[serde(default)]
    pub compiled_prefix: Option<PathBuf>,
}

/// Why a probe gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("could not run `{path}`: {message}")]
    Spawn { path: PathBuf, message: String },
    #[error("`{path}` did not answer within {:.1}s and was killed", .after.as_secs_f64())]
    Timeout { path: PathBuf, after: Duration },
    #[error("`{path}` exited with {status}{}", stderr_suffix(.stderr))]
    Exit {
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("`{path}` printed something that is not the probe's answer: `{output}`")]
    Output { path: PathBuf, output: String },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// The JSON object the script prints.
#[derive(Debug, Deserialize)]
struct RawAnswer {
    marker: String,
    version_info: (u64, u64, u64, String, u64),
    implementation: String,
    base_prefix: PathBuf,
    base_exec_prefix: PathBuf,
    executable: PathBuf,
    platform: String,
    #[serde(default)]
    compiled_prefix: Option<PathBuf>,
}

/// Read the script's output. `None` when it is not the answer the script prints.
pub fn parse_answer(stdout: &str) -> Option<ProbeInfo> {
    let raw: RawAnswer = serde_json::from_str(stdout.trim()).ok()?;
    if raw.marker != "venvfix-probe" {
        return None;
    }
    let (major, minor, micro, level, serial) = raw.version_info;
    let version: PythonVersion = format!("{major}.{minor}.{micro}.{level}.{serial}")
        .parse()
        .ok()?;
    Some(ProbeInfo {
        version,
        implementation: raw.implementation.to_ascii_lowercase(),
        base_prefix: raw.base_prefix,
        base_exec_prefix: raw.base_exec_prefix,
        executable: raw.executable,
        platform: raw.platform,
        compiled_prefix: raw.compiled_prefix.filter(|p| p.is_absolute()),
    })
}

/// Run `exe` and read its answer, giving up after `timeout`.
pub fn probe(exe: &Path, timeout: Duration) -> Result<ProbeInfo, ProbeError> {
    let first = run(exe, &["-I", "-S"], timeout)?;
    let output = if !first.success && first.stderr.contains("Unknown option: -I") {
        run(exe, &["-E", "-S"], timeout)?
    } else {
        first
    };
    if !output.success {
        return Err(ProbeError::Exit {
            path: exe.to_path_buf(),
            status: output.status,
            stderr: shorten(output.stderr.trim()),
        });
    }
    parse_answer(&output.stdout).ok_or_else(|| ProbeError::Output {
        path: exe.to_path_buf(),
        output: shorten(output.stdout.trim()),
    })
}

struct Output {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

fn run(exe: &Path, flags: &[&str], timeout: Duration) -> Result<Output, ProbeError> {
    let mut command = Command::new(exe);
    command
        .args(flags)
        .arg("-c")
        .arg(PROBE_SCRIPT)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill whatever it started too.
        .process_group(0);
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("PYTHON") || name == "__PYVENV_LAUNCHER__" || name == "VIRTUAL_ENV" {
            command.env_remove(&key);
        }
    }
    let mut child = command.spawn().map_err(|e| ProbeError::Spawn {
        path: exe.to_path_buf(),
        message: e.to_string(),
    })?;

    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());

    let waited = child.wait_timeout(timeout);
    let status = match waited {
        Ok(Some(status)) => status,
        Ok(None) | Err(_) => {
            // Still running: kill the group while the leader is unreaped (its id cannot have
            // been reused), then reap it.
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProbeError::Timeout {
                path: exe.to_path_buf(),
                after: timeout,
            });
        }
    };
    let status_text = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    };
    Ok(Output {
        success: status.success(),
        status: status_text,
        stdout: stdout.recv_timeout(PIPE_GRACE).unwrap_or_default(),
        stderr: stderr.recv_timeout(PIPE_GRACE).unwrap_or_default(),
    })
}

/// Read a pipe to its end on a thread; the result arrives on the returned channel.
fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            // Bounded: a runaway interpreter must not fill memory.
            let _ = pipe.by_ref().take(1 << 20).read_to_end(&mut bytes);
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    } else {
        let _ = tx.send(String::new());
    }
    rx
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    let one_line = text.lines().last().unwrap_or("").trim();
    if one_line.chars().count() <= MAX {
        one_line.to_string()
    } else {
        let cut: String = one_line.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_answer_of_each_generation() {
        let py3 = r#"{"marker": "venvfix-probe", "version_info": [3, 13, 0, "candidate", 2],
            "implementation": "cpython", "base_prefix": "/root/.pyenv/versions/3.13.0rc2",
            "base_exec_prefix": "/root/.pyenv/versions/3.13.0rc2",
            "executable": "/root/.pyenv/versions/3.13.0rc2/bin/python3.13", "platform": "linux"}"#;
        let info = parse_answer(py3).unwrap();
        assert_eq!(info.version, "3.13.0rc2".parse().unwrap());
        assert_eq!(info.implementation, "cpython");
        assert_eq!(
            info.base_prefix,
            PathBuf::from("/root/.pyenv/versions/3.13.0rc2")
        );

        let py2 = "{\"platform\": \"linux2\", \"executable\": \"/x/bin/python2.7\", \"marker\": \"venvfix-probe\", \"base_exec_prefix\": \"/x\", \"base_prefix\": \"/x\", \"implementation\": \"cpython\", \"version_info\": [2, 7, 18, \"final\", 0]}\n";
        assert_eq!(
            parse_answer(py2).unwrap().version,
            PythonVersion::new(2, 7, 18)
        );
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "Python 3.12.1",
            "{}",
            r#"{"marker": "other", "version_info": [3, 12, 1, "final", 0], "implementation": "cpython", "base_prefix": "/", "base_exec_prefix": "/", "executable": "", "platform": "linux"}"#,
            r#"{"marker": "venvfix-probe", "version_info": [3, 12, 1, "weird", 0], "implementation": "cpython", "base_prefix": "/", "base_exec_prefix": "/", "executable": "", "platform": "linux"}"#,
        ] {
            assert_eq!(parse_answer(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_name_the_path() {
        let e = ProbeError::Exit {
            path: "/x/python3".into(),
            status: "exit code 3".into(),
            stderr: "boom".into(),
        };
        assert_eq!(e.to_string(), "`/x/python3` exited with exit code 3: boom");
        let e = ProbeError::Timeout {
            path: "/x/python3".into(),
            after: Duration::from_millis(500),
        };
        assert_eq!(
            e.to_string(),
            "`/x/python3` did not answer within 0.5s and was killed"
        );
    }

    #[test]
    fn a_missing_file_is_a_spawn_error() {
        let err = probe(Path::new("/nonexistent/python3"), Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, ProbeError::Spawn { .. }), "{err:?}");
    }
}
