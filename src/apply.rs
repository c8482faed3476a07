//! Executes a plan against IAM, writing state after every step.
//!
//! A new key's secret is delivered before state records the key; if delivery fails the
//! key is deleted again, so nothing is orphaned and no secret is lost.

use crate::config::Config;
use crate::iam::{Iam, IamError};
use crate::model::{Address, KeyStatus, Time};
use crate::plan::{Action, ActionKind, Plan};
use crate::render::timestamp;
use crate::sink::{self, Credential, SinkError};
use crate::state::{State, TrackedKey};
use crate::store::{StateStore, StoreError};
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{address}: {source}")]
    Iam { address: Address, source: IamError },
    #[error("{address}: {source}; the new key {key} was deleted again, nothing was changed for this set")]
    Delivery {
        address: Address,
        key: String,
        source: SinkError,
    },
    #[error("{address}: {source}; and deleting the undelivered new key {key} failed too ({delete_error}): delete it by hand with `aws iam delete-access-key --user-name {user} --access-key-id {key}`")]
    Orphan {
        address: Address,
        user: String,
        key: String,
        source: SinkError,
        delete_error: IamError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{address} is not in the config")]
    NotConfigured { address: Address },
}

/// What apply did, for the final report.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    /// Sets left at the deactivate→delete checkpoint, with how to go on or back.
    pub checkpoints: Vec<String>,
}

pub struct Applier<'a, I: Iam> {
    pub iam: &'a I,
    pub config: &'a Config,
    pub store: &'a mut StateStore,
    pub state: &'a mut State,
    pub now: Time,
    /// Where a `deliver "stdout"` sink writes.
    pub stdout: &'a mut dyn Write,
}

impl<I: Iam> Applier<'_, I> {
    /// Runs every action in execution order; `progress` hears each finished step.
    /// Stops at the first failure; what was done before it is already in state.
    pub async fn run(
        &mut self,
        plan: &Plan,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Report, (Report, ApplyError)> {
        let mut report = Report::default();
        for (si, ai) in plan.execution_order() {
            let set = &plan.sets[si];
            let action = &set.actions[ai];
            match self.step(&set.address, action).await {
                Ok(line) => {
                    progress(&line);
                    report.done.push(line);
                }
                Err(e) => return Err((report, e)),
            }
        }
        for set in &plan.sets {
            let deactivated = set
                .actions
                .iter()
                .find(|a| a.kind == ActionKind::Deactivate);
            if let (Some(a), Some(cfg)) = (deactivated, self.config.sets.get(&set.address)) {
                let due = self.now + cfg.windows.inactive_for.to_chrono();
                report.checkpoints.push(format!(
                    "{addr}: old key {key} is Inactive. Checkpoint: confirm applications work with the new key.\n  \
                     To go on: `keyrot apply` at or after {due} (when inactive_for has passed) deletes it.\n  \
                     To go back: `keyrot rollback {addr}` reactivates it.",
                    addr = set.address,
                    key = a.key.as_ref().map(|k| k.masked()).unwrap_or_default(),
                    due = timestamp(due),
                ));
            }
        }
        Ok(report)
    }

    async fn step(&mut self, address: &Address, action: &Action) -> Result<String, ApplyError> {
        let user = address.user.as_str();
        let masked = action.key.as_ref().map(|k| k.masked()).unwrap_or_default();
        let iam_err = |source| ApplyError::Iam {
            address: address.clone(),
            source,
        };
        let mut created = None;
        let line = match &action.kind {
            ActionKind::Create => {
                let (tracked, sinks) = self.create_and_deliver(address).await?;
                let line = format!(
                    "{address}: created key {}, delivered to {}",
                    tracked.id.masked(),
                    sinks.join(", ")
                );
                created = Some(tracked);
                line
            }
            ActionKind::Deactivate | ActionKind::Reactivate => {
                let status = if action.kind == ActionKind::Deactivate {
                    KeyStatus::Inactive
                } else {
                    KeyStatus::Active
                };
                if let Some(key) = &action.key {
                    self.iam
                        .set_access_key_status(user, key, status.clone())
                        .await
                        .map_err(iam_err)?;
                }
                format!("{address}: key {masked} is now {status}")
            }
            ActionKind::Delete => {
                if let Some(key) = &action.key {
                    match self.iam.delete_access_key(user, key).await {
                        // Already gone is the outcome we wanted.
                        Err(e) if !e.is_no_such_entity() => return Err(iam_err(e)),
                        _ => {}
                    }
                }
                format!("{address}: deleted key {masked}")
            }
            ActionKind::Import { role, .. } => {
                format!("{address}: imported key {masked} as {}", role.as_str())
            }
            ActionKind::Refresh { status, .. } => {
                format!("{address}: recorded key {masked} as {status}")
            }
            ActionKind::Untrack => format!("{address}: stopped tracking deleted key {masked}"),
            ActionKind::Forget => format!("{address}: forgotten (IAM untouched)"),
        };
        self.state
            .record(address, action, created.as_ref(), self.now);
        self.store.save(self.state)?;
        Ok(line)
    }

    async fn create_and_deliver(
        &mut self,
        address: &Address,
    ) -> Result<(TrackedKey, Vec<String>), ApplyError> {
        let set = self
            .config
            .sets
            .get(address)
            .ok_or_else(|| ApplyError::NotConfigured {
                address: address.clone(),
            })?;
        let user = address.user.as_str();
        let new = self
            .iam
            .create_access_key(user)
            .await
            .map_err(|source| ApplyError::Iam {
                address: address.clone(),
                source,
            })?;
        let cred = Credential {
            user,
            key_id: &new.key.id,
            secret: &new.secret,
            created: new.key.created,
        };
        match sink::deliver(&set.sinks, &cred, self.stdout) {
            Ok(delivered) => Ok((
                TrackedKey {
                    id: new.key.id.clone(),
                    status: KeyStatus::Active,
                    born: self.now,
                    status_since: self.now,
                },
                delivered,
            )),
            Err(source) => {
                let key = new.key.id.masked();
                match self.iam.delete_access_key(user, &new.key.id).await {
                    Ok(()) => Err(ApplyError::Delivery {
                        address: address.clone(),
                        key,
                        source,
                    }),
                    Err(delete_error) => Err(ApplyError::Orphan {
                        address: address.clone(),
                        user: user.to_string(),
                        key: new.key.id.0.clone(),
                        source,
                        delete_error,
                    }),
                }
            }
        }
    }
}
