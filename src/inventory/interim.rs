//! Interim stand-ins until the inventory branch lands (replaced on merge).

use std::path::{Path, PathBuf};

use crate::version::PythonVersion;

use super::{Installation, Inventory};

pub struct StaticVersion {
    pub version: PythonVersion,
    pub prefix: PathBuf,
    pub evidence: String,
}

pub fn static_version(exe: &Path) -> Option<StaticVersion> {
    let exe = std::fs::canonicalize(exe).ok()?;
    let prefix = exe.parent()?.parent()?.to_path_buf();
    let name = exe.file_name()?.to_str()?;
    let minor = PythonVersion::from_lib_dir_name(name)?;
    let header = prefix.join(format!("include/python{}/patchlevel.h", minor.short()));
    if let Ok(text) = std::fs::read_to_string(&header)
        && let Some(version) = PythonVersion::from_patchlevel_h(&text)
    {
        return Some(StaticVersion {
            version,
            prefix,
            evidence: header.display().to_string(),
        });
    }
    let lib = prefix.join(format!("lib/python{}", minor.short()));
    lib.is_dir().then(|| StaticVersion {
        version: minor,
        prefix,
        evidence: lib.display().to_string(),
    })
}

pub fn is_os_managed(exe: &Path) -> bool {
    exe.starts_with("/usr/bin") || exe.starts_with("/usr/lib")
}

impl Inventory {
    pub fn find_by_dir(&self, dir: &Path) -> Vec<&Installation> {
        let Ok(dir) = std::fs::canonicalize(dir) else {
            return Vec::new();
        };
        self.pythons
            .iter()
            .filter(|i| {
                i.path.parent() == Some(dir.as_path())
                    || i.aliases.iter().any(|a| a.parent() == Some(dir.as_path()))
            })
            .collect()
    }
}
