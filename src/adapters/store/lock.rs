//! The lock a writing command holds on the state for its whole run, naming its holder.

use super::StoreError;
use crate::adapters::fsutil::parent_dir;
use crate::core::model::Time;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
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
