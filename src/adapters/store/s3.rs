//! The S3 backend's state object and journal. Every write is conditional on the ETag this
//! run last read or wrote (`If-None-Match: *` for the first) and checks the lease first, so
//! a run that lost its lock cannot overwrite what the new holder did.

use super::journal::{intents_of, Intent, JournalError, FORMAT_VERSION};
use super::lease::Fence;
use super::object::{Condition, ObjectError, ObjectStore};
use super::{Last, StoreError, WriteIo};
use crate::core::state::file as state_file;
use crate::core::state::State;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Where a backend's objects are: the store, and the state object's key.
#[derive(Clone)]
pub struct S3Place {
    pub objects: Arc<dyn ObjectStore>,
    pub key: String,
}

impl S3Place {
    pub fn url(&self) -> String {
        format!("{}/{}", self.objects.location(), self.key)
    }

    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    pub fn journal_key(&self) -> String {
        format!("{}.journal", self.key)
    }

    /// The event log: one object per event under this prefix.
    pub fn events_prefix(&self) -> String {
        format!("{}.events/", self.key)
    }
}

pub struct S3State {
    place: S3Place,
    /// `None` for read-only commands: they never write.
    fence: Option<Fence>,
    /// The ETag and the version last read or written.
    etag: Option<String>,
    last: Last,
}

impl S3State {
    pub fn new(place: S3Place, fence: Option<Fence>) -> Self {
        S3State {
            place,
            fence,
            etag: None,
            last: Last::default(),
        }
    }

    pub fn url(&self) -> String {
        self.place.url()
    }

    pub fn text(&self) -> Option<&str> {
        self.last.text.as_deref()
    }

    pub fn load(&mut self) -> Result<State, StoreError> {
        let object = self
            .place
            .objects
            .get(&self.place.key)
            .map_err(|e| self.remote(e))?;
        let Some(object) = object else {
            self.etag = None;
            self.last = Last::default();
            return Ok(State::new(String::new()));
        };
        let state = state_file::from_bytes(&object.body).map_err(|source| StoreError::Parse {
            path: self.url().into(),
            source,
        })?;
        self.etag = Some(object.etag);
        self.last = Last::known(String::from_utf8_lossy(&object.body).into_owned(), &state);
        Ok(state)
    }

    pub(super) fn last(&self) -> &Last {
        &self.last
    }

    /// The conditional PUT of `text` (the lease checked first), to run anywhere: the new
    /// ETag. Only a command holding the lock has one.
    pub(super) fn write_io(&self, text: String) -> WriteIo {
        let (place, fence, etag) = (self.place.clone(), self.fence.clone(), self.etag.clone());
        Box::new(move || {
            let fence = fence.ok_or_else(|| StoreError::Remote {
                what: place.url(),
                message: "this command does not hold the lock".into(),
            })?;
            crate::adapters::crash::point("before-state-write");
            fence.check()?;
            let condition = match etag {
                Some(etag) => Condition::Matches(etag),
                None => Condition::Absent,
            };
            let put = place.objects.put(&place.key, text.as_bytes(), &condition);
            let etag = match put {
                Ok(etag) => etag,
                Err(ObjectError::Conflict) => return Err(fence.conflict()),
                Err(e) => {
                    return Err(StoreError::Remote {
                        what: place.url(),
                        message: e.to_string(),
                    })
                }
            };
            crate::adapters::crash::point("after-state-write");
            Ok(Some(etag))
        })
    }

    /// A prepared write landed: its version and ETag are the ones to build on.
    pub(super) fn wrote(&mut self, last: Last, etag: Option<String>) {
        self.last = last;
        self.etag = etag.or(self.etag.take());
    }

    /// Writes `text` exactly (a state pushed or migrated keeps its lineage and serial).
    pub fn write(&mut self, text: String) -> Result<(), StoreError> {
        let fence = self.fence.as_ref().ok_or_else(|| StoreError::Remote {
            what: self.place.url(),
            message: "this command does not hold the lock".into(),
        })?;
        fence.check()?;
        let condition = match &self.etag {
            Some(etag) => Condition::Matches(etag.clone()),
            None => Condition::Absent,
        };
        match self
            .place
            .objects
            .put(&self.place.key, text.as_bytes(), &condition)
        {
            Ok(etag) => {
                self.etag = Some(etag);
                self.last = Last::text(text);
                Ok(())
            }
            Err(ObjectError::Conflict) => Err(fence.conflict()),
            Err(e) => Err(self.remote(e)),
        }
    }

