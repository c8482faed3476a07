//! Reconciles an intent left in the journal by an interrupted command with live IAM, so
//! a crash never orphans a key nor forgets a change that did happen. The IAM calls it makes
//! itself (deleting undelivered keys) and the keys it keeps for a person are events.

use crate::adapters::accounts::Accounts;
use crate::adapters::iam::{Iam, IamError};
use crate::adapters::sinks as sink;
use crate::adapters::store::events::EventError;
use crate::adapters::store::journal::{Intent, Op};
use crate::core::config::{Config, Sink};
use crate::core::event::{EventAction, Outcome};
use crate::core::model::{Address, KeyId, KeyStatus, LastUsed, LiveKey, Time};
use crate::core::plan::{Action, ActionKind, Reason, ReasonCode};
use crate::core::state::{State, TrackedKey};
use crate::ops::events::Recorder;
use std::collections::BTreeSet;

/// IAM's CreateDate comes from AWS's clock, the intent's time from ours: a key created this
/// long before the intent may still be the intent's. Kept short, because an untracked key
/// inside the window is deleted.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// Why recovery could not finish: IAM failed, or an event could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Iam(#[from] IamError),
    #[error(transparent)]
    Events(#[from] EventError),
}

/// What reconciling an intent found and did.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// A sentence each, for the user.
    pub said: Vec<String>,
    /// The key the interrupted step acted on or made, when known.
    pub key: Option<KeyId>,
    /// The step's own change was found in IAM and recorded in state.
    pub recorded: bool,
    /// An interrupted create whose answer was lost: recovery found the key it made.
    pub made: bool,
}

/// Reconciles `intent` with live IAM, recording in `state` what its step did.
pub async fn reconcile<I: Iam, R: sink::Remote>(
    iam: &I,
    remote: &Accounts<R>,
    config: &Config,
    state: &mut State,
    intent: &Intent,
    events: &Recorder,
) -> Result<Reconciled, RecoverError> {
    let live = iam
        .list_credentials(&intent.address)
        .await?
        .unwrap_or_default();
    let said = |said: Vec<String>| Reconciled {
        recorded: !said.is_empty(),
        said,
        key: intent.key_id.clone(),
        ..Reconciled::default()
    };
    match intent.op {
        Op::Create => {
            let found = Found {
                iam,
                remote,
                events,
            };
            reconcile_create(&found, config, state, intent, &live).await
        }
        Op::Deactivate => Ok(said(reconcile_status(state, intent, &live))),
        Op::Reactivate => {
            let recorded = reconcile_status(state, intent, &live);
            let mut out = said(recorded);
            let restored = restore_after_reactivate(remote, config, intent, &live).await;
            out.said.extend(restored);
            Ok(out)
        }
        Op::Delete => Ok(said(reconcile_delete(state, intent, &live))),
    }
}

/// The state change the intent's step made, recorded at the intent's instant.
fn recovered(kind: ActionKind, intent: &Intent) -> Action {
    Action {
        kind,
        key: intent.key_id.clone(),
        reason: Reason::new(
            ReasonCode::Recovered,
            "recorded from the journal after an interruption",
        ),
        frees_slot: false,
    }
}

fn tracked_ids(state: &State, address: &Address) -> BTreeSet<KeyId> {
    state
        .sets
        .get(address)
        .map(|s| s.keys().map(|(_, k)| k.id.clone()).collect())
        .unwrap_or_default()
}

/// What recovery of a create talks to.
struct Found<'a, I, R> {
    iam: &'a I,
    remote: &'a Accounts<R>,
    events: &'a Recorder,
}

