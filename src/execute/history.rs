//! The history of a venv: every backup venvfix keeps, as steps a user can list (`backups`,
//! `undo --list`), walk back one at a time (`undo`), apply explicitly (`undo --from`) and prune.
//!
//! History is a layer over the per-step backups of [`super::backup`]: each backup directory
//! holds, beside its `manifest.json` (what was saved), a `record.json` written when the step
//! succeeded (what the step was: a repair with its strategy and from → to, or an undo; when;
//! what the venv looked like afterwards; whether it has been undone). A backup without a record
//! never completed: a run in progress (its journal names it), or a leftover.
//!
//! A venv is identified by more than its path: each per-venv state dir keeps `venv.json`, the
//! path and the identity (device, inode, birth time) the venv's directory had after the last
//! step. A venv that was moved or renamed keeps its identity, so its history is found from its
//! new path; a state dir whose venv is nowhere to be found is an orphan, listed with the path
//! it belonged to. Loading and listing are read-only; every change here ([`mark_undone`],
//! [`prune`]) is an atomic write or rename, made under the venv's lock by the caller.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ExecError;
use super::backup::{AfterRepair, Backup, CreatedDir, Manifest};
use super::journal::Journal;
use super::state::{self, VenvState, read_json, write_json};

/// `record.json` in a backup directory.
pub const RECORD: &str = "record.json";
/// `venv.json` in a per-venv state directory.
pub const IDENTITY: &str = "venv.json";

/// What a step of the history was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// A repair; its backup is the state before it, which `undo` restores.
    Repair,
    /// An undo; its backup is the state before the undo (the repaired one), which
    /// `undo --from` can put back.
    Undo,
}

/// One side of a repair: the Python a venv ran before, or the one it runs after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Side {
    pub version: Option<String>,
    pub python: Option<PathBuf>,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.version, &self.python) {
            (Some(v), _) => write!(f, "{v}"),
            (None, Some(p)) => write!(f, "{}", p.display()),
            (None, None) => write!(f, "?"),
        }
    }
}

/// `record.json`: a step that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub format: u32,
    pub kind: StepKind,
    /// Where the venv was when the step was taken (canonical).
    pub venv: PathBuf,
    /// The repair's strategy (`relink`, `recreate`, ...); `None` for an undo.
    pub strategy: Option<String>,
    #[serde(default)]
    pub from: Option<Side>,
    #[serde(default)]
    pub to: Option<Side>,
    /// When the step finished.
    pub applied_at: String,
    /// The `repair` run this step belongs to (one id per command), for `undo DIR`.
    #[serde(default)]
    pub batch: Option<String>,
    /// The touched entries right after a repair, to tell whether they were changed since.
    #[serde(default)]
    pub after: Option<AfterRepair>,
    /// The plan, as `repair --json` shows it.
    #[serde(default)]
    pub plan: serde_json::Value,
    /// When the repair was undone (its backup was put back); `None` while it is applied.
    #[serde(default)]
    pub undone_at: Option<String>,
    /// For an undo: the backup of the repair it undid.
    #[serde(default)]
    pub undoes: Option<PathBuf>,
}

impl Record {
    /// A one-line description: `relink 3.8.18 -> 3.8.19`, `undo of relink ...`.
    pub fn describe(&self) -> String {
        let what = self.strategy.clone().unwrap_or_else(|| "undo".into());
        match (&self.from, &self.to) {
            // Same version on both sides (a base replaced by another build): say which one.
            (Some(from), Some(to)) if from.version == to.version && to.python.is_some() => {
                let python = to.python.as_deref().unwrap_or(Path::new(""));
                format!("{what} {from} -> {to} ({})", python.display())
            }
            (Some(from), Some(to)) => format!("{what} {from} -> {to}"),
            (None, Some(to)) => format!("{what} -> {to}"),
            _ => what,
        }
    }
}

/// `venv.json`: which venv a per-venv state dir belongs to, by path and identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The venv's path at its last step.
    pub path: PathBuf,
    /// Its directory's identity right after its last step (`None` if it did not exist).
    pub root: Option<CreatedDir>,
    pub updated_at: String,
}

