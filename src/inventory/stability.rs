//! Which of the paths that reach one installation keeps working across upgrades.
//!
//! One installation is usually reachable by several paths (its aliases): Homebrew's
//! `Cellar/python@3.12/3.12.1_1/bin/python3.12` is also `opt/python@3.12/bin/python3.12`,
//! `opt/python@3/bin/python3.12` and `bin/python3.12`; a uv-managed Python lives in a patch dir
//! `cpython-3.12.1-…` with a minor-version link `cpython-3.12-…` beside it; mise keeps
//! `installs/python/3.12` beside `installs/python/3.12.1`; Debian's `/usr/bin/python3.11` is
//! also `/usr/bin/python3`. A venv should link to (and name in `home`) the one its installer
//! moves along with routine upgrades: a patch dir or a keg disappears at the next patch or
//! formula revision, and an unversioned name (`python3`, `opt/python@3`) moves to the next
//! minor, where every import of the venv's packages fails. This module ranks the paths and says
//! why the chosen one is stable. It never touches the disk: it reads the paths only.

use std::path::{Component, Path, PathBuf};

use crate::version::PythonVersion;

/// How a path behaves at the next routine upgrade, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stability {
    /// Names the minor and nothing finer: upgrades within the minor keep it working.
    Minor,
    /// Names a patch release or a build (`3.12.1`, `3.12.1_1`): gone at the next patch upgrade.
    Patch,
    /// Names no minor (`python3`, `opt/python@3`): moves to the next minor.
    Major,
}

/// The path a venv should use for an installation, and why, when there is something to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StablePath {
    pub path: PathBuf,
    pub stability: Stability,
    /// Why this path survives upgrades (for the plan), when an installer keeps it on purpose
    /// or it was preferred over a worse alias.
    pub why: Option<String>,
}

/// The most stable of `paths` (the canonical path and its aliases) of an installation of
/// `version`. `paths` must not be empty; the first wins ties that nothing else breaks.
pub fn most_stable(paths: &[PathBuf], version: &PythonVersion) -> StablePath {
    let mut ranked: Vec<(usize, &PathBuf)> = paths.iter().enumerate().collect();
    ranked.sort_by_key(|(index, path)| {
        let kind = installer_link(path, version);
        (
            stability(path, version),
            kind.is_none(),
            name_rank(path),
            path.as_os_str().len(),
            *index,
        )
    });
    let best = ranked
        .first()
        .map(|(_, p)| (*p).clone())
        .unwrap_or_default();
    let best_stability = stability(&best, version);
    let worse = paths
        .iter()
        .filter(|p| **p != best)
        .map(|p| stability(p, version))
        .max();
    let why = match installer_link(&best, version) {
        Some(link) if best_stability == Stability::Minor => Some(link.why(&best, version)),
        _ if worse.is_some_and(|w| w > best_stability) => Some(format!(
            "`{}` names the minor {}, so routine upgrades keep it working{}",
            best.display(),
            version.short(),
            match paths.iter().map(|p| (stability(p, version), p)).max() {
                Some((Stability::Major, p)) =>
                    format!(" (`{}` moves to the next minor)", p.display()),
                Some((Stability::Patch, p)) =>
                    format!(" (`{}` goes away at the next patch upgrade)", p.display()),
                _ => String::new(),
            }
        )),
        _ => None,
    };
    StablePath {
        path: best,
        stability: best_stability,
        why,
    }
}

/// The directory an installer replaces patch dirs in, from a path into one of them (for a
/// venv whose link named a keg or patch dir of `minor` that an upgrade removed):
/// `/opt/homebrew/Cellar/python@3.11/3.11.2/bin/python3.11` gives
/// `/opt/homebrew/Cellar/python@3.11`; uv's `…/uv/python/cpython-3.11.2-…/bin/python3.11` gives
/// `…/uv/python`. `None` when no component names a patch of `minor`.
pub fn upgrade_root(path: &Path, minor: &PythonVersion) -> Option<PathBuf> {
    let mut root = PathBuf::new();
    for component in path.components() {
        if let Component::Normal(name) = component
            && names_patch(&name.to_string_lossy(), minor)
        {
            return (root.components().count() > 1).then_some(root);
        }
        root.push(component);
    }
    None
}

/// How `path` fares at the next upgrade of an installation of `version`.
pub fn stability(path: &Path, version: &PythonVersion) -> Stability {
    let mut dirs: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let name = dirs.pop().unwrap_or_default();
    if dirs.iter().any(|d| names_patch(d, version)) {
        return Stability::Patch;
    }
    // Homebrew's formula aliases `opt/python@3`, `opt/python3`, `opt/python` follow the
    // default formula across minors.
    let unversioned_formula = dirs.windows(2).any(|w| {
        (w[0] == "opt" || w[0] == "Cellar")
            && matches!(
                w[1].as_str(),
                "python" | "python3" | "python@3" | "python2" | "python@2"
            )
    });
    if unversioned_formula || !names_minor(&name) {
        return Stability::Major;
    }
    Stability::Minor
}

