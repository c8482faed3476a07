//! [`Iam`] over `aws_sdk_iam`: the only place that maps a credential kind to its IAM
//! operations, and SDK errors to [`IamError`].

use super::calls::CallLog;
use super::watch::{body_code, ServerClock, Throttles};
use crate::adapters::iam::{Iam, IamError, NewCredential, NewKey};
use crate::core::model::{
    Address, CredentialKind, IamUser, KeyId, KeyStatus, LastUsed, LiveKey, Time, UserQuery,
};
use crate::core::policy::PasswordPolicy;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::{EntityType, StatusType};
use aws_sdk_iam::Client;
use secrecy::SecretString;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

pub struct AwsIam {
    client: Client,
    sts: aws_sdk_sts::Client,
    /// Named in errors when the endpoint does not answer.
    endpoint: String,
    /// The server's clock minus ours, in milliseconds, from the last response's Date.
    skew_ms: Arc<AtomicI64>,
    /// Attempts IAM refused with Throttling, retries included.
    throttled: Arc<AtomicU64>,
}

impl AwsIam {
    pub fn new(shared: &aws_config::SdkConfig) -> Self {
        let skew_ms = Arc::new(AtomicI64::new(0));
        let throttled = Arc::new(AtomicU64::new(0));
        let conf = aws_sdk_iam::config::Builder::from(shared)
            .interceptor(ServerClock(skew_ms.clone()))
            .interceptor(CallLog)
            .interceptor(Throttles(throttled.clone()))
            .build();
        let sts = aws_sdk_sts::config::Builder::from(shared)
            .interceptor(CallLog)
            .build();
        let endpoint = match shared.endpoint_url() {
            Some(url) => url.to_string(),
            None => format!(
                "the AWS endpoints of region {}",
                shared.region().map_or("us-east-1", |r| r.as_ref())
            ),
        };
        AwsIam {
            client: Client::from_conf(conf),
            sts: aws_sdk_sts::Client::from_conf(sts),
            endpoint,
            skew_ms,
            throttled,
        }
    }
}

fn to_time(t: Option<&DateTime>) -> Time {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_default()
}

impl AwsIam {
    /// An SDK error as keyrot says it: transport failures (no credentials, an endpoint that
    /// does not answer) in one short sentence, service errors by code — and by HTTP status
    /// and body where moto's auth errors carry no parsed code. Never the SDK's debug dump.
    fn fail<E>(
        &self,
        operation: &str,
        err: SdkError<E, aws_sdk_iam::config::http::HttpResponse>,
    ) -> IamError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let operation = operation.to_string();
        if let Some(e) = transport_failure(&operation, &self.endpoint, &err) {
            return e;
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        let message = err
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| match status {
                Some(s) => format!("HTTP {s} ({})", root_cause(&err)),
                None => root_cause(&err),
            });
        // moto's auth errors come in a shape the SDK does not parse: read the code from the body.
        let body_code = || body_code(err.raw_response().and_then(|r| r.body().bytes())?);
        let code = err
            .code()
            .map(str::to_string)
            .or_else(|| matches!(status, Some(401 | 403)).then(body_code).flatten());
        match (code.as_deref(), status) {
            (Some("NoSuchEntity"), _) => IamError::NoSuchEntity { operation, message },
            (Some("LimitExceeded"), _) => IamError::LimitExceeded { operation, message },
            (Some("AccessDenied"), _) => IamError::Denied { operation, message },
            (
                Some(
                    "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "UnrecognizedClientException",
                ),
                _,
            )
            | (None, Some(401 | 403)) => IamError::Credentials { operation, message },
            _ => IamError::Other { operation, message },
        }
    }
}

/// No credentials, or no answer from the endpoint: the request never got a service reply.
fn transport_failure<E, R>(
    operation: &str,
    endpoint: &str,
    err: &SdkError<E, R>,
) -> Option<IamError>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let detail = aws_sdk_iam::error::DisplayErrorContext(err).to_string();
    let no_credentials = [
        "no credentials",
        "credential provider was not enabled",
        "CredentialsNotLoaded",
    ]
    .iter()
    .any(|s| detail.contains(s));
    let operation = operation.to_string();
    let endpoint = endpoint.to_string();
    match err {
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) if no_credentials => {
            Some(IamError::NoCredentials { operation })
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => Some(IamError::Unreachable {
            operation,
            endpoint,
            reason: "timed out".into(),
        }),
        SdkError::DispatchFailure(d) if d.is_io() || d.is_other() => Some(IamError::Unreachable {
            operation,
            endpoint,
            reason: root_cause(err),
        }),
        SdkError::TimeoutError(_) => Some(IamError::Unreachable {
            operation,
            endpoint,
            reason: "timed out".into(),
        }),
        _ => None,
    }
}