/// Whether `undo` can apply a step, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Applicable {
    /// The next `undo` of its venv restores it.
    Next,
    /// The next `undo` would restore it, but what the repair changed was changed since
    /// (`undo --force` restores anyway).
    Changed { changed: Vec<String> },
    /// Reached by `undo` once the newer repairs are undone.
    Later,
    /// Already undone: its state is the venv's state (or was, before a later repair).
    Undone,
    /// The state before an undo: `undo --from` puts the repaired state back.
    Redo,
    /// Its venv is nowhere to be found: `undo --from BACKUP VENV` applies it to a venv.
    Orphan,
    /// A run in progress, or an interrupted one (its journal names it): never pruned.
    Pending,
    /// Left by a run that did not finish (no record, no journal names it).
    Leftover,
    /// Missing or changed on disk: it cannot be applied.
    Damaged { why: String },
}

impl Applicable {
    /// The word `backups` prints.
    pub fn label(&self) -> String {
        match self {
            Applicable::Next => "next".into(),
            Applicable::Changed { .. } => "next (changed since: --force)".into(),
            Applicable::Later => "after newer".into(),
            Applicable::Undone => "undone".into(),
            Applicable::Redo => "redo (--from)".into(),
            Applicable::Orphan => "orphan (--from)".into(),
            Applicable::Pending => "in progress".into(),
            Applicable::Leftover => "leftover".into(),
            Applicable::Damaged { .. } => "damaged".into(),
        }
    }

    /// Whether `undo` (walking, or `--from`) can still use the backup.
    pub fn usable(&self) -> bool {
        matches!(
            self,
            Applicable::Next
                | Applicable::Changed { .. }
                | Applicable::Later
                | Applicable::Redo
                | Applicable::Orphan
        )
    }
}

/// One backup of the state dir, read without changing anything.
#[derive(Debug, Clone)]
pub struct Step {
    /// The backup directory.
    pub dir: PathBuf,
    /// The per-venv state directory it belongs to.
    pub group: PathBuf,
    pub manifest: Option<Manifest>,
    pub record: Option<Record>,
    /// Why the manifest or the record cannot be read, or the saved entries are not there.
    pub damage: Option<String>,
    /// Named by the group's journal (a run in progress or interrupted).
    pub in_journal: bool,
    /// Bytes on disk (blocks, each inode once, links never followed).
    pub size: u64,
}

impl Step {
    /// When the step was taken (the manifest's time, else the directory name's stamp).
    pub fn created_at(&self) -> String {
        self.manifest
            .as_ref()
            .map(|m| m.created_at.clone())
            .unwrap_or_else(|| {
                let name = self.name();
                name.split('-').next().unwrap_or_default().to_string()
            })
    }

    /// The backup directory's name (`<UTC stamp>-<n>`).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Sort key: the stamp, then the counter as a number.
    fn order(&self) -> (String, u64) {
        let name = self.name();
        match name.rsplit_once('-') {
            Some((stamp, n)) => (stamp.to_string(), n.parse().unwrap_or(0)),
            None => (name, 0),
        }
    }

    /// The venv path recorded when the step was taken.
    pub fn recorded_venv(&self) -> Option<&Path> {
        self.record
            .as_ref()
            .map(|r| r.venv.as_path())
            .or(self.manifest.as_ref().map(|m| m.venv.as_path()))
    }

    /// A repair (or undo) that completed.
    pub fn kind(&self) -> Option<StepKind> {
        self.record.as_ref().map(|r| r.kind)
    }

    /// Whether the backup holds a whole venv tree (the original of a recreate).
    pub fn holds_tree(&self) -> bool {
        // A venv on another filesystem than the state dir keeps its original beside itself.
        let saved = self
            .manifest
            .as_ref()
            .and_then(|m| m.saved.clone())
            .unwrap_or_else(|| self.dir.join("venv"));
        fs::symlink_metadata(saved).is_ok_and(|m| m.is_dir())
    }
}

/// The backups of one per-venv state directory, oldest first.
#[derive(Debug, Clone)]
pub struct Group {
    pub dir: PathBuf,
    /// The venv's path as recorded (`venv.json`, else the newest backup's).
    pub path: PathBuf,
    /// The venv directory's identity after its last step, when recorded.
    pub root: Option<CreatedDir>,
    pub steps: Vec<Step>,
}

impl Group {
    /// Where the venv of this group is now, if at its recorded path: the path exists and, when
    /// an identity was recorded, is that same directory.
    pub fn at_recorded_path(&self) -> bool {
        match (&self.root, CreatedDir::of(&self.path)) {
            (Some(root), Some(now)) => root.same(&now),
            (None, now) => now.is_some(),
            (Some(_), None) => false,
        }
    }
}

/// Everything in a state dir, read once.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub groups: Vec<Group>,
}

