//! What is installed in a venv, read from its metadata files without running anything.
//!
//! A broken venv cannot answer `pip freeze`: its interpreter is gone or is another minor. But
//! everything a recreate needs is on disk: each `lib/pythonX.Y/site-packages/*.dist-info`
//! (`METADATA`, `INSTALLER`, `REQUESTED`, PEP 610 `direct_url.json`, `WHEEL` tags, `RECORD`),
//! old setuptools `*.egg-info` entries, and legacy editables (`*.egg-link` pointing at a
//! project's `.egg-info`). This module reads them into [`Distribution`]s and renders pip-style
//! requirement lines ([`freeze`]). It only reads files: it never executes anything from the
//! venv, never writes, and never prints. A malformed entry becomes a [`DistWarning`] naming the
//! file, and the others are still listed.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::safe_read::{self, Follow};

/// Distributions the venv creators seed; left out of [`freeze`] unless asked for.
pub const SEED_PACKAGES: &[&str] = &["pip", "setuptools", "wheel", "distribute"];

/// Why a venv's distributions could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DistsError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("`{}` is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("`{}` has no `lib/python*/site-packages` directory: is it a venv?", path.display())]
    NoSitePackages { path: PathBuf },
    #[error("could not read `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// A problem with one entry of site-packages; the rest is still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistWarning {
    /// The file or directory at fault.
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for DistWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.path.display(), self.message)
    }
}

/// A `lib/pythonX.Y/site-packages` directory of the venv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SitePackages {
    /// `<venv>/lib/python3.8/site-packages`.
    pub path: PathBuf,
    /// The `lib/` child it sits in: `python3.8`.
    pub lib_dir: String,
}

/// Where a distribution's metadata was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MetadataSource {
    /// A `*.dist-info` directory (wheel installs, PEP 660 editables).
    DistInfo { path: PathBuf },
    /// A `*.egg-info` directory or file in site-packages (old setuptools / distutils installs).
    EggInfo { path: PathBuf },
    /// A legacy editable: `link` (`<name>.egg-link` in site-packages) points at `project`, whose
    /// `.egg-info` (if found) is `egg_info`.
    EggLink {
        link: PathBuf,
        project: PathBuf,
        egg_info: Option<PathBuf>,
    },
}

/// PEP 610 `direct_url.json`: how a distribution not from an index was installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectUrl {
    pub url: String,
    /// `dir_info.editable`.
    pub editable: bool,
    /// `dir_info` present: a local directory was installed.
    pub dir: bool,
    pub vcs: Option<VcsInfo>,
    /// `archive_info` present: an archive (wheel or sdist, local or remote) was installed.
    pub archive: Option<ArchiveInfo>,
    /// `subdirectory`: the project lives in this subdirectory of the URL.
    pub subdirectory: Option<String>,
}

/// PEP 610 `vcs_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VcsInfo {
    /// `git`, `hg`, `bzr`, `svn`.
    pub vcs: String,
    pub commit_id: String,
    pub requested_revision: Option<String>,
}

/// PEP 610 `archive_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveInfo {
    /// `hash` (`sha256=...`), or the first entry of `hashes` as `algo=value`.
    pub hash: Option<String>,
}

/// Why a distribution must be rebuilt for another Python: a binary wheel tag, or an extension
/// module listed in `RECORD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compiled {
    /// `cp38-cp38-manylinux_2_17_x86_64`, or the extension file's RECORD path.
    pub evidence: String,
}

/// One installed distribution, as read from its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distribution {
    /// The project name as written in `METADATA` `Name:` (`MarkupSafe`).
    pub name: String,
    /// PEP 503 normalised name (`markupsafe`), for comparing and de-duplicating.
    pub normalized_name: String,
    /// `Version:`; empty when unknown (a legacy editable whose `.egg-info` is gone).
    pub version: String,
    /// `Requires-Python:` from the metadata headers.
    pub requires_python: Option<String>,
    /// `Requires-Dist:` lines, verbatim.
    pub requires_dist: Vec<String>,
    /// `INSTALLER` (`pip`, `uv`), if present.
    pub installer: Option<String>,
    /// `REQUESTED` present: the user asked for it (pip); uv writes it on everything.
    pub requested: bool,
    /// virtualenv seeded it (a `<name>-<version>.virtualenv` marker beside it).
    pub virtualenv_seed: bool,
    pub direct_url: Option<DirectUrl>,
    /// `WHEEL` `Tag:` values.
    pub wheel_tags: Vec<String>,
    /// `Some` when the distribution holds compiled code.
    pub compiled: Option<Compiled>,
    /// Console scripts it installed into `bin/` (from `RECORD`).
    pub console_scripts: Vec<String>,
    /// The site-packages directory it lives in.
    pub site_packages: PathBuf,
    pub source: MetadataSource,
}

