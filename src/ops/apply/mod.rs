//! Executes a plan against IAM, writing state after every step.
//!
//! A new key's secret is delivered before state records the key; if delivery fails the
//! key is deleted again, so nothing is orphaned and no secret is lost.

mod create;

use crate::adapters::crash;
use crate::adapters::iam::{Iam, IamError};
use crate::adapters::remote::Remote;
use crate::adapters::sinks::SinkError;
use crate::adapters::store::events::EventError;
use crate::adapters::store::journal::{Intent, Journal, JournalError, Op};
use crate::adapters::store::{StateStore, StoreError};
use crate::core::config::Config;
use crate::core::event::{EventAction, Outcome};
use crate::core::model::timestamp;
use crate::core::model::{Address, KeyId, KeyStatus, LastUsed, Time};
use crate::core::plan::{Action, ActionKind, Plan};
use crate::core::policy::{PolicyAction, PolicyPlan};
use crate::core::state::{ClockOverride, State, TrackedKey};
use crate::ops::error::Error;
use crate::ops::events::{Entry, Recorder};
use crate::ops::recover::{self, Reconciled, RecoverError};
use crate::ops::session::Writer;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{address}: {source}")]
    Iam { address: Address, source: IamError },
    #[error("{address}: {source}; the new key {key} was deleted again, nothing was changed for this set")]
    Delivery {
        address: Address,
        key: String,
        source: Box<SinkError>,
    },
    #[error("{address}: the new key {key} never worked: {message}; it was deleted again, nothing was changed for this set")]
    Unverified {
        address: Address,
        key: String,
        message: String,
    },
    #[error("{address}: {cause}; and deleting the undelivered new credential {key} failed too ({delete_error}): the next `keyrot apply` retries, or delete it by hand with `{by_hand}`")]
    Orphan {
        address: Address,
        key: String,
        cause: String,
        delete_error: Box<IamError>,
        by_hand: String,
    },
    #[error("{address}: {message}")]
    Changed { address: Address, message: String },
    #[error("{address}: no certificate to upload: {message}")]
    Certificate { address: Address, message: String },
    #[error("account password policy: {0}")]
    Policy(IamError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Events(#[from] EventError),
    /// A failed step's event could not be written.
    #[error("{source}; the step it was to record had failed: {step}")]
    EventLost {
        source: EventError,
        step: Box<ApplyError>,
    },
    #[error("{address} is not in the config")]
    NotConfigured { address: Address },
    /// A failed step's journal intent could not be settled; apply stops so no later step
    /// overwrites it (the next run reconciles it first).
    #[error("{0}; its journal entry is kept for the next run to reconcile")]
    Unsettled(Box<ApplyError>),
}

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
    };
    applier
        .run(plan, progress)
        .await
        .map_err(|(report, source)| Error::Apply {
            source: Box::new(source),
            done: report.done.len(),
            total: step_count(plan),
            state: applier.store.location(),
        })
}

/// What apply did, for the final report.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    /// Sets left at the deactivate→delete checkpoint, with how to go on or back.
    pub checkpoints: Vec<String>,
    /// Sets whose step failed: each was left as it was, and the others went on.
    pub failed: Vec<SetFailure>,
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

impl ApplyError {
    /// A failure no other set can get past (state or journal cannot be written, the
    /// credentials are refused): apply stops at once. Any other stays with its set.
    pub fn stops_everything(&self) -> bool {
        match self {
            ApplyError::Store(_)
            | ApplyError::Journal(_)
            | ApplyError::Unsettled(_)
            | ApplyError::Events(_)
            | ApplyError::EventLost { .. } => true,
            ApplyError::Iam { source, .. } | ApplyError::Policy(source) => matches!(
                source,
                IamError::Credentials { .. }
                    | IamError::NoCredentials { .. }
                    | IamError::Unreachable { .. }
            ),
            _ => false,
        }
    }
}

pub struct Applier<'a, I: Iam, R: Remote> {
    pub iam: &'a I,
    /// Secrets Manager / SSM sinks, and STS to prove a new key works.
    pub remote: &'a R,
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
}

