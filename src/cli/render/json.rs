//! Machine-readable plan output, versioned by `format_version`.

use crate::core::model::{KeyIds, LastUsed, ShownId, Stamp};
use crate::core::plan::{
    Action, ActionKind, CheckView, Drift, DriftKind, KeyView, Plan, SetPlan, Slot, Wait,
};
use crate::core::policy::{PolicyAction, PolicyPlan};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

pub const FORMAT_VERSION: &str = "1";

/// The plan for a machine; `ids` says whether key ids are masked.
pub fn plan(plan: &Plan, ids: KeyIds) -> Value {
    serde_json::to_value(Document::new(plan, None, ids)).unwrap_or_default()
}

/// The same document as `to_string_pretty(&plan(p))` (plus `plan_digest` when given),
/// serialized straight from the plan: a plan of 100,000 sets never exists as a `Value`
/// tree, nor as one `Value` per set.
pub fn plan_pretty(plan: &Plan, plan_digest: Option<&str>, ids: KeyIds) -> String {
    serde_json::to_string_pretty(&Document::new(plan, plan_digest, ids)).unwrap_or_default()
}

/// [`plan_pretty`] written into `out` as it is made: a fleet's plan never exists whole.
pub fn write_plan_pretty(
    out: impl std::io::Write,
    plan: &Plan,
    plan_digest: Option<&str>,
    ids: KeyIds,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(out, &Document::new(plan, plan_digest, ids)).map_err(Into::into)
}

/// The whole document. Fields (here and below) are in the sorted order in which
/// serde_json writes a `Value`'s keys: the bytes stay those of the `Value` it once was.
#[derive(Serialize)]
struct Document<'a> {
    credential_sets: Seq<SetDoc<'a>>,
    findings: Value,
    format_version: &'static str,
    labels: Vec<&'static str>,
    now: Stamp,
    password_policy: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_digest: Option<&'a str>,
    refresh_only: bool,
    summary: Value,
}

impl<'a> Document<'a> {
    fn new(plan: &'a Plan, plan_digest: Option<&'a str>, ids: KeyIds) -> Self {
        Document {
            credential_sets: Seq(plan.sets.iter().map(|set| SetDoc { set, ids }).collect()),
            findings: findings(&plan.findings),
            format_version: FORMAT_VERSION,
            labels: plan.labels(),
            now: Stamp(plan.now),
            password_policy: plan.password_policy.as_ref().map(policy),
            plan_digest,
            refresh_only: plan.refresh_only,
            summary: summary(plan),
        }
    }
}

/// A JSON array of `T`.
struct Seq<T>(Vec<T>);

impl<T: Serialize> Serialize for Seq<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

/// A JSON array of what `each` makes of every item, made while it is written.
fn each<'a, T, D, F: Fn(&'a T) -> D>(items: &'a [T], each: F) -> Each<'a, T, F> {
    Each(items, each)
}

struct Each<'a, T, F>(&'a [T], F);

impl<'a, T, D: Serialize, F: Fn(&'a T) -> D> Serialize for Each<'a, T, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(&self.1))
    }
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

struct SetDoc<'a> {
    set: &'a SetPlan,
    ids: KeyIds,
}

impl Serialize for SetDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (set, ids) = (self.set, self.ids);
        let after = set.slots_after();
        let after = each(&after, |slot: &Slot| SlotDoc {
            key_id: slot.id.as_ref().map(|k| ids.display(k)),
            status: slot.status.as_str(),
        });
        let mut m = s.serialize_struct("set", 10)?;
        m.serialize_field("actions", &each(&set.actions, |a| ActionDoc(a, ids)))?;
        m.serialize_field("address", &set.address)?;
        m.serialize_field("after", &after)?;
        let before = each(&set.keys, |k| SlotDoc {
            key_id: Some(ids.display(&k.id)),
            status: k.status.as_str(),
        });
        m.serialize_field("before", &before)?;
        m.serialize_field("checks", &each(&set.checks, CheckDoc))?;
        m.serialize_field("drift", &each(&set.drift, |d| DriftDoc(d, ids)))?;
        m.serialize_field("keys", &each(&set.keys, |k| KeyDoc(k, ids)))?;
        m.serialize_field("phase", set.phase.as_str())?;
        m.serialize_field("selector", &set.selector)?;
        m.serialize_field("waits", &each(&set.waits, |w| WaitDoc(w, ids)))?;
        m.end()
    }
}

/// A key slot before or after; `key_id` `None` is a key a create will make.
struct SlotDoc<'a> {
    key_id: Option<ShownId<'a>>,
    status: &'a str,
}