/// Everything found in a venv's site-packages directories.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Installed {
    /// Every `lib/python*/site-packages` dir, in version order.
    pub site_packages: Vec<SitePackages>,
    /// Distributions, sorted case-insensitively by name (then by site-packages dir).
    pub dists: Vec<Distribution>,
    pub warnings: Vec<DistWarning>,
}

/// What [`freeze`] keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FreezeOptions {
    /// Keep the seed tooling ([`SEED_PACKAGES`]).
    pub all: bool,
    /// Keep only distributions with `REQUESTED` (a hint: uv writes it on everything).
    pub top_level: bool,
}

/// The requirement list of a venv.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Freeze {
    /// The distributions listed, in output order.
    pub dists: Vec<Distribution>,
    /// Normalised names of seed tooling left out (without `--all`).
    pub omitted_seeds: Vec<String>,
    pub warnings: Vec<DistWarning>,
}

impl Freeze {
    /// One pip requirement line per distribution, with a trailing comment on compiled ones.
    pub fn lines(&self) -> Vec<String> {
        self.dists.iter().map(Distribution::freeze_line).collect()
    }
}

/// PEP 503 normalisation: lower-case, runs of `-`, `_` and `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

impl Distribution {
    /// A `pip install -r` line: `Name==Version`, `-e <path>`, `name @ git+URL@commit`, or
    /// `name @ URL`.
    pub fn requirement(&self) -> String {
        if let MetadataSource::EggLink { project, .. } = &self.source {
            return format!("-e {}", quote_path(project));
        }
        let Some(direct) = &self.direct_url else {
            return format!("{}=={}", self.name, self.version);
        };
        let fragment = direct
            .subdirectory
            .as_ref()
            .map(|s| format!("#subdirectory={s}"))
            .unwrap_or_default();
        if let Some(vcs) = &direct.vcs {
            let prefix = format!("{}+", vcs.vcs);
            let url = if direct.url.starts_with(&prefix) {
                direct.url.clone()
            } else {
                format!("{prefix}{}", direct.url)
            };
            if direct.editable {
                let sep = if fragment.is_empty() { "#" } else { "&" };
                let egg = self.name.replace('-', "_");
                return format!("-e {url}@{}{fragment}{sep}egg={egg}", vcs.commit_id);
            }
            if !url_has_host(&url) {
                // pip up to 24 (packaging 21.3) rejects a host-less `git+file:///...` in a PEP
                // 508 `name @ url`; the `#egg=` form is accepted by every pip and by uv.
                let sep = if fragment.is_empty() { "#" } else { "&" };
                let egg = self.name.replace('-', "_");
                return format!("{url}@{}{fragment}{sep}egg={egg}", vcs.commit_id);
            }
            return format!("{} @ {url}@{}{fragment}", self.name, vcs.commit_id);
        }
        if direct.editable {
            return match file_url_to_path(&direct.url) {
                Some(path) => format!("-e {}", quote_path(&path)),
                None => format!("-e {}", direct.url),
            };
        }
        format!("{} @ {}{fragment}", self.name, direct.url)
    }

    /// [`Self::requirement`], plus `  # compiled (...): must be rebuilt for another Python`
    /// when the distribution holds compiled code (pip ignores comments after whitespace).
    pub fn freeze_line(&self) -> String {
        match &self.compiled {
            // The stable ABI (`cp37-abi3-...`) runs on every later CPython 3.
            Some(c) if c.evidence.contains("-abi3-") => format!(
                "{}  # compiled ({}): stable ABI, runs on later Pythons too",
                self.requirement(),
                c.evidence
            ),
            Some(c) => format!(
                "{}  # compiled ({}): must be rebuilt for another Python",
                self.requirement(),
                c.evidence
            ),
            None => self.requirement(),
        }
    }

    /// Installed as editable (PEP 660 `direct_url.json`, or a legacy `.egg-link`).
    pub fn is_editable(&self) -> bool {
        matches!(self.source, MetadataSource::EggLink { .. })
            || self.direct_url.as_ref().is_some_and(|d| d.editable)
    }

    /// One of the creators' seed packages ([`SEED_PACKAGES`]).
    pub fn is_seed(&self) -> bool {
        SEED_PACKAGES.contains(&self.normalized_name.as_str())
    }
}

