//! On-disk DTO → in-memory plan. Anything this keyrot could not have written is
//! [`PlanFileError::Invalid`].

use super::dto::*;
use super::{PlanFileError, SavedPlan};
use crate::core::model::{CertInfo, LastUsed};
use crate::core::plan::{
    Action, ActionKind, CheckView, Drift, DriftKind, KeyView, Plan, PlanOptions, Reason,
    ReasonCode, SetPlan, Step, Wait,
};
use crate::core::policy::{FieldChange, PasswordPolicy, PolicyAction, PolicyPlan};
use crate::core::state::{CheckRecord, Phase};

fn invalid(message: String) -> PlanFileError {
    PlanFileError::Invalid(message)
}

pub(super) fn saved_plan(dto: PlanFileDto) -> Result<SavedPlan, PlanFileError> {
    let sets = dto
        .credential_sets
        .into_iter()
        .map(set)
        .collect::<Result<_, _>>()?;
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
        prior_backend: dto.prior_state.backend,
        config_digest: dto.config_digest,
        facts: dto.iam_facts,
        selections: dto.selections,
        plan: Plan {
            now: dto.now,
            refresh_only: dto.refresh_only,
            sets,
            password_policy: dto.password_policy.map(policy).transpose()?,
            findings: Vec::new(),
        },
    })
}

fn set(s: SetDto) -> Result<SetPlan, PlanFileError> {
    let phase =
        Phase::parse(&s.phase).ok_or_else(|| invalid(format!("unknown phase `{}`", s.phase)))?;
    Ok(SetPlan {
        address: s.address,
        selector: s.selector,
        phase,
        keys: s.keys.into_iter().map(key).collect::<Result<_, _>>()?,
        drift: s.drift.into_iter().map(drift).collect::<Result<_, _>>()?,
        actions: s
            .actions
            .into_iter()
            .map(action)
            .collect::<Result<_, _>>()?,
        waits: s.waits.into_iter().map(wait).collect::<Result<_, _>>()?,
        checks: s.checks.into_iter().map(check).collect(),
    })
}

fn check(c: CheckDto) -> CheckView {
    let check = c.check;
    CheckView {
        last: c.last.map(|r| CheckRecord {
            check: check.clone(),
            fingerprint: r.fingerprint,
            ran: r.ran,
            passed: r.passed,
            last_passed: r.last_passed,
            output: r.output,
        }),
        check,
    }
}

fn key(k: KeyDto) -> Result<KeyView, PlanFileError> {
    Ok(KeyView {
        id: k.key_id,
        role: k.role.as_deref().map(|r| parse_role(Some(r))).transpose()?,
        status: k.status,
        born: k.born,
        last_used: k.last_used.map(|u| u.map_or(LastUsed::Never, LastUsed::At)),
        cert: k.certificate.map(|c| CertInfo {
            subject: c.subject,
            not_after: c.not_after,
            fingerprint: c.fingerprint,
        }),
    })
}

fn drift(d: DriftDto) -> Result<Drift, PlanFileError> {
    let kind = match (d.change.as_str(), d.from, d.to) {
        ("deleted", _, _) => DriftKind::Deleted,
        ("appeared", _, _) => DriftKind::Appeared,
        ("status", Some(from), Some(to)) => DriftKind::StatusChanged { from, to },
        (other, _, _) => return Err(invalid(format!("unknown drift `{other}`"))),
    };
    Ok(Drift {
        key: d.key_id,
        kind,
    })
}

fn action(a: ActionDto) -> Result<Action, PlanFileError> {
    let missing = |what: &str| invalid(format!("{} action without {what}", a.action));
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
        "confirm" => ActionKind::Confirm,
        "delete" => ActionKind::Delete,
        other => return Err(invalid(format!("unknown action `{other}`"))),
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
}

fn wait(w: WaitDto) -> Result<Wait, PlanFileError> {
    let step = [
        Step::Rotate,
        Step::Deactivate,
        Step::Delete,
        Step::Blocked,
        Step::Resume,
    ]
    .into_iter()
    .find(|s| s.as_str() == w.step)
    .ok_or_else(|| invalid(format!("unknown wait step `{}`", w.step)))?;
    Ok(Wait {
        step,
        key: w.key_id,
        reason: Reason::new(parse_reason_code(&w.reason_code)?, w.reason),
        due: w.due,
    })
}

/// An unknown code is damage like any other: this keyrot could not have written it.
fn parse_reason_code(text: &str) -> Result<ReasonCode, PlanFileError> {
    ReasonCode::parse(text).ok_or_else(|| invalid(format!("unknown reason code `{text}`")))
}

fn policy(dto: PolicyDto) -> Result<PolicyPlan, PlanFileError> {
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
