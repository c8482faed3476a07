//! Reconciling a set's state with live IAM: drift found and adopted, untracked keys
//! imported. Produces only state-only actions.

use crate::core::model::{Address, KeyId, KeyStatus, LiveKey, Time};
use crate::core::plan::{Action, ActionKind, Drift, DriftKind, Reason, ReasonCode, Role};
use crate::core::state::{SetState, TrackedKey};
use std::borrow::Cow;

/// State brought in line with IAM, and the state-only actions that do it.
pub(super) struct Reconciled<'a> {
    /// Borrowed while nothing changed (most sets of a fleet): no copy per set.
    pub(super) state: Cow<'a, SetState>,
    pub(super) actions: Vec<Action>,
    pub(super) drift: Vec<Drift>,
    /// Untracked keys with no free role (two Inactive keys and no Active one).
    pub(super) unplaced: Vec<KeyId>,
    /// Live keys marked unresolved: neither adopted nor touched until a person decides.
    pub(super) unresolved: Vec<KeyId>,
}

impl Reconciled<'_> {
    /// Records `action` and applies it to the working state, so later decisions see it.
    fn push(&mut self, action: Action, now: Time) {
        self.state = Cow::Owned(self.state.after(&action, None, now));
        self.actions.push(action);
    }
}

pub(super) fn reconcile<'a>(
    address: &Address,
    live: &[LiveKey],
    tracked: Option<&'a SetState>,
    now: Time,
) -> Reconciled<'a> {
    let managed_before = tracked.is_some_and(|s| s.current.is_some() || s.previous.is_some());
    let mut out = Reconciled {
        state: tracked.map_or_else(|| Cow::Owned(SetState::default()), Cow::Borrowed),
        actions: Vec::new(),
        drift: Vec::new(),
        unplaced: Vec::new(),
        unresolved: Vec::new(),
    };
    keep_unresolved(&mut out, live, now);
    // Tracked keys: deleted or changed outside keyrot? (Copied only when they were.)
    let drifted: Vec<_> = out
        .state
        .keys()
        .filter(|(_, k)| {
            let seen = live.iter().find(|l| l.id == k.id);
            seen.is_none_or(|l| l.status != k.status)
        })
        .map(|(r, k)| (r, k.clone()))
        .collect();
    for (role, key) in drifted {
        match live.iter().find(|l| l.id == key.id) {
            None => deleted_outside(&mut out, role, &key, now),
            Some(l) if l.status != key.status => {
                status_changed_outside(&mut out, address, role, &key, l, now)
            }
            Some(_) => {}
        }
    }
    adopt_untracked(&mut out, live, managed_before, now);
    out
}

fn deleted_outside(out: &mut Reconciled, role: Role, key: &TrackedKey, now: Time) {
    out.drift.push(Drift {
        key: key.id.clone(),
        kind: DriftKind::Deleted,
    });
    let action = state_only(
        ActionKind::Untrack,
        &key.id,
        ReasonCode::DeletedOutside,
        format!("the {} key was deleted outside keyrot", role.as_str()),
    );
    out.push(action, now);
}

fn status_changed_outside(
    out: &mut Reconciled,
    address: &Address,
    role: Role,
    key: &TrackedKey,
    live: &LiveKey,
    now: Time,
) {
    out.drift.push(Drift {
        key: key.id.clone(),
        kind: DriftKind::StatusChanged {
            from: key.status.clone(),
            to: live.status.clone(),
        },
    });
    // Someone turned the old key back on: treat it like a rollback, don't fight it.
    // (With no current key left, the reactivated key simply becomes current.)
    let hold =
        role == Role::Previous && live.status == KeyStatus::Active && out.state.current.is_some();
    let message = if hold {
        format!(
            "the previous key was reactivated outside keyrot: rotation held until `keyrot resume {address}`"
        )
    } else {
        format!(
            "the {} key was set {} outside keyrot; keyrot records it and does not change it back",
            role.as_str(),
            live.status
        )
    };
    let action = state_only(
        ActionKind::Refresh {
            status: live.status.clone(),
            hold,
        },
        &key.id,
        ReasonCode::StatusChangedOutside,
        message,
    );
    out.push(action, now);
}

/// Keys marked unresolved stay out of every role while they exist (shown as drift, waiting
/// for a person); one deleted since is forgotten.
fn keep_unresolved(out: &mut Reconciled, live: &[LiveKey], now: Time) {
    for id in out.state.unresolved.clone() {
        if live.iter().any(|l| l.id == id) {
            out.drift.push(Drift {
                key: id.clone(),
                kind: DriftKind::Appeared,
            });
            out.unresolved.push(id);
        } else {
            let action = state_only(
                ActionKind::Untrack,
                &id,
                ReasonCode::DeletedOutside,
                "the unresolved key was deleted".to_string(),
            );
            out.push(action, now);
        }
    }
}

/// Untracked keys fill empty roles, newest first: the newest Active key is current.
fn adopt_untracked(out: &mut Reconciled, live: &[LiveKey], managed_before: bool, now: Time) {
    let mut untracked: Vec<&LiveKey> = live
        .iter()
        .filter(|l| out.state.role_of(&l.id).is_none() && !out.unresolved.contains(&l.id))
        .collect();
    untracked.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    // A key older than the newest one keyrot tracks was there all along (a leftover that
    // waited for a free role), not made outside keyrot since.
    let newest_born = out.state.keys().map(|(_, k)| k.born).max();
    for key in untracked {
        let Some(role) = free_role(&out.state, key) else {
            out.unplaced.push(key.id.clone());
            continue;
        };
        if managed_before && newest_born.is_none_or(|born| key.created > born) {
            out.drift.push(Drift {
                key: key.id.clone(),
                kind: DriftKind::Appeared,
            });
        }
        let message = match role {
            Role::Current => "existing Active key adopted as the current key".to_string(),
            Role::Previous => format!(
                "existing {} key adopted as the previous key, to be retired",
                key.status
            ),
        };
        let action = state_only(
            ActionKind::Import {
                role,
                status: key.status.clone(),
                born: key.created,
            },
            &key.id,
            ReasonCode::UntrackedKey,
            message,
        );
        out.push(action, now);
    }
}

/// The role an untracked key takes, if one is free.
fn free_role(state: &SetState, key: &LiveKey) -> Option<Role> {
    // A newer Active key made by hand is a manual step 1: it becomes the current key
    // and the rotation goes on from there, rather than retiring a key just handed out.
    let newer_than_current = state.previous.is_none()
        && state
            .current
            .as_ref()
            .is_some_and(|c| c.status == KeyStatus::Active && key.created > c.born);
    if key.status == KeyStatus::Active && (state.current.is_none() || newer_than_current) {
        Some(Role::Current)
    } else if state.previous.is_none() {
        Some(Role::Previous)
    } else {
        None
    }
}

fn state_only(kind: ActionKind, key: &KeyId, code: ReasonCode, message: String) -> Action {
    Action {
        kind,
        key: Some(key.clone()),
        reason: Reason::new(code, message),
        frees_slot: false,
    }
}