/// The venv's `lib/python*/site-packages` dirs (and `lib64/...` when it is not a link to
/// `lib`), in version order.
pub fn site_packages_dirs(venv: &Path) -> Result<Vec<SitePackages>, DistsError> {
    match fs::metadata(venv) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DistsError::NotFound {
                path: venv.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(DistsError::Io {
                path: venv.to_path_buf(),
                source,
            });
        }
        Ok(m) if !m.is_dir() => {
            return Err(DistsError::NotADirectory {
                path: venv.to_path_buf(),
            });
        }
        Ok(_) => {}
    }
    let mut found: Vec<(PathBuf, SitePackages)> = Vec::new();
    for lib in ["lib", "lib64"] {
        let lib_path = venv.join(lib);
        let entries = match fs::read_dir(&lib_path) {
            Ok(entries) => entries,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                continue;
            }
            Err(source) => {
                return Err(DistsError::Io {
                    path: lib_path,
                    source,
                });
            }
        };
        for entry in entries.flatten() {
            let lib_dir = entry.file_name().to_string_lossy().into_owned();
            let site = entry.path().join("site-packages");
            if !(lib_dir.starts_with("python") || lib_dir.starts_with("pypy")) || !site.is_dir() {
                continue;
            }
            // `lib64 -> lib` would list everything twice.
            let canonical = site.canonicalize().unwrap_or_else(|_| site.clone());
            if found.iter().any(|(c, _)| *c == canonical) {
                continue;
            }
            found.push((
                canonical,
                SitePackages {
                    path: site,
                    lib_dir,
                },
            ));
        }
    }
    if found.is_empty() {
        return Err(DistsError::NoSitePackages {
            path: venv.to_path_buf(),
        });
    }
    let mut dirs: Vec<SitePackages> = found.into_iter().map(|(_, s)| s).collect();
    dirs.sort_by_key(|s| lib_dir_key(&s.lib_dir));
    Ok(dirs)
}

/// Sort key for `python3.8` < `python3.10` (numeric, not lexical).
fn lib_dir_key(name: &str) -> (Vec<u64>, String) {
    let digits = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let nums = digits
        .split('.')
        .map_while(|p| p.parse::<u64>().ok())
        .collect();
    (nums, name.to_string())
}

/// Read every distribution installed in `venv`, from files only.
pub fn read_distributions(venv: &Path) -> Result<Installed, DistsError> {
    let site_packages = site_packages_dirs(venv)?;
    let mut installed = Installed {
        site_packages: site_packages.clone(),
        ..Installed::default()
    };
    for site in &site_packages {
        read_site_packages(&site.path, &mut installed)?;
    }
    installed.dists.sort_by(|a, b| {
        (a.normalized_name.as_str(), a.name.as_str())
            .cmp(&(b.normalized_name.as_str(), b.name.as_str()))
    });
    Ok(installed)
}

/// The requirement list of `venv`: [`read_distributions`], filtered by `options`, one entry
/// per normalised name (a warning names any duplicate left out).
pub fn freeze(venv: &Path, options: &FreezeOptions) -> Result<Freeze, DistsError> {
    let installed = read_distributions(venv)?;
    let mut out = Freeze {
        warnings: installed.warnings,
        ..Freeze::default()
    };
    for dist in installed.dists {
        if !options.all && dist.is_seed() {
            if !out.omitted_seeds.contains(&dist.normalized_name) {
                out.omitted_seeds.push(dist.normalized_name.clone());
            }
            continue;
        }
        if options.top_level && !dist.requested && !dist.is_editable() {
            continue;
        }
        if let Some(kept) = out
            .dists
            .iter()
            .find(|d| d.normalized_name == dist.normalized_name)
        {
            out.warnings.push(DistWarning {
                path: dist.site_packages.clone(),
                message: format!(
                    "`{}` {} is also installed in `{}` ({}); listing only that one",
                    dist.name,
                    dist.version,
                    kept.site_packages.display(),
                    kept.version
                ),
            });
            continue;
        }
        out.dists.push(dist);
    }
    Ok(out)
}

fn read_site_packages(site: &Path, installed: &mut Installed) -> Result<(), DistsError> {
    let entries = fs::read_dir(site).map_err(|source| DistsError::Io {
        path: site.to_path_buf(),
        source,
    })?;
    let mut names: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    names.sort();
    let seed_markers: Vec<String> = names
        .iter()
        .filter_map(|(n, _)| n.strip_suffix(".virtualenv"))
        .filter_map(|stem| stem.rsplit_once('-'))
        .map(|(name, _)| normalize_name(name))
        .collect();
    for (name, path) in &names {
        let result = if name.ends_with(".dist-info") && path.is_dir() {
            read_dist_info(site, path)
        } else if name.ends_with(".egg-info") {
            read_egg_info(site, path)
        } else if name.ends_with(".egg-link") && path.is_file() {
            read_egg_link(site, path)
        } else {
            continue;
        };
        match result {
            Ok(mut dist) => {
                dist.virtualenv_seed = seed_markers.contains(&dist.normalized_name);
                installed.dists.push(dist);
            }
            Err(warning) => installed.warnings.push(warning),
        }
    }
    Ok(())
}

/// Read an optional file of a metadata dir: `Ok(None)` when absent.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, DistWarning> {
    read_optional_bounded(path, safe_read::limit::SMALL)
}