/// The innermost cause of an error (`Connection refused (os error 111)`), cut short.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    short(&cause.to_string())
}

/// At most one line of 160 characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut cut: String = line.chars().take(160).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

/// Per-kind calls; `impl Iam` below picks one by kind.
impl AwsIam {
    async fn list_access_keys(&self, user: &str) -> Result<Option<Vec<LiveKey>>, IamError> {
        let mut pages = self
            .client
            .list_access_keys()
            .user_name(user)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(err) => match self.fail("ListAccessKeys", err) {
                    e if e.is_no_such_entity() => return Ok(None),
                    e => return Err(e),
                },
            };
            for meta in page.access_key_metadata() {
                let Some(id) = meta.access_key_id() else {
                    continue;
                };
                keys.push(LiveKey {
                    id: KeyId(id.to_string()),
                    status: KeyStatus::parse(meta.status().map_or("", StatusType::as_str)),
                    created: to_time(meta.create_date()),
                    cert: None,
                });
            }
        }
        Ok(Some(keys))
    }

    async fn access_key_last_used(&self, key: &KeyId) -> Result<LastUsed, IamError> {
        let out = self
            .client
            .get_access_key_last_used()
            .access_key_id(&key.0)
            .send()
            .await
            .map_err(|e| self.fail("GetAccessKeyLastUsed", e))?;
        Ok(
            match out.access_key_last_used().and_then(|u| u.last_used_date()) {
                Some(t) => LastUsed::At(to_time(Some(t))),
                None => LastUsed::Never,
            },
        )
    }

    async fn create_access_key(&self, user: &str) -> Result<NewKey, IamError> {
        let out = self
            .client
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| self.fail("CreateAccessKey", e))?;
        let key = out.access_key().ok_or_else(|| IamError::Other {
            operation: "CreateAccessKey".into(),
            message: "the response held no key".into(),
        })?;
        Ok(NewKey {
            key: LiveKey {
                id: KeyId(key.access_key_id().to_string()),
                status: KeyStatus::parse(key.status().as_str()),
                created: to_time(key.create_date()),
                cert: None,
            },
            secret: Some(SecretString::from(key.secret_access_key().to_string())),
        })
    }

    async fn set_access_key_status(
        &self,
        user: &str,
        key: &KeyId,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        self.client
            .update_access_key()
            .user_name(user)
            .access_key_id(&key.0)
            .status(StatusType::from(status.as_str()))
            .send()
            .await
            .map_err(|e| self.fail("UpdateAccessKey", e))?;
        Ok(())
    }

    async fn delete_access_key(&self, user: &str, key: &KeyId) -> Result<(), IamError> {
        self.client
            .delete_access_key()
            .user_name(user)
            .access_key_id(&key.0)
            .send()
            .await
            .map_err(|e| self.fail("DeleteAccessKey", e))?;
        Ok(())
    }

    async fn list_signing_certificates(
        &self,
        user: &str,
    ) -> Result<Option<Vec<LiveKey>>, IamError> {
        let mut pages = self
            .client
            .list_signing_certificates()
            .user_name(user)
            .into_paginator()
            .send();
        let mut certs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                Err(err) => match self.fail("ListSigningCertificates", err) {
                    e if e.is_no_such_entity() => return Ok(None),
                    e => return Err(e),
                },
            };
            for c in page.certificates() {
                certs.push(LiveKey {
                    id: KeyId(c.certificate_id().to_string()),
                    status: KeyStatus::parse(c.status().as_str()),
                    created: to_time(c.upload_date()),
                    cert: crate::adapters::certs::inspect(c.certificate_body()).ok(),
                });
            }
        }
        Ok(Some(certs))
    }

    async fn upload_signing_certificate(
        &self,
        user: &str,
        certificate_pem: &str,
    ) -> Result<LiveKey, IamError> {
        let out = self
            .client
            .upload_signing_certificate()
            .user_name(user)
            .certificate_body(certificate_pem)
            .send()
            .await
            .map_err(|e| self.fail("UploadSigningCertificate", e))?;
        let c = out.certificate().ok_or_else(|| IamError::Other {
            operation: "UploadSigningCertificate".into(),
            message: "the response held no certificate".into(),
        })?;
        Ok(LiveKey {
            id: KeyId(c.certificate_id().to_string()),
            status: KeyStatus::parse(c.status().as_str()),
            created: to_time(c.upload_date()),
            cert: crate::adapters::certs::inspect(c.certificate_body()).ok(),
        })
    }

    async fn set_signing_certificate_status(
        &self,
        user: &str,
        id: &KeyId,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        self.client
            .update_signing_certificate()
            .user_name(user)
            .certificate_id(&id.0)
            .status(StatusType::from(status.as_str()))
            .send()
            .await
            .map_err(|e| self.fail("UpdateSigningCertificate", e))?;
        Ok(())
    }

    async fn delete_signing_certificate(&self, user: &str, id: &KeyId) -> Result<(), IamError> {
        self.client
            .delete_signing_certificate()
            .user_name(user)
            .certificate_id(&id.0)
            .send()
            .await
            .map_err(|e| self.fail("DeleteSigningCertificate", e))?;
        Ok(())
    }
}

