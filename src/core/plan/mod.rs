//! The plan model that every renderer and `apply` share.
//!
//! Reasons and drift descriptions are display-only: apply reads only `kind` and `key`.

mod reason;
pub mod saved;

pub use reason::{Reason, ReasonCode};

use crate::core::model::{Address, KeyId, KeyStatus, Time};
use crate::core::state::{CheckRecord, Phase};

/// How a plan is shaped: which sets, which rotations are forced, refresh only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Only these sets (all when empty).
    pub targets: Vec<Address>,
    /// Rotate these sets now whatever the age.
    pub force_rotate: Vec<Address>,
    /// Only adopt out-of-band changes into state; plan nothing for IAM.
    pub refresh_only: bool,
}

impl PlanOptions {
    /// True when the plan covers `address`.
    pub(crate) fn targets(&self, address: &Address) -> bool {
        self.targets.is_empty() || self.targets.contains(address)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Current,
    Previous,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Current => "current",
            Role::Previous => "previous",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// State only: start tracking a key that exists in IAM.
    Import {
        role: Role,
        status: KeyStatus,
        born: Time,
    },
    /// State only: record a status changed outside keyrot; `hold` pauses the rotation.
    Refresh {
        status: KeyStatus,
        hold: bool,
    },
    /// State only: stop tracking a key deleted outside keyrot.
    Untrack,
    /// State only: stop managing a set removed from the config; IAM is left as it is.
    Forget,
    Create,
    Deactivate,
    Reactivate,
    /// Run the set's confirm checks (after a deactivation, and while the old key is
    /// Inactive); a failure reverts or holds the set in the same run. Changes no key.
    Confirm,
    Delete,
}

impl ActionKind {
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Import { .. } => "import",
            ActionKind::Refresh { .. } => "refresh",
            ActionKind::Untrack => "untrack",
            ActionKind::Forget => "forget",
            ActionKind::Create => "create",
            ActionKind::Deactivate => "deactivate",
            ActionKind::Reactivate => "reactivate",
            ActionKind::Confirm => "confirm",
            ActionKind::Delete => "delete",
        }
    }

    /// True when the action touches IAM; the others only change keyrot's state.
    pub fn mutates_iam(&self) -> bool {
        matches!(
            self,
            ActionKind::Create
                | ActionKind::Deactivate
                | ActionKind::Reactivate
                | ActionKind::Delete
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    /// The key acted on; `None` for a create (the id is not known yet) and forget.
    pub key: Option<KeyId>,
    pub reason: Reason,
    /// A delete that makes room for a create in the same plan, so it runs before creates.
    pub frees_slot: bool,
}

impl Action {
    /// Execution order across the whole plan: state-only adoption, slot-freeing deletes,
    /// creates, deactivations, confirm checks, deletions (so a delete follows its checks).
    pub fn stage(&self) -> u8 {
        match self.kind {
            ActionKind::Import { .. }
            | ActionKind::Refresh { .. }
            | ActionKind::Untrack
            | ActionKind::Forget => 0,
            ActionKind::Delete if self.frees_slot => 1,
            ActionKind::Create => 2,
            ActionKind::Deactivate | ActionKind::Reactivate => 3,
            ActionKind::Confirm => 4,
            ActionKind::Delete => 5,
        }
    }
}

/// The next lifecycle step a set is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Replace the current key with a new one.
    Rotate,
    Deactivate,
    Delete,
    /// Nothing will happen until a person acts (the reason says what to do).
    Blocked,
    /// Held by rollback until `keyrot resume`.
    Resume,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Rotate => "rotate",
            Step::Deactivate => "deactivate",
            Step::Delete => "delete",
            Step::Blocked => "blocked",
            Step::Resume => "resume",
        }
    }
}

impl Wait {
    /// A step no window will release: blocked (a second Inactive leftover is blocked only
    /// until the planned deletion frees a slot), or held by a failed confirm check.
    pub fn needs_a_person(&self) -> bool {
        match self.step {
            Step::Blocked => self.reason.code != ReasonCode::SecondLeftover,
            Step::Resume => self.reason.code == ReasonCode::ConfirmFailed,
            _ => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub step: Step,
    pub key: Option<KeyId>,
    pub reason: Reason,
    /// When the step falls due if nothing else changes; `None` when a person must act.
    pub due: Option<Time>,
}

/// A change made outside keyrot, found by comparing state with live IAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriftKind {
    Deleted,
    StatusChanged {
        from: KeyStatus,
        to: KeyStatus,
    },
    /// A key keyrot did not create appeared while the set was already managed.
    Appeared,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub key: KeyId,
    pub kind: DriftKind,
}

/// A key as the plan saw it, for before/after tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyView {
    pub id: KeyId,
    pub role: Option<Role>,
    pub status: KeyStatus,
    pub born: Time,
    /// Signing certificates: subject, expiry, fingerprint.
    pub cert: Option<crate::core::model::CertInfo>,
    /// Last use, where the plan read it (the old key of a set in overlap).
    pub last_used: Option<crate::core::model::LastUsed>,
}