    fn remote(&self, e: ObjectError) -> StoreError {
        StoreError::Remote {
            what: self.place.url(),
            message: e.to_string(),
        }
    }
}

/// The journal object: the run that wrote it, and its unfinished intents (none once every
/// outcome is in state). The writer's lock id makes every run's version distinct, so a run
/// that lost its lock can never match the ETag of what the new holder wrote.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteJournalDto {
    format_version: u32,
    lock_id: String,
    /// Format 1's single intent.
    #[serde(default, skip_serializing)]
    intent: Option<Intent>,
    #[serde(default)]
    intents: Vec<Intent>,
}

pub struct S3Journal {
    place: S3Place,
    fence: Option<Fence>,
    /// `None`: not read yet; `Some(None)`: there is no journal object.
    etag: Mutex<Option<Option<String>>>,
}

impl S3Journal {
    pub fn new(place: S3Place, fence: Option<Fence>) -> Self {
        S3Journal {
            place,
            fence,
            etag: Mutex::new(None),
        }
    }

    pub fn url(&self) -> String {
        self.place.url() + ".journal"
    }

    fn corrupt(&self, problem: String) -> JournalError {
        JournalError::Corrupt {
            path: self.url().into(),
            problem,
        }
    }

    pub(super) fn read(&self) -> Result<Vec<Intent>, JournalError> {
        let key = self.place.journal_key();
        let object = self
            .place
            .objects
            .get(&key)
            .map_err(|e| self.corrupt(e.to_string()))?;
        let Some(object) = object else {
            *self.etag() = Some(None);
            return Ok(Vec::new());
        };
        let dto: RemoteJournalDto =
            serde_json::from_slice(&object.body).map_err(|e| self.corrupt(e.to_string()))?;
        *self.etag() = Some(Some(object.etag));
        intents_of(dto.format_version, dto.intent, dto.intents).map_err(|e| self.corrupt(e))
    }

    /// Replaces the journal object with `intents` (an empty list once all are settled).
    pub(super) fn write(&self, intents: Vec<Intent>) -> Result<(), JournalError> {
        let fence = self.fence.as_ref().ok_or_else(|| JournalError::Remote {
            what: self.place.journal_key(),
            message: "this command does not hold the lock".into(),
        })?;
        if self.etag().is_none() {
            self.read()?;
        }
        let dto = RemoteJournalDto {
            format_version: FORMAT_VERSION,
            lock_id: fence.lock_id(),
            intent: None,
            intents,
        };
        let body = serde_json::to_vec_pretty(&dto).unwrap_or_default();
        fence
            .check()
            .map_err(|e| JournalError::Store(Box::new(e)))?;
        let condition = match self.etag().clone().flatten() {
            Some(etag) => Condition::Matches(etag),
            None => Condition::Absent,
        };
        let key = self.place.journal_key();
        match self.place.objects.put(&key, &body, &condition) {
            Ok(etag) => {
                *self.etag() = Some(Some(etag));
                Ok(())
            }
            Err(ObjectError::Conflict) => Err(JournalError::Store(Box::new(fence.conflict()))),
            Err(e) => Err(JournalError::Remote {
                what: format!("{}.journal", self.place.url()),
                message: e.to_string(),
            }),
        }
    }