/// An interrupted create: adopt the new key if a consumer may hold it, else delete it
/// (and any other key the create made).
async fn reconcile_create<I: Iam, R: sink::Remote>(
    found: &Found<'_, I, R>,
    config: &Config,
    state: &mut State,
    intent: &Intent,
    live: &[LiveKey],
) -> Result<Reconciled, RecoverError> {
    let (iam, remote, events) = (found.iam, found.remote, found.events);
    let address = &intent.address;
    let tracked = tracked_ids(state, address);
    let sinks = config.sets.get(address).map_or(&[][..], |s| &s.sinks[..]);
    let candidate = intent
        .key_id
        .as_ref()
        .filter(|id| !tracked.contains(*id))
        .and_then(|id| live.iter().find(|k| &k.id == id));
    let mut out = Reconciled {
        key: intent.key_id.clone(),
        ..Reconciled::default()
    };
    let mut keep = None;
    if let Some(key) = candidate.filter(|_| intent.sinks_started > 0) {
        let (may_hold, missing) = read_back(remote, sinks, &intent.sinks_begun, &key.id).await;
        if may_hold {
            // When delivery ended is unknown: no use before now (on IAM's clock) counts as
            // a consumer's, since the STS proof may be one of them.
            let delivered = chrono::Utc::now() + iam.clock_skew();
            out.said
                .push(adopt(state, intent, key, &missing, delivered));
            out.recorded = true;
            keep = Some(key.id.clone());
        }
    }
    out.said
        .extend(already_deleted(remote, sinks, intent, live, &tracked, events).await?);
    let swept = sweep_undelivered(iam, intent, live, &tracked, keep.as_ref(), events).await?;
    out.said.extend(swept.said);
    out.made = !swept.deleted.is_empty();
    if !swept.unresolved.is_empty() {
        let set = state.sets.entry(address.clone()).or_default();
        set.mark_unresolved(swept.unresolved);
    }
    if let (Some(id), None) = (&intent.key_id, &keep) {
        // The intent's own key, by id, wherever the clocks stand.
        if live.iter().any(|k| &k.id == id) && !tracked.contains(id) {
            delete_undelivered(iam, events, address, id, false).await?;
            out.said.push(format!(
                "{address}: deleted key {}, created by an interrupted create whose secret was never delivered",
                id.masked()
            ));
        }
    }
    Ok(out)
}

/// The key the interrupted create made, deleted again by its own clean-up before the
/// interruption: logged, and named with any sink that may still hold it.
async fn already_deleted<R: sink::Remote>(
    remote: &Accounts<R>,
    sinks: &[Sink],
    intent: &Intent,
    live: &[LiveKey],
    tracked: &BTreeSet<KeyId>,
    events: &Recorder,
) -> Result<Option<String>, EventError> {
    let address = &intent.address;
    let Some(id) = intent
        .key_id
        .as_ref()
        .filter(|id| !tracked.contains(*id) && !live.iter().any(|k| &k.id == *id))
    else {
        return Ok(None);
    };
    let why = "deleted again by the interrupted create's own clean-up";
    events.key(address, EventAction::Delete, id, Outcome::Recovered, why)?;
    let held = gone_but_held(remote, sinks, intent, live, tracked).await;
    Ok(Some(held.unwrap_or_else(|| {
        format!(
            "{address}: key {}, made by the interrupted create, had been deleted again before the interruption",
            id.masked()
        )
    })))
}

/// Deletes a key no consumer holds, with its events: first, for a key only a sweep found
/// (`found`), that the create made it — so a crash in the call still leaves it named —
/// then the delete, or its failure (which may have happened all the same).
async fn delete_undelivered<I: Iam>(
    iam: &I,
    events: &Recorder,
    address: &Address,
    key: &KeyId,
    found: bool,
) -> Result<(), RecoverError> {
    if found {
        let why = "made by an interrupted or retried create whose answer was lost; never delivered";
        events.key(address, EventAction::Create, key, Outcome::Recovered, why)?;
    }
    match iam.delete_credential(address, key).await {
        Err(e) if !e.is_no_such_entity() => {
            let why = format!("deleting a key whose secret was never delivered: {e}");
            events.key(address, EventAction::Delete, key, Outcome::Failed, why)?;
            Err(e.into())
        }
        _ => {
            let why = "its secret was never delivered";
            Ok(events.key(address, EventAction::Delete, key, Outcome::Succeeded, why)?)
        }
    }
}

