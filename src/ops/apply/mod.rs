//! Executes a plan against IAM, writing state after every step.
//!
//! A new key's secret is delivered before state records the key; if delivery fails the
//! key is deleted again, so nothing is orphaned and no secret is lost. Sets run side by
//! side (`run.rs`), each set's steps in order, one journal intent per set in flight.

mod confirm;
mod create;
mod error;
mod run;

pub use error::ApplyError;
use error::{iam_error, recover_error};

use crate::adapters::accounts::Accounts;
use crate::adapters::crash;
use crate::adapters::iam::{Iam, IamError};
use crate::adapters::remote::Remote;
use crate::adapters::sinks;
use crate::adapters::store::journal::{Intent, Journal, Op};
use crate::adapters::store::StateStore;
use crate::core::config::{Config, SetConfig};
use crate::core::event::{EventAction, Outcome};
use crate::core::model::timestamp;
use crate::core::model::{Address, KeyId, KeyStatus, LastUsed, Time};
use crate::core::plan::{Action, ActionKind, Plan};
use crate::core::policy::{PolicyAction, PolicyPlan};
use crate::core::state::{CheckRecord, ClockOverride, State, TrackedKey};
use crate::ops::error::Error;
use crate::ops::events::{Entry, Recorder};
use crate::ops::recover::{self, Reconciled};
use crate::ops::session::Writer;
use run::{Ledger, Parts, Run};
use std::io::Write;

/// The number of steps `plan` takes when applied (for progress bars).
pub fn step_count(plan: &Plan) -> usize {
    plan.execution_order().len() + usize::from(plan.password_policy.is_some())
}

/// Runs `plan` with the writer's lock, state and clients. `stdout` is where a
/// `deliver "stdout"` sink writes; `progress` hears each finished step.
pub async fn execute<I: Iam, R: Remote>(
    writer: &mut Writer<I, R>,
    config: &Config,
    plan: &Plan,
    now: Time,
    stdout: &mut (dyn Write + Send),
    progress: &mut dyn FnMut(&str),
) -> Result<Report, Error> {
    let Writer {
        store,
        state,
        clients,
        journal,
        events,
        parallelism,
        ..
    } = writer;
    let mut applier = Applier {
        iam: &clients.iam,
        remote: &clients.remote,
        config,
        store,
        state,
        now,
        stdout,
        journal,
        events,
        wall_clock: &chrono::Utc::now,
        parallelism: *parallelism,
    };
    applier
        .run(plan, progress)
        .await
        .map_err(|(report, source)| Error::Apply {
            source: Box::new(source),
            done: report.done.len(),
            total: step_count(plan),
            state: applier.store.location(),
            failed: failed_before(&report.failed),
        })
}

/// The sets that had failed when a run stopped, for its error: each line may name a sink
/// still holding a deleted key, which must reach the person as it would in a finished run.
fn failed_before(failed: &[SetFailure]) -> String {
    if failed.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = failed.iter().map(SetFailure::line).collect();
    format!(
        "\n  before it stopped, {} credential set(s) failed and were left as they were:\n{}",
        failed.len(),
        lines.join("\n")
    )
}

/// What apply did, for the final report.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    /// Sets left at the deactivate→delete checkpoint, with how to go on or back.
    pub checkpoints: Vec<String>,
    /// Sets whose step failed: each was left as it was, and the others went on.
    pub failed: Vec<SetFailure>,
    /// Sets put back on their previous key (`keyrot rollback`, or a failed confirm check)
    /// or held by a failed check: their later steps in this run did not run.
    pub reverts: Vec<Revert>,
}

/// A set put back on its previous key, or held with it Inactive.
#[derive(Debug)]
pub struct Revert {
    pub address: Address,
    /// The confirm checks that failed, with their output; empty for `keyrot rollback`.
    pub failed: Vec<CheckRecord>,
    /// The old key was reactivated (`false`: held with it Inactive, `on_confirm_failure =
    /// "hold"`).
    pub reactivated: bool,
    /// What each of the set's sinks did about the key it holds, a sentence each.
    pub consumers: Vec<String>,
}

/// What one action did: the progress line, and a revert when it made one.
pub(super) struct Acted {
    line: String,
    revert: Option<Revert>,
}

impl From<String> for Acted {
    fn from(line: String) -> Self {
        Acted { line, revert: None }
    }
}