/// One venv's history, newest step first, with what `undo` can do with each.
#[derive(Debug, Clone)]
pub struct VenvHistory {
    /// The venv's path now; `None` for an orphan (the recorded path is in `was`).
    pub venv: Option<PathBuf>,
    /// The path(s) the venv had when its steps were taken, when different from `venv`.
    pub was: Vec<PathBuf>,
    pub steps: Vec<(Step, Applicable)>,
}

impl VenvHistory {
    /// The step the next `undo` applies: the newest repair still applied.
    pub fn next_undo(&self) -> Option<&(Step, Applicable)> {
        self.steps.iter().find(|(s, a)| {
            s.kind() == Some(StepKind::Repair)
                && !matches!(a, Applicable::Undone | Applicable::Pending)
                && s.record.as_ref().is_some_and(|r| r.undone_at.is_none())
        })
    }

    /// The per-venv state dirs this history spans.
    pub fn groups(&self) -> Vec<PathBuf> {
        let mut groups: Vec<PathBuf> = Vec::new();
        for (step, _) in &self.steps {
            if !groups.contains(&step.group) {
                groups.push(step.group.clone());
            }
        }
        groups
    }

    /// Bytes on disk of all its backups.
    pub fn size(&self) -> u64 {
        self.steps.iter().map(|(s, _)| s.size).sum()
    }
}

