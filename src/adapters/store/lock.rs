//! The lock a writing command holds on the state for its whole run: an OS advisory lock
//! (`flock`) on `<state>.lock`, so a killed process releases it and the next run goes on
//! at once. The file's JSON content only names the holder for messages.

use super::lease::TARGET;
use super::StoreError;
use crate::adapters::fsutil::parent_dir;
use crate::core::model::Time;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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

/// An exclusive lock on the state, held for a whole writing command; released on drop, or
/// by the OS when the process dies.
pub struct StateLock {
    path: PathBuf,
    file: File,
}

/// A releasing holder unlinks the file while it still holds it; a run that opened the old
/// file just before may then lock an unlinked file, so it checks and opens again.
const OPEN_ATTEMPTS: usize = 5;

impl StateLock {
    /// Fails at once if another command holds the lock. `created` is the wall clock.
    pub fn acquire(state_path: &Path, operation: &str, created: Time) -> Result<Self, StoreError> {
        let path = lock_path(state_path);
        let err = |source| StoreError::Lock {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(parent_dir(&path)).map_err(err)?;
        let info = LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            operation: operation.to_string(),
            created,
        };
        for _ in 0..OPEN_ATTEMPTS {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(err)?;
            match file.try_lock() {
                Ok(()) if names_file(&path, &file) => {
                    write_info(&mut file, &info).map_err(err)?;
                    tracing::info!(target: TARGET, location = %path.display(), id = %info.id,
                        "lock taken");
                    return Ok(StateLock { path, file });
                }
                Ok(()) => continue,
                Err(TryLockError::WouldBlock) => return Err(locked(&path)),
                Err(TryLockError::Error(source)) => return Err(err(source)),
            }
        }
        Err(err(io::Error::other(
            "the lock file kept being replaced while taking it",
        )))
    }
}

/// Whether `path` still names the open `file` (same device and inode).
fn names_file(path: &Path, file: &File) -> bool {
    match (fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn write_info(file: &mut File, info: &LockInfo) -> io::Result<()> {
    let text = serde_json::to_string_pretty(info).unwrap_or_default();
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The refusal when a live process holds the lock, naming it from the file's content.
fn locked(path: &Path) -> StoreError {
    let (holder, id) = match read_lock(path) {
        Some(h) => (
            format!(
                "`keyrot {}` (pid {} on host {}, since {})",
                h.operation,
                h.pid,
                h.host,
                h.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            h.id,
        ),
        None => (
            "another keyrot that is still starting".into(),
            String::new(),
        ),
    };
    StoreError::Locked {
        path: path.to_path_buf(),
        holder,
        id,
        hint: "wait for that command to finish and run again; the lock is released the moment \
               its process exits, even if it is killed"
            .to_string(),
    }
}

fn read_lock(path: &Path) -> Option<LockInfo> {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Terraform's force-unlock. A lock held by a live process cannot be broken (it goes when
/// that process exits); a lock file no process holds is removed if its id is `id`.
pub fn force_unlock(state_path: &Path, id: &str) -> Result<LockInfo, StoreError> {
    let path = lock_path(state_path);
    let info = read_lock(&path);
    let mismatch = |found: String| StoreError::UnlockMismatch {
        found,
        path: path.clone(),
        wanted: id.to_string(),
    };
    let info = match info {
        Some(info) if info.id == id => info,
        Some(info) => return Err(mismatch(format!(" (it is held with id {})", info.id))),
        None => return Err(mismatch(" (it is not locked)".to_string())),
    };
    // Taking the lock proves no one holds it; dropping it removes the file.
    match StateLock::acquire(state_path, "force-unlock", info.created) {
        Ok(_released) => Ok(info),
        Err(StoreError::Locked { holder, .. }) => Err(StoreError::HeldByLiveProcess { holder }),
        Err(e) => Err(e),
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Only ever our own file: removed while we still hold it, then unlocked on close.
        if names_file(&self.path, &self.file) {
            let _ = fs::remove_file(&self.path);
        }
        tracing::info!(target: TARGET, location = %self.path.display(), "lock released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_lock_file_no_process_holds_is_taken_over_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.json");
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        // What a killed run leaves: the file naming it, and no OS lock (the OS released it).
        let dead = LockInfo {
            id: "dead-run".into(),
            pid: u32::MAX,
            host: "elsewhere".into(),
            operation: "apply".into(),
            created: now,
        };
        fs::write(lock_path(&path), serde_json::to_string(&dead).unwrap()).unwrap();
        let lock = StateLock::acquire(&path, "apply", now).expect("taken over");
        let mine = read_lock(&lock_path(&path)).unwrap();
        assert_eq!(mine.pid, std::process::id());
        drop(lock);
        assert!(!lock_path(&path).exists(), "released: the file is gone");
    }

    #[test]
    fn force_unlock_needs_the_id_and_cannot_break_a_live_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.json");
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let lock = StateLock::acquire(&path, "apply", now).unwrap();
        let id = read_lock(&lock_path(&path)).unwrap().id;
        assert!(matches!(
            force_unlock(&path, "wrong"),
            Err(StoreError::UnlockMismatch { .. })
        ));
        let live = force_unlock(&path, &id).err().unwrap().to_string();
        assert!(live.contains("still running"), "{live}");
        assert!(lock_path(&path).exists(), "a live lock stays");
        // A file left behind with no holder (the holder is gone) is removed by id.
        let stale = fs::read(lock_path(&path)).unwrap();
        drop(lock);
        fs::write(lock_path(&path), stale).unwrap();
        assert_eq!(force_unlock(&path, &id).unwrap().id, id);
        assert!(!lock_path(&path).exists());
    }

    #[test]
    fn release_removes_only_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyrot.json");
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let lock = StateLock::acquire(&path, "apply", now).unwrap();
        // Someone replaces the file (an old keyrot's force-unlock, a person): the holder's
        // release must not delete the new one.
        fs::remove_file(lock_path(&path)).unwrap();
        fs::write(lock_path(&path), "someone else's").unwrap();
        drop(lock);
        assert_eq!(
            fs::read_to_string(lock_path(&path)).unwrap(),
            "someone else's"
        );
    }
}
