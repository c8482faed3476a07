//! The one message a run sends to its `notify` channels: what was done, what failed, what
//! waits until when. Built from texts that never hold a secret (apply's report lines, IAM
//! errors, the plan's waits), with every known key id masked to its last four characters.

use crate::core::model::{timestamp, KeyId, Time};
use crate::core::plan::Plan;
use serde_json::{json, Value};

/// What a run can be worth telling: a `notify` block names the ones it wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// Something was done (a key created, deactivated, deleted, imported...).
    Applied,
    /// A set's step failed, or the run stopped.
    Failed,
    /// A key was put back: `keyrot rollback`, or a revert.
    Rollback,
    /// Sets wait for a window to pass (or for a person).
    Waiting,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::Applied,
        Event::Failed,
        Event::Rollback,
        Event::Waiting,
    ];
    pub const NAMES: &'static str = "applied, failed, rollback, waiting";

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Applied => "applied",
            Event::Failed => "failed",
            Event::Rollback => "rollback",
            Event::Waiting => "waiting",
        }
    }

    pub fn parse(text: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// The command whose run is summarized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Apply,
    Rollback,
}

impl Run {
    pub fn as_str(self) -> &'static str {
        match self {
            Run::Apply => "apply",
            Run::Rollback => "rollback",
        }
    }
}

/// A set (or the password policy) whose step failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub target: String,
    pub action: String,
    pub error: String,
}

/// A step that waits: for a window (`due`) or for a person (`blocked`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub address: String,
    pub step: &'static str,
    pub due: Option<Time>,
    pub blocked: bool,
    pub reason: String,
}

/// Lists longer than this are cut, saying how many more there were (the counts stay whole).
pub const MAX_ITEMS: usize = 50;

/// Version of the structured `keyrot` object in a webhook's JSON body.
const FORMAT_VERSION: u64 = 1;

/// One run's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub run: Run,
    /// keyrot's clock for the run.
    pub at: Time,
    /// Who keyrot acted as (a caller ARN), when known.
    pub identity: Option<String>,
    pub done: Vec<String>,
    /// Sets put back on their previous key, a sentence each.
    pub rolled_back: Vec<String>,
    pub failed: Vec<Failure>,
    /// Why the whole run stopped early, if it did.
    pub stopped: Option<String>,
    /// Sets left at the deactivate→delete checkpoint, with how to go on or back.
    pub checkpoints: Vec<String>,
    pub waiting: Vec<Waiting>,
}

impl Summary {
    pub fn new(run: Run, at: Time) -> Summary {
        Summary {
            run,
            at,
            identity: None,
            done: Vec::new(),
            rolled_back: Vec::new(),
            failed: Vec::new(),
            stopped: None,
            checkpoints: Vec::new(),
            waiting: Vec::new(),
        }
    }

    /// Every step of `plan` that waits, in plan order.
    pub fn waits_of(plan: &Plan) -> Vec<Waiting> {
        plan.sets
            .iter()
            .flat_map(|set| {
                set.waits.iter().map(|w| Waiting {
                    address: set.address.to_string(),
                    step: w.step.as_str(),
                    due: w.due,
                    blocked: w.needs_a_person(),
                    reason: w.reason.message.clone(),
                })
            })
            .collect()
    }

    /// A run that changed nothing and where nothing failed has no news: a daily schedule
    /// with only waiting sets stays quiet.
    pub fn is_news(&self) -> bool {
        !(self.done.is_empty()
            && self.rolled_back.is_empty()
            && self.failed.is_empty()
            && self.stopped.is_none())
    }

