//! The declarative config: HCL text in, a validated [`Config`] or every problem at once.
//!
//! Parsing walks the `hcl::edit` tree rather than using serde, because only the tree
//! keeps byte spans, and users need `file:line:column` on semantic errors too.

use crate::core::diagnostic::{Diagnostic, LineIndex};
use crate::core::duration::Window;
use crate::core::model::{Address, CredentialKind};
use crate::core::policy::PolicySpec;
use hcl::edit::expr::Expression;
use hcl::edit::structure::{Attribute, Block, Body};
use hcl::edit::Span;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One config file's name (as shown in errors) and text.
pub struct Source {
    pub name: String,
    pub text: String,
}

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
    const NAMES: &'static str =
        "json, credentials, env (access keys); pem, json (signing certificates)";

    fn parse(text: &str) -> Option<Self> {
        match text {
            "json" => Some(SecretFormat::Json),
            "credentials" => Some(SecretFormat::Credentials),
            "env" => Some(SecretFormat::Env),
            "pem" => Some(SecretFormat::Pem),
            _ => None,
        }
    }

    fn fits(self, kind: CredentialKind) -> bool {
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
    },
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
    const NAMES: &'static str = "ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072";

    fn parse(text: &str) -> Option<Self> {
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
}

impl Config {
    /// A digest of the config's meaning (not its formatting or comments), recorded in saved
    /// plans so `apply FILE` can tell the config changed since the plan.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut canon = format!(
            "aws {:?}\npassword_policy {:?}\n",
            self.aws, self.password_policy
        );
        for set in self.sets.values() {
            let w = &set.windows;
            canon.push_str(&format!(
                "{} max_age={} overlap={} unused_for={} inactive_for={}\n",
                set.address,
                w.max_age.as_secs(),
                w.overlap.as_secs(),
                w.unused_for.as_secs(),
                w.inactive_for.as_secs()
            ));
            for sink in &set.sinks {
                canon.push_str(&format!("  sink {sink:?}\n"));
            }
            if let Some(source) = &set.certificate {
                canon.push_str(&format!("  certificate {source:?}\n"));
            }
        }
        let hash = Sha256::digest(canon.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// Parses and validates all sources together; returns every problem found, in order.
pub fn parse(sources: &[Source]) -> Result<Config, Vec<Diagnostic>> {
    let mut walker = Walker::default();
    for source in sources {
        walker.file(source);
    }
    walker.finish()
}

/// Where a definition stood, for "first defined at" notes.
#[derive(Clone)]
struct Origin {
    file: String,
    line: usize,
    column: usize,
}

#[derive(Default)]
struct Walker {
    diagnostics: Vec<Diagnostic>,
    aws: AwsSettings,
    aws_origin: Option<Origin>,
    defaults: PartialWindows,
    defaults_origin: Option<Origin>,
    policy: Option<PolicySpec>,
    policy_origin: Option<Origin>,
    users: Vec<UserDecl>,
}

/// A user block: name, where it stands, and its credential blocks.
type UserDecl = (String, Origin, Vec<(CredentialKind, KeyDecl)>);

/// A credential block's own windows (defaults not yet applied), sinks and, for
/// certificates, their source.
type KeyDecl = (PartialWindows, Vec<Sink>, Option<CertSource>);

#[derive(Clone, Copy, Default)]
struct PartialWindows {
    max_age: Option<Window>,
    overlap: Option<Window>,
    unused_for: Option<Window>,
    inactive_for: Option<Window>,
}

impl PartialWindows {
    fn or(self, fallback: PartialWindows) -> PartialWindows {
        PartialWindows {
            max_age: self.max_age.or(fallback.max_age),
            overlap: self.overlap.or(fallback.overlap),
            unused_for: self.unused_for.or(fallback.unused_for),
            inactive_for: self.inactive_for.or(fallback.inactive_for),
        }
    }

    fn resolve(self) -> Windows {
        let d = Windows::default();
        Windows {
            max_age: self.max_age.unwrap_or(d.max_age),
            overlap: self.overlap.unwrap_or(d.overlap),
            unused_for: self.unused_for.unwrap_or(d.unused_for),
            inactive_for: self.inactive_for.unwrap_or(d.inactive_for),
        }
    }
}

const WINDOW_NAMES: [&str; 4] = ["max_age", "overlap", "unused_for", "inactive_for"];

/// One file being walked: its name and a byte-offset → position map.
struct FileCtx<'a> {
    name: &'a str,
    index: LineIndex<'a>,
}