    fn etag(&self) -> std::sync::MutexGuard<'_, Option<Option<String>>> {
        self.etag.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The place `k.json` in `objects` and a lease held on it, for unit tests.
#[cfg(test)]
pub(crate) fn test_lease(
    objects: &Arc<dyn ObjectStore>,
    lease_ms: u64,
) -> (S3Place, super::lease::Lease) {
    let place = S3Place {
        objects: Arc::clone(objects),
        key: "k.json".into(),
    };
    let lease = super::lease::Lease::acquire(
        Arc::clone(objects),
        &place.lock_key(),
        "apply",
        &super::lease::Holder::default(),
        std::time::Duration::from_millis(lease_ms),
    )
    .expect("a lease on an empty store");
    (place, lease)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::journal::{Journal, Op};
    use crate::adapters::store::lease::Lease;
    use crate::adapters::store::object::Memory;
    use crate::adapters::store::StateStore;
    use crate::core::model::Address;

    fn open(objects: &Arc<dyn ObjectStore>, lease_ms: u64) -> (Lease, StateStore, Journal) {
        let (place, lease) = test_lease(objects, lease_ms);
        let fence = lease.fence();
        let state = StateStore::S3(S3State::new(place.clone(), Some(fence.clone())));
        (
            lease,
            state,
            Journal::s3(S3Journal::new(place, Some(fence))),
        )
    }

    fn intent() -> Intent {
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        Intent {
            op: Op::Create,
            address: Address::access_key("a"),
            key_id: None,
            at: now,
            now,
            sinks_started: 0,
            sinks_begun: Vec::new(),
            step: None,
        }
    }

    #[test]
    fn a_holder_whose_lease_was_taken_over_cannot_write_state_or_journal() {
        let objects: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let (first, mut state_a, journal_a) = open(&objects, 60_000);
        let mut a = state_a.load().unwrap();
        assert!(journal_a.pending().unwrap().is_empty());
        journal_a.record(&intent()).unwrap();
        journal_a.clear(&intent().address).unwrap();
        assert!(state_a.save(&mut a).unwrap());
        // Another run breaks the lease (force-unlock) and advances the state.
        let lock = objects.get("k.json.lock").unwrap().unwrap();
        objects.delete("k.json.lock", &lock.etag).unwrap();
        let (_second, mut state_b, journal_b) = open(&objects, 60_000);
        let mut b = state_b.load().unwrap();
        assert_eq!(journal_b.pending().unwrap(), vec![]);
        journal_b.record(&intent()).unwrap();
        journal_b.clear(&intent().address).unwrap();
        b.sets.insert(Address::access_key("b"), Default::default());
        assert!(state_b.save(&mut b).unwrap());
        let after_b = objects.get("k.json").unwrap().unwrap().body;
        // The first run's writes all fail: the lease is gone, and the ETags moved.
        a.sets.insert(Address::access_key("a"), Default::default());
        let err = state_a.save(&mut a).unwrap_err();
        assert!(matches!(err, StoreError::LostLock { .. }), "{err}");
        let err = journal_a.record(&intent()).unwrap_err();
        assert!(err.to_string().contains("lost the lock"), "{err}");
        assert_eq!(objects.get("k.json").unwrap().unwrap().body, after_b);
        drop(first);
        assert!(
            objects.get("k.json.lock").unwrap().is_some(),
            "a fenced run never removes the new holder's lock"
        );
    }

    #[test]
    fn the_journal_object_holds_one_intent_per_set_in_flight() {
        let objects: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let (_lease, _state, journal) = open(&objects, 60_000);
        let mut other = intent();
        other.address = Address::access_key("b");
        journal.record(&intent()).unwrap();
        journal.record(&other).unwrap();
        let place = S3Place {
            objects: Arc::clone(&objects),
            key: "k.json".into(),
        };
        let reader = Journal::s3(S3Journal::new(place.clone(), None));
        assert_eq!(reader.pending().unwrap(), vec![intent(), other.clone()]);
        journal.clear(&intent().address).unwrap();
        let reader = Journal::s3(S3Journal::new(place, None));
        assert_eq!(reader.pending().unwrap(), vec![other]);
    }

    #[test]
    fn state_writes_are_conditional_even_with_a_valid_lease() {
        let objects: Arc<dyn ObjectStore> = Arc::new(Memory::default());
        let (_lease, mut store, _journal) = open(&objects, 60_000);
        let mut state = store.load().unwrap();
        assert!(store.save(&mut state).unwrap());
        // Someone bypassing the lock writes the object: the next save must not clobber it.
        let current = objects.get("k.json").unwrap().unwrap();
        let cond = Condition::Matches(current.etag);
        objects.put("k.json", &current.body, &cond).unwrap();
        state
            .sets
            .insert(Address::access_key("a"), Default::default());
        assert!(matches!(
            store.save(&mut state),
            Err(StoreError::LostLock { .. })
        ));
    }
}
