//! Terraform-like human output.

use super::{timestamp, Style};
use crate::core::duration::humanize;
use crate::core::model::{CredentialKind, KeyIds, Stamp, Time};
use crate::core::plan::{
    Action, ActionKind, CheckView, DriftKind, KeyView, Plan, SetPlan, Slot, Summary,
};
use crate::core::policy::{PolicyAction, PolicyPlan};
use std::fmt::Write;

/// The plan for a person; `ids` says whether key ids are masked.
pub fn plan(plan: &Plan, style: Style, ids: KeyIds) -> String {
    let mut out = String::new();
    write_plan(&mut out, plan, style, ids);
    out
}

/// [`plan`] written piece by piece into `out`: a fleet's plan never exists whole.
pub fn write_plan(out: &mut impl Write, plan: &Plan, style: Style, ids: KeyIds) {
    let summary = plan.summary();
    if plan.drift_count() > 0 {
        let _ = writeln!(
            out,
            "{}",
            style.bold("Changes made outside keyrot (drift):")
        );
        for set in &plan.sets {
            for d in &set.drift {
                let what = match &d.kind {
                    DriftKind::Deleted => "was deleted".to_string(),
                    DriftKind::StatusChanged { from, to } => format!("{from} -> {to}"),
                    DriftKind::Appeared => "appeared (created outside keyrot)".to_string(),
                };
                let _ = writeln!(out, "  {} key {}: {what}", set.address, ids.show(&d.key));
            }
        }
        let _ = out.write_char('\n');
    }
    if !summary.has_actions() && summary.waiting == 0 && summary.blocked == 0 {
        let _ = writeln!(
            out,
            "No changes. Live IAM matches the config and nothing is due."
        );
        return;
    }
    let checks = if summary.confirm > 0 {
        format!(", {} confirm checks", style.yellow("?"))
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "keyrot plan at {}. Symbols: {} create, {} deactivate/reactivate, {} delete, {} import/state only{checks}\n",
        timestamp(plan.now),
        style.green("+"),
        style.yellow("~"),
        style.red("-"),
        style.cyan("<="),
    );
    for set in &plan.sets {
        set_block(out, set, plan, style, ids);
    }
    if let Some(policy) = &plan.password_policy {
        policy_block(out, policy, style);
    }
    if !plan.findings.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.bold("Findings (credential report; keyrot changes nothing for these):")
        );
        for f in &plan.findings {
            let _ = writeln!(out, "  ! {}: {} (CIS {})", f.who(), f.message, f.cis);
        }
        let _ = out.write_char('\n');
    }
    if !summary.has_actions() {
        let _ = writeln!(out, "No changes to apply now.");
    }
    let _ = writeln!(
        out,
        "{}",
        style.bold(&summary_line(&summary, plan.refresh_only))
    );
}

fn set_block(out: &mut impl Write, set: &SetPlan, plan: &Plan, style: Style, ids: KeyIds) {
    // Written piece by piece into `out`: a fleet's plan has hundreds of thousands of lines.
    let _ = write!(out, "  # {} ", style.bold_fmt(&set.address));
    let _ = match &set.selector {
        Some(s) => writeln!(
            out,
            "{}",
            style.dim_fmt(format_args!(
                "(selector \"{s}\", phase: {})",
                set.phase.as_str()
            ))
        ),
        None => writeln!(
            out,
            "{}",
            style.dim_fmt(format_args!("(phase: {})", set.phase.as_str()))
        ),
    };
    for k in &set.keys {
        key_line(out, k, plan.now, ids);
    }
    if set.changes_iam() {
        slot_diff(out, set, style, ids);
    }
    for a in &set.actions {
        let (symbol, line) = action_line(a, set.address.kind, style, ids);
        let _ = writeln!(out, "  {symbol:>2} {line}");
        let _ = writeln!(out, "       {}", style.dim_fmt(&a.reason.message));
    }
    for w in &set.waits {
        let _ = write!(out, "  .. waiting: {}", w.step.as_str());
        if let Some(k) = &w.key {
            let _ = write!(out, " key {}", ids.display(k));
        }
        let _ = match w.due {
            Some(due) if due > plan.now => {
                write!(out, " at {} (in {})", Stamp(due), humanize(due - plan.now))
            }
            Some(due) => write!(out, " since {}", Stamp(due)),
            None => Ok(()),
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "       {}", style.dim_fmt(&w.reason.message));
    }
    for c in &set.checks {
        check_lines(out, "     ", c, plan.now, style);
    }
    let _ = out.write_char('\n');
}

