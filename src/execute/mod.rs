//! The executor: apply a repair [`Plan`] to a venv safely, undo it, and recover a run that was
//! killed half-way (DESIGN.md "Rules that keep users safe", 4–7).
//!
//! One run is: take the venv's lock ([`lock`]), check the plan still describes the venv (a
//! stale plan is refused before anything changes), back up every entry it touches
//! ([`backup`]), write the journal ([`journal`]), apply each action atomically (a temp entry
//! beside the target, renamed over), verify by running the repaired interpreter ([`verify`]),
//! and on any failure restore the backup (a rolled-back repair keeps no backup). A repair that
//! succeeds records what it was beside its backup; [`history`] reads those records as the
//! venv's history, which `undo` walks back one step at a time. Rollback, recovery and `undo`
//! share one restore code path. All of venvfix's own files live in the state dir ([`state`]);
//! the only writes inside a venv are the plan's entries, and outside it only a plan's
//! [`Action::ExternalLink`] (a tool's link to the venv), backed up and restored like them. The
//! executor has no dry-run mode and never prints: the CLI shows the plan before calling
//! [`apply`] and renders what comes back.
//!
//! Intent first (rule 5): the journal names the backup before the backup is taken, and is
//! rewritten before each step that changes the venv or starts a child; a recreate's new dir is
//! made and recorded inside the backup before it is renamed into the venv's place; installers
//! run in a journaled process group that dies with venvfix ([`children`]). [`recover`] rolls
//! an interrupted repair back (or records it, once verified) and finishes an interrupted undo;
//! each of its steps is idempotent, so killing recovery itself is safe. A journal is trusted
//! only for the venv and the backups of its own state dir. Before anything is written,
//! [`writable`] refuses a venv that cannot be written or whose directories are links.
//!
//! Test hook: [`failpoint`] (`VENVFIX_FAILPOINT`) kills the process at a named or numbered
//! step, for `tests/faults.rs`.

pub mod backup;
pub mod children;
pub mod failpoint;
pub mod history;
pub mod journal;
pub mod lock;
pub mod recreate;
mod rewrite;
pub mod state;
pub mod verify;
pub mod writable;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::PyvenvCfg;
use crate::inventory::Inventory;
use crate::plan::{Action, Plan, RecreateSpec};
use crate::records;
use crate::safe_read::{self, Follow};

pub use backup::{AfterRepair, Backup, EntryKind, Restored};
pub use history::{Applicable, History, Record, StepKind, VenvHistory};
pub use journal::{Journal, JournalState, LastRepair, Step};
pub use lock::VenvLock;
pub use state::VenvState;
pub use verify::Verification;

/// Why the executor did not (fully) do what was asked.
///
/// Messages about one file name that file. Messages about the venv as a whole do not start with
/// (or repeat) the venv's path: the CLI prints them after it (`` `VENV`: message ``). The venv
/// is in the variant's fields for callers that need it.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("could not {op} `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", locked_message(venv, lock, *pid, since, command))]
    Locked {
        venv: PathBuf,
        lock: PathBuf,
        pid: u32,
        since: String,
        command: String,
    },
    #[error("the plan is stale, nothing was changed: {what}")]
    Stale { venv: PathBuf, what: String },
    /// `path` is the venv, or the plan's entry path that is invalid (named in `why`).
    #[error("invalid plan: {why}")]
    InvalidPlan { path: PathBuf, why: String },
    #[error("refused to {op} `{}`: {why}", path.display())]
    Refused {
        path: PathBuf,
        op: String,
        why: String,
    },
    #[error("`{}` is damaged: {why}", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error(
        "an interrupted venvfix run left `{}`; recover it first (`venvfix undo` or `venvfix repair` roll it back)",
        journal.display()
    )]
    Interrupted { venv: PathBuf, journal: PathBuf },
    #[error("recreating the venv failed: {message}")]
    Recreate { venv: PathBuf, message: String },
    /// The user asked to stop (Ctrl-C): see [`cancel`].
    #[error("stopped at the user's request (Ctrl-C)")]
    Cancelled { venv: PathBuf },
    /// The venv is as it was; the backup of the failed repair was removed (it is the venv).
    #[error("verification failed, the venv was rolled back: {}", problems.join("; "))]
    VerifyFailed {
        venv: PathBuf,
        problems: Vec<String>,
    },
    #[error("the venv was rolled back: {cause}")]
    RolledBack {
        venv: PathBuf,
        cause: Box<ExecError>,
    },
    #[error(
        "{cause}; rolling the venv back ALSO failed: {error}; the backup is in `{}` and the journal `{}` was kept so the next `venvfix undo` retries",
        backup.display(), journal.display()
    )]
    RollbackFailed {
        venv: PathBuf,
        cause: String,
        error: Box<ExecError>,
        backup: PathBuf,
        journal: PathBuf,
    },
    #[error("nothing to undo: no repair by venvfix is recorded (or it was already undone)")]
    NothingToUndo { venv: PathBuf },
    /// `undo --from` named something that is not a backup venvfix can apply.
    #[error("`{}` {why}", backup.display())]
    NotApplicable { backup: PathBuf, why: String },
    #[error(
        "{} changed since the repair on {repaired_at}; undoing it would throw that away",
        changed.join(", ")
    )]
    ChangedSinceRepair {
        venv: PathBuf,
        /// Each changed entry, `` `pyvenv.cfg` ``, or a phrase for a recreated venv.
        changed: Vec<String>,
        repaired_at: String,
        /// Where `undo --force` saves the current state first (a new backup in this dir).
        backups: PathBuf,
    },
    #[error("no state directory: set VENVFIX_STATE_DIR, XDG_STATE_HOME or HOME")]
    NoStateDir,
}

/// Who holds the lock, as far as its label says (a holder that is not venvfix writes none).
fn locked_message(venv: &Path, lock: &Path, pid: u32, since: &str, command: &str) -> String {
    if pid == 0 && lock.starts_with(venv) || lock.file_name() == Some("new".as_ref()) {
        format!(
            "another process is changing this venv: it holds a lock on the venv directory `{}` \
             (perhaps a venvfix with another state directory, such as one run with sudo)",
            lock.display()
        )
    } else if pid == 0 {
        format!(
            "another process is changing this venv: it holds the lock file `{}` (and did not \
             say who it is)",
            lock.display()
        )
    } else {
        format!(
            "another venvfix is changing this venv (pid {pid}, since {since}: `{command}`); lock \
             file `{}`",
            lock.display()
        )
    }
}

