//! The planner: a pure function of (config, live inventory, state, now) to a [`Plan`].
//!
//! Per credential set it first reconciles state with IAM (imports, drift), then takes at
//! most one lifecycle step: create → (overlap) → deactivate → (checkpoint) → delete.

use crate::core::config::{Config, SetConfig};
use crate::core::model::{Address, Inventory, KeyId, KeyStatus, LiveKey, Time};
use crate::core::plan::{
    Action, ActionKind, CheckView, KeyView, Plan, PlanOptions, Reason, ReasonCode, SetPlan, Step,
    Wait,
};
use crate::core::state::{Phase, SetState, State};
use lifecycle::{lifecycle, SetFacts};
use reconcile::reconcile;

mod lifecycle;
pub mod manual;
mod reconcile;

/// IAM's hard limit of access keys per user, Inactive ones included.
pub const KEYS_PER_USER: usize = 2;

pub fn plan(
    config: &Config,
    inventory: &Inventory,
    state: &State,
    now: Time,
    options: &PlanOptions,
) -> Plan {
    let mut sets: Vec<SetPlan> = Vec::with_capacity(config.sets.len());
    let planned = config
        .sets
        .values()
        .filter(|set| options.targets(&set.address))
        .map(|set| {
            let tracked = state.sets.get(&set.address);
            if let Some(account) = unreachable(config, inventory, &set.address) {
                let phase = tracked.map_or(Phase::Empty, SetState::phase);
                let mut waiting =
                    waiting_for_account(&set.address, set.selector.clone(), phase, account);
                // Its checks' last results are the state's, shown while the account is away.
                waiting.checks = check_views(set, tracked);
                return waiting;
            }
            let force = options.force_rotate.contains(&set.address);
            plan_set(set, inventory, tracked, now, force, options.refresh_only)
        });
    sets.extend(planned);
    sets.extend(untracked_by_config(config, inventory, state, options));
    // Usually sorted already (the config's sets are): no sort of 100,000 sets then.
    if !sets.is_sorted_by(|a, b| a.address <= b.address) {
        sets.sort_by(|a, b| a.address.cmp(&b.address));
    }
    // The policy is account-wide: planned unless the plan is narrowed to some sets.
    let password_policy = match (&config.password_policy, &inventory.password_policy) {
        (Some(spec), Some(live)) if !options.refresh_only && options.targets.is_empty() => {
            crate::core::policy::plan(live.as_ref(), spec)
        }
        _ => None,
    };
    Plan {
        now,
        refresh_only: options.refresh_only,
        sets,
        password_policy,
        findings: Vec::new(),
    }
}

/// Sets keyrot tracks but the config no longer declares: stop managing, leave IAM alone.
/// Not on a guess: selectors not yet expanded, or an account that could not be read or
/// listed, cannot tell what they no longer choose; such sets wait.
fn untracked_by_config(
    config: &Config,
    inventory: &Inventory,
    state: &State,
    options: &PlanOptions,
) -> Vec<SetPlan> {
    let known = config.selectors.is_empty() || config.selection.is_some();
    let why = if config.selectors.is_empty() {
        "no longer in the config: keyrot stops tracking it; its keys stay in IAM as they are"
    } else {
        "no longer declared by a `user` block nor chosen by a selector (tag, path or name changed, \
         or the user is gone): keyrot stops tracking it; its keys stay in IAM as they are"
    };
    let mut sets = Vec::new();
    if !known {
        return sets;
    }
    // Both maps are sorted by address: one walk along the config's finds which tracked
    // sets it declares, rather than a lookup per set.
    let mut declared = config.sets.keys().peekable();
    for (address, tracked) in &state.sets {
        while declared.next_if(|d| *d < address).is_some() {}
        if declared.next_if_eq(&address).is_some() || !options.targets(address) {
            continue;
        }
        if let Some(account) = unreachable(config, inventory, address) {
            sets.push(waiting_for_account(address, None, tracked.phase(), account));
            continue;
        }
        sets.push(SetPlan {
            address: address.clone(),
            selector: None,
            phase: tracked.phase(),
            keys: Vec::new(),
            drift: Vec::new(),
            actions: vec![Action {
                kind: ActionKind::Forget,
                key: None,
                reason: Reason::new(ReasonCode::RemovedFromConfig, why),
                frees_slot: false,
            }],
            waits: Vec::new(),
            checks: Vec::new(),
        });
    }
    sets
}

/// The set's account, when it could not be read or its users not listed.
fn unreachable<'a>(
    config: &Config,
    inventory: &Inventory,
    address: &'a Address,
) -> Option<&'a str> {
    let account = address.account()?;
    let unlisted = config
        .selection
        .as_ref()
        .is_some_and(|s| s.unlisted.contains_key(account));
    (unlisted || inventory.unreachable.contains_key(account)).then_some(account)
}

/// A set whose account could not be reached: it waits, and the others go on. The reason
/// stays the same whatever the error said (the CLI shows the error), so a saved plan
/// re-derives to the same plan.
fn waiting_for_account(
    address: &Address,
    selector: Option<String>,
    phase: Phase,
    account: &str,
) -> SetPlan {
    let reason = Reason::new(
        ReasonCode::AccountUnreachable,
        format!(
            "account {account} could not be reached (its role not assumed, or its users or keys not read): \
             this set waits and the others go on; fix the role (see the error above) and plan again"
        ),
    );
    SetPlan {
        address: address.clone(),
        selector,
        phase,
        keys: Vec::new(),
        drift: Vec::new(),
        actions: Vec::new(),
        waits: vec![Wait {
            step: Step::Blocked,
            key: None,
            reason,
            due: None,
        }],
        checks: Vec::new(),
    }
}

