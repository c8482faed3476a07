//! In-memory state: what keyrot tracks for each credential set between runs, and the pure
//! transitions that an applied action makes to it. On-disk form lives in `state_file`.

mod checks;
pub mod file;

pub use checks::CheckRecord;

use crate::core::model::{Address, KeyId, KeyStatus, LastUsed, Time};
use crate::core::plan::{Action, ActionKind, Role};
use std::collections::BTreeMap;

/// A key keyrot manages, with times on keyrot's clock (which `--now` can move).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedKey {
    pub id: KeyId,
    /// Last status keyrot set or saw.
    pub status: KeyStatus,
    /// When the key came into being: keyrot's clock at create, IAM's CreateDate at import.
    pub born: Time,
    /// When keyrot set or first saw `status`; the Inactive window counts from here.
    pub status_since: Time,
    /// IAM's clock (not keyrot's, which `--now` moves) when the key's secret had reached
    /// every sink: only a use after it shows a consumer moved. `None` for a key keyrot did
    /// not deliver (imported) or delivered before it recorded this.
    pub delivered: Option<Time>,
}

impl TrackedKey {
    /// How much later than the delivery instant a use must be recorded to count as a
    /// consumer's. keyrot's own STS proof signs with the key just before delivery; the
    /// instant is keyrot's estimate of IAM's clock (its `Date` header: whole seconds, read
    /// after the answer's latency), and AWS dates a use on its services' clocks and per
    /// 15-minute span at the span's start, which never moves a use later. 30 s is many
    /// times the estimate's error; a consumer's later uses are recorded past it.
    pub const DELIVERY_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

    /// Whether `used` shows a consumer using this key: a use after its delivery (any
    /// recorded use for a key keyrot did not deliver).
    pub fn used_since_delivery(&self, used: &LastUsed) -> bool {
        match (used, self.delivered) {
            (LastUsed::Never, _) => false,
            (LastUsed::At(_), None) => true,
            (LastUsed::At(t), Some(delivered)) => *t > delivered + Self::DELIVERY_MARGIN,
        }
    }
}

/// The rotation state machine's position for one credential set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetState {
    /// The key applications should be using.
    pub current: Option<TrackedKey>,
    /// The key being retired, while a rotation is under way.
    pub previous: Option<TrackedKey>,
    /// Set by `rollback` (or an out-of-band reactivation); cleared by `resume`.
    pub held: bool,
    /// Keys an interrupted or retried create may have made but that could not be proven
    /// undelivered (more than one, or used): never adopted or deleted on a guess; a person
    /// decides (`keyrot import`, or a delete by hand). Sorted.
    pub unresolved: Vec<KeyId>,
    /// The set's last step ran on a clock moved away from the real one
    /// (`--allow-clock-override`): kept so the state says when it really happened.
    pub clock_override: Option<ClockOverride>,
    /// The latest run of each confirm check since the old key was last deactivated, in
    /// config order.
    pub confirm: Vec<CheckRecord>,
}

/// keyrot's clock for a step (`--now`) and the real time it ran at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockOverride {
    pub used: Time,
    pub real: Time,
}

impl ClockOverride {
    /// How far keyrot's clock may be from the real one before it counts as moved.
    pub const TOLERANCE: chrono::Duration = chrono::Duration::seconds(60);