impl FileCtx<'_> {
    fn origin(&self, span: Option<std::ops::Range<usize>>) -> Origin {
        let (line, column) = self.index.position(span.map_or(0, |s| s.start));
        Origin {
            file: self.name.to_string(),
            line,
            column,
        }
    }
}

impl Walker {
    fn report(&mut self, at: &Origin, message: impl Into<String>, hint: impl Into<String>) {
        let hint: String = hint.into();
        self.diagnostics.push(Diagnostic {
            file: at.file.clone(),
            line: at.line,
            column: at.column,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    fn file(&mut self, source: &Source) {
        let ctx = FileCtx {
            name: &source.name,
            index: LineIndex::new(&source.text),
        };
        let first_new = self.diagnostics.len();
        self.walk_file(&ctx, source);
        self.diagnostics[first_new..].sort_by_key(|d| (d.line, d.column));
    }

    fn walk_file(&mut self, ctx: &FileCtx, source: &Source) {
        let body = match hcl::edit::parser::parse_body(&source.text) {
            Ok(body) => body,
            Err(err) => {
                // hcl-edit's column counts bytes; ours count characters.
                let (line, column) = ctx.index.position(err.location().offset());
                self.diagnostics.push(Diagnostic {
                    file: source.name.clone(),
                    line,
                    column,
                    message: format!("HCL syntax error: {}", err.message()),
                    hint: Some(format!("near `{}`", excerpt(err.line().trim()))),
                });
                return;
            }
        };
        self.no_attributes(ctx, &body, "at the top level");
        for block in body.blocks() {
            let at = ctx.origin(block.span());
            match block.ident.as_str() {
                "aws" => self.aws_block(ctx, block, at),
                "defaults" => self.defaults_block(ctx, block, at),
                "user" => self.user_block(ctx, block, at),
                "password_policy" => self.policy_block(ctx, block, at),
                other => self.report(
                    &at,
                    format!("unknown block `{other}`"),
                    "top-level blocks are `aws`, `defaults`, `password_policy` and `user \"NAME\"`",
                ),
            }
        }
    }

    fn no_attributes(&mut self, ctx: &FileCtx, body: &Body, place: &str) {
        for attr in body.attributes() {
            let at = ctx.origin(attr.span());
            self.report(
                &at,
                format!("unexpected attribute `{}` {place}", attr.key.as_str()),
                "attributes belong inside a block",
            );
        }
    }

    fn labels(&mut self, block: &Block, at: &Origin, want: usize, usage: &str) -> Vec<String> {
        let labels: Vec<String> = block
            .labels
            .iter()
            .map(|l| l.as_str().to_string())
            .collect();
        if labels.len() != want {
            self.report(
                at,
                format!(
                    "block `{}` takes {want} label(s), found {}",
                    block.ident.as_str(),
                    labels.len()
                ),
                format!("write it as {usage}"),
            );
        }
        labels
    }

    /// Reports blocks and attributes of `body` not named in the allowed lists.
    fn only(&mut self, ctx: &FileCtx, body: &Body, place: &str, attrs: &[&str], blocks: &[&str]) {
        for attr in body.attributes() {
            let key = attr.key.as_str();
            if !attrs.contains(&key) {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    format!("unknown attribute `{key}` in {place}"),
                    expected_list("attributes", attrs),
                );
            }
        }
        for block in body.blocks() {
            let ident = block.ident.as_str();
            if !blocks.contains(&ident) {
                let at = ctx.origin(block.span());
                self.report(
                    &at,
                    format!("unknown block `{ident}` in {place}"),
                    expected_list("blocks", blocks),
                );
            }
        }
    }

    fn once(&mut self, first: &mut Option<Origin>, at: Origin, what: &str) -> bool {
        if let Some(prev) = first {
            let note = format!(
                "merge it into the one at {}:{}:{}",
                prev.file, prev.line, prev.column
            );
            self.report(&at, format!("duplicate `{what}` block"), note);
            return false;
        }
        *first = Some(at);
        true
    }

    fn aws_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`aws { … }`");
        let mut first = self.aws_origin.take();
        let fresh = self.once(&mut first, at, "aws");
        self.aws_origin = first;
        let body = &block.body;
        self.only(
            ctx,
            body,
            "`aws`",
            &[
                "region",
                "profile",
                "endpoint_url",
                "max_attempts",
                "timeout",
                "retry_mode",
                "verify_timeout",
            ],
            &[],
        );
        if !fresh {
            return;
        }
        if let Some(attr) = body.get_attribute("max_attempts") {
            let n = attr.value.as_number().and_then(|n| n.as_u64());
            match n.filter(|n| (1..=20).contains(n)) {
                Some(n) => self.aws.max_attempts = Some(n as u32),
                None => {
                    let at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &at,
                        "max_attempts must be a whole number from 1 to 20",
                        "e.g. `max_attempts = 8`",
                    );
                }
            }
        }
        if let Some(attr) = body.get_attribute("timeout") {
            match duration_attr(ctx, attr) {
                Ok(w) if w.as_secs() > 0 => self.aws.timeout = Some(w),
                Ok(_) => {
                    let at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &at,
                        "timeout must be longer than 0s",
                        "e.g. `timeout = \"60s\"`",
                    );
                }
                Err(d) => self.diagnostics.push(d),
            }
        }
        if let Some(attr) = body.get_attribute("verify_timeout") {
            self.aws.verify_timeout = duration_attr(ctx, attr)
                .map_err(|d| self.diagnostics.push(d))
                .ok();
        }
        if let Some(mode) = self.string_attr(ctx, body, "retry_mode") {
            self.aws.retry_mode = match mode.as_str() {
                "standard" => Some(RetryMode::Standard),
                "adaptive" => Some(RetryMode::Adaptive),
                other => {
                    let attr = body.get_attribute("retry_mode");
                    let at = ctx.origin(attr.and_then(|a| a.value.span()));
                    self.report(
                        &at,
                        format!("unknown retry_mode `{other}`"),
                        "use \"standard\" or \"adaptive\"",
                    );
                    None
                }
            };
        }
        self.aws.region = self.string_attr(ctx, body, "region");
        self.aws.profile = self.string_attr(ctx, body, "profile");
        self.aws.endpoint_url = self.string_attr(ctx, body, "endpoint_url");
        if let (Some(url), Some(attr)) =
            (&self.aws.endpoint_url, body.get_attribute("endpoint_url"))
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    format!("endpoint_url `{url}` is not an http(s) URL"),
                    "write it like \"https://iam.amazonaws.com\"",
                );
            }
        }
    }

    fn policy_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`password_policy { … }`");
        let mut first = self.policy_origin.take();
        let fresh = self.once(&mut first, at.clone(), "password_policy");
        self.policy_origin = first;
        let body = &block.body;
        const BOOLS: [&str; 6] = [
            "require_symbols",
            "require_numbers",
            "require_uppercase_characters",
            "require_lowercase_characters",
            "allow_users_to_change_password",
            "hard_expiry",
        ];
        let mut allowed: Vec<&str> = BOOLS.to_vec();
        allowed.extend(crate::core::policy::RANGES.iter().map(|(n, _, _)| *n));
        allowed.push("delete");
        self.only(ctx, body, "`password_policy`", &allowed, &[]);
        if !fresh {
            return;
        }
        let mut spec = PolicySpec::default();
        let [sym, num, upper, lower, change, hard] = BOOLS.map(|k| self.bool_attr(ctx, body, k));
        spec.require_symbols = sym;
        spec.require_numbers = num;
        spec.require_uppercase_characters = upper;
        spec.require_lowercase_characters = lower;
        spec.allow_users_to_change_password = change;
        spec.hard_expiry = hard;
        for (name, min, max) in crate::core::policy::RANGES {
            let Some(attr) = body.get_attribute(name) else {
                continue;
            };
            let n = attr.value.as_number().and_then(|n| n.as_u64());
            let value = match n.filter(|n| (*min as u64..=*max as u64).contains(n)) {
                Some(n) => Some(n as u32),
                None => {
                    let a_at = ctx.origin(attr.value.span().or(attr.span()));
                    self.report(
                        &a_at,
                        format!(
                            "`{name}` must be a whole number from {min} to {max} (IAM's range)"
                        ),
                        format!("e.g. `{name} = {}`", (min + max) / 2),
                    );
                    None
                }
            };
            match *name {
                "minimum_password_length" => spec.minimum_password_length = value,
                "max_password_age" => spec.max_password_age = value,
                _ => spec.password_reuse_prevention = value,
            }
        }
        spec.delete = self.bool_attr(ctx, body, "delete").unwrap_or(false);
        if spec.delete && body.attributes().count() > 1 {
            self.report(
                &at,
                "`delete = true` removes the account password policy: it takes no other attribute",
                "keep only `delete = true`, or remove it to manage the policy",
            );
        }
        self.policy = Some(spec);
    }

    fn defaults_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        self.labels(block, &at, 0, "`defaults { … }`");
        let mut first = self.defaults_origin.take();
        let fresh = self.once(&mut first, at, "defaults");
        self.defaults_origin = first;
        self.only(ctx, &block.body, "`defaults`", &WINDOW_NAMES, &[]);
        if fresh {
            self.defaults = self.windows(ctx, &block.body);
        }
    }

    fn user_block(&mut self, ctx: &FileCtx, block: &Block, at: Origin) {
        let labels = self.labels(block, &at, 1, "`user \"NAME\" { … }`");
        let Some(name) = labels.into_iter().next() else {
            return;
        };
        if !valid_user_name(&name) {
            self.report(
                &at,
                format!("`{name}` is not a valid IAM user name"),
                "IAM user names are 1-64 characters of letters, digits and +=,.@_-",
            );
        }
        if let Some((_, prev, _)) = self.users.iter().find(|(n, _, _)| *n == name) {
            let note = format!(
                "user \"{name}\" is already declared at {}:{}:{}; declare each user once",
                prev.file, prev.line, prev.column
            );
            self.report(&at, format!("duplicate user \"{name}\""), note);
            return;
        }
        self.only(
            ctx,
            &block.body,
            "`user`",
            &[],
            &["access_key", "signing_certificate"],
        );
        let mut declared = Vec::new();
        for kind in [
            CredentialKind::AccessKey,
            CredentialKind::SigningCertificate,
        ] {
            let mut first: Option<Origin> = None;
            for cred_block in block.body.get_blocks(kind.as_str()) {
                let cred_at = ctx.origin(cred_block.span());
                let usage = format!("`{} {{ … }}`", kind.as_str());
                self.labels(cred_block, &cred_at, 0, &usage);
                if !self.once(&mut first, cred_at.clone(), kind.as_str()) {
                    continue;
                }
                declared.push((kind, self.credential_block(ctx, cred_block, &cred_at, kind)));
            }
        }
        if declared.is_empty() {
            self.report(
                &at,
                format!("user \"{name}\" declares no credentials"),
                "add an `access_key { … }` or `signing_certificate { … }` block with a `deliver` block",
            );
        }
        self.users.push((name, at, declared));
    }

    fn credential_block(
        &mut self,
        ctx: &FileCtx,
        block: &Block,
        at: &Origin,
        kind: CredentialKind,
    ) -> KeyDecl {
        let body = &block.body;
        let place = format!("`{}`", kind.as_str());
        let certificate = match kind {
            CredentialKind::AccessKey => {
                self.only(ctx, body, &place, &WINDOW_NAMES, &["deliver"]);
                None
            }
            CredentialKind::SigningCertificate => {
                let attrs = [
                    "max_age",
                    "overlap",
                    "inactive_for",
                    "certificate_file",
                    "private_key_file",
                ];
                self.only(ctx, body, &place, &attrs, &["deliver", "generate"]);
                self.cert_source(ctx, body, at)
            }
        };
        let windows = self.windows(ctx, body);
        let mut sinks = Vec::new();
        for deliver in body.get_blocks("deliver") {
            let d_at = ctx.origin(deliver.span());
            let labels = self.labels(deliver, &d_at, 1, "`deliver \"file\" { … }`");
            let Some(sink_kind) = labels.first() else {
                continue;
            };
            if let Some(sink) = self.sink(ctx, deliver, sink_kind, &d_at, kind) {
                sinks.push(sink);
            }
        }
        if sinks.is_empty() && !body.get_blocks("deliver").any(|_| true) {
            self.report(
                at,
                format!("{} has no `deliver` block: a new secret would have nowhere to go", kind.as_str()),
                "add a block `deliver \"file\" {` with `path = \"secrets/NAME.json\"` and `format = \"json\"` on lines of their own",
            );
        }
        (windows, sinks, certificate)
    }

    /// Exactly one of `generate { … }` or `certificate_file` + `private_key_file`.
    fn cert_source(&mut self, ctx: &FileCtx, body: &Body, at: &Origin) -> Option<CertSource> {
        let generate: Vec<&Block> = body.get_blocks("generate").collect();
        let cert_file = self.string_attr(ctx, body, "certificate_file");
        let key_file = self.string_attr(ctx, body, "private_key_file");
        let hint = "use either `generate { algorithm = \"ecdsa-p256\" … }` or both `certificate_file` and `private_key_file`";
        match (generate.as_slice(), cert_file, key_file) {
            ([g], None, None) => {
                let g_at = ctx.origin(g.span());
                self.labels(g, &g_at, 0, "`generate { … }`");
                self.only(
                    ctx,
                    &g.body,
                    "`generate`",
                    &["algorithm", "validity", "subject"],
                    &[],
                );
                let algorithm = match self.string_attr(ctx, &g.body, "algorithm") {
                    None => Some(KeyAlgorithm::EcdsaP256),
                    Some(text) => {
                        let parsed = KeyAlgorithm::parse(&text);
                        if parsed.is_none() {
                            let a_at = ctx.origin(
                                g.body
                                    .get_attribute("algorithm")
                                    .and_then(|a| a.value.span()),
                            );
                            self.report(
                                &a_at,
                                format!("unknown algorithm `{text}`"),
                                format!("use one of: {}", KeyAlgorithm::NAMES),
                            );
                        }
                        parsed
                    }
                };
                let validity = match g.body.get_attribute("validity") {
                    Some(attr) => match duration_attr(ctx, attr) {
                        Ok(w) if w >= Window::days(1) => Some(w),
                        Ok(_) => {
                            let a_at = ctx.origin(attr.value.span().or(attr.span()));
                            self.report(
                                &a_at,
                                "validity must be at least 1d",
                                "certificates should outlive max_age plus overlap, e.g. `validity = \"400d\"`",
                            );
                            None
                        }
                        Err(d) => {
                            self.diagnostics.push(d);
                            None
                        }
                    },
                    None => Some(Window::days(400)),
                };
                let subject = match self.string_attr(ctx, &g.body, "subject") {
                    None => Some(Vec::new()),
                    Some(text) => {
                        let parsed = parse_subject(&text);
                        if parsed.is_none() {
                            let a_at = ctx.origin(
                                g.body.get_attribute("subject").and_then(|a| a.value.span()),
                            );
                            self.report(
                                &a_at,
                                format!("cannot read subject `{text}`"),
                                "write it like \"CN=ci-deployer,O=Example\"",
                            );
                        }
                        parsed
                    }
                };
                Some(CertSource::Generate {
                    algorithm: algorithm?,
                    validity: validity?,
                    subject: subject?,
                })
            }
            ([], Some(certificate_file), Some(private_key_file)) => Some(CertSource::Files {
                certificate_file: PathBuf::from(certificate_file),
                private_key_file: PathBuf::from(private_key_file),
            }),
            _ => {
                self.report(at, "signing_certificate needs one certificate source", hint);
                None
            }
        }
    }

    fn sink(
        &mut self,
        ctx: &FileCtx,
        block: &Block,
        kind: &str,
        at: &Origin,
        credential: CredentialKind,
    ) -> Option<Sink> {
        let body = &block.body;
        let default_format = match credential {
            CredentialKind::AccessKey => SecretFormat::Json,
            CredentialKind::SigningCertificate => SecretFormat::Pem,
        };
        let format = |w: &mut Self| -> Option<SecretFormat> {
            let Some(attr) = body.get_attribute("format") else {
                return Some(default_format);
            };
            let text = w.string_attr(ctx, body, "format")?;
            let parsed = SecretFormat::parse(&text);
            let message = match parsed {
                None => format!("unknown format `{text}`"),
                Some(f) if !f.fits(credential) => {
                    format!("format `{text}` does not suit {}s", credential.noun())
                }
                Some(_) => return parsed,
            };
            let a_at = ctx.origin(attr.span());
            w.report(
                &a_at,
                message,
                format!("use one of: {}", SecretFormat::NAMES),
            );
            None
        };
        if kind == "aws_profile" && credential == CredentialKind::SigningCertificate {
            self.report(at, "an aws_profile holds access keys, not certificates", "deliver certificates to a `file`, `secrets_manager`, `ssm_parameter` or `exec` sink");
            return None;
        }
        match kind {
            "file" => {
                self.only(ctx, body, "`deliver \"file\"`", &["path", "format"], &[]);
                let path = self.string_attr(ctx, body, "path");
                if path.is_none() && body.get_attribute("path").is_none() {
                    self.report(
                        at,
                        "`deliver \"file\"` needs a `path`",
                        "add `path = \"secrets/NAME.json\"`",
                    );
                }
                let format = format(self)?;
                Some(Sink::File {
                    path: PathBuf::from(path?),
                    format,
                })
            }
            "stdout" => {
                self.only(ctx, body, "`deliver \"stdout\"`", &["format"], &[]);
                let format = format(self)?;
                Some(Sink::Stdout { format })
            }
            "secrets_manager" => {
                let place = "`deliver \"secrets_manager\"`";
                self.only(ctx, body, place, &["secret_id", "create", "format"], &[]);
                let secret_id =
                    self.required_string(ctx, body, at, place, "secret_id", "ci/deployer");
                let create = self.bool_attr(ctx, body, "create").unwrap_or(false);
                let format = format(self)?;
                Some(Sink::SecretsManager {
                    secret_id: secret_id?,
                    create,
                    format,
                })
            }
            "ssm_parameter" => {
                let place = "`deliver \"ssm_parameter\"`";
                self.only(ctx, body, place, &["name", "kms_key_id", "format"], &[]);
                let name = self.required_string(ctx, body, at, place, "name", "/ci/deployer");
                let kms_key_id = self.string_attr(ctx, body, "kms_key_id");
                let format = format(self)?;
                Some(Sink::SsmParameter {
                    name: name?,
                    kms_key_id,
                    format,
                })
            }
            "aws_profile" => {
                let place = "`deliver \"aws_profile\"`";
                self.only(ctx, body, place, &["file", "profile"], &[]);
                let file = self.required_string(ctx, body, at, place, "file", "~/.aws/credentials");
                let profile = self.required_string(ctx, body, at, place, "profile", "ci");
                Some(Sink::AwsProfile {
                    file: PathBuf::from(file?),
                    profile: profile?,
                })
            }
            "exec" => {
                let place = "`deliver \"exec\"`";
                self.only(ctx, body, place, &["command", "timeout", "format"], &[]);
                let command = self.string_list_attr(ctx, body, "command");
                if command.is_none() && body.get_attribute("command").is_none() {
                    self.report(
                        at,
                        format!("{place} needs a `command`"),
                        "add `command = [\"./reload.sh\"]`",
                    );
                }
                let timeout = match body.get_attribute("timeout") {
                    Some(attr) => duration_attr(ctx, attr)
                        .map_err(|d| self.diagnostics.push(d))
                        .ok(),
                    None => Some(Window::from_secs(60)),
                };
                let format = format(self)?;
                Some(Sink::Exec {
                    command: command?,
                    timeout: timeout?,
                    format,
                })
            }
            other => {
                self.report(
                    at,
                    format!("unknown sink `{other}`"),
                    "sinks are `file`, `stdout`, `secrets_manager`, `ssm_parameter`, `aws_profile` and `exec`",
                );
                None
            }
        }
    }

    fn required_string(
        &mut self,
        ctx: &FileCtx,
        body: &Body,
        at: &Origin,
        place: &str,
        key: &str,
        example: &str,
    ) -> Option<String> {
        let value = self.string_attr(ctx, body, key);
        if value.is_none() && body.get_attribute(key).is_none() {
            self.report(
                at,
                format!("{place} needs `{key}`"),
                format!("add `{key} = \"{example}\"`"),
            );
        }
        value
    }

    fn bool_attr(&mut self, ctx: &FileCtx, body: &Body, key: &str) -> Option<bool> {
        let attr = body.get_attribute(key)?;
        let value = attr.value.as_bool();
        if value.is_none() {
            let at = ctx.origin(attr.value.span().or(attr.span()));
            self.report(
                &at,
                format!("`{key}` must be true or false"),
                format!("write it as `{key} = true`"),
            );
        }
        value
    }

    /// A non-empty list of plain strings, e.g. a command and its arguments.
    fn string_list_attr(&mut self, ctx: &FileCtx, body: &Body, key: &str) -> Option<Vec<String>> {
        let attr = body.get_attribute(key)?;
        let items: Option<Vec<String>> = attr.value.as_array().and_then(|array| {
            array
                .iter()
                .map(|e| match e {
                    Expression::String(s) => Some(s.as_str().to_string()),
                    _ => None,
                })
                .collect()
        });
        match items.filter(|v| !v.is_empty()) {
            Some(v) => Some(v),
            None => {
                let at = ctx.origin(attr.value.span().or(attr.span()));
                self.report(
                    &at,
                    format!("`{key}` must be a non-empty list of plain strings"),
                    format!("write it as `{key} = [\"./program\", \"--flag\"]`"),
                );
                None
            }
        }
    }

    fn windows(&mut self, ctx: &FileCtx, body: &Body) -> PartialWindows {
        let mut w = PartialWindows::default();
        for attr in body.attributes() {
            let slot = match attr.key.as_str() {
                "max_age" => &mut w.max_age,
                "overlap" => &mut w.overlap,
                "unused_for" => &mut w.unused_for,
                "inactive_for" => &mut w.inactive_for,
                _ => continue,
            };
            *slot = duration_attr(ctx, attr)
                .map_err(|d| self.diagnostics.push(d))
                .ok();
        }
        if let (Some(max_age), Some(attr)) = (w.max_age, body.get_attribute("max_age")) {
            if max_age.as_secs() == 0 {
                let at = ctx.origin(attr.span());
                self.report(
                    &at,
                    "max_age must be longer than 0s",
                    "a typical value is \"90d\"",
                );
            }
        }
        w
    }

    fn string_attr(&mut self, ctx: &FileCtx, body: &Body, key: &str) -> Option<String> {
        let attr = body.get_attribute(key)?;
        match string_value(attr) {
            Ok(s) => Some(s),
            Err(message) => {
                let at = ctx.origin(attr.value.span().or(attr.span()));
                self.report(&at, message, format!("write it as `{key} = \"…\"`"));
                None
            }
        }
    }

    fn finish(mut self) -> Result<Config, Vec<Diagnostic>> {
        let defaults = self.defaults;
        let mut sets = BTreeMap::new();
        for (name, _, declared) in std::mem::take(&mut self.users) {
            for (kind, (windows, sinks, certificate)) in declared {
                let address = Address {
                    user: name.clone(),
                    kind,
                };
                let mut windows = windows.or(defaults).resolve();
                if kind == CredentialKind::SigningCertificate {
                    // No last-use evidence exists for certificates.
                    windows.unused_for = Window::from_secs(0);
                }
                sets.insert(
                    address.clone(),
                    SetConfig {
                        address,
                        windows,
                        sinks,
                        certificate,
                    },
                );
            }
        }
        if self.diagnostics.is_empty() {
            Ok(Config {
                aws: self.aws,
                sets,
                password_policy: self.policy,
            })
        } else {
            Err(self.diagnostics)
        }
    }
}

