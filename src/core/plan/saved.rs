//! Saved plans (`plan -out FILE`): a versioned on-disk DTO of a [`Plan`] plus what it was
//! based on — prior state lineage/serial, a config digest and a fingerprint of the live IAM
//! facts — so `apply FILE` can refuse a plan the world has moved away from. Pure.

use crate::core::model::{Address, Inventory, KeyId, KeyStatus, LastUsed, Time};
use crate::core::plan::{
    Action, ActionKind, Drift, DriftKind, KeyView, Plan, PlanOptions, Reason, ReasonCode, Role,
    SetPlan, Step, Wait,
};
use crate::core::policy::{FieldChange, PasswordPolicy, PolicyAction, PolicyPlan};
use crate::core::state::Phase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
        text.parse()
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

/// Keys whose last use the saved plan recorded, to read again before applying.
pub fn keys_with_last_use(facts: &Facts) -> Vec<KeyId> {
    facts
        .values()
        .flatten()
        .flatten()
        .filter(|k| k.last_used.is_some())
        .map(|k| k.key_id.clone())
        .collect()
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
    pub config_digest: String,
    pub facts: Facts,
    pub plan: Plan,
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

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFileDto {
    format_version: String,
    kind: String,
    plan_id: String,
    created: Time,
    now: Time,
    refresh_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    targets: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    force_rotate: Vec<Address>,
    prior_state: PriorDto,
    config_digest: String,
    iam_facts: Facts,
    credential_sets: Vec<SetDto>,
    /// The password policy change; its `before` is also the live fact it was based on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_policy: Option<PolicyDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDto {
    action: String,
    before: Option<PasswordPolicy>,
    after: Option<PasswordPolicy>,
    fields: Vec<FieldDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldDto {
    field: String,
    before: Option<String>,
    after: Option<String>,
    resets: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorDto {
    lineage: String,
    serial: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetDto {
    address: Address,
    phase: String,
    keys: Vec<KeyDto>,
    drift: Vec<DriftDto>,
    actions: Vec<ActionDto>,
    waits: Vec<WaitDto>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDto {
    key_id: KeyId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    role: Option<String>,
    status: KeyStatus,
    born: Time,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    certificate: Option<CertDto>,
    /// `never` or a time, where the plan read it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        with = "last_used_serde"
    )]
    last_used: Option<Option<Time>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertDto {
    subject: String,
    not_after: Time,
    fingerprint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DriftDto {
    key_id: KeyId,
    change: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    from: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    to: Option<KeyStatus>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDto {
    action: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    key_id: Option<KeyId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    status: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    born: Option<Time>,
    #[serde(default)]
    hold: bool,
    #[serde(default)]
    frees_slot: bool,
    reason_code: String,
    reason: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitDto {
    step: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    key_id: Option<KeyId>,
    due: Option<Time>,
    reason_code: String,
    reason: String,
}

fn role_name(r: Role) -> String {
    r.as_str().to_string()
}

fn parse_role(text: Option<&str>) -> Result<Role, PlanFileError> {
    match text {
        Some("current") => Ok(Role::Current),
        Some("previous") => Ok(Role::Previous),
        other => Err(PlanFileError::Invalid(format!(
            "unknown key role {other:?}"
        ))),
    }
}

/// An unknown code is damage like any other: this keyrot could not have written it.
fn parse_reason_code(text: &str) -> Result<ReasonCode, PlanFileError> {
    ReasonCode::parse(text)
        .ok_or_else(|| PlanFileError::Invalid(format!("unknown reason code `{text}`")))
}

pub fn to_json(saved: &SavedPlan) -> String {
    let sets = saved
        .plan
        .sets
        .iter()
        .map(|set| SetDto {
            address: set.address.clone(),
            phase: set.phase.as_str().to_string(),
            keys: set
                .keys
                .iter()
                .map(|k| KeyDto {
                    key_id: k.id.clone(),
                    role: k.role.map(role_name),
                    status: k.status.clone(),
                    born: k.born,
                    last_used: k.last_used.as_ref().map(|u| match u {
                        LastUsed::Never => None,
                        LastUsed::At(t) => Some(*t),
                    }),
                    certificate: k.cert.as_ref().map(|c| CertDto {
                        subject: c.subject.clone(),
                        not_after: c.not_after,
                        fingerprint: c.fingerprint.clone(),
                    }),
                })
                .collect(),
            drift: set
                .drift
                .iter()
                .map(|d| {
                    let (change, from, to) = match &d.kind {
                        DriftKind::Deleted => ("deleted", None, None),
                        DriftKind::Appeared => ("appeared", None, None),
                        DriftKind::StatusChanged { from, to } => {
                            ("status", Some(from.clone()), Some(to.clone()))
                        }
                    };
                    DriftDto {
                        key_id: d.key.clone(),
                        change: change.to_string(),
                        from,
                        to,
                    }
                })
                .collect(),
            actions: set
                .actions
                .iter()
                .map(|a| {
                    let mut dto = ActionDto {
                        action: a.kind.name().to_string(),
                        key_id: a.key.clone(),
                        role: None,
                        status: None,
                        born: None,
                        hold: false,
                        frees_slot: a.frees_slot,
                        reason_code: a.reason.code.as_str().to_string(),
                        reason: a.reason.message.clone(),
                    };
                    match &a.kind {
                        ActionKind::Import { role, status, born } => {
                            dto.role = Some(role_name(*role));
                            dto.status = Some(status.clone());
                            dto.born = Some(*born);
                        }
                        ActionKind::Refresh { status, hold } => {
                            dto.status = Some(status.clone());
                            dto.hold = *hold;
                        }
                        _ => {}
                    }
                    dto
                })
                .collect(),
            waits: set
                .waits
                .iter()
                .map(|w| WaitDto {
                    step: w.step.as_str().to_string(),
                    key_id: w.key.clone(),
                    due: w.due,
                    reason_code: w.reason.code.as_str().to_string(),
                    reason: w.reason.message.clone(),
                })
                .collect(),
        })
        .collect();
    let dto = PlanFileDto {
        format_version: FORMAT_VERSION.to_string(),
        kind: KIND.to_string(),
        plan_id: saved.id.clone(),
        created: saved.created,
        now: saved.plan.now,
        refresh_only: saved.plan.refresh_only,
        targets: saved.options.targets.clone(),
        force_rotate: saved.options.force_rotate.clone(),
        prior_state: PriorDto {
            lineage: saved.prior_lineage.clone(),
            serial: saved.prior_serial,
        },
        config_digest: saved.config_digest.clone(),
        iam_facts: saved.facts.clone(),
        credential_sets: sets,
        password_policy: saved.plan.password_policy.as_ref().map(|p| PolicyDto {
            action: match p.action {
                PolicyAction::Update => "update".into(),
                PolicyAction::Delete => "delete".into(),
            },
            before: p.before.clone(),
            after: p.after.clone(),
            fields: p
                .fields
                .iter()
                .map(|f| FieldDto {
                    field: f.field.to_string(),
                    before: f.before.clone(),
                    after: f.after.clone(),
                    resets: f.resets,
                })
                .collect(),
        }),
    };
    let mut text = serde_json::to_string_pretty(&dto).unwrap_or_default();
    text.push('\n');
    text
}

fn policy_from_dto(dto: PolicyDto) -> Result<PolicyPlan, PlanFileError> {
    let action = match dto.action.as_str() {
        "update" => PolicyAction::Update,
        "delete" => PolicyAction::Delete,
        other => {
            return Err(PlanFileError::Invalid(format!(
                "unknown policy action `{other}`"
            )))
        }
    };
    let names = PasswordPolicy::default().fields();
    let fields = dto
        .fields
        .into_iter()
        .map(|f| {
            let field = names
                .iter()
                .map(|(n, _)| *n)
                .find(|n| *n == f.field)
                .ok_or_else(|| {
                    PlanFileError::Invalid(format!("unknown policy field `{}`", f.field))
                })?;
            Ok(FieldChange {
                field,
                before: f.before,
                after: f.after,
                resets: f.resets,
            })
        })
        .collect::<Result<_, PlanFileError>>()?;
    if (action == PolicyAction::Update) != dto.after.is_some() {
        return Err(PlanFileError::Invalid(
            "policy action and `after` disagree".into(),
        ));
    }
    Ok(PolicyPlan {
        action,
        before: dto.before,
        after: dto.after,
        fields,
    })
}

pub fn from_json(text: &str) -> Result<SavedPlan, PlanFileError> {
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
    let dto: PlanFileDto = serde_json::from_str(text)?;
    let mut sets = Vec::new();
    for s in dto.credential_sets {
        let phase = Phase::parse(&s.phase)
            .ok_or_else(|| PlanFileError::Invalid(format!("unknown phase `{}`", s.phase)))?;
        let keys = s
            .keys
            .into_iter()
            .map(|k| {
                Ok(KeyView {
                    id: k.key_id,
                    role: k.role.as_deref().map(|r| parse_role(Some(r))).transpose()?,
                    status: k.status,
                    born: k.born,
                    last_used: k.last_used.map(|u| u.map_or(LastUsed::Never, LastUsed::At)),
                    cert: k.certificate.map(|c| crate::core::model::CertInfo {
                        subject: c.subject,
                        not_after: c.not_after,
                        fingerprint: c.fingerprint,
                    }),
                })
            })
            .collect::<Result<_, PlanFileError>>()?;
        let drift = s
            .drift
            .into_iter()
            .map(|d| {
                let kind = match (d.change.as_str(), d.from, d.to) {
                    ("deleted", _, _) => DriftKind::Deleted,
                    ("appeared", _, _) => DriftKind::Appeared,
                    ("status", Some(from), Some(to)) => DriftKind::StatusChanged { from, to },
                    (other, _, _) => {
                        return Err(PlanFileError::Invalid(format!("unknown drift `{other}`")))
                    }
                };
                Ok(Drift {
                    key: d.key_id,
                    kind,
                })
            })
            .collect::<Result<_, PlanFileError>>()?;
        let actions = s
            .actions
            .into_iter()
            .map(|a| {
                let missing = |what: &str| {
                    PlanFileError::Invalid(format!("{} action without {what}", a.action))
                };
                let kind = match a.action.as_str() {
                    "import" => ActionKind::Import {
                        role: parse_role(a.role.as_deref())?,
                        status: a.status.clone().ok_or_else(|| missing("status"))?,
                        born: a.born.ok_or_else(|| missing("born"))?,
                    },
                    "refresh" => ActionKind::Refresh {
                        status: a.status.clone().ok_or_else(|| missing("status"))?,
                        hold: a.hold,
                    },
                    "untrack" => ActionKind::Untrack,
                    "forget" => ActionKind::Forget,
                    "create" => ActionKind::Create,
                    "deactivate" => ActionKind::Deactivate,
                    "reactivate" => ActionKind::Reactivate,
                    "delete" => ActionKind::Delete,
                    other => {
                        return Err(PlanFileError::Invalid(format!("unknown action `{other}`")))
                    }
                };
                let needs_key = !matches!(kind, ActionKind::Create | ActionKind::Forget);
                if needs_key && a.key_id.is_none() {
                    return Err(missing("key_id"));
                }
                Ok(Action {
                    kind,
                    key: a.key_id,
                    reason: Reason::new(parse_reason_code(&a.reason_code)?, a.reason),
                    frees_slot: a.frees_slot,
                })
            })
            .collect::<Result<_, PlanFileError>>()?;
        let waits = s
            .waits
            .into_iter()
            .map(|w| {
                let step = [
                    Step::Rotate,
                    Step::Deactivate,
                    Step::Delete,
                    Step::Blocked,
                    Step::Resume,
                ]
                .into_iter()
                .find(|s| s.as_str() == w.step)
                .ok_or_else(|| PlanFileError::Invalid(format!("unknown wait step `{}`", w.step)))?;
                Ok(Wait {
                    step,
                    key: w.key_id,
                    reason: Reason::new(parse_reason_code(&w.reason_code)?, w.reason),
                    due: w.due,
                })
            })
            .collect::<Result<_, PlanFileError>>()?;
        sets.push(SetPlan {
            address: s.address,
            phase,
            keys,
            drift,
            actions,
            waits,
        });
    }
    Ok(SavedPlan {
        options: PlanOptions {
            targets: dto.targets,
            force_rotate: dto.force_rotate,
            refresh_only: dto.refresh_only,
        },
        id: dto.plan_id,
        created: dto.created,
        prior_lineage: dto.prior_state.lineage,
        prior_serial: dto.prior_state.serial,
        config_digest: dto.config_digest,
        facts: dto.iam_facts,
        plan: Plan {
            now: dto.now,
            refresh_only: dto.refresh_only,
            sets,
            password_policy: dto.password_policy.map(policy_from_dto).transpose()?,
            findings: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn sample() -> SavedPlan {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let set = SetPlan {
            address: Address::access_key("alice"),
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
        };
        SavedPlan {
            id: "plan-1".into(),
            options: PlanOptions::default(),
            created: now,
            prior_lineage: "lineage".into(),
            prior_serial: 1,
            config_digest: "sha256:00".into(),
            facts: Facts::new(),
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
