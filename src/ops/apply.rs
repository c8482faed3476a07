//! Executes a plan against IAM, writing state after every step.
//!
//! A new key's secret is delivered before state records the key; if delivery fails the
//! key is deleted again, so nothing is orphaned and no secret is lost.

use crate::adapters::crash;
use crate::adapters::iam::{Iam, IamError, NewCredential};
use crate::adapters::remote::Remote;
use crate::adapters::sinks::{self as sink, Credential, SinkError};
use crate::adapters::store::journal::{Intent, Journal, JournalError, Op};
use crate::adapters::store::{StateStore, StoreError};
use crate::core::config::Config;
use crate::core::model::timestamp;
use crate::core::model::{Address, CredentialKind, KeyStatus, Time};
use crate::core::plan::{Action, ActionKind, Plan};
use crate::core::policy::{PolicyAction, PolicyPlan};
use crate::core::state::{State, TrackedKey};
use crate::ops::error::Error;
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
        source: SinkError,
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
        delete_error: IamError,
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
    #[error("{address} is not in the config")]
    NotConfigured { address: Address },
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
        wall_clock: &chrono::Utc::now,
    };
    applier
        .run(plan, progress)
        .await
        .map_err(|(report, source)| Error::Apply {
            source: Box::new(source),
            done: report.done.len(),
            total: step_count(plan),
            state: applier.store.path().display().to_string(),
        })
}

/// What apply did, for the final report.
#[derive(Debug, Default)]
pub struct Report {
    pub done: Vec<String>,
    /// Sets left at the deactivate→delete checkpoint, with how to go on or back.
    pub checkpoints: Vec<String>,
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
    /// Real time, for journal intents (IAM's CreateDate is compared with it).
    pub wall_clock: &'a dyn Fn() -> Time,
}

/// How long a new key gets to start working by default (IAM is eventually consistent;
/// ~20 s is normal).
const VERIFY_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);