impl ExecError {
    /// A stable id for scripts (JSON `error.code`); a new variant needs its own.
    pub fn code(&self) -> &'static str {
        match self {
            ExecError::Io { .. } => "io",
            ExecError::Locked { .. } => "locked",
            ExecError::Stale { .. } => "stale-plan",
            ExecError::InvalidPlan { .. } => "invalid-plan",
            ExecError::Refused { .. } => "refused",
            ExecError::Corrupt { .. } => "corrupt-state",
            ExecError::Interrupted { .. } => "interrupted-repair",
            ExecError::Recreate { .. } => "recreate-failed",
            ExecError::Cancelled { .. } => "cancelled",
            ExecError::VerifyFailed { .. } => "verify-failed",
            ExecError::RolledBack { .. } => "rolled-back",
            ExecError::RollbackFailed { .. } => "rollback-failed",
            ExecError::NothingToUndo { .. } => "nothing-to-undo",
            ExecError::NotApplicable { .. } => "not-applicable",
            ExecError::ChangedSinceRepair { .. } => "changed-since-repair",
            ExecError::NoStateDir => "no-state-dir",
        }
    }

    /// Whether the venv is untouched: the error came before its first change (state dir, lock,
    /// a stale or invalid plan, the backup, the journal), so `repair` calls it a refusal (exit
    /// 2). `false` when something was changed and then rolled back, or the rollback failed: the
    /// repair was not done (exit 1).
    pub fn changed_nothing(&self) -> bool {
        match self {
            ExecError::Io { .. }
            | ExecError::Locked { .. }
            | ExecError::Stale { .. }
            | ExecError::InvalidPlan { .. }
            | ExecError::Refused { .. }
            | ExecError::Corrupt { .. }
            | ExecError::Interrupted { .. }
            | ExecError::NothingToUndo { .. }
            | ExecError::NotApplicable { .. }
            | ExecError::ChangedSinceRepair { .. }
            | ExecError::Cancelled { .. }
            | ExecError::NoStateDir => true,
            // Raised only once the venv has been moved aside; it always comes back wrapped.
            ExecError::Recreate { .. }
            | ExecError::VerifyFailed { .. }
            | ExecError::RolledBack { .. }
            | ExecError::RollbackFailed { .. } => false,
        }
    }

    pub(crate) fn io(path: &Path, op: &str, source: std::io::Error) -> ExecError {
        ExecError::Io {
            path: path.to_path_buf(),
            op: op.to_string(),
            source,
        }
    }
}

/// Where the executor keeps its state and how long verification may take.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// `VENVFIX_STATE_DIR`, else `$XDG_STATE_HOME/venvfix`, else `~/.local/state/venvfix`.
    pub state_dir: PathBuf,
    /// How long the repaired interpreter may run during verification.
    pub verify_timeout: Duration,
    /// The `repair` run (one id per command) the steps of this run belong to: `undo DIR`
    /// undoes the last batch.
    pub batch: Option<String>,
}

impl ExecOptions {
    /// Options from the process environment.
    pub fn from_env() -> Result<ExecOptions, ExecError> {
        let non_empty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
        let state_dir = non_empty("VENVFIX_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| non_empty("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("venvfix")))
            .or_else(|| std::env::home_dir().map(|h| h.join(".local/state/venvfix")))
            .ok_or(ExecError::NoStateDir)?;
        Ok(ExecOptions::new(state_dir))
    }

    /// Options with `state_dir` and the default 30 s verification timeout.
    pub fn new(state_dir: PathBuf) -> ExecOptions {
        ExecOptions {
            state_dir,
            verify_timeout: Duration::from_secs(30),
            batch: None,
        }
    }
}

/// Builds the new venv for [`Action::Recreate`] in the (empty) venv root it is given (the first
/// path); the original is already moved aside, at the second path, read-only for the hook (it
/// carries user files over from there). `Err` is a message for the user; the original comes
/// back. [`recreate::build`] is the hook venvfix uses.
pub type RecreateHook<'a> = &'a dyn Fn(&RecreateSpec, &Path, &Path) -> Result<(), String>;

/// A plan applied and verified.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub venv: PathBuf,
    /// The backup `venvfix undo` restores.
    pub backup: PathBuf,
    /// What the backup takes on disk, in bytes (for a recreate: the original venv, moved).
    pub backup_size: u64,
    /// Whether the backup is the whole original venv (a recreate), not a few entries.
    pub whole_venv: bool,
    /// Where a recreated venv's original is kept when that is not in the backup dir (a venv
    /// on another filesystem than the state dir keeps it beside itself).
    pub original: Option<PathBuf>,
    pub verification: Verification,
}

/// What [`recover`] rolled back.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    pub venv: PathBuf,
    /// What the interrupted run was doing.
    pub state: JournalState,
    pub started_at: String,
    pub pid: u32,
    /// Indices of the actions it had applied.
    pub done: Vec<usize>,
    pub backup: PathBuf,
    pub restored: Vec<Restored>,
    /// The run was carried to its end instead (a verified repair recorded, an undo finished).
    pub completed: bool,
}

impl Recovered {
    /// What recovery did, as a sentence (the CLI prefixes the venv).
    pub fn message(&self) -> String {
        let when = format!("interrupted on {} (pid {})", self.started_at, self.pid);
        match (self.state, self.completed) {
            (JournalState::Applying, false) => format!("rolled back a repair {when}"),
            (JournalState::Applying, true) => {
                format!("completed a repair {when}: it had been applied and verified")
            }
            (JournalState::Undoing, true) => format!("finished an undo {when}"),
            (JournalState::Undoing, false) => {
                format!("dropped an undo {when} before it changed anything")
            }
        }
    }
}

/// A journal found for a venv, as `check` reports it (read-only): either a run that is still
/// going (another process holds the venv's lock) or one that was interrupted.
#[derive(Debug, Clone, Serialize)]
pub struct PendingInfo {
    pub venv: PathBuf,
    pub journal: PathBuf,
    /// `None` if the journal cannot be read.
    pub state: Option<JournalState>,
    pub started_at: Option<String>,
    pub backup: Option<PathBuf>,
    /// Another live process holds the venv's lock: the run is in progress, not interrupted.
    pub in_progress: bool,
    /// The process running (or that ran) the change: the lock holder's label, else the
    /// journal's; `None` when neither says.
    pub pid: Option<u32>,
}

