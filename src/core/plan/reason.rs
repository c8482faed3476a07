//! Why an action or wait is in the plan: a stable code for machines, a sentence for people.

use serde::{Deserialize, Serialize};

/// The stable, machine-readable half of a [`Reason`]. The snake_case names are part of the
/// JSON output, the saved-plan format and the JSON schemas under `state/schema/`: renaming
/// one is a breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The set is no longer declared: keyrot forgets it.
    RemovedFromConfig,
    /// A tracked key was deleted outside keyrot.
    DeletedOutside,
    /// A tracked key's status was changed outside keyrot.
    StatusChangedOutside,
    /// A key keyrot does not track yet is adopted.
    UntrackedKey,
    /// The IAM user does not exist.
    UserMissing,
    /// A second Inactive leftover waits for a free role.
    SecondLeftover,
    /// A key an interrupted create may have made waits for a person's decision.
    UnresolvedKey,
    /// Rotation held after a rollback.
    Held,
    /// The set has no Active credential.
    NoActiveKey,
    /// `--force-rotate`.
    Forced,
    /// The current credential reached `max_age`.
    MaxAge,
    /// A certificate expires before `max_age` would rotate it.
    Expiry,
    /// The old credential has been (or must stay) Inactive for `inactive_for`.
    InactiveFor,
    /// Both credential slots are in use.
    Quota,
    /// The current credential is not Active.
    CurrentNotActive,
    /// A status keyrot does not act on.
    UnknownStatus,
    /// Both credentials stay Active for the overlap window.
    Overlap,
    /// Last-use evidence for the old key was not read.
    NoEvidence,
    /// The old key was used within `unused_for`.
    RecentlyUsed,
    /// The overlap has passed and the old key shows no recent use.
    OverlapDoneUnused,
    /// Recorded from the journal after an interruption.
    Recovered,
    /// `keyrot rollback`.
    Rollback,
    /// The set's account could not be reached (its role not assumed, its users not listed).
    AccountUnreachable,
    /// `require_new_key_use`: the new key shows no use since its delivery.
    NewKeyUnused,
    /// The set's confirm checks run (after the deactivation, while the old key is Inactive).
    ConfirmChecks,
    /// A confirm check failed: the set was reverted or held.
    ConfirmFailed,
}

impl ReasonCode {
    /// Every code, in declaration order (the JSON schemas list the same values).
    pub const ALL: [ReasonCode; 26] = [
        ReasonCode::RemovedFromConfig,
        ReasonCode::DeletedOutside,
        ReasonCode::StatusChangedOutside,
        ReasonCode::UntrackedKey,
        ReasonCode::UserMissing,
        ReasonCode::SecondLeftover,
        ReasonCode::UnresolvedKey,
        ReasonCode::Held,
        ReasonCode::NoActiveKey,
        ReasonCode::Forced,
        ReasonCode::MaxAge,
        ReasonCode::Expiry,
        ReasonCode::InactiveFor,
        ReasonCode::Quota,
        ReasonCode::CurrentNotActive,
        ReasonCode::UnknownStatus,
        ReasonCode::Overlap,
        ReasonCode::NoEvidence,
        ReasonCode::RecentlyUsed,
        ReasonCode::OverlapDoneUnused,
        ReasonCode::Recovered,
        ReasonCode::Rollback,
        ReasonCode::AccountUnreachable,
        ReasonCode::NewKeyUnused,
        ReasonCode::ConfirmChecks,
        ReasonCode::ConfirmFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::RemovedFromConfig => "removed_from_config",
            ReasonCode::DeletedOutside => "deleted_outside",
            ReasonCode::StatusChangedOutside => "status_changed_outside",
            ReasonCode::UntrackedKey => "untracked_key",
            ReasonCode::UserMissing => "user_missing",
            ReasonCode::SecondLeftover => "second_leftover",
            ReasonCode::UnresolvedKey => "unresolved_key",
            ReasonCode::Held => "held",
            ReasonCode::NoActiveKey => "no_active_key",
            ReasonCode::Forced => "forced",
            ReasonCode::MaxAge => "max_age",
            ReasonCode::Expiry => "expiry",
            ReasonCode::InactiveFor => "inactive_for",
            ReasonCode::Quota => "quota",
            ReasonCode::CurrentNotActive => "current_not_active",
            ReasonCode::UnknownStatus => "unknown_status",
            ReasonCode::Overlap => "overlap",
            ReasonCode::NoEvidence => "no_evidence",
            ReasonCode::RecentlyUsed => "recently_used",
            ReasonCode::OverlapDoneUnused => "overlap_done_unused",
            ReasonCode::Recovered => "recovered",
            ReasonCode::Rollback => "rollback",
            ReasonCode::AccountUnreachable => "account_unreachable",
            ReasonCode::NewKeyUnused => "new_key_unused",
            ReasonCode::ConfirmChecks => "confirm_checks",
            ReasonCode::ConfirmFailed => "confirm_failed",
        }
    }

    /// The code named `text`, or `None` for a name this keyrot does not know.
    pub fn parse(text: &str) -> Option<Self> {
        ReasonCode::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an action or wait is in the plan: a stable code for machines, a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

impl Reason {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Reason {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_parse_back_and_match_serde() {
        let mut names: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(code.as_str()));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ReasonCode::ALL.len());
        // Discriminants run 0..n in declaration order, so this pins ALL to every variant.
        for (i, code) in ReasonCode::ALL.iter().enumerate() {
            assert_eq!(
                *code as usize, i,
                "ALL lists the variants in declaration order"
            );
        }
        assert_eq!(ReasonCode::parse("test"), None);
        assert_eq!(ReasonCode::parse("MaxAge"), None);
    }
}
