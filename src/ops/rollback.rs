//! `rollback ADDRESS`: at the checkpoint between deactivate and delete (or held there by a
//! failed confirm check), reactivate the previous key (journaled like any step) and hold
//! the rotation; the step puts back the sinks that can be put back.

use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::core::config::Config;
use crate::core::model::{Address, Time};
use crate::core::planner::manual;
use crate::ops::apply::{self, Report};
use crate::ops::error::{Error, Result};
use crate::ops::session::Writer;
use std::io::Write;

pub struct RolledBack {
    pub report: Report,
    /// What each sink of the set did about the key it holds, a sentence each.
    pub consumers: Vec<String>,
}

pub async fn rollback<I: Iam, R: Remote>(
    writer: &mut Writer<I, R>,
    config: &Config,
    address: &Address,
    now: Time,
    stdout: &mut (dyn Write + Send),
    progress: &mut dyn FnMut(&str),
) -> Result<RolledBack> {
    let (plan, previous) = manual::rollback(&writer.state, address, now)
        .map_err(|refused| Error::Invalid(refused.to_string()))?;
    let live = writer
        .clients
        .iam
        .list_credentials(address)
        .await?
        .unwrap_or_default();
    if !live.iter().any(|k| k.id == previous.id) {
        return Err(Error::Invalid(format!(
            "{address}: the previous key {} no longer exists in IAM; there is nothing to reactivate",
            config.display.key_ids.show(&previous.id)
        )));
    }
    // The reactivate step itself puts consumers back (Secrets Manager's AWSPREVIOUS), as
    // it does for a revert after a failed confirm check.
    let mut report = apply::execute(writer, config, &plan, now, stdout, progress).await?;
    if let Some(failed) = report.failed.pop() {
        return Err(Error::Apply {
            source: Box::new(failed.error),
            done: 0,
            total: 1,
            state: writer.store.location(),
            failed: String::new(),
        });
    }
    let consumers = report
        .reverts
        .iter_mut()
        .find(|r| &r.address == address)
        .map(|r| std::mem::take(&mut r.consumers))
        .unwrap_or_default();
    Ok(RolledBack { report, consumers })
}
