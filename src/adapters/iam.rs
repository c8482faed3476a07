//! The small IAM interface keyrot needs. `aws` implements it; tests can swap it.

use crate::core::model::{
    Address, CredentialKind, IamUser, KeyId, KeyStatus, LastUsed, LiveKey, UserQuery,
};
use crate::core::policy::PasswordPolicy;
use secrecy::SecretString;
use std::fmt;
use std::future::Future;

/// A credential just created; an access key's secret exists only here (certificates have
/// none: their private key never leaves keyrot).
pub struct NewKey {
    pub key: LiveKey,
    pub secret: Option<SecretString>,
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
    /// The caller may not do this (one user's permissions, say): other sets may go on.
    #[error("{operation}: access denied ({message})\n  hint: check the AWS credentials keyrot runs with (--profile, AWS_PROFILE) and their IAM permissions")]
    Denied { operation: String, message: String },
    /// The credentials themselves are refused (unknown, expired, wrong secret): no call
    /// can succeed, so a run stops.
    #[error("{operation}: the AWS credentials were refused ({message})\n  hint: check the AWS credentials keyrot runs with (--profile, AWS_PROFILE, `aws sso login`); they may be expired")]
    Credentials { operation: String, message: String },
    /// No credentials in the chain (no profile, no environment, no SSO session).
    #[error("{operation}: no AWS credentials found\n  hint: pass --profile NAME or set AWS_PROFILE (run `aws sso login --profile NAME` for an SSO profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoCredentials { operation: String },
    /// The endpoint did not answer (DNS, connection, timeout).
    #[error("{operation}: cannot reach {endpoint} ({reason})\n  hint: check the network, the region (--region) and --endpoint-url / AWS_ENDPOINT_URL")]
    Unreachable {
        operation: String,
        endpoint: String,
        reason: String,
    },
    /// An `account` keyrot could not reach (its role could not be assumed): only that
    /// account's sets wait.
    #[error("account {account} cannot be reached: {message}\n  hint: check the account's role_arn (and external_id), the role's trust policy, and that keyrot's own credentials may sts:AssumeRole it")]
    Account { account: String, message: String },
    #[error("{operation}: {message}")]
    Other { operation: String, message: String },
}

impl IamError {
    /// Refused credentials or an endpoint that does not answer: no set can get past it, so
    /// apply (and recovery) stop at once; any other failure stays with its set.
    pub fn stops_every_set(&self) -> bool {
        matches!(
            self,
            IamError::Credentials { .. }
                | IamError::NoCredentials { .. }
                | IamError::Unreachable { .. }
        )
    }

    pub fn is_no_such_entity(&self) -> bool {
        matches!(self, IamError::NoSuchEntity { .. })
    }

    /// IAM answered and did nothing: the request was refused outright (unlike a timeout or
    /// a 5xx, after which the call may or may not have happened). A quota refusal is left
    /// out: it can follow an SDK retry of a create that did happen.
    pub fn nothing_happened(&self) -> bool {
        matches!(
            self,
            IamError::NoSuchEntity { .. }
                | IamError::Denied { .. }
                | IamError::Credentials { .. }
                | IamError::NoCredentials { .. }
                | IamError::Account { .. }
        )
    }

    /// Refused for who keyrot is, not for what it asked.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            IamError::Denied { .. } | IamError::Credentials { .. } | IamError::NoCredentials { .. }
        )
    }
}

/// What a create hands IAM: nothing for an access key (IAM makes the secret), the public
/// certificate for a signing certificate (keyrot made the key pair).
#[derive(Clone, Copy, Debug)]
pub enum NewCredential<'a> {
    AccessKey,
    SigningCertificate { certificate_pem: &'a str },
}

impl NewCredential<'_> {
    pub fn kind(&self) -> CredentialKind {
        match self {
            NewCredential::AccessKey => CredentialKind::AccessKey,
            NewCredential::SigningCertificate { .. } => CredentialKind::SigningCertificate,
        }
    }
}

/// The IAM calls keyrot needs, generic over the credential kind: an implementation maps
/// each to the kind's own IAM operation, so the rest of keyrot never matches on kinds.
pub trait Iam: Sync {
    /// The live credentials of one set, or `None` when the user does not exist.
    fn list_credentials(
        &self,
        address: &Address,
    ) -> impl Future<Output = Result<Option<Vec<LiveKey>>, IamError>> + Send;

    /// IAM's clock minus keyrot's, as the last response said (zero before any call): the
    /// journal dates a create on IAM's clock, which stamps the CreateDate.
    fn clock_skew(&self) -> chrono::Duration {
        chrono::Duration::zero()
    }

    /// How many of this client's attempts IAM refused with Throttling so far, retries
    /// included: the signal the inventory reader's concurrency adapts to. Zero when the
    /// port cannot tell.
    fn throttled(&self) -> u64 {
        0
    }

    /// [`Iam::throttled`] for one account's calls (`None`: keyrot's own); a client of one
    /// account has only its own.
    fn throttled_in(&self, _account: Option<&str>) -> u64 {
        self.throttled()
    }

    /// Who keyrot acts as (STS GetCallerIdentity with its own credentials): one call that
    /// fails fast on missing or refused credentials. `None` when the port cannot tell.
    fn caller_identity(&self) -> impl Future<Output = Result<Option<String>, IamError>> + Send {
        async { Ok(None) }
    }

    /// The users selectors choose from: ListUsers under the query's path, or, when tags are
    /// asked for, the pages of GetAccountAuthorizationDetails (users with their tags; never
    /// one call per user).
    fn list_users(
        &self,
        query: &UserQuery,
    ) -> impl Future<Output = Result<Vec<IamUser>, IamError>> + Send;

    /// GetAccessKeyLastUsed for a key of the set at `address` (access keys are the only kind
    /// with last-use records).
    fn last_used(
        &self,
        address: &Address,
        key: &KeyId,
    ) -> impl Future<Output = Result<LastUsed, IamError>> + Send;

    /// Creates (or uploads) a credential for the set's user; an access key comes with the
    /// only copy of its secret.
    fn create_credential(
        &self,
        address: &Address,
        new: NewCredential<'_>,
    ) -> impl Future<Output = Result<NewKey, IamError>> + Send;

    fn set_credential_status(
        &self,
        address: &Address,
        id: &KeyId,
        status: KeyStatus,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

    fn delete_credential(
        &self,
        address: &Address,
        id: &KeyId,
    ) -> impl Future<Output = Result<(), IamError>> + Send;

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
            secret: Some(SecretString::from(secret.to_string())),
        };
        let shown = format!("{new:?} {:?} {:#?}", new.secret, new);
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("AKIATEST") && shown.contains("REDACTED"));
    }
}
