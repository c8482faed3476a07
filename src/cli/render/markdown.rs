//! Markdown for pull-request comments: a summary line outside a collapsed `<details>`
//! block, a loud warning before deletions, drift in its own block, and per-set tables of
//! the two key slots before and after.

use super::text::summary_line;
use super::timestamp;
use crate::core::duration::humanize;
use crate::core::model::{CredentialKind, KeyIds};
use crate::core::plan::{ActionKind, CheckView, DriftKind, Plan, SetPlan, Slot};
use crate::core::policy::PolicyPlan;
use std::fmt::Write;

/// GitHub refuses comments over 65,536 characters; stay well under it.
pub const MAX_CHARS: usize = 60_000;

/// A saved plan's file: the command that applies it and the digest that pins it.
pub struct SavedFile<'a> {
    /// E.g. `keyrot apply plan.json`.
    pub apply: &'a str,
    pub digest: &'a str,
}

/// `saved` names the plan file this renders, when there is one; `ids` says whether key
/// ids are masked (the default for a public PR comment).
pub fn plan(plan: &Plan, saved: Option<&SavedFile>, ids: KeyIds) -> String {
    let summary = plan.summary();
    let mut head = head(plan, ids);
    if let Some(file) = saved {
        // Right under the title, where a reviewer sees what they approve.
        let at = head.find("\n\n").map_or(head.len(), |i| i + 2);
        head.insert_str(at, &format!("Plan file digest: `{}`\n\n", file.digest));
    }
    let mut tail = String::new();
    if let Some(file) = saved.filter(|_| summary.has_actions()) {
        let _ = writeln!(
            tail,
            "To apply exactly this plan: `{} --expect-digest {}`\n",
            file.apply, file.digest
        );
    }
    let _ = writeln!(tail, "<sub>labels: {}</sub>", plan.labels().join(", "));
    let open = "<details><summary>Details</summary>\n\n";
    let close = "</details>\n\n";
    let budget = MAX_CHARS.saturating_sub(head.len() + open.len() + close.len() + tail.len() + 200);
    let body = fit(body(plan, budget, ids), budget);
    format!("{head}{open}{body}{close}{tail}")
}

/// What a reviewer sees without opening anything: the summary, the deletion warning and
/// the drift.
fn head(plan: &Plan, ids: KeyIds) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "### keyrot plan\n");
    let _ = writeln!(
        head,
        "**{}**\n",
        summary_line(&plan.summary(), plan.refresh_only)
    );
    if let Some(warning) = deletes_warning(plan) {
        let _ = writeln!(head, "{warning}");
    }
    if plan.drift_count() == 0 {
        return head;
    }
    let _ = writeln!(
        head,
        "<details open><summary>Changes made outside keyrot (drift): {}</summary>\n",
        plan.drift_count()
    );
    for set in &plan.sets {
        for d in &set.drift {
            let what = match &d.kind {
                DriftKind::Deleted => "was deleted".to_string(),
                DriftKind::StatusChanged { from, to } => format!("`{from}` → `{to}`"),
                DriftKind::Appeared => "appeared (created outside keyrot)".to_string(),
            };
            let _ = writeln!(
                head,
                "- `{}` {} `{}` {what}",
                set.address,
                set.address.kind.short_noun(),
                ids.show(&d.key)
            );
        }
    }
    let _ = writeln!(head, "\n</details>\n");
    head
}

/// The collapsed details: the password policy table, each set, the findings. Stops once
/// past `budget`: `fit` cuts there anyway, and a fleet's plan is far longer.
fn body(plan: &Plan, budget: usize, ids: KeyIds) -> String {
    let mut body = String::new();
    if let Some(policy) = &plan.password_policy {
        policy_table(&mut body, policy);
    }
    for set in &plan.sets {
        if body.len() > budget {
            return body;
        }
        set_section(&mut body, set, plan, ids);
    }
    if !plan.findings.is_empty() {
        let _ = writeln!(
            body,
            "#### Findings (credential report; not changed by this plan)\n"
        );
        for f in &plan.findings {
            let _ = writeln!(body, "- `{}`: {} (CIS {})", f.who(), f.message, f.cis);
        }
        body.push('\n');
    }
    body
}

