//! The saved-plan file format (format_version 1): versioned DTOs kept apart from the
//! in-memory plan types, so either can change without silently changing the other.

use super::{last_used_serde, Facts, PlanFileError};
use crate::core::model::{Address, KeyId, KeyStatus, Time};
use crate::core::plan::Role;
use crate::core::policy::PasswordPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFileDto {
    pub(super) format_version: String,
    pub(super) kind: String,
    pub(super) plan_id: String,
    #[serde(with = "crate::core::model::instant")]
    pub(super) created: Time,
    #[serde(with = "crate::core::model::instant")]
    pub(super) now: Time,
    pub(super) refresh_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) targets: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) force_rotate: Vec<Address>,
    pub(super) prior_state: PriorDto,
    pub(super) config_digest: String,
    pub(super) iam_facts: Facts,
    /// Selector → the users it chose: IAM facts too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) selections: BTreeMap<String, Vec<String>>,
    pub(super) credential_sets: Vec<SetDto>,
    /// The password policy change; its `before` is also the live fact it was based on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) password_policy: Option<PolicyDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyDto {
    pub(super) action: String,
    pub(super) before: Option<PasswordPolicy>,
    pub(super) after: Option<PasswordPolicy>,
    pub(super) fields: Vec<FieldDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FieldDto {
    pub(super) field: String,
    pub(super) before: Option<String>,
    pub(super) after: Option<String>,
    pub(super) resets: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriorDto {
    pub(super) lineage: String,
    pub(super) serial: u64,
    /// The S3 backend's bucket and key; absent for the local state file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) backend: Option<super::BackendId>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SetDto {
    pub(super) address: Address,
    /// The selector that chose the set, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) selector: Option<String>,
    pub(super) phase: String,
    pub(super) keys: Vec<KeyDto>,
    pub(super) drift: Vec<DriftDto>,
    pub(super) actions: Vec<ActionDto>,
    pub(super) waits: Vec<WaitDto>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) checks: Vec<CheckDto>,
}

/// A confirm check and its latest recorded run.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckDto {
    pub(super) check: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last: Option<CheckRunDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckRunDto {
    pub(super) fingerprint: String,
    #[serde(with = "crate::core::model::instant")]
    pub(super) ran: Time,
    pub(super) passed: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::core::model::instant::option"
    )]
    pub(super) last_passed: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) output: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyDto {
    pub(super) key_id: KeyId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) role: Option<String>,
    pub(super) status: KeyStatus,
    #[serde(with = "crate::core::model::instant")]
    pub(super) born: Time,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) certificate: Option<CertDto>,
    /// `never` or a time, where the plan read it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        with = "last_used_serde"
    )]
    pub(super) last_used: Option<Option<Time>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CertDto {
    pub(super) subject: String,
    #[serde(with = "crate::core::model::instant")]
    pub(super) not_after: Time,
    pub(super) fingerprint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DriftDto {
    pub(super) key_id: KeyId,
    pub(super) change: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) from: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) to: Option<KeyStatus>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActionDto {
    pub(super) action: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) key_id: Option<KeyId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) status: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[serde(with = "crate::core::model::instant::option")]
    pub(super) born: Option<Time>,
    #[serde(default)]
    pub(super) hold: bool,
    #[serde(default)]
    pub(super) frees_slot: bool,
    pub(super) reason_code: String,
    pub(super) reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WaitDto {
    pub(super) step: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(super) key_id: Option<KeyId>,
    #[serde(with = "crate::core::model::instant::option")]
    pub(super) due: Option<Time>,
    pub(super) reason_code: String,
    pub(super) reason: String,
}

pub(super) fn role_name(r: Role) -> String {
    r.as_str().to_string()
}

pub(super) fn parse_role(text: Option<&str>) -> Result<Role, PlanFileError> {
    match text {
        Some("current") => Ok(Role::Current),
        Some("previous") => Ok(Role::Previous),
        other => Err(PlanFileError::Invalid(format!(
            "unknown key role {other:?}"
        ))),
    }
}
