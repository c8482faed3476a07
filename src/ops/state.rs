//! `keyrot state list|show|rm|pull|push`: what the state tracks, dropping a set from
//! management, the state as stored, and replacing it (a migration between the local file
//! and S3 keeps lineage and serial).

use crate::adapters::store::StoreError;
use crate::core::config::Config;
use crate::core::event::{EventAction, Outcome};
use crate::core::model::Address;
use crate::core::state::file as state_file;
use crate::core::state::{SetState, State};
use crate::ops::error::{Error, Result};
use crate::ops::events::Entry;
use crate::ops::session::{BackendNotes, Session};
use std::path::Path;

/// The state exactly as stored, or `None` when there is none yet.
pub fn pull(session: &Session, config: &Config) -> Result<Option<String>> {
    let mut store = session.reader(config)?;
    store.load()?;
    Ok(store.text().map(str::to_string))
}

/// What `state push` replaced.
#[derive(Debug)]
pub struct Pushed {
    pub location: String,
    pub lineage: String,
    pub serial: u64,
    /// The lineage and serial it replaced, if a state was there.
    pub replaced: Option<(String, u64)>,
    pub notes: BackendNotes,
}

/// Replaces the backend's state with `file`, exactly (lineage and serial kept), under the
/// backend's lock. Refuses another lineage, an older serial, or the same serial with other
/// content, unless `force`; always refuses while an interrupted step is unsettled.
pub fn push(session: &Session, config: &Config, file: &Path, force: bool) -> Result<Pushed> {
    let shown = file.display().to_string();
    let refuse = |reason: String| StoreError::PushRefused {
        file: shown.clone(),
        reason,
    };
    let bytes =
        std::fs::read(file).map_err(|e| Error::Invalid(format!("cannot read {shown}: {e}")))?;
    let pushed = state_file::from_bytes(&bytes)
        .map_err(|e| Error::Invalid(format!("{shown} is not a keyrot state: {e}")))?;
    let mut opened = session.open("state push", config)?;
    if let Some(intent) = opened.journal.pending()?.first() {
        return Err(Error::Invalid(format!(
            "refusing to push {shown}: an interrupted {:?} of {} is unsettled in {}\n  hint: run `keyrot apply` first; it settles it",
            intent.op,
            intent.address,
            opened.store.location()
        )));
    }
    let current = opened.store.load()?;
    let exists = opened.store.text().is_some();
    if exists && !force {
        if current.lineage != pushed.lineage {
            return Err(refuse(format!(
                "its lineage {} is not the state's ({})",
                pushed.lineage, current.lineage
            ))
            .into());
        }
        if pushed.serial < current.serial {
            return Err(refuse(format!(
                "its serial {} is older than the state's ({})",
                pushed.serial, current.serial
            ))
            .into());
        }
        if pushed.serial == current.serial && pushed != current {
            return Err(refuse(format!(
                "it has the state's serial ({}) but other content",
                pushed.serial
            ))
            .into());
        }
    }
    opened.store.replace(&pushed)?;
    Ok(Pushed {
        location: opened.store.location(),
        lineage: pushed.lineage,
        serial: pushed.serial,
        replaced: exists.then_some((current.lineage, current.serial)),
        notes: opened.notes,
    })
}

/// The state as tracked (a missing state is empty).
pub fn read(session: &Session, config: &Config) -> Result<State> {
    Ok(session.reader(config)?.load()?)
}

/// Stops managing `address`: the set leaves the state (under the lock, with serial and
/// backup); IAM and every sink are left as they are. Returns what was removed.
pub fn remove(session: &Session, config: &Config, address: &Address) -> Result<SetState> {
    let mut opened = session.open("state rm", config)?;
    if let Some(intent) = opened.journal.pending_for(address)? {
        return Err(Error::Invalid(format!(
            "an interrupted {:?} of {address} is unsettled\n  hint: run `keyrot apply` first; it settles it",
            intent.op
        )));
    }
    let mut state = opened.store.load()?;
    let removed = state.sets.remove(address).ok_or_else(|| {
        Error::Invalid(format!(
            "{address} is not in the state; `keyrot state list` shows what is"
        ))
    })?;
    // One event per key left in IAM unmanaged, so each key's history ends with it.
    let keys: Vec<_> = removed.keys().map(|(_, k)| Some(&k.id)).collect();
    for key in if keys.is_empty() { vec![None] } else { keys } {
        let entry = Entry {
            address: Some(address),
            action: EventAction::Forget,
            key,
            outcome: Outcome::Succeeded,
            message: Some(
                "removed from the state (`keyrot state rm`); IAM and sinks untouched".into(),
            ),
            step: None,
        };
        opened.events.record(entry)?;
    }
    opened.store.save(&mut state)?;
    Ok(removed)
}
