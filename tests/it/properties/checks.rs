//! The invariants the harness asserts after each run, and what it remembers for them.

use super::harness::{Harness, Outcome};
use crate::fake::{Call, Op, QUOTA};
use keyrot::adapters::store::events::EventLog;
use keyrot::adapters::store::journal::{Intent, Journal, Op as JournalOp};
use keyrot::adapters::store::StateStore;
use keyrot::core::config::Sink;
use keyrot::core::event::{EventAction, Outcome as EventOutcome};
use keyrot::core::model::{Address, KeyId, KeyStatus};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeSet;

impl Harness {
    /// The invariants that hold after any run, however it ended.
    pub(super) fn check_run(
        &mut self,
        calls: &[Call],
        outcome: &Outcome,
        faulted: bool,
        quota_refused: bool,
    ) -> Result<(), TestCaseError> {
        let state = StateStore::new(self.state_path.clone()).load();
        prop_assert!(state.is_ok(), "the state does not load: {:?}", state.err());
        if let Outcome::Done { .. } = outcome {
            let pending = Journal::for_state(&self.state_path).pending();
            prop_assert!(
                pending.as_ref().is_ok_and(Vec::is_empty),
                "a finished run left a journal intent: {pending:?}"
            );
        }
        for address in self.config.sets.keys() {
            let count = self.iam.credentials(address).unwrap_or_default().len();
            prop_assert!(count <= QUOTA, "{address} has {count} credentials");
        }
        prop_assert!(
            faulted || !quota_refused,
            "a run without injected faults tried a create over the quota: {calls:#?}"
        );
        for (i, c) in calls.iter().enumerate().filter(|(_, c)| c.op == Op::Delete) {
            let deactivated_here = calls[..i].iter().any(|d| {
                d.op == Op::SetStatus && d.key == c.key && d.status == Some(KeyStatus::Inactive)
            });
            prop_assert!(
                !deactivated_here,
                "{:?} was deleted in the run that deactivated it: {calls:#?}",
                c.key
            );
        }
        // A sink may hold a deleted key only where apply said it could not put it back
        // (or where the run died after a put-back failed, before it could say so — also a
        // set cut off in flight when another set's error stopped the run: its intent stays
        // for the next run's recovery, exactly as after a kill).
        let remote_write_failed = calls.iter().any(|c| {
            !c.ok
                && matches!(
                    c.op,
                    Op::SecretPut | Op::SecretDelete | Op::ParameterPut | Op::ParameterDelete
                )
        });
        let cut_off: Vec<Address> = match outcome {
            Outcome::Failed(_) if remote_write_failed => Journal::for_state(&self.state_path)
                .pending()
                .map(|intents| intents.into_iter().map(|i| i.address).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let addresses: Vec<Address> = self.config.sets.keys().cloned().collect();
        for address in addresses {
            let holdings = self.holdings(&address);
            let excused = match outcome {
                Outcome::Failed(message) => {
                    let named = message
                        .lines()
                        .any(|l| l.starts_with(&format!("{address}:")));
                    (named && message.contains("could not be put back"))
                        || cut_off.contains(&address)
                }
                Outcome::Crashed => remote_write_failed,
                Outcome::Done { .. } => false,
            };
            if excused {
                self.excused.insert(address.clone(), holdings.clone());
            }
            // An excuse lasts, sink by sink, while that sink still holds what it held then:
            // another sink of the set written since does not undo what was said of this one.
            let before = self.excused.remove(&address).unwrap_or_default();
            let kept: Vec<Option<String>> = holdings
                .iter()
                .enumerate()
                .map(|(i, text)| before.get(i).filter(|b| *b == text).cloned().flatten())
                .collect();
            let live = self.iam.credentials(&address).unwrap_or_default();
            for (i, text) in holdings.iter().enumerate() {
                let Some(text) = text else { continue };
                if kept.get(i).is_some_and(|k| k.as_ref() == Some(text)) {
                    continue;
                }
                let Some(id) = self.held_id(text) else {
                    continue;
                };
                let status = live.iter().find(|k| k.id == id).map(|k| &k.status);
                prop_assert_eq!(
                    status,
                    Some(&KeyStatus::Active),
                    "a sink of {} holds {} which IAM has as {:?} (outcome {:?})\n{:#?}",
                    address,
                    id,
                    status,
                    outcome,
                    calls
                );
            }
            if kept.iter().any(Option::is_some) {
                self.excused.insert(address, kept);
            }
        }
        Ok(())
    }

    /// Remembers which credentials reached a sink.
    pub(super) fn note_delivered(&mut self, calls: &[Call], recovered: bool) {
        let mut texts: Vec<String> = self
            .config
            .sets
            .keys()
            .flat_map(|a| self.holdings(a))
            .flatten()
            .collect();
        texts.push(String::from_utf8_lossy(&self.stdout).into_owned());
        for text in &texts {
            for id in self.iam.issued() {
                if text.contains(&id.0) {
                    self.delivered.insert(id);
                }
            }
        }
        // Recovery keeps a key it cannot prove undelivered.
        let unreadable = calls
            .iter()
            .any(|c| !c.ok && matches!(c.op, Op::SecretGet | Op::ParameterGet));
        if recovered && unreadable {
            for address in self.config.sets.keys() {
                for k in self.iam.credentials(address).unwrap_or_default() {
                    self.delivered.insert(k.id);
                }
            }
        }
    }

    /// An interrupted create whose delivery had begun, in a set with a sink nothing can
    /// read back (stdout): recovery cannot prove its key undelivered, so keeps it. With sets
    /// applied side by side another set's crash can land anywhere in this one's delivery.
    pub(super) fn note_unprovable(&mut self, intent: &Intent) {
        let unreadable = self.config.sets.get(&intent.address).is_some_and(|set| {
            set.sinks
                .iter()
                .any(|s| matches!(s, Sink::Stdout { .. } | Sink::Exec { .. }))
        });
        if intent.op == JournalOp::Create && intent.sinks_started > 0 && unreadable {
            self.delivered.extend(intent.key_id.clone());
        }
    }

    /// After a clean converging run: nothing orphaned, state and IAM agree.
    pub(super) fn check_settled(&self) -> Result<(), TestCaseError> {
        let state = StateStore::new(self.state_path.clone())
            .load()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let pending = Journal::for_state(&self.state_path).pending();
        prop_assert!(pending.as_ref().is_ok_and(Vec::is_empty), "{pending:?}");
        for address in self.config.sets.keys() {
            let live = self.iam.credentials(address).unwrap_or_default();
            let set = state.sets.get(address).cloned().unwrap_or_default();
            for id in &set.unresolved {
                prop_assert!(
                    set.role_of(id).is_none(),
                    "{address}: {id} is both tracked and unresolved: {set:?}"
                );
            }
            // A key marked unresolved is shown to a person, neither kept nor deleted.
            for k in live.iter().filter(|k| !set.unresolved.contains(&k.id)) {
                prop_assert!(
                    set.role_of(&k.id).is_some(),
                    "{address}: live {} {} is not tracked (orphan): {set:?}",
                    k.status,
                    k.id
                );
                prop_assert!(
                    self.seeded.contains(&k.id) || self.delivered.contains(&k.id),
                    "{address}: {} {} was kept though no sink ever held it (undelivered orphan): {set:?}",
                    k.status,
                    k.id
                );
            }
            for (role, k) in set.keys() {
                let in_iam = live.iter().find(|l| l.id == k.id).map(|l| &l.status);
                prop_assert_eq!(
                    in_iam,
                    Some(&k.status),
                    "{}: tracked {} key {} is {:?} in IAM, {} in state",
                    address,
                    role.as_str(),
                    k.id,
                    in_iam,
                    k.status
                );
            }
            if let Some(c) = &set.current {
                prop_assert_eq!(&c.status, &KeyStatus::Active, "{}: current key", address);
            }
        }
        self.check_events()
    }

    /// The audit trail, through faults and crashes: every credential keyrot made is named
    /// in an event, and so is every credential gone from IAM — its delete, the failed create
    /// that deleted it again, or (when recovery's own delete of a key an unanswered create
    /// made was cut off or lost its answer) the event that recovery found that key.
    fn check_events(&self) -> Result<(), TestCaseError> {
        let read = EventLog::for_state(&self.state_path)
            .read()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(read.unreadable.is_empty(), "{:?}", read.unreadable);
        let named: BTreeSet<&KeyId> = read
            .events
            .iter()
            .filter_map(|e| e.key_id.as_ref())
            .collect();
        let removed: BTreeSet<&KeyId> = read
            .events
            .iter()
            .filter(|e| {
                matches!(
                    (e.action, e.outcome),
                    (EventAction::Delete, _)
                        | (
                            EventAction::Create,
                            EventOutcome::Failed | EventOutcome::Recovered
                        )
                )
            })
            .filter_map(|e| e.key_id.as_ref())
            .collect();
        let live: BTreeSet<KeyId> = self
            .config
            .sets
            .keys()
            .flat_map(|a| self.iam.credentials(a).unwrap_or_default())
            .map(|k| k.id)
            .collect();
        for id in self.iam.issued() {
            prop_assert!(
                self.seeded.contains(&id) || named.contains(&id),
                "keyrot made {} but no event names it: {:#?}",
                id,
                read.events
            );
            prop_assert!(
                live.contains(&id) || removed.contains(&id),
                "{} is gone from IAM but no event logs its deletion: {:#?}",
                id,
                read.events
            );
        }
        Ok(())
    }
}
