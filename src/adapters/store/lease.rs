//! The S3 backend's lock: `<key>.lock`, created with `If-None-Match: *`, holding who runs
//! and until when (a lease). The holder renews it while it runs; a lock past its expiry is
//! stale and the next run takes it over. Every state and journal write first checks the
//! lease ([`Fence::check`]) and is itself conditional on the ETag this run last wrote, so a
//! holder that lost its lease (paused, partitioned) cannot write.

use super::object::{Condition, ObjectError, ObjectStore};
use super::StoreError;
use crate::core::model::{timestamp, Time};
use serde::{Deserialize, Serialize};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Who is running, as the environment names it (read by the CLI).
#[derive(Clone, Debug, Default)]
pub struct Holder {
    pub user: Option<String>,
    /// A CI run's URL, e.g. GitHub Actions' `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`.
    pub ci_run: Option<String>,
}

/// The lock object's content. Never holds a secret.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct LeaseInfo {
    pub id: String,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub host: String,
    pub pid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
    pub created: Time,
    pub expires: Time,
}

impl LeaseInfo {
    /// "`keyrot apply` (user u, pid 1 on host h, CI run URL, since T, lease until T)".
    pub fn describe(&self) -> String {
        let secs = |t: &Time| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let user = self
            .user
            .as_ref()
            .map(|u| format!("user {u}, "))
            .unwrap_or_default();
        let ci = self
            .ci_run
            .as_ref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default();
        format!(
            "`keyrot {}` ({user}pid {} on host {}{ci}, since {}, lease until {})",
            self.operation,
            self.pid,
            self.host,
            secs(&self.created),
            secs(&self.expires)
        )
    }
}

/// A lease the run holds; renewed by a background thread until dropped, then released.
pub struct Lease {
    fence: Fence,
    renewer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    /// The stale lock this run took over, if it did.
    pub took_over: Option<LeaseInfo>,
}

/// What state and journal writes check before writing: this run still holds the lease.
#[derive(Clone)]
pub struct Fence(Arc<Shared>);

struct Shared {
    objects: Arc<dyn ObjectStore>,
    key: String,
    lease: Duration,
    info: Mutex<LeaseInfo>,
    held: Mutex<Held>,
}

struct Held {
    etag: String,
    /// Monotonic instant until which the lease is surely ours (taken before the request
    /// that set the expiry other runs see).
    deadline: Instant,
    lost: bool,
}

/// The target of the locks' log lines (here and in `lock.rs`).
pub(super) const TARGET: &str = "keyrot::lock";

/// Attempts at taking a lock that keeps changing hands under us.
const ATTEMPTS: usize = 4;

impl Lease {
    pub fn acquire(
        objects: Arc<dyn ObjectStore>,
        key: &str,
        operation: &str,
        holder: &Holder,
        lease: Duration,
    ) -> Result<Lease, StoreError> {
        let now = chrono::Utc::now();
        let mut info = LeaseInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            user: holder.user.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            ci_run: holder.ci_run.clone(),
            created: now,
            expires: now,
        };
        let url = format!("{}/{key}", objects.location());
        for _ in 0..ATTEMPTS {
            let sent = Instant::now();
            info.expires =
                chrono::Utc::now() + chrono::Duration::from_std(lease).unwrap_or_default();
            let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
            let (condition, took_over) = match objects.put(key, &body, &Condition::Absent) {
                Ok(etag) => return Ok(Lease::start(objects, key, info, etag, sent, lease, None)),
                Err(ObjectError::Failed(m)) => return Err(remote(&url, m)),
                Err(ObjectError::Conflict) => match read(objects.as_ref(), key, &url)? {
                    None => continue,
                    Some((etag, Some(old))) if old.expires < chrono::Utc::now() => {
                        (Condition::Matches(etag), old)
                    }
                    Some((_, old)) => return Err(locked(&url, old)),
                },
            };
            match objects.put(key, &body, &condition) {
                Ok(etag) => {
                    let lease =
                        Lease::start(objects, key, info, etag, sent, lease, Some(took_over));
                    return Ok(lease);
                }
                Err(ObjectError::Conflict) => continue,
                Err(ObjectError::Failed(m)) => return Err(remote(&url, m)),
            }
        }
        Err(locked(&url, None))
    }

    fn start(
        objects: Arc<dyn ObjectStore>,
        key: &str,
        info: LeaseInfo,
        etag: String,
        sent: Instant,
        lease: Duration,
        took_over: Option<LeaseInfo>,
    ) -> Lease {
        let shared = Arc::new(Shared {
            objects,
            key: key.to_string(),
            lease,
            info: Mutex::new(info),
            held: Mutex::new(Held {
                etag,
                deadline: sent + lease,
                lost: false,
            }),
        });
        tracing::info!(target: TARGET, location = %shared.url(), id = %shared.info().id,
            lease_s = lease.as_secs(), took_over = took_over.as_ref().map(LeaseInfo::describe),
            "lock taken");
        let (stop, stopped) = mpsc::channel::<()>();
        let renewing = Arc::clone(&shared);
        let every = (lease / 3).max(Duration::from_millis(100));
        let renewer = std::thread::spawn(move || {
            // Renews until told to stop (or the run is gone), or until the lease is lost.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                if renewing.renew().is_err() {
                    break;
                }
            }
        });
        Lease {
            fence: Fence(shared),
            renewer: Some((stop, renewer)),
            took_over,
        }
    }

    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    pub fn id(&self) -> String {
        self.fence.0.info().id
    }
}

