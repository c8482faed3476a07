//! The audit trail, from the use cases' side: every step a writing command applies — or
//! fails, or settles after an interruption — becomes one event naming who ran it; and the
//! history `keyrot log` prints.
//!
//! Ordering: a step's event is appended after its IAM call and before the state write
//! that records it. A crash between the two leaves the journal intent, and recovery, which
//! records the step in state, finds the step's event by its journal id and writes none
//! again; a crash before the event leaves recovery to write it (outcome `recovered`). So
//! every IAM change keyrot makes reaches the log once. A state-only step (import, refresh,
//! forget, resume) cut off between its event and its state write is planned and logged
//! again by the next run.

use crate::adapters::blocking;
use crate::adapters::store::events::{EventError, EventLog, Unreadable};
use crate::adapters::store::journal::{Intent, Op};
use crate::core::config::Config;
use crate::core::event::{self, Actor, Event, EventAction, Outcome, Who, FORMAT_VERSION};
use crate::core::model::{Address, KeyId, Time};
use crate::core::state::ClockOverride;
use crate::ops::error::Result;
use crate::ops::recover::Reconciled;
use crate::ops::session::Session;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// How far before its journal intent a step's event can be dated (the intent is on IAM's
/// clock, the event on ours).
const STEP_EVENT_MARGIN: chrono::Duration = chrono::Duration::minutes(10);

/// Writes a command's events, numbered in order, with who runs it.
pub struct Recorder {
    log: EventLog,
    actor: Actor,
    command: String,
    /// Who keyrot acts as in AWS, once a writing command has asked STS.
    identity: Option<String>,
    /// keyrot's clock (`--now`), recorded beside the real time when they differ.
    now: Time,
    /// The real time, when each event is written (tests pass their own).
    clock: Box<dyn Fn() -> Time + Send + Sync>,
    seq: AtomicU32,
    /// Events of steps finishing together, waiting for the one write that takes them all.
    book: Mutex<Book>,
    /// Held from taking the waiting events to their write's end: writes land in order.
    writer: tokio::sync::Mutex<()>,
}

/// The events waiting to be written, and how many of those staged are written.
#[derive(Default)]
struct Book {
    waiting: Vec<Event>,
    staged: u64,
    written: u64,
}

/// One event, before the recorder adds when, who and where in the run.
pub struct Entry<'a> {
    /// The set; `None` for an account-wide step (the password policy).
    pub address: Option<&'a Address>,
    pub action: EventAction,
    pub key: Option<&'a KeyId>,
    pub outcome: Outcome,
    pub message: Option<String>,
    /// The journal intent's step id, for a step that calls IAM.
    pub step: Option<&'a str>,
}