/// [`read_optional`] with the bound for this kind of file.
fn read_optional_bounded(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, DistWarning> {
    safe_read::read_optional(path, limit, Follow::Links).map_err(|e| DistWarning {
        path: path.to_path_buf(),
        message: format!("could not read: {}", e.reason()),
    })
}

fn read_dist_info(site: &Path, dir: &Path) -> Result<Distribution, DistWarning> {
    let metadata_path = dir.join("METADATA");
    let bytes =
        read_optional_bounded(&metadata_path, safe_read::limit::METADATA)?.ok_or_else(|| {
            DistWarning {
                path: dir.to_path_buf(),
                message: "no METADATA file: not a valid installed distribution, skipped".into(),
            }
        })?;
    let headers = Headers::parse(&bytes).map_err(|message| DistWarning {
        path: metadata_path.clone(),
        message,
    })?;
    let (name, version) = headers.name_and_version(&metadata_path)?;

    let installer = read_optional(&dir.join("INSTALLER"))?
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|s| !s.is_empty());
    let requested = dir.join("REQUESTED").exists();

    let direct_url =
        match read_optional_bounded(&dir.join("direct_url.json"), safe_read::limit::METADATA)? {
            Some(bytes) => Some(DirectUrl::parse(&bytes).map_err(|message| DistWarning {
                path: dir.join("direct_url.json"),
                message,
            })?),
            None => None,
        };

    let wheel_tags = read_optional(&dir.join("WHEEL"))?
        .map(|b| wheel_tags(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let record = read_optional_bounded(&dir.join("RECORD"), safe_read::limit::RECORD)?
        .map(|b| Record::parse(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let compiled = compiled_tag(&wheel_tags)
        .map(|evidence| Compiled { evidence })
        .or_else(|| {
            record.extensions.first().map(|e| Compiled {
                evidence: e.clone(),
            })
        });

    Ok(Distribution {
        normalized_name: normalize_name(&name),
        name,
        version,
        requires_python: headers.get("Requires-Python").map(str::to_string),
        requires_dist: headers.get_all("Requires-Dist"),
        installer,
        requested,
        virtualenv_seed: false,
        direct_url,
        wheel_tags,
        compiled,
        console_scripts: record.console_scripts,
        site_packages: site.to_path_buf(),
        source: MetadataSource::DistInfo {
            path: dir.to_path_buf(),
        },
    })
}

/// Metadata of an egg-info entry: a directory with `PKG-INFO`, or a file that is the PKG-INFO.
fn egg_info_headers(path: &Path) -> Result<Headers, DistWarning> {
    let file = if path.is_dir() {
        path.join("PKG-INFO")
    } else {
        path.to_path_buf()
    };
    let bytes = safe_read::read(&file, safe_read::limit::METADATA, Follow::Links).map_err(|e| {
        DistWarning {
            path: file.clone(),
            message: format!("could not read: {}", e.reason()),
        }
    })?;
    Headers::parse(&bytes).map_err(|message| DistWarning {
        path: file,
        message,
    })
}

fn read_egg_info(site: &Path, path: &Path) -> Result<Distribution, DistWarning> {
    let headers = egg_info_headers(path)?;
    let (name, version) = headers.name_and_version(path)?;
    let installer = if path.is_dir() {
        read_optional(&path.join("INSTALLER"))?
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .filter(|s| !s.is_empty())
    } else {
        None
    };
    Ok(Distribution {
        normalized_name: normalize_name(&name),
        name,
        version,
        requires_python: headers.get("Requires-Python").map(str::to_string),
        requires_dist: headers.get_all("Requires-Dist"),
        installer,
        requested: false,
        virtualenv_seed: false,
        direct_url: None,
        wheel_tags: Vec::new(),
        compiled: None,
        console_scripts: Vec::new(),
        site_packages: site.to_path_buf(),
        source: MetadataSource::EggInfo {
            path: path.to_path_buf(),
        },
    })
}

/// A legacy editable: `<name>.egg-link` holds the egg path (where the `.egg-info` is) on its
/// first line and the path back to the project root, relative to it, on the second.
fn read_egg_link(site: &Path, link: &Path) -> Result<Distribution, DistWarning> {
    let text = safe_read::read_text(link, safe_read::limit::SMALL, Follow::Links).map_err(|e| {
        DistWarning {
            path: link.to_path_buf(),
            message: format!("could not read: {}", e.reason()),
        }
    })?;
    let mut lines = text.lines().map(str::trim);
    let egg_path = match lines.next() {
        Some(first) if !first.is_empty() => PathBuf::from(first),
        _ => {
            return Err(DistWarning {
                path: link.to_path_buf(),
                message: "empty .egg-link: no project path, skipped".into(),
            });
        }
    };
    let egg_path = if egg_path.is_absolute() {
        egg_path
    } else {
        site.join(egg_path)
    };
    let project = match lines.next().filter(|l| !l.is_empty()) {
        Some(back) => crate::links::normalize(&egg_path.join(back)),
        None => crate::links::normalize(&egg_path),
    };
    if project.to_string_lossy().chars().any(char::is_control) {
        return Err(DistWarning {
            path: link.to_path_buf(),
            message: "the project path holds a control character: malformed, skipped".into(),
        });
    }
    let link_stem = link
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();

    let egg_info = fs::read_dir(&egg_path).ok().and_then(|entries| {
        let mut infos: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "egg-info") && p.is_dir())
            .collect();
        infos.sort();
        // Prefer the one named like the link.
        let wanted = normalize_name(&link_stem);
        let pos = infos.iter().position(|p| {
            p.file_stem()
                .is_some_and(|s| normalize_name(&s.to_string_lossy()) == wanted)
        });
        match pos {
            Some(i) => Some(infos.swap_remove(i)),
            None => infos.into_iter().next(),
        }
    });
    let (name, version, requires_python, requires_dist) = match &egg_info {
        Some(info) => {
            let headers = egg_info_headers(info)?;
            let (name, version) = headers.name_and_version(info)?;
            let rp = headers.get("Requires-Python").map(str::to_string);
            (name, version, rp, headers.get_all("Requires-Dist"))
        }
        // Still worth listing: `-e <path>` reinstalls it; the name comes from the link.
        None => (link_stem, String::new(), None, Vec::new()),
    };
    Ok(Distribution {
        normalized_name: normalize_name(&name),
        name,
        version,
        requires_python,
        requires_dist,
        installer: None,
        requested: true,
        virtualenv_seed: false,
        direct_url: None,
        wheel_tags: Vec::new(),
        compiled: None,
        console_scripts: Vec::new(),
        site_packages: site.to_path_buf(),
        source: MetadataSource::EggLink {
            link: link.to_path_buf(),
            project,
            egg_info,
        },
    })
}

/// The header block of a core-metadata file (`METADATA`, `PKG-INFO`): RFC 822 style lines up
/// to the first blank line; the description body after it is never read as headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// Parse the header block; an error message when it is not text or has no header at all.
    pub fn parse(bytes: &[u8]) -> Result<Headers, String> {
        // Only the header block must be text: an old description body may be in any encoding.
        let mut end = bytes.len();
        let mut start_of_line = 0;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                if bytes[start_of_line..i]
                    .iter()
                    .all(|c| c.is_ascii_whitespace())
                {
                    end = start_of_line;
                    break;
                }
                start_of_line = i + 1;
            }
        }
        let text = std::str::from_utf8(&bytes[..end])
            .map_err(|e| format!("not UTF-8 text ({e}): malformed metadata, skipped"))?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                // A continuation line (folded header).
                if let Some((_, value)) = fields.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                continue;
            }
            match line.split_once(':') {
                Some((key, value)) if !key.is_empty() && !key.contains(' ') => {
                    fields.push((key.to_string(), value.trim().to_string()));
                }
                _ => {
                    return Err(format!(
                        "not a metadata header: {line:?}: malformed, skipped"
                    ));
                }
            }
        }
        Ok(Headers { fields })
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (case-insensitive), in order.
    pub fn get_all(&self, key: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn name_and_version(&self, path: &Path) -> Result<(String, String), DistWarning> {
        let field = |key: &str| {
            self.get(key)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| DistWarning {
                    path: path.to_path_buf(),
                    message: format!("no `{key}:` header: malformed metadata, skipped"),
                })
        };
        let (name, version) = (field("Name")?, field("Version")?);
        // A folded header (`Version: 1.0` + `\n -e /evil`) or any other character a
        // requirements file gives meaning to must never reach a requirement line.
        if !valid_name(&name) {
            return Err(DistWarning {
                path: path.to_path_buf(),
                message: format!(
                    "`Name: {}` is not a valid distribution name (PEP 508): malformed metadata, \
                     skipped",
                    name.escape_debug()
                ),
            });
        }
        if !valid_version(&version) {
            return Err(DistWarning {
                path: path.to_path_buf(),
                message: format!(
                    "`Version: {}` is not a version (PEP 440): malformed metadata, skipped",
                    version.escape_debug()
                ),
            });
        }
        Ok((name, version))
    }
}

