//! The one module that writes the state, and the lock held while a command writes it:
//! the port over the two backends, a local file (`--state`, an OS lock) and an S3 object
//! (`backend "s3"`, a lease with fencing; `s3.rs`, `lease.rs`).

pub mod events;
pub mod journal;
pub mod lease;
mod lock;
pub mod object;
pub mod s3;

pub use lease::{Fence, Holder, Lease, LeaseInfo};
pub use lock::{force_unlock, lock_path, LockInfo, StateLock};
use s3::S3State;

use crate::adapters::fsutil::write_atomic;
use crate::core::state::file::{self as state_file, StateFileError};
use crate::core::state::State;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read state file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("state file {path} is unusable: {source}\n  hint: restore it from {path}.backup, or move it aside to start over (keys would be imported again)")]
    Parse {
        path: PathBuf,
        source: StateFileError,
    },
    #[error("cannot write state file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("state is locked by {holder}\n  hint: {hint}")]
    Locked {
        path: PathBuf,
        holder: String,
        id: String,
        hint: String,
    },
    #[error("the lock is held by {holder}, which is still running: a live lock cannot be broken\n  hint: it is released the moment that process exits; stop it if it is stuck")]
    HeldByLiveProcess { holder: String },
    #[error("no lock with id {wanted} on {path}{found}")]
    UnlockMismatch {
        path: PathBuf,
        wanted: String,
        found: String,
    },
    #[error("cannot create lock file {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error("state backend {what}: {message}")]
    Remote { what: String, message: String },
    #[error("lost the lock {lock}: this run's lease ran out (it was paused or cut off for longer than lock_lease){}; it stopped before any further IAM call and wrote nothing\n  hint: nothing to do: the run holding the lock now settles what this one left. If this repeats, raise `lock_lease`", holder.as_ref().map(|h| format!(" and {h} holds it now")).unwrap_or_default())]
    LostLock {
        lock: String,
        holder: Option<String>,
    },
    #[error("refusing to push {file}: {reason}\n  hint: pull the current state with `keyrot state pull`; `--force` overwrites it anyway")]
    PushRefused { file: String, reason: String },
}

/// The lock a writing command holds: an OS lock on a local file, or an S3 lease.
pub enum Lock {
    Local(StateLock),
    S3(Lease),
}

impl Lock {
    /// The stale lock this run took over (S3 only), to say whose it was.
    pub fn took_over(&self) -> Option<&LeaseInfo> {
        match self {
            Lock::Local(_) => None,
            Lock::S3(lease) => lease.took_over.as_ref(),
        }
    }
}

/// The state of either backend.
pub enum StateStore {
    Local(LocalState),
    S3(S3State),
}

impl StateStore {
    pub fn new(path: PathBuf) -> Self {
        StateStore::Local(LocalState::new(path))
    }

    /// Where the state is, for messages: a path or `s3://bucket/key`.
    pub fn location(&self) -> String {
        match self {
            StateStore::Local(s) => s.path.display().to_string(),
            StateStore::S3(s) => s.url(),
        }
    }

    /// Reads the state; a missing one is an empty state whose lineage is assigned on first
    /// save (so a plan saved before any state exists still matches it).
    pub fn load(&mut self) -> Result<State, StoreError> {
        let state = match self {
            StateStore::Local(s) => s.load(),
            StateStore::S3(s) => s.load(),
        }?;
        tracing::debug!(target: TARGET, location = %self.location(), serial = state.serial,
            sets = state.sets.len(), "state read");
        Ok(state)
    }

    /// Writes `state` if its content changed, bumping the serial. Returns whether a write
    /// happened.
    pub fn save(&mut self, state: &mut State) -> Result<bool, StoreError> {
        let Some((write, io)) = self.prepare(state) else {
            return Ok(false);
        };
        let done = io();
        self.finish(state, write, done)?;
        Ok(true)
    }

    /// The write [`StateStore::save`] would make (`None`: nothing changed), as the version it
    /// writes and the I/O itself, which owns all it needs and may run on another thread
    /// while the state changes further; [`StateStore::finish`] records it. Writes must
    /// finish in the order they were prepared.
    pub fn prepare(&mut self, state: &mut State) -> Option<(PreparedWrite, WriteIo)> {
        let last = match self {
            StateStore::Local(s) => &s.last,
            StateStore::S3(s) => s.last(),
        };
        if last.unchanged(state) {
            tracing::debug!(target: TARGET, location = %self.location(), serial = state.serial,
                "state unchanged, not written");
            return None;
        }
        let (serial, text) = next_version(state);
        let io = match self {
            StateStore::Local(s) => s.write_io(text.clone()),
            StateStore::S3(s) => s.write_io(text.clone()),
        };
        let content = State {
            serial,
            ..state.clone()
        };
        Some((PreparedWrite { text, content }, io))
    }

    /// Records a prepared write's outcome: on success the state's serial moves to the one
    /// written, and the version written is the one later saves compare with.
    pub fn finish(
        &mut self,
        state: &mut State,
        write: PreparedWrite,
        done: Result<Option<String>, StoreError>,
    ) -> Result<(), StoreError> {
        let etag = done?;
        state.serial = write.content.serial;
        let last = Last {
            text: Some(write.text),
            content: Some(write.content),
        };
        match self {
            StateStore::Local(s) => s.last = last,
            StateStore::S3(s) => s.wrote(last, etag),
        }
        tracing::info!(target: TARGET, location = %self.location(), serial = state.serial,
            "state written");
        Ok(())
    }

