//! The rotation state machine for one reconciled set: at most one lifecycle step
//! (create → overlap → deactivate → checkpoint → delete) per plan.

use super::KEYS_PER_USER;
use crate::core::config::{Confirm, OnConfirmFailure, Windows};
use crate::core::duration::humanize;
use crate::core::model::{CredentialKind, Inventory, KeyId, KeyStatus, LastUsed, LiveKey, Time};
use crate::core::plan::{Action, ActionKind, Reason, ReasonCode, Step, Wait};
use crate::core::state::{SetState, TrackedKey};

/// What every lifecycle decision for one set reads.
pub(super) struct SetFacts<'a> {
    /// The set's state, reconciled with IAM.
    pub(super) w: &'a SetState,
    pub(super) live: &'a [LiveKey],
    pub(super) kind: CredentialKind,
    pub(super) windows: &'a Windows,
    /// The old key waits for the new one to be seen in use (`require_new_key_use`).
    pub(super) new_key_use: bool,
    pub(super) confirm: &'a Confirm,
    pub(super) inventory: &'a Inventory,
    pub(super) now: Time,
}

#[derive(Default)]
pub(super) struct Lifecycle {
    pub(super) actions: Vec<Action>,
    pub(super) waits: Vec<Wait>,
}

impl Lifecycle {
    fn act(&mut self, kind: ActionKind, key: Option<&KeyId>, reason: Reason) {
        // Most sets take one step or wait for one: room for one, not the default four
        // (a fleet's plan holds 100,000 of these lists).
        self.actions.reserve_exact(1);
        self.actions.push(Action {
            kind,
            key: key.cloned(),
            reason,
            frees_slot: false,
        });
    }

    fn wait(&mut self, step: Step, key: Option<&KeyId>, reason: Reason, due: Option<Time>) {
        self.waits.reserve_exact(1);
        self.waits.push(Wait {
            step,
            key: key.cloned(),
            reason,
            due,
        });
    }
}

/// At most one lifecycle step for a reconciled set (plus a slot-freeing delete before a create).
pub(super) fn lifecycle(s: &SetFacts, force: bool) -> Lifecycle {
    let mut out = Lifecycle::default();
    if s.w.held {
        let reason = held_reason(s);
        out.wait(
            Step::Resume,
            s.w.previous.as_ref().map(|k| &k.id),
            reason,
            None,
        );
        return out;
    }
    let rotation = rotation_reason(s, force);
    // The old key moves on first: a rotation in flight finishes before another starts.
    match &s.w.previous {
        Some(previous) => retire_previous(&mut out, s, previous, rotation),
        None => rotate_current(&mut out, s, rotation),
    }
    out
}

/// Does the set need a new key, and why?
fn rotation_reason(s: &SetFacts, force: bool) -> Option<Reason> {
    let (kind, now) = (s.kind, s.now);
    match &s.w.current {
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
            let (due, why) = rotation_due(c, s.live, s.windows);
            (now >= due).then(|| {
                why.unwrap_or_else(|| {
                    Reason::new(
                        ReasonCode::MaxAge,
                        format!(
                            "{} is {} old, max_age is {}",
                            kind.noun(),
                            humanize(now - c.born),
                            s.windows.max_age
                        ),
                    )
                })
            })
        }
        Some(_) => None,
    }
}