impl History {
    /// Read every per-venv state dir under `state_dir` (`venvs/*`). Read-only; a state dir
    /// that does not exist is an empty history. Unreadable pieces become damaged steps.
    pub fn load(state_dir: &Path) -> Result<History, ExecError> {
        let venvs = state_dir.join("venvs");
        let mut groups = Vec::new();
        let entries = match fs::read_dir(&venvs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(History::default()),
            Err(e) => return Err(ExecError::io(&venvs, "list", e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| ExecError::io(&venvs, "list", e))?;
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(group) = load_group(&entry.path())? {
                groups.push(group);
            }
        }
        groups.sort_by(|a, b| a.dir.cmp(&b.dir));
        Ok(History { groups })
    }

    /// The groups holding the history of the venv at `venv` (canonical): its directory's
    /// identity is the one a group recorded (it may have been moved since), or, when no
    /// identity is known on either side, the path is the same.
    pub fn groups_of(&self, venv: &Path) -> Vec<&Group> {
        let now = CreatedDir::of(venv);
        self.groups
            .iter()
            .filter(|g| holds_venv(g.root.as_ref(), &g.path, now.as_ref(), venv))
            .collect()
    }

    /// The dirs of [`History::groups_of`], reading only each per-venv state dir's `venv.json`
    /// (a repair needs no more; loading every step of every venv's backups would stat every
    /// file they saved). A dir without one, as an older venvfix left it, is read whole.
    pub fn group_dirs_of(state_dir: &Path, venv: &Path) -> Vec<PathBuf> {
        let now = CreatedDir::of(venv);
        let Ok(entries) = fs::read_dir(state_dir.join("venvs")) else {
            return Vec::new();
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .filter(|dir| {
                let identity: Option<Identity> = read_json(&dir.join(IDENTITY)).ok().flatten();
                let (path, root) = match identity {
                    Some(identity) => (identity.path, identity.root),
                    None => match load_group(dir) {
                        Ok(Some(group)) => (group.path, group.root),
                        _ => return false,
                    },
                };
                holds_venv(root.as_ref(), &path, now.as_ref(), venv)
            })
            .collect();
        dirs.sort();
        dirs
    }

    /// The history of the venv at `venv` (canonical), newest first.
    pub fn of_venv(&self, venv: &Path) -> VenvHistory {
        let groups = self.groups_of(venv);
        let mut was: Vec<PathBuf> = groups
            .iter()
            .map(|g| g.path.clone())
            .filter(|p| p != venv)
            .collect();
        was.dedup();
        assess(Some(venv.to_path_buf()), was, &groups)
    }

    /// Every venv's history: venvs found at their recorded path, then orphans (each group whose
    /// venv is not where it was recorded, listed with that path). Read-only.
    pub fn all(&self) -> Vec<VenvHistory> {
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut out = Vec::new();
        for group in &self.groups {
            if seen.contains(&group.dir) {
                continue;
            }
            if group.at_recorded_path() {
                let history = self.of_venv(&group.path);
                seen.extend(history.groups());
                seen.insert(group.dir.clone());
                out.push(history);
            }
        }
        for group in &self.groups {
            if seen.contains(&group.dir) {
                continue;
            }
            seen.insert(group.dir.clone());
            out.push(assess(None, vec![group.path.clone()], &[group]));
        }
        out
    }

    /// The step whose backup directory is `dir`.
    pub fn step(&self, dir: &Path) -> Option<&Step> {
        let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        self.groups
            .iter()
            .flat_map(|g| &g.steps)
            .find(|s| s.dir == dir)
    }
}

/// Merge `groups`' steps newest first and say what `undo` can do with each.
fn assess(venv: Option<PathBuf>, was: Vec<PathBuf>, groups: &[&Group]) -> VenvHistory {
    let mut steps: Vec<Step> = groups.iter().flat_map(|g| g.steps.clone()).collect();
    steps.sort_by_key(|s| std::cmp::Reverse(s.order()));
    let mut seen_next = false;
    let assessed = steps
        .into_iter()
        .map(|step| {
            let applicable = if let Some(why) = &step.damage {
                Applicable::Damaged { why: why.clone() }
            } else if step.in_journal {
                Applicable::Pending
            } else {
                match &step.record {
                    None => Applicable::Leftover,
                    Some(r) if r.kind == StepKind::Undo => Applicable::Redo,
                    Some(r) if r.undone_at.is_some() => Applicable::Undone,
                    Some(_) if venv.is_none() => Applicable::Orphan,
                    Some(_) if seen_next => Applicable::Later,
                    Some(r) => {
                        seen_next = true;
                        let changed = match (&r.after, &venv) {
                            (Some(after), Some(venv)) => after.changes(venv).unwrap_or_else(|e| {
                                vec![format!("the venv could not be read: {e}")]
                            }),
                            _ => Vec::new(),
                        };
                        if changed.is_empty() {
                            Applicable::Next
                        } else {
                            Applicable::Changed { changed }
                        }
                    }
                }
            };
            (step, applicable)
        })
        .collect();
    VenvHistory {
        venv,
        was,
        steps: assessed,
    }
}

/// Whether a group recorded for the venv at `path` with directory identity `root` holds the
/// history of the venv now at `venv` (identity `now`): the same directory (it may have been
/// moved since), or, when either identity is unknown, the same path.
fn holds_venv(
    root: Option<&CreatedDir>,
    path: &Path,
    now: Option<&CreatedDir>,
    venv: &Path,
) -> bool {
    match (root, now) {
        (Some(root), Some(now)) => root.same(now),
        _ => path == venv,
    }
}

/// Read one per-venv state dir; `None` if it holds no backups and no identity.
fn load_group(dir: &Path) -> Result<Option<Group>, ExecError> {
    let identity: Option<Identity> = read_json(&dir.join(IDENTITY)).ok().flatten();
    let journal = Journal::read(&dir.join("journal.json")).ok().flatten();
    let legacy = legacy_records(dir);
    let backups = dir.join("backups");
    let mut steps = Vec::new();
    match fs::read_dir(&backups) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| ExecError::io(&backups, "list", e))?;
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                // `.removing-*`: a discard that was interrupted, no longer a backup.
                if !is_dir || entry.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                let mut step = load_step(dir, &entry.path(), journal.as_ref());
                if step.record.is_none() && step.damage.is_none() && !step.in_journal {
                    step.record = legacy_record(&step, &legacy);
                }
                steps.push(step);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ExecError::io(&backups, "list", e)),
    }
    steps.sort_by_key(Step::order);
    let path = identity.as_ref().map(|i| i.path.clone()).or_else(|| {
        steps
            .iter()
            .rev()
            .find_map(|s| s.recorded_venv().map(Path::to_path_buf))
    });
    let Some(path) = path else {
        return Ok(None);
    };
    Ok(Some(Group {
        dir: dir.to_path_buf(),
        path,
        root: identity.and_then(|i| i.root),
        steps,
    }))
}

/// The records an older venvfix kept beside the backups: `last.json` (the last repair) and
/// `undone-*.json` (repairs undone since), each naming its backup; `(record, undone at)`.
fn legacy_records(group: &Path) -> Vec<(super::journal::LastRepair, Option<String>)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(group) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let undone = match name.as_str() {
            "last.json" => None,
            n if n.starts_with("undone-") && n.ends_with(".json") => {
                let stamp = &n["undone-".len()..n.len() - ".json".len()];
                Some(
                    parse_rfc3339(stamp)
                        .map(|_| stamp.to_string())
                        .unwrap_or_default(),
                )
            }
            _ => continue,
        };
        if let Ok(Some(last)) = read_json(&entry.path()) {
            out.push((last, undone));
        }
    }
    out
}

