//! Reconciles an intent left in the journal by an interrupted command with live IAM, so
//! a crash never orphans a key nor forgets a change that did happen.

use crate::adapters::iam::{Iam, IamError};
use crate::adapters::sinks as sink;
use crate::adapters::store::journal::{Intent, Op};
use crate::core::config::Config;
use crate::core::model::{KeyStatus, LiveKey};
use crate::core::plan::{Action, ActionKind, Reason};
use crate::core::state::{State, TrackedKey};
use std::collections::BTreeSet;

/// IAM's CreateDate comes from AWS's clock, the intent's time from ours: a key created this
/// long before the intent may still be the intent's. Kept short, because an untracked key
/// inside the window is deleted.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// What reconciling found and did, as sentences for the user.
pub async fn reconcile<I: Iam, R: sink::Remote>(
    iam: &I,
    remote: &R,
    config: &Config,
    state: &mut State,
    intent: &Intent,
) -> Result<Vec<String>, IamError> {
    let address = &intent.address;
    let live = iam.list_credentials(address).await?.unwrap_or_default();
    let set = state.sets.get(address).cloned().unwrap_or_default();
    let tracked: BTreeSet<_> = set.keys().map(|(_, k)| k.id.clone()).collect();
    let mut said = Vec::new();
    let action = |kind| Action {
        kind,
        key: intent.key_id.clone(),
        reason: Reason::new(
            "recovered",
            "recorded from the journal after an interruption",
        ),
        frees_slot: false,
    };
    match intent.op {
        Op::Create => {
            let sinks = config.sets.get(address).map_or(&[][..], |s| &s.sinks[..]);
            let candidate = intent
                .key_id
                .as_ref()
                .filter(|id| !tracked.contains(*id))
                .and_then(|id| live.iter().find(|k| &k.id == id));
            let mut delivered = None;
            let mut missing = Vec::new();
            if let Some(key) = candidate {
                // Undelivered only when provably so: delivery never started, or every sink
                // the config has now can be read back and none holds the key (the config
                // may have changed since, so positions are not trusted).
                let mut any_holds = false;
                let mut unknown = sinks.is_empty();
                for s in sinks {
                    match sink::holds(remote, s, &key.id).await {
                        Some(true) => any_holds = true,
                        Some(false) => missing.push(s.describe()),
                        None => {
                            unknown = true;
                            missing.push(s.describe());
                        }
                    }
                }
                let maybe_delivered = intent.sinks_started > 0 && (any_holds || unknown);
                delivered = maybe_delivered.then_some(key);
            }
            // The intent's key is already gone (an interrupted clean-up deleted it) while a
            // sink that could not be put back may still hold it: name such sinks, as the
            // live failure would have.
            let gone = intent.key_id.as_ref().filter(|id| {
                intent.sinks_started > 0
                    && !tracked.contains(*id)
                    && !live.iter().any(|k| &k.id == *id)
            });
            if let Some(id) = gone {
                let mut holding = Vec::new();
                for s in sinks {
                    if sink::holds(remote, s, id).await != Some(false) {
                        holding.push(s.describe());
                    }
                }
                if !holding.is_empty() {
                    said.push(format!(
                        "{address}: key {} was deleted after a failed delivery, but {} may still hold it: \
                         put the current key back there, or rotate with `keyrot apply --force-rotate {address}`",
                        id.masked(),
                        holding.join(", ")
                    ));
                }
            }
            if let Some(key) = delivered {
                // A consumer may already read it: keep it, as the new current key.
                let created = TrackedKey {
                    id: key.id.clone(),
                    status: KeyStatus::Active,
                    born: intent.now,
                    status_since: intent.now,
                };
                state.record(
                    address,
                    &action(ActionKind::Create),
                    Some(&created),
                    intent.now,
                );
                let note = if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; not confirmed in: {} (their consumers keep the old key, whose deactivation waits \
                         for it to go unused; `keyrot apply --force-rotate {address}` rotates again)",
                        missing.join(", ")
                    )
                };
                said.push(format!(
                    "{address}: key {} was created and delivered before an interruption: adopted as the current key{note}",
                    key.id.masked(),
                ));
            }
            let keep = delivered.map(|k| k.id.clone());
            said.extend(delete_undelivered(iam, intent, &live, &tracked, keep.as_ref()).await?);
            if let (Some(id), None) = (&intent.key_id, &keep) {
                // The intent's own key, by id, wherever the clocks stand.
                if live.iter().any(|k| &k.id == id) && !tracked.contains(id) {
                    match iam.delete_credential(address, id).await {
                        Err(e) if !e.is_no_such_entity() => return Err(e),
                        _ => {}
                    }
                    said.push(format!(
                        "{address}: deleted key {}, created by an interrupted create whose secret was never delivered",
                        id.masked()
                    ));
                }
            }
        }
        Op::Deactivate | Op::Reactivate => {
            let want = if intent.op == Op::Deactivate {
                KeyStatus::Inactive
            } else {
                KeyStatus::Active
            };
            let key = intent
                .key_id
                .as_ref()
                .and_then(|id| live.iter().find(|k| &k.id == id));
            let recorded = intent
                .key_id
                .as_ref()
                .and_then(|id| set.keys().find(|(_, k)| &k.id == id))
                .map(|(_, k)| k.status.clone());
            if let Some(key) = key.filter(|k| k.status == want && recorded != Some(want.clone())) {
                let kind = if intent.op == Op::Deactivate {
                    ActionKind::Deactivate
                } else {
                    ActionKind::Reactivate
                };
                state.record(address, &action(kind), None, intent.now);
                said.push(format!(
                    "{address}: the interrupted step did set key {} {want}; recorded",
                    key.id.masked()
                ));
            }
        }
        Op::Delete => {
            let gone = intent
                .key_id
                .as_ref()
                .is_some_and(|id| tracked.contains(id) && !live.iter().any(|k| &k.id == id));
            if gone {
                state.record(address, &action(ActionKind::Delete), None, intent.now);
                said.push(format!(
                    "{address}: the interrupted delete of key {} did happen; recorded",
                    intent
                        .key_id
                        .as_ref()
                        .map(|k| k.masked())
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok(said)
}

/// How long after its intent a create (with the SDK's retries) can still have made a key.
const CREATE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// Deletes keys a create made but never delivered: untracked, created around the intent's
/// time, other than `keep`. Their secrets exist nowhere, so nothing can be using them.
/// A key someone makes by hand long after an interruption falls outside the window.
pub async fn delete_undelivered<I: Iam>(
    iam: &I,
    intent: &Intent,
    live: &[LiveKey],
    tracked: &BTreeSet<crate::core::model::KeyId>,
    keep: Option<&crate::core::model::KeyId>,
) -> Result<Vec<String>, IamError> {
    let mut said = Vec::new();
    for key in live {
        let ours = key.created >= intent.at - CLOCK_SKEW
            && key.created <= intent.at + CREATE_WINDOW
            && intent.key_id.as_ref().is_none_or(|id| *id != key.id);
        if ours && !tracked.contains(&key.id) && Some(&key.id) != keep {
            match iam.delete_credential(&intent.address, &key.id).await {
                Err(e) if !e.is_no_such_entity() => return Err(e),
                _ => {}
            }
            said.push(format!(
                "{}: deleted key {}, created by an interrupted or retried create whose secret was never delivered",
                intent.address,
                key.id.masked()
            ));
        }
    }
    Ok(said)
}
