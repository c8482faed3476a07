//! The validated config model: what the walker produces and the rest of keyrot reads.

use crate::core::diagnostic::Position;
use crate::core::duration::Window;
use crate::core::model::{Address, CredentialKind, KeyIds};
use crate::core::notify::Event;
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

/// Selector name → the names of the users it chose, sorted.
pub type Chosen = BTreeMap<String, Vec<String>>;

/// What live IAM made of the selectors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Whom each selector chose, for every selector whose account could be listed.
    pub chosen: Chosen,
    /// Accounts whose users could not be listed, with why: their selectors chose nothing
    /// this time, and what they chose before is not forgotten on that account.
    pub unlisted: BTreeMap<String, String>,
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
        /// The account the secret lives in: the set's, unless the block names another.
        account: Option<String>,
        secret_id: String,
        /// Create the secret when it does not exist (otherwise that is an error).
        create: bool,
        format: SecretFormat,
    },
    /// An SSM SecureString parameter, overwritten.
    SsmParameter {
        /// The account the parameter lives in: the set's, unless the block names another.
        account: Option<String>,
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

/// ` in account NAME`, or nothing for keyrot's own account.
fn in_account(account: &Option<String>) -> String {
    account
        .as_ref()
        .map(|a| format!(" in account {a}"))
        .unwrap_or_default()
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
    /// The account a Secrets Manager or SSM sink writes in; `None`: keyrot's own account (and
    /// every local sink).
    pub fn account(&self) -> Option<&str> {
        match self {
            Sink::SecretsManager { account, .. } | Sink::SsmParameter { account, .. } => {
                account.as_deref()
            }
            _ => None,
        }
    }

    /// A sink of a set in `account`: one in AWS that names no account of its own writes in
    /// the set's.
    pub fn in_account(mut self, set_account: Option<&str>) -> Sink {
        if let Sink::SecretsManager { account, .. } | Sink::SsmParameter { account, .. } = &mut self
        {
            if account.is_none() {
                *account = set_account.map(str::to_string);
            }
        }
        self
    }

    /// The one place this sink writes (`None` for a command or stdout), as `describe` says it.
    pub fn destination(&self) -> Option<String> {
        match self {
            Sink::Exec { .. } | Sink::Stdout { .. } => None,
            _ => Some(self.describe()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Sink::File { path, .. } => format!("file {}", path.display()),
            Sink::Stdout { .. } => "stdout".to_string(),
            Sink::SecretsManager {
                secret_id, account, ..
            } => format!("secrets_manager {secret_id}{}", in_account(account)),
            Sink::SsmParameter { name, account, .. } => {
                format!("ssm_parameter {name}{}", in_account(account))
            }
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
    /// The `users` block (selector) this set was expanded from; `None` for a `user` block.
    pub selector: Option<String>,
    /// Access keys only: the old key is deactivated only once IAM shows the new key used
    /// after its delivery (a consumer moved to it).
    pub require_new_key_use: bool,
    /// Checks run after the deactivation and on every later apply while the old key is
    /// Inactive; the delete waits for all of them to pass.
    pub confirm: Confirm,
}

/// `users "NAME" { … }`: a group of IAM users chosen against live IAM at plan time. Every
/// criterion given must match; `names` and `exclude` are glob patterns (`*`, `?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    /// The `account` block the users live in; `None`: keyrot's own account.
    pub account: Option<String>,
    /// The IAM path the users are under (`/ci/`), as ListUsers' PathPrefix.
    pub path_prefix: Option<String>,
    /// Tags every selected user carries with exactly these values.
    pub tags: BTreeMap<String, String>,
    /// Name patterns a user must match one of; empty: any name.
    pub names: Vec<String>,
    /// Name patterns that take a user out again.
    pub exclude: Vec<String>,
    /// One per credential kind, with `${user}` still in the sinks' text.
    pub sets: Vec<SetTemplate>,
    /// Where the block stands, for errors and warnings found at plan time.
    pub at: Position,
}

/// A credential block of a selector: a [`SetConfig`] for any user it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetTemplate {
    pub kind: CredentialKind,
    pub windows: Windows,
    pub sinks: Vec<Sink>,
    pub certificate: Option<CertSource>,
    /// As [`SetConfig::require_new_key_use`].
    pub require_new_key_use: bool,
    /// As [`SetConfig::confirm`], with `${user}` still in the checks' text.
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
            Check::Http { url, .. } => format!("http {}", crate::core::weburl::display_text(url)),
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
    /// Every concrete set: `user` blocks, plus (once expanded against IAM) what selectors chose.
    pub sets: BTreeMap<Address, SetConfig>,
    /// `users` blocks, by name.
    pub selectors: Vec<Selector>,
    /// `account "NAME" { role_arn = … }`: other accounts, reached by AssumeRole.
    pub accounts: BTreeMap<String, AccountSpec>,
    /// Which users each selector chose, once expanded (`None` before): what a saved plan
    /// holds the expansion to.
    pub selection: Option<Selection>,
    /// `None`: keyrot does not manage the account password policy.
    pub password_policy: Option<PolicySpec>,
    /// Where the state lives: `None` is the local file (`--state`).
    pub backend: Option<S3Backend>,
    /// How output shows things to people (`display { … }`).
    pub display: DisplaySettings,
    /// Where each apply's and rollback's summary goes, in config order.
    pub notify: Vec<Notify>,
}

/// `notify "webhook" { … }` or `notify "sns" { … }`: a channel that hears about runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    pub channel: Channel,
    /// The events it hears about: all unless the block names some. Sorted, unique.
    pub events: Vec<Event>,
}

impl Notify {
    /// Whether a run that is an instance of `events` is sent to this channel.
    pub fn wants(&self, events: &[Event]) -> bool {
        events.iter().any(|e| self.events.contains(e))
    }
}

/// Where a summary is sent.
#[derive(Clone, PartialEq, Eq)]
pub enum Channel {
    /// A POST of Slack-compatible JSON. The URL's path is a credential (Slack's token is
    /// in it): `Debug` and [`Channel::describe`] show scheme, host and port only.
    Webhook { url: String },
    /// SNS Publish (Subject and a plain-text message) to a topic.
    Sns { topic_arn: String },
}

impl Channel {
    /// The channel in messages: `webhook https://hooks.example.com`, `sns arn:…`.
    pub fn describe(&self) -> String {
        match self {
            Channel::Webhook { url } => {
                format!("webhook {}", crate::core::weburl::display_text(url))
            }
            Channel::Sns { topic_arn } => format!("sns {topic_arn}"),
        }
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `display { … }`: how keyrot's output shows things to people. Display only: not part of
/// the config digest (adding it never makes a saved plan "config changed"), and nothing
/// plan or apply decides depends on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisplaySettings {
    /// `key_ids = "full"`: full key ids in text and JSON output; markdown (public PR
    /// comments) stays masked unless `--show-key-ids` is given.
    pub key_ids: KeyIds,
}

/// `account "NAME" { … }`: an AWS account keyrot reaches by assuming a role from its own
/// credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSpec {
    pub name: String,
    pub role_arn: String,
    pub external_id: Option<String>,
    /// The AssumeRole session name (CloudTrail shows it); `keyrot` when not given.
    pub session_name: Option<String>,
    /// How long the assumed credentials last (15m to 12h); AWS's default (1h) when not given.
    pub duration: Option<Window>,
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