impl Serialize for SlotDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("slot", 2)?;
        match &self.key_id {
            Some(id) => m.serialize_field("key_id", id)?,
            None => m.serialize_field("key_id", "(known after apply)")?,
        }
        m.serialize_field("status", self.status)?;
        m.end()
    }
}

/// A confirm check and its latest run (`null` before the first).
pub fn check(c: &CheckView) -> Value {
    serde_json::to_value(CheckDoc(c)).unwrap_or_default()
}

struct CheckDoc<'a>(&'a CheckView);

impl Serialize for CheckDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct LastRun<'a> {
            last_passed: Option<Stamp>,
            output: &'a Option<String>,
            passed: bool,
            ran: Stamp,
        }
        let c = self.0;
        let mut m = s.serialize_struct("check", 2)?;
        m.serialize_field("check", &c.check)?;
        let last_run = c.last.as_ref().map(|r| LastRun {
            last_passed: r.last_passed.map(Stamp),
            output: &r.output,
            passed: r.passed,
            ran: Stamp(r.ran),
        });
        m.serialize_field("last_run", &last_run)?;
        m.end()
    }
}

struct KeyDoc<'a>(&'a KeyView, KeyIds);

impl Serialize for KeyDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Certificate<'a> {
            fingerprint: &'a str,
            not_after: Stamp,
            subject: &'a str,
        }
        let k = self.0;
        let mut m = s.serialize_struct("key", 6)?;
        m.serialize_field("born", &Stamp(k.born))?;
        let certificate = k.cert.as_ref().map(|c| Certificate {
            fingerprint: &c.fingerprint,
            not_after: Stamp(c.not_after),
            subject: &c.subject,
        });
        m.serialize_field("certificate", &certificate)?;
        m.serialize_field("key_id", &self.1.display(&k.id))?;
        match &k.last_used {
            Some(LastUsed::Never) => m.serialize_field("last_used", "never")?,
            Some(LastUsed::At(t)) => m.serialize_field("last_used", &Stamp(*t))?,
            None => m.serialize_field("last_used", &None::<()>)?,
        }
        m.serialize_field("role", &k.role.map(|r| r.as_str()))?;
        m.serialize_field("status", k.status.as_str())?;
        m.end()
    }
}

struct ActionDoc<'a>(&'a Action, KeyIds);

impl Serialize for ActionDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (a, ids) = (self.0, self.1);
        let mut m = s.serialize_struct("action", 7)?;
        m.serialize_field("action", a.kind.name())?;
        if let ActionKind::Refresh { hold, .. } = &a.kind {
            m.serialize_field("hold", hold)?;
        }
        m.serialize_field("key_id", &a.key.as_ref().map(|k| ids.display(k)))?;
        m.serialize_field("reason", &a.reason.message)?;
        m.serialize_field("reason_code", &a.reason.code)?;
        match &a.kind {
            ActionKind::Import { role, status, .. } => {
                m.serialize_field("role", role.as_str())?;
                m.serialize_field("status", status.as_str())?;
            }
            ActionKind::Refresh { status, .. } => m.serialize_field("status", status.as_str())?,
            _ => {}
        }
        m.end()
    }
}

struct WaitDoc<'a>(&'a Wait, KeyIds);

impl Serialize for WaitDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (w, ids) = (self.0, self.1);
        let mut m = s.serialize_struct("wait", 6)?;
        m.serialize_field("action", "wait")?;
        m.serialize_field("due", &w.due.map(Stamp))?;
        m.serialize_field("key_id", &w.key.as_ref().map(|k| ids.display(k)))?;
        m.serialize_field("reason", &w.reason.message)?;
        m.serialize_field("reason_code", &w.reason.code)?;
        m.serialize_field("step", w.step.as_str())?;
        m.end()
    }
}

struct DriftDoc<'a>(&'a Drift, KeyIds);

impl Serialize for DriftDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_struct("drift", 4)?;
        let key_id = self.1.display(&d.key);
        match &d.kind {
            DriftKind::Deleted | DriftKind::Appeared => {
                let change = match d.kind {
                    DriftKind::Deleted => "deleted",
                    _ => "appeared",
                };
                m.serialize_field("change", change)?;
                m.serialize_field("key_id", &key_id)?;
            }
            DriftKind::StatusChanged { from, to } => {
                m.serialize_field("change", "status")?;
                m.serialize_field("from", from.as_str())?;
                m.serialize_field("key_id", &key_id)?;
                m.serialize_field("to", to.as_str())?;
            }
        }
        m.end()
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