/// Whether a directory name carries a patch release of `version`'s minor: `3.12.1`,
/// `3.12.1_1`, `cpython-3.12.1-linux-x86_64-gnu`, `python-3.8.11`, `Python-3.12.1`.
fn names_patch(dir: &str, version: &PythonVersion) -> bool {
    let needle = format!("{}.{}.", version.major, version.minor);
    let mut from = 0;
    while let Some(found) = dir[from..].find(&needle) {
        let at = from + found;
        let before = dir[..at].chars().last();
        let digits = dir[at + needle.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if before.is_none_or(|c| !c.is_ascii_digit() && c != '.') && digits > 0 {
            return true;
        }
        from = at + needle.len();
    }
    false
}

/// Whether an executable name names a minor: `python3.12`, `python3.13t`, `pypy3.10`.
fn names_minor(name: &str) -> bool {
    let rest = name
        .strip_prefix("python")
        .or_else(|| name.strip_prefix("pypy"))
        .unwrap_or("");
    let rest = rest.strip_suffix('t').unwrap_or(rest);
    rest.split_once('.')
        .is_some_and(|(major, minor)| !major.is_empty() && !minor.is_empty())
}

/// `python3.12` before `python3` before `python`.
fn name_rank(path: &Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if names_minor(&name) {
        0
    } else if name.ends_with(|c: char| c.is_ascii_digit()) {
        1
    } else {
        2
    }
}

/// A link an installer keeps on purpose and moves along with each upgrade of the minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InstallerLink {
    /// Homebrew's `opt/python@3.X`.
    HomebrewOpt,
    /// uv's `cpython-3.X-<platform>` minor-version link.
    UvMinor,
    /// mise's (and asdf's) `installs/python/3.X`.
    MiseMinor,
}

impl InstallerLink {
    fn why(self, path: &Path, version: &PythonVersion) -> String {
        let minor = version.short();
        match self {
            InstallerLink::HomebrewOpt => format!(
                "`{}` goes through Homebrew's `opt/python@{minor}` link, which `brew upgrade` \
                 moves to each new {minor} keg",
                path.display()
            ),
            InstallerLink::UvMinor => format!(
                "`{}` goes through uv's minor-version link `cpython-{minor}-…`, which \
                 `uv python upgrade` moves to each new {minor} patch",
                path.display()
            ),
            InstallerLink::MiseMinor => format!(
                "`{}` goes through the `installs/python/{minor}` link, which mise moves to \
                 each new {minor} patch",
                path.display()
            ),
        }
    }
}

fn installer_link(path: &Path, version: &PythonVersion) -> Option<InstallerLink> {
    let minor = version.short();
    let dirs: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let formula = format!("python@{minor}");
    if dirs.windows(2).any(|w| w[0] == "opt" && w[1] == formula) {
        return Some(InstallerLink::HomebrewOpt);
    }
    let uv = format!("cpython-{minor}-");
    if dirs.iter().any(|d| d.starts_with(&uv)) {
        return Some(InstallerLink::UvMinor);
    }
    if dirs
        .windows(3)
        .any(|w| w[0] == "installs" && w[1] == "python" && w[2] == minor)
    {
        return Some(InstallerLink::MiseMinor);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best(paths: &[&str], version: &str) -> StablePath {
        let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        most_stable(&paths, &version.parse().unwrap())
    }

    #[test]
    fn homebrew_opt_minor_link_over_kegs_and_the_default_formula() {
        let chosen = best(
            &[
                "/opt/homebrew/Cellar/python@3.12/3.12.1_1/bin/python3.12",
                "/opt/homebrew/opt/python@3/bin/python3.12",
                "/opt/homebrew/bin/python3",
                "/opt/homebrew/bin/python3.12",
                "/opt/homebrew/opt/python@3.12/bin/python3.12",
            ],
            "3.12.1",
        );
        assert_eq!(
            chosen.path,
            PathBuf::from("/opt/homebrew/opt/python@3.12/bin/python3.12")
        );
        assert!(chosen.why.unwrap().contains("brew upgrade"));
    }

    #[test]
    fn uv_and_mise_minor_links_over_patch_dirs() {
        let chosen = best(
            &[
                "/h/.local/share/uv/python/cpython-3.12.1-linux-x86_64-gnu/bin/python3.12",
                "/h/.local/share/uv/python/cpython-3.12-linux-x86_64-gnu/bin/python3.12",
            ],
            "3.12.1",
        );
        assert!(
            chosen.path.to_string_lossy().contains("cpython-3.12-linux"),
            "{chosen:?}"
        );
        let chosen = best(
            &[
                "/h/.local/share/mise/installs/python/3.12.1/bin/python3.12",
                "/h/.local/share/mise/installs/python/3.12/bin/python3.12",
                "/h/.local/share/mise/installs/python/3.12/bin/python3",
            ],
            "3.12.1",
        );
        assert_eq!(
            chosen.path,
            PathBuf::from("/h/.local/share/mise/installs/python/3.12/bin/python3.12")
        );
    }

    #[test]
    fn versioned_system_name_over_python3() {
        let chosen = best(&["/usr/bin/python3", "/usr/bin/python3.11"], "3.11.2");
        assert_eq!(chosen.path, PathBuf::from("/usr/bin/python3.11"));
        assert!(chosen.why.unwrap().contains("moves to the next minor"));
        // Only a patch dir: it is what there is, and nothing to say.
        let chosen = best(&["/h/.pyenv/versions/3.12.1/bin/python3.12"], "3.12.1");
        assert_eq!(chosen.stability, Stability::Patch);
        assert_eq!(chosen.why, None);
    }

    #[test]
    fn patch_names_are_bounded() {
        let v: PythonVersion = "3.12.1".parse().unwrap();
        for dir in [
            "3.12.1",
            "3.12.1_1",
            "cpython-3.12.1-linux-x86_64-gnu",
            "python-3.12.1",
        ] {
            assert!(names_patch(dir, &v), "{dir}");
        }
        assert!(names_patch("3.12.10", &v), "another patch of the minor");
        for dir in [
            "13.12.1",
            "3.12",
            "python@3.12",
            "cpython-3.12-linux",
            "3.12.x",
        ] {
            assert!(!names_patch(dir, &v), "{dir}");
        }
    }
}
