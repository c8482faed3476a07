//! The validated config model: what the walker produces and the rest of keyrot reads.

use crate::core::duration::Window;
use crate::core::model::{Address, CredentialKind};
use crate::core::policy::PolicySpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Attempts per IAM call, first try included (SDK retry with jittered backoff).
    pub max_attempts: Option<u32>,
    /// Bound on one IAM call including its retries.
    pub timeout: Option<Window>,
    /// `standard` or `adaptive` (client-side rate limiting under throttling).
    pub retry_mode: Option<RetryMode>,
    /// How long a new access key gets to start working (STS) before it is deleted again.
    pub verify_timeout: Option<Window>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryMode {
    Standard,
    Adaptive,
}

/// The four windows of the rotation state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Rotate when the current key is older than this.
    pub max_age: Window,
    /// Least time both keys stay active before the old one is deactivated.
    pub overlap: Window,
    /// The old key must show no use for this long before it is deactivated.
    pub unused_for: Window,
    /// Least time the old key stays Inactive before it is deleted.
    pub inactive_for: Window,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            max_age: Window::days(90),
            overlap: Window::days(7),
            unused_for: Window::days(3),
            inactive_for: Window::days(7),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretFormat {
    /// `{"AccessKeyId": …, "SecretAccessKey": …}`
    Json,
    /// An `~/.aws/credentials`-style profile.
    Credentials,
    /// `AWS_ACCESS_KEY_ID=…` lines.
    Env,
    /// Certificate and private key, PEM (signing certificates only).
    Pem,
}

impl SecretFormat {
    pub(super) const NAMES: &'static str =
        "json, credentials, env (access keys); pem, json (signing certificates)";

    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "json" => Some(SecretFormat::Json),
            "credentials" => Some(SecretFormat::Credentials),
            "env" => Some(SecretFormat::Env),
            "pem" => Some(SecretFormat::Pem),
            _ => None,
        }
    }

    pub(super) fn fits(self, kind: CredentialKind) -> bool {
        match kind {
            CredentialKind::AccessKey => self != SecretFormat::Pem,
            CredentialKind::SigningCertificate => {
                matches!(self, SecretFormat::Pem | SecretFormat::Json)
            }
        }
    }
}

/// Where a new secret goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// A file written atomically with mode 0600; relative paths are from the working directory.
    File { path: PathBuf, format: SecretFormat },
    /// Standard output; only when declared explicitly.
    Stdout { format: SecretFormat },
    /// A new version of a Secrets Manager secret (AWSCURRENT; the old one stays AWSPREVIOUS).
    SecretsManager {
        secret_id: String,
        /// Create the secret when it does not exist (otherwise that is an error).
        create: bool,
        format: SecretFormat,
    },
    /// An SSM SecureString parameter, overwritten.
    SsmParameter {
        name: String,
        kms_key_id: Option<String>,
        format: SecretFormat,
    },
    /// One profile of a shared credentials file, updated in place.
    AwsProfile { file: PathBuf, profile: String },
    /// A command that reads the credential as JSON on stdin (never argv or environment).
    Exec {
        command: Vec<String>,
        timeout: Window,
        format: SecretFormat,
        env: ExecEnv,
    },
}

/// What a command sink's process gets for an environment: nothing of keyrot's own (the apply
/// role's AWS credentials could create and delete every managed key) beyond PATH, HOME and
/// LANG, plus the variables named in `pass_env` and those set in `env`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecEnv {
    /// `env = { NAME = "value" }`.
    pub set: std::collections::BTreeMap<String, String>,
    /// `pass_env = ["NAME"]`: passed on from keyrot's environment when set there.
    pub pass: Vec<String>,
}

