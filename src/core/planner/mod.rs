//! The planner: a pure function of (config, live inventory, state, now) to a [`Plan`].
//!
//! Per credential set it first reconciles state with IAM (imports, drift), then takes at
//! most one lifecycle step: create → (overlap) → deactivate → (checkpoint) → delete.

use crate::core::config::{Config, SetConfig, Windows};
use crate::core::duration::humanize;
use crate::core::model::{
    Address, CredentialKind, Inventory, KeyId, KeyStatus, LastUsed, LiveKey, Time,
};
use crate::core::plan::{
    Action, ActionKind, Drift, DriftKind, KeyView, Plan, PlanOptions, Reason, ReasonCode, Role,
    SetPlan, Step, Wait,
};
use crate::core::state::{SetState, State};

/// IAM's hard limit of access keys per user, Inactive ones included.
pub const KEYS_PER_USER: usize = 2;

pub fn plan(
    config: &Config,
    inventory: &Inventory,
    state: &State,
    now: Time,
    options: &PlanOptions,
) -> Plan {
    let mut sets: Vec<SetPlan> = config
        .sets
        .values()
        .filter(|set| options.targets(&set.address))
        .map(|set| {
            let tracked = state.sets.get(&set.address);
            let force = options.force_rotate.contains(&set.address);
            plan_set(set, inventory, tracked, now, force, options.refresh_only)
        })
        .collect();
    // Sets keyrot tracks but the config no longer declares: stop managing, leave IAM alone.
    for address in state.sets.keys() {
        if !config.sets.contains_key(address) && options.targets(address) {
            sets.push(SetPlan {
                address: address.clone(),
                phase: state.sets[address].phase(),
                keys: Vec::new(),
                drift: Vec::new(),
                actions: vec![Action {
                    kind: ActionKind::Forget,
                    key: None,
                    reason: Reason::new(
                        ReasonCode::RemovedFromConfig,
                        "no longer in the config: keyrot stops tracking it; its keys stay in IAM as they are",
                    ),
                    frees_slot: false,
                }],
                waits: Vec::new(),
            });
        }
    }
    sets.sort_by(|a, b| a.address.cmp(&b.address));
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

/// Keys whose last-use evidence a decision needs: the old key of a set in overlap whose
/// overlap window has passed. The inventory reader fetches only these.
pub fn evidence_needed(config: &Config, live: &Inventory, state: &State, now: Time) -> Vec<KeyId> {
    let mut ids = Vec::new();
    for set in config.sets.values() {
        // Only access keys have last-use evidence.
        if set.address.kind != crate::core::model::CredentialKind::AccessKey {
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
            }
        }
    }
    ids.sort();
    ids
}

/// State brought in line with IAM, and the state-only actions that do it.
struct Reconciled {
    state: SetState,
    actions: Vec<Action>,
    drift: Vec<Drift>,
    /// Untracked keys with no free role (two Inactive keys and no Active one).
    unplaced: Vec<KeyId>,
}