impl PendingInfo {
    /// The sentence `check` prints.
    pub fn message(&self) -> String {
        if self.in_progress {
            let what = match self.state {
                Some(JournalState::Undoing) => "an undo",
                _ => "a repair",
            };
            let pid = self
                .pid
                .map(|p| format!("pid {p}"))
                .unwrap_or_else(|| "pid unknown".into());
            let since = self
                .started_at
                .as_deref()
                .map(|t| format!(", started at {t}"))
                .unwrap_or_default();
            return format!(
                "{what} is in progress ({pid}{since}); check again when it has finished"
            );
        }
        format!(
            "an interrupted repair left a journal (`{}`): run `venvfix undo` or `venvfix repair` to roll it back",
            self.journal.display()
        )
    }
}

/// What [`undo`] restored.
#[derive(Debug, Clone, Serialize)]
pub struct Undone {
    pub venv: PathBuf,
    /// The backup that was put back.
    pub backup: PathBuf,
    /// The step that was undone (`None` when an interrupted run was rolled back).
    pub step: Option<Record>,
    /// The state just before the undo, kept so the undo can itself be undone
    /// (`undo --from`); `None` when there was nothing worth keeping (the recreated tree of an
    /// unchanged recreate is removed unless asked to keep it).
    pub safety_backup: Option<PathBuf>,
    /// Bytes freed by removing the recreated tree.
    pub freed: u64,
    pub restored: Vec<Restored>,
    /// The undo found an interrupted run and recovered that instead (nothing else was done):
    /// what recovery did.
    pub recovered: Option<String>,
}

/// How [`undo_with`] undoes.
#[derive(Debug, Clone, Default)]
pub struct UndoRequest {
    /// Restore even if what the repair changed was changed since (the current state is kept).
    pub force: bool,
    /// Undoing a recreate: keep the recreated tree as a backup instead of removing it.
    pub keep_recreated: bool,
    /// Apply this backup (`undo --from`) instead of walking back the venv's own history.
    pub from: Option<PathBuf>,
}

/// Set when the user asks to stop (the CLI's Ctrl-C handler calls [`cancel`]).
static CANCELLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask every running and later [`apply_with`] to stop: each rolls back its venv at the next step
/// and returns [`ExecError::Cancelled`]. Async-signal-safe (one atomic store), so a signal
/// handler may call it.
pub fn cancel() {
    CANCELLED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`cancel`] was called.
pub fn cancelled() -> bool {
    CANCELLED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Apply `plan`, verify, and roll back on any failure. Refuses [`Action::Recreate`] (see
/// [`apply_with`]).
pub fn apply(
    plan: &Plan,
    inventory: &Inventory,
    options: &ExecOptions,
) -> Result<Applied, ExecError> {
    apply_with(plan, inventory, options, None)
}

/// [`apply`] with the hook that builds a recreated venv.
pub fn apply_with(
    plan: &Plan,
    inventory: &Inventory,
    options: &ExecOptions,
    recreate: Option<RecreateHook<'_>>,
) -> Result<Applied, ExecError> {
    validate(plan)?;
    let state = VenvState::locate(&options.state_dir, &plan.venv)?;
    let venv = state.venv.clone();
    if cancelled() {
        return Err(ExecError::Cancelled { venv });
    }
    // The journal and the backup's records are JSON, which holds UTF-8 paths only: refused
    // before anything is locked, saved or changed.
    if venv.to_str().is_none() {
        return Err(ExecError::Refused {
            path: venv,
            op: "repair".into(),
            why: "its path is not UTF-8, which venvfix's journal and backups cannot record yet; \
                  nothing was changed (give the directory a UTF-8 name and repair it there)"
                .into(),
        });
    }
    let mut lock = VenvLock::acquire(&state)?;
    let journal_path = state.journal_path();
    if fs::symlink_metadata(&journal_path).is_ok() {
        return Err(ExecError::Interrupted {
            venv,
            journal: journal_path,
        });
    }
    let plan_json = serde_json::to_value(plan).unwrap_or(serde_json::Value::Null);
    let from = side_before(&venv, plan);
    // The history this venv had under other paths (it was moved): kept pointing at it.
    let groups = history::History::group_dirs_of(&options.state_dir, &venv);
    let whole = match plan.actions.as_slice() {
        [Action::Recreate(spec)] => {
            let Some(hook) = recreate else {
                return Err(ExecError::InvalidPlan {
                    path: venv,
                    why: "recreating a venv is not available in this build".into(),
                });
            };
            // A package installed (or a file added) since planning would be left out: refuse.
            if let Some(what) = spec.stale(&venv) {
                return Err(ExecError::Stale { venv, what });
            }
            Backup::check_whole(&venv, &state.backups_dir())?;
            Some((spec, hook))
        }
        _ => {
            preflight(&venv, plan)?;
            None
        }
    };
    let touched: Vec<PathBuf> = plan.actions.iter().fold(Vec::new(), |mut all, action| {
        if let Some(path) = action.touches()
            && !all.contains(&path)
        {
            all.push(path);
        }
        all
    });
    let outside: Vec<PathBuf> = plan
        .actions
        .iter()
        .filter_map(|a| a.outside().map(Path::to_path_buf))
        .collect();
    if whole.is_none() {
        writable::check(&venv, &touched)?;
    } else {
        writable::check_parent(&venv)?;
    }
    for path in &outside {
        writable::check_outside(path)?;
    }

    // Intent first: the journal names the backup before anything is saved or changed, so a
    // kill at any later instant is found and undone (a backup without a manifest never changed
    // anything and is simply removed).
    let dir = Backup::reserve(&state.backups_dir())?;
    let mut journal = Journal::new(JournalState::Applying, &venv, plan_json.clone(), &dir);
    journal.write(&journal_path)?;
    failpoint::hit("journal-written");
    let taken = match &whole {
        Some(_) => Backup::prepare_whole_in(dir.clone(), &venv, "repair"),
        None => Backup::take_in(dir.clone(), &venv, &touched, &outside, "repair"),
    };
    let backup = match taken {
        Ok(backup) => backup,
        Err(cause) => {
            // Nothing was changed: drop the partial backup with its journal.
            let _ = fs::remove_dir_all(&dir);
            Journal::remove(&journal_path)?;
            return Err(cause);
        }
    };
    failpoint::hit("backup-taken");
    journal.step = Step::Changing;
    if let Some((spec, hook)) = whole {
        // The installers' process group is journaled before any of them starts.
        journal.children = children::group();
        if let Err(cause) = journal.write(&journal_path) {
            return Err(rollback(&venv, &backup, &journal_path, cause));
        }
        failpoint::hit("children-group-recorded");
        let result = backup
            .stage_new_dir()
            .and_then(|()| lock.hold_dir(&venv, &backup.new_dir()))
            .and_then(|()| backup.move_venv_in(true))
            .and_then(|()| {
                hook(spec, &venv, &backup.saved_venv()).map_err(|message| ExecError::Recreate {
                    venv: venv.clone(),
                    message,
                })
            });
        if let Err(cause) = result {
            return Err(rollback(&venv, &backup, &journal_path, cause));
        }
        failpoint::hit("recreated");
        journal.done.push(0);
        step_done(&venv, &backup, &journal, &journal_path, &[0])?;
    } else {
        journal.write(&journal_path)?;
    }

    for index in 0..plan.actions.len() {
        if journal.done.contains(&index) {
            continue;
        }
        let applied = if cancelled() {
            Err(ExecError::Cancelled { venv: venv.clone() })
        } else {
            apply_action(&venv, plan, index)
        };
        let indices = match applied {
            Ok(indices) => indices,
            Err(cause) => return Err(rollback(&venv, &backup, &journal_path, cause)),
        };
        journal.done.extend(&indices);
        step_done(&venv, &backup, &journal, &journal_path, &indices)?;
    }

    if cancelled() {
        let cause = ExecError::Cancelled { venv: venv.clone() };
        return Err(rollback(&venv, &backup, &journal_path, cause));
    }
    let target = plan.target.as_ref().map(|t| &t.version);
    // A relocation is verified the way the user will notice it: a rewritten script runs.
    let rewrote_pip = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Rewrite { path, .. } if path == Path::new("bin/pip")));
    let verification = verify::verify(
        &venv,
        target,
        inventory,
        options.verify_timeout,
        rewrote_pip,
    );
    failpoint::hit("verified");
    if !verification.ok {
        return Err(match restore_and_clear(&backup, &journal_path) {
            Ok(()) => {
                // The venv is its own backup again: a failed repair leaves none.
                let _ = history::discard(&backup.dir);
                ExecError::VerifyFailed {
                    venv,
                    problems: verification.problems,
                }
            }
            Err(error) => ExecError::RollbackFailed {
                venv,
                cause: format!("verification failed: {}", verification.problems.join("; ")),
                error: Box::new(error),
                backup: backup.dir,
                journal: journal_path,
            },
        });
    }

    // What the repair left, for `undo` to see later changes by. Journaled first: from here on
    // an interrupted run is completed (recorded), not rolled back, since the venv works.
    let after = match AfterRepair::record(&backup) {
        Ok(after) => after,
        Err(cause) => return Err(rollback(&venv, &backup, &journal_path, cause)),
    };
    journal.step = Step::Verified;
    journal.record = Some(Record {
        format: 1,
        kind: StepKind::Repair,
        venv: venv.clone(),
        strategy: Some(plan.strategy.as_str().to_string()),
        from: Some(from),
        to: plan.target.as_ref().map(|t| history::Side {
            version: Some(t.version.to_string()),
            python: Some(t.path.clone()),
        }),
        applied_at: state::rfc3339_now(),
        batch: options.batch.clone(),
        after: Some(after),
        plan: plan_json,
        undone_at: None,
        undoes: None,
    });
    journal.groups = groups;
    if let Err(cause) = journal.write(&journal_path) {
        return Err(rollback(&venv, &backup, &journal_path, cause));
    }
    failpoint::hit("verified-journaled");
    commit(&state, &journal)?;
    Ok(Applied {
        venv,
        backup_size: history::disk_usage(&backup.dir)
            + backup
                .manifest
                .saved
                .as_deref()
                .map(history::disk_usage)
                .unwrap_or(0),
        whole_venv: backup.manifest.whole_venv,
        original: backup.manifest.saved.clone(),
        backup: backup.dir,
        verification,
    })
}

