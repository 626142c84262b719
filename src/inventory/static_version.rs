//! An installation's version read from its files, for interpreters that must not be run.
//!
//! The detector meets interpreters it may not execute (DESIGN.md rule 2: anything reached only
//! through a venv) and prefixes whose binary is gone. Every CPython prefix records its version
//! in files: `lib/pythonX.Y/build-details.json` (PEP 739, 3.14+), `include/pythonX.Y/patchlevel.h`
//! (`PY_VERSION`, when headers are installed), and at least the `lib/pythonX.Y` dir name. This
//! module reads them, best evidence first, and says which file it used.
//!
//! It never executes anything and never writes; a missing or unreadable file is just no evidence.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::safe_read::{self, Follow};
use crate::version::PythonVersion;

/// A version read from an installation's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticVersion {
    /// The version; the patch is `None` when only a `lib/pythonX.Y` dir name was found.
    pub version: PythonVersion,
    /// The installation prefix (the parent of the executable's `bin/`).
    pub prefix: PathBuf,
    /// The file or dir the version was read from, for messages.
    pub evidence: String,
}

/// Estimate the version of the installation `exe` belongs to, without running it.
///
/// `exe` is canonicalized first (a venv's `bin/python3` link leads to its base). When the
/// executable's name carries a minor (`python3.8`), only that minor's dirs are considered.
/// `None` when the file does not exist or its prefix records no version.
pub fn static_version(exe: &Path) -> Option<StaticVersion> {
    let canonical = fs::canonicalize(exe).ok()?;
    let bin = canonical.parent()?;
    let prefix = if bin.file_name() == Some(OsStr::new("bin")) {
        bin.parent()?
    } else {
        bin
    };
    let hint = canonical
        .file_name()
        .and_then(OsStr::to_str)
        .and_then(PythonVersion::from_lib_dir_name);
    from_prefix(prefix, hint)
}

/// The version a static interpreter binary carries in itself (`PY_VERSION`, a NUL-terminated
/// `3.11.2` in its read-only data), read from its bytes without running it. Version-like strings
/// of other things the binary embeds (the Unicode database's `3.2.0`) are told apart by the
/// minor: only Python 2.7 and 3.3+ count, and `minor` (from the file name) narrows it when known.
/// `None` unless exactly one version remains.
pub fn from_binary(bytes: &[u8], minor: Option<PythonVersion>) -> Option<PythonVersion> {
    let mut found: Vec<PythonVersion> = Vec::new();
    for text in bytes.split(|b| *b == 0) {
        if !(5..=12).contains(&text.len()) || !text[0].is_ascii_digit() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(text) else {
            continue;
        };
        if text.matches('.').count() != 2 {
            continue;
        }
        let Ok(version) = text.trim_end_matches('+').parse::<PythonVersion>() else {
            continue;
        };
        let plausible = version.patch.is_some()
            && (version.major == 3 && version.minor >= 3
                || version.major == 2 && version.minor == 7);
        if plausible && minor.is_none_or(|m| m.same_minor(&version)) && !found.contains(&version) {
            found.push(version);
        }
    }
    match found.as_slice() {
        [only] => Some(*only),
        _ => None,
    }
}

/// Read the version recorded under `prefix`, limited to the minor of `hint` when given.
pub fn from_prefix(prefix: &Path, hint: Option<PythonVersion>) -> Option<StaticVersion> {
    let found = |version, evidence: PathBuf| StaticVersion {
        version,
        prefix: prefix.to_path_buf(),
        evidence: evidence.display().to_string(),
    };
    let lib_dirs = version_dirs(&prefix.join("lib"), hint);
    for (_, dir) in &lib_dirs {
        let file = dir.join("build-details.json");
        if let Some(version) = safe_read::read(&file, safe_read::limit::SMALL, Follow::Links)
            .ok()
            .and_then(|b| from_build_details(&b))
        {
            return Some(found(version, file));
        }
    }
    for (_, dir) in version_dirs(&prefix.join("include"), hint) {
        let file = dir.join("patchlevel.h");
        if let Some(version) = safe_read::read_text(&file, safe_read::limit::SMALL, Follow::Links)
            .ok()
            .and_then(|t| PythonVersion::from_patchlevel_h(&t))
        {
            return Some(found(version, file));
        }
    }
    // A dir name is evidence only when it is unambiguous.
    let mut minors: Vec<PythonVersion> = lib_dirs.iter().map(|(v, _)| *v).collect();
    minors.dedup();
    match (minors.as_slice(), lib_dirs.first()) {
        ([version], Some((_, dir))) => Some(found(*version, dir.clone())),
        _ => None,
    }
}

/// `parent/pythonX.Y*` dirs that exist, highest minor first, filtered by the hint's minor.
fn version_dirs(parent: &Path, hint: Option<PythonVersion>) -> Vec<(PythonVersion, PathBuf)> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<(PythonVersion, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            // `python3.6m` (include dirs of 3.6/3.7) is accepted by stripping the ABI flag.
            let name = name.to_str()?;
            let version = PythonVersion::from_lib_dir_name(name)
                .or_else(|| PythonVersion::from_lib_dir_name(name.strip_suffix('m')?))?;
            let path = e.path();
            path.is_dir().then_some((version, path))
        })
        .filter(|(v, _)| hint.is_none_or(|h| h.same_minor(v)))
        .collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    dirs
}

#[derive(Deserialize)]
struct BuildDetails {
    language: Option<Language>,
    implementation: Option<Implementation>,
}

#[derive(Deserialize)]
struct Language {
    version: Option<String>,
    version_info: Option<VersionInfo>,
}

#[derive(Deserialize)]
struct Implementation {
    name: Option<String>,
    version: Option<VersionInfo>,
}