fn reconcile(
    address: &Address,
    live: &[LiveKey],
    tracked: Option<&SetState>,
    now: Time,
) -> Reconciled {
    let managed_before = tracked.is_some_and(|s| s.current.is_some() || s.previous.is_some());
    let mut out = Reconciled {
        state: tracked.cloned().unwrap_or_default(),
        actions: Vec::new(),
        drift: Vec::new(),
        unplaced: Vec::new(),
    };
    let push = |out: &mut Reconciled, action: Action| {
        out.state = out.state.after(&action, None, now);
        out.actions.push(action);
    };

    // Tracked keys: deleted or changed outside keyrot?
    let tracked_keys: Vec<_> = out.state.keys().map(|(r, k)| (r, k.clone())).collect();
    for (role, key) in tracked_keys {
        match live.iter().find(|l| l.id == key.id) {
            None => {
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
                push(&mut out, action);
            }
            Some(l) if l.status != key.status => {
                out.drift.push(Drift {
                    key: key.id.clone(),
                    kind: DriftKind::StatusChanged {
                        from: key.status.clone(),
                        to: l.status.clone(),
                    },
                });
                // Someone turned the old key back on: treat it like a rollback, don't fight it.
                // (With no current key left, the reactivated key simply becomes current.)
                let hold = role == Role::Previous
                    && l.status == KeyStatus::Active
                    && out.state.current.is_some();
                let message = if hold {
                    format!(
                        "the previous key was reactivated outside keyrot: rotation held until `keyrot resume {address}`"
                    )
                } else {
                    format!(
                        "the {} key was set {} outside keyrot; keyrot records it and does not change it back",
                        role.as_str(),
                        l.status
                    )
                };
                let action = state_only(
                    ActionKind::Refresh {
                        status: l.status.clone(),
                        hold,
                    },
                    &key.id,
                    ReasonCode::StatusChangedOutside,
                    message,
                );
                push(&mut out, action);
            }
            Some(_) => {}
        }
    }

    // Untracked keys fill empty roles, newest first: the newest Active key is current.
    let mut untracked: Vec<&LiveKey> = live
        .iter()
        .filter(|l| out.state.role_of(&l.id).is_none())
        .collect();
    untracked.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    // A key older than the newest one keyrot tracks was there all along (a leftover that
    // waited for a free role), not made outside keyrot since.
    let newest_born = out.state.keys().map(|(_, k)| k.born).max();
    for key in untracked {
        // A newer Active key made by hand is a manual step 1: it becomes the current key
        // and the rotation goes on from there, rather than retiring a key just handed out.
        let newer_than_current = out.state.previous.is_none()
            && out
                .state
                .current
                .as_ref()
                .is_some_and(|c| c.status == KeyStatus::Active && key.created > c.born);
        let role = if key.status == KeyStatus::Active
            && (out.state.current.is_none() || newer_than_current)
        {
            Role::Current
        } else if out.state.previous.is_none() {
            Role::Previous
        } else {
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
        push(&mut out, action);
    }
    out
}

fn state_only(kind: ActionKind, key: &KeyId, code: ReasonCode, message: String) -> Action {
    Action {
        kind,
        key: Some(key.clone()),
        reason: Reason::new(code, message),
        frees_slot: false,
    }
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
        phase: tracked.map_or(crate::core::state::Phase::Empty, SetState::phase),
        keys: Vec::new(),
        drift: Vec::new(),
        actions: Vec::new(),
        waits: Vec::new(),
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
    for id in reconciled.unplaced {
        out.waits.push(Wait {
            step: Step::Blocked,
            key: Some(id),
            reason: Reason::new(
                ReasonCode::SecondLeftover,
                "another Inactive key: keyrot retires one old key at a time and adopts this one once a slot is free",
            ),
            due: None,
        });
    }
    if refresh_only {
        return out;
    }
    let life = lifecycle(&w, live, address.kind, &set.windows, inventory, now, force);
    out.actions.extend(life.actions);
    out.waits.extend(life.waits);
    out
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

#[derive(Default)]
struct Lifecycle {
    actions: Vec<Action>,
    waits: Vec<Wait>,
}

impl Lifecycle {
    fn act(&mut self, kind: ActionKind, key: Option<&KeyId>, reason: Reason) {
        self.actions.push(Action {
            kind,
            key: key.cloned(),
            reason,
            frees_slot: false,
        });
    }

    fn wait(&mut self, step: Step, key: Option<&KeyId>, reason: Reason, due: Option<Time>) {
        self.waits.push(Wait {
            step,
            key: key.cloned(),
            reason,
            due,
        });
    }
}

/// At most one lifecycle step for a reconciled set (plus a slot-freeing delete before a create).
fn lifecycle(
    w: &SetState,
    live: &[LiveKey],
    kind: CredentialKind,
    windows: &Windows,
    inventory: &Inventory,
    now: Time,
    force: bool,
) -> Lifecycle {
    let mut out = Lifecycle::default();
    let live_count = live.len();
    if w.held {
        out.wait(
            Step::Resume,
            w.previous.as_ref().map(|k| &k.id),
            Reason::new(
                ReasonCode::Held,
                "rotation held after a rollback: the previous key stays Active until `keyrot resume`",
            ),
            None,
        );
        return out;
    }

    // Does the set need a new key, and why?
    let rotation = match &w.current {
        None => Some(Reason::new(
            ReasonCode::NoActiveKey,
            format!("no Active {}: create one", kind.noun()),
        )),
        Some(c) if force => Some(Reason::new(
            ReasonCode::Forced,
            format!(
                "rotation forced with --force-rotate (age {})",
                humanize(now - c.born)
            ),
        )),
        Some(c) if c.status == KeyStatus::Active => {
            let (due, why) = rotation_due(c, live, windows);
            (now >= due).then(|| {
                why.unwrap_or_else(|| {
                    Reason::new(
                        ReasonCode::MaxAge,
                        format!(
                            "{} is {} old, max_age is {}",
                            kind.noun(),
                            humanize(now - c.born),
                            windows.max_age
                        ),
                    )
                })
            })
        }
        Some(_) => None,
    };

    // The old key moves on first: a rotation in flight finishes before another starts.
    if let Some(p) = &w.previous {
        match (&p.status, w.current.as_ref().map(|c| &c.status)) {
            (KeyStatus::Inactive, _) => {
                let due = p.status_since + windows.inactive_for.to_chrono();
                let delete_now = now >= due;
                if delete_now {
                    let reason = Reason::new(
                        ReasonCode::InactiveFor,
                        format!(
                            "Inactive for {}, inactive_for is {}",
                            humanize(now - p.status_since),
                            windows.inactive_for
                        ),
                    );
                    out.act(ActionKind::Delete, Some(&p.id), reason);
                } else {
                    out.wait(
                        Step::Delete,
                        Some(&p.id),
                        Reason::new(
                            ReasonCode::InactiveFor,
                            format!(
                                "deleted once Inactive for {}; `keyrot rollback` reactivates it until then",
                                windows.inactive_for
                            ),
                        ),
                        Some(due),
                    );
                }
                if let Some(reason) = rotation {
                    if live_count < KEYS_PER_USER {
                        out.act(ActionKind::Create, None, reason);
                    } else if delete_now {
                        if let Some(d) = out.actions.last_mut() {
                            d.frees_slot = true;
                        }
                        out.act(ActionKind::Create, None, reason);
                    } else {
                        let message = format!(
                            "{}; both key slots are in use, so the new key waits for the old one's deletion",
                            reason.message
                        );
                        out.wait(Step::Rotate, None, Reason::new(ReasonCode::Quota, message), Some(due));
                    }
                }
            }
            (KeyStatus::Active, Some(KeyStatus::Active)) => {
                deactivate_gate(&mut out, w, p, kind, windows, inventory, now);
            }
            (KeyStatus::Active, _) => out.wait(
                Step::Blocked,
                Some(&p.id),
                Reason::new(
                    ReasonCode::CurrentNotActive,
                    "the new key is not Active (changed outside keyrot) while the old key is: \
                     reactivate the new key, or delete one of them by hand",
                ),
                None,
            ),
            (other, _) => out.wait(
                Step::Blocked,
                Some(&p.id),
                Reason::new(
                    ReasonCode::UnknownStatus,
                    format!("the previous key's status `{other}` is not one keyrot acts on: it leaves this key alone"),
                ),
                None,
            ),
        }
        return out;
    }

    match (&w.current, rotation) {
        (_, Some(reason)) if live_count < KEYS_PER_USER => {
            out.act(ActionKind::Create, None, reason);
        }
        (_, Some(reason)) => out.wait(
            Step::Blocked,
            None,
            Reason::new(
                ReasonCode::Quota,
                format!(
                    "{}; but both key slots hold keys keyrot does not manage: delete one by hand \
                     (`aws iam delete-access-key`) or import it by removing it from IAM's way",
                    reason.message
                ),
            ),
            None,
        ),
        (Some(c), None) if c.status == KeyStatus::Active => {
            let (due, why) = rotation_due(c, live, windows);
            let reason = why.unwrap_or_else(|| {
                Reason::new(ReasonCode::MaxAge, format!("rotates at max_age {}", windows.max_age))
            });
            out.wait(Step::Rotate, Some(&c.id), reason, Some(due))
        }
        (Some(c), None) => out.wait(
            Step::Blocked,
            Some(&c.id),
            Reason::new(
                ReasonCode::CurrentNotActive,
                format!(
                    "the current key is {} (changed outside keyrot): reactivate it by hand, or rotate it with `--force-rotate`",
                    c.status
                ),
            ),
            None,
        ),
        (None, None) => {}
    }
    out
}

/// When the current credential falls due, and why when it is not plain max_age: a
/// certificate that would expire before max_age is rotated early enough that the new one
/// has had its full overlap before the old one expires.
fn rotation_due(
    current: &crate::core::state::TrackedKey,
    live: &[LiveKey],
    windows: &Windows,
) -> (Time, Option<Reason>) {
    let by_age = current.born + windows.max_age.to_chrono();
    let cert = live
        .iter()
        .find(|l| l.id == current.id)
        .and_then(|l| l.cert.as_ref());
    match cert {
        Some(cert) if cert.not_after - windows.overlap.to_chrono() < by_age => {
            let due = cert.not_after - windows.overlap.to_chrono();
            let reason = Reason::new(
                ReasonCode::Expiry,
                format!(
                    "certificate expires {}, before max_age {} would rotate it: rotated early, overlap {} before expiry",
                    crate::core::model::timestamp(cert.not_after),
                    windows.max_age,
                    windows.overlap
                ),
            );
            (due, Some(reason))
        }
        _ => (by_age, None),
    }
}

/// Deactivate the old key once both the overlap and the no-recent-use windows have passed.
fn deactivate_gate(
    out: &mut Lifecycle,
    w: &SetState,
    previous: &crate::core::state::TrackedKey,
    kind: CredentialKind,
    windows: &Windows,
    inventory: &Inventory,
    now: Time,
) {
    let Some(current) = &w.current else { return };
    let overlap_due = current.born + windows.overlap.to_chrono();
    if now < overlap_due {
        out.wait(
            Step::Deactivate,
            Some(&previous.id),
            Reason::new(
                ReasonCode::Overlap,
                format!(
                    "both keys stay Active for overlap {} so consumers can move to the new key",
                    windows.overlap
                ),
            ),
            Some(overlap_due),
        );
        return;
    }
    // Certificates leave no last-use evidence: the overlap window is the whole gate.
    let evidence = match kind {
        CredentialKind::AccessKey => inventory.last_used.get(&previous.id),
        CredentialKind::SigningCertificate => Some(&LastUsed::Never),
    };
    match evidence {
        None => out.wait(
            Step::Deactivate,
            Some(&previous.id),
            Reason::new(
                ReasonCode::NoEvidence,
                "last-use evidence for the old key was not read",
            ),
            None,
        ),
        Some(LastUsed::At(used)) if now < *used + windows.unused_for.to_chrono() => {
            let due = *used + windows.unused_for.to_chrono();
            let ago = humanize(now - (*used).min(now));
            out.wait(
                Step::Deactivate,
                Some(&previous.id),
                Reason::new(
                    ReasonCode::RecentlyUsed,
                    format!(
                        "the old key was used {ago} ago; it must show no use for unused_for {} (due date moves if it is used again)",
                        windows.unused_for
                    ),
                ),
                Some(due),
            );
        }
        Some(last) => {
            let evidence = match last {
                LastUsed::Never => "has never been used".to_string(),
                LastUsed::At(t) => format!("was last used {} ago", humanize(now - *t)),
            };
            let message = match kind {
                CredentialKind::AccessKey => format!(
                    "overlap {} has passed and the old key {evidence} (unused_for {})",
                    windows.overlap, windows.unused_for
                ),
                CredentialKind::SigningCertificate => format!(
                    "overlap {} has passed (IAM keeps no last-use record for certificates)",
                    windows.overlap
                ),
            };
            let reason = Reason::new(ReasonCode::OverlapDoneUnused, message);
            out.act(ActionKind::Deactivate, Some(&previous.id), reason);
        }
    }
}