/// Record a verified repair in its backup (the step `undo` reverts), then end its journal.
/// Idempotent: a run killed in between is completed by recovery with the same call.
fn commit(state: &VenvState, journal: &Journal) -> Result<(), ExecError> {
    if let Some(record) = &journal.record {
        history::write_record(&journal.backup, record)?;
        failpoint::hit("record-written");
        history::note_identity(state, &journal.groups)?;
    }
    Journal::remove(&state.journal_path())
}

/// What the venv ran before the repair: its recorded version and the interpreter its first
/// relinked entry led to.
fn side_before(venv: &Path, plan: &Plan) -> history::Side {
    let cfg = venv.join("pyvenv.cfg");
    let version = crate::safe_read::read(
        &cfg,
        crate::safe_read::limit::SMALL,
        crate::safe_read::Follow::Never,
    )
    .ok()
    .and_then(|bytes| PyvenvCfg::parse(&bytes).ok())
    .and_then(|cfg| {
        cfg.get("version_info")
            .or(cfg.get("version"))
            .map(str::to_string)
    });
    let python = plan.actions.iter().find_map(|a| match a {
        Action::Symlink { from, .. } => from.clone(),
        _ => None,
    });
    history::Side { version, python }
}

/// Journal a finished step; on a journal write error roll back; then the kill point.
fn step_done(
    venv: &Path,
    backup: &Backup,
    journal: &Journal,
    journal_path: &Path,
    indices: &[usize],
) -> Result<(), ExecError> {
    if let Err(cause) = journal.write_progress(journal_path) {
        return Err(rollback(venv, backup, journal_path, cause));
    }
    for index in indices {
        failpoint::hit(&format!("after-action:{}", index + 1));
    }
    Ok(())
}

/// Restore `backup`; remove the journal only if that worked.
fn restore_and_clear(backup: &Backup, journal_path: &Path) -> Result<(), ExecError> {
    backup.restore()?;
    Journal::remove(journal_path)
}

/// Roll back after `cause`, and say what happened.
fn rollback(venv: &Path, backup: &Backup, journal_path: &Path, cause: ExecError) -> ExecError {
    // An installer killed by the same Ctrl-C fails too: the user's request is the cause.
    let cause = if cancelled() {
        ExecError::Cancelled {
            venv: venv.to_path_buf(),
        }
    } else {
        cause
    };
    match restore_and_clear(backup, journal_path) {
        Ok(()) => {
            // The venv is its own backup again: a failed repair leaves none.
            let _ = history::discard(&backup.dir);
            ExecError::RolledBack {
                venv: venv.to_path_buf(),
                cause: Box::new(cause),
            }
        }
        Err(error) => ExecError::RollbackFailed {
            venv: venv.to_path_buf(),
            cause: cause.to_string(),
            error: Box::new(error),
            backup: backup.dir.clone(),
            journal: journal_path.to_path_buf(),
        },
    }
}

