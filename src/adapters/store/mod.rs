//! The one module that writes the state file, and the lock held while a command writes it.

pub mod journal;

use crate::adapters::fsutil::{parent_dir, write_atomic};
use crate::core::model::Time;
use crate::core::state::file::{self as state_file, StateFileError};
use crate::core::state::State;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
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

pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Who holds the lock; written into the lock file so a refused command can name them.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LockInfo {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub operation: String,
    pub created: Time,
}

/// An exclusive lock on the state, held for a whole writing command; released on drop.
pub struct StateLock {
    path: PathBuf,
}

impl StateLock {
    /// Fails at once if another command holds the lock. `created` is the wall clock.
    pub fn acquire(state_path: &Path, operation: &str, created: Time) -> Result<Self, StoreError> {
        let path = lock_path(state_path);
        fs::create_dir_all(parent_dir(&path)).map_err(|source| StoreError::Lock {
            path: path.clone(),
            source,
        })?;
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            operation: operation.to_string(),
            created,
        };
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                let text = serde_json::to_string_pretty(&info).unwrap_or_default();
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|source| StoreError::Lock {
                        path: path.clone(),
                        source,
                    })?;
                Ok(StateLock { path })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let held = read_lock(&path);
                let (holder, id, alive) = match held {
                    Some(h) => (
                        format!(
                            "`keyrot {}` (pid {} on host {}, since {})",
                            h.operation,
                            h.pid,
                            h.host,
                            h.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                        h.id.clone(),
                        process_alive(&h),
                    ),
                    None => (
                        "an unknown process (the lock file is empty or unreadable)".into(),
                        String::new(),
                        None,
                    ),
                };
                let hint = match alive {
                    _ if id.is_empty() => format!(
                        "if no keyrot is running, remove {} by hand (it holds no lock id)",
                        path.display()
                    ),
                    Some(false) => format!(
                        "that process is no longer running on this host (a crashed keyrot?): \
                         run `keyrot force-unlock {id}`; the next apply reconciles any interrupted step"
                    ),
                    _ => format!(
                        "wait for that command to finish; if it is gone, `keyrot force-unlock {id}` removes {}",
                        path.display()
                    ),
                };
                Err(StoreError::Locked {
                    path,
                    holder,
                    id,
                    hint,
                })
            }
            Err(source) => Err(StoreError::Lock { path, source }),
        }
    }
}

fn read_lock(path: &Path) -> Option<LockInfo> {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Whether the lock holder still runs: known only for this host (via /proc).
fn process_alive(info: &LockInfo) -> Option<bool> {
    let here = gethostname::gethostname().to_string_lossy().into_owned();
    let proc = Path::new("/proc");
    (info.host == here && proc.is_dir()).then(|| proc.join(info.pid.to_string()).exists())
}

/// Removes the lock if its id is `id` (Terraform's force-unlock).
pub fn force_unlock(state_path: &Path, id: &str) -> Result<LockInfo, StoreError> {
    let path = lock_path(state_path);
    match read_lock(&path) {
        Some(info) if info.id == id => {
            fs::remove_file(&path).map_err(|source| StoreError::Lock {
                path: path.clone(),
                source,
            })?;
            Ok(info)
        }
        other => Err(StoreError::UnlockMismatch {
            found: match other {
                Some(info) => format!(" (it is held with id {})", info.id),
                None => " (it is not locked)".to_string(),
            },
            path,
            wanted: id.to_string(),
        }),
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
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

    #[test]
    fn second_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.json");
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let lock = StateLock::acquire(&path, "apply", now).unwrap();
        let err = StateLock::acquire(&path, "apply", now)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(lock);
        assert!(StateLock::acquire(&path, "apply", now).is_ok());
    }

    #[test]
    fn dead_holder_is_detected_and_force_unlock_needs_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.json");
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let lock = StateLock::acquire(&path, "apply", now).unwrap();
        let id = read_lock(&lock_path(&path)).unwrap().id;
        // Pretend the holder crashed: keep the file, point it at a pid that cannot exist.
        std::mem::forget(lock);
        let mut info = read_lock(&lock_path(&path)).unwrap();
        info.pid = u32::MAX;
        fs::write(lock_path(&path), serde_json::to_string(&info).unwrap()).unwrap();
        let err = StateLock::acquire(&path, "apply", now)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no longer running"), "{err}");
        assert!(err.contains(&format!("keyrot force-unlock {id}")), "{err}");
        assert!(force_unlock(&path, "wrong").is_err());
        assert_eq!(force_unlock(&path, &id).unwrap().id, id);
        assert!(StateLock::acquire(&path, "apply", now).is_ok());
    }
}