impl Shared {
    fn info(&self) -> LeaseInfo {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url(&self) -> String {
        format!("{}/{}", self.objects.location(), self.key)
    }

    /// Extends the lease, conditional on the lock being exactly what this run last wrote.
    /// `Err` once the lease is lost (someone else wrote the lock, or it is gone).
    fn renew(&self) -> Result<(), ()> {
        let etag = {
            let held = self.held();
            if held.lost {
                return Err(());
            }
            held.etag.clone()
        };
        let sent = Instant::now();
        let mut info = self.info();
        info.expires =
            chrono::Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
        let result = self
            .objects
            .put(&self.key, &body, &Condition::Matches(etag));
        let mut held = self.held();
        match result {
            Ok(etag) => {
                held.etag = etag;
                held.deadline = sent + self.lease;
                tracing::debug!(target: TARGET, location = %self.url(),
                    expires = %timestamp(info.expires), "lease renewed");
                *self.info.lock().unwrap_or_else(|e| e.into_inner()) = info;
                Ok(())
            }
            Err(ObjectError::Conflict) => {
                held.lost = true;
                tracing::warn!(target: TARGET, location = %self.url(),
                    "lease lost: the lock object changed hands");
                Err(())
            }
            // A failed renewal is retried; the deadline is not extended meanwhile.
            Err(ObjectError::Failed(message)) => {
                tracing::warn!(target: TARGET, location = %self.url(), %message,
                    "lease renewal failed; retrying");
                Ok(())
            }
        }
    }
}

impl Fence {
    /// `Ok` while this run surely holds the lease. Past the deadline (the renewals did not
    /// run: the process was paused, or S3 was unreachable) one renewal is tried; if the
    /// lock is no longer ours, the lease is lost for good.
    pub fn check(&self) -> Result<(), StoreError> {
        let shared = &self.0;
        // A write must land well inside the lease, not at its edge.
        let margin = shared.lease / 10;
        let fresh = || {
            let held = shared.held();
            !held.lost && Instant::now() + margin < held.deadline
        };
        if fresh() || (shared.renew().is_ok() && fresh()) {
            return Ok(());
        }
        shared.held().lost = true;
        Err(self.lost())
    }

    /// A conditional write failed: the lease is gone.
    pub fn conflict(&self) -> StoreError {
        self.0.held().lost = true;
        self.lost()
    }

    fn lost(&self) -> StoreError {
        let shared = &self.0;
        let now = read(shared.objects.as_ref(), &shared.key, &shared.url())
            .ok()
            .flatten()
            .and_then(|(_, info)| info)
            .filter(|info| info.id != shared.info().id)
            .map(|info| info.describe());
        StoreError::LostLock {
            lock: shared.url(),
            holder: now,
        }
    }