/// One confirm check of a set, with its latest recorded run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckView {
    /// How the check is named (`exec ./smoke-test`, `http https://app.internal`).
    pub check: String,
    /// The latest run of exactly this check since the old key was last deactivated.
    pub last: Option<CheckRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetPlan {
    pub address: Address,
    /// The selector (`users` block) that chose this set; `None` for a `user` block, and for
    /// a set no longer declared.
    pub selector: Option<String>,
    pub phase: Phase,
    /// Live keys of the user as seen by this plan, oldest first.
    pub keys: Vec<KeyView>,
    pub drift: Vec<Drift>,
    pub actions: Vec<Action>,
    pub waits: Vec<Wait>,
    /// The set's confirm checks in config order, with their latest results.
    pub checks: Vec<CheckView>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub now: Time,
    pub refresh_only: bool,
    pub sets: Vec<SetPlan>,
    /// The account password policy change, when the config manages it and it differs.
    pub password_policy: Option<crate::core::policy::PolicyPlan>,
    /// Credential-report findings for the declared users. Display only: never applied.
    pub findings: Vec<crate::core::audit::Finding>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub import: usize,
    pub create: usize,
    pub deactivate: usize,
    pub reactivate: usize,
    pub delete: usize,
    /// Refresh, untrack and forget: state-only changes.
    pub state_only: usize,
    /// Sets whose confirm checks run in this apply.
    pub confirm: usize,
    /// Steps that fall due by themselves (a window passes).
    pub waiting: usize,
    /// Sets that cannot go on until a person acts (a missing user, a key changed by hand,
    /// both slots held by keys keyrot does not manage, an unresolved key, a failed confirm
    /// check): error-level.
    pub blocked: usize,
    /// 1 when the account password policy changes.
    pub policy: usize,
}

impl Summary {
    pub fn has_actions(&self) -> bool {
        self.import
            + self.create
            + self.deactivate
            + self.reactivate
            + self.delete
            + self.state_only
            + self.confirm
            + self.policy
            > 0
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            policy: usize::from(self.password_policy.is_some()),
            ..Summary::default()
        };
        for set in &self.sets {
            for w in &set.waits {
                if w.needs_a_person() {
                    s.blocked += 1;
                } else {
                    s.waiting += 1;
                }
            }
            for a in &set.actions {
                match a.kind {
                    ActionKind::Import { .. } => s.import += 1,
                    ActionKind::Create => s.create += 1,
                    ActionKind::Deactivate => s.deactivate += 1,
                    ActionKind::Reactivate => s.reactivate += 1,
                    ActionKind::Confirm => s.confirm += 1,
                    ActionKind::Delete => s.delete += 1,
                    ActionKind::Refresh { .. } | ActionKind::Untrack | ActionKind::Forget => {
                        s.state_only += 1
                    }
                }
            }
        }
        s
    }

    /// (set index, action index) in the order apply runs them.
    pub fn execution_order(&self) -> Vec<(usize, usize)> {
        let mut order: Vec<(u8, usize, usize)> = self
            .sets
            .iter()
            .enumerate()
            .flat_map(|(si, set)| {
                set.actions
                    .iter()
                    .enumerate()
                    .map(move |(ai, a)| (a.stage(), si, ai))
            })
            .collect();
        order.sort();
        order.into_iter().map(|(_, si, ai)| (si, ai)).collect()
    }

    pub fn drift_count(&self) -> usize {
        self.sets.iter().map(|s| s.drift.len()).sum()
    }
}

/// One key slot as a before/after table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// `None` for a key that a create will make (its id is known only after apply).
    pub id: Option<KeyId>,
    pub status: KeyStatus,
}

impl SetPlan {
    pub fn slots_before(&self) -> Vec<Slot> {
        self.keys
            .iter()
            .map(|k| Slot {
                id: Some(k.id.clone()),
                status: k.status.clone(),
            })
            .collect()
    }

    /// Each key slot before and after this set's actions: `(Some, None)` is a delete,
    /// `(None, Some)` a create.
    pub fn slot_rows(&self) -> Vec<(Option<Slot>, Option<Slot>)> {
        let mut rows: Vec<(Option<Slot>, Option<Slot>)> = self
            .slots_before()
            .into_iter()
            .map(|s| (Some(s.clone()), Some(s)))
            .collect();
        let mut ordered: Vec<&Action> = self.actions.iter().collect();
        ordered.sort_by_key(|a| a.stage());
        for a in ordered {
            let row = rows.iter_mut().find(|(b, _)| {
                b.as_ref().and_then(|s| s.id.as_ref()) == a.key.as_ref() && a.key.is_some()
            });
            match (&a.kind, row) {
                (ActionKind::Create, _) => rows.push((
                    None,
                    Some(Slot {
                        id: None,
                        status: KeyStatus::Active,
                    }),
                )),
                (ActionKind::Deactivate, Some((_, Some(after)))) => {
                    after.status = KeyStatus::Inactive
                }
                (ActionKind::Reactivate, Some((_, Some(after)))) => {
                    after.status = KeyStatus::Active
                }
                (ActionKind::Delete, Some((_, after))) => *after = None,
                _ => {}
            }
        }
        rows
    }

    /// The user's keys as they will be once this set's actions have run.
    pub fn slots_after(&self) -> Vec<Slot> {
        self.slot_rows()
            .into_iter()
            .filter_map(|(_, a)| a)
            .collect()
    }

    pub fn changes_iam(&self) -> bool {
        self.actions.iter().any(|a| a.kind.mutates_iam())
    }
}

impl Plan {
    /// Stable labels for PR bots (e.g. to label the pull request).
    pub fn labels(&self) -> Vec<&'static str> {
        let s = self.summary();
        let mut labels = Vec::new();
        if !s.has_actions() {
            labels.push("no-changes");
        }
        if s.import > 0 {
            labels.push("has-imports");
        }
        if s.create > 0 {
            labels.push("has-creates");
        }
        if s.deactivate + s.reactivate > 0 {
            labels.push("has-status-changes");
        }
        if s.delete > 0 {
            labels.push("has-deletes");
        }
        if s.confirm > 0 {
            labels.push("has-checks");
        }
        if self.drift_count() > 0 {
            labels.push("has-drift");
        }
        if s.waiting > 0 {
            labels.push("has-waits");
        }
        if self.password_policy.is_some() {
            labels.push("has-policy-change");
        }
        if self.refresh_only {
            labels.push("refresh-only");
        }
        labels
    }
}