impl Sink {
    pub fn describe(&self) -> String {
        match self {
            Sink::File { path, .. } => format!("file {}", path.display()),
            Sink::Stdout { .. } => "stdout".to_string(),
            Sink::SecretsManager { secret_id, .. } => format!("secrets_manager {secret_id}"),
            Sink::SsmParameter { name, .. } => format!("ssm_parameter {name}"),
            Sink::AwsProfile { file, profile } => {
                format!("aws_profile [{profile}] in {}", file.display())
            }
            Sink::Exec { command, .. } => {
                format!("exec {}", command.first().map_or("", String::as_str))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetConfig {
    pub address: Address,
    pub windows: Windows,
    pub sinks: Vec<Sink>,
    /// Signing certificates only: where each new certificate comes from.
    pub certificate: Option<CertSource>,
    /// Access keys only: the old key is deactivated only once IAM shows the new key used
    /// after its delivery (a consumer moved to it).
    pub require_new_key_use: bool,
    /// Checks run after the deactivation and on every later apply while the old key is
    /// Inactive; the delete waits for all of them to pass.
    pub confirm: Confirm,
}

/// A set's confirm checks and what a failure does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Confirm {
    pub checks: Vec<Check>,
    pub on_failure: OnConfirmFailure,
}

/// What keyrot does, in the same run, when a confirm check fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnConfirmFailure {
    /// Reactivate the old key (as `keyrot rollback` does) and hold the set.
    #[default]
    Rollback,
    /// Hold the set with the old key left Inactive, for a person to decide.
    Hold,
}

impl OnConfirmFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnConfirmFailure::Rollback => "rollback",
            OnConfirmFailure::Hold => "hold",
        }
    }
}

/// One confirm check. It gets no secret and no AWS credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A command (no shell) in the exec sink's clean environment; a non-zero exit fails.
    Exec {
        command: Vec<String>,
        timeout: Window,
        env: ExecEnv,
    },
    /// A GET whose answer must have `status`: https, or http to a loopback address.
    Http {
        url: String,
        status: u16,
        timeout: Window,
    },
}

impl Check {
    /// How messages and the state name the check: the program, or the URL's scheme, host
    /// and port (its path can hold a token).
    pub fn describe(&self) -> String {
        match self {
            Check::Exec { command, .. } => {
                format!("exec {}", command.first().map_or("", String::as_str))
            }
            Check::Http { url, .. } => format!("http {}", crate::core::url::origin(url)),
        }
    }
}

/// Key algorithms keyrot can generate certificates for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
}

impl KeyAlgorithm {
    pub(super) const NAMES: &'static str = "ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072";

    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "ecdsa-p256" => Some(KeyAlgorithm::EcdsaP256),
            "ecdsa-p384" => Some(KeyAlgorithm::EcdsaP384),
            "rsa-2048" => Some(KeyAlgorithm::Rsa2048),
            "rsa-3072" => Some(KeyAlgorithm::Rsa3072),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertSource {
    /// keyrot makes a key pair and a self-signed certificate for each rotation.
    Generate {
        algorithm: KeyAlgorithm,
        validity: Window,
        /// Distinguished name pairs, e.g. `[("CN", "ci")]`.
        subject: Vec<(String, String)>,
    },
    /// Bring your own: keyrot checks they match and are not expired before planning.
    Files {
        certificate_file: PathBuf,
        private_key_file: PathBuf,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub aws: AwsSettings,
    pub sets: BTreeMap<Address, SetConfig>,
    /// `None`: keyrot does not manage the account password policy.
    pub password_policy: Option<PolicySpec>,
    /// Where the state lives: `None` is the local file (`--state`).
    pub backend: Option<S3Backend>,
}

/// `backend "s3" { … }`: the state object, its lock and journal in an S3 bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Backend {
    pub bucket: String,
    /// The state object's key; the lock is `<key>.lock`, the journal `<key>.journal`.
    pub key: String,
    /// The state's own credentials and endpoint (IAM's `aws` block does not apply).
    pub region: Option<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    /// `None`: path-style exactly when an endpoint is set.
    pub use_path_style: Option<bool>,
    /// Server-side encryption with this KMS key (otherwise the bucket's default).
    pub kms_key_id: Option<String>,
    /// How long a lock lives without renewal; the holder renews it while it runs.
    pub lock_lease: Window,
}

impl S3Backend {
    /// The default lease: long enough to ride out a slow call, short enough that a
    /// killed run's lock is taken over on the next schedule.
    pub const DEFAULT_LEASE: Window = Window::from_secs(300);

    /// `s3://bucket/key`, the backend's identity in messages and saved plans.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}