/// A record for a complete backup an older venvfix took: from its `last.json` or
/// `undone-*.json` when one names it, else (a backup taken before an undo) an undo record.
/// Without it, upgrading would turn real backups into leftovers that `prune` removes.
fn legacy_record(
    step: &Step,
    legacy: &[(super::journal::LastRepair, Option<String>)],
) -> Option<Record> {
    let manifest = step.manifest.as_ref()?;
    if let Some((last, undone)) = legacy.iter().find(|(l, _)| l.backup == step.dir) {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        return Some(Record {
            format: 1,
            kind: StepKind::Repair,
            venv: manifest.venv.clone(),
            strategy: text(&last.plan["strategy"]),
            from: None,
            to: Some(Side {
                version: text(&last.plan["target"]["version"]),
                python: text(&last.plan["target"]["path"]).map(PathBuf::from),
            }),
            applied_at: last.applied_at.clone(),
            batch: None,
            after: last.after.clone(),
            plan: last.plan.clone(),
            undone_at: undone.clone(),
            undoes: None,
        });
    }
    (manifest.reason == "undo").then(|| Record {
        format: 1,
        kind: StepKind::Undo,
        venv: manifest.venv.clone(),
        strategy: None,
        from: None,
        to: None,
        applied_at: manifest.created_at.clone(),
        batch: None,
        after: None,
        plan: serde_json::Value::Null,
        undone_at: None,
        undoes: None,
    })
}

fn load_step(group: &Path, dir: &Path, journal: Option<&Journal>) -> Step {
    let mut damage = None;
    let manifest = match Backup::open(dir) {
        Ok(backup) => Some(backup.manifest),
        Err(e) => {
            damage = Some(e.to_string());
            None
        }
    };
    let record: Option<Record> = match read_json(&dir.join(RECORD)) {
        Ok(record) => record,
        Err(e) => {
            damage.get_or_insert(e.to_string());
            None
        }
    };
    let in_journal = journal.is_some_and(|j| j.backup == dir);
    // A repair still applied must have its saved entries; an undone one gave them back.
    let applied = record
        .as_ref()
        .is_some_and(|r| r.kind == StepKind::Undo || r.undone_at.is_none());
    if damage.is_none()
        && applied
        && !in_journal
        && let Some(manifest) = &manifest
    {
        let backup = Backup {
            dir: dir.to_path_buf(),
            manifest: manifest.clone(),
        };
        if let Err(e) = backup.check_sizes() {
            damage = Some(e.to_string());
        }
    }
    Step {
        dir: dir.to_path_buf(),
        group: group.to_path_buf(),
        manifest,
        record,
        damage,
        in_journal,
        size: disk_usage(dir),
    }
}

/// Bytes on disk under `path`: allocated blocks, each inode counted once, links never
/// followed. Unreadable parts count as nothing.
pub fn disk_usage(path: &Path) -> u64 {
    fn walk(path: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        if seen.insert((meta.dev(), meta.ino())) {
            *total += meta.blocks() * 512;
        }
        if meta.is_dir()
            && let Ok(entries) = fs::read_dir(path)
        {
            for entry in entries.flatten() {
                walk(&entry.path(), seen, total);
            }
        }
    }
    let mut total = 0;
    walk(path, &mut HashSet::new(), &mut total);
    total
}

/// `12.3 MB`, `4.0 KB`, `512 B` (powers of 1000, like `du --si`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Write a step's record (atomically) into its backup directory.
pub fn write_record(backup_dir: &Path, record: &Record) -> Result<(), ExecError> {
    write_json(&backup_dir.join(RECORD), record)
}

/// Read a step's record.
pub fn read_record(backup_dir: &Path) -> Result<Option<Record>, ExecError> {
    read_json(&backup_dir.join(RECORD))
}

/// Mark the repair whose backup is `backup_dir` as undone (`when` = `Some`) or applied again
/// (`None`, when an interrupted undo is rolled back). Idempotent.
pub fn mark_undone(backup_dir: &Path, when: Option<String>) -> Result<(), ExecError> {
    let Some(mut record) = read_record(backup_dir)? else {
        return Ok(());
    };
    if record.undone_at.is_some() == when.is_some() {
        return Ok(());
    }
    record.undone_at = when;
    write_record(backup_dir, &record)
}

/// Record that `state`'s venv is now the directory at its path (after a step), and point every
/// other group of its history (`groups`: it was moved) at it, so the history stays found.
pub fn note_identity(state: &VenvState, groups: &[PathBuf]) -> Result<(), ExecError> {
    let identity = Identity {
        path: state.venv.clone(),
        root: CreatedDir::of(&state.venv),
        updated_at: state::rfc3339_now(),
    };
    write_json(&state.dir.join(IDENTITY), &identity)?;
    for group in groups {
        if *group != state.dir && group.is_dir() {
            write_json(&group.join(IDENTITY), &identity)?;
        }
    }
    Ok(())
}

