//! Python version numbers, parsed from every form a venv or an interpreter writes them in.
//!
//! Creators disagree on how to record a version (`3.8.18`, `3.12.1.final.0`, `3.13.0`, `3.12`),
//! and interpreters print yet other forms (`sys.version`, `Python 3.13.0rc2`, `patchlevel.h`'s
//! `PY_VERSION`). This module turns all of them into one [`PythonVersion`] that knows how much it
//! knows (a missing patch is not patch 0) and compares versions the way repairs need:
//! exact, same minor, or other.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A pre-release marker: `a1`, `b2`, `rc1` (from `3.13.0rc1` or `3.13.0.candidate.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PreRelease {
    Alpha(u64),
    Beta(u64),
    Candidate(u64),
}

impl fmt::Display for PreRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreRelease::Alpha(n) => write!(f, "a{n}"),
            PreRelease::Beta(n) => write!(f, "b{n}"),
            PreRelease::Candidate(n) => write!(f, "rc{n}"),
        }
    }
}

/// A Python version as far as it is known: the patch may be unknown (`3.12` from uv or a
/// `lib/python3.12` directory name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PythonVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: Option<u64>,
    pub pre: Option<PreRelease>,
}

/// How two versions relate, for choosing an interpreter for a venv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionMatch {
    /// Same major.minor.patch (and pre-release), or the same minor where one side has no patch.
    Exact,
    /// Same major.minor, another patch or pre-release.
    SameMinor,
    /// Another major or minor.
    Other,
}

/// Why a version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a Python version (expected X.Y, X.Y.Z, X.Y.Z.final.0 or X.Y.ZrcN)")]
pub struct VersionError {
    pub input: String,
}

impl PythonVersion {
    /// A version with a known patch and no pre-release.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        PythonVersion {
            major,
            minor,
            patch: Some(patch),
            pre: None,
        }
    }

    /// A version known only to its minor (`3.12`).
    pub const fn minor_only(major: u64, minor: u64) -> Self {
        PythonVersion {
            major,
            minor,
            patch: None,
            pre: None,
        }
    }

    /// `(major, minor)`, the part that decides binary compatibility of site-packages.
    pub fn minor_key(&self) -> (u64, u64) {
        (self.major, self.minor)
    }

    /// `X.Y`, as in `lib/pythonX.Y`.
    pub fn short(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// Whether `self` and `other` share major and minor.
    pub fn same_minor(&self, other: &PythonVersion) -> bool {
        self.minor_key() == other.minor_key()
    }

    /// Compare for interpreter choice. A side with no patch matches any patch of its minor.
    pub fn matches(&self, other: &PythonVersion) -> VersionMatch {
        if !self.same_minor(other) {
            return VersionMatch::Other;
        }
        match (self.patch, other.patch) {
            (Some(a), Some(b)) if a == b && self.pre == other.pre => VersionMatch::Exact,
            (Some(_), Some(_)) => VersionMatch::SameMinor,
            _ => VersionMatch::Exact,
        }
    }

    /// The version as a `semver::Version` (pre-releases as `rc.1`; unknown patch as 0).
    pub fn to_semver(&self) -> semver::Version {
        let mut v = semver::Version::new(self.major, self.minor, self.patch.unwrap_or(0));
        if let Some(pre) = self.pre {
            let text = match pre {
                PreRelease::Alpha(n) => format!("a.{n}"),
                PreRelease::Beta(n) => format!("b.{n}"),
                PreRelease::Candidate(n) => format!("rc.{n}"),
            };
            // Always valid: letters, a dot and digits.
            v.pre = semver::Prerelease::new(&text).unwrap_or(semver::Prerelease::EMPTY);
        }
        v
    }

    /// Parse the first line of `sys.version` or `python -V` output
    /// (`3.8.18 (default, May  9 2026, ...)`, `Python 3.13.0rc2`).
    pub fn from_sys_version(text: &str) -> Result<Self, VersionError> {
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix("Python ").unwrap_or(trimmed);
        let first = trimmed.split_whitespace().next().unwrap_or("");
        // sys.version may carry a `+` for unreleased builds: `3.13.0+`.
        first
            .trim_end_matches('+')
            .parse()
            .map_err(|_| VersionError {
                input: text.trim().to_string(),
            })
    }

    /// Read `#define PY_VERSION "3.8.18"` from the text of a `patchlevel.h`.
    pub fn from_patchlevel_h(text: &str) -> Option<Self> {
        text.lines().find_map(|line| {
            let rest = line.trim().strip_prefix("#define")?.trim_start();
            let value = rest.strip_prefix("PY_VERSION")?;
            if !value.starts_with(char::is_whitespace) {
                return None;
            }
            let quoted = value.trim();
            let inner = quoted.strip_prefix('"')?.split('"').next()?;
            inner.trim_end_matches('+').parse().ok()
        })
    }

    /// Parse a `lib/pythonX.Y` directory name (`python3.8`, also free-threaded `python3.13t`).
    pub fn from_lib_dir_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("python")?;
        let rest = rest.strip_suffix('t').unwrap_or(rest);
        let (major, minor) = rest.split_once('.')?;
        Some(PythonVersion::minor_only(
            parse_number(major)?,
            parse_number(minor)?,
        ))
    }
}

fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Split `13rc2` into `(13, Some(rc2))`.
fn split_pre(s: &str) -> Option<(u64, Option<PreRelease>)> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let number = parse_number(&s[..digits_end])?;
    let tail = &s[digits_end..];
    if tail.is_empty() {
        return Some((number, None));
    }
    let (kind, n) = if let Some(n) = tail.strip_prefix("rc") {
        (PreRelease::Candidate as fn(u64) -> PreRelease, n)
    } else if let Some(n) = tail.strip_prefix('a') {
        (PreRelease::Alpha as fn(u64) -> PreRelease, n)
    } else if let Some(n) = tail.strip_prefix('b') {
        (PreRelease::Beta as fn(u64) -> PreRelease, n)
    } else {
        return None;
    };
    Some((number, Some(kind(parse_number(n)?))))
}

impl FromStr for PythonVersion {
    type Err = VersionError;

    /// Accepts `3.12`, `3.8.18`, `3.13.0rc2`, `3.12.1.final.0`, `3.13.0.candidate.2`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = || VersionError {
            input: input.to_string(),
        };
        let parts: Vec<&str> = input.trim().split('.').collect();
        match parts.as_slice() {
            [major, minor] => Ok(PythonVersion::minor_only(
                parse_number(major).ok_or_else(err)?,
                parse_number(minor).ok_or_else(err)?,
            )),
            [major, minor, patch] => {
                let (patch, pre) = split_pre(patch).ok_or_else(err)?;
                Ok(PythonVersion {
                    major: parse_number(major).ok_or_else(err)?,
                    minor: parse_number(minor).ok_or_else(err)?,
                    patch: Some(patch),
                    pre,
                })
            }
            // sys.version_info form: X.Y.Z.releaselevel.serial
            [major, minor, patch, level, serial] => {
                let serial = parse_number(serial).ok_or_else(err)?;
                let pre = match *level {
                    "final" => None,
                    "alpha" => Some(PreRelease::Alpha(serial)),
                    "beta" => Some(PreRelease::Beta(serial)),
                    "candidate" => Some(PreRelease::Candidate(serial)),
                    _ => return Err(err()),
                };
                Ok(PythonVersion {
                    major: parse_number(major).ok_or_else(err)?,
                    minor: parse_number(minor).ok_or_else(err)?,
                    patch: Some(parse_number(patch).ok_or_else(err)?),
                    pre,
                })
            }
            _ => Err(err()),
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        if let Some(pre) = self.pre {
            write!(f, "{pre}")?;
        }
        Ok(())
    }
}

