//! Run the scanner over paths and print what it found: the benchmark's driver
//! (`scripts/bench-check.sh`) and a manual check.
//!
//! ```text
//! cargo run --release --example scan -- [--threads N] [--follow] [--list] PATH...
//! ```
//!
//! stdout: with `--list`, one `venv <marker> <path>` / `error <message>` line each; then
//! `venvs=N errors=N dirs=N ms=N peak_rss_kb=N` (peak RSS is `VmHWM` from `/proc/self/status`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use venvfix::scan::{ScanOptions, scan};

fn main() -> std::process::ExitCode {
    let mut options = ScanOptions::default();
    let mut list = false;
    let mut paths = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--follow") => options.follow_links = true,
            Some("--list") => list = true,
            Some("--threads") => match args.next().and_then(|n| n.to_str()?.parse().ok()) {
                Some(n) => options.threads = n,
                None => return usage(),
            },
            Some(flag) if flag.starts_with("--") => return usage(),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        return usage();
    }

    let dirs = AtomicU64::new(0);
    let start = Instant::now();
    let report = scan(&paths, &options, &|p| {
        dirs.fetch_max(p.dirs_visited, Ordering::Relaxed);
    });
    let elapsed = start.elapsed();

    if list {
        for found in &report.venvs {
            println!("venv {:?} {}", found.marker, found.path.display());
        }
        for error in &report.errors {
            println!("error {error}");
        }
    }
    println!(
        "venvs={} errors={} dirs={} ms={:.1} peak_rss_kb={}",
        report.venvs.len(),
        report.errors.len(),
        dirs.load(Ordering::Relaxed),
        elapsed.as_secs_f64() * 1000.0,
        peak_rss_kb().map_or("?".to_string(), |kb| kb.to_string()),
    );
    std::process::ExitCode::SUCCESS
}

fn usage() -> std::process::ExitCode {
    eprintln!("usage: scan [--threads N] [--follow] [--list] PATH...");
    std::process::ExitCode::from(2)
}

/// `VmHWM` (peak resident set) in kB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