/// A PEP 508 distribution name: ASCII letters and digits, with `.`, `_` and `-` inside.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 200
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A version as PEP 440 spells them (epoch `N!`, release, pre/post/dev tags, local `+x.y`),
/// and the legacy versions pip still installs: only the characters those use, starting with
/// a digit (or `v`). Whitespace, `@`, `;`, `#`, quotes and line breaks are never in one.
pub fn valid_version(version: &str) -> bool {
    let body = version.strip_prefix(['v', 'V']).unwrap_or(version);
    !body.is_empty()
        && version.len() <= 128
        && body.as_bytes()[0].is_ascii_digit()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'!' | b'+' | b'_' | b'-'))
}

/// A URL that can stand in a requirement line: a known scheme, no whitespace, no control
/// character, no quote (pip and uv split requirement lines on those).
fn valid_url(url: &str) -> bool {
    let schemes = [
        "file:", "http:", "https:", "git+", "hg+", "svn+", "bzr+", "git:", "ssh:",
    ];
    schemes.iter().any(|s| url.starts_with(s))
        && url.len() <= 4096
        && url
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\'' | '\\'))
}

/// A commit id, a VCS name or a subdirectory: no character with meaning in a requirement.
fn valid_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 1024
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

impl DirectUrl {
    /// Parse a `direct_url.json` (PEP 610); an error message when it is not valid.
    pub fn parse(bytes: &[u8]) -> Result<DirectUrl, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        let url = value
            .get("url")
            .and_then(|u| u.as_str())
            .filter(|u| !u.is_empty())
            .ok_or("no `url` string")?
            .to_string();
        let str_of = |v: &serde_json::Value, key: &str| {
            v.get(key).and_then(|x| x.as_str()).map(str::to_string)
        };
        let dir_info = value.get("dir_info");
        let vcs = match value.get("vcs_info") {
            Some(info) => Some(VcsInfo {
                vcs: str_of(info, "vcs").ok_or("`vcs_info` without `vcs`")?,
                commit_id: str_of(info, "commit_id").ok_or("`vcs_info` without `commit_id`")?,
                requested_revision: str_of(info, "requested_revision"),
            }),
            None => None,
        };
        if !valid_url(&url) {
            return Err(format!(
                "`url` {:?} is not a URL venvfix can put in a requirement",
                url
            ));
        }
        if let Some(vcs) = &vcs
            && !(matches!(vcs.vcs.as_str(), "git" | "hg" | "svn" | "bzr")
                && valid_token(&vcs.commit_id))
        {
            return Err(format!(
                "`vcs_info` {:?} / {:?} is not a version control system and commit",
                vcs.vcs, vcs.commit_id
            ));
        }
        if let Some(sub) = str_of(&value, "subdirectory")
            && (!valid_token(&sub) || sub.split('/').any(|c| c == ".."))
        {
            return Err(format!("`subdirectory` {sub:?} is not a relative path"));
        }
        let archive = value.get("archive_info").map(|info| ArchiveInfo {
            hash: str_of(info, "hash").or_else(|| {
                info.get("hashes")
                    .and_then(|h| h.as_object())
                    .and_then(|h| h.iter().next())
                    .and_then(|(algo, v)| v.as_str().map(|v| format!("{algo}={v}")))
            }),
        });
        Ok(DirectUrl {
            url,
            editable: dir_info
                .and_then(|d| d.get("editable"))
                .and_then(|e| e.as_bool())
                .unwrap_or(false),
            dir: dir_info.is_some(),
            vcs,
            archive,
            subdirectory: str_of(&value, "subdirectory"),
        })
    }
}