/// The intent's key is already gone (an interrupted clean-up deleted it) while a sink that
/// could not be put back may still hold it: name such sinks, as the live failure would.
async fn gone_but_held<R: sink::Remote>(
    remote: &Accounts<R>,
    sinks: &[Sink],
    intent: &Intent,
    live: &[LiveKey],
    tracked: &BTreeSet<KeyId>,
) -> Option<String> {
    let address = &intent.address;
    let id = intent.key_id.as_ref().filter(|id| {
        intent.sinks_started > 0 && !tracked.contains(*id) && !live.iter().any(|k| &k.id == *id)
    })?;
    let mut holding = Vec::new();
    for s in sinks {
        if !may_have_begun(&intent.sinks_begun, &s.describe()) {
            continue;
        }
        if sink::holds(remote, s, id).await != Some(false) {
            holding.push(s.describe());
        }
    }
    (!holding.is_empty()).then(|| {
        format!(
            "{address}: key {} was deleted after a failed delivery, but {} may still hold it: \
             put the current key back there, or rotate with `keyrot apply --force-rotate {address}`",
            id.masked(),
            holding.join(", ")
        )
    })
}

/// Whether a consumer may hold `key`, and the sinks that do not (or cannot be read).
/// Undelivered only when provably so: every sink that may have been written can be read
/// back and none holds the key. Those are the sinks the journal names as begun (`begun`, as
/// `Sink::describe` names them: the config's own words, the same in every process), matched
/// by name rather than position since the config may have changed; a begun sink the config
/// no longer has cannot be read, so the key may be held. Journals of older keyrots name
/// none: every sink the config has is read.
async fn read_back<R: sink::Remote>(
    remote: &Accounts<R>,
    sinks: &[Sink],
    begun: &[String],
    key: &KeyId,
) -> (bool, Vec<String>) {
    let names: Vec<String> = sinks.iter().map(Sink::describe).collect();
    let gone = begun.iter().any(|n| !names.contains(n));
    let mut any_holds = false;
    let mut unknown = sinks.is_empty() || gone;
    let mut missing = Vec::new();
    for (s, name) in sinks.iter().zip(names) {
        if !may_have_begun(begun, &name) {
            missing.push(name);
            continue;
        }
        match sink::holds(remote, s, key).await {
            Some(true) => any_holds = true,
            Some(false) => missing.push(name),
            None => {
                unknown = true;
                missing.push(name);
            }
        }
    }
    (any_holds || unknown, missing)
}

/// Whether the sink named `name` may have been written by a create whose intent names
/// `begun` (none named: a journal of an older keyrot, so any may have been). One that never
/// began cannot hold the key.
fn may_have_begun(begun: &[String], name: &str) -> bool {
    begun.is_empty() || begun.iter().any(|b| b == name)
}

