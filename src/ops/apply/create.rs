//! The create step: make the credential, prove it works, deliver it to every sink; on any
//! failure delete it again so nothing is orphaned and no secret is lost.

use super::{iam_error, recover_error, ApplyError, Run};
use crate::adapters::certs::NewCertificate;
use crate::adapters::crash;
use crate::adapters::iam::{Iam, NewCredential, NewKey};
use crate::adapters::remote::Remote;
use crate::adapters::sinks::{self as sink, Credential};
use crate::adapters::store::journal::Intent;
use crate::core::config::Sink;
use crate::core::model::{Address, CredentialKind, KeyId, KeyStatus};
use crate::core::state::TrackedKey;
use crate::ops::recover;
use futures::future::LocalBoxFuture;

/// How long a new key gets to start working by default (IAM is eventually consistent;
/// ~20 s is normal).
const VERIFY_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);

impl<I: Iam, R: Remote> Run<'_, I, R> {
    /// Creates the key and hands its secret to every sink. On failure nothing is left
    /// behind: the new key (and any a retried create made) is deleted and the intent cleared.
    pub(super) async fn create_and_deliver(
        &self,
        address: &Address,
        intent: &mut Intent,
    ) -> Result<(TrackedKey, Vec<String>), ApplyError> {
        let set = self.set_config(address)?;
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
        let new = self.create(address, certificate.as_ref(), intent).await?;
        let material = match (&certificate, &new.secret) {
            (Some(cert), _) => sink::Material::Certificate {
                certificate_pem: &cert.certificate_pem,
                private_key_pem: &cert.private_key_pem,
            },
            (None, Some(secret)) => {
                // Certificates cannot sign STS calls; access keys must prove they work.
                if let Err(message) = self.verify(user, &new.key.id, secret).await {
                    return self
                        .undo_create(address, &new.key.id, message.clone(), |key| {
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
            key_id: &new.key.id,
            material,
            created: new.key.created,
        };
        let delivered = self.deliver(&set.sinks, &cred, intent).await?;
        Ok((
            TrackedKey {
                id: new.key.id.clone(),
                status: KeyStatus::Active,
                born: self.now,
                status_since: self.now,
                // On IAM's clock, after the STS proof: only later uses are a consumer's.
                delivered: Some((self.wall_clock)() + self.iam.clock_skew()),
            },
            delivered,
        ))
    }

    /// The IAM create, with the new id journaled at once and any key a retried create
    /// made swept.
    async fn create(
        &self,
        address: &Address,
        certificate: Option<&NewCertificate>,
        intent: &mut Intent,
    ) -> Result<NewKey, ApplyError> {
        crash::point("before-iam-create");
        let new = match certificate {
            Some(cert) => NewCredential::SigningCertificate {
                certificate_pem: &cert.certificate_pem,
            },
            None => NewCredential::AccessKey,
        };
        let created = self.iam.create_credential(address, new).await;
        crash::point("after-iam-create");
        let created = match created {
            Ok(created) => created,
            Err(source) if source.nothing_happened() => {
                self.clear(address).await?;
                return Err(iam_error(address, source));
            }
            Err(source) => {
                // Even IAM's refusal may follow an SDK retry of an attempt whose response was
                // lost and which did make a key (a retried create then hits the quota): find
                // any key the intent made and delete it.
                let (_, scratch) = self.reconcile(intent).await?;
                self.commit(|state| super::run::put_back(state, address, scratch))
                    .await?;
                self.clear(address).await?;
                return Err(iam_error(address, source));
            }
        };
        intent.key_id = Some(created.key.id.clone());
        self.record(intent).await?;
        self.sweep_retried_creates(intent).await?;
        Ok(created)
    }

    /// Every sink takes the credential, or the new key is deleted again.
    async fn deliver(
        &self,
        sinks: &[Sink],
        cred: &Credential<'_>,
        intent: &mut Intent,
    ) -> Result<Vec<String>, ApplyError> {
        // Before each sink: how many have started, journaled (a write shared with other
        // sets' journal changes) — recovery reads back exactly those.
        let started = std::cell::Cell::new(intent.sinks_started);
        let names: Vec<String> = sinks.iter().map(Sink::describe).collect();
        let base = intent.clone();
        let mut progress = |i: usize| -> LocalBoxFuture<'_, Result<(), String>> {
            started.set(i + 1);
            let next = Intent {
                sinks_started: i + 1,
                sinks_begun: names[..=i].to_vec(),
                ..base.clone()
            };
            Box::pin(async move { self.record(&next).await.map_err(|e| e.to_string()) })
        };
        // Sets writing one file (or secret) take turns: a put-back must not undo another's.
        let mut claim = self.claim(sinks).await;
        crash::point("before-deliver");
        let delivered =
            sink::deliver(self.remote, sinks, cred, claim.stdout(), &mut progress).await;
        crash::point("after-deliver");
        drop(claim);
        intent.sinks_started = started.get();
        intent.sinks_begun = names[..started.get().min(names.len())].to_vec();
        let source = match delivered {
            Ok(delivered) => return Ok(delivered),
            Err(source) => source,
        };
        if source.still_holding.is_empty() {
            // Every sink is back as it was: no one holds the new key.
            intent.sinks_started = 0;
            intent.sinks_begun.clear();
            self.record(intent).await?;
        }
        let cause = source.to_string();
        let address = &intent.address;
        self.undo_create(address, cred.key_id, cause, |key| ApplyError::Delivery {
            address: address.clone(),
            key,
            source: Box::new(source),
        })
        .await
    }

    /// Proves the new key works: STS GetCallerIdentity signed with it answers as the user,
    /// retried with backoff while IAM propagates the key.
    async fn verify(
        &self,
        user: &str,
        key_id: &KeyId,
        secret: &secrecy::SecretString,
    ) -> Result<(), String> {
        let budget = self.config.aws.verify_timeout.map_or(VERIFY_BUDGET, |w| {
            std::time::Duration::from_secs(w.as_secs())
        });
        let started = tokio::time::Instant::now();
        let mut delay = std::time::Duration::from_millis(500);
        loop {
            let last = match self.remote.base().caller_arn(&key_id.0, secret).await {
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
        &self,
        address: &Address,
        key: &KeyId,
        cause: String,
        error: impl FnOnce(String) -> ApplyError,
    ) -> Result<T, ApplyError> {
        match self.iam.delete_credential(address, key).await {
            // The intent is cleared once the failed step's event names the key (`step`).
            Ok(()) => Err(error(self.show(key))),
            // The journal keeps the intent, so the next run finishes the clean-up.
            Err(delete_error) => Err(ApplyError::Orphan {
                address: Box::new(address.clone()),
                key: key.0.clone(),
                cause,
                delete_error: Box::new(delete_error),
                by_hand: by_hand(address, key),
            }),
        }
    }

    /// With an SDK retry after a lost response, one CreateAccessKey can make two keys;
    /// only the one returned to us has a secret anyone holds.
    async fn sweep_retried_creates(&self, intent: &Intent) -> Result<(), ApplyError> {
        let address = &intent.address;
        let iam_err = |source| ApplyError::Iam {
            address: address.clone(),
            source: Box::new(source),
        };
        let live = self
            .iam
            .list_credentials(address)
            .await
            .map_err(iam_err)?
            .unwrap_or_default();
        let tracked = self
            .ledger()
            .ledger
            .state
            .sets
            .get(address)
            .map(|s| s.keys().map(|(_, k)| k.id.clone()).collect())
            .unwrap_or_default();
        let swept = recover::sweep_undelivered(
            self.iam,
            intent,
            &live,
            &tracked,
            intent.key_id.as_ref(),
            self.events,
        )
        .await
        .map_err(|e| recover_error(address, e))?;
        if !swept.unresolved.is_empty() {
            // Written at once: a key kept for a person must stay named whatever follows.
            self.commit(|state| {
                let set = state.sets.entry(address.clone()).or_default();
                set.mark_unresolved(swept.unresolved);
            })
            .await?;
        }
        Ok(())
    }
}

/// The aws CLI command that deletes `key` by hand, with the account it is in.
fn by_hand(address: &Address, key: &KeyId) -> String {
    let command = address.kind.delete_command(&address.user, key);
    match address.account() {
        Some(account) => format!("{command}  # in account {account}, with its role's credentials"),
        None => command,
    }
}
