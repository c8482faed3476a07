//! Write-ahead journal of mutating IAM calls, next to the state (`<state>.journal`: a
//! local file, or an object in the S3 backend, so a crash on one runner is settled on
//! another).
//!
//! Before each mutating call the intent is recorded durably; after the state records the
//! outcome, the intent is cleared. A crash in between leaves the intent for the next
//! command to reconcile against live IAM (`recover`). Never holds a secret.

use super::s3::S3Journal;
use crate::adapters::crash;
use crate::adapters::fsutil::{parent_dir, sync_dir, write_atomic};
use crate::core::model::{Address, KeyId, Time};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

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
    /// This step's id, which its event carries: recovery finds whether the step's event
    /// was written before the interruption (absent in journals of older keyrots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalDto {
    format_version: u32,
    intent: Intent,
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

/// The journal of the state's backend.
pub enum Journal {
    Local(LocalJournal),
    S3(S3Journal),
}

impl Journal {
    pub fn for_state(state_path: &Path) -> Self {
        Journal::Local(LocalJournal {
            path: journal_path(state_path),
        })
    }

    /// The unfinished intent left by an interrupted command, if any.
    pub fn pending(&self) -> Result<Option<Intent>, JournalError> {
        match self {
            Journal::Local(j) => j.pending(),
            Journal::S3(j) => j.pending(),
        }
    }

    /// Records `intent` durably (also used to update it, e.g. with the new key's id).
    pub fn record(&self, intent: &Intent) -> Result<(), JournalError> {
        crash::point("before-journal-write");
        match self {
            Journal::Local(j) => j.record(intent)?,
            Journal::S3(j) => j.record(Some(intent))?,
        }
        tracing::info!(target: TARGET, location = %self.location(), op = ?intent.op,
            address = %intent.address, key = intent.key_id.as_ref().map(KeyId::masked),
            sinks_started = intent.sinks_started, "journal intent recorded");
        crash::point("after-journal-write");
        Ok(())
    }

    /// The intent's outcome is in state: forget it.
    pub fn clear(&self) -> Result<(), JournalError> {
        match self {
            Journal::Local(j) => j.clear()?,
            Journal::S3(j) => j.record(None)?,
        }
        tracing::info!(target: TARGET, location = %self.location(), "journal cleared");
        Ok(())
    }

    /// Where the journal is: a path or `s3://bucket/key.journal`.
    pub fn location(&self) -> String {
        match self {
            Journal::Local(j) => j.path.display().to_string(),
            Journal::S3(j) => j.url(),
        }
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
    fn pending(&self) -> Result<Option<Intent>, JournalError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: self.path.clone(),
                    problem: e.to_string(),
                })
            }
        };
        let dto: JournalDto = serde_json::from_str(&text).map_err(|e| JournalError::Corrupt {
            path: self.path.clone(),
            problem: e.to_string(),
        })?;
        Ok(Some(dto.intent))
    }

    fn record(&self, intent: &Intent) -> Result<(), JournalError> {
        let dto = JournalDto {
            format_version: 1,
            intent: intent.clone(),
        };
        let text = serde_json::to_string_pretty(&dto).unwrap_or_default();
        write_atomic(&self.path, text.as_bytes(), 0o600).map_err(|source| JournalError::Write {
            path: self.path.clone(),
            source,
        })
    }

    fn clear(&self) -> Result<(), JournalError> {
        let err = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        match fs::remove_file(&self.path) {
            Ok(()) => sync_dir(parent_dir(&self.path)).map_err(err),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(err(e)),
        }
    }
}
