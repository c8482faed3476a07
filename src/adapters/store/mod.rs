//! The one module that writes the state file, and the lock held while a command writes it.

pub mod journal;
mod lock;

pub use lock::{force_unlock, lock_path, LockInfo, StateLock};

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
}

pub struct StateStore {
    path: PathBuf,
    /// The text last read or written, to skip writes that change nothing.
    last_text: Option<String>,
}

impl StateStore {
    pub fn new(path: PathBuf) -> Self {
        StateStore {
            path,
            last_text: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state; a missing file is an empty state whose lineage is assigned on first
    /// save (so a plan saved before any state exists still matches it).
    pub fn load(&mut self) -> Result<State, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let state = state_file::from_bytes(&bytes).map_err(|source| StoreError::Parse {
                    path: self.path.clone(),
                    source,
                })?;
                self.last_text = Some(String::from_utf8_lossy(&bytes).into_owned());
                Ok(state)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::new(String::new())),
            Err(source) => Err(StoreError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Writes `state` if its content changed, bumping the serial and keeping the previous
    /// file as `.backup`. Returns whether a write happened.
    pub fn save(&mut self, state: &mut State) -> Result<bool, StoreError> {
        // Everything but the serial counts as content.
        let unchanged = self.last_text.as_deref().is_some_and(|old| {
            state_file::from_json(old).is_ok_and(|prev| {
                State {
                    serial: state.serial,
                    ..prev
                } == *state
            })
        });
        if unchanged {
            return Ok(false);
        }
        let err = |source| StoreError::Write {
            path: self.path.clone(),
            source,
        };
        if state.lineage.is_empty() {
            state.lineage = uuid::Uuid::new_v4().to_string();
        }
        let mut next = state.clone();
        next.serial += 1;
        let text = state_file::to_json(&next);
        if let Some(old) = &self.last_text {
            write_atomic(&backup_path(&self.path), old.as_bytes(), 0o600).map_err(err)?;
        }
        crate::adapters::crash::point("before-state-write");
        write_atomic(&self.path, text.as_bytes(), 0o600).map_err(err)?;
        crate::adapters::crash::point("after-state-write");
        state.serial = next.serial;
        self.last_text = Some(text);
        Ok(true)
    }
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