/// At most 60 characters of a source line, for hints.
fn excerpt(line: &str) -> String {
    match line.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// `CN=ci,O=Example` → `[("CN","ci"), ("O","Example")]`.
fn parse_subject(text: &str) -> Option<Vec<(String, String)>> {
    text.split(',')
        .map(|part| {
            let (k, v) = part.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            (!k.is_empty() && !v.is_empty()).then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn expected_list(what: &str, names: &[&str]) -> String {
    if names.is_empty() {
        return format!("this block takes no {what}");
    }
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    format!("expected {what}: {}", list.join(", "))
}

fn string_value(attr: &Attribute) -> Result<String, String> {
    match &attr.value {
        Expression::String(s) => Ok(s.as_str().to_string()),
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => Err(format!(
            "`{}` must be a plain string: interpolation is not supported",
            attr.key.as_str()
        )),
        _ => Err(format!("`{}` must be a string", attr.key.as_str())),
    }
}

fn duration_attr(ctx: &FileCtx, attr: &Attribute) -> Result<Window, Diagnostic> {
    let at = ctx.origin(attr.value.span().or(attr.span()));
    let hint = "durations are a number and a unit: \"90d\", \"12h\", \"30m\", \"2w\"";
    let result = string_value(attr).and_then(|text| {
        Window::parse(&text).map_err(|e| format!("bad duration for `{}`: {e}", attr.key.as_str()))
    });
    result.map_err(|message| Diagnostic {
        file: at.file,
        line: at.line,
        column: at.column,
        message,
        hint: Some(hint.to_string()),
    })
}

fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> Result<Config, Vec<Diagnostic>> {
        parse(&[Source {
            name: "keyrot.hcl".into(),
            text: text.into(),
        }])
    }

    fn errors(text: &str) -> Vec<String> {
        parse_one(text)
            .unwrap_err()
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    }

    const GOOD: &str = r#"
aws { region = "us-east-1" }
defaults {
  max_age = "90d"
  overlap = "7d"
}
user "ci-deployer" {
  access_key {
    max_age = "30d"
    deliver "file" {
      path   = "secrets/ci.json"
      format = "credentials"
    }
  }
}
"#;

    #[test]
    fn parses_the_documented_example() {
        let cfg = parse_one(GOOD).unwrap();
        assert_eq!(cfg.aws.region.as_deref(), Some("us-east-1"));
        let set = &cfg.sets[&Address::access_key("ci-deployer")];
        assert_eq!(set.windows.max_age, Window::days(30));
        assert_eq!(set.windows.overlap, Window::days(7));
        assert_eq!(set.windows.unused_for, Window::days(3), "built-in default");
        assert_eq!(
            set.sinks,
            vec![Sink::File {
                path: "secrets/ci.json".into(),
                format: SecretFormat::Credentials
            }]
        );
    }

    #[test]
    fn reports_every_error_with_position() {
        let errs = errors(
            r#"defaults {
  max_age = "90x"
  colour = "red"
}
user "a" {
  access_key {}
}
user "a" {
  access_key {
    deliver "file" { path = "x" }
  }
}
bogus {}
"#,
        );
        assert_eq!(
            errs,
            vec![
                "2:13: bad duration for `max_age`: unknown unit `x` in `90x`",
                "3:3: unknown attribute `colour` in `defaults`",
                "6:3: access_key has no `deliver` block: a new secret would have nowhere to go",
                "8:1: duplicate user \"a\"",
                "13:1: unknown block `bogus`",
            ]
        );
    }

    #[test]
    fn syntax_errors_carry_position() {
        let errs = errors("user \"a\" {\n  access_key {\n    max_age = \n}\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("3:15: HCL syntax error"), "{errs:?}");
    }

    #[test]
    fn rejects_non_strings_and_interpolation() {
        let errs = errors(
            "user \"a\" {\n  access_key {\n    max_age = 30\n    deliver \"file\" { path = \"${x}\" }\n  }\n}\n",
        );
        assert_eq!(
            errs,
            vec![
                "3:15: `max_age` must be a string",
                "4:29: `path` must be a plain string: interpolation is not supported",
            ]
        );
    }

    #[test]
    fn duplicate_users_across_files_name_both_places() {
        let one = Source {
            name: "a.hcl".into(),
            text: "user \"x\" {\n access_key {\n deliver \"stdout\" {}\n }\n}\n".into(),
        };
        let two = Source {
            name: "b.hcl".into(),
            text: "\nuser \"x\" {\n access_key {\n deliver \"stdout\" {}\n }\n}\n".into(),
        };
        let errs = parse(&[one, two]).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].file, "b.hcl");
        assert_eq!(errs[0].line, 2);
        assert!(errs[0].hint.as_deref().unwrap().contains("a.hcl:1:1"));
    }

    #[test]
    fn digest_ignores_formatting_but_not_meaning() {
        let a = parse_one(GOOD).unwrap().digest();
        let reformatted = GOOD.replace(
            "  max_age = \"90d\"",
            "  # comment\n  max_age   =   \"90d\"",
        );
        assert_eq!(parse_one(&reformatted).unwrap().digest(), a);
        let changed = GOOD.replace("\"30d\"", "\"31d\"");
        assert_ne!(parse_one(&changed).unwrap().digest(), a);
        let cert = |subject: &str| {
            parse_one(&format!(
                "user \"u\" {{\n  signing_certificate {{\n    generate {{\n      subject = \"{subject}\"\n    }}\n    deliver \"file\" {{\n      path = \"c.pem\"\n    }}\n  }}\n}}\n"
            ))
            .unwrap()
            .digest()
        };
        assert_ne!(
            cert("CN=a"),
            cert("CN=b"),
            "the certificate source is part of the meaning"
        );
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
    }

    #[test]
    fn password_policy_is_validated_against_iam_ranges() {
        let cfg = parse_one(
            "password_policy {\n  minimum_password_length = 14\n  require_symbols = true\n}\n",
        )
        .unwrap();
        let spec = cfg.password_policy.unwrap();
        assert_eq!(spec.minimum_password_length, Some(14));
        assert_eq!(spec.require_symbols, Some(true));
        assert_eq!(spec.max_password_age, None);
        let errs = errors("password_policy {\n  minimum_password_length = 4\n  max_password_age = 2000\n  require_symbols = \"yes\"\n  colour = 1\n}\n");
        assert_eq!(
            errs,
            vec![
                "2:29: `minimum_password_length` must be a whole number from 6 to 128 (IAM's range)",
                "3:22: `max_password_age` must be a whole number from 1 to 1095 (IAM's range)",
                "4:21: `require_symbols` must be true or false",
                "5:3: unknown attribute `colour` in `password_policy`",
            ]
        );
        assert!(
            parse_one("password_policy {\n  delete = true\n}\n")
                .unwrap()
                .password_policy
                .unwrap()
                .delete
        );
    }

    #[test]
    fn bad_user_names_and_formats() {
        let errs = errors(
            "user \"bad name!\" {\n access_key {\n deliver \"file\" {\n path = \"p\"\n format = \"yaml\"\n }\n }\n}\n",
        );
        assert_eq!(
            errs,
            vec![
                "1:1: `bad name!` is not a valid IAM user name",
                "5:2: unknown format `yaml`",
            ]
        );
    }
}