impl Serialize for PythonVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PythonVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl PartialOrd for PythonVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PythonVersion {
    /// Orders like semver: pre-releases before the final release; an unknown patch first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.minor_key()
            .cmp(&other.minor_key())
            .then(self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(&b),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> PythonVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_creator_form() {
        assert_eq!(v("3.8.18"), PythonVersion::new(3, 8, 18));
        assert_eq!(v("3.12.1.final.0"), PythonVersion::new(3, 12, 1));
        assert_eq!(v("3.13.0"), PythonVersion::new(3, 13, 0));
        assert_eq!(v("3.12"), PythonVersion::minor_only(3, 12));
        assert_eq!(
            v("3.13.0rc2").pre,
            Some(PreRelease::Candidate(2)),
            "rc suffix"
        );
        assert_eq!(v("3.13.0.candidate.2"), v("3.13.0rc2"));
        assert_eq!(v("3.14.0.alpha.1").pre, Some(PreRelease::Alpha(1)));
        assert_eq!(v("3.14.0b3").pre, Some(PreRelease::Beta(3)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "3",
            "three.eight",
            "3.8.x",
            "3.8.18.weird.0",
            "3..1",
            "3.8.18rc",
        ] {
            assert!(bad.parse::<PythonVersion>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn parses_sys_version_and_dash_v() {
        assert_eq!(
            PythonVersion::from_sys_version(
                "3.8.18 (default, May  9 2026, 07:33:04) \n[GCC 12.2.0]"
            )
            .unwrap(),
            PythonVersion::new(3, 8, 18)
        );
        assert_eq!(
            PythonVersion::from_sys_version("Python 3.13.0rc2\n").unwrap(),
            v("3.13.0rc2")
        );
        assert_eq!(
            PythonVersion::from_sys_version("3.14.0+ (heads/main)").unwrap(),
            PythonVersion::new(3, 14, 0)
        );
    }

    #[test]
    fn parses_patchlevel_and_lib_dirs() {
        let header = "#define PY_RELEASE_SERIAL   0\n\n/* Version as a string */\n#define PY_VERSION      \t\"3.11.7\"\n";
        assert_eq!(
            PythonVersion::from_patchlevel_h(header),
            Some(PythonVersion::new(3, 11, 7))
        );
        assert_eq!(
            PythonVersion::from_patchlevel_h("#define PY_VERSION_HEX 0x030b07f0"),
            None
        );
        assert_eq!(
            PythonVersion::from_lib_dir_name("python3.8"),
            Some(PythonVersion::minor_only(3, 8))
        );
        assert_eq!(
            PythonVersion::from_lib_dir_name("python3.13t"),
            Some(PythonVersion::minor_only(3, 13))
        );
        assert_eq!(PythonVersion::from_lib_dir_name("pythonx"), None);
        assert_eq!(PythonVersion::from_lib_dir_name("site-packages"), None);
    }

    #[test]
    fn compares_for_interpreter_choice() {
        assert_eq!(v("3.8.18").matches(&v("3.8.18")), VersionMatch::Exact);
        assert_eq!(v("3.8.18").matches(&v("3.8.11")), VersionMatch::SameMinor);
        assert_eq!(v("3.8").matches(&v("3.8.11")), VersionMatch::Exact);
        assert_eq!(v("3.8.18").matches(&v("3.9.18")), VersionMatch::Other);
        assert_eq!(
            v("3.13.0rc2").matches(&v("3.13.0")),
            VersionMatch::SameMinor
        );
    }

    #[test]
    fn orders_like_semver() {
        let mut versions = [
            v("3.13.0"),
            v("3.13.0rc2"),
            v("3.8.18"),
            v("3.12"),
            v("3.12.1"),
        ];
        versions.sort();
        let shown: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
        assert_eq!(shown, ["3.8.18", "3.12", "3.12.1", "3.13.0rc2", "3.13.0"]);
        for pair in versions.windows(2) {
            assert!(pair[0].to_semver() <= pair[1].to_semver());
        }
        assert_eq!(v("3.13.0rc2").to_semver().to_string(), "3.13.0-rc.2");
    }

    #[test]
    fn round_trips_through_json() {
        let json = serde_json::to_string(&v("3.12.1")).unwrap();
        assert_eq!(json, "\"3.12.1\"");
        let back: PythonVersion = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v("3.12.1"));
    }
}