/// A path as pip's requirement-file parser (`shlex.split` of the options) reads it back:
/// single-quoted when it holds whitespace, quotes, `#` or backslashes.
fn quote_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text
        .chars()
        .any(|c| c.is_whitespace() || "'\"#\\$`".contains(c))
    {
        format!("'{}'", text.replace('\'', "'\"'\"'"))
    } else {
        text.into_owned()
    }
}

/// Whether `scheme://host/...` names a host (`file:///x` does not).
fn url_has_host(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
}

/// A local path from a `file:` URL, percent-decoded; `None` for other URLs.
pub fn file_url_to_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The `Tag:` values of a `WHEEL` file.
pub fn wheel_tags(wheel: &str) -> Vec<String> {
    wheel
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("Tag"))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The first tag naming an ABI (`cp38`, `abi3`, anything but `none`) or a platform (anything but
/// `any`): such a wheel holds compiled code built for one Python.
pub fn compiled_tag(tags: &[String]) -> Option<String> {
    tags.iter()
        .find(|tag| {
            let mut parts = tag.rsplitn(3, '-');
            let platform = parts.next().unwrap_or("any");
            let abi = parts.next().unwrap_or("none");
            platform != "any" || abi != "none"
        })
        .cloned()
}

/// What `RECORD` says beyond file hashes: console scripts and extension modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Names of `bin/` entries (`../../../bin/<name>`).
    pub console_scripts: Vec<String>,
    /// Paths of compiled extension modules (`.so`, `.pyd`).
    pub extensions: Vec<String>,
    /// Every path listed, as written (relative to site-packages, `../../../bin/x` for scripts).
    pub files: Vec<String>,
}

impl Record {
    /// Parse the CSV text of a `RECORD` (only the path column is used).
    pub fn parse(text: &str) -> Record {
        let mut record = Record::default();
        for line in text.lines() {
            let path = csv_first_field(line);
            if !path.is_empty() {
                record.files.push(path.clone());
            }
            if let Some(script) = path.strip_prefix("../../../bin/") {
                if !script.is_empty() && !script.contains('/') {
                    record.console_scripts.push(script.to_string());
                }
            } else if path.ends_with(".so") || path.ends_with(".pyd") {
                record.extensions.push(path);
            }
        }
        record
    }
}

