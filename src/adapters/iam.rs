//! The small IAM interface keyrot needs. `aws` implements it; tests can swap it.

use crate::core::model::{Address, CredentialKind, KeyId, KeyStatus, LastUsed, LiveKey};
use crate::core::policy::PasswordPolicy;
use secrecy::SecretString;
use std::fmt;
use std::future::Future;

/// A key just created, with the only copy of its secret.
pub struct NewKey {
    pub key: LiveKey,
    pub secret: SecretString,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &self.key)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{operation}: not found: {message}")]
    NoSuchEntity { operation: String, message: String },
    #[error("{operation}: IAM quota reached: {message}")]
    LimitExceeded { operation: String, message: String },
    #[error("{operation}: access denied ({message})\n  hint: check the AWS credentials keyrot runs with (--profile, AWS_PROFILE) and their IAM permissions")]
    Denied { operation: String, message: String },
    #[error("{operation}: {message}")]
    Other { operation: String, message: String },
}

impl IamError {
    pub fn is_no_such_entity(&self) -> bool {
        matches!(self, IamError::NoSuchEntity { .. })
    }
}

pub trait Iam: Sync {
    /// The user's access keys, or `None` when the user does not exist.
    fn list_access_keys(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<Vec<LiveKey>>, IamError>> + Send;

    fn last_used(&self, key: &KeyId) -> impl Future<Output = Result<LastUsed, IamError>> + Send;

    fn create_access_key(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<NewKey, IamError>> + Send;

    fn set_access_key_status(
        &self,
        user: &str,
        key: &KeyId,
        status: KeyStatus,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    fn delete_access_key(
        &self,
        user: &str,
        key: &KeyId,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    /// The user's signing certificates, or `None` when the user does not exist.
    fn list_signing_certificates(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<Vec<LiveKey>>, IamError>> + Send;

    fn upload_signing_certificate(
        &self,
        user: &str,
        certificate_pem: &str,
    ) -> impl Future<Output = Result<LiveKey, IamError>> + Send;

    fn set_signing_certificate_status(
        &self,
        user: &str,
        id: &KeyId,
        status: KeyStatus,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    fn delete_signing_certificate(
        &self,
        user: &str,
        id: &KeyId,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    /// The live credentials of one set, whatever its kind.
    fn list_credentials(
        &self,
        address: &Address,
    ) -> impl Future<Output = Result<Option<Vec<LiveKey>>, IamError>> + Send {
        async move {
            match address.kind {
                CredentialKind::AccessKey => self.list_access_keys(&address.user).await,
                CredentialKind::SigningCertificate => {
                    self.list_signing_certificates(&address.user).await
                }
            }
        }
    }

    fn set_credential_status(
        &self,
        address: &Address,
        id: &KeyId,
        status: KeyStatus,
    ) -> impl Future<Output = Result<(), IamError>> + Send {
        async move {
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
    }

    fn delete_credential(
        &self,
        address: &Address,
        id: &KeyId,
    ) -> impl Future<Output = Result<(), IamError>> + Send {
        async move {
            match address.kind {
                CredentialKind::AccessKey => self.delete_access_key(&address.user, id).await,
                CredentialKind::SigningCertificate => {
                    self.delete_signing_certificate(&address.user, id).await
                }
            }
        }
    }

    /// The account password policy, `None` when none is set.
    fn password_policy(
        &self,
    ) -> impl Future<Output = Result<Option<PasswordPolicy>, IamError>> + Send;

    /// Replaces the whole policy (fields IAM is not given reset to defaults).
    fn set_password_policy(
        &self,
        policy: &PasswordPolicy,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    fn delete_password_policy(&self) -> impl Future<Output = Result<(), IamError>> + Send;

    /// The credential report as CSV, generated only when none exists or it is older than
    /// four hours (IAM's own refresh limit).
    fn credential_report(&self) -> impl Future<Output = Result<String, IamError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let new = NewKey {
            key: LiveKey {
                id: KeyId("AKIATEST".into()),
                status: KeyStatus::Active,
                created: Default::default(),
                cert: None,
            },
            secret: SecretString::from(secret.to_string()),
        };
        let shown = format!("{new:?} {:?} {:#?}", new.secret, new);
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("AKIATEST") && shown.contains("REDACTED"));
    }
}
