//! Interim scanner until the scan branch lands (replaced on merge).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    PyvenvCfg,
    Legacy,
    MissingConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub marker: Marker,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub follow_links: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    pub venvs: Vec<Found>,
    pub errors: Vec<ScanError>,
}

pub fn venv_marker(dir: &Path) -> Option<Marker> {
    if std::fs::symlink_metadata(dir.join("pyvenv.cfg")).is_ok() {
        return Some(Marker::PyvenvCfg);
    }
    if dir.join("bin/activate").exists() {
        return Some(Marker::MissingConfig);
    }
    None
}

pub fn scan(paths: &[PathBuf], _options: &ScanOptions) -> ScanReport {
    let mut report = ScanReport::default();
    for path in paths {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        if let Some(marker) = venv_marker(&path) {
            report.venvs.push(Found { path, marker });
            continue;
        }
        if !path.exists() {
            report.errors.push(ScanError {
                path,
                message: "does not exist".into(),
            });
            continue;
        }
        walk(&path, &mut report);
    }
    report.venvs.sort_by(|a, b| a.path.cmp(&b.path));
    report
}

fn walk(dir: &Path, report: &mut ScanReport) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report.errors.push(ScanError {
                path: dir.to_path_buf(),
                message: e.to_string(),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        if name == ".git" || name == "node_modules" {
            continue;
        }
        let path = entry.path();
        if let Some(marker) = venv_marker(&path) {
            report.venvs.push(Found { path, marker });
        } else {
            walk(&path, report);
        }
    }
}
