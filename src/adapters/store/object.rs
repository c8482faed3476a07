//! The object-store port the S3 backend is written against: get, conditional put and
//! delete, listing a prefix, and whether old versions are kept. `adapters/aws/s3.rs` implements it with the
//! SDK; [`Memory`] is an in-memory one for unit tests.
//!
//! The port is synchronous, like the local file store: state and journal writes are a
//! handful per step and each must finish before the next IAM call.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// An object's body and the ETag of that exact version.
#[derive(Clone, Debug)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// The precondition of a write: the object must not exist yet, or must still be the
/// version with this ETag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `If-None-Match: *`
    Absent,
    /// `If-Match: <etag>`
    Matches(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The condition failed (HTTP 412, or the object is gone): someone else wrote.
    #[error("the object changed since this run last read or wrote it")]
    Conflict,
    /// Anything else (network, permissions, a missing bucket); never holds a secret.
    #[error("{0}")]
    Failed(String),
}

/// Whether the bucket keeps old versions (S3 versions are this backend's `.backup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versioning {
    Enabled,
    Off,
    /// The bucket could not be asked (permissions): not warned about.
    Unknown,
}

pub trait ObjectStore: Send + Sync {
    /// The object, or `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<Object>, ObjectError>;
    /// Writes `body` if `condition` holds; returns the new ETag.
    fn put(&self, key: &str, body: &[u8], condition: &Condition) -> Result<String, ObjectError>;
    /// Deletes the object if it is still the version with `etag`.
    fn delete(&self, key: &str, etag: &str) -> Result<(), ObjectError>;
    /// The keys under `prefix`, in S3's (lexicographic) order.
    fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError>;
    fn versioning(&self) -> Versioning;
    /// `s3://bucket` (for messages).
    fn location(&self) -> String;
}

/// An in-memory object store with S3's conditional semantics, for unit tests.
#[derive(Default)]
pub struct Memory {
    objects: Mutex<BTreeMap<String, Object>>,
    writes: std::sync::atomic::AtomicU64,
}

impl ObjectStore for Memory {
    fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        Ok(self.lock().get(key).cloned())
    }

    fn put(&self, key: &str, body: &[u8], condition: &Condition) -> Result<String, ObjectError> {
        let mut objects = self.lock();
        let ok = match (condition, objects.get(key)) {
            (Condition::Absent, None) => true,
            (Condition::Matches(want), Some(have)) => &have.etag == want,
            _ => false,
        };
        if !ok {
            return Err(ObjectError::Conflict);
        }
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let etag = format!("\"{n}\"");
        let object = Object {
            body: body.to_vec(),
            etag: etag.clone(),
        };
        objects.insert(key.to_string(), object);
        Ok(etag)
    }

    fn delete(&self, key: &str, etag: &str) -> Result<(), ObjectError> {
        let mut objects = self.lock();
        match objects.get(key) {
            Some(o) if o.etag == etag => {
                objects.remove(key);
                Ok(())
            }
            _ => Err(ObjectError::Conflict),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let objects = self.lock();
        let under = objects.range(prefix.to_string()..);
        Ok(under
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn versioning(&self) -> Versioning {
        Versioning::Enabled
    }

    fn location(&self) -> String {
        "s3://memory".into()
    }
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Object>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}
