//! `keyrot log` output: one line per event (time, action, address, key, outcome, who),
//! with the message of a failed or recovered step beneath; or the JSON lines as stored.

use super::{timestamp, Style};
use crate::core::event::{Event, Outcome, Who};
use std::fmt::Write;

/// The history as text; key ids masked to their last four characters unless `full_ids`.
pub fn text(events: &[Event], full_ids: bool, style: Style) -> String {
    let action_width = events
        .iter()
        .map(|e| e.action.as_str().len())
        .max()
        .unwrap_or(0);
    let address_width = events.iter().map(|e| target(e).len()).max().unwrap_or(0);
    let key_width = events
        .iter()
        .map(|e| key(e, full_ids).len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for e in events {
        // Padded before painting: escape codes would count as width.
        let padded = format!("{:<11}", e.outcome.as_str());
        let outcome = match e.outcome {
            Outcome::Succeeded => style.green(&padded),
            Outcome::Failed => style.red(&padded),
            Outcome::Recovered | Outcome::Interrupted => style.yellow(&padded),
        };
        let clock = e
            .clock
            .map(|c| format!(" (keyrot's clock: {})", timestamp(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  {:<action_width$}  {:<address_width$}  {:<key_width$}  {outcome}  {} ({}){clock}",
            timestamp(e.time),
            e.action.as_str(),
            target(e),
            key(e, full_ids),
            who(&e.who),
            e.command,
        );
        if e.outcome != Outcome::Succeeded {
            if let Some(message) = &e.message {
                let _ = writeln!(out, "    {}", style.dim(message));
            }
        }
    }
    out
}

/// The history as JSON lines, each with `format_version`, as the log stores them.
pub fn json(events: &[Event]) -> String {
    events.iter().map(Event::to_line).collect()
}

/// The set, or `account` for an account-wide step.
fn target(e: &Event) -> String {
    e.address
        .as_ref()
        .map_or_else(|| "account".to_string(), ToString::to_string)
}

fn key(e: &Event, full: bool) -> String {
    match &e.key_id {
        Some(k) if full => k.0.clone(),
        Some(k) => k.masked(),
        None => "-".to_string(),
    }
}

/// `user@host as ARN, CI run URL`, with whatever is known.
fn who(who: &Who) -> String {
    let mut out = match (&who.user, &who.host) {
        (Some(u), Some(h)) => format!("{u}@{h}"),
        (Some(u), None) => u.clone(),
        (None, Some(h)) => format!("on {h}"),
        (None, None) => "unknown".to_string(),
    };
    if let Some(arn) = &who.aws_identity {
        let _ = write!(out, " as {arn}");
    }
    if let Some(ci) = &who.ci_run {
        let _ = write!(out, ", {ci}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{EventAction, FORMAT_VERSION};
    use crate::core::model::{Address, KeyId};

    fn event(outcome: Outcome, message: Option<&str>) -> Event {
        Event {
            format_version: FORMAT_VERSION.into(),
            time: "2026-03-01T10:00:00.500Z".parse().unwrap(),
            run_id: "r".into(),
            seq: 1,
            command: "apply".into(),
            address: Some(Address::access_key("ci")),
            action: EventAction::Deactivate,
            key_id: Some(KeyId("AKIAIOSFODNN7EXAMPLE".into())),
            outcome,
            message: message.map(str::to_string),
            step: None,
            clock: None,
            who: Who {
                user: Some("alice".into()),
                host: Some("build-7".into()),
                aws_identity: Some("arn:aws:iam::123456789012:user/keyrot".into()),
                ci_run: Some("https://ci.example/runs/9".into()),
            },
        }
    }

    #[test]
    fn a_line_says_when_what_which_key_how_and_who_with_the_key_masked() {
        let style = Style { color: false };
        let out = text(&[event(Outcome::Succeeded, Some("done"))], false, style);
        assert_eq!(
            out,
            "2026-03-01T10:00:00Z  deactivate  user.ci.access_key  ****************MPLE  succeeded    \
             alice@build-7 as arn:aws:iam::123456789012:user/keyrot, https://ci.example/runs/9 (apply)\n"
        );
        let full = text(&[event(Outcome::Succeeded, None)], true, style);
        assert!(full.contains("AKIAIOSFODNN7EXAMPLE"), "{full}");
    }

    #[test]
    fn a_failed_step_shows_its_message_beneath() {
        let style = Style { color: false };
        let out = text(
            &[event(Outcome::Failed, Some("AccessDenied"))],
            false,
            style,
        );
        assert!(out.contains(" failed "), "{out}");
        assert!(out.ends_with("\n    AccessDenied\n"), "{out}");
    }
}