/// The shape rules a plan must meet before anything is looked at on disk.
fn validate(plan: &Plan) -> Result<(), ExecError> {
    let invalid = |why: &str| ExecError::InvalidPlan {
        path: plan.venv.clone(),
        why: why.to_string(),
    };
    if !plan.venv.is_absolute() {
        return Err(invalid("the venv path must be absolute"));
    }
    if plan.actions.is_empty() {
        return Err(invalid("the plan has no actions"));
    }
    let recreates = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Recreate(_)))
        .count();
    if recreates > 0 && plan.actions.len() > 1 {
        return Err(invalid("a recreate must be the plan's only action"));
    }
    for action in &plan.actions {
        match action {
            Action::Symlink { path, .. }
            | Action::CopyFile { path, .. }
            | Action::Rewrite { path, .. } => {
                backup::check_relative(path)?;
            }
            Action::Record(edit) => backup::check_relative(&edit.path)?,
            Action::ExternalLink { path, .. } => {
                backup::check_absolute(path)?;
                if path.starts_with(&plan.venv) || plan.venv.starts_with(path) {
                    return Err(invalid(
                        "a link outside the venv must be neither in the venv nor above it",
                    ));
                }
            }
            Action::Config { .. } | Action::Recreate(_) => {}
        }
    }
    Ok(())
}

/// Check every action against the venv as it is now: a plan made for another state is stale.
fn preflight(venv: &Path, plan: &Plan) -> Result<(), ExecError> {
    let stale = |what: String| ExecError::Stale {
        venv: venv.to_path_buf(),
        what,
    };
    for action in &plan.actions {
        match action {
            Action::Symlink { path, from, .. } => {
                let full = venv.join(path);
                let current = match fs::symlink_metadata(&full) {
                    Ok(meta) if meta.is_dir() => {
                        return Err(ExecError::Refused {
                            path: full,
                            op: "replace with a symlink".into(),
                            why: "it is a directory".into(),
                        });
                    }
                    Ok(meta) if meta.is_symlink() => Some(
                        fs::read_link(&full)
                            .map_err(|e| ExecError::io(&full, "read the link", e))?,
                    ),
                    _ => None,
                };
                if current != *from {
                    let show = |p: &Option<PathBuf>| match p {
                        Some(p) => format!("a link to `{}`", p.display()),
                        None => "not a link".to_string(),
                    };
                    return Err(stale(format!(
                        "`{}` is {}, the plan expected {}",
                        path.display(),
                        show(&current),
                        show(from)
                    )));
                }
            }
            Action::CopyFile { path, source } => {
                let full = venv.join(path);
                if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                    return Err(ExecError::Refused {
                        path: full,
                        op: "replace with a copy".into(),
                        why: "it is a directory".into(),
                    });
                }
                let meta = fs::metadata(source).map_err(|e| ExecError::io(source, "inspect", e))?;
                if !meta.is_file() {
                    return Err(stale(format!(
                        "`{}` is not a regular file",
                        source.display()
                    )));
                }
            }
            Action::Rewrite { path, from, to } => {
                rewrite::rewritten(venv, path, from, to)?;
            }
            Action::ExternalLink { path, from, to } => {
                let current = match fs::symlink_metadata(path) {
                    Ok(meta) if meta.is_symlink() => fs::read_link(path).ok(),
                    Ok(_) => {
                        return Err(ExecError::Refused {
                            path: path.clone(),
                            op: "point at the venv".into(),
                            why: "it is not a link; venvfix changes only links outside the venv"
                                .into(),
                        });
                    }
                    Err(_) => None,
                };
                if current.as_ref() != Some(from) {
                    return Err(stale(format!(
                        "`{}` no longer links to `{}`",
                        path.display(),
                        from.display()
                    )));
                }
                // A link outside the venv is only ever pointed at the venv being repaired.
                if fs::canonicalize(to).ok().as_deref() != Some(venv) {
                    return Err(ExecError::InvalidPlan {
                        path: path.clone(),
                        why: format!(
                            "`{}` would link to `{}`, which is not this venv",
                            path.display(),
                            to.display()
                        ),
                    });
                }
            }
            Action::Config { .. } => {}
            Action::Recreate(_) => {}
            Action::Record(edit) => {
                records::rewrite(venv, edit).map_err(|e| record_error(venv, e))?;
            }
        }
    }
    new_config(venv, plan)?;
    Ok(())
}

/// The new `pyvenv.cfg` text and mode with every Config action of the plan applied, or `None`
/// if the plan has none. Stale if a key's current value is not the plan's `from`.
fn new_config(venv: &Path, plan: &Plan) -> Result<Option<(String, u32)>, ExecError> {
    let changes: Vec<(&String, &Option<String>, &String)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Config { key, from, to } => Some((key, from, to)),
            _ => None,
        })
        .collect();
    if changes.is_empty() {
        return Ok(None);
    }
    let path = venv.join("pyvenv.cfg");
    let stale = |what: String| ExecError::Stale {
        venv: venv.to_path_buf(),
        what,
    };
    let meta = match fs::symlink_metadata(&path) {
        // A venv that lost its `pyvenv.cfg` gets a new one: only keys the plan adds.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && changes.iter().all(|(_, from, _)| from.is_none()) =>
        {
            let mut cfg = PyvenvCfg::empty();
            for (key, _, to) in &changes {
                cfg.set(key, to);
            }
            return Ok(Some((cfg.render(), 0o644)));
        }
        Err(e) => return Err(stale(format!("`pyvenv.cfg` cannot be read: {e}"))),
        Ok(meta) => meta,
    };
    if !meta.is_file() {
        return Err(ExecError::Refused {
            path,
            op: "rewrite".into(),
            why: "it is not a regular file (venvfix does not write through links)".into(),
        });
    }
    let bytes = safe_read::read(&path, safe_read::limit::SMALL, Follow::Never)
        .map_err(|e| ExecError::io(&path, "read", e.into_io()))?;
    let mut cfg = PyvenvCfg::parse(&bytes)
        .map_err(|e| stale(format!("`pyvenv.cfg` no longer parses: {e}")))?;
    for (key, from, _) in &changes {
        let current = cfg.get(key).map(str::to_string);
        if current != **from {
            let show = |v: &Option<String>| match v {
                Some(v) => format!("`{v}`"),
                None => "absent".to_string(),
            };
            return Err(stale(format!(
                "`pyvenv.cfg` key `{key}` is {}, the plan expected {}",
                show(&current),
                show(from)
            )));
        }
    }
    for (key, _, to) in &changes {
        cfg.set(key, to);
    }
    Ok(Some((cfg.render(), meta.permissions().mode() & 0o7777)))
}