    /// The override a step at `used` makes when the real time is `real`, if any.
    pub fn between(used: Time, real: Time) -> Option<Self> {
        ((used - real).abs() > Self::TOLERANCE).then_some(ClockOverride { used, real })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// No key tracked yet.
    Empty,
    /// One key in use.
    Steady,
    /// Both keys Active: consumers move to the new key.
    Overlap,
    /// The old key is Inactive: the checkpoint before deletion.
    Inactive,
    /// Rotation paused by rollback until `resume`.
    Held,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Empty => "empty",
            Phase::Steady => "steady",
            Phase::Overlap => "overlap",
            Phase::Inactive => "inactive",
            Phase::Held => "held",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Phase::Empty,
            Phase::Steady,
            Phase::Overlap,
            Phase::Inactive,
            Phase::Held,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

impl SetState {
    /// The phase follows from which keys are tracked and their statuses.
    pub fn phase(&self) -> Phase {
        if self.held {
            return Phase::Held;
        }
        match (&self.current, &self.previous) {
            (None, None) => Phase::Empty,
            (_, None) => Phase::Steady,
            (_, Some(p)) if p.status == KeyStatus::Active => Phase::Overlap,
            (_, Some(_)) => Phase::Inactive,
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = (Role, &TrackedKey)> {
        let current = self.current.iter().map(|k| (Role::Current, k));
        current.chain(self.previous.iter().map(|k| (Role::Previous, k)))
    }

    /// Marks keys for a person to decide about (kept sorted and unique).
    pub fn mark_unresolved(&mut self, ids: impl IntoIterator<Item = KeyId>) {
        self.unresolved.extend(ids);
        self.unresolved.sort();
        self.unresolved.dedup();
    }

    /// A person's decision about an unresolved key: keyrot may manage it like any key it
    /// did not create (the next plan imports it). False when `id` is not unresolved.
    pub fn resolve(&mut self, id: &KeyId) -> bool {
        let before = self.unresolved.len();
        self.unresolved.retain(|k| k != id);
        self.unresolved.len() != before
    }

    pub fn role_of(&self, id: &KeyId) -> Option<Role> {
        self.keys().find(|(_, k)| &k.id == id).map(|(r, _)| r)
    }

    fn key_mut(&mut self, id: &KeyId) -> Option<&mut TrackedKey> {
        [self.current.as_mut(), self.previous.as_mut()]
            .into_iter()
            .flatten()
            .find(|k| &k.id == id)
    }

    /// The set after `action` succeeded at `now`. `created` is the new key for a create.
    /// Pure, so the planner's property tests and apply share one definition.
    pub fn after(&self, action: &Action, created: Option<&TrackedKey>, now: Time) -> SetState {
        let mut next = self.clone();
        let key = action.key.as_ref();
        match &action.kind {
            ActionKind::Import { role, status, born } => {
                let tracked = TrackedKey {
                    id: key.cloned().unwrap_or_else(|| KeyId(String::new())),
                    status: status.clone(),
                    born: *born,
                    status_since: now,
                    delivered: None,
                };
                match role {
                    Role::Current => {
                        // An adopted newer key takes over; the one it replaces is retired.
                        if let Some(old) = next.current.take() {
                            next.previous = Some(old);
                        }
                        next.current = Some(tracked);
                    }
                    Role::Previous => next.previous = Some(tracked),
                }
            }
            ActionKind::Refresh { status, hold } => {
                if let Some(k) = key.and_then(|id| next.key_mut(id)) {
                    k.status = status.clone();
                    k.status_since = now;
                }
                // An Active key with no current one is the current key.
                if next.current.is_none() && *status == KeyStatus::Active {
                    next.current = next.previous.take();
                }
                next.held |= *hold && next.previous.is_some();
            }
            ActionKind::Untrack | ActionKind::Delete => {
                next.unresolved.retain(|id| Some(id) != key);
                if next.current.as_ref().map(|k| &k.id) == key {
                    // The new key is gone: an Active old key is what consumers still use.
                    next.current = next.previous.take_if(|p| p.status == KeyStatus::Active);
                } else if next.previous.as_ref().map(|k| &k.id) == key {
                    next.previous = None;
                }
                if next.previous.is_none() {
                    next.held = false;
                }
            }
            ActionKind::Create => {
                if let Some(new) = created {
                    // With no current key, an Inactive leftover stays the previous key.
                    if let Some(old) = next.current.take() {
                        next.previous = Some(old);
                    }
                    next.current = Some(new.clone());
                }
            }
            ActionKind::Deactivate | ActionKind::Reactivate => {
                let status = if action.kind == ActionKind::Deactivate {
                    KeyStatus::Inactive
                } else {
                    KeyStatus::Active
                };
                if let Some(k) = key.and_then(|id| next.key_mut(id)) {
                    k.status = status;
                    k.status_since = now;
                }
                if action.kind == ActionKind::Reactivate {
                    // With no current key (a run cut off between a set's two imports, say)
                    // the key turned back on is the current one: nothing to hold it against.
                    let active = |k: &TrackedKey| k.status == KeyStatus::Active;
                    if next.current.is_none() && next.previous.as_ref().is_some_and(active) {
                        next.current = next.previous.take();
                    }
                    next.held = next.previous.is_some();
                } else {
                    // A new checkpoint: its confirm checks start afresh.
                    next.confirm.clear();
                }
            }
            // Checks change only their records (`record_checks`), never the keys.
            ActionKind::Confirm => {}
            ActionKind::Forget => return SetState::default(),
        }
        next
    }
}

/// Everything keyrot remembers between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Identifies one state's history; a plan made against another lineage is refused.
    pub lineage: String,
    /// Bumped on every write that changes content.
    pub serial: u64,
    pub sets: BTreeMap<Address, SetState>,
    /// Ids of saved plans already applied (newest last), so a plan file cannot be replayed.
    pub applied_plans: Vec<String>,
}

/// How many applied plan ids the state remembers.
pub const APPLIED_PLANS_KEPT: usize = 100;

impl State {
    pub fn new(lineage: String) -> Self {
        State {
            lineage,
            serial: 0,
            sets: BTreeMap::new(),
            applied_plans: Vec::new(),
        }
    }

    pub fn mark_applied(&mut self, plan_id: &str) {
        self.applied_plans.push(plan_id.to_string());
        let excess = self.applied_plans.len().saturating_sub(APPLIED_PLANS_KEPT);
        self.applied_plans.drain(..excess);
    }

    /// Records a successful action; `forget` drops the set.
    pub fn record(
        &mut self,
        address: &Address,
        action: &Action,
        created: Option<&TrackedKey>,
        now: Time,
    ) {
        let before = self.sets.get(address).cloned().unwrap_or_default();
        let after = before.after(action, created, now);
        if action.kind == ActionKind::Forget {
            self.sets.remove(address);
        } else {
            self.sets.insert(address.clone(), after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::{Reason, ReasonCode};

    fn key(id: &str, status: KeyStatus, at: Time) -> TrackedKey {
        TrackedKey {
            id: KeyId(id.into()),
            status,
            born: at,
            status_since: at,
            delivered: None,
        }
    }

    fn reactivate(id: &str) -> Action {
        Action {
            kind: ActionKind::Reactivate,
            key: Some(KeyId(id.into())),
            reason: Reason::new(ReasonCode::Rollback, "test"),
            frees_slot: false,
        }
    }

    #[test]
    fn reactivating_the_only_key_makes_it_current_and_holds_nothing() {
        let at: Time = "2027-01-01T00:00:00Z".parse().unwrap();
        // What a run cut off between a set's two imports leaves: an Inactive previous key.
        let set = SetState {
            previous: Some(key("AKIAOLD", KeyStatus::Inactive, at)),
            ..SetState::default()
        };
        let after = set.after(&reactivate("AKIAOLD"), None, at);
        assert_eq!(
            after.current.map(|k| (k.id.0, k.status)),
            Some(("AKIAOLD".into(), KeyStatus::Active))
        );
        assert!(after.previous.is_none() && !after.held);
        // With a current key, a reactivation is a rollback: both Active, held.
        let set = SetState {
            current: Some(key("AKIANEW", KeyStatus::Active, at)),
            previous: Some(key("AKIAOLD", KeyStatus::Inactive, at)),
            ..SetState::default()
        };
        let after = set.after(&reactivate("AKIAOLD"), None, at);
        assert!(after.held);
        assert_eq!(after.previous.map(|k| k.status), Some(KeyStatus::Active));
    }
}