/// Keys whose last-use evidence a decision needs: the old key of a set in overlap whose
/// overlap window has passed. The inventory reader fetches only these.
pub fn evidence_needed(config: &Config, live: &Inventory, state: &State, now: Time) -> Vec<KeyId> {
    let mut ids = Vec::new();
    for set in config.sets.values() {
        if !set.address.kind.has_last_use() {
            continue;
        }
        let Some(keys) = live.credentials(&set.address) else {
            continue;
        };
        let reconciled = reconcile(&set.address, keys, state.sets.get(&set.address), now);
        let w = &reconciled.state;
        if let (Some(c), Some(p)) = (&w.current, &w.previous) {
            let overlap_done = now >= c.born + set.windows.overlap.to_chrono();
            if !w.held
                && c.status == KeyStatus::Active
                && p.status == KeyStatus::Active
                && overlap_done
            {
                ids.push(p.id.clone());
                if set.require_new_key_use {
                    ids.push(c.id.clone());
                }
            }
        }
    }
    ids.sort();
    ids
}

fn plan_set(
    set: &SetConfig,
    inventory: &Inventory,
    tracked: Option<&SetState>,
    now: Time,
    force: bool,
    refresh_only: bool,
) -> SetPlan {
    let address = &set.address;
    let live = inventory.credentials(address);
    let mut out = SetPlan {
        address: address.clone(),
        selector: set.selector.clone(),
        phase: tracked.map_or(Phase::Empty, SetState::phase),
        keys: Vec::new(),
        drift: Vec::new(),
        actions: Vec::new(),
        waits: Vec::new(),
        checks: check_views(set, tracked),
    };
    let Some(live) = live else {
        out.waits.push(Wait {
            step: Step::Blocked,
            key: None,
            reason: Reason::new(
                ReasonCode::UserMissing,
                format!(
                    "IAM user `{}` does not exist: create it first (keyrot manages credentials, not users)",
                    address.user
                ),
            ),
            due: None,
        });
        return out;
    };

    let reconciled = reconcile(address, live, tracked, now);
    let w = reconciled.state;
    out.keys = key_views(live, &w, inventory);
    out.drift = reconciled.drift;
    out.actions = reconciled.actions;
    out.waits = blocked_waits(address, reconciled.unresolved, reconciled.unplaced);
    if refresh_only {
        return out;
    }
    let facts = SetFacts {
        w: &w,
        live,
        kind: address.kind,
        windows: &set.windows,
        new_key_use: set.require_new_key_use,
        confirm: &set.confirm,
        inventory,
        now,
    };
    let life = lifecycle(&facts, force);
    append(&mut out.actions, life.actions);
    append(&mut out.waits, life.waits);
    out
}

/// `more` after `items`, reusing `more`'s allocation when `items` is empty (as it is for
/// most sets).
fn append<T>(items: &mut Vec<T>, mut more: Vec<T>) {
    if items.is_empty() {
        *items = more;
    } else {
        items.append(&mut more);
    }
}

/// The set's confirm checks, each with its latest recorded run (matched by definition).
fn check_views(set: &SetConfig, tracked: Option<&SetState>) -> Vec<CheckView> {
    let records = tracked.map_or(&[][..], |t| &t.confirm[..]);
    set.confirm
        .checks
        .iter()
        .map(|check| {
            let fingerprint = check.fingerprint();
            CheckView {
                check: check.describe(),
                last: records
                    .iter()
                    .find(|r| r.fingerprint == fingerprint)
                    .cloned(),
            }
        })
        .collect()
}

fn key_views(live: &[LiveKey], w: &SetState, inventory: &Inventory) -> Vec<KeyView> {
    let mut views: Vec<KeyView> = live
        .iter()
        .map(|l| {
            let tracked = w.keys().find(|(_, k)| k.id == l.id);
            KeyView {
                id: l.id.clone(),
                role: tracked.map(|(r, _)| r),
                status: l.status.clone(),
                born: tracked.map_or(l.created, |(_, k)| k.born),
                cert: l.cert.clone(),
                last_used: inventory.last_used.get(&l.id).cloned(),
            }
        })
        .collect();
    views.sort_by(|a, b| a.born.cmp(&b.born).then(a.id.cmp(&b.id)));
    views
}

/// Keys that wait for a person (unresolved) or for a free role (a second leftover).
fn blocked_waits(address: &Address, unresolved: Vec<KeyId>, unplaced: Vec<KeyId>) -> Vec<Wait> {
    let blocked = |id: KeyId, reason| Wait {
        step: Step::Blocked,
        key: Some(id),
        reason,
        due: None,
    };
    let unresolved = unresolved.into_iter().map(|id| {
        let reason = Reason::new(
            ReasonCode::UnresolvedKey,
            format!(
                "an interrupted create may have made this key, but it could not be proven undelivered: \
                 delete it by hand if no one uses it, or `keyrot import {address} KEY_ID` to manage it \
                 (the full id from `aws iam list-access-keys`)"
            ),
        );
        blocked(id, reason)
    });
    let unplaced = unplaced.into_iter().map(|id| {
        let reason = Reason::new(
            ReasonCode::SecondLeftover,
            "another Inactive key: keyrot retires one old key at a time and adopts this one once a slot is free",
        );
        blocked(id, reason)
    });
    unresolved.chain(unplaced).collect()
}
