//! Write-ahead journal of mutating IAM calls, next to the state (`<state>.journal`: a
//! local file, or an object in the S3 backend, so a crash on one runner is settled on
//! another).
//!
//! Before each mutating call the intent is recorded durably; after the state records the
//! outcome, the intent is cleared. A crash in between leaves the intent for the next
//! command to reconcile against live IAM (`recover`). Apply runs sets in parallel, so the
//! journal holds one intent per set in flight, keyed by the set's address; each write
//! replaces the whole journal, one at a time. Never holds a secret.

use super::s3::S3Journal;
use crate::adapters::blocking;
use crate::adapters::crash;
use crate::adapters::fsutil::{parent_dir, sync_dir, write_atomic};
use crate::core::model::{Address, KeyId, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Deactivate,
    Reactivate,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    pub op: Op,
    pub address: Address,
    /// The key acted on; for a create, set as soon as IAM returns the new key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    /// Wall-clock time before the call: a key created at or after it may be this intent's.
    #[serde(with = "crate::core::model::instant")]
    pub at: Time,
    /// Keyrot's clock for the step (what state records).
    #[serde(with = "crate::core::model::instant")]
    pub now: Time,
    /// For a create: how many sinks delivery had started writing.
    #[serde(default)]
    pub sinks_started: usize,
    /// For a create: those sinks as the config names them (`Sink::describe`), in order.
    /// Recovery reads back exactly these: a sink that never began cannot hold the key,
    /// whatever the config says now (empty in journals of older keyrots: every sink is read).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sinks_begun: Vec<String>,
    /// This step's id, which its event carries: recovery finds whether the step's event
    /// was written before the interruption (absent in journals of older keyrots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// The journal's format: 3 holds a list of intents (one per set in flight) that may name
/// the sinks a create had begun; 2, the same list without them; 1, written by keyrots that
/// applied one set at a time, held at most one. All three are read.
pub(super) const FORMAT_VERSION: u32 = 3;

/// Every intent of a journal as read: format 2's and 3's list, or format 1's single intent.
pub(super) fn intents_of(
    format_version: u32,
    intent: Option<Intent>,
    intents: Vec<Intent>,
) -> Result<Vec<Intent>, String> {
    match format_version {
        1 if intents.is_empty() => Ok(intent.into_iter().collect()),
        2 | 3 if intent.is_none() => Ok(intents),
        1..=3 => Err(format!(
            "format {format_version} with the other format's field"
        )),
        v => Err(format!(
            "format_version {v} is newer than this keyrot reads ({FORMAT_VERSION}); upgrade keyrot"
        )),
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalDto {
    format_version: u32,
    /// Format 1's single intent.
    #[serde(default, skip_serializing)]
    intent: Option<Intent>,
    #[serde(default)]
    intents: Vec<Intent>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot write journal {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("journal {path} is unreadable ({problem})\n  hint: an interrupted step may be unrecorded; run `keyrot plan` to see drift, then remove the journal file")]
    Corrupt { path: PathBuf, problem: String },
    #[error("cannot write journal {what}: {message}")]
    Remote { what: String, message: String },
    /// The lock was lost (or the state backend failed) while journaling.
    #[error(transparent)]
    Store(Box<super::StoreError>),
}

/// Where a journal is kept.
enum Backend {
    Local(LocalJournal),
    S3(S3Journal),
}

/// The journal of the state's backend: the intents in flight.
pub struct Journal {
    inner: Arc<Inner>,
}

/// A journal's backend and book, shared with the blocking thread that writes it.
struct Inner {
    backend: Backend,
    /// `None` until read; held only for moments (staging, taking a snapshot).
    book: Mutex<Option<Book>>,
    /// Held from a write's snapshot to its end, so writes land in the order taken.
    writer: Mutex<()>,
}

/// The intents as they will be written next, and how many changes are written: steps of
/// several sets that change the journal together share one write (group commit).
#[derive(Default)]
struct Book {
    intents: BTreeMap<Address, Intent>,
    changes: u64,
    written: u64,
}

impl Journal {
    pub fn for_state(state_path: &Path) -> Self {
        Self::with(Backend::Local(LocalJournal {
            path: journal_path(state_path),
        }))
    }

    pub fn s3(journal: S3Journal) -> Self {
        Self::with(Backend::S3(journal))
    }

    fn with(backend: Backend) -> Self {
        Journal {
            inner: Arc::new(Inner {
                backend,
                book: Mutex::new(None),
                writer: Mutex::new(()),
            }),
        }
    }

    /// The unfinished intents left by an interrupted command, in address order.
    pub fn pending(&self) -> Result<Vec<Intent>, JournalError> {
        let mut book = self.inner.book();
        let intents = self.inner.read()?;
        let list = intents.values().cloned().collect();
        *book = Some(Book {
            intents,
            ..Book::default()
        });
        Ok(list)
    }

    /// The unfinished intent of one set, if any.
    pub fn pending_for(&self, address: &Address) -> Result<Option<Intent>, JournalError> {
        let mut book = self.inner.book();
        Ok(self.inner.loaded(&mut book)?.intents.get(address).cloned())
    }

    /// Records `intent` durably as its set's one intent in flight (also used to update
    /// it, e.g. with the new key's id).
    pub fn record(&self, intent: &Intent) -> Result<(), JournalError> {
        let upto = self.stage(intent)?;
        self.write_recorded(upto, intent)
    }

    /// The intent's outcome for `address` is in state: forget it.
    pub fn clear(&self, address: &Address) -> Result<(), JournalError> {
        match self.stage_clear(address)? {
            Some(upto) => self.write_cleared(upto, address),
            None => Ok(()),
        }
    }

    /// Puts `intent` in the next write; [`Journal::write_recorded`] with the number
    /// returned makes it durable (with whatever else was staged by then).
    pub fn stage(&self, intent: &Intent) -> Result<u64, JournalError> {
        let mut book = self.inner.book();
        let book = self.inner.loaded(&mut book)?;
        book.intents.insert(intent.address.clone(), intent.clone());
        book.changes += 1;
        Ok(book.changes)
    }

    /// Takes `address`'s intent out of the next write (`None`: it had none).
    pub fn stage_clear(&self, address: &Address) -> Result<Option<u64>, JournalError> {
        let mut book = self.inner.book();
        let book = self.inner.loaded(&mut book)?;
        if book.intents.remove(address).is_none() {
            return Ok(None);
        }
        book.changes += 1;
        Ok(Some(book.changes))
    }

    /// Returns once the staged `intent` (change number `upto`) is durable.
    pub fn write_recorded(&self, upto: u64, intent: &Intent) -> Result<(), JournalError> {
        crash::point("before-journal-write");
        self.inner.write_upto(upto)?;
        self.recorded(intent);
        Ok(())
    }

    /// [`Journal::write_recorded`] on a blocking thread: while the journal syncs, other
    /// sets' steps go on (and stage what the next write takes).
    pub async fn write_recorded_async(
        &self,
        upto: u64,
        intent: &Intent,
    ) -> Result<(), JournalError> {
        crash::point("before-journal-write");
        self.write_upto_async(upto).await?;
        self.recorded(intent);
        Ok(())
    }

    /// Returns once the staged clearing of `address` (change number `upto`) is durable.
    pub fn write_cleared(&self, upto: u64, address: &Address) -> Result<(), JournalError> {
        self.inner.write_upto(upto)?;
        tracing::info!(target: TARGET, location = %self.location(), %address, "journal cleared");
        Ok(())
    }

    /// [`Journal::write_cleared`] on a blocking thread.
    pub async fn write_cleared_async(
        &self,
        upto: u64,
        address: &Address,
    ) -> Result<(), JournalError> {
        self.write_upto_async(upto).await?;
        tracing::info!(target: TARGET, location = %self.location(), %address, "journal cleared");
        Ok(())
    }

    async fn write_upto_async(&self, upto: u64) -> Result<(), JournalError> {
        let inner = Arc::clone(&self.inner);
        blocking::write(move || inner.write_upto(upto))
            .await
            .unwrap_or_else(|message| {
                Err(JournalError::Remote {
                    what: self.location(),
                    message,
                })
            })
    }

    fn recorded(&self, intent: &Intent) {
        tracing::info!(target: TARGET, location = %self.location(), op = ?intent.op,
            address = %intent.address, key = intent.key_id.as_ref().map(KeyId::masked),
            sinks_started = intent.sinks_started, "journal intent recorded");
        crash::point("after-journal-write");
    }

    /// Where the journal is: a path or `s3://bucket/key.journal`.
    pub fn location(&self) -> String {
        match &self.inner.backend {
            Backend::Local(j) => j.path.display().to_string(),
            Backend::S3(j) => j.url(),
        }
    }
}

impl Inner {
    fn book(&self) -> MutexGuard<'_, Option<Book>> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The book, read first if need be.
    fn loaded<'g>(&self, book: &'g mut Option<Book>) -> Result<&'g mut Book, JournalError> {
        if book.is_none() {
            *book = Some(Book {
                intents: self.read()?,
                ..Book::default()
            });
        }
        Ok(book.get_or_insert_with(Book::default))
    }

    fn read(&self) -> Result<BTreeMap<Address, Intent>, JournalError> {
        let list = match &self.backend {
            Backend::Local(j) => j.read()?,
            Backend::S3(j) => j.read()?,
        };
        Ok(list.into_iter().map(|i| (i.address.clone(), i)).collect())
    }

    /// Writes what is staged, unless a write since change `upto` already did. The book is
    /// held only to take the snapshot and to mark it written, never during the I/O.
    fn write_upto(&self, upto: u64) -> Result<(), JournalError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let (taken, list) = {
            let mut book = self.book();
            let book = self.loaded(&mut book)?;
            if book.written >= upto {
                return Ok(());
            }
            let list: Vec<Intent> = book.intents.values().cloned().collect();
            (book.changes, list)
        };
        match &self.backend {
            Backend::Local(j) => j.write(list),
            Backend::S3(j) => j.write(list),
        }?;
        if let Some(book) = self.book().as_mut() {
            book.written = book.written.max(taken);
        }
        Ok(())
    }
}