impl<I: Iam, R: Remote> Applier<'_, I, R> {
    /// Runs every action in execution order; `progress` hears each finished step.
    /// Stops at the first failure; what was done before it is already in state.
    pub async fn run(
        &mut self,
        plan: &Plan,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Report, (Report, ApplyError)> {
        let mut report = Report::default();
        for (si, ai) in plan.execution_order() {
            let set = &plan.sets[si];
            let action = &set.actions[ai];
            match self.step(&set.address, action).await {
                Ok(line) => {
                    progress(&line);
                    report.done.push(line);
                }
                Err(e) => return Err((report, e)),
            }
        }
        if let Some(policy) = &plan.password_policy {
            match self.apply_policy(policy).await {
                Ok(line) => {
                    progress(&line);
                    report.done.push(line);
                }
                Err(e) => return Err((report, e)),
            }
        }
        for set in &plan.sets {
            let deactivated = set
                .actions
                .iter()
                .find(|a| a.kind == ActionKind::Deactivate);
            if let (Some(a), Some(cfg)) = (deactivated, self.config.sets.get(&set.address)) {
                let due = self.now + cfg.windows.inactive_for.to_chrono();
                report.checkpoints.push(format!(
                    "{addr}: old key {key} is Inactive. Checkpoint: confirm applications work with the new key.\n  \
                     To go on: `keyrot apply` at or after {due} (when inactive_for has passed) deletes it.\n  \
                     To go back: `keyrot rollback {addr}` reactivates it.",
                    addr = set.address,
                    key = a.key.as_ref().map(|k| k.masked()).unwrap_or_default(),
                    due = timestamp(due),
                ));
            }
        }
        Ok(report)
    }

    /// The policy holds no secret and the call is idempotent: a re-run converges, so no
    /// journal intent is needed.
    async fn apply_policy(&self, policy: &PolicyPlan) -> Result<String, ApplyError> {
        let result = match (&policy.action, &policy.after) {
            (PolicyAction::Update, Some(after)) => self.iam.set_password_policy(after).await,
            _ => self.iam.delete_password_policy().await,
        };
        result.map_err(ApplyError::Policy)?;
        Ok(match policy.action {
            PolicyAction::Update => "account password policy: updated".to_string(),
            PolicyAction::Delete => "account password policy: deleted".to_string(),
        })
    }

    async fn step(&mut self, address: &Address, action: &Action) -> Result<String, ApplyError> {
        let masked = action.key.as_ref().map(|k| k.masked()).unwrap_or_default();
        let iam_err = |source| ApplyError::Iam {
            address: address.clone(),
            source,
        };
        let op = match action.kind {
            ActionKind::Create => Some(Op::Create),
            ActionKind::Deactivate => Some(Op::Deactivate),
            ActionKind::Reactivate => Some(Op::Reactivate),
            ActionKind::Delete => Some(Op::Delete),
            _ => None,
        };
        let mut intent = op.map(|op| Intent {
            op,
            address: address.clone(),
            key_id: action.key.clone(),
            at: (self.wall_clock)(),
            now: self.now,
            sinks_started: 0,
        });
        if let Some(intent) = &intent {
            self.journal.record(intent)?;
        }
        let mut created = None;
        let line = match (&action.kind, intent.as_mut()) {
            (ActionKind::Create, Some(intent)) => {
                let (tracked, sinks) = self.create_and_deliver(address, intent).await?;
                let line = format!(
                    "{address}: created key {}, delivered to {}",
                    tracked.id.masked(),
                    sinks.join(", ")
                );
                created = Some(tracked);
                line
            }
            (ActionKind::Deactivate | ActionKind::Reactivate, _) => {
                let status = if action.kind == ActionKind::Deactivate {
                    KeyStatus::Inactive
                } else {
                    KeyStatus::Active
                };
                if let Some(key) = &action.key {
                    crash::point("before-iam-update");
                    self.iam
                        .set_credential_status(address, key, status.clone())
                        .await
                        .map_err(iam_err)?;
                    crash::point("after-iam-update");
                }
                format!("{address}: key {masked} is now {status}")
            }
            (ActionKind::Delete, _) => {
                if let Some(key) = &action.key {
                    // Plans can wait at a prompt or in a review: never delete a key that
                    // someone has turned back on since.
                    let live = self
                        .iam
                        .list_credentials(address)
                        .await
                        .map_err(iam_err)?
                        .unwrap_or_default();
                    if live
                        .iter()
                        .any(|k| &k.id == key && k.status == KeyStatus::Active)
                    {
                        self.journal.clear()?;
                        return Err(ApplyError::Changed {
                            address: address.clone(),
                            message: format!(
                                "key {masked} is Active again (changed since the plan), so it was not deleted; run `keyrot plan`"
                            ),
                        });
                    }
                    crash::point("before-iam-delete");
                    match self.iam.delete_credential(address, key).await {
                        // Already gone is the outcome we wanted.
                        Err(e) if !e.is_no_such_entity() => return Err(iam_err(e)),
                        _ => {}
                    }
                    crash::point("after-iam-delete");
                }
                format!("{address}: deleted key {masked}")
            }
            (ActionKind::Import { role, .. }, _) => {
                format!("{address}: imported key {masked} as {}", role.as_str())
            }
            (ActionKind::Refresh { status, .. }, _) => {
                format!("{address}: recorded key {masked} as {status}")
            }
            (ActionKind::Untrack, _) => format!("{address}: stopped tracking deleted key {masked}"),
            (ActionKind::Forget, _) => format!("{address}: forgotten (IAM untouched)"),
            (ActionKind::Create, None) => unreachable!("a create always has an intent"),
        };
        self.state
            .record(address, action, created.as_ref(), self.now);
        self.store.save(self.state)?;
        if intent.is_some() {
            self.journal.clear()?;
        }
        Ok(line)
    }

    /// Creates the key and hands its secret to every sink. On failure nothing is left
    /// behind: the new key (and any a retried create made) is deleted and the intent cleared.
    async fn create_and_deliver(
        &mut self,
        address: &Address,
        intent: &mut Intent,
    ) -> Result<(TrackedKey, Vec<String>), ApplyError> {
        let set = self
            .config
            .sets
            .get(address)
            .ok_or_else(|| ApplyError::NotConfigured {
                address: address.clone(),
            })?;
        let user = address.user.as_str();
        // A certificate is made (or read and checked) before anything happens in IAM.
        let certificate = match (&address.kind, &set.certificate) {
            (CredentialKind::SigningCertificate, Some(source)) => {
                Some(self.make_certificate(user, source).map_err(|message| {
                    ApplyError::Certificate {
                        address: address.clone(),
                        message,
                    }
                })?)
            }
            _ => None,
        };
        crash::point("before-iam-create");
        let new = match &certificate {
            Some(cert) => NewCredential::SigningCertificate {
                certificate_pem: &cert.certificate_pem,
            },
            None => NewCredential::AccessKey,
        };
        let created = self
            .iam
            .create_credential(user, new)
            .await
            .map(|new| (new.key, new.secret));
        crash::point("after-iam-create");
        let (key, secret) = match created {
            Ok(created) => created,
            Err(source) => {
                // Even IAM's refusal may follow an SDK retry of an attempt whose response was
                // lost and which did make a key (a retried create then hits the quota): find
                // any key the intent made and delete it.
                crate::ops::recover::reconcile(
                    self.iam,
                    self.remote,
                    self.config,
                    self.state,
                    intent,
                )
                .await
                .map_err(|source| ApplyError::Iam {
                    address: address.clone(),
                    source,
                })?;
                self.journal.clear()?;
                return Err(ApplyError::Iam {
                    address: address.clone(),
                    source,
                });
            }
        };
        intent.key_id = Some(key.id.clone());
        self.journal.record(intent)?;
        self.sweep_retried_creates(intent).await?;
        let material = match (&certificate, &secret) {
            (Some(cert), _) => sink::Material::Certificate {
                certificate_pem: &cert.certificate_pem,
                private_key_pem: &cert.private_key_pem,
            },
            (None, Some(secret)) => {
                // Certificates cannot sign STS calls; access keys must prove they work.
                if let Err(message) = self.verify(user, &key.id, secret).await {
                    return self
                        .undo_create(address, &key.id, message.clone(), |key| {
                            ApplyError::Unverified {
                                address: address.clone(),
                                key,
                                message,
                            }
                        })
                        .await;
                }
                sink::Material::AccessKey { secret }
            }
            (None, None) => unreachable!("an access key create returns its secret"),
        };
        let cred = Credential {
            user,
            key_id: &key.id,
            material,
            created: key.created,
        };
        let journal = self.journal;
        let progress_intent = &mut *intent;
        let mut progress = |i: usize| {
            progress_intent.sinks_started = i + 1;
            journal.record(progress_intent).map_err(|e| e.to_string())
        };
        crash::point("before-deliver");
        let delivered =
            sink::deliver(self.remote, &set.sinks, &cred, self.stdout, &mut progress).await;
        crash::point("after-deliver");
        match delivered {
            Ok(delivered) => Ok((
                TrackedKey {
                    id: key.id.clone(),
                    status: KeyStatus::Active,
                    born: self.now,
                    status_since: self.now,
                },
                delivered,
            )),
            Err(source) => {
                if source.still_holding.is_empty() {
                    // Every sink is back as it was: no one holds the new key.
                    intent.sinks_started = 0;
                    self.journal.record(intent)?;
                }
                let cause = source.to_string();
                self.undo_create(address, &key.id, cause, |key| ApplyError::Delivery {
                    address: address.clone(),
                    key,
                    source,
                })
                .await
            }
        }
    }

    /// Proves the new key works: STS GetCallerIdentity signed with it answers as the user,
    /// retried with backoff while IAM propagates the key.
    async fn verify(
        &self,
        user: &str,
        key_id: &crate::core::model::KeyId,
        secret: &secrecy::SecretString,
    ) -> Result<(), String> {
        let budget = self.config.aws.verify_timeout.map_or(VERIFY_BUDGET, |w| {
            std::time::Duration::from_secs(w.as_secs())
        });
        let started = tokio::time::Instant::now();
        let mut delay = std::time::Duration::from_millis(500);
        loop {
            let last = match self.remote.caller_arn(&key_id.0, secret).await {
                Ok(arn) if arn.contains(":user/") && arn.ends_with(&format!("/{user}")) => {
                    return Ok(())
                }
                Ok(arn) => format!("it signs as {arn}, not as user {user}"),
                Err(e) => e,
            };
            if started.elapsed() + delay > budget {
                return Err(format!(
                    "no successful STS GetCallerIdentity within {}s (last: {last})",
                    budget.as_secs()
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(8));
        }
    }

    /// A new certificate and its private key: generated, or read from the configured
    /// files and checked (they match, and the certificate is valid now).
    fn make_certificate(
        &self,
        user: &str,
        source: &crate::core::config::CertSource,
    ) -> Result<crate::adapters::certs::NewCertificate, String> {
        match source {
            crate::core::config::CertSource::Generate {
                algorithm,
                validity,
                subject,
            } => crate::adapters::certs::generate(
                *algorithm,
                subject,
                user,
                validity.as_secs().div_ceil(86_400),
                self.now,
            ),
            crate::core::config::CertSource::Files {
                certificate_file,
                private_key_file,
            } => {
                let read = |p: &std::path::Path| {
                    std::fs::read_to_string(p)
                        .map_err(|e| format!("cannot read {}: {e}", p.display()))
                };
                let certificate_pem = read(certificate_file)?;
                let key = zeroize::Zeroizing::new(read(private_key_file)?);
                crate::adapters::certs::check_pair(&certificate_pem, &key, self.now)?;
                Ok(crate::adapters::certs::NewCertificate {
                    certificate_pem,
                    private_key_pem: secrecy::SecretString::from(key.to_string()),
                })
            }
        }
    }

    /// Deletes a new key that must not stay, then reports `error`; if the delete fails the
    /// error names the key to delete by hand.
    async fn undo_create<T>(
        &mut self,
        address: &Address,
        key: &crate::core::model::KeyId,
        cause: String,
        error: impl FnOnce(String) -> ApplyError,
    ) -> Result<T, ApplyError> {
        match self.iam.delete_credential(address, key).await {
            Ok(()) => {
                self.journal.clear()?;
                Err(error(key.masked()))
            }
            // The journal keeps the intent, so the next run finishes the clean-up.
            Err(delete_error) => Err(ApplyError::Orphan {
                address: address.clone(),
                key: key.0.clone(),
                cause,
                delete_error,
                by_hand: address.kind.delete_command(&address.user, key),
            }),
        }
    }

    /// With an SDK retry after a lost response, one CreateAccessKey can make two keys;
    /// only the one returned to us has a secret anyone holds.
    async fn sweep_retried_creates(&mut self, intent: &Intent) -> Result<(), ApplyError> {
        let address = &intent.address;
        let iam_err = |source| ApplyError::Iam {
            address: address.clone(),
            source,
        };
        let live = self
            .iam
            .list_credentials(address)
            .await
            .map_err(iam_err)?
            .unwrap_or_default();
        let tracked = self
            .state
            .sets
            .get(address)
            .map(|s| s.keys().map(|(_, k)| k.id.clone()).collect())
            .unwrap_or_default();
        crate::ops::recover::delete_undelivered(
            self.iam,
            intent,
            &live,
            &tracked,
            intent.key_id.as_ref(),
        )
        .await
        .map_err(iam_err)?;
        Ok(())
    }
}
