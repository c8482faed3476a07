//! Saved plans (`plan -out FILE`): a versioned on-disk DTO of a [`Plan`] plus what it was
//! based on — prior state lineage/serial, a config digest and a fingerprint of the live IAM
//! facts — so `apply FILE` can refuse a plan the world has moved away from. Pure.

use crate::core::config::Chosen;
use crate::core::model::{Address, Inventory, KeyId, KeyStatus, LastUsed, Time};
use crate::core::plan::{Plan, PlanOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod dto;
mod read;
mod write;

pub const FORMAT_VERSION: &str = "1";
const KIND: &str = "keyrot-saved-plan";

/// The live IAM facts a plan was made from: per credential set, each credential's id,
/// status, create date and (where it was read) last use. `None` when the user did not exist.
pub type Facts = BTreeMap<Address, Option<Vec<KeyFact>>>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFact {
    pub key_id: KeyId,
    pub status: KeyStatus,
    #[serde(with = "crate::core::model::instant")]
    pub created: Time,
    /// `None`: not read for this plan; `Some(None)`: never used.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "last_used_serde"
    )]
    pub last_used: Option<Option<Time>>,
}

mod last_used_serde {
    use super::Time;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<Time>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(Some(t)) => s.serialize_str(&crate::core::model::timestamp(*t)),
            Some(None) => s.serialize_str("never"),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Time>>, D::Error> {
        let text = String::deserialize(d)?;
        if text == "never" {
            return Ok(Some(None));
        }
        crate::core::model::instant::parse(&text)
            .map(|t| Some(Some(t)))
            .map_err(serde::de::Error::custom)
    }
}

/// The fingerprint of `inventory` for the given sets.
pub fn facts(inventory: &Inventory, addresses: &[Address]) -> Facts {
    addresses
        .iter()
        .map(|address| {
            let keys = inventory.credentials(address).map(|keys| {
                keys.iter()
                    .map(|k| KeyFact {
                        key_id: k.id.clone(),
                        status: k.status.clone(),
                        created: k.created,
                        last_used: inventory.last_used.get(&k.id).map(|u| match u {
                            LastUsed::Never => None,
                            LastUsed::At(t) => Some(*t),
                        }),
                    })
                    .collect()
            });
            (address.clone(), keys)
        })
        .collect()
}

/// Keys whose last use the saved plan recorded (with their sets), to read again before
/// applying.
pub fn keys_with_last_use(facts: &Facts) -> Vec<(Address, KeyId)> {
    let mut keys = Vec::new();
    for (address, facts) in facts {
        for k in facts.iter().flatten().filter(|k| k.last_used.is_some()) {
            keys.push((address.clone(), k.key_id.clone()));
        }
    }
    keys
}

/// Human sentences for every fact that moved between `saved` and `live`.
pub fn facts_moved(saved: &Facts, live: &Facts) -> Vec<String> {
    let mut moved = Vec::new();
    let when = |u: &Option<Option<Time>>| match u {
        Some(Some(t)) => crate::core::model::timestamp(*t),
        Some(None) => "never".to_string(),
        None => "unknown".to_string(),
    };
    for (user, saved_keys) in saved {
        let live_keys = live.get(user).cloned().flatten();
        let user = &user.user;
        match (saved_keys, live_keys) {
            (None, None) => {}
            (None, Some(_)) => moved.push(format!("user {user} now exists")),
            (Some(_), None) => moved.push(format!("user {user} no longer exists")),
            (Some(before), Some(after)) => {
                for b in before {
                    let m = b.key_id.masked();
                    match after.iter().find(|a| a.key_id == b.key_id) {
                        None => moved.push(format!("user {user}: key {m} was deleted")),
                        Some(a) => {
                            if a.status != b.status {
                                moved.push(format!(
                                    "user {user}: key {m} status {} -> {}",
                                    b.status, a.status
                                ));
                            }
                            if a.created != b.created {
                                moved.push(format!("user {user}: key {m} create date changed"));
                            }
                            if b.last_used.is_some() && a.last_used != b.last_used {
                                moved.push(format!(
                                    "user {user}: key {m} last used {} -> {}",
                                    when(&b.last_used),
                                    when(&a.last_used)
                                ));
                            }
                        }
                    }
                }
                for a in &after {
                    if !before.iter().any(|b| b.key_id == a.key_id) {
                        moved.push(format!("user {user}: key {} appeared", a.key_id.masked()));
                    }
                }
            }
        }
    }
    moved
}