#[derive(Deserialize)]
struct VersionInfo {
    major: u64,
    minor: u64,
    micro: u64,
    releaselevel: String,
    serial: u64,
}

impl VersionInfo {
    fn to_version(&self) -> Option<PythonVersion> {
        format!(
            "{}.{}.{}.{}.{}",
            self.major, self.minor, self.micro, self.releaselevel, self.serial
        )
        .parse()
        .ok()
    }
}

/// Read a PEP 739 `build-details.json`: `language.version_info`, else CPython's
/// `implementation.version` (the same numbers), else `language.version` (`X.Y`).
pub fn from_build_details(bytes: &[u8]) -> Option<PythonVersion> {
    let details: BuildDetails = serde_json::from_slice(bytes).ok()?;
    let language = details.language.as_ref();
    if let Some(v) = language.and_then(|l| l.version_info.as_ref()?.to_version()) {
        return Some(v);
    }
    if let Some(implementation) = &details.implementation
        && implementation.name.as_deref() == Some("cpython")
        && let Some(v) = implementation
            .version
            .as_ref()
            .and_then(VersionInfo::to_version)
    {
        return Some(v);
    }
    language?.version.as_ref()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_inside_a_static_binary() {
        let bytes =
            b"\x7fELF\0junk\0unidata_version\x003.2.0\0ucd_3_2_0\0pymalloc\x003.11.2\0strict\0";
        assert_eq!(from_binary(bytes, None), Some(PythonVersion::new(3, 11, 2)));
        let minor = Some(PythonVersion::minor_only(3, 12));
        assert_eq!(from_binary(bytes, minor), None);
        assert_eq!(from_binary(b"3.11.2\x003.12.1\0", None), None);
    }

    fn fake_prefix(dir: &Path) -> PathBuf {
        let prefix = dir.join("prefix");
        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::write(prefix.join("bin/python3.8"), b"\x7fELF").unwrap();
        std::os::unix::fs::symlink("python3.8", prefix.join("bin/python3")).unwrap();
        prefix
    }

    #[test]
    fn reads_patchlevel_h_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = fake_prefix(dir.path());
        fs::create_dir_all(prefix.join("lib/python3.8")).unwrap();
        fs::create_dir_all(prefix.join("include/python3.8")).unwrap();
        fs::write(
            prefix.join("include/python3.8/patchlevel.h"),
            "#define PY_MINOR_VERSION 8\n#define PY_VERSION \"3.8.18\"\n",
        )
        .unwrap();
        let found = static_version(&prefix.join("bin/python3")).unwrap();
        assert_eq!(found.version, PythonVersion::new(3, 8, 18));
        assert_eq!(found.prefix, fs::canonicalize(&prefix).unwrap());
        assert!(found.evidence.ends_with("include/python3.8/patchlevel.h"));
    }

    #[test]
    fn prefers_build_details() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("p");
        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::write(prefix.join("bin/python3.14"), b"").unwrap();
        fs::create_dir_all(prefix.join("lib/python3.14")).unwrap();
        fs::create_dir_all(prefix.join("include/python3.14")).unwrap();
        fs::write(
            prefix.join("include/python3.14/patchlevel.h"),
            "#define PY_VERSION \"3.14.0\"\n",
        )
        .unwrap();
        fs::write(
            prefix.join("lib/python3.14/build-details.json"),
            r#"{"schema_version": "1.0", "base_prefix": "/usr", "language": {"version": "3.14",
               "version_info": {"major": 3, "minor": 14, "micro": 1, "releaselevel": "final", "serial": 0}},
               "implementation": {"name": "cpython"}}"#,
        )
        .unwrap();
        let found = static_version(&prefix.join("bin/python3.14")).unwrap();
        assert_eq!(found.version, PythonVersion::new(3, 14, 1));
        assert!(found.evidence.ends_with("build-details.json"));
    }

    #[test]
    fn build_details_fallbacks() {
        let implementation = br#"{"language": {"version": "3.14"}, "implementation": {"name": "cpython",
            "version": {"major": 3, "minor": 14, "micro": 0, "releaselevel": "candidate", "serial": 2}}}"#;
        assert_eq!(
            from_build_details(implementation),
            Some("3.14.0rc2".parse().unwrap())
        );
        assert_eq!(
            from_build_details(br#"{"language": {"version": "3.15"}}"#),
            Some(PythonVersion::minor_only(3, 15))
        );
        assert_eq!(from_build_details(b"{}"), None);
        assert_eq!(from_build_details(b"garbage"), None);
    }

    #[test]
    fn lib_dir_name_only_when_unambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("p");
        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::write(prefix.join("bin/python3"), b"").unwrap();
        fs::create_dir_all(prefix.join("lib/python3.9/site-packages")).unwrap();
        let found = static_version(&prefix.join("bin/python3")).unwrap();
        assert_eq!(found.version, PythonVersion::minor_only(3, 9));
        assert!(found.evidence.ends_with("lib/python3.9"));

        fs::create_dir_all(prefix.join("lib/python3.10")).unwrap();
        assert_eq!(static_version(&prefix.join("bin/python3")), None);
        // The executable's own name settles it.
        fs::write(prefix.join("bin/python3.10"), b"").unwrap();
        assert_eq!(
            static_version(&prefix.join("bin/python3.10")).map(|s| s.version),
            Some(PythonVersion::minor_only(3, 10))
        );
    }

    #[test]
    fn nothing_for_missing_files() {
        assert_eq!(static_version(Path::new("/nonexistent/bin/python3")), None);
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        fs::write(dir.path().join("bin/python3"), b"").unwrap();
        assert_eq!(static_version(&dir.path().join("bin/python3")), None);
    }
}