    /// The events this run is an instance of, in `Event` order.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        if self.run == Run::Apply && !self.done.is_empty() {
            events.push(Event::Applied);
        }
        if !self.failed.is_empty() || self.stopped.is_some() {
            events.push(Event::Failed);
        }
        if self.run == Run::Rollback || !self.rolled_back.is_empty() {
            events.push(Event::Rollback);
        }
        if !self.waiting.is_empty() {
            events.push(Event::Waiting);
        }
        events
    }

    /// Replaces every occurrence of a full key id in the summary's texts by its masked
    /// form (IAM's own error messages name keys in full).
    pub fn mask(&mut self, ids: &[KeyId]) {
        let mut ids: Vec<&KeyId> = ids.iter().filter(|k| k.0.chars().count() > 4).collect();
        // Longest first, so a shorter id inside a longer one cannot break it up.
        ids.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.cmp(b)));
        ids.dedup();
        let mask = |text: &mut String| {
            for id in &ids {
                if text.contains(id.0.as_str()) {
                    *text = text.replace(id.0.as_str(), &id.masked());
                }
            }
        };
        let lines = self.done.iter_mut().chain(&mut self.rolled_back);
        lines.chain(&mut self.checkpoints).for_each(&mask);
        self.stopped.iter_mut().for_each(&mask);
        for f in &mut self.failed {
            mask(&mut f.error);
        }
        for w in &mut self.waiting {
            mask(&mut w.reason);
        }
    }

    /// One line, e.g. `keyrot apply: 3 done, 1 failed, 2 waiting`; ASCII, under 100
    /// characters (SNS's Subject rules).
    pub fn subject(&self) -> String {
        let mut parts = vec![format!("{} done", self.done.len())];
        if !self.rolled_back.is_empty() {
            parts.push("rolled back".to_string());
        }
        if !self.failed.is_empty() {
            parts.push(format!("{} failed", self.failed.len()));
        }
        if self.stopped.is_some() {
            parts.push("stopped".to_string());
        }
        if !self.waiting.is_empty() {
            parts.push(format!("{} waiting", self.waiting.len()));
        }
        let subject = format!("keyrot {}: {}", self.run.as_str(), parts.join(", "));
        subject.chars().filter(char::is_ascii).take(99).collect()
    }

    /// The message as text: plain (SNS, e-mail) or Slack mrkdwn.
    pub fn text(&self, slack: bool) -> String {
        let esc = |s: &str| {
            if slack {
                slack_escape(s)
            } else {
                s.to_string()
            }
        };
        let bold = |s: &str| {
            if slack {
                format!("*{s}*")
            } else {
                s.to_string()
            }
        };
        let mut out = bold(&esc(&self.subject()));
        let by = self.identity.as_deref().map(|i| format!(" as {i}"));
        out.push_str(&esc(&format!(
            "\nat {}{}",
            timestamp(self.at),
            by.unwrap_or_default()
        )));
        let failures: Vec<String> = self
            .failed
            .iter()
            .map(|f| format!("{}: {} failed: {}", f.target, f.action, f.error))
            .collect();
        let waits: Vec<String> = self.waiting.iter().map(describe_wait).collect();
        let stopped: Vec<String> = self.stopped.iter().cloned().collect();
        let sections = [
            ("Stopped (every finished step is saved)", &stopped),
            ("Failed (left as they were)", &failures),
            ("Done", &self.done),
            ("Rolled back", &self.rolled_back),
            ("Checkpoints", &self.checkpoints),
            ("Waiting", &waits),
        ];
        for (title, lines) in sections {
            if lines.is_empty() {
                continue;
            }
            out.push_str(&format!("\n\n{}", bold(title)));
            for line in lines.iter().take(MAX_ITEMS) {
                out.push_str(&format!("\n• {}", esc(line)));
            }
            if lines.len() > MAX_ITEMS {
                out.push_str(&format!("\n… and {} more", lines.len() - MAX_ITEMS));
            }
        }
        out
    }

    /// A Slack-compatible webhook body: `text` in mrkdwn, and the same summary as data
    /// under `keyrot` (lists cut at [`MAX_ITEMS`]; `counts` are whole).
    pub fn webhook_json(&self) -> String {
        let cut = |v: &[String]| v.iter().take(MAX_ITEMS).cloned().collect::<Vec<_>>();
        let failed: Vec<Value> = self
            .failed
            .iter()
            .take(MAX_ITEMS)
            .map(|f| json!({"target": f.target, "action": f.action, "error": f.error}))
            .collect();
        let waiting: Vec<Value> = self
            .waiting
            .iter()
            .take(MAX_ITEMS)
            .map(|w| {
                json!({
                    "address": w.address,
                    "step": w.step,
                    "due": w.due.map(timestamp),
                    "blocked": w.blocked,
                    "reason": w.reason,
                })
            })
            .collect();
        let events: Vec<&str> = self.events().into_iter().map(Event::as_str).collect();
        let body = json!({
            "text": self.text(true),
            "keyrot": {
                "format_version": FORMAT_VERSION,
                "command": self.run.as_str(),
                "events": events,
                "at": timestamp(self.at),
                "identity": self.identity,
                "counts": {
                    "done": self.done.len(),
                    "rolled_back": self.rolled_back.len(),
                    "failed": self.failed.len(),
                    "checkpoints": self.checkpoints.len(),
                    "waiting": self.waiting.len(),
                },
                "done": cut(&self.done),
                "rolled_back": cut(&self.rolled_back),
                "failed": failed,
                "stopped": self.stopped,
                "checkpoints": cut(&self.checkpoints),
                "waiting": waiting,
            }
        });
        body.to_string()
    }
}

fn describe_wait(w: &Waiting) -> String {
    match (w.blocked, w.due) {
        (true, _) => format!("{}: blocked until a person acts: {}", w.address, w.reason),
        (false, Some(due)) => format!(
            "{}: {} at or after {} ({})",
            w.address,
            w.step,
            timestamp(due),
            w.reason
        ),
        (false, None) => format!("{}: {} ({})", w.address, w.step, w.reason),
    }
}