/// A confirm check and its latest run; a failure with the end of its output.
pub(super) fn check_lines(
    out: &mut impl Write,
    indent: &str,
    c: &CheckView,
    now: Time,
    style: Style,
) {
    let ago = |t: Time| format!("{} ({} ago)", timestamp(t), humanize(now - t.min(now)));
    let result = match &c.last {
        None => "not run yet".to_string(),
        Some(r) if r.passed => format!("passed at {}", ago(r.ran)),
        Some(r) => format!(
            "{} at {}; last passed {}",
            style.red("FAILED"),
            ago(r.ran),
            r.last_passed.map_or("never".to_string(), ago)
        ),
    };
    let _ = writeln!(out, "{indent}check {}: {result}", c.check);
    let output = c.last.as_ref().and_then(|r| r.output.as_deref());
    let lines: Vec<&str> = output.map(|o| o.lines().collect()).unwrap_or_default();
    let shown = lines.len().saturating_sub(OUTPUT_LINES);
    if shown > 0 {
        let _ = writeln!(
            out,
            "{indent}  | … ({shown} more line(s); `--json` has them)"
        );
    }
    for line in &lines[shown..] {
        let _ = writeln!(out, "{indent}  | {line}");
    }
}

/// How many of a failed check's last output lines the text shows.
const OUTPUT_LINES: usize = 8;

fn key_line(out: &mut impl Write, k: &KeyView, now: Time, ids: KeyIds) {
    let role = k.role.map_or("untracked", |r| r.as_str());
    let noun = if k.cert.is_some() { "cert" } else { "key" };
    let _ = writeln!(
        out,
        "      {noun} {}  {:<8}  {:<8}  age {}",
        ids.display(&k.id),
        role,
        k.status.as_str(),
        humanize(now - k.born)
    );
    if let Some(c) = &k.cert {
        let _ = writeln!(
            out,
            "           subject {}  not after {}  sha256 {}…",
            c.subject,
            timestamp(c.not_after),
            &c.fingerprint[..c.fingerprint.len().min(16)]
        );
    }
}

/// The symbol and sentence of one action, Terraform-style (`+ ~ - <=`).
fn action_line(a: &Action, kind: CredentialKind, style: Style, ids: KeyIds) -> (String, String) {
    let noun = kind.short_noun();
    let key = a.key.as_ref().map(|k| ids.show(k)).unwrap_or_default();
    match &a.kind {
        ActionKind::Import { role, .. } => (
            style.cyan("<="),
            format!("import {noun} {key} as {}", role.as_str()),
        ),
        ActionKind::Refresh { status, .. } => (
            style.cyan("<="),
            format!("record {noun} {key} as {status} (state only)"),
        ),
        ActionKind::Untrack => (
            style.cyan("<="),
            format!("stop tracking deleted {noun} {key} (state only)"),
        ),
        ActionKind::Forget => (
            style.cyan("<="),
            "forget this credential set (state only; IAM untouched)".into(),
        ),
        ActionKind::Create => (
            style.green("+"),
            format!("create a new {} and deliver its secret", kind.noun()),
        ),
        ActionKind::Deactivate => (
            style.yellow("~"),
            format!("deactivate {noun} {key}  Active -> Inactive"),
        ),
        ActionKind::Reactivate => (
            style.yellow("~"),
            format!("reactivate {noun} {key}  Inactive -> Active"),
        ),
        ActionKind::Confirm => (
            style.yellow("?"),
            format!("run the confirm checks ({noun} {key} stays Inactive if they pass)"),
        ),
        ActionKind::Delete => (style.red("-"), format!("delete {noun} {key}")),
    }
}

