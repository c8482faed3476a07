//! Machine-readable plan output, versioned by `format_version`.

use super::timestamp;
use crate::core::model::LastUsed;
use crate::core::plan::{
    Action, ActionKind, CheckView, Drift, DriftKind, KeyView, Plan, SetPlan, Slot, Wait,
};
use crate::core::policy::{PolicyAction, PolicyPlan};
use serde_json::{json, Value};

pub const FORMAT_VERSION: &str = "1";

pub fn plan(plan: &Plan) -> Value {
    let s = plan.summary();
    json!({
        "format_version": FORMAT_VERSION,
        "now": timestamp(plan.now),
        "refresh_only": plan.refresh_only,
        "labels": plan.labels(),
        "summary": {
            "import": s.import,
            "create": s.create,
            "deactivate": s.deactivate,
            "reactivate": s.reactivate,
            "delete": s.delete,
            "state_only": s.state_only,
            "confirm": s.confirm,
            "waiting": s.waiting,
            "blocked": s.blocked,
            "policy": s.policy,
            "drift": plan.drift_count(),
        },
        "credential_sets": plan.sets.iter().map(set).collect::<Vec<_>>(),
        "findings": findings(&plan.findings),
        "password_policy": plan.password_policy.as_ref().map(policy),
    })
}

fn set(set: &SetPlan) -> Value {
    let slots = |slots: Vec<Slot>| -> Vec<Value> {
        slots
            .iter()
            .map(|s| json!({
                "key_id": s.id.as_ref().map_or_else(|| "(known after apply)".to_string(), |k| k.masked()),
                "status": s.status.as_str(),
            }))
            .collect()
    };
    json!({
        "address": set.address.to_string(),
        "phase": set.phase.as_str(),
        "keys": set.keys.iter().map(key).collect::<Vec<_>>(),
        "before": slots(set.slots_before()),
        "after": slots(set.slots_after()),
        "drift": set.drift.iter().map(drift).collect::<Vec<_>>(),
        "actions": set.actions.iter().map(action).collect::<Vec<_>>(),
        "waits": set.waits.iter().map(wait).collect::<Vec<_>>(),
        "checks": set.checks.iter().map(check).collect::<Vec<_>>(),
    })
}

/// A confirm check and its latest run (`null` before the first).
pub fn check(c: &CheckView) -> Value {
    json!({
        "check": c.check,
        "last_run": c.last.as_ref().map(|r| json!({
            "ran": timestamp(r.ran),
            "passed": r.passed,
            "last_passed": r.last_passed.map(timestamp),
            "output": r.output,
        })),
    })
}

fn key(k: &KeyView) -> Value {
    json!({
        "key_id": k.id.masked(),
        "role": k.role.map(|r| r.as_str()),
        "status": k.status.as_str(),
        "born": timestamp(k.born),
        "last_used": match &k.last_used {
            Some(LastUsed::Never) => json!("never"),
            Some(LastUsed::At(t)) => json!(timestamp(*t)),
            None => Value::Null,
        },
        "certificate": k.cert.as_ref().map(|c| json!({
            "subject": c.subject,
            "not_after": timestamp(c.not_after),
            "fingerprint": c.fingerprint,
        })),
    })
}

fn action(a: &Action) -> Value {
    let mut v = json!({
        "action": a.kind.name(),
        "key_id": a.key.as_ref().map(|k| k.masked()),
        "reason_code": a.reason.code,
        "reason": a.reason.message,
    });
    match &a.kind {
        ActionKind::Import { role, status, .. } => {
            v["role"] = json!(role.as_str());
            v["status"] = json!(status.as_str());
        }
        ActionKind::Refresh { status, hold } => {
            v["status"] = json!(status.as_str());
            v["hold"] = json!(hold);
        }
        _ => {}
    }
    v
}

fn wait(w: &Wait) -> Value {
    json!({
        "action": "wait",
        "step": w.step.as_str(),
        "key_id": w.key.as_ref().map(|k| k.masked()),
        "reason_code": w.reason.code,
        "reason": w.reason.message,
        "due": w.due.map(timestamp),
    })
}

fn drift(d: &Drift) -> Value {
    match &d.kind {
        DriftKind::Deleted => json!({"key_id": d.key.masked(), "change": "deleted"}),
        DriftKind::Appeared => json!({"key_id": d.key.masked(), "change": "appeared"}),
        DriftKind::StatusChanged { from, to } => json!({
            "key_id": d.key.masked(), "change": "status", "from": from.as_str(), "to": to.as_str()
        }),
    }
}

fn policy(p: &PolicyPlan) -> Value {
    json!({
        "action": match p.action {
            PolicyAction::Update if p.before.is_none() => "create",
            PolicyAction::Update => "update",
            PolicyAction::Delete => "delete",
        },
        "fields": p.fields.iter().map(|f| json!({
            "field": f.field,
            "before": f.before,
            "after": f.after,
            "resets": f.resets,
        })).collect::<Vec<_>>(),
    })
}

pub fn findings(findings: &[crate::core::audit::Finding]) -> Value {
    findings
        .iter()
        .map(|f| json!({"user": f.user, "check": f.check, "cis": f.cis, "message": f.message}))
        .collect()
}