/// The set has an old key: move it on (delete, deactivate) or say why it waits.
fn retire_previous(out: &mut Lifecycle, s: &SetFacts, p: &TrackedKey, rotation: Option<Reason>) {
    match (&p.status, s.w.current.as_ref().map(|c| &c.status)) {
        (KeyStatus::Inactive, _) => delete_inactive(out, s, p, rotation),
        (KeyStatus::Active, Some(KeyStatus::Active)) => deactivate_gate(out, s, p),
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
}

/// Delete the Inactive old key after `inactive_for`; a due rotation creates alongside,
/// or right after the delete frees a slot, or waits for it.
fn delete_inactive(out: &mut Lifecycle, s: &SetFacts, p: &TrackedKey, rotation: Option<Reason>) {
    let (windows, now) = (s.windows, s.now);
    let due = p.status_since + windows.inactive_for.to_chrono();
    let delete_now = now >= due;
    let checked = !s.confirm.checks.is_empty();
    if checked {
        // Every apply at the checkpoint runs the checks; a delete runs after them.
        let then = if delete_now {
            "the delete below runs only if all pass"
        } else {
            "each apply runs them again until the delete"
        };
        let message = format!("{}: {then}", checks_sentence(s.confirm));
        out.act(
            ActionKind::Confirm,
            Some(&p.id),
            Reason::new(ReasonCode::ConfirmChecks, message),
        );
    }
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
    let Some(reason) = rotation else { return };
    if s.live.len() < KEYS_PER_USER {
        out.act(ActionKind::Create, None, reason);
    } else if delete_now && !checked {
        if let Some(d) = out.actions.last_mut() {
            d.frees_slot = true;
        }
        out.act(ActionKind::Create, None, reason);
    } else {
        // With checks, a slot-freeing delete would run before them: the create waits a run.
        let then = if delete_now {
            "is created by the next apply, once this run's confirm checks passed and the old \
             key is deleted"
        } else {
            "waits for the old one's deletion"
        };
        let message = format!(
            "{}; both key slots are in use, so the new key {then}",
            reason.message
        );
        out.wait(
            Step::Rotate,
            None,
            Reason::new(ReasonCode::Quota, message),
            Some(due),
        );
    }
}

/// No old key: create when due and a slot is free, else say when or why not.
fn rotate_current(out: &mut Lifecycle, s: &SetFacts, rotation: Option<Reason>) {
    match (&s.w.current, rotation) {
        (_, Some(reason)) if s.live.len() < KEYS_PER_USER => {
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
            let (due, why) = rotation_due(c, s.live, s.windows);
            let reason = why.unwrap_or_else(|| {
                Reason::new(
                    ReasonCode::MaxAge,
                    format!("rotates at max_age {}", s.windows.max_age),
                )
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
}

/// When the current credential falls due, and why when it is not plain max_age: a
/// certificate that would expire before max_age is rotated early enough that the new one
/// has had its full overlap before the old one expires.
fn rotation_due(
    current: &TrackedKey,
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
fn deactivate_gate(out: &mut Lifecycle, s: &SetFacts, previous: &TrackedKey) {
    let (w, kind, windows, inventory, now) = (s.w, s.kind, s.windows, s.inventory, s.now);
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
    if s.new_key_use && kind.has_last_use() && !new_key_used(out, s, current, previous) {
        return;
    }
    // A kind with no last-use record (certificates): the overlap window is the whole gate.
    let evidence = if kind.has_last_use() {
        inventory.last_used.get(&previous.id)
    } else {
        Some(&LastUsed::Never)
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
            let message = if kind.has_last_use() {
                format!(
                    "overlap {} has passed and the old key {evidence} (unused_for {})",
                    windows.overlap, windows.unused_for
                )
            } else {
                format!(
                    "overlap {} has passed (IAM keeps no last-use record for {}s)",
                    windows.overlap,
                    kind.short_noun()
                )
            };
            let reason = Reason::new(ReasonCode::OverlapDoneUnused, message);
            out.act(ActionKind::Deactivate, Some(&previous.id), reason);
            if !s.confirm.checks.is_empty() {
                let message = format!(
                    "{}, right after the deactivation",
                    checks_sentence(s.confirm)
                );
                out.act(
                    ActionKind::Confirm,
                    Some(&previous.id),
                    Reason::new(ReasonCode::ConfirmChecks, message),
                );
            }
        }
    }
}

/// `require_new_key_use`: has the new key been used since its delivery? If not (or its
/// last use was not read), the deactivation waits and this says why.
fn new_key_used(
    out: &mut Lifecycle,
    s: &SetFacts,
    current: &TrackedKey,
    previous: &TrackedKey,
) -> bool {
    let since = current
        .delivered
        .map(|d| {
            format!(
                " since its delivery at {}",
                crate::core::model::timestamp(d)
            )
        })
        .unwrap_or_default();
    let reason = match s.inventory.last_used.get(&current.id) {
        Some(used) if current.used_since_delivery(used) => return true,
        Some(_) => Reason::new(
            ReasonCode::NewKeyUnused,
            format!(
                "new key {} not used{since}: the old key stays Active until a consumer uses \
                 the new one (require_new_key_use)",
                current.id.masked()
            ),
        ),
        None => Reason::new(
            ReasonCode::NoEvidence,
            "last-use evidence for the new key was not read",
        ),
    };
    out.wait(Step::Deactivate, Some(&previous.id), reason, None);
    false
}

/// "runs 2 confirm checks (exec ./smoke-test, http https://app); if one fails: …".
fn checks_sentence(confirm: &Confirm) -> String {
    let names: Vec<String> = confirm.checks.iter().map(|c| c.describe()).collect();
    let then = match confirm.on_failure {
        OnConfirmFailure::Rollback => "the old key is reactivated and the set held",
        OnConfirmFailure::Hold => "the set is held with the old key Inactive",
    };
    format!(
        "runs {} confirm check(s) ({}); if one fails {then}",
        names.len(),
        names.join(", ")
    )
}

/// Why a held set waits: a person's rollback, or a failed confirm check (which needs a
/// person to look before `resume`).
fn held_reason(s: &SetFacts) -> Reason {
    let failed: Vec<String> =
        s.w.failed_checks()
            .map(|c| format!("{} at {}", c.check, crate::core::model::timestamp(c.ran)))
            .collect();
    if failed.is_empty() {
        return Reason::new(
            ReasonCode::Held,
            "rotation held after a rollback: the previous key stays Active until `keyrot resume`",
        );
    }
    let old_key = match s.w.previous.as_ref().map(|p| &p.status) {
        Some(KeyStatus::Active) => "the old key was reactivated",
        _ => "the old key stays Inactive",
    };
    Reason::new(
        ReasonCode::ConfirmFailed,
        format!(
            "held: confirm check failed ({}); {old_key}. `keyrot status` shows the output; fix \
             the cause, then `keyrot resume` (or `keyrot rollback` to reactivate the old key)",
            failed.join(", ")
        ),
    )
}