/// The first field of a CSV line, with `"quoted, fields"` unquoted.
fn csv_first_field(line: &str) -> String {
    if let Some(rest) = line.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    out.push('"');
                    chars.next();
                } else {
                    break;
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        line.split(',').next().unwrap_or("").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, version: &str) -> Distribution {
        Distribution {
            name: name.into(),
            normalized_name: normalize_name(name),
            version: version.into(),
            requires_python: None,
            requires_dist: Vec::new(),
            installer: Some("pip".into()),
            requested: true,
            virtualenv_seed: false,
            direct_url: None,
            wheel_tags: Vec::new(),
            compiled: None,
            console_scripts: Vec::new(),
            site_packages: PathBuf::from("/v/lib/python3.8/site-packages"),
            source: MetadataSource::DistInfo {
                path: PathBuf::from("/v/lib/python3.8/site-packages/x.dist-info"),
            },
        }
    }

    #[test]
    fn normalizes_names_like_pep_503() {
        assert_eq!(normalize_name("MarkupSafe"), "markupsafe");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("Foo__Bar-.-baz"), "foo-bar-baz");
        assert_eq!(normalize_name("venvfix_demo"), "venvfix-demo");
    }

    #[test]
    fn metadata_headers_stop_at_the_first_blank_line() {
        let text = "Metadata-Version: 2.1\nName: MarkupSafe\nVersion: 2.1.5\nRequires-Python: >=3.7\n\
                    Requires-Dist: a ; extra == 'x'\nRequires-Dist: b\nLicense: BSD\n  continued\n\n\
                    Name: not-a-header\nVersion: 9\n";
        let h = Headers::parse(text.as_bytes()).unwrap();
        assert_eq!(h.get("name"), Some("MarkupSafe"));
        assert_eq!(h.get("Version"), Some("2.1.5"));
        assert_eq!(h.get("Requires-Python"), Some(">=3.7"));
        assert_eq!(h.get_all("Requires-Dist"), ["a ; extra == 'x'", "b"]);
        assert_eq!(h.get("License"), Some("BSD\ncontinued"));
    }

    #[test]
    fn garbage_metadata_is_an_error_message() {
        assert!(Headers::parse(b"\xff\xfe\x00garbage").is_err());
        assert!(Headers::parse(b"this is not metadata at all\n").is_err());
        let latin1_body = Headers::parse(b"Name: x\nVersion: 1\n\nCaf\xe9\n").unwrap();
        assert_eq!(latin1_body.get("Version"), Some("1"));
        let h = Headers::parse(b"Metadata-Version: 2.1\n").unwrap();
        let e = h.name_and_version(Path::new("/x/METADATA")).unwrap_err();
        assert!(e.to_string().contains("/x/METADATA") && e.message.contains("Name"));
    }

    #[test]
    fn parses_direct_url_json() {
        let editable = DirectUrl::parse(
            br#"{"dir_info": {"editable": true}, "url": "file:///home/u/src/tiny%20flat"}"#,
        )
        .unwrap();
        assert!(editable.editable && editable.dir);
        assert_eq!(
            file_url_to_path(&editable.url),
            Some(PathBuf::from("/home/u/src/tiny flat"))
        );

        let vcs = DirectUrl::parse(
            br#"{"url":"https://github.com/a/b.git","vcs_info":{"vcs":"git","commit_id":"abc123","requested_revision":"main"},"subdirectory":"py"}"#,
        )
        .unwrap();
        let vi = vcs.vcs.as_ref().unwrap();
        assert_eq!((vi.vcs.as_str(), vi.commit_id.as_str()), ("git", "abc123"));
        assert_eq!(vi.requested_revision.as_deref(), Some("main"));
        assert_eq!(vcs.subdirectory.as_deref(), Some("py"));

        let archive = DirectUrl::parse(
            br#"{"url":"https://x/pkg-1.0.tar.gz","archive_info":{"hashes":{"sha256":"ff"}}}"#,
        )
        .unwrap();
        assert_eq!(archive.archive.unwrap().hash.as_deref(), Some("sha256=ff"));

        assert!(DirectUrl::parse(b"{not json").is_err());
        assert!(DirectUrl::parse(br#"{"dir_info": {}}"#).is_err());
        assert!(DirectUrl::parse(br#"{"url":"u","vcs_info":{"vcs":"git"}}"#).is_err());
    }

    #[test]
    fn file_urls_decode_and_other_urls_do_not() {
        assert_eq!(
            file_url_to_path("file://localhost/a%2Fb/%C3%A9"),
            Some(PathBuf::from("/a/b/é"))
        );
        assert_eq!(
            file_url_to_path("file:///a/100%"),
            Some(PathBuf::from("/a/100%"))
        );
        assert_eq!(file_url_to_path("https://x/y"), None);
    }

    #[test]
    fn wheel_tags_tell_compiled_from_pure() {
        let tags = wheel_tags(
            "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\nRoot-Is-Purelib: false\n\
             Tag: cp38-cp38-manylinux_2_17_x86_64\nTag: cp38-cp38-manylinux2014_x86_64\n",
        );
        assert_eq!(tags.len(), 2);
        assert_eq!(
            compiled_tag(&tags).as_deref(),
            Some("cp38-cp38-manylinux_2_17_x86_64")
        );
        let pure = wheel_tags("Tag: py2-none-any\nTag: py3-none-any\n");
        assert_eq!(compiled_tag(&pure), None);
        assert!(compiled_tag(&["cp311-abi3-manylinux_2_28_x86_64".into()]).is_some());
        assert!(compiled_tag(&["py3-none-manylinux1_x86_64".into()]).is_some());
        assert!(compiled_tag(&["cp312-abi3-any".into()]).is_some());
    }

    #[test]
    fn record_names_console_scripts_and_extensions() {
        let r = Record::parse(
            "../../../bin/pip3.8,sha256=x,240\n\"odd, name.py\",sha256=y,1\n\
             markupsafe/_speedups.cpython-38-x86_64-linux-gnu.so,sha256=z,9\npip/__init__.py,,\n",
        );
        assert_eq!(r.console_scripts, ["pip3.8"]);
        assert_eq!(
            r.extensions,
            ["markupsafe/_speedups.cpython-38-x86_64-linux-gnu.so"]
        );
        assert_eq!(csv_first_field("\"a \"\"b\"\", c\",x"), "a \"b\", c");
    }

    #[test]
    fn renders_requirements_like_pip() {
        assert_eq!(
            dist("MarkupSafe", "2.1.5").requirement(),
            "MarkupSafe==2.1.5"
        );

        let mut e = dist("tinyflat", "0.1.0");
        e.direct_url =
            DirectUrl::parse(br#"{"dir_info":{"editable":true},"url":"file:///s/tiny%20flat"}"#)
                .ok();
        assert_eq!(e.requirement(), "-e '/s/tiny flat'");
        assert_eq!(quote_path(Path::new("/a/it's")), "'/a/it'\"'\"'s'");

        let mut v = dist("tiny-vcs", "0.1.0");
        v.direct_url = DirectUrl::parse(
            br#"{"url":"https://h/r.git","vcs_info":{"vcs":"git","commit_id":"c0ffee"}}"#,
        )
        .ok();
        assert_eq!(v.requirement(), "tiny-vcs @ git+https://h/r.git@c0ffee");
        v.direct_url.as_mut().unwrap().editable = true;
        assert_eq!(
            v.requirement(),
            "-e git+https://h/r.git@c0ffee#egg=tiny_vcs"
        );

        let mut a = dist("pkg", "1.0");
        a.direct_url =
            DirectUrl::parse(br#"{"url":"file:///w/pkg-1.0-py3-none-any.whl","archive_info":{}}"#)
                .ok();
        assert_eq!(a.requirement(), "pkg @ file:///w/pkg-1.0-py3-none-any.whl");

        let mut l = dist("tinylegacy", "0.4.0");
        l.source = MetadataSource::EggLink {
            link: "/v/tinylegacy.egg-link".into(),
            project: "/src/tinylegacy".into(),
            egg_info: None,
        };
        assert_eq!(l.requirement(), "-e /src/tinylegacy");
        assert!(l.is_editable());

        let mut c = dist("MarkupSafe", "2.1.5");
        c.compiled = Some(Compiled {
            evidence: "cp38-cp38-manylinux_2_17_x86_64".into(),
        });
        assert_eq!(
            c.freeze_line(),
            "MarkupSafe==2.1.5  # compiled (cp38-cp38-manylinux_2_17_x86_64): must be rebuilt for another Python"
        );
        let mut a = dist("charset-normalizer", "3.5.2");
        a.compiled = Some(Compiled {
            evidence: "cp37-abi3-manylinux_2_17_x86_64".into(),
        });
        assert!(
            a.freeze_line()
                .ends_with("stable ABI, runs on later Pythons too"),
            "{}",
            a.freeze_line()
        );
    }

    #[test]
    fn lexical_normalization_keeps_missing_paths() {
        assert_eq!(
            crate::links::normalize(Path::new("/p/src/../")),
            PathBuf::from("/p")
        );
        assert_eq!(
            crate::links::normalize(Path::new("/p/./x")),
            PathBuf::from("/p/x")
        );
    }

    #[test]
    fn lib_dirs_sort_numerically() {
        let mut dirs = vec!["python3.10", "python3.8", "python3.9"];
        dirs.sort_by_key(|d| lib_dir_key(d));
        assert_eq!(dirs, ["python3.8", "python3.9", "python3.10"]);
    }
}