/// Remove a backup directory that is no longer needed (a rolled-back repair, a discarded
/// tree, a pruned step): renamed away first (one atomic step: it stops being a backup), then
/// deleted without following links. A failed deletion leaves a `.removing-*` directory that the
/// next prune finishes.
pub fn discard(dir: &Path) -> Result<(), ExecError> {
    let Some(name) = dir.file_name() else {
        return Ok(());
    };
    // The original of a recreate on another filesystem is kept beside the venv, not here.
    let aside = super::backup::Backup::open(dir)
        .ok()
        .and_then(|b| b.manifest.saved)
        .and_then(|saved| saved.parent().map(Path::to_path_buf));
    if let Some(aside) = aside
        && fs::symlink_metadata(&aside).is_ok_and(|m| m.is_dir())
    {
        fs::remove_dir_all(&aside)
            .map_err(|e| ExecError::io(&aside, "remove the kept original venv", e))?;
    }
    let mut hidden = std::ffi::OsString::from(".removing-");
    hidden.push(name);
    let trash = dir.with_file_name(hidden);
    match fs::rename(dir, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ExecError::io(dir, "remove the backup", e)),
    }
    if let Some(parent) = dir.parent() {
        state::sync_dir(parent);
    }
    fs::remove_dir_all(&trash).map_err(|e| ExecError::io(&trash, "remove the backup", e))
}

/// Leftover `.removing-*` directories of an interrupted [`discard`] in a group.
pub fn leftovers(group: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(group.join("backups")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".removing-"))
        .map(|e| e.path())
        .collect()
}

/// What `prune` is asked to remove, beyond the backups `undo` can never use again.
#[derive(Debug, Clone, Default)]
pub struct PruneRequest {
    /// Keep the backups of the N newest repairs of each venv that `undo` can walk back; the
    /// other repairs' backups, and those taken before an undo, go.
    pub keep: Option<usize>,
    /// Remove backups older than this many days.
    pub older_than_days: Option<u64>,
    /// Also remove the only way back of a repair applied within the last day.
    pub include_recent: bool,
}

/// One backup `prune` removes (or keeps, and why).
#[derive(Debug, Clone)]
pub struct PruneItem {
    pub step: Step,
    /// The venv it belongs to now; `None` for an orphan.
    pub venv: Option<PathBuf>,
    /// The path it was recorded for.
    pub was: PathBuf,
    pub why: String,
}

/// What `prune` would do: computed without changing anything, then applied by [`prune`].
#[derive(Debug, Clone, Default)]
pub struct PrunePlan {
    pub remove: Vec<PruneItem>,
    /// Selected, but kept: the only way back of a recent repair, a run in progress, or a
    /// tree that no record accounts for.
    pub kept: Vec<PruneItem>,
    /// `.removing-*` directories an interrupted removal left.
    pub leftovers: Vec<PathBuf>,
}

impl PrunePlan {
    /// Bytes the removals free.
    pub fn size(&self) -> u64 {
        self.remove.iter().map(|i| i.step.size).sum::<u64>()
            + self.leftovers.iter().map(|p| disk_usage(p)).sum::<u64>()
    }
}

/// A day, in seconds: how recent a repair must be for its only way back to be kept.
const RECENT: u64 = 86_400;