/// Slack reads `&`, `<` and `>` as markup: escaped as its docs ask.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> Time {
        chrono::Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()
    }

    fn busy() -> Summary {
        let mut s = Summary::new(Run::Apply, at());
        s.identity = Some("arn:aws:iam::123456789012:user/keyrot".into());
        s.done = vec!["user.a.access_key: created key ****************WXYZ".into()];
        s.failed = vec![Failure {
            target: "user.b.access_key".into(),
            action: "deactivate".into(),
            error: "The Access Key with id AKIAB00000000000FULL cannot be found <x> & y".into(),
        }];
        s.waiting = vec![Waiting {
            address: "user.c.access_key".into(),
            step: "delete",
            due: Some(at() + chrono::Duration::days(7)),
            blocked: false,
            reason: "deleted once Inactive for 7d".into(),
        }];
        s
    }

    #[test]
    fn events_follow_what_happened() {
        let quiet = Summary::new(Run::Apply, at());
        assert!(!quiet.is_news());
        assert!(quiet.events().is_empty());
        let mut waiting_only = Summary::new(Run::Apply, at());
        waiting_only.waiting = busy().waiting;
        assert!(
            !waiting_only.is_news(),
            "a run that only waits sends nothing"
        );
        assert_eq!(waiting_only.events(), vec![Event::Waiting]);
        assert_eq!(
            busy().events(),
            vec![Event::Applied, Event::Failed, Event::Waiting]
        );
        let mut rollback = Summary::new(Run::Rollback, at());
        rollback.done = vec!["user.a.access_key: key ****WXYZ is now Active".into()];
        assert!(rollback.is_news());
        assert_eq!(rollback.events(), vec![Event::Rollback]);
        let mut stopped = Summary::new(Run::Apply, at());
        stopped.stopped = Some("lost the lock".into());
        assert!(stopped.is_news());
        assert_eq!(stopped.events(), vec![Event::Failed]);
    }

    #[test]
    fn event_names_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert!(Event::NAMES.contains(e.as_str()));
        }
        assert_eq!(Event::parse("apply"), None);
    }

    #[test]
    fn masks_known_key_ids_everywhere() {
        let mut s = busy();
        s.stopped = Some("key AKIAB00000000000FULL".into());
        s.mask(&[KeyId("AKIAB00000000000FULL".into())]);
        let body = s.webhook_json();
        assert!(!body.contains("AKIAB00000000000FULL"), "{body}");
        assert!(body.contains("****************FULL"), "{body}");
        assert!(!s.text(false).contains("AKIAB00000000000FULL"));
    }

    #[test]
    fn text_has_every_section_and_slack_escapes() {
        let s = busy();
        let plain = s.text(false);
        assert!(plain.starts_with("keyrot apply: 1 done, 1 failed, 1 waiting\n"));
        assert!(plain.contains("as arn:aws:iam::123456789012:user/keyrot"));
        assert!(plain.contains("• user.b.access_key: deactivate failed: The Access Key"));
        assert!(plain.contains(
            "• user.c.access_key: delete at or after 2025-03-08T00:00:00Z (deleted once"
        ));
        assert!(plain.contains("<x> & y"));
        let slack = s.text(true);
        assert!(slack.starts_with("*keyrot apply: 1 done, 1 failed, 1 waiting*"));
        assert!(slack.contains("&lt;x&gt; &amp; y"), "{slack}");
    }

    #[test]
    fn webhook_json_carries_text_and_data() {
        let body: Value = serde_json::from_str(&busy().webhook_json()).unwrap();
        assert!(body["text"].as_str().unwrap().starts_with("*keyrot apply"));
        let k = &body["keyrot"];
        assert_eq!(k["format_version"], 1);
        assert_eq!(k["command"], "apply");
        assert_eq!(k["events"], json!(["applied", "failed", "waiting"]));
        assert_eq!(k["counts"]["failed"], 1);
        assert_eq!(k["failed"][0]["action"], "deactivate");
        assert_eq!(k["waiting"][0]["due"], "2025-03-08T00:00:00Z");
        assert_eq!(k["stopped"], Value::Null);
    }

    #[test]
    fn long_lists_are_cut_but_counted() {
        let mut s = Summary::new(Run::Apply, at());
        s.done = (0..MAX_ITEMS + 7).map(|i| format!("line {i}")).collect();
        let text = s.text(false);
        assert!(text.contains(&format!("line {}", MAX_ITEMS - 1)));
        assert!(!text.contains(&format!("line {MAX_ITEMS}")));
        assert!(text.ends_with("… and 7 more"), "{text}");
        let body: Value = serde_json::from_str(&s.webhook_json()).unwrap();
        assert_eq!(body["keyrot"]["done"].as_array().unwrap().len(), MAX_ITEMS);
        assert_eq!(body["keyrot"]["counts"]["done"], MAX_ITEMS + 7);
    }

    #[test]
    fn subject_fits_sns() {
        let mut s = busy();
        s.run = Run::Rollback;
        s.stopped = Some("x".into());
        let subject = s.subject();
        assert_eq!(
            subject,
            "keyrot rollback: 1 done, 1 failed, stopped, 1 waiting"
        );
        assert!(subject.is_ascii() && subject.len() < 100 && !subject.contains('\n'));
    }
}