/// Sentences for every user that joined or left a selector between `saved` and `live`.
pub fn selection_moved(saved: &Chosen, live: &Chosen) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = saved.keys().chain(live.keys()).collect();
    let none = Vec::new();
    let mut moved = Vec::new();
    for name in names {
        let (before, after) = (
            saved.get(name).unwrap_or(&none),
            live.get(name).unwrap_or(&none),
        );
        for user in after.iter().filter(|u| !before.contains(u)) {
            moved.push(format!("user {user} now matches selector `{name}`"));
        }
        for user in before.iter().filter(|u| !after.contains(u)) {
            moved.push(format!("user {user} no longer matches selector `{name}`"));
        }
    }
    moved
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedPlan {
    pub id: String,
    /// How the plan was shaped (`--target`, `--force-rotate`, `--refresh-only`), so apply
    /// can re-derive it from the same inputs and refuse a file that was edited.
    pub options: PlanOptions,
    /// Wall-clock time the plan was written.
    pub created: Time,
    pub prior_lineage: String,
    pub prior_serial: u64,
    /// The S3 backend the state was read from (`None`: the local state file); the plan is
    /// refused against another backend.
    pub prior_backend: Option<BackendId>,
    pub config_digest: String,
    pub facts: Facts,
    /// The users each selector chose when the plan was made (an IAM fact, like `facts`).
    pub selections: Chosen,
    pub plan: Plan,
}

/// A state backend's identity: the bucket and key of its state object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendId {
    pub bucket: String,
    pub key: String,
}

impl std::fmt::Display for BackendId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("not a keyrot saved plan: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error(
        "saved plan format_version {0} is not supported by this keyrot (it reads {FORMAT_VERSION})"
    )]
    Version(String),
    #[error("saved plan is damaged: {0}")]
    Invalid(String),
}

/// The content digest of a plan file's bytes: what a reviewer pins with
/// `apply FILE --expect-digest`.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

pub fn to_json(saved: &SavedPlan) -> String {
    let mut text = serde_json::to_string_pretty(&write::plan_file(saved)).unwrap_or_default();
    text.push('\n');
    text
}

pub fn from_json(text: &str) -> Result<SavedPlan, PlanFileError> {
    // Kind and version first, so a newer format is reported as such, not as damage.
    #[derive(Deserialize)]
    struct Probe {
        format_version: String,
        kind: String,
    }
    let probe: Probe = serde_json::from_str(text)?;
    if probe.kind != KIND {
        return Err(PlanFileError::Invalid(format!("kind is `{}`", probe.kind)));
    }
    if probe.format_version != FORMAT_VERSION {
        return Err(PlanFileError::Version(probe.format_version));
    }
    read::saved_plan(serde_json::from_str(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::{Action, ActionKind, Reason, ReasonCode, SetPlan, Step, Wait};
    use crate::core::state::Phase;
    use chrono::{TimeZone, Utc};

    fn sample() -> SavedPlan {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let set = SetPlan {
            address: Address::access_key("alice"),
            selector: Some("ci".into()),
            phase: Phase::Empty,
            keys: Vec::new(),
            drift: Vec::new(),
            actions: vec![Action {
                kind: ActionKind::Create,
                key: None,
                reason: Reason::new(ReasonCode::NoActiveKey, "no Active access key"),
                frees_slot: false,
            }],
            waits: vec![Wait {
                step: Step::Blocked,
                key: None,
                reason: Reason::new(ReasonCode::UserMissing, "no such user"),
                due: None,
            }],
            checks: Vec::new(),
        };
        SavedPlan {
            id: "plan-1".into(),
            options: PlanOptions::default(),
            created: now,
            prior_lineage: "lineage".into(),
            prior_serial: 1,
            prior_backend: None,
            config_digest: "sha256:00".into(),
            facts: Facts::new(),
            selections: Chosen::from([("ci".into(), vec!["alice".into()])]),
            plan: Plan {
                now,
                refresh_only: false,
                sets: vec![set],
                password_policy: None,
                findings: Vec::new(),
            },
        }
    }

    #[test]
    fn reason_codes_round_trip() {
        let saved = sample();
        assert_eq!(from_json(&to_json(&saved)).unwrap(), saved);
    }

    #[test]
    fn unknown_reason_codes_are_damage() {
        let text = to_json(&sample());
        for (from, to) in [
            ("\"no_active_key\"", "\"no_such_code\""),
            ("\"user_missing\"", "\"UserMissing\""),
        ] {
            let edited = text.replace(from, to);
            assert_ne!(edited, text);
            match from_json(&edited) {
                Err(PlanFileError::Invalid(m)) => assert!(m.contains("unknown reason code"), "{m}"),
                other => panic!("{from} -> {to}: {other:?}"),
            }
        }
    }
}