/// Decide what `prune` removes. Read-only. `now` is seconds since the epoch.
pub fn plan_prune(history: &History, request: &PruneRequest, now: u64) -> PrunePlan {
    let mut plan = PrunePlan::default();
    for venv in history.all() {
        let was = venv
            .was
            .first()
            .cloned()
            .or(venv.venv.clone())
            .unwrap_or_default();
        let mut usable_seen = 0usize;
        for (step, applicable) in &venv.steps {
            let age = parse_rfc3339(&step.created_at()).map(|t| now.saturating_sub(t));
            let mut why = match applicable {
                Applicable::Undone => Some("already undone".to_string()),
                Applicable::Leftover => Some("left by a run that did not finish".to_string()),
                _ => None,
            };
            let walkable = applicable.usable() && step.kind() == Some(StepKind::Repair);
            if walkable {
                usable_seen += 1;
                if let Some(keep) = request.keep
                    && usable_seen > keep
                {
                    why = Some(format!("older than the {keep} newest repairs"));
                }
            } else if request.keep.is_some() && matches!(applicable, Applicable::Redo) {
                why = Some("taken before an undo (`--keep` counts repairs only)".into());
            }
            if let (Some(days), Some(age)) = (request.older_than_days, age)
                && age > days * RECENT
            {
                why = Some(format!("older than {days} days"));
            }
            let Some(why) = why else { continue };
            let item = |why: String| PruneItem {
                step: step.clone(),
                venv: venv.venv.clone(),
                was: step
                    .recorded_venv()
                    .map(Path::to_path_buf)
                    .unwrap_or(was.clone()),
                why,
            };
            let applied_repair = step
                .record
                .as_ref()
                .is_some_and(|r| r.kind == StepKind::Repair && r.undone_at.is_none());
            let applied_age = step
                .record
                .as_ref()
                .and_then(|r| parse_rfc3339(&r.applied_at))
                .map(|t| now.saturating_sub(t));
            if matches!(applicable, Applicable::Pending) {
                plan.kept
                    .push(item("a run in progress or interrupted uses it".into()));
            } else if applied_repair
                && !request.include_recent
                && applied_age.is_none_or(|a| a < RECENT)
            {
                plan.kept.push(item(
                    "the only way back of a repair applied within the last day \
                     (--include-recent removes it)"
                        .into(),
                ));
            } else if step.holds_tree() && step.record.is_none() {
                plan.kept.push(item(
                    "it holds a whole venv that no record accounts for; look at it, then \
                     remove it by hand"
                        .into(),
                ));
            } else {
                plan.remove.push(item(why));
            }
        }
    }
    for group in &history.groups {
        plan.leftovers.extend(leftovers(&group.dir));
    }
    plan
}

/// What [`prune`] did with one backup.
#[derive(Debug)]
pub struct Pruned {
    pub item: PruneItem,
    pub result: Result<(), ExecError>,
}

/// Remove what `plan` says, each venv under its lock (checked again under the lock: a backup
/// a run started using meanwhile is kept). A locked venv's backups are left, with the error.
pub fn prune(plan: &PrunePlan) -> Vec<Pruned> {
    let mut out = Vec::new();
    let mut groups: Vec<PathBuf> = plan.remove.iter().map(|i| i.step.group.clone()).collect();
    groups.sort();
    groups.dedup();
    for group in groups {
        let items: Vec<&PruneItem> = plan
            .remove
            .iter()
            .filter(|i| i.step.group == group)
            .collect();
        let venv = load_group(&group)
            .ok()
            .flatten()
            .map(|g| g.path)
            .unwrap_or_else(|| items[0].was.clone());
        let state = VenvState {
            venv,
            dir: group.clone(),
        };
        let lock = super::lock::VenvLock::acquire(&state);
        let journal = Journal::read(&group.join("journal.json")).ok().flatten();
        for item in items {
            let result = match &lock {
                Err(e) => Err(ExecError::Refused {
                    path: item.step.dir.clone(),
                    op: "remove the backup".into(),
                    why: e.to_string(),
                }),
                Ok(_) if journal.as_ref().is_some_and(|j| j.backup == item.step.dir) => {
                    Err(ExecError::Refused {
                        path: item.step.dir.clone(),
                        op: "remove the backup".into(),
                        why: "a run started using it".into(),
                    })
                }
                Ok(_) => discard(&item.step.dir),
            };
            out.push(Pruned {
                item: item.clone(),
                result,
            });
        }
    }
    for leftover in &plan.leftovers {
        let _ = fs::remove_dir_all(leftover);
    }
    out
}

/// How old an installer log must be before `prune` removes it, unless `--older-than` says.
pub const LOG_DAYS: u64 = 30;

/// The installer logs a recreate kept in the state dir's `logs/` (regular files, never
/// followed) last written more than `days` days before `now` (seconds since the epoch), oldest
/// name first.
pub fn old_logs(state_dir: &Path, days: u64, now: u64) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(state_dir.join("logs")) else {
        return Vec::new();
    };
    let mut old: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            let written = e
                .metadata()
                .ok()
                .filter(fs::Metadata::is_file)
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            written.is_some_and(|t| now.saturating_sub(t.as_secs()) > days * RECENT)
        })
        .map(|e| e.path())
        .collect();
    old.sort();
    old
}

