//! The confirm step: run the set's checks, record their results in state, and when one
//! fails revert the set in the same run — through the very reactivate step `keyrot
//! rollback` takes (journaled, Secrets Manager put back, the set held) — or hold it.

use super::{Acted, ApplyError, Revert, Run};
use crate::adapters::confirm;
use crate::adapters::crash;
use crate::adapters::iam::Iam;
use crate::adapters::remote::Remote;
use crate::adapters::sinks;
use crate::core::config::{Check, OnConfirmFailure};
use crate::core::event::Outcome;
use crate::core::model::Address;
use crate::core::plan::{Action, ActionKind, Reason, ReasonCode};
use crate::core::state::CheckRecord;
use crate::ops::events::Entry;
use std::collections::BTreeSet;

impl<I: Iam, R: Remote> Run<'_, I, R> {
    /// Runs every confirm check of the set, records the results (with the hold, for
    /// `on_confirm_failure = "hold"`) and, when one failed, reverts or holds the set.
    pub(super) async fn confirm(
        &self,
        address: &Address,
        action: &Action,
    ) -> Result<Acted, ApplyError> {
        let set = self.set_config(address)?;
        // A check's command takes turns with every other command, as `exec` sinks do.
        let has_command = |c: &Check| matches!(c, Check::Exec { .. });
        let places = match set.confirm.checks.iter().any(has_command) {
            true => BTreeSet::from([sinks::place_of_commands()]),
            false => BTreeSet::new(),
        };
        let claim = self.claim_places(places, false).await;
        let mut runs = Vec::new();
        for check in &set.confirm.checks {
            runs.push(confirm::run(check, self.now).await);
        }
        drop(claim);
        let failed: Vec<CheckRecord> = runs.iter().filter(|r| !r.passed).cloned().collect();
        let on_failure = set.confirm.on_failure;
        let hold = !failed.is_empty() && on_failure == OnConfirmFailure::Hold;
        let names = failed
            .iter()
            .map(|c| c.check.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let n = set.confirm.checks.len();
        let (outcome, message) = if failed.is_empty() {
            (Outcome::Succeeded, format!("{n} confirm check(s) passed"))
        } else {
            (Outcome::Failed, format!("confirm check failed: {names}"))
        };
        // Like every step's event: before the state write.
        self.events
            .record_shared(Entry {
                address: Some(address),
                action: (&action.kind).into(),
                key: action.key.as_ref(),
                outcome,
                message: Some(message),
                step: None,
            })
            .await?;
        self.commit(|state| {
            let tracked = state.sets.entry(address.clone()).or_default();
            tracked.record_checks(runs);
            tracked.held |= hold;
        })
        .await?;
        if failed.is_empty() {
            return Ok(format!("{address}: {n} confirm check(s) passed").into());
        }
        crash::point("before-revert");
        let revert = match (on_failure, &action.key) {
            (OnConfirmFailure::Rollback, Some(old_key)) => {
                let reactivate = Action {
                    kind: ActionKind::Reactivate,
                    key: Some(old_key.clone()),
                    reason: Reason::new(
                        ReasonCode::ConfirmFailed,
                        format!("confirm check failed: {names}"),
                    ),
                    frees_slot: false,
                };
                let acted =
                    self.step(address, &reactivate)
                        .await
                        .map_err(|source| ApplyError::Revert {
                            address: address.clone(),
                            checks: names.clone(),
                            source: Box::new(source),
                        })?;
                acted.revert
            }
            _ => None,
        };
        let revert = Revert {
            failed,
            ..revert.unwrap_or(Revert {
                address: address.clone(),
                failed: Vec::new(),
                reactivated: false,
                consumers: Vec::new(),
            })
        };
        let outcome = if revert.reactivated {
            "the old key is Active again and the set is held"
        } else {
            "the set is held with the old key Inactive"
        };
        Ok(Acted {
            line: format!("{address}: confirm check failed ({names}): {outcome}"),
            revert: Some(revert),
        })
    }
}