/// Apply action `index` of `plan`; returns the indices it completed (every Config action is
/// written in one go, at the first one).
fn apply_action(venv: &Path, plan: &Plan, index: usize) -> Result<Vec<usize>, ExecError> {
    match &plan.actions[index] {
        Action::Symlink { path, to, .. } => {
            backup::replace_with_symlink(&venv.join(path), to)?;
            Ok(vec![index])
        }
        Action::CopyFile { path, source } => {
            let full = venv.join(path);
            let mode = match fs::symlink_metadata(&full) {
                Ok(meta) if meta.is_file() => meta.permissions().mode() & 0o7777,
                _ => 0o755,
            };
            let real = fs::canonicalize(source).map_err(|e| ExecError::io(source, "resolve", e))?;
            backup::replace_with_copy(&real, &full, mode, None)?;
            Ok(vec![index])
        }
        Action::Config { .. } => {
            if let Some((text, mode)) = new_config(venv, plan)? {
                state::write_atomic(&venv.join("pyvenv.cfg"), text.as_bytes(), mode)?;
            }
            Ok(plan
                .actions
                .iter()
                .enumerate()
                .filter(|(_, a)| matches!(a, Action::Config { .. }))
                .map(|(i, _)| i)
                .collect())
        }
        // Every rewrite in one go, at the first one (a relocation rewrites hundreds of files).
        Action::Rewrite { .. } => rewrite::apply_all(venv, plan),
        Action::ExternalLink { path, to, .. } => {
            backup::replace_external_link(path, to)?;
            Ok(vec![index])
        }
        Action::Record(edit) => {
            let rewrite = records::rewrite(venv, edit).map_err(|e| record_error(venv, e))?;
            state::write_atomic(&rewrite.path, rewrite.contents.as_bytes(), rewrite.mode)?;
            Ok(vec![index])
        }
        Action::Recreate(_) => Err(ExecError::InvalidPlan {
            path: venv.to_path_buf(),
            why: "a recreate must be the plan's only action".into(),
        }),
    }
}

/// A tool's record that cannot be rewritten as planned: stale when it changed since, else
/// refused (it is not a regular file, or no longer parses).
fn record_error(venv: &Path, error: records::RecordError) -> ExecError {
    match error {
        records::RecordError::Stale { .. } => ExecError::Stale {
            venv: venv.to_path_buf(),
            what: error.to_string(),
        },
        records::RecordError::Io { path, source } => ExecError::io(&path, "read", source),
        other => ExecError::Refused {
            path: venv.to_path_buf(),
            op: "rewrite a tool's record in".into(),
            why: other.to_string(),
        },
    }
}

/// Roll back a run that was killed half-way (its journal is still there), from its backup.
/// `None` if there was nothing to recover. Call at the start of `repair` and `undo`.
pub fn recover(venv: &Path, options: &ExecOptions) -> Result<Option<Recovered>, ExecError> {
    let state = VenvState::locate(&options.state_dir, venv)?;
    if fs::symlink_metadata(state.journal_path()).is_err() {
        return Ok(None);
    }
    let _lock = VenvLock::acquire(&state)?;
    recover_locked(&state)
}

fn recover_locked(state: &VenvState) -> Result<Option<Recovered>, ExecError> {
    let journal_path = state.journal_path();
    let Some(journal) = Journal::read(&journal_path)? else {
        return Ok(None);
    };
    // A journal is trusted only for the venv and the backups of this state dir (a forged one
    // must not make recovery write anywhere else).
    trusted(state, &journal_path, &journal.venv, &journal.backup)?;
    if let Some(restoring) = &journal.restoring {
        trusted(state, &journal_path, &journal.venv, restoring)?;
    }
    // Installers of the killed run must not write into the venv while it is restored.
    if let Some(group) = &journal.children {
        children::kill_group(group);
    }
    let outcome = match (journal.state, journal.step) {
        (JournalState::Applying, Step::Verified) => {
            // The repair worked and was verified: record it rather than throw it away.
            commit(state, &journal)?;
            Recovery::Completed
        }
        (JournalState::Applying, _) => {
            let restored = match Backup::open(&journal.backup) {
                Ok(backup) => {
                    let restored = backup.restore_at(&state.venv)?;
                    failpoint::hit("recovery-restored");
                    restored
                }
                // Killed while the backup was being taken: the venv was never changed.
                Err(ExecError::Corrupt { .. }) if Backup::incomplete(&journal.backup) => {
                    remove_incomplete(&journal.backup)?;
                    Vec::new()
                }
                Err(e) => return Err(e),
            };
            Journal::remove(&journal_path)?;
            // Rolled back, the venv is its own backup again: a failed repair leaves none (the
            // journal goes first, so a kill here leaves a leftover, never a stuck journal).
            let _ = history::discard(&journal.backup);
            Recovery::RolledBack(restored)
        }
        (JournalState::Undoing, _) => {
            // An undo is finished, not reversed: reversing it would put the repaired state
            // back and lose the way to the original.
            match resume_undo(state, &journal)? {
                Some(restored) => Recovery::UndoFinished(restored),
                None => Recovery::RolledBack(Vec::new()),
            }
        }
    };
    let (completed, restored) = match outcome {
        Recovery::Completed => (true, Vec::new()),
        Recovery::RolledBack(r) => (false, r),
        Recovery::UndoFinished(r) => (true, r),
    };
    Ok(Some(Recovered {
        venv: state.venv.clone(),
        state: journal.state,
        started_at: journal.started_at,
        pid: journal.pid,
        done: journal.done,
        backup: journal.restoring.unwrap_or(journal.backup),
        restored,
        completed,
    }))
}

enum Recovery {
    Completed,
    RolledBack(Vec<Restored>),
    UndoFinished(Vec<Restored>),
}