/// The whole policy before → after as a line diff; fields the config leaves unset that IAM
/// will reset are marked, since UpdateAccountPasswordPolicy replaces the whole policy.
fn policy_block(out: &mut impl Write, policy: &PolicyPlan, style: Style) {
    let (symbol, verb) = match policy.action {
        PolicyAction::Update if policy.before.is_none() => (style.green("+"), "create"),
        PolicyAction::Update => (style.yellow("~"), "update"),
        PolicyAction::Delete => (style.red("-"), "delete"),
    };
    let _ = writeln!(out, "  # {}", style.bold("account password policy"));
    let _ = writeln!(out, "  {symbol:>2} {verb} the account password policy");
    let lines = |pick: fn(&crate::core::policy::FieldChange) -> &Option<String>| -> String {
        policy
            .fields
            .iter()
            .filter_map(|f| pick(f).as_ref().map(|v| format!("{} = {v}\n", f.field)))
            .collect()
    };
    let before = lines(|f| &f.before);
    let after = lines(|f| &f.after);
    for change in similar::TextDiff::from_lines(&before, &after).iter_all_changes() {
        let text = change.value().trim_end();
        let resets = policy
            .fields
            .iter()
            .any(|f| f.resets && text.starts_with(&format!("{} =", f.field)));
        let note = if resets && change.tag() == similar::ChangeTag::Insert {
            style.yellow("   # not set in the config: IAM resets it to its default")
        } else {
            String::new()
        };
        let _ = match change.tag() {
            similar::ChangeTag::Equal => writeln!(out, "          {text}"),
            similar::ChangeTag::Delete => {
                writeln!(out, "        {}", style.red(&format!("- {text}")))
            }
            similar::ChangeTag::Insert => {
                writeln!(out, "        {}{note}", style.green(&format!("+ {text}")))
            }
        };
    }
    let _ = out.write_char('\n');
}

/// The user's key slots before → after, as a line diff (`similar`).
fn slot_diff(out: &mut impl Write, set: &SetPlan, style: Style, ids: KeyIds) {
    let line = |s: &Slot| {
        let id =
            s.id.as_ref()
                .map_or_else(|| "(known after apply)".to_string(), |k| ids.show(k));
        format!("key {id}  {}\n", s.status)
    };
    let before: String = set.slots_before().iter().map(line).collect();
    let after: String = set.slots_after().iter().map(line).collect();
    let _ = writeln!(out, "      {}", style.dim("IAM keys, before -> after:"));
    for change in similar::TextDiff::from_lines(&before, &after).iter_all_changes() {
        let text = change.value().trim_end();
        let _ = match change.tag() {
            similar::ChangeTag::Equal => writeln!(out, "          {text}"),
            similar::ChangeTag::Delete => {
                writeln!(out, "        {}", style.red(&format!("- {text}")))
            }
            similar::ChangeTag::Insert => {
                writeln!(out, "        {}", style.green(&format!("+ {text}")))
            }
        };
    }
}

pub fn summary_line(s: &Summary, refresh_only: bool) -> String {
    let mut line = format!(
        "Plan: {} to import, {} to create, {} to deactivate, {} to delete, {} waiting.",
        s.import, s.create, s.deactivate, s.delete, s.waiting
    );
    if s.blocked > 0 {
        line.insert_str(line.len() - 1, &format!(", {} blocked", s.blocked));
    }
    if s.reactivate > 0 {
        line.insert_str(line.len() - 1, &format!(", {} to reactivate", s.reactivate));
    }
    if s.confirm > 0 {
        line.insert_str(line.len() - 1, &format!(", {} to confirm", s.confirm));
    }
    if s.state_only > 0 {
        line.insert_str(line.len() - 1, &format!(", {} state-only", s.state_only));
    }
    if s.policy > 0 {
        line.insert_str(line.len() - 1, ", password policy to change");
    }
    if refresh_only {
        line.push_str(" (refresh only: IAM is not changed)");
    }
    line
}
