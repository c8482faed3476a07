//! In-memory plan → on-disk DTO.

use super::dto::*;
use super::{SavedPlan, FORMAT_VERSION, KIND};
use crate::core::model::LastUsed;
use crate::core::plan::{Action, ActionKind, CheckView, Drift, DriftKind, KeyView, SetPlan, Wait};
use crate::core::policy::{PolicyAction, PolicyPlan};

pub(super) fn plan_file(saved: &SavedPlan) -> PlanFileDto {
    PlanFileDto {
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
            backend: saved.prior_backend.clone(),
        },
        config_digest: saved.config_digest.clone(),
        iam_facts: saved.facts.clone(),
        selections: saved.selections.clone(),
        credential_sets: saved.plan.sets.iter().map(set).collect(),
        password_policy: saved.plan.password_policy.as_ref().map(policy),
    }
}

fn set(set: &SetPlan) -> SetDto {
    SetDto {
        address: set.address.clone(),
        selector: set.selector.clone(),
        phase: set.phase.as_str().to_string(),
        keys: set.keys.iter().map(key).collect(),
        drift: set.drift.iter().map(drift).collect(),
        actions: set.actions.iter().map(action).collect(),
        waits: set.waits.iter().map(wait).collect(),
        checks: set.checks.iter().map(check).collect(),
    }
}

fn check(c: &CheckView) -> CheckDto {
    CheckDto {
        check: c.check.clone(),
        last: c.last.as_ref().map(|r| CheckRunDto {
            fingerprint: r.fingerprint.clone(),
            ran: r.ran,
            passed: r.passed,
            last_passed: r.last_passed,
            output: r.output.clone(),
        }),
    }
}

fn key(k: &KeyView) -> KeyDto {
    KeyDto {
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
    }
}

fn drift(d: &Drift) -> DriftDto {
    let (change, from, to) = match &d.kind {
        DriftKind::Deleted => ("deleted", None, None),
        DriftKind::Appeared => ("appeared", None, None),
        DriftKind::StatusChanged { from, to } => ("status", Some(from.clone()), Some(to.clone())),
    };
    DriftDto {
        key_id: d.key.clone(),
        change: change.to_string(),
        from,
        to,
    }
}

fn action(a: &Action) -> ActionDto {
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
}

fn wait(w: &Wait) -> WaitDto {
    WaitDto {
        step: w.step.as_str().to_string(),
        key_id: w.key.clone(),
        due: w.due,
        reason_code: w.reason.code.as_str().to_string(),
        reason: w.reason.message.clone(),
    }
}

fn policy(p: &PolicyPlan) -> PolicyDto {
    PolicyDto {
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
    }
}