/// Refuse a journal or backup that is not this state dir's own, for this venv.
fn trusted(
    state: &VenvState,
    journal_path: &Path,
    venv: &Path,
    backup: &Path,
) -> Result<(), ExecError> {
    let corrupt = |why: String| ExecError::Corrupt {
        path: journal_path.to_path_buf(),
        why,
    };
    if venv != state.venv {
        return Err(corrupt(format!(
            "it is about `{}`, not `{}`; nothing was changed",
            venv.display(),
            state.venv.display()
        )));
    }
    let backups = state.backups_dir();
    let inside = backup.parent() == Some(backups.as_path())
        && backup.file_name().is_some_and(|n| n != "." && n != "..")
        && fs::symlink_metadata(backup).is_ok_and(|m| m.is_dir());
    if !inside {
        return Err(corrupt(format!(
            "its backup `{}` is not a backup directory of `{}`; nothing was changed",
            backup.display(),
            backups.display()
        )));
    }
    match Backup::open(backup) {
        Ok(opened) if opened.manifest.venv != state.venv => Err(corrupt(format!(
            "its backup `{}` is of `{}`, not of `{}`; nothing was changed",
            backup.display(),
            opened.manifest.venv.display(),
            state.venv.display()
        ))),
        _ => Ok(()),
    }
}

/// Remove a backup dir killed before its manifest was written (it holds only copies).
fn remove_incomplete(dir: &Path) -> Result<(), ExecError> {
    // `remove_dir_all` never follows links inside the tree.
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ExecError::io(dir, "remove an incomplete backup", e)),
    }
}