fn policy_table(body: &mut String, policy: &PolicyPlan) {
    let _ = writeln!(body, "#### Account password policy\n");
    let _ = writeln!(body, "| field | before | after |");
    let _ = writeln!(body, "| --- | --- | --- |");
    for f in &policy.fields {
        let cell = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        let mark = if f.before != f.after { "**" } else { "" };
        let reset = if f.resets {
            " ⚠️ reset: not set in the config"
        } else {
            ""
        };
        let _ = writeln!(
            body,
            "| {mark}{}{mark} | {} | {}{reset} |",
            f.field,
            cell(&f.before),
            cell(&f.after)
        );
    }
    body.push('\n');
}

/// Cuts the body at a set boundary so the whole comment stays under GitHub's limit.
fn fit(mut body: String, budget: usize) -> String {
    if body.len() <= budget {
        return body;
    }
    let mut cut = budget;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = body[..cut].rfind("\n#### ").unwrap_or(cut);
    body.truncate(cut);
    let _ = writeln!(
        body,
        "\n_The plan is too long for one comment and was truncated; run `keyrot show` on the plan file for all of it._\n"
    );
    body
}

fn set_section(out: &mut String, set: &SetPlan, plan: &Plan, ids: KeyIds) {
    let origin = set
        .selector
        .as_ref()
        .map(|s| format!(" — selector `{s}`"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "#### `{}`{origin} — phase: {}\n",
        set.address,
        set.phase.as_str()
    );
    if set.changes_iam() || !set.keys.is_empty() {
        let _ = writeln!(out, "| slot | before | after | age | last use | role |");
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- |");
        let cell = |s: &Option<Slot>| match s {
            Some(s) => format!(
                "`{}` {}",
                s.id.as_ref()
                    .map_or("(new key)".to_string(), |k| ids.show(k)),
                s.status
            ),
            None => "—".to_string(),
        };
        for (i, (before, after)) in set.slot_rows().iter().enumerate() {
            let key = set.keys.get(i);
            let age = key.map_or("—".to_string(), |k| humanize(plan.now - k.born));
            let role = key.and_then(|k| k.role).map_or("", |r| r.as_str());
            let used = match key.and_then(|k| k.last_used.as_ref()) {
                Some(crate::core::model::LastUsed::Never) => "never".to_string(),
                Some(crate::core::model::LastUsed::At(t)) => {
                    format!("{} ago", humanize(plan.now - *t))
                }
                None => "not read".to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {age} | {used} | {role} |",
                i + 1,
                cell(before),
                cell(after)
            );
        }
        out.push('\n');
    }
    for a in &set.actions {
        let key = a
            .key
            .as_ref()
            .map(|k| format!(" `{}`", ids.show(k)))
            .unwrap_or_default();
        let _ = writeln!(out, "- **{}**{key}: {}", a.kind.name(), a.reason.message);
    }
    for w in &set.waits {
        let due = w
            .due
            .map(|d| format!(" (due {})", timestamp(d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- waiting: {}{due}: {}",
            w.step.as_str(),
            w.reason.message
        );
    }
    for c in &set.checks {
        check_item(out, c);
    }
    out.push('\n');
}

/// A confirm check and its latest run; a failure's output in a collapsed block.
fn check_item(out: &mut String, c: &CheckView) {
    let result = match &c.last {
        None => "not run yet".to_string(),
        Some(r) if r.passed => format!("✅ passed {}", timestamp(r.ran)),
        Some(r) => format!(
            "❌ **failed** {} (last passed {})",
            timestamp(r.ran),
            r.last_passed.map_or("never".to_string(), timestamp)
        ),
    };
    let _ = writeln!(out, "- check `{}`: {result}", c.check);
    if let Some(output) = c.last.as_ref().and_then(|r| r.output.as_deref()) {
        // A fence longer than any backtick run inside, so the output cannot close it.
        let longest = output
            .split(|ch| ch != '`')
            .map(str::len)
            .max()
            .unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        let _ = writeln!(
            out,
            "  <details><summary>output</summary>\n\n{fence}\n{output}\n{fence}\n\n  </details>"
        );
    }
}

/// The caution shown before any deletion, naming what is deleted: access keys, signing
/// certificates, or both.
fn deletes_warning(plan: &Plan) -> Option<String> {
    let (mut keys, mut certs) = (0, 0);
    for set in &plan.sets {
        let deletes = set
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::Delete)
            .count();
        match set.address.kind {
            CredentialKind::AccessKey => keys += deletes,
            CredentialKind::SigningCertificate => certs += deletes,
        }
    }
    let (what, one) = match (keys, certs) {
        (0, 0) => return None,
        (n, 0) => (format!("{n} access key(s)"), "key"),
        (0, n) => (format!("{n} signing certificate(s)"), "certificate"),
        (k, c) => (
            format!(
                "{} credential(s): {k} access key(s) and {c} signing certificate(s)",
                k + c
            ),
            "credential",
        ),
    };
    Some(format!(
        "> [!CAUTION]\n> This plan **deletes {what}**. A deleted {one} cannot be restored: check that nothing still uses it.\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{Address, KeyId, KeyStatus};
    use crate::core::plan::{Action, ActionKind, KeyView, Reason, ReasonCode, Role, SetPlan};
    use crate::core::state::Phase;

    fn huge_plan(sets: usize) -> Plan {
        let now: crate::core::model::Time = "2026-06-01T00:00:00Z".parse().unwrap();
        let sets = (0..sets)
            .map(|i| {
                let id = KeyId(format!("AKIA{i:016}"));
                SetPlan {
                    address: Address::access_key(format!("user-{i}")),
                    selector: None,
                    phase: Phase::Inactive,
                    keys: vec![KeyView {
                        id: id.clone(),
                        role: Some(Role::Previous),
                        status: KeyStatus::Inactive,
                        born: now,
                        cert: None,
                        last_used: None,
                    }],
                    drift: Vec::new(),
                    actions: vec![Action {
                        kind: ActionKind::Delete,
                        key: Some(id),
                        reason: Reason::new(
                            ReasonCode::InactiveFor,
                            "Inactive for 8d, inactive_for is 7d",
                        ),
                        frees_slot: false,
                    }],
                    waits: Vec::new(),
                    checks: Vec::new(),
                }
            })
            .collect();
        Plan {
            now,
            refresh_only: false,
            sets,
            password_policy: None,
            findings: Vec::new(),
        }
    }

    #[test]
    fn long_plans_are_truncated_under_the_comment_limit() {
        let saved = SavedFile {
            apply: "keyrot apply plan.json",
            digest: "sha256:00",
        };
        let text = plan(&huge_plan(3000), Some(&saved), KeyIds::Masked);
        assert!(text.len() <= 65_536, "{} characters", text.len());
        assert!(text.contains(
            "**Plan: 0 to import, 0 to create, 0 to deactivate, 3000 to delete, 0 waiting.**"
        ));
        assert!(
            text.contains("deletes 3000 access key(s)"),
            "the warning survives truncation"
        );
        assert!(text.contains("was truncated"));
        assert!(text.contains("</details>") && text.contains("keyrot apply plan.json"));
        // A short plan is not truncated.
        let short = plan(&huge_plan(3), None, KeyIds::Masked);
        assert!(!short.contains("was truncated") && short.contains("user-2"));
    }

    #[test]
    fn the_deletion_warning_names_what_is_deleted() {
        let mut mixed = huge_plan(3);
        mixed.sets[2].address = Address::signing_certificate("user-2");
        let warning = deletes_warning(&mixed).unwrap();
        assert!(
            warning.contains("**deletes 3 credential(s): 2 access key(s) and 1 signing certificate(s)**. A deleted credential cannot"),
            "{warning}"
        );
        for set in &mut mixed.sets {
            set.address.kind = CredentialKind::SigningCertificate;
        }
        let warning = deletes_warning(&mixed).unwrap();
        assert!(
            warning.contains("**deletes 3 signing certificate(s)**. A deleted certificate cannot"),
            "{warning}"
        );
        assert_eq!(deletes_warning(&huge_plan(0)), None);
    }
}