/// One set's failed step.
#[derive(Debug)]
pub struct SetFailure {
    /// The set's address, or `account password policy`.
    pub target: String,
    /// The action that failed (`create`, `deactivate`, …).
    pub action: &'static str,
    pub error: ApplyError,
}

impl SetFailure {
    /// `  ADDRESS: ACTION failed: CAUSE`, as a person reads it.
    pub fn line(&self) -> String {
        let error = self.error.to_string();
        let cause = error
            .strip_prefix(&format!("{}: ", self.target))
            .unwrap_or(&error);
        format!("  {}: {} failed: {cause}", self.target, self.action)
    }
}

pub struct Applier<'a, I: Iam, R: Remote> {
    pub iam: &'a I,
    /// Secrets Manager / SSM sinks (per account), and STS to prove a new key works.
    pub remote: &'a Accounts<R>,
    pub config: &'a Config,
    pub store: &'a mut StateStore,
    pub state: &'a mut State,
    pub now: Time,
    /// Where a `deliver "stdout"` sink writes.
    pub stdout: &'a mut (dyn Write + Send),
    pub journal: &'a Journal,
    /// The audit trail: one event per step, written before the state records it.
    pub events: &'a Recorder,
    /// Real time, for journal intents (IAM's CreateDate is compared with it).
    pub wall_clock: &'a dyn Fn() -> Time,
    /// At most this many sets in flight in each account (`--parallelism`); below it, each
    /// account's limit adapts to IAM's throttling.
    pub parallelism: usize,
}

impl<I: Iam, R: Remote> Applier<'_, I, R> {
    /// Runs every action, sets side by side and each set's in execution order; `progress`
    /// hears each finished step in the plan's execution order. A set whose step fails
    /// keeps its place (its later steps wait for the next run) and every other set goes
    /// on; only a failure that endangers all sets stops the run. What was done before any
    /// failure is already in state.
    pub async fn run(
        &mut self,
        plan: &Plan,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Report, (Report, ApplyError)> {
        let run = Run::new(Parts {
            iam: self.iam,
            remote: self.remote,
            config: self.config,
            now: self.now,
            journal: self.journal,
            events: self.events,
            wall_clock: self.wall_clock,
            parallelism: self.parallelism,
            ledger: Ledger {
                store: &mut *self.store,
                state: &mut *self.state,
            },
            stdout: &mut *self.stdout,
        });
        run.all(plan, progress).await
    }
}

impl<'a, I: Iam, R: Remote> Run<'a, I, R> {
    /// A key id as the config's `display` block (or `--show-key-ids`) wants it shown.
    fn show(&self, key: &KeyId) -> String {
        self.config.display.key_ids.show(key)
    }

    /// Reconciles the intent a failed step of `address` left in the journal (an
    /// undelivered key whose delete failed, a status change that may have happened), as
    /// the next run would.
    async fn settle(&self, address: &Address) -> Result<(), ApplyError> {
        let Some(intent) = self.journal.pending_for(address)? else {
            return Ok(());
        };
        let settled = async {
            let (reconciled, scratch) = self.reconcile(&intent).await?;
            // The failed step wrote its own event; what settling it found is logged here.
            let logged = Some(Outcome::Failed);
            self.events.recovery(&intent, &reconciled, logged)?;
            self.commit(|state| run::put_back(state, address, scratch))
                .await?;
            self.clear(address).await?;
            Ok(())
        };
        settled.await.map_err(|e: ApplyError| match e {
            // The journal still holds the intent: later steps must not overwrite it.
            e if e.stops_everything() => e,
            e => ApplyError::Unsettled(Box::new(e)),
        })
    }

    /// The policy holds no secret and the call is idempotent: a re-run converges, so no
    /// journal intent is needed.
    async fn apply_policy(&self, policy: &PolicyPlan) -> Result<String, ApplyError> {
        let result = match (&policy.action, &policy.after) {
            (PolicyAction::Update, Some(after)) => self.iam.set_password_policy(after).await,
            _ => self.iam.delete_password_policy().await,
        };
        let (action, line) = match policy.action {
            PolicyAction::Update => (
                EventAction::UpdatePasswordPolicy,
                "account password policy: updated",
            ),
            PolicyAction::Delete => (
                EventAction::DeletePasswordPolicy,
                "account password policy: deleted",
            ),
        };
        let result = result.map_err(ApplyError::Policy);
        let (outcome, message) = match &result {
            Ok(()) => (Outcome::Succeeded, line.to_string()),
            Err(e) => (Outcome::Failed, e.to_string()),
        };
        let entry = Entry {
            address: None,
            action,
            key: None,
            outcome,
            message: Some(message),
            step: None,
        };
        match (self.events.record(entry), result) {
            (Ok(()), result) => result.map(|()| line.to_string()),
            (Err(e), Ok(())) => Err(e.into()),
            (Err(source), Err(step)) => Err(ApplyError::EventLost {
                source,
                step: Box::new(step),
            }),
        }
    }

