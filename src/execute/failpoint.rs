//! Kill points for the fault-injection suite (`tests/faults.rs`): the executor calls [`hit`]
//! right after every step that changes disk state or starts a child, and the test kills the
//! real binary there, the way `kill -9` would (its children live on).
//!
//! `VENVFIX_FAILPOINT=N` dies at the N-th point this process reaches (any name);
//! `VENVFIX_FAILPOINT=NAME` at the first point of that name (`after-action:1`, `moved-aside`);
//! `VENVFIX_FAILPOINT_LOG=FILE` appends the name of every point reached, so a test knows how
//! many there are. Without those variables a point is one relaxed atomic load. Never used for
//! anything but tests; it never writes inside a venv.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

enum Spec {
    Nth(usize),
    Named(String),
}

struct Config {
    spec: Option<Spec>,
    log: Option<std::path::PathBuf>,
}

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let spec = std::env::var("VENVFIX_FAILPOINT")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| match s.trim().parse() {
                Ok(n) => Spec::Nth(n),
                Err(_) => Spec::Named(s.trim().to_string()),
            });
        let log = std::env::var_os("VENVFIX_FAILPOINT_LOG")
            .filter(|s| !s.is_empty())
            .map(Into::into);
        Config { spec, log }
    })
}

static REACHED: AtomicUsize = AtomicUsize::new(0);

/// A kill point named `name`: the process dies here with SIGKILL when the test asks for it.
pub fn hit(name: &str) {
    let config = config();
    if config.spec.is_none() && config.log.is_none() {
        return;
    }
    let n = REACHED.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(log) = &config.log
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    {
        let _ = writeln!(file, "{name}");
    }
    let die = match &config.spec {
        Some(Spec::Nth(k)) => *k == n,
        Some(Spec::Named(wanted)) => wanted == name,
        None => false,
    };
    if die {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    }
}
