//! `resume ADDRESS`: release a rotation held by rollback.

use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::adapters::sinks;
use crate::core::config::Config;
use crate::core::model::{Address, KeyId};
use crate::core::planner::manual;
use crate::ops::error::{Error, Result};
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
    writer.state.sets.insert(address.clone(), resumed);
    writer.store.save(&mut writer.state)?;
    Ok(outcome)
}
