//! `status` output: each set's phase, keys, last use and next step; text or JSON.

use super::{timestamp, Style};
use crate::adapters::store::journal::{Intent, Op};
use crate::core::duration::humanize;
use crate::core::model::{KeyId, KeyIds, LastUsed, Time};
use crate::core::plan::SetPlan;
use crate::core::state::Phase;
use crate::ops::status::Status;
use serde::Serialize;
use std::fmt::Write;

fn last_use(status: &Status, id: &KeyId, now: Time) -> String {
    match status.last_used.get(id) {
        Some(LastUsed::At(t)) => format!("{} ago", humanize(now - *t)),
        Some(LastUsed::Never) | None => "never".to_string(),
    }
}

/// Status for a person; `ids` says whether key ids are masked.
pub fn text(status: &Status, style: Style, ids: KeyIds) -> String {
    let now = status.plan.now;
    let mut out = String::new();
    for i in &status.unfinished {
        let _ = writeln!(
            out,
            "{} an interrupted {:?} of {}{} (started {}) is unfinished: the next `keyrot apply` reconciles it with IAM\n",
            style.yellow("Unfinished:"),
            i.op,
            i.address,
            i.key_id.as_ref().map(|k| format!(" (key {})", ids.show(k))).unwrap_or_default(),
            timestamp(i.at)
        );
    }
    if status.plan.sets.is_empty() {
        out.push_str("No credential sets declared in the config.\n");
    }
    for set in &status.plan.sets {
        let phase = status
            .phases
            .get(&set.address)
            .copied()
            .unwrap_or(Phase::Empty);
        let origin = set
            .selector
            .as_ref()
            .map(|s| format!("  selector: {s}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  phase: {}{origin}",
            style.bold(&set.address.to_string()),
            phase.as_str()
        );
        for k in &set.keys {
            let _ = writeln!(
                out,
                "  key {}  {:<9} {:<8}  age {:<8}  last used {}",
                ids.show(&k.id),
                k.role.map_or("untracked", |r| r.as_str()),
                k.status.as_str(),
                humanize(now - k.born),
                last_use(status, &k.id, now)
            );
        }
        for c in &set.checks {
            super::text::check_lines(&mut out, "  ", c, now, style);
        }
        for a in &set.actions {
            let _ = writeln!(out, "  next: {} now ({})", a.kind.name(), a.reason.message);
        }
        for w in &set.waits {
            let due = w
                .due
                .map(|d| format!(" at {}", timestamp(d)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  next: {}{due} ({})",
                w.step.as_str(),
                w.reason.message
            );
        }
    }
    out
}

#[derive(Serialize)]
// Fields in alphabetical order, as the JSON documents have always been written.
struct StatusDoc<'a> {
    credential_sets: Vec<SetDoc>,
    format_version: &'a str,
    now: String,
    /// The first of `unfinished_steps` (what keyrots that applied one set at a time wrote).
    unfinished: Option<UnfinishedDoc>,
    /// Every step an interrupted run left, one per set it had in flight, in address order.
    unfinished_steps: Vec<UnfinishedDoc>,
}

#[derive(Serialize)]
struct SetDoc {
    address: String,
    /// Each confirm check and its latest run, as in the plan's JSON.
    checks: Vec<serde_json::Value>,
    keys: Vec<KeyDoc>,
    next: Vec<NextDoc>,
    phase: &'static str,
}

#[derive(Serialize)]
struct KeyDoc {
    age_seconds: i64,
    key_id: String,
    last_used: String,
    role: Option<&'static str>,
    status: String,
}

#[derive(Serialize)]
struct NextDoc {
    action: &'static str,
    due: Option<String>,
}

#[derive(Serialize)]
struct UnfinishedDoc {
    address: String,
    key_id: Option<String>,
    operation: Op,
    started: String,
}

/// Status for a machine; `ids` says whether key ids are masked.
pub fn json(status: &Status, ids: KeyIds) -> String {
    let now = status.plan.now;
    let doc = StatusDoc {
        format_version: super::json::FORMAT_VERSION,
        now: timestamp(now),
        credential_sets: status
            .plan
            .sets
            .iter()
            .map(|s| set_doc(status, s, now, ids))
            .collect(),
        unfinished: status.unfinished.first().map(|i| unfinished_doc(i, ids)),
        unfinished_steps: status
            .unfinished
            .iter()
            .map(|i| unfinished_doc(i, ids))
            .collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn unfinished_doc(i: &Intent, ids: KeyIds) -> UnfinishedDoc {
    UnfinishedDoc {
        operation: i.op,
        address: i.address.to_string(),
        key_id: i.key_id.as_ref().map(|k| ids.show(k)),
        started: timestamp(i.at),
    }
}

fn set_doc(status: &Status, set: &SetPlan, now: Time, ids: KeyIds) -> SetDoc {
    let actions = set.actions.iter().map(|a| NextDoc {
        action: a.kind.name(),
        due: Some(timestamp(now)),
    });
    let waits = set.waits.iter().map(|w| NextDoc {
        action: w.step.as_str(),
        due: w.due.map(timestamp),
    });
    SetDoc {
        address: set.address.to_string(),
        checks: set.checks.iter().map(super::json::check).collect(),
        phase: set.phase.as_str(),
        keys: set
            .keys
            .iter()
            .map(|k| KeyDoc {
                key_id: ids.show(&k.id),
                role: k.role.map(|r| r.as_str()),
                status: k.status.as_str().to_string(),
                age_seconds: (now - k.born).num_seconds(),
                last_used: last_use(status, &k.id, now),
            })
            .collect(),
        next: actions.chain(waits).collect(),
    }
}