/// Finish an undo from wherever it stopped; every step is idempotent. `None` when it had not
/// changed anything yet and is dropped instead.
fn resume_undo(state: &VenvState, journal: &Journal) -> Result<Option<Vec<Restored>>, ExecError> {
    let journal_path = state.journal_path();
    let Some(restoring) = &journal.restoring else {
        // A journal of an older venvfix: its safety backup holds the state before the undo.
        let restored = Backup::open(&journal.backup)?.restore_at(&state.venv)?;
        if let Some(undoing) = &journal.undoing {
            history::mark_undone(undoing, None)?;
        }
        Journal::remove(&journal_path)?;
        let _ = history::discard(&journal.backup);
        return Ok(Some(restored));
    };
    let target = Backup::open(restoring)?;
    let safety = match Backup::open(&journal.backup) {
        Ok(safety) => safety,
        Err(ExecError::Corrupt { .. }) if Backup::incomplete(&journal.backup) => {
            // Killed while the state before the undo was being saved: nothing was changed
            // yet, so the undo simply did not happen.
            Journal::remove(&journal_path)?;
            remove_incomplete(&journal.backup)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let restored = finish_undo(
        state,
        &target,
        &safety,
        journal.undoing.as_deref(),
        &journal.groups,
    )?;
    Journal::remove(&journal_path)?;
    Ok(Some(restored))
}

/// The end of an undo once its safety backup is complete: (for a whole venv) move the current
/// venv into it, put `target` back, mark the repair undone and record the undo in the safety
/// backup. Every step is idempotent, so recovery finishes a killed undo with the same call.
fn finish_undo(
    state: &VenvState,
    target: &Backup,
    safety: &Backup,
    undoing: Option<&Path>,
    groups: &[PathBuf],
) -> Result<Vec<Restored>, ExecError> {
    let venv = &state.venv;
    if safety.manifest.whole_venv
        && target.original_still_saved()
        && !safety.holds_venv()
        && fs::symlink_metadata(venv).is_ok()
    {
        safety.move_venv_in(false)?;
    }
    let restored = target.restore_at(venv)?;
    failpoint::hit("undo-restored");
    let undone_at = state::rfc3339_now();
    if let Some(step) = undoing {
        history::mark_undone(step, Some(undone_at.clone()))?;
        failpoint::hit("undone-marked");
    }
    let record = history::read_record(&target.dir)?;
    let undo_record = Record {
        format: 1,
        kind: StepKind::Undo,
        venv: venv.clone(),
        strategy: None,
        from: record.as_ref().and_then(|r| r.to.clone()),
        to: record.as_ref().and_then(|r| r.from.clone()),
        applied_at: undone_at,
        batch: None,
        after: None,
        plan: serde_json::Value::Null,
        undone_at: None,
        undoes: Some(target.dir.clone()),
    };
    history::write_record(&safety.dir, &undo_record)?;
    history::note_identity(state, groups)?;
    Ok(restored)
}

/// The venvs with a journal in the state dir that are one of `roots` or lie under one, even
/// when the venv path does not exist right now (a recreate killed after moving it aside).
/// Read-only; a journal whose venv does not hash to its own state dir (forged or moved) is
/// ignored. Sorted.
pub fn interrupted_under(roots: &[PathBuf], options: &ExecOptions) -> Vec<PathBuf> {
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| state::canonical_venv(r).ok())
        .collect();
    let Ok(dirs) = fs::read_dir(options.state_dir.join("venvs")) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = dirs
        .filter_map(Result::ok)
        .filter_map(|dir| {
            let journal = Journal::read(&dir.path().join("journal.json")).ok()??;
            let own = VenvState::locate(&options.state_dir, &journal.venv).ok()?;
            (own.dir == dir.path() && own.venv == journal.venv).then_some(journal.venv)
        })
        .filter(|venv| roots.iter().any(|root| venv.starts_with(root)))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether a journal exists for `venv`, and whether the run that wrote it is still going
/// (another process holds the lock) or was interrupted. Read-only (for `check`): creates and
/// changes nothing, and holds no lock (it only probes the lock, for an instant).
pub fn pending(venv: &Path, options: &ExecOptions) -> Option<PendingInfo> {
    let state = VenvState::locate(&options.state_dir, venv).ok()?;
    let journal_path = state.journal_path();
    fs::symlink_metadata(&journal_path).ok()?;
    let journal = Journal::read(&journal_path).ok().flatten();
    let holder = lock::probe(&state.lock_path());
    let in_progress = holder.is_some() || lock::probe_dir(&state.venv);
    let holder = holder.filter(|h| h.pid != 0);
    let pid = holder
        .as_ref()
        .map(|h| h.pid)
        .or_else(|| journal.as_ref().map(|j| j.pid));
    let started_at = journal
        .as_ref()
        .map(|j| j.started_at.clone())
        .or_else(|| holder.map(|h| h.since));
    Some(PendingInfo {
        venv: state.venv,
        journal: journal_path,
        state: journal.as_ref().map(|j| j.state),
        started_at,
        backup: journal.map(|j| j.backup),
        in_progress,
        pid,
    })
}

/// Undo the last repair of `venv` still applied (see [`undo_with`]).
pub fn undo(venv: &Path, options: &ExecOptions, force: bool) -> Result<Undone, ExecError> {
    let request = UndoRequest {
        force,
        ..UndoRequest::default()
    };
    undo_with(venv, options, &request)
}

/// Walk `venv` back one step: restore it exactly as it was before its newest repair that is
/// still applied (or, with [`UndoRequest::from`], as the named backup recorded it). The venv
/// may have been moved or renamed since: its history is found by the identity of its
/// directory. An interrupted run is rolled back instead, if there is one (and nothing else is
/// done).
///
/// Refuses, changing nothing, when the backup is damaged ([`Backup::check`]: never
/// half-applied), and ([`ExecError::ChangedSinceRepair`]) when what the repair changed was
/// changed since, unless `force`. The current state is saved first, as a backup of its own that
/// `undo --from` can put back; for an unchanged recreate that would be a second full tree, so
/// it is removed once the original is back, unless `keep_recreated`.
pub fn undo_with(
    venv: &Path,
    options: &ExecOptions,
    request: &UndoRequest,
) -> Result<Undone, ExecError> {
    let state = VenvState::locate(&options.state_dir, venv)?;
    let venv = state.venv.clone();
    let _lock = VenvLock::acquire(&state)?;
    if let Some(recovered) = recover_locked(&state)?
        // A verified repair that recovery recorded is what the user now asks to undo, and an
        // undo dropped before it changed anything is simply done now.
        && (recovered.state == JournalState::Applying) != recovered.completed
    {
        return Ok(Undone {
            venv,
            backup: recovered.backup.clone(),
            step: None,
            safety_backup: None,
            freed: 0,
            restored: recovered.restored.clone(),
            recovered: Some(recovered.message()),
        });
    }
    let history = History::load(&options.state_dir)?;
    let mine = history.of_venv(&venv);
    let step = match &request.from {
        None => mine
            .next_undo()
            .map(|(step, _)| step.clone())
            .ok_or_else(|| ExecError::NothingToUndo { venv: venv.clone() })?,
        Some(dir) => {
            let not = |why: &str| ExecError::NotApplicable {
                backup: dir.clone(),
                why: why.to_string(),
            };
            let step = history
                .step(dir)
                .cloned()
                .ok_or_else(|| not("is not a backup in venvfix's state directory"))?;
            if step.in_journal {
                return Err(not("belongs to a run in progress or interrupted"));
            }
            if step.record.is_none() && step.damage.is_none() {
                return Err(not(
                    "is left by a run that never completed; it cannot be applied",
                ));
            }
            step
        }
    };
    if let Some(why) = &step.damage {
        return Err(ExecError::Corrupt {
            path: step.dir.clone(),
            why: why.clone(),
        });
    }
    let backup = Backup::open(&step.dir)?;
    backup.check()?;
    let record = step.record.clone();
    if let Some(record) = &record
        && history::read_record(&step.dir)?.is_none()
    {
        // A backup an older venvfix took: its record is made from `last.json`; written down
        // now so that marking it undone sticks.
        history::write_record(&step.dir, record)?;
    }
    let changed = match record.as_ref().and_then(|r| r.after.as_ref()) {
        Some(after) => after.changes(&venv)?,
        None => Vec::new(),
    };
    if !changed.is_empty() && !request.force {
        return Err(ExecError::ChangedSinceRepair {
            venv,
            changed,
            repaired_at: record.map(|r| r.applied_at).unwrap_or_default(),
            backups: state.backups_dir(),
        });
    }
    // The recreated tree is worth keeping only when asked, or when it holds changes made since.
    let discard_tree = backup.manifest.whole_venv && !request.keep_recreated && changed.is_empty();
    let journal_path = state.journal_path();
    let paths: Vec<PathBuf> = backup
        .manifest
        .entries
        .iter()
        .map(|e| e.path.clone())
        .collect();
    let outside: Vec<PathBuf> = backup
        .manifest
        .external
        .iter()
        .map(|e| e.path.clone())
        .collect();
    if backup.manifest.whole_venv {
        Backup::check_whole(&venv, &state.backups_dir())?;
        writable::check_parent(&venv)?;
    } else {
        writable::check(&venv, &paths)?;
    }
    for path in &outside {
        backup::check_absolute(path)?;
        writable::check_outside(path)?;
    }
    // Intent first, as for a repair: the journal names the safety backup and the backup being
    // put back before either is touched; recovery finishes an interrupted undo.
    let dir = Backup::reserve(&state.backups_dir())?;
    let mut journal = Journal::new(JournalState::Undoing, &venv, serde_json::Value::Null, &dir);
    journal.restoring = Some(backup.dir.clone());
    let undoing_repair = record.as_ref().is_some_and(|r| r.kind == StepKind::Repair);
    journal.undoing = undoing_repair.then(|| step.dir.clone());
    journal.groups = mine.groups();
    journal.write(&journal_path)?;
    failpoint::hit("undo-journal-written");
    let taken = if backup.manifest.whole_venv {
        Backup::prepare_whole_in(dir.clone(), &venv, "undo")
    } else {
        Backup::take_in(dir.clone(), &venv, &paths, &outside, "undo")
    };
    let safety = match taken {
        Ok(safety) => safety,
        Err(cause) => {
            Journal::remove(&journal_path)?;
            let _ = fs::remove_dir_all(&dir);
            return Err(cause);
        }
    };
    failpoint::hit("undo-safety-taken");
    let restored = match finish_undo(
        &state,
        &backup,
        &safety,
        journal.undoing.as_deref(),
        &journal.groups,
    ) {
        Ok(restored) => restored,
        Err(cause) => {
            if undoing_repair {
                let _ = history::mark_undone(&step.dir, None);
            }
            return Err(rollback(&venv, &safety, &journal_path, cause));
        }
    };
    Journal::remove(&journal_path)?;
    let (safety_backup, freed) = if discard_tree {
        let size = history::disk_usage(&safety.dir);
        match history::discard(&safety.dir) {
            Ok(()) => (None, size),
            // Still a complete backup (`redo`), listed by `backups` and removed by `prune`.
            Err(_) => (Some(safety.dir), 0),
        }
    } else {
        (Some(safety.dir), 0)
    };
    Ok(Undone {
        venv,
        backup: backup.dir,
        step: record,
        safety_backup,
        freed,
        restored,
        recovered: None,
    })
}

#[cfg(test)]
mod tests;