    /// The text last read or written (what `state pull` prints).
    pub fn text(&self) -> Option<&str> {
        match self {
            StateStore::Local(s) => s.last.text.as_deref(),
            StateStore::S3(s) => s.text(),
        }
    }

    /// Writes `state` exactly as it is, serial and lineage kept (`state push`, migration).
    pub fn replace(&mut self, state: &State) -> Result<(), StoreError> {
        let text = state_file::to_json(state);
        match self {
            StateStore::Local(s) => s.write(text),
            StateStore::S3(s) => s.write(text),
        }?;
        tracing::info!(target: TARGET, location = %self.location(), serial = state.serial,
            "state replaced");
        Ok(())
    }
}

/// A state version prepared for writing: its text and content.
pub struct PreparedWrite {
    text: String,
    content: State,
}

/// A prepared write's I/O: the new ETag (S3), or `None` (a file).
pub type WriteIo = Box<dyn FnOnce() -> Result<Option<String>, StoreError> + Send>;

/// The target of the state's log lines.
const TARGET: &str = "keyrot::state";

/// The version last read or written: its text (the next write's `.backup`, what `state
/// pull` prints) and, once known, its content, so that saving an unchanged state costs a
/// comparison rather than a parse.
#[derive(Default)]
pub(crate) struct Last {
    pub(crate) text: Option<String>,
    content: Option<State>,
}

impl Last {
    /// A version read, or written by a save: its text and content.
    pub(crate) fn known(text: String, content: &State) -> Self {
        Last {
            text: Some(text),
            content: Some(content.clone()),
        }
    }

    /// A version written as text (`state push`): its content is read when next needed.
    pub(crate) fn text(text: String) -> Self {
        Last {
            text: Some(text),
            content: None,
        }
    }

    /// Whether `state` has this version's content (everything but the serial counts).
    pub(crate) fn unchanged(&self, state: &State) -> bool {
        let same = |prev: &State| {
            prev.lineage == state.lineage
                && prev.sets == state.sets
                && prev.applied_plans == state.applied_plans
        };
        match (&self.content, &self.text) {
            (Some(prev), _) => same(prev),
            (None, Some(text)) => state_file::from_json(text).is_ok_and(|prev| same(&prev)),
            (None, None) => false,
        }
    }
}

/// The next version of `state`: its serial and text (a lineage is assigned if none).
pub(crate) fn next_version(state: &mut State) -> (u64, String) {
    if state.lineage.is_empty() {
        state.lineage = uuid::Uuid::new_v4().to_string();
    }
    let mut next = state.clone();
    next.serial += 1;
    (next.serial, state_file::to_json(&next))
}

pub struct LocalState {
    path: PathBuf,
    /// The version last read or written, to skip writes that change nothing.
    last: Last,
}

impl LocalState {
    pub fn new(path: PathBuf) -> Self {
        LocalState {
            path,
            last: Last::default(),
        }
    }

    fn load(&mut self) -> Result<State, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let state = state_file::from_bytes(&bytes).map_err(|source| StoreError::Parse {
                    path: self.path.clone(),
                    source,
                })?;
                self.last = Last::known(String::from_utf8_lossy(&bytes).into_owned(), &state);
                Ok(state)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::new(String::new())),
            Err(source) => Err(StoreError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The write of `text` with the previous file kept as `.backup`, to run anywhere.
    fn write_io(&self, text: String) -> WriteIo {
        let (path, old) = (self.path.clone(), self.last.text.clone());
        Box::new(move || write_with_backup(&path, old.as_deref(), &text).map(|()| None))
    }

    /// Writes `text` atomically, the previous file kept as `.backup`.
    fn write(&mut self, text: String) -> Result<(), StoreError> {
        write_with_backup(&self.path, self.last.text.as_deref(), &text)?;
        self.last = Last::text(text);
        Ok(())
    }
}

/// Writes `text` to `path` atomically, `old` (the file as last read or written) first kept
/// as `.backup`.
fn write_with_backup(path: &Path, old: Option<&str>, text: &str) -> Result<(), StoreError> {
    let err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(old) = old {
        write_atomic(&backup_path(path), old.as_bytes(), 0o600).map_err(err)?;
    }
    crate::adapters::crash::point("before-state-write");
    write_atomic(path, text.as_bytes(), 0o600).map_err(err)?;
    crate::adapters::crash::point("after-state-write");
    Ok(())
}

pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".backup");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::Address;

    #[test]
    fn save_skips_unchanged_and_keeps_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.json");
        let mut store = StateStore::new(path.clone());
        let mut state = store.load().unwrap();
        assert!(store.save(&mut state).unwrap());
        assert_eq!(state.serial, 1);
        assert!(
            !store.save(&mut state).unwrap(),
            "no content change, no write"
        );
        assert_eq!(state.serial, 1);
        state
            .sets
            .insert(Address::access_key("a"), Default::default());
        assert!(store.save(&mut state).unwrap());
        assert_eq!(state.serial, 2);
        let backup = fs::read_to_string(backup_path(&path)).unwrap();
        assert!(backup.contains("\"serial\": 1"));
        state.mark_applied("plan-1");
        assert!(
            store.save(&mut state).unwrap(),
            "an applied plan id is content"
        );
        assert_eq!(state.serial, 3);
        let again = StateStore::new(path).load().unwrap();
        assert_eq!(again, state);
    }
}
