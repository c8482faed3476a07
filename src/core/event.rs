//! The audit trail's event: one JSON line per step keyrot applied (or failed to), kept
//! with the state. The versioned line format (`state/schema/event.schema.json`), reading a
//! log that a crash may have cut mid-line, and the history an auditor asks for.
//!
//! Key ids are full here (auditors match them with CloudTrail); an event never holds a
//! secret.

use crate::core::model::{Address, KeyId, Time};
use crate::core::plan::ActionKind;
use serde::{Deserialize, Serialize};

/// The version of the event line format.
pub const FORMAT_VERSION: &str = "1";

/// Who runs keyrot, as the environment names it (read once by the CLI), and this
/// invocation's run id, which groups its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    pub user: Option<String>,
    pub host: Option<String>,
    /// A CI run's URL, when the environment names one.
    pub ci_run: Option<String>,
    pub run_id: String,
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    Create,
    Deactivate,
    Reactivate,
    Delete,
    /// Started tracking a key keyrot did not create.
    Import,
    /// Recorded a change made outside keyrot.
    Refresh,
    /// Stopped tracking a key deleted outside keyrot.
    Untrack,
    /// Stopped managing a set (`state rm`, or removed from the config); IAM untouched.
    Forget,
    /// Released a rotation held by rollback.
    Resume,
    /// Ran a set's confirm checks (`failed` when one failed; the revert is its own event).
    Confirm,
    /// Kept a key an interrupted create may have made, for a person to decide about.
    MarkUnresolved,
    /// A person's decision to manage an unresolved key (`keyrot import`).
    ClearUnresolved,
    /// The account password policy (an account-wide event: no address).
    UpdatePasswordPolicy,
    DeletePasswordPolicy,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Create => "create",
            EventAction::Deactivate => "deactivate",
            EventAction::Reactivate => "reactivate",
            EventAction::Delete => "delete",
            EventAction::Import => "import",
            EventAction::Refresh => "refresh",
            EventAction::Untrack => "untrack",
            EventAction::Forget => "forget",
            EventAction::Resume => "resume",
            EventAction::Confirm => "confirm",
            EventAction::MarkUnresolved => "mark_unresolved",
            EventAction::ClearUnresolved => "clear_unresolved",
            EventAction::UpdatePasswordPolicy => "update_password_policy",
            EventAction::DeletePasswordPolicy => "delete_password_policy",
        }
    }
}

impl From<&ActionKind> for EventAction {
    fn from(kind: &ActionKind) -> Self {
        match kind {
            ActionKind::Create => EventAction::Create,
            ActionKind::Deactivate => EventAction::Deactivate,
            ActionKind::Reactivate => EventAction::Reactivate,
            ActionKind::Delete => EventAction::Delete,
            ActionKind::Import { .. } => EventAction::Import,
            ActionKind::Refresh { .. } => EventAction::Refresh,
            ActionKind::Untrack => EventAction::Untrack,
            ActionKind::Forget => EventAction::Forget,
            ActionKind::Confirm => EventAction::Confirm,
        }
    }
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// The step failed; `message` says why. A failed create that made a key names it.
    Failed,
    /// A step an interrupted run left unfinished, found done in IAM and recorded by the run
    /// that settled it; `message` says what it found.
    Recovered,
    /// A step an interrupted run left unfinished that had changed nothing in IAM.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Recovered => "recovered",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// Who ran a step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Who {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The AWS identity keyrot acted as (STS GetCallerIdentity), when it asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub format_version: String,
    /// The real time the step ended, in milliseconds.
    #[serde(with = "millis")]
    pub time: Time,
    /// The invocation that wrote it; `seq` orders its events.
    pub run_id: String,
    pub seq: u32,
    /// The keyrot command: `apply`, `rollback`, `resume`, `import`, `state rm`.
    pub command: String,
    /// The credential set; `None` for an account-wide step (the password policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub action: EventAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<KeyId>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The journal entry of the IAM call, which ties recovery's event to the step it settles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// keyrot's clock for the step when `--now` moved it away from `time`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::core::model::instant::option"
    )]
    pub clock: Option<Time>,
    pub who: Who,
}

impl Event {
    /// The event as one line of the log, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// The order of the history: time, then the run and its own order.
    fn order(&self) -> (Time, &str, u32) {
        (self.time, &self.run_id, self.seq)
    }
}

/// RFC 3339 in milliseconds: steps of one run are often less than a second apart.
mod millis {
    use crate::core::model::{instant, Time};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        instant::deserialize(d)
    }
}

/// A line of a log that could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number (or object number in a listing).
    pub line: usize,
    /// The last line without its newline: a crash cut the append short.
    pub torn: bool,
    pub problem: String,
}