/// Seconds since the epoch of an RFC 3339 UTC time as venvfix writes it
/// (`2026-05-09T07:35:25Z`), or of a compact stamp (`20260509T073525Z`).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 14 {
        return None;
    }
    let num = |a: usize, b: usize| digits[a..b].parse::<i64>().ok();
    let (y, mo, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (h, mi, s) = (num(8, 10)?, num(10, 12)?, num(12, 14)?);
    // Howard Hinnant's days-from-civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The repair batch whose repairs `undo DIR` undoes: among `histories`, the newest batch id of a
/// repair that is the next undo of its venv, and the venvs whose next undo belongs to it.
pub fn last_batch(histories: &[VenvHistory]) -> Option<(String, Vec<&VenvHistory>)> {
    let batch_of = |h: &VenvHistory| {
        h.venv.as_ref()?;
        h.next_undo()?.0.record.as_ref()?.batch.clone()
    };
    let newest = histories.iter().filter_map(batch_of).max()?;
    let members = histories
        .iter()
        .filter(|h| batch_of(h).as_ref() == Some(&newest))
        .collect();
    Some((newest, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_of_an_older_venvfix_keep_their_place_in_the_history() {
        let tmp = tempfile::tempdir().unwrap();
        let venv = tmp.path().join("v");
        fs::create_dir(&venv).unwrap();
        fs::write(venv.join("pyvenv.cfg"), "home = /a\n").unwrap();
        let state = VenvState::locate(&tmp.path().join("state"), &venv).unwrap();
        state.create().unwrap();
        let paths = [PathBuf::from("pyvenv.cfg")];
        let repair = Backup::take(&state.venv, &paths, &state.backups_dir(), "repair").unwrap();
        let before_undo = Backup::take(&state.venv, &paths, &state.backups_dir(), "undo").unwrap();
        let last = super::super::journal::LastRepair {
            backup: repair.dir.clone(),
            plan: serde_json::json!({"strategy": "relink", "target": {"version": "3.8.19"}}),
            applied_at: "2026-01-01T00:00:00Z".into(),
            after: Some(AfterRepair::record(&repair).unwrap()),
        };
        write_json(&state.dir.join("last.json"), &last).unwrap();
        let history = History::load(&tmp.path().join("state")).unwrap();
        let mine = history.of_venv(&state.venv);
        let kinds: Vec<(Option<StepKind>, Applicable)> = mine
            .steps
            .iter()
            .map(|(s, a)| (s.kind(), a.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Some(StepKind::Undo), Applicable::Redo),
                (Some(StepKind::Repair), Applicable::Next),
            ]
        );
        assert_eq!(mine.next_undo().unwrap().0.dir, repair.dir);
        assert_eq!(
            mine.steps[1].0.record.as_ref().unwrap().describe(),
            "relink -> 3.8.19"
        );
        drop(before_undo);
        // Nothing of it is a leftover for `prune`.
        let plan = plan_prune(&history, &PruneRequest::default(), now_secs());
        assert!(plan.remove.is_empty(), "{:?}", plan.remove);
    }

    #[test]
    fn timestamps_parse_back() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-05-09T07:35:25Z"), Some(1_778_312_125));
        assert_eq!(parse_rfc3339("20000229T000000Z"), Some(951_782_400));
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn sizes_read_like_du_si() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(4096), "4.1 KB");
        assert_eq!(human_size(12_300_000), "12.3 MB");
    }

    #[test]
    fn disk_usage_counts_hard_links_once_and_never_follows_links() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("a"), vec![1u8; 100_000]).unwrap();
        let one = disk_usage(&dir);
        fs::hard_link(dir.join("a"), dir.join("b")).unwrap();
        assert_eq!(disk_usage(&dir), one);
        let big = tmp.path().join("big");
        fs::write(&big, vec![1u8; 1_000_000]).unwrap();
        std::os::unix::fs::symlink(&big, dir.join("link")).unwrap();
        assert!(disk_usage(&dir) < one + 100_000);
    }

    #[test]
    fn describe_names_the_strategy_and_both_sides() {
        let record = Record {
            format: 1,
            kind: StepKind::Repair,
            venv: PathBuf::from("/v"),
            strategy: Some("relink".into()),
            from: Some(Side {
                version: Some("3.8.18".into()),
                python: None,
            }),
            to: Some(Side {
                version: Some("3.8.19".into()),
                python: Some(PathBuf::from("/usr/bin/python3.8")),
            }),
            applied_at: "2026-01-01T00:00:00Z".into(),
            batch: None,
            after: None,
            plan: serde_json::Value::Null,
            undone_at: None,
            undoes: None,
        };
        assert_eq!(record.describe(), "relink 3.8.18 -> 3.8.19");
    }
}