/// The target of the journal's log lines.
const TARGET: &str = "keyrot::journal";

pub struct LocalJournal {
    path: PathBuf,
}

pub fn journal_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

impl LocalJournal {
    fn corrupt(&self, problem: String) -> JournalError {
        JournalError::Corrupt {
            path: self.path.clone(),
            problem,
        }
    }

    fn read(&self) -> Result<Vec<Intent>, JournalError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.corrupt(e.to_string())),
        };
        let dto: JournalDto =
            serde_json::from_str(&text).map_err(|e| self.corrupt(e.to_string()))?;
        intents_of(dto.format_version, dto.intent, dto.intents).map_err(|e| self.corrupt(e))
    }

    /// Writes the journal; none left in flight removes the file.
    fn write(&self, intents: Vec<Intent>) -> Result<(), JournalError> {
        let err = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        if intents.is_empty() {
            return match fs::remove_file(&self.path) {
                Ok(()) => sync_dir(parent_dir(&self.path)).map_err(err),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(err(e)),
            };
        }
        let dto = JournalDto {
            format_version: FORMAT_VERSION,
            intent: None,
            intents,
        };
        let text = serde_json::to_string_pretty(&dto).unwrap_or_default();
        write_atomic(&self.path, text.as_bytes(), 0o600).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(user: &str, op: Op) -> Intent {
        let at = "2026-01-01T00:00:00Z".parse().unwrap();
        Intent {
            op,
            address: Address::access_key(user),
            key_id: None,
            at,
            now: at,
            sinks_started: 0,
            sinks_begun: Vec::new(),
            step: None,
        }
    }

    #[test]
    fn one_intent_per_set_in_flight_each_cleared_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("keyrot.json");
        let journal = Journal::for_state(&state);
        assert!(journal.pending().unwrap().is_empty());
        journal.record(&intent("b", Op::Create)).unwrap();
        journal.record(&intent("a", Op::Delete)).unwrap();
        let mut updated = intent("b", Op::Create);
        updated.sinks_started = 1;
        journal.record(&updated).unwrap();
        // What a new process (the next run) reads: both, in address order, b's latest.
        let read = Journal::for_state(&state).pending().unwrap();
        assert_eq!(read, vec![intent("a", Op::Delete), updated.clone()]);
        journal.clear(&Address::access_key("a")).unwrap();
        let read = Journal::for_state(&state).pending().unwrap();
        assert_eq!(read, vec![updated]);
        assert_eq!(
            Journal::for_state(&state)
                .pending_for(&Address::access_key("b"))
                .unwrap()
                .map(|i| i.sinks_started),
            Some(1)
        );
        journal.clear(&Address::access_key("b")).unwrap();
        assert!(!journal_path(&state).exists(), "no intent left: no file");
    }

    #[test]
    fn journals_of_formats_1_and_2_are_read_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("keyrot.json");
        let v1 = serde_json::json!({
            "format_version": 1,
            "intent": intent("a", Op::Deactivate),
        });
        fs::write(journal_path(&state), v1.to_string()).unwrap();
        let journal = Journal::for_state(&state);
        assert_eq!(
            journal.pending().unwrap(),
            vec![intent("a", Op::Deactivate)]
        );
        // Settling it writes format 3 from then on.
        journal.record(&intent("b", Op::Create)).unwrap();
        let text = fs::read_to_string(journal_path(&state)).unwrap();
        assert!(text.contains("\"format_version\": 3"), "{text}");
        // Format 2 (no begun sinks named) is still read.
        let v2 = serde_json::json!({"format_version": 2, "intents": []});
        fs::write(journal_path(&state), v2.to_string()).unwrap();
        assert_eq!(Journal::for_state(&state).pending().unwrap(), Vec::new());
        let v4 = serde_json::json!({"format_version": 4, "intents": []});
        fs::write(journal_path(&state), v4.to_string()).unwrap();
        let err = Journal::for_state(&state).pending().unwrap_err();
        assert!(err.to_string().contains("upgrade keyrot"), "{err}");
    }
}