/// A key a consumer may already read is kept, as the new current key.
fn adopt(
    state: &mut State,
    intent: &Intent,
    key: &LiveKey,
    missing: &[String],
    delivered: Time,
) -> String {
    let address = &intent.address;
    let created = TrackedKey {
        id: key.id.clone(),
        status: KeyStatus::Active,
        born: intent.now,
        status_since: intent.now,
        delivered: Some(delivered),
    };
    state.record(
        address,
        &recovered(ActionKind::Create, intent),
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
    format!(
        "{address}: key {} was created and delivered before an interruption: adopted as the current key{note}",
        key.id.masked(),
    )
}

/// An interrupted status change: record it if IAM shows it happened.
fn reconcile_status(state: &mut State, intent: &Intent, live: &[LiveKey]) -> Vec<String> {
    let address = &intent.address;
    let (want, kind) = match intent.op {
        Op::Deactivate => (KeyStatus::Inactive, ActionKind::Deactivate),
        _ => (KeyStatus::Active, ActionKind::Reactivate),
    };
    let Some(id) = &intent.key_id else {
        return Vec::new();
    };
    let recorded = state.sets.get(address).and_then(|s| {
        s.keys()
            .find(|(_, k)| &k.id == id)
            .map(|(_, k)| k.status.clone())
    });
    let happened = live
        .iter()
        .any(|k| &k.id == id && k.status == want && recorded.as_ref() != Some(&want));
    if !happened {
        return Vec::new();
    }
    state.record(address, &recovered(kind, intent), None, intent.now);
    vec![format!(
        "{address}: the interrupted step did set key {} {want}; recorded",
        id.masked()
    )]
}

/// After an interrupted reactivation (a rollback, or the revert after a failed confirm
/// check) is recorded if IAM shows it happened: consumers put back on the old key as the
/// step would have (again, harmlessly, if it already had).
async fn restore_after_reactivate<R: sink::Remote>(
    remote: &Accounts<R>,
    config: &Config,
    intent: &Intent,
    live: &[LiveKey],
) -> Vec<String> {
    let mut said = Vec::new();
    let address = &intent.address;
    let active = |id: &KeyId| {
        live.iter()
            .any(|k| &k.id == id && k.status == KeyStatus::Active)
    };
    if let (Some(id), Some(set)) = (intent.key_id.as_ref(), config.sets.get(address)) {
        if active(id) {
            let restored = sink::restore_previous(remote, &set.sinks, id).await;
            said.extend(
                restored
                    .into_iter()
                    .map(|line| format!("{address}: {line}")),
            );
        }
    }
    said
}

/// An interrupted delete: record it if the key is gone from IAM.
fn reconcile_delete(state: &mut State, intent: &Intent, live: &[LiveKey]) -> Vec<String> {
    let address = &intent.address;
    let tracked = tracked_ids(state, address);
    let Some(id) = intent
        .key_id
        .as_ref()
        .filter(|id| tracked.contains(*id) && !live.iter().any(|k| &k.id == *id))
    else {
        return Vec::new();
    };
    state.record(
        address,
        &recovered(ActionKind::Delete, intent),
        None,
        intent.now,
    );
    vec![format!(
        "{address}: the interrupted delete of key {} did happen; recorded",
        id.masked()
    )]
}

/// How long after its intent a create (with the SDK's retries) can still have made a key.
const CREATE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// What a sweep did: the keys it deleted, and those it kept for a person to decide about.
#[derive(Debug, Default)]
pub struct Swept {
    pub said: Vec<String>,
    pub deleted: Vec<KeyId>,
    pub unresolved: Vec<KeyId>,
}

/// Keys a create may have made but never delivered: untracked, created (on IAM's clock)
/// around the intent, other than `keep`. One such key that was never used is deleted: its
/// secret exists nowhere. Anything else — two candidates, or one that was used — may be a
/// person's or another run's, so it is kept and marked unresolved, never deleted on a guess.
pub async fn sweep_undelivered<I: Iam>(
    iam: &I,
    intent: &Intent,
    live: &[LiveKey],
    tracked: &BTreeSet<KeyId>,
    keep: Option<&KeyId>,
    events: &Recorder,
) -> Result<Swept, RecoverError> {
    let address = &intent.address;
    let candidates: Vec<&LiveKey> = live
        .iter()
        .filter(|k| {
            k.created >= intent.at - CLOCK_SKEW
                && k.created <= intent.at + CREATE_WINDOW
                && intent.key_id.as_ref() != Some(&k.id)
                && !tracked.contains(&k.id)
                && Some(&k.id) != keep
        })
        .collect();
    let mut swept = Swept::default();
    match candidates.as_slice() {
        [] => {}
        [key] if never_used(iam, address, &key.id).await? => {
            delete_undelivered(iam, events, address, &key.id, true).await?;
            swept.said.push(format!(
                "{address}: deleted key {}, created by an interrupted or retried create whose secret was never delivered",
                key.id.masked()
            ));
            swept.deleted.push(key.id.clone());
        }
        keys => {
            for key in keys {
                let why = "may come from an interrupted create: kept for a person to delete or `keyrot import`";
                let (action, outcome) = (EventAction::MarkUnresolved, Outcome::Succeeded);
                events.key(address, action, &key.id, outcome, why)?;
                swept.unresolved.push(key.id.clone());
                swept.said.push(format!(
                    "{address}: key {} may come from an interrupted create, but it {}: kept and marked \
                     unresolved for a person to decide (delete it by hand if no one uses it, or \
                     `keyrot import {address} KEY_ID` to manage it)",
                    key.id.masked(),
                    if keys.len() > 1 { "is one of several" } else { "has been used" },
                ));
            }
        }
    }
    Ok(swept)
}

/// Whether IAM has no record of the key's use (kinds without records count as unused).
async fn never_used<I: Iam>(iam: &I, address: &Address, id: &KeyId) -> Result<bool, IamError> {
    if !address.kind.has_last_use() {
        return Ok(true);
    }
    Ok(iam.last_used(address, id).await? == LastUsed::Never)
}