/// The events of a log's text, and the lines that could not be read.
#[derive(Debug, Default)]
pub struct ParsedLog {
    pub events: Vec<Event>,
    pub bad: Vec<BadLine>,
}

/// Reads a JSON-lines log. A last line without its newline is torn (a crash mid-append);
/// it and any other unreadable line are reported, never fatal.
pub fn parse_log(text: &str) -> ParsedLog {
    let mut out = ParsedLog::default();
    let ends_cleanly = text.is_empty() || text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let torn = !ends_cleanly && i + 1 == lines.len();
        match parse_event(line) {
            Ok(event) if !torn => out.events.push(event),
            Ok(_) => out.bad.push(BadLine {
                line: i + 1,
                torn,
                problem: "the line has no newline".into(),
            }),
            Err(problem) => out.bad.push(BadLine {
                line: i + 1,
                torn,
                problem,
            }),
        }
    }
    out
}

/// One event line; an unknown format version is refused.
pub fn parse_event(text: &str) -> Result<Event, String> {
    #[derive(Deserialize)]
    struct Probe {
        format_version: Option<String>,
    }
    let probe: Probe = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match probe.format_version.as_deref() {
        Some(FORMAT_VERSION) => serde_json::from_str(text).map_err(|e| e.to_string()),
        Some(other) => Err(format!(
            "format_version {other} is not one this keyrot reads ({FORMAT_VERSION})"
        )),
        None => Err("no format_version".into()),
    }
}

/// The history of `address` (every event when `None`), oldest first.
pub fn history(mut events: Vec<Event>, address: Option<&Address>) -> Vec<Event> {
    events.retain(|e| address.is_none_or(|a| e.address.as_ref() == Some(a)));
    events.sort_by(|a, b| a.order().cmp(&b.order()));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(user: &str, time: &str, seq: u32) -> Event {
        Event {
            format_version: FORMAT_VERSION.into(),
            time: time.parse().unwrap(),
            run_id: "run-1".into(),
            seq,
            command: "apply".into(),
            address: Some(Address::access_key(user)),
            action: EventAction::Create,
            key_id: Some(KeyId("AKIAEXAMPLE0001".into())),
            outcome: Outcome::Succeeded,
            message: None,
            step: None,
            clock: None,
            who: Who {
                user: Some("alice".into()),
                ..Who::default()
            },
        }
    }

    #[test]
    fn a_line_round_trips_with_milliseconds() {
        let e = event("a", "2026-03-01T10:00:00.250Z", 1);
        let line = e.to_line();
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert!(
            line.contains("\"time\":\"2026-03-01T10:00:00.250Z\""),
            "{line}"
        );
        assert_eq!(parse_event(line.trim_end()), Ok(e));
    }

    #[test]
    fn a_torn_last_line_and_a_bad_line_are_reported_not_fatal() {
        let a = event("a", "2026-03-01T10:00:00Z", 1).to_line();
        let b = event("b", "2026-03-01T10:00:01Z", 2).to_line();
        let text = format!("{a}not json\n{b}{}", &a[..a.len() / 2]);
        let parsed = parse_log(&text);
        assert_eq!(parsed.events.len(), 2);
        assert_eq!(parsed.bad.len(), 2, "{:?}", parsed.bad);
        assert_eq!((parsed.bad[0].line, parsed.bad[0].torn), (2, false));
        assert_eq!((parsed.bad[1].line, parsed.bad[1].torn), (4, true));
        // A whole event that lost only its newline is torn too: its append did not finish.
        let parsed = parse_log(a.trim_end());
        assert!(parsed.events.is_empty() && parsed.bad[0].torn);
    }

    #[test]
    fn another_format_version_is_refused() {
        let line = event("a", "2026-03-01T10:00:00Z", 1)
            .to_line()
            .replace("\"format_version\":\"1\"", "\"format_version\":\"2\"");
        let err = parse_event(line.trim_end()).unwrap_err();
        assert!(err.contains("format_version 2"), "{err}");
    }

    #[test]
    fn history_filters_by_address_and_sorts_by_time_then_run_order() {
        let later = event("a", "2026-03-02T00:00:00Z", 1);
        let first = event("a", "2026-03-01T00:00:00Z", 2);
        let second = event("a", "2026-03-01T00:00:00Z", 3);
        let other = event("b", "2026-03-01T00:00:00Z", 1);
        let account = Event {
            address: None,
            action: EventAction::UpdatePasswordPolicy,
            ..event("a", "2026-03-01T00:00:00Z", 4)
        };
        let all = vec![later.clone(), second.clone(), other, first.clone(), account];
        let a = Address::access_key("a");
        assert_eq!(history(all.clone(), Some(&a)), vec![first, second, later]);
        assert_eq!(history(all, None).len(), 5);
    }
}
