//! `resume ADDRESS`: release a rotation held by rollback.

use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::adapters::sinks;
use crate::core::config::Config;
use crate::core::event::{EventAction, Outcome};
use crate::core::model::{Address, KeyId};
use crate::core::planner::manual;
use crate::ops::error::{Error, Result};
use crate::ops::events::Entry;
use crate::ops::session::Writer;

pub struct Resumed {
    /// Sinks that hold the previous key again after the rollback; when any does, that key
    /// stays current and the newer one retires.
    pub restored: Vec<String>,
    pub current: Option<KeyId>,
    pub previous: Option<KeyId>,
}

pub async fn resume<I: Iam, R: Remote>(
    writer: &mut Writer<I, R>,
    config: &Config,
    address: &Address,
) -> Result<Resumed> {
    writer.refuse_if_unsettled(address)?;
    let held = writer.state.sets.get(address).filter(|s| s.held).cloned();
    // Did the rollback put consumers back on the previous key (Secrets Manager's
    // AWSPREVIOUS)? Then that key stays, and the new one, whose secret is gone, retires.
    let mut restored = Vec::new();
    if let (Some(previous), Some(cfg)) = (
        held.as_ref().and_then(|s| s.previous.as_ref()),
        config.sets.get(address),
    ) {
        for sink in &cfg.sinks {
            if sinks::holds(&writer.clients.remote, sink, &previous.id).await == Some(true) {
                restored.push(sink.describe());
            }
        }
    }
    let resumed = manual::resume(&writer.state, address, !restored.is_empty())
        .map_err(|refused| Error::Invalid(refused.to_string()))?;
    let outcome = Resumed {
        restored,
        current: resumed.current.as_ref().map(|k| k.id.clone()),
        previous: resumed.previous.as_ref().map(|k| k.id.clone()),
    };
    let message = match (&outcome.current, outcome.restored.is_empty()) {
        (Some(current), false) => format!(
            "{} hold the previous key again: key {} stays current, the newer one retires",
            outcome.restored.join(", "),
            current.masked()
        ),
        _ => "rotation resumed".to_string(),
    };
    writer.events.record(Entry {
        address: Some(address),
        action: EventAction::Resume,
        key: outcome.current.as_ref(),
        outcome: Outcome::Succeeded,
        message: Some(message),
        step: None,
    })?;
    writer.state.sets.insert(address.clone(), resumed);
    writer.store.save(&mut writer.state)?;
    Ok(outcome)
}