/// Listing users for selectors.
impl AwsIam {
    /// ListUsers under a path prefix: names and paths, no tags.
    async fn list_users_by_path(&self, prefix: Option<&str>) -> Result<Vec<IamUser>, IamError> {
        let mut pages = self
            .client
            .list_users()
            .set_path_prefix(prefix.map(str::to_string))
            .into_paginator()
            .send();
        let mut users = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.fail("ListUsers", e))?;
            users.extend(page.users().iter().map(|u| IamUser {
                name: u.user_name().to_string(),
                path: u.path().to_string(),
                tags: Default::default(),
            }));
        }
        Ok(users)
    }

    /// GetAccountAuthorizationDetails(Filter=User): every user with its tags, a page at a time.
    async fn list_users_with_tags(&self) -> Result<Vec<IamUser>, IamError> {
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(EntityType::User)
            .into_paginator()
            .send();
        let mut users = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.fail("GetAccountAuthorizationDetails", e))?;
            for u in page.user_detail_list() {
                let Some(name) = u.user_name() else {
                    continue;
                };
                users.push(IamUser {
                    name: name.to_string(),
                    path: u.path().unwrap_or("/").to_string(),
                    tags: u
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                });
            }
        }
        Ok(users)
    }
}

impl Iam for AwsIam {
    async fn list_users(&self, query: &UserQuery) -> Result<Vec<IamUser>, IamError> {
        let users = if query.with_tags {
            self.list_users_with_tags().await?
        } else {
            self.list_users_by_path(query.path_prefix.as_deref())
                .await?
        };
        let under = |u: &IamUser| {
            query
                .path_prefix
                .as_deref()
                .is_none_or(|p| u.path.starts_with(p))
        };
        Ok(users.into_iter().filter(under).collect())
    }

    async fn list_credentials(&self, address: &Address) -> Result<Option<Vec<LiveKey>>, IamError> {
        match address.kind {
            CredentialKind::AccessKey => self.list_access_keys(&address.user).await,
            CredentialKind::SigningCertificate => {
                self.list_signing_certificates(&address.user).await
            }
        }
    }

    async fn last_used(&self, _: &Address, key: &KeyId) -> Result<LastUsed, IamError> {
        self.access_key_last_used(key).await
    }

