//! The journal (DESIGN.md rule 5): `<venvstate>/journal.json` says a change is in progress,
//! which backup undoes it, and which actions are done.
//!
//! It is written atomically before anything else (intent first: it names the backup before the
//! backup is taken), again before each step that changes the venv or starts a child, and
//! removed when the run ends. A journal found later means a run was killed half-way:
//! [`super::recover`] rolls a repair back from its backup (or records it, once it was
//! verified) and finishes an undo; each of those is idempotent, so a killed recovery is simply
//! run again. What each successful step was is recorded beside its backup
//! ([`super::history`]); `last.json` ([`LastRepair`]) is what an older venvfix kept instead,
//! still read so its backups stay in the history. This module only reads and writes those
//! files; it never touches a venv.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ExecError;
use super::backup::AfterRepair;
use super::children::ChildGroup;
use super::history::Record;
use super::state::{read_json, rfc3339_now, write_json};

/// What an interrupted run was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalState {
    /// Applying a repair plan.
    Applying,
    /// Restoring a backup for `undo`.
    Undoing,
}

/// How far a run got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The backup named is being taken: nothing in the venv has changed yet.
    BackingUp,
    /// The venv is being changed (or, for an undo, restored).
    #[default]
    Changing,
    /// The repair was applied and verified (`record` is set): recovery records it.
    Verified,
}

/// `journal.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub state: JournalState,
    /// The venv root (canonical).
    pub venv: PathBuf,
    /// The plan being applied, as `repair --json` shows it (`null` for an undo).
    pub plan: serde_json::Value,
    /// The backup that undoes this run (for an undo: the state saved before it).
    pub backup: PathBuf,
    /// How far the run got.
    #[serde(default)]
    pub step: Step,
    /// An undo: the backup being put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restoring: Option<PathBuf>,
    /// Indices of the plan's actions already applied.
    pub done: Vec<usize>,
    pub started_at: String,
    pub pid: u32,
    /// For an undo: the backup of the step being undone, marked undone before the journal is
    /// removed; rolling the undo back marks it applied again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoing: Option<PathBuf>,
    /// The process group of the installers this run starts, recorded before the first starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<ChildGroup>,
    /// The record of the verified repair (with [`Step::Verified`]): recovery writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Record>,
    /// The venv's other history groups (it was moved), kept pointing at it by the record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<PathBuf>,
}

impl Journal {
    pub fn new(
        state: JournalState,
        venv: &Path,
        plan: serde_json::Value,
        backup: &Path,
    ) -> Journal {
        Journal {
            state,
            venv: venv.to_path_buf(),
            plan,
            backup: backup.to_path_buf(),
            step: Step::BackingUp,
            restoring: None,
            done: Vec::new(),
            started_at: rfc3339_now(),
            pid: std::process::id(),
            undoing: None,
            children: None,
            record: None,
            groups: Vec::new(),
        }
    }

    /// Write atomically (temp beside, fsync, rename, fsync of the dir).
    pub fn write(&self, path: &Path) -> Result<(), ExecError> {
        write_json(path, self)
    }

    /// Record progress (`done`) atomically, without fsync: recovery restores every entry of
    /// the backup whatever `done` says, so a crash that loses this write loses nothing. The
    /// first [`Journal::write`], which names the backup, is the one that must be durable.
    pub fn write_progress(&self, path: &Path) -> Result<(), ExecError> {
        super::state::write_json_unsynced(path, self)
    }

    /// The journal at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Journal>, ExecError> {
        read_json(path)
    }

    /// Remove the journal: the run is over.
    pub fn remove(path: &Path) -> Result<(), ExecError> {
        match std::fs::remove_file(path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    super::state::sync_dir(parent);
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ExecError::io(path, "remove the journal", e)),
        }
    }
}

/// `last.json`, as an older venvfix wrote it (and `undone-*.json` once undone): the last
/// successful repair of a venv. Read by [`super::history`] for backups taken before it kept a
/// `record.json` beside each one; no longer written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRepair {
    pub backup: PathBuf,
    pub plan: serde_json::Value,
    pub applied_at: String,
    /// The touched entries right after the repair; `undo` refuses (unless forced) if they have
    /// changed since. Absent in a `last.json` written before venvfix recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<AfterRepair>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("journal.json");
        assert_eq!(Journal::read(&path).unwrap(), None);
        let mut journal = Journal::new(
            JournalState::Applying,
            Path::new("/v"),
            serde_json::json!({"strategy": "relink"}),
            Path::new("/s/backups/x-0"),
        );
        journal.done.push(0);
        journal.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"state\": \"applying\""), "{text}");
        assert_eq!(Journal::read(&path).unwrap(), Some(journal));
        Journal::remove(&path).unwrap();
        Journal::remove(&path).unwrap();
        assert!(!path.exists());
    }
}