    pub fn lock_id(&self) -> String {
        self.0.info().id
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some((stop, renewer)) = self.renewer.take() {
            drop(stop);
            let _ = renewer.join();
        }
        let shared = &self.fence.0;
        let held = shared.held();
        if !held.lost {
            // Only our own lock: conditional on the ETag we last wrote.
            let released = shared.objects.delete(&shared.key, &held.etag);
            tracing::info!(target: TARGET, location = %shared.url(), released = released.is_ok(),
                "lock released");
        }
    }
}

/// The lock object's ETag and content (`None` content: unreadable).
fn read(
    objects: &dyn ObjectStore,
    key: &str,
    url: &str,
) -> Result<Option<(String, Option<LeaseInfo>)>, StoreError> {
    match objects.get(key) {
        Ok(Some(o)) => Ok(Some((o.etag, serde_json::from_slice(&o.body).ok()))),
        Ok(None) => Ok(None),
        Err(e) => Err(remote(url, e.to_string())),
    }
}

fn remote(url: &str, message: String) -> StoreError {
    StoreError::Remote {
        what: url.to_string(),
        message,
    }
}

fn locked(url: &str, holder: Option<LeaseInfo>) -> StoreError {
    let (holder, id) = match holder {
        Some(h) => (h.describe(), h.id),
        None => ("a lock keyrot cannot read".to_string(), String::new()),
    };
    StoreError::Locked {
        path: url.into(),
        holder,
        id,
        hint: "wait for that run to finish and run again. The holder renews its lease while it \
               runs; if it was killed, the next run after the lease expires takes the lock over \
               and settles what it left (no command needed). `keyrot force-unlock ID` breaks a \
               live lease (its holder is then fenced off)"
            .to_string(),
    }
}

/// Terraform's force-unlock for the S3 lock: removes it if its id is `id`, even a live
/// lease (its holder's next write then fails: it is fenced off).
pub fn force_unlock(
    objects: &dyn ObjectStore,
    key: &str,
    id: &str,
) -> Result<LeaseInfo, StoreError> {
    let url = format!("{}/{key}", objects.location());
    let mismatch = |found: String| StoreError::UnlockMismatch {
        path: url.clone().into(),
        wanted: id.to_string(),
        found,
    };
    match read(objects, key, &url)? {
        Some((etag, Some(info))) if info.id == id => {
            objects
                .delete(key, &etag)
                .map_err(|e| remote(&url, e.to_string()))?;
            Ok(info)
        }
        Some((_, Some(info))) => Err(mismatch(format!(" (it is held with id {})", info.id))),
        Some((_, None)) => Err(mismatch(" (the lock object is unreadable)".into())),
        None => Err(mismatch(" (it is not locked)".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::object::Memory;

    fn take(objects: &Arc<Memory>, lease_ms: u64) -> Result<Lease, StoreError> {
        let objects: Arc<dyn ObjectStore> = objects.clone();
        let lease = Duration::from_millis(lease_ms);
        Lease::acquire(objects, "k.lock", "apply", &Holder::default(), lease)
    }

    #[test]
    fn a_live_lease_refuses_others_and_is_renewed_while_it_runs() {
        let objects = Arc::new(Memory::default());
        let first = take(&objects, 300).unwrap();
        let err = take(&objects, 300).err().unwrap();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("keyrot apply"), "{err}");
        // Well past the first lease: the renewals kept it.
        std::thread::sleep(Duration::from_millis(700));
        assert!(take(&objects, 300).is_err(), "renewed while running");
        first.fence().check().unwrap();
        drop(first);
        let next = take(&objects, 300).unwrap();
        assert!(next.took_over.is_none(), "a released lock is simply taken");
    }

    #[test]
    fn an_expired_lock_is_taken_over_naming_its_holder() {
        let objects = Arc::new(Memory::default());
        let dead = LeaseInfo {
            id: "dead-run".into(),
            operation: "apply".into(),
            user: Some("ci".into()),
            host: "runner-1".into(),
            pid: 7,
            ci_run: None,
            created: chrono::Utc::now() - chrono::Duration::minutes(10),
            expires: chrono::Utc::now() - chrono::Duration::minutes(5),
        };
        let body = serde_json::to_vec(&dead).unwrap();
        objects.put("k.lock", &body, &Condition::Absent).unwrap();
        let lease = take(&objects, 60_000).unwrap();
        assert_eq!(lease.took_over.as_ref().unwrap().id, "dead-run");
        drop(lease);
        assert!(objects.get("k.lock").unwrap().is_none(), "released");
    }

    #[test]
    fn force_unlock_breaks_a_live_lease_and_fences_its_holder() {
        let objects = Arc::new(Memory::default());
        let lease = take(&objects, 60_000).unwrap();
        assert!(force_unlock(objects.as_ref(), "k.lock", "wrong").is_err());
        force_unlock(objects.as_ref(), "k.lock", &lease.id()).unwrap();
        let fence = lease.fence();
        // Its next renewal fails: the lock is gone.
        assert!(fence.0.renew().is_err());
        assert!(fence.check().is_err());
    }
}