    /// The config of a set the plan acts on.
    fn set_config(&self, address: &Address) -> Result<&'a SetConfig, ApplyError> {
        self.config
            .sets
            .get(address)
            .ok_or_else(|| ApplyError::NotConfigured {
                address: address.clone(),
            })
    }

    /// One action: a confirm runs the set's checks (and reverts on a failure); any other
    /// is a journaled step.
    async fn act(&self, address: &Address, action: &Action) -> Result<Acted, ApplyError> {
        match action.kind {
            ActionKind::Confirm => self.confirm(address, action).await,
            _ => self.step(address, action).await,
        }
    }

    /// A journaled step: journal intent → IAM call (a create also proves and delivers the
    /// key; a reactivate puts consumers back) → its event → state → intent cleared.
    async fn step(&self, address: &Address, action: &Action) -> Result<Acted, ApplyError> {
        let mut intent = journal_op(&action.kind).map(|op| Intent {
            op,
            address: address.clone(),
            key_id: action.key.clone(),
            // On IAM's clock: recovery compares it with the CreateDate IAM stamps.
            at: (self.wall_clock)() + self.iam.clock_skew(),
            now: self.now,
            sinks_started: 0,
            sinks_begun: Vec::new(),
            step: Some(uuid::Uuid::new_v4().to_string()),
        });
        if let Some(intent) = &intent {
            self.record(intent).await?;
        }
        let (acted, created) = match self.perform(address, action, intent.as_mut()).await {
            Ok(done) => done,
            Err(e) => {
                // A create undone (its key deleted again) leaves nothing to reconcile: its
                // intent goes once the failed step's event, naming the key, is written.
                let undone = matches!(
                    e,
                    ApplyError::Delivery { .. } | ApplyError::Unverified { .. }
                );
                let e = self.failed(address, action, intent.as_ref(), e);
                if undone && !matches!(e, ApplyError::EventLost { .. }) {
                    self.clear(address).await?;
                }
                return Err(e);
            }
        };
        self.events
            .record_shared(Entry {
                address: Some(address),
                action: (&action.kind).into(),
                key: created.as_ref().map(|k| &k.id).or(action.key.as_ref()),
                outcome: Outcome::Succeeded,
                message: Some(acted.line.clone()),
                step: intent.as_ref().and_then(|i| i.step.as_deref()),
            })
            .await?;
        let (now, clock_override) = (
            self.now,
            ClockOverride::between(self.now, (self.wall_clock)()),
        );
        self.commit(|state| {
            state.record(address, action, created.as_ref(), now);
            if let Some(set) = state.sets.get_mut(address) {
                set.clock_override = clock_override;
            }
        })
        .await?;
        if intent.is_some() {
            self.clear(address).await?;
        }
        Ok(acted)
    }

    /// The failed step's event, with the error (errors hold no secret). A failure of the
    /// state, journal or event log is no step's: it stops the run, and the next run's
    /// recovery logs the step it interrupted.
    fn failed(
        &self,
        address: &Address,
        action: &Action,
        intent: Option<&Intent>,
        error: ApplyError,
    ) -> ApplyError {
        if matches!(
            error,
            ApplyError::Store(_)
                | ApplyError::Journal(_)
                | ApplyError::Events(_)
                | ApplyError::EventLost { .. }
                | ApplyError::Unsettled(_)
        ) {
            return error;
        }
        let entry = Entry {
            address: Some(address),
            action: (&action.kind).into(),
            // A create that made a key before failing names it.
            key: intent
                .and_then(|i| i.key_id.as_ref())
                .or(action.key.as_ref()),
            outcome: Outcome::Failed,
            message: Some(error.to_string()),
            step: intent.and_then(|i| i.step.as_deref()),
        };
        match self.events.record(entry) {
            Ok(()) => error,
            Err(source) => ApplyError::EventLost {
                source,
                step: Box::new(error),
            },
        }
    }

    /// The action itself: what it did (a line, and a revert for a reactivation), and the
    /// key a create made.
    async fn perform(
        &self,
        address: &Address,
        action: &Action,
        intent: Option<&mut Intent>,
    ) -> Result<(Acted, Option<TrackedKey>), ApplyError> {
        let shown = action
            .key
            .as_ref()
            .map(|k| self.show(k))
            .unwrap_or_default();
        let mut revert = None;
        let line = match (&action.kind, intent, &action.key) {
            (ActionKind::Create, Some(intent), _) => {
                let (tracked, sinks) = self.create_and_deliver(address, intent).await?;
                let line = format!(
                    "{address}: created key {}, delivered to {}",
                    self.show(&tracked.id),
                    sinks.join(", ")
                );
                return Ok((line.into(), Some(tracked)));
            }
            (ActionKind::Deactivate | ActionKind::Reactivate, _, Some(key)) => {
                revert = self.change_status(address, &action.kind, key).await?;
                let status = if revert.is_some() {
                    "Active"
                } else {
                    "Inactive"
                };
                format!("{address}: key {shown} is now {status}")
            }
            // Plans and plan files always name the key; without one there is nothing to do.
            (ActionKind::Deactivate | ActionKind::Reactivate, _, None) => {
                format!("{address}: no key named, nothing changed")
            }
            (ActionKind::Delete, _, key) => {
                if let Some(key) = key {
                    self.delete(address, key).await?;
                }
                format!("{address}: deleted key {shown}")
            }
            (ActionKind::Import { role, .. }, _, _) => {
                format!("{address}: imported key {shown} as {}", role.as_str())
            }
            (ActionKind::Refresh { status, .. }, _, _) => {
                format!("{address}: recorded key {shown} as {status}")
            }
            (ActionKind::Untrack, _, _) => {
                format!("{address}: stopped tracking deleted key {shown}")
            }
            (ActionKind::Forget, _, _) => format!("{address}: forgotten (IAM untouched)"),
            (ActionKind::Create, None, _) => unreachable!("a create always has an intent"),
            (ActionKind::Confirm, _, _) => unreachable!("a confirm is not a step (`act`)"),
        };
        Ok((Acted { line, revert }, None))
    }

    /// A deactivation (its gate read again first) or a reactivation (consumers put back
    /// before the intent is cleared, so recovery finishes an interrupted one).
    async fn change_status(
        &self,
        address: &Address,
        kind: &ActionKind,
        key: &KeyId,
    ) -> Result<Option<Revert>, ApplyError> {
        if *kind == ActionKind::Deactivate {
            self.still_unused(address, key).await?;
            self.set_status(address, key, KeyStatus::Inactive).await?;
            return Ok(None);
        }
        self.set_status(address, key, KeyStatus::Active).await?;
        Ok(Some(Revert {
            address: address.clone(),
            failed: Vec::new(),
            reactivated: true,
            consumers: self.restore_consumers(address, key).await,
        }))
    }

    /// After the old key is Active again: consumers back on it where a sink can do that
    /// (Secrets Manager's AWSPREVIOUS); what each sink did, a sentence each.
    async fn restore_consumers(&self, address: &Address, old_key: &KeyId) -> Vec<String> {
        match self.config.sets.get(address) {
            Some(set) => sinks::restore_previous(self.remote, &set.sinks, old_key).await,
            None => Vec::new(),
        }
    }

    async fn set_status(
        &self,
        address: &Address,
        key: &KeyId,
        status: KeyStatus,
    ) -> Result<(), ApplyError> {
        crash::point("before-iam-update");
        let result = self.iam.set_credential_status(address, key, status).await;
        crash::point("after-iam-update");
        self.refused(address, result).await
    }

    /// The deactivation gate, read again: a plan can wait at a prompt or in a review, and a
    /// key used since must not be switched off under its consumer.
    async fn still_unused(&self, address: &Address, key: &KeyId) -> Result<(), ApplyError> {
        let Some(set) = self.config.sets.get(address) else {
            return Ok(());
        };
        if !address.kind.has_last_use() {
            return Ok(());
        }
        let used = match self.iam.last_used(address, key).await {
            Ok(LastUsed::At(t)) => t,
            Ok(LastUsed::Never) => return Ok(()),
            Err(e) => return self.refused(address, Err(e)).await,
        };
        if self.now < used + set.windows.unused_for.to_chrono() {
            self.clear(address).await?;
            return Err(ApplyError::Changed {
                address: address.clone(),
                message: format!(
                    "key {} was used at {} (since the plan), within unused_for {}: it was not deactivated; run `keyrot plan`",
                    self.show(key),
                    timestamp(used),
                    set.windows.unused_for
                ),
            });
        }
        Ok(())
    }

    /// Deletes an Inactive key. Plans can wait at a prompt or in a review: never delete a
    /// key that someone has turned back on since.
    async fn delete(&self, address: &Address, key: &KeyId) -> Result<(), ApplyError> {
        let live = match self.iam.list_credentials(address).await {
            Ok(live) => live.unwrap_or_default(),
            Err(e) => return self.refused(address, Err(e)).await,
        };
        if live
            .iter()
            .any(|k| &k.id == key && k.status == KeyStatus::Active)
        {
            self.clear(address).await?;
            return Err(ApplyError::Changed {
                address: address.clone(),
                message: format!(
                    "key {} is Active again (changed since the plan), so it was not deleted; run `keyrot plan`",
                    self.show(key)
                ),
            });
        }
        crash::point("before-iam-delete");
        let result = match self.iam.delete_credential(address, key).await {
            // Already gone is the outcome we wanted.
            Err(e) if e.is_no_such_entity() => Ok(()),
            other => other,
        };
        crash::point("after-iam-delete");
        self.refused(address, result).await
    }

    /// Reconciles `intent` with live IAM (recovery writes its own events), on a copy of
    /// its set's state, returned for the caller to put back in its commit — after the
    /// event that says so, since any commit writes the whole state. A failure leaves the
    /// set as it was, its intent in the journal for the next run.
    async fn reconcile(&self, intent: &Intent) -> Result<(Reconciled, State), ApplyError> {
        let events = self.events;
        let (iam, remote, config) = (self.iam, self.remote, self.config);
        let address = &intent.address;
        let mut scratch = self.scratch(address);
        let reconciled = recover::reconcile(iam, remote, config, &mut scratch, intent, events)
            .await
            .map_err(|e| recover_error(address, e))?;
        Ok((reconciled, scratch))
    }

    /// An IAM call's error for the set; a call IAM refused outright changed nothing, so
    /// its journal intent is done with.
    async fn refused(
        &self,
        address: &Address,
        result: Result<(), IamError>,
    ) -> Result<(), ApplyError> {
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                if e.nothing_happened() {
                    self.clear(address).await?;
                }
                Err(iam_error(address, e))
            }
        }
    }
}