    async fn caller_identity(&self) -> Result<Option<String>, IamError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.fail("GetCallerIdentity", e))?;
        Ok(out.arn().map(str::to_string))
    }

    fn clock_skew(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.skew_ms.load(Ordering::Relaxed))
    }

    fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    async fn create_credential(
        &self,
        address: &Address,
        new: NewCredential<'_>,
    ) -> Result<NewKey, IamError> {
        let user = address.user.as_str();
        match new {
            NewCredential::AccessKey => self.create_access_key(user).await,
            NewCredential::SigningCertificate { certificate_pem } => self
                .upload_signing_certificate(user, certificate_pem)
                .await
                .map(|key| NewKey { key, secret: None }),
        }
    }

    async fn set_credential_status(
        &self,
        address: &Address,
        id: &KeyId,
        status: KeyStatus,
    ) -> Result<(), IamError> {
        match address.kind {
            CredentialKind::AccessKey => {
                self.set_access_key_status(&address.user, id, status).await
            }
            CredentialKind::SigningCertificate => {
                self.set_signing_certificate_status(&address.user, id, status)
                    .await
            }
        }
    }

    async fn delete_credential(&self, address: &Address, id: &KeyId) -> Result<(), IamError> {
        match address.kind {
            CredentialKind::AccessKey => self.delete_access_key(&address.user, id).await,
            CredentialKind::SigningCertificate => {
                self.delete_signing_certificate(&address.user, id).await
            }
        }
    }

    async fn password_policy(&self) -> Result<Option<PasswordPolicy>, IamError> {
        let out = match self.client.get_account_password_policy().send().await {
            Ok(out) => out,
            Err(e) => match self.fail("GetAccountPasswordPolicy", e) {
                e if e.is_no_such_entity() => return Ok(None),
                e => return Err(e),
            },
        };
        let Some(p) = out.password_policy() else {
            return Ok(None);
        };
        let d = PasswordPolicy::default();
        let positive = |v: Option<i32>| v.filter(|n| *n > 0).map(|n| n as u32);
        Ok(Some(PasswordPolicy {
            minimum_password_length: positive(p.minimum_password_length())
                .unwrap_or(d.minimum_password_length),
            require_symbols: p.require_symbols(),
            require_numbers: p.require_numbers(),
            require_uppercase_characters: p.require_uppercase_characters(),
            require_lowercase_characters: p.require_lowercase_characters(),
            allow_users_to_change_password: p.allow_users_to_change_password(),
            max_password_age: positive(p.max_password_age()),
            password_reuse_prevention: positive(p.password_reuse_prevention()),
            hard_expiry: p.hard_expiry().unwrap_or(false),
        }))
    }

    async fn set_password_policy(&self, policy: &PasswordPolicy) -> Result<(), IamError> {
        self.client
            .update_account_password_policy()
            .minimum_password_length(policy.minimum_password_length as i32)
            .require_symbols(policy.require_symbols)
            .require_numbers(policy.require_numbers)
            .require_uppercase_characters(policy.require_uppercase_characters)
            .require_lowercase_characters(policy.require_lowercase_characters)
            .allow_users_to_change_password(policy.allow_users_to_change_password)
            .set_max_password_age(policy.max_password_age.map(|n| n as i32))
            .set_password_reuse_prevention(policy.password_reuse_prevention.map(|n| n as i32))
            .hard_expiry(policy.hard_expiry)
            .send()
            .await
            .map_err(|e| self.fail("UpdateAccountPasswordPolicy", e))?;
        Ok(())
    }

    async fn delete_password_policy(&self) -> Result<(), IamError> {
        match self.client.delete_account_password_policy().send().await {
            Ok(_) => Ok(()),
            Err(e) => match self.fail("DeleteAccountPasswordPolicy", e) {
                e if e.is_no_such_entity() => Ok(()),
                e => Err(e),
            },
        }
    }

    async fn credential_report(&self) -> Result<String, IamError> {
        let fresh_enough = chrono::Duration::hours(4);
        for _ in 0..20 {
            match self.client.get_credential_report().send().await {
                Ok(out) => {
                    let generated = to_time(out.generated_time());
                    let content = out
                        .content()
                        .map(|b| b.as_ref().to_vec())
                        .unwrap_or_default();
                    let stale = chrono::Utc::now() - generated > fresh_enough;
                    if !stale || self.generate_report().await? {
                        return Ok(String::from_utf8_lossy(&content).into_owned());
                    }
                }
                Err(e) => {
                    let code = e.code().map(str::to_string);
                    match code.as_deref() {
                        Some("ReportNotPresent" | "ReportExpired") => {
                            self.generate_report().await?;
                        }
                        Some("ReportInProgress") => {}
                        _ => return Err(self.fail("GetCredentialReport", e)),
                    }
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(IamError::Other {
            operation: "GetCredentialReport".into(),
            message: "the report was not ready after 10 s; try again".into(),
        })
    }
}

impl AwsIam {
    /// Asks IAM for a new report; true when IAM answers it already has a complete one
    /// (it regenerates at most every four hours, whatever we ask).
    async fn generate_report(&self) -> Result<bool, IamError> {
        let out = self
            .client
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| self.fail("GenerateCredentialReport", e))?;
        Ok(out.state().is_some_and(|s| s.as_str() == "COMPLETE"))
    }
}