impl<I: Iam, R: Remote> Applier<'_, I, R> {
    /// Runs every action in execution order; `progress` hears each finished step.
    /// A set whose step fails keeps its place (its later steps wait for the next run) and
    /// every other set goes on; only a failure that endangers all sets stops the run.
    /// What was done before any failure is already in state.
    pub async fn run(
        &mut self,
        plan: &Plan,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Report, (Report, ApplyError)> {
        let mut report = Report::default();
        for (si, ai) in plan.execution_order() {
            let set = &plan.sets[si];
            let action = &set.actions[ai];
            let target = set.address.to_string();
            if report.failed.iter().any(|f| f.target == target) {
                continue;
            }
            match self.step(&set.address, action).await {
                Ok(line) => {
                    progress(&line);
                    report.done.push(line);
                }
                Err(e) if e.stops_everything() => return Err((report, e)),
                Err(error) => {
                    // One intent at a time: settle what the failed step left before the
                    // next set's step writes its own.
                    if let Err(e) = self.settle_journal().await {
                        return Err((report, e));
                    }
                    report.failed.push(SetFailure {
                        target,
                        action: action.kind.name(),
                        error,
                    });
                }
            }
        }
        if let Some(policy) = &plan.password_policy {
            match self.apply_policy(policy).await {
                Ok(line) => {
                    progress(&line);
                    report.done.push(line);
                }
                Err(e) if e.stops_everything() => return Err((report, e)),
                Err(error) => report.failed.push(SetFailure {
                    target: "account password policy".into(),
                    action: "update",
                    error,
                }),
            }
        }
        report.checkpoints = self.checkpoints(plan, &report);
        Ok(report)
    }

    /// Sets left Inactive by this run, with how to go on or back.
    fn checkpoints(&self, plan: &Plan, report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        for set in &plan.sets {
            let target = set.address.to_string();
            if report.failed.iter().any(|f| f.target == target) {
                continue;
            }
            let deactivated = set
                .actions
                .iter()
                .find(|a| a.kind == ActionKind::Deactivate);
            if let (Some(a), Some(cfg)) = (deactivated, self.config.sets.get(&set.address)) {
                let due = self.now + cfg.windows.inactive_for.to_chrono();
                out.push(format!(
                    "{addr}: old key {key} is Inactive. Checkpoint: confirm applications work with the new key.\n  \
                     To go on: `keyrot apply` at or after {due} (when inactive_for has passed) deletes it.\n  \
                     To go back: `keyrot rollback {addr}` reactivates it.",
                    addr = set.address,
                    key = a.key.as_ref().map(|k| k.masked()).unwrap_or_default(),
                    due = timestamp(due),
                ));
            }
        }
        out
    }

    /// Reconciles an intent a failed step left in the journal (an undelivered key whose
    /// delete failed, a status change that may have happened), as the next run would.
    async fn settle_journal(&mut self) -> Result<(), ApplyError> {
        let Some(intent) = self.journal.pending()? else {
            return Ok(());
        };
        self.reconcile(&intent)
            .await
            .and_then(|reconciled| {
                // The failed step wrote its own event; what settling it found is logged here.
                let logged = Some(Outcome::Failed);
                self.events.recovery(&intent, &reconciled, logged)?;
                self.store.save(self.state)?;
                self.journal.clear()?;
                Ok(())
            })
            .map_err(|e| match e {
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

    /// One action: journal intent → IAM call (a create also proves and delivers the key)
    /// → its event → state → intent cleared.
    async fn step(&mut self, address: &Address, action: &Action) -> Result<String, ApplyError> {
        let mut intent = journal_op(&action.kind).map(|op| Intent {
            op,
            address: address.clone(),
            key_id: action.key.clone(),
            // On IAM's clock: recovery compares it with the CreateDate IAM stamps.
            at: (self.wall_clock)() + self.iam.clock_skew(),
            now: self.now,
            sinks_started: 0,
            step: Some(uuid::Uuid::new_v4().to_string()),
        });
        if let Some(intent) = &intent {
            self.journal.record(intent)?;
        }
        let (line, created) = match self.perform(address, action, intent.as_mut()).await {
            Ok(done) => done,
            Err(e) => return Err(self.failed(address, action, intent.as_ref(), e)),
        };
        self.events.record(Entry {
            address: Some(address),
            action: (&action.kind).into(),
            key: created.as_ref().map(|k| &k.id).or(action.key.as_ref()),
            outcome: Outcome::Succeeded,
            message: Some(line.clone()),
            step: intent.as_ref().and_then(|i| i.step.as_deref()),
        })?;
        self.state
            .record(address, action, created.as_ref(), self.now);
        if let Some(set) = self.state.sets.get_mut(address) {
            set.clock_override = ClockOverride::between(self.now, (self.wall_clock)());
        }
        self.store.save(self.state)?;
        if intent.is_some() {
            self.journal.clear()?;
        }
        Ok(line)
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

    /// The action itself: what it did, as a line, and the key a create made.
    async fn perform(
        &mut self,
        address: &Address,
        action: &Action,
        intent: Option<&mut Intent>,
    ) -> Result<(String, Option<TrackedKey>), ApplyError> {
        let masked = action.key.as_ref().map(|k| k.masked()).unwrap_or_default();
        let line = match (&action.kind, intent, &action.key) {
            (ActionKind::Create, Some(intent), _) => {
                let (tracked, sinks) = self.create_and_deliver(address, intent).await?;
                let line = format!(
                    "{address}: created key {}, delivered to {}",
                    tracked.id.masked(),
                    sinks.join(", ")
                );
                return Ok((line, Some(tracked)));
            }
            (ActionKind::Deactivate | ActionKind::Reactivate, _, key) => {
                let status = match action.kind {
                    ActionKind::Deactivate => KeyStatus::Inactive,
                    _ => KeyStatus::Active,
                };
                if let Some(key) = key {
                    if action.kind == ActionKind::Deactivate {
                        self.still_unused(address, key).await?;
                    }
                    self.set_status(address, key, status.clone()).await?;
                }
                format!("{address}: key {masked} is now {status}")
            }
            (ActionKind::Delete, _, key) => {
                if let Some(key) = key {
                    self.delete(address, key).await?;
                }
                format!("{address}: deleted key {masked}")
            }
            (ActionKind::Import { role, .. }, _, _) => {
                format!("{address}: imported key {masked} as {}", role.as_str())
            }
            (ActionKind::Refresh { status, .. }, _, _) => {
                format!("{address}: recorded key {masked} as {status}")
            }
            (ActionKind::Untrack, _, _) => {
                format!("{address}: stopped tracking deleted key {masked}")
            }
            (ActionKind::Forget, _, _) => format!("{address}: forgotten (IAM untouched)"),
            (ActionKind::Create, None, _) => unreachable!("a create always has an intent"),
        };
        Ok((line, None))
    }

    async fn set_status(
        &mut self,
        address: &Address,
        key: &KeyId,
        status: KeyStatus,
    ) -> Result<(), ApplyError> {
        crash::point("before-iam-update");
        let result = self.iam.set_credential_status(address, key, status).await;
        crash::point("after-iam-update");
        self.refused(address, result)
    }

    /// The deactivation gate, read again: a plan can wait at a prompt or in a review, and a
    /// key used since must not be switched off under its consumer.
    async fn still_unused(&mut self, address: &Address, key: &KeyId) -> Result<(), ApplyError> {
        let Some(set) = self.config.sets.get(address) else {
            return Ok(());
        };
        if !address.kind.has_last_use() {
            return Ok(());
        }
        let used = match self.iam.last_used(key).await {
            Ok(LastUsed::At(t)) => t,
            Ok(LastUsed::Never) => return Ok(()),
            Err(e) => return self.refused(address, Err(e)),
        };
        if self.now < used + set.windows.unused_for.to_chrono() {
            self.journal.clear()?;
            return Err(ApplyError::Changed {
                address: address.clone(),
                message: format!(
                    "key {} was used at {} (since the plan), within unused_for {}: it was not deactivated; run `keyrot plan`",
                    key.masked(),
                    timestamp(used),
                    set.windows.unused_for
                ),
            });
        }
        Ok(())
    }

    /// Deletes an Inactive key. Plans can wait at a prompt or in a review: never delete a
    /// key that someone has turned back on since.
    async fn delete(&mut self, address: &Address, key: &KeyId) -> Result<(), ApplyError> {
        let live = match self.iam.list_credentials(address).await {
            Ok(live) => live.unwrap_or_default(),
            Err(e) => return self.refused(address, Err(e)),
        };
        if live
            .iter()
            .any(|k| &k.id == key && k.status == KeyStatus::Active)
        {
            self.journal.clear()?;
            return Err(ApplyError::Changed {
                address: address.clone(),
                message: format!(
                    "key {} is Active again (changed since the plan), so it was not deleted; run `keyrot plan`",
                    key.masked()
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
        self.refused(address, result)
    }

    /// Reconciles `intent` with live IAM (recovery writes its own events).
    async fn reconcile(&mut self, intent: &Intent) -> Result<Reconciled, ApplyError> {
        let events = self.events;
        let (iam, remote, config) = (self.iam, self.remote, self.config);
        recover::reconcile(iam, remote, config, self.state, intent, events)
            .await
            .map_err(|e| recover_error(&intent.address, e))
    }

    /// An IAM call's error for the set; a call IAM refused outright changed nothing, so
    /// its journal intent is done with.
    fn refused(
        &mut self,
        address: &Address,
        result: Result<(), IamError>,
    ) -> Result<(), ApplyError> {
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                if e.nothing_happened() {
                    self.journal.clear()?;
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
        | ActionKind::Forget => None,
    }
}

/// Recovery's failure as the set's error (its own events are written).
fn recover_error(address: &Address, e: RecoverError) -> ApplyError {
    match e {
        RecoverError::Iam(source) => iam_error(address, source),
        RecoverError::Events(e) => ApplyError::Events(e),
    }
}

fn iam_error(address: &Address, source: IamError) -> ApplyError {
    ApplyError::Iam {
        address: address.clone(),
        source,
    }
}
