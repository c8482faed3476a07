//! Steps a person asks for — `rollback` and `resume` — as planned transitions, so apply
//! runs them through the same journal and state transitions as every planned step.

use crate::core::model::{Address, KeyStatus, Time};
use crate::core::plan::{Action, ActionKind, Plan, Reason, ReasonCode, SetPlan};
use crate::core::state::{Phase, SetState, State, TrackedKey};

/// Why a set cannot be rolled back or resumed now.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManualStepRefused {
    #[error("{0} is already rolled back and held; `keyrot resume {0}` continues the rotation")]
    AlreadyHeld(Address),
    #[error("{address} has no deactivated previous key to reactivate (phase: {}); rollback works between deactivate and delete", .phase.as_str())]
    NotAtCheckpoint { address: Address, phase: Phase },
    #[error("{0} is not held; nothing to resume")]
    NotHeld(Address),
}

/// Rollback: reactivate the set's Inactive previous key (apply then holds the rotation) —
/// at the checkpoint, or held there by a failed confirm check (`on_confirm_failure =
/// "hold"`). Returns the one-action plan and the key it reactivates.
pub fn rollback(
    state: &State,
    address: &Address,
    now: Time,
) -> Result<(Plan, TrackedKey), ManualStepRefused> {
    let set = state.sets.get(address).cloned().unwrap_or_default();
    let previous = match (set.phase(), &set.previous) {
        (Phase::Inactive, Some(p)) => p.clone(),
        (Phase::Held, Some(p)) if p.status == KeyStatus::Inactive => p.clone(),
        (Phase::Held, _) => return Err(ManualStepRefused::AlreadyHeld(address.clone())),
        (phase, _) => {
            return Err(ManualStepRefused::NotAtCheckpoint {
                address: address.clone(),
                phase,
            })
        }
    };
    let plan = Plan {
        now,
        refresh_only: false,
        password_policy: None,
        findings: Vec::new(),
        sets: vec![SetPlan {
            address: address.clone(),
            selector: None,
            phase: set.phase(),
            keys: Vec::new(),
            drift: Vec::new(),
            actions: vec![Action {
                kind: ActionKind::Reactivate,
                key: Some(previous.id.clone()),
                reason: Reason::new(ReasonCode::Rollback, "rollback requested"),
                frees_slot: false,
            }],
            waits: Vec::new(),
            checks: Vec::new(),
        }],
    };
    Ok((plan, previous))
}

/// Resume: release the hold. When consumers were put back on the previous key by the
/// rollback, that key stays current and the newer one is retired instead.
pub fn resume(
    state: &State,
    address: &Address,
    consumers_hold_previous: bool,
) -> Result<SetState, ManualStepRefused> {
    let set = state
        .sets
        .get(address)
        .filter(|s| s.held)
        .ok_or_else(|| ManualStepRefused::NotHeld(address.clone()))?;
    let mut resumed = set.clone();
    resumed.held = false;
    if consumers_hold_previous {
        std::mem::swap(&mut resumed.current, &mut resumed.previous);
    }
    Ok(resumed)
}