impl Recorder {
    pub fn new(log: EventLog, actor: Actor, command: &str, now: Time) -> Self {
        Recorder {
            log,
            actor,
            command: command.to_string(),
            identity: None,
            now,
            clock: Box::new(chrono::Utc::now),
            seq: AtomicU32::new(0),
            book: Mutex::new(Book::default()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Events dated by `clock` instead of the real time (tests with a fake clock).
    pub fn with_clock(self, clock: impl Fn() -> Time + Send + Sync + 'static) -> Self {
        Recorder {
            clock: Box::new(clock),
            ..self
        }
    }

    pub fn set_identity(&mut self, identity: Option<String>) {
        self.identity = identity;
    }

    /// Appends one event, dated now.
    pub fn record(&self, entry: Entry<'_>) -> Result<(), EventError> {
        self.log.append(&self.event(entry))
    }

    /// Appends one event, dated now, in one write with the events of other steps that
    /// finish at the same moment, made on a blocking thread while they go on. Returns once
    /// this event is durable.
    pub async fn record_shared(&self, entry: Entry<'_>) -> Result<(), EventError> {
        let mine = {
            let mut book = self.book();
            book.waiting.push(self.event(entry));
            book.staged += 1;
            book.staged
        };
        let _writer = self.writer.lock().await;
        let (upto, events) = {
            let mut book = self.book();
            if book.written >= mine {
                return Ok(());
            }
            (book.staged, std::mem::take(&mut book.waiting))
        };
        let log = self.log.clone();
        let batch = events.clone();
        let done = blocking::write(move || log.append_all(&batch))
            .await
            .unwrap_or_else(|message| {
                Err(EventError::Remote {
                    what: self.log.location(),
                    message,
                })
            });
        let mut book = self.book();
        match done {
            Ok(()) => {
                book.written = upto;
                Ok(())
            }
            Err(e) => {
                // Not written: they go first in the next write (if the run goes on).
                book.waiting.splice(0..0, events);
                Err(e)
            }
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The event of `entry`, dated now and numbered next.
    fn event(&self, entry: Entry<'_>) -> Event {
        let time = (self.clock)();
        Event {
            format_version: FORMAT_VERSION.to_string(),
            time,
            run_id: self.actor.run_id.clone(),
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            command: self.command.clone(),
            address: entry.address.cloned(),
            action: entry.action,
            key_id: entry.key.cloned(),
            outcome: entry.outcome,
            message: entry.message,
            step: entry.step.map(str::to_string),
            clock: ClockOverride::between(self.now, time).map(|o| o.used),
            who: Who {
                user: self.actor.user.clone(),
                host: self.actor.host.clone(),
                aws_identity: self.identity.clone(),
                ci_run: self.actor.ci_run.clone(),
            },
        }
    }

    /// An event about one key of a set, outside a journaled step of its own.
    pub fn key(
        &self,
        address: &Address,
        action: EventAction,
        key: &KeyId,
        outcome: Outcome,
        message: impl Into<String>,
    ) -> Result<(), EventError> {
        self.record(Entry {
            address: Some(address),
            action,
            key: Some(key),
            outcome,
            message: Some(message.into()),
            step: None,
        })
    }

    /// The outcome of the event the step of `intent` wrote before it was cut off, if it
    /// wrote one.
    pub fn logged_step(&self, intent: &Intent) -> Result<Option<Outcome>, EventError> {
        let Some(step) = &intent.step else {
            return Ok(None);
        };
        let read = self.log.read_since(Some(intent.at - STEP_EVENT_MARGIN))?;
        let mut outcomes = read
            .events
            .iter()
            .filter(|e| e.step.as_deref() == Some(step.as_str()))
            .map(|e| e.outcome);
        Ok(outcomes.next())
    }

    /// The interrupted step's own event, unless the one it wrote says it all — it
    /// succeeded, or it failed and recovery found nothing of it in IAM (`logged`: that
    /// event's outcome). Recovery's own calls log themselves (`ops::recover`).
    pub fn recovery(
        &self,
        intent: &Intent,
        reconciled: &Reconciled,
        logged: Option<Outcome>,
    ) -> Result<(), EventError> {
        let step_event = match logged {
            None => true,
            Some(Outcome::Failed) => reconciled.recorded,
            Some(_) => false,
        };
        if !step_event {
            return Ok(());
        }
        // A create made a key if IAM answered, or if recovery found the one it made.
        let happened = reconciled.recorded
            || (intent.op == Op::Create && (intent.key_id.is_some() || reconciled.made));
        let (outcome, message) = match (happened, reconciled.said.is_empty()) {
            (true, _) => (Outcome::Recovered, reconciled.said.join("; ")),
            (false, true) => (
                Outcome::Interrupted,
                "interrupted before it changed anything in IAM".to_string(),
            ),
            (false, false) => (Outcome::Interrupted, reconciled.said.join("; ")),
        };
        self.record(Entry {
            address: Some(&intent.address),
            action: op_action(intent.op),
            key: reconciled.key.as_ref().or(intent.key_id.as_ref()),
            outcome,
            message: Some(message),
            step: intent.step.as_deref(),
        })
    }
}

fn op_action(op: Op) -> EventAction {
    match op {
        Op::Create => EventAction::Create,
        Op::Deactivate => EventAction::Deactivate,
        Op::Reactivate => EventAction::Reactivate,
        Op::Delete => EventAction::Delete,
    }
}

/// What `keyrot log` shows: the history, where it was read, and what could not be read.
#[derive(Debug)]
pub struct History {
    pub location: String,
    pub events: Vec<Event>,
    pub unreadable: Vec<Unreadable>,
}

/// The event log of the configured backend, oldest first, for one set or all. Read-only:
/// no lock is taken.
pub fn history(session: &Session, config: &Config, address: Option<&Address>) -> Result<History> {
    let log = session.event_log(config)?;
    let read = log.read()?;
    Ok(History {
        location: log.location(),
        events: event::history(read.events, address),
        unreadable: read.unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store::journal::Op;

    fn recorder(dir: &std::path::Path) -> Recorder {
        let actor = Actor {
            user: Some("alice".into()),
            run_id: "run".into(),
            ..Actor::default()
        };
        let now = "2026-03-01T00:00:00Z".parse().unwrap();
        Recorder::new(
            EventLog::for_state(&dir.join("k.json")),
            actor,
            "apply",
            now,
        )
    }

    fn intent(op: Op, key: Option<&str>) -> Intent {
        let at = "2026-03-01T00:00:00Z".parse().unwrap();
        Intent {
            op,
            address: Address::access_key("u"),
            key_id: key.map(|k| KeyId(k.into())),
            at,
            now: at,
            sinks_started: 0,
            sinks_begun: Vec::new(),
            step: Some("step-1".into()),
        }
    }

    fn outcomes(recorder: &Recorder) -> Vec<(EventAction, Outcome)> {
        let events = recorder.log.read().unwrap().events;
        events.iter().map(|e| (e.action, e.outcome)).collect()
    }

    #[test]
    fn recovery_says_whether_the_interrupted_step_had_happened() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        let nothing = Reconciled::default();
        let i = intent(Op::Deactivate, Some("AKIAOLD"));
        r.recovery(&i, &nothing, None).unwrap();
        let done = Reconciled {
            recorded: true,
            said: vec!["did set key Inactive".into()],
            ..Reconciled::default()
        };
        r.recovery(&i, &done, None).unwrap();
        // A create made its key if IAM answered, or if recovery found the key it made.
        let answered = Reconciled {
            key: Some(KeyId("AKIANEW".into())),
            ..Reconciled::default()
        };
        r.recovery(&intent(Op::Create, Some("AKIANEW")), &answered, None)
            .unwrap();
        let found = Reconciled {
            made: true,
            ..Reconciled::default()
        };
        r.recovery(&intent(Op::Create, None), &found, None).unwrap();
        r.recovery(&intent(Op::Create, None), &Reconciled::default(), None)
            .unwrap();
        assert_eq!(
            outcomes(&r),
            vec![
                (EventAction::Deactivate, Outcome::Interrupted),
                (EventAction::Deactivate, Outcome::Recovered),
                (EventAction::Create, Outcome::Recovered),
                (EventAction::Create, Outcome::Recovered),
                (EventAction::Create, Outcome::Interrupted),
            ]
        );
        assert_eq!(r.logged_step(&i).unwrap(), Some(Outcome::Interrupted));
    }

    #[test]
    fn a_step_that_logged_its_own_event_is_not_logged_again() {
        let dir = tempfile::tempdir().unwrap();
        let r = recorder(dir.path());
        let i = intent(Op::Delete, Some("AKIAOLD"));
        let done = Reconciled {
            recorded: true,
            ..Reconciled::default()
        };
        r.recovery(&i, &done, Some(Outcome::Succeeded)).unwrap();
        assert!(outcomes(&r).is_empty());
        // Its failure was logged, but the delete did happen (a lost response): say so.
        r.recovery(&i, &done, Some(Outcome::Failed)).unwrap();
        assert_eq!(
            outcomes(&r),
            vec![(EventAction::Delete, Outcome::Recovered)]
        );
        r.recovery(&i, &Reconciled::default(), Some(Outcome::Failed))
            .unwrap();
        assert_eq!(
            outcomes(&r).len(),
            1,
            "a failure that changed nothing says it all"
        );
    }
}