/// The journal operation of an action that changes IAM; state-only actions have none.
fn journal_op(kind: &ActionKind) -> Option<Op> {
    match kind {
        ActionKind::Create => Some(Op::Create),
        ActionKind::Deactivate => Some(Op::Deactivate),
        ActionKind::Reactivate => Some(Op::Reactivate),
        ActionKind::Delete => Some(Op::Delete),
        ActionKind::Import { .. }
        | ActionKind::Refresh { .. }
        | ActionKind::Untrack
        | ActionKind::Forget
        | ActionKind::Confirm => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run stopped by one set's error still names the sets that had failed before it,
    /// with what their failures said (a sink left holding a deleted key among them).
    #[test]
    fn a_stopped_run_names_the_sets_that_had_failed() {
        let failed = SetFailure {
            target: "user.a.access_key".into(),
            action: "create",
            error: ApplyError::Changed {
                address: Address::access_key("a"),
                message: "secrets_manager keyrot/a may still hold the deleted key".into(),
            },
        };
        let error = Error::Apply {
            source: Box::new(ApplyError::Changed {
                address: Address::access_key("b"),
                message: "Throttling".into(),
            }),
            done: 0,
            total: 2,
            state: "state/keyrot.json".into(),
            failed: failed_before(&[failed]),
        };
        let text = error.to_string();
        assert!(text.starts_with("user.b.access_key: Throttling"), "{text}");
        assert!(
            text.contains("before it stopped, 1 credential set(s) failed")
                && text.contains(
                    "  user.a.access_key: create failed: secrets_manager keyrot/a may still hold the deleted key"
                ),
            "{text}"
        );
        assert_eq!(failed_before(&[]), "");
    }
}
