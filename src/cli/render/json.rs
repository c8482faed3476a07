//! Machine-readable plan output, versioned by `format_version`.

use super::timestamp;
use crate::core::model::{KeyIds, LastUsed};
use crate::core::plan::{
    Action, ActionKind, CheckView, Drift, DriftKind, KeyView, Plan, SetPlan, Slot, Wait,
};
use crate::core::policy::{PolicyAction, PolicyPlan};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

pub const FORMAT_VERSION: &str = "1";

/// The plan for a machine; `ids` says whether key ids are masked.
pub fn plan(plan: &Plan, ids: KeyIds) -> Value {
    json!({
        "format_version": FORMAT_VERSION,
        "now": timestamp(plan.now),
        "refresh_only": plan.refresh_only,
        "labels": plan.labels(),
        "summary": summary(plan),
        "credential_sets": plan.sets.iter().map(|s| set(s, ids)).collect::<Vec<_>>(),
        "findings": findings(&plan.findings),
        "password_policy": plan.password_policy.as_ref().map(policy),
    })
}

/// The same document as `to_string_pretty(&plan(p))` (plus `plan_digest` when given),
/// written one set at a time: a plan of 100,000 sets never exists as one `Value` tree.
pub fn plan_pretty(plan: &Plan, plan_digest: Option<&str>, ids: KeyIds) -> String {
    /// Fields in the sorted order in which serde_json writes a `Value`'s keys.
    #[derive(Serialize)]
    struct Document<'a> {
        credential_sets: Sets<'a>,
        findings: Value,
        format_version: &'static str,
        labels: Vec<&'static str>,
        now: String,
        password_policy: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        plan_digest: Option<&'a str>,
        refresh_only: bool,
        summary: Value,
    }
    struct Sets<'a>(&'a [SetPlan], KeyIds);
    impl Serialize for Sets<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|p| set(p, self.1)))
        }
    }
    let document = Document {
        credential_sets: Sets(&plan.sets, ids),
        findings: findings(&plan.findings),
        format_version: FORMAT_VERSION,
        labels: plan.labels(),
        now: timestamp(plan.now),
        password_policy: plan.password_policy.as_ref().map(policy),
        plan_digest,
        refresh_only: plan.refresh_only,
        summary: summary(plan),
    };
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

fn summary(plan: &Plan) -> Value {
    let s = plan.summary();
    json!({
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
    })
}

fn set(set: &SetPlan, ids: KeyIds) -> Value {
    let slots = |slots: Vec<Slot>| -> Vec<Value> {
        slots
            .iter()
            .map(|s| json!({
                "key_id": s.id.as_ref().map_or_else(|| "(known after apply)".to_string(), |k| ids.show(k)),
                "status": s.status.as_str(),
            }))
            .collect()
    };
    json!({
        "address": set.address.to_string(),
        "selector": set.selector,
        "phase": set.phase.as_str(),
        "keys": set.keys.iter().map(|k| key(k, ids)).collect::<Vec<_>>(),
        "before": slots(set.slots_before()),
        "after": slots(set.slots_after()),
        "drift": set.drift.iter().map(|d| drift(d, ids)).collect::<Vec<_>>(),
        "actions": set.actions.iter().map(|a| action(a, ids)).collect::<Vec<_>>(),
        "waits": set.waits.iter().map(|w| wait(w, ids)).collect::<Vec<_>>(),
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

fn key(k: &KeyView, ids: KeyIds) -> Value {
    json!({
        "key_id": ids.show(&k.id),
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

fn action(a: &Action, ids: KeyIds) -> Value {
    let mut v = json!({
        "action": a.kind.name(),
        "key_id": a.key.as_ref().map(|k| ids.show(k)),
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

fn wait(w: &Wait, ids: KeyIds) -> Value {
    json!({
        "action": "wait",
        "step": w.step.as_str(),
        "key_id": w.key.as_ref().map(|k| ids.show(k)),
        "reason_code": w.reason.code,
        "reason": w.reason.message,
        "due": w.due.map(timestamp),
    })
}

fn drift(d: &Drift, ids: KeyIds) -> Value {
    let key_id = ids.show(&d.key);
    match &d.kind {
        DriftKind::Deleted => json!({"key_id": key_id, "change": "deleted"}),
        DriftKind::Appeared => json!({"key_id": key_id, "change": "appeared"}),
        DriftKind::StatusChanged { from, to } => json!({
            "key_id": key_id, "change": "status", "from": from.as_str(), "to": to.as_str()
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
        .map(|f| {
            let mut v =
                json!({"user": f.user, "check": f.check, "cis": f.cis, "message": f.message});
            if let Some(account) = &f.account {
                v["account"] = json!(account);
            }
            v
        })
        .collect()
}
