//! The config digest recorded in saved plans.
//!
//! The digest hashes a canonical JSON document built field by field, so it depends on
//! the config's meaning only: not on formatting, comments, the order of blocks, nor on
//! how Rust happens to print a type. Every struct below is destructured in full, so a
//! new config field does not compile until it is either added here or left out on purpose.

use super::types::{
    AccountSpec, AwsSettings, CertSource, Check, Config, Confirm, ExecEnv, KeyAlgorithm, RetryMode,
    SecretFormat, Selector, SetConfig, SetTemplate, Sink, Windows,
};
use crate::core::duration::Window;
use crate::core::policy::PolicySpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Bumped whenever the canonical document changes shape, so that digests made by different
/// encodings can never be equal by accident.
const DIGEST_VERSION: u64 = 1;

/// A JSON value whose objects are `BTreeMap`s: keys always come out sorted, whatever
/// serde_json features another crate turns on.
#[derive(Serialize)]
#[serde(untagged)]
enum Canon {
    Null,
    Bool(bool),
    Number(u64),
    Text(String),
    List(Vec<Canon>),
    Object(BTreeMap<&'static str, Canon>),
}

impl Canon {
    fn object<const N: usize>(fields: [(&'static str, Canon); N]) -> Canon {
        Canon::Object(BTreeMap::from(fields))
    }

    fn text(s: impl Into<String>) -> Canon {
        Canon::Text(s.into())
    }

    fn path(p: &Path) -> Canon {
        Canon::text(p.to_string_lossy())
    }

    /// Durations as whole seconds.
    fn window(w: Window) -> Canon {
        Canon::Number(w.as_secs())
    }

    fn option<T>(value: Option<T>, f: impl FnOnce(T) -> Canon) -> Canon {
        value.map_or(Canon::Null, f)
    }
}

impl Config {
    /// A digest of the config's meaning (not its formatting or comments), recorded in saved
    /// plans so `apply FILE` can tell the config changed since the plan: `sha256:<hex>` of
    /// the canonical document (see [`Config::canonical`]), which carries `digest_version`.
    ///
    /// Version 1 replaced a hash of Rust `Debug` output; plans saved by a keyrot that used
    /// it are refused as "config changed" and must be made again.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let hash = Sha256::digest(self.canonical().as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// The canonical document the digest hashes: compact JSON, keys sorted, durations in
    /// seconds, sets in address order.
    pub(super) fn canonical(&self) -> String {
        let Config {
            aws,
            sets,
            selectors,
            accounts,
            // What live IAM made of the selectors: saved plans hold it among the IAM facts.
            selection: _,
            password_policy,
            // Not meaning for a plan: saved plans record the backend's identity themselves
            // (and are refused against another), and a new lease length changes no step.
            backend: _,
            // Display only: how ids are shown never changes what a plan does.
            display: _,
            // Who hears about a run changes no step it takes: moving a webhook or adding a
            // topic must not make reviewed plans stale.
            notify: _,
        } = self;
        // Sets a selector chose come from IAM; the selector's own text is the config.
        let declared = sets.values().filter(|s| s.selector.is_none());
        let mut doc = BTreeMap::from([
            ("digest_version", Canon::Number(DIGEST_VERSION)),
            ("aws", canon_aws(aws)),
            (
                "password_policy",
                Canon::option(password_policy.as_ref(), canon_policy),
            ),
            ("sets", Canon::List(declared.map(canon_set).collect())),
        ]);
        // Present only when there are some, so digests of configs without them never change.
        if !selectors.is_empty() {
            let mut sorted: Vec<&Selector> = selectors.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name));
            let list = sorted.into_iter().map(canon_selector).collect();
            doc.insert("selectors", Canon::List(list));
        }
        if !accounts.is_empty() {
            let list = accounts.values().map(canon_account).collect();
            doc.insert("accounts", Canon::List(list));
        }
        serde_json::to_string(&Canon::Object(doc)).unwrap_or_default()
    }
}

fn canon_aws(aws: &AwsSettings) -> Canon {
    let AwsSettings {
        region,
        profile,
        endpoint_url,
        max_attempts,
        timeout,
        retry_mode,
        verify_timeout,
    } = aws;
    let text = |v: &Option<String>| Canon::option(v.clone(), Canon::Text);
    Canon::object([
        ("region", text(region)),
        ("profile", text(profile)),
        ("endpoint_url", text(endpoint_url)),
        (
            "max_attempts",
            Canon::option(*max_attempts, |n| Canon::Number(n.into())),
        ),
        ("timeout", Canon::option(*timeout, Canon::window)),
        (
            "retry_mode",
            Canon::option(*retry_mode, |m| {
                Canon::text(match m {
                    RetryMode::Standard => "standard",
                    RetryMode::Adaptive => "adaptive",
                })
            }),
        ),
        (
            "verify_timeout",
            Canon::option(*verify_timeout, Canon::window),
        ),
    ])
}

fn canon_policy(spec: &PolicySpec) -> Canon {
    let PolicySpec {
        minimum_password_length,
        require_symbols,
        require_numbers,
        require_uppercase_characters,
        require_lowercase_characters,
        allow_users_to_change_password,
        max_password_age,
        password_reuse_prevention,
        hard_expiry,
        delete,
    } = spec;
    let number = |v: &Option<u32>| Canon::option(*v, |n| Canon::Number(n.into()));
    let flag = |v: &Option<bool>| Canon::option(*v, Canon::Bool);
    Canon::object([
        ("minimum_password_length", number(minimum_password_length)),
        ("require_symbols", flag(require_symbols)),
        ("require_numbers", flag(require_numbers)),
        (
            "require_uppercase_characters",
            flag(require_uppercase_characters),
        ),
        (
            "require_lowercase_characters",
            flag(require_lowercase_characters),
        ),
        (
            "allow_users_to_change_password",
            flag(allow_users_to_change_password),
        ),
        ("max_password_age", number(max_password_age)),
        (
            "password_reuse_prevention",
            number(password_reuse_prevention),
        ),
        ("hard_expiry", flag(hard_expiry)),
        ("delete", Canon::Bool(*delete)),
    ])
}

fn canon_set(set: &SetConfig) -> Canon {
    let SetConfig {
        address,
        windows,
        sinks,
        certificate,
        // Only sets without a selector are digested as sets.
        selector: _,
        require_new_key_use,
        confirm,
    } = set;
    let [w, s, c] = canon_credentials(windows, sinks, certificate);
    let mut object = BTreeMap::from([("address", Canon::text(address.to_string())), w, s, c]);
    object.extend(canon_step4(*require_new_key_use, confirm));
    Canon::Object(object)
}

/// What a set and a selector's template share: windows, sinks, certificate source.
fn canon_credentials(
    windows: &Windows,
    sinks: &[Sink],
    certificate: &Option<CertSource>,
) -> [(&'static str, Canon); 3] {
    [
        ("windows", canon_windows(windows)),
        ("sinks", Canon::List(sinks.iter().map(canon_sink).collect())),
        (
            "certificate",
            Canon::option(certificate.as_ref(), canon_cert),
        ),
    ]
}

/// A set's or a template's step-4 fields: present only when used, so digests of configs
/// without them never change.
fn canon_step4(require_new_key_use: bool, confirm: &Confirm) -> Vec<(&'static str, Canon)> {
    let mut fields = Vec::new();
    if require_new_key_use {
        fields.push(("require_new_key_use", Canon::Bool(true)));
    }
    let Confirm { checks, on_failure } = confirm;
    if !checks.is_empty() {
        let confirm = Canon::object([
            (
                "checks",
                Canon::List(checks.iter().map(canon_check).collect()),
            ),
            ("on_failure", Canon::text(on_failure.as_str())),
        ]);
        fields.push(("confirm", confirm));
    }
    fields
}

fn canon_windows(windows: &Windows) -> Canon {
    let Windows {
        max_age,
        overlap,
        unused_for,
        inactive_for,
    } = *windows;
    Canon::object([
        ("max_age", Canon::window(max_age)),
        ("overlap", Canon::window(overlap)),
        ("unused_for", Canon::window(unused_for)),
        ("inactive_for", Canon::window(inactive_for)),
    ])
}

fn canon_selector(selector: &Selector) -> Canon {
    let Selector {
        name,
        account,
        path_prefix,
        tags,
        names,
        exclude,
        sets,
        // Where the block stands is not meaning.
        at: _,
    } = selector;
    let texts = |list: &[String]| Canon::List(list.iter().map(Canon::text).collect());
    let tags = tags
        .iter()
        .map(|(k, v)| Canon::List(vec![Canon::text(k), Canon::text(v)]));
    Canon::object([
        ("name", Canon::text(name)),
        ("account", Canon::option(account.clone(), Canon::Text)),
        (
            "path_prefix",
            Canon::option(path_prefix.clone(), Canon::Text),
        ),
        ("tags", Canon::List(tags.collect())),
        ("names", texts(names)),
        ("exclude", texts(exclude)),
        (
            "sets",
            Canon::List(sets.iter().map(canon_template).collect()),
        ),
    ])
}

/// A command as an exec sink and an exec check declare it.
fn canon_command(
    command: &[String],
    timeout: Window,
    env: &ExecEnv,
) -> BTreeMap<&'static str, Canon> {
    let mut object = BTreeMap::from([
        ("kind", Canon::text("exec")),
        (
            "command",
            Canon::List(command.iter().map(Canon::text).collect()),
        ),
        ("timeout", Canon::window(timeout)),
    ]);
    // Present only when set, so digests of configs without them never change.
    if !env.set.is_empty() {
        let pairs = env
            .set
            .iter()
            .map(|(k, v)| Canon::List(vec![Canon::text(k), Canon::text(v)]));
        object.insert("env", Canon::List(pairs.collect()));
    }
    if !env.pass.is_empty() {
        let names = env.pass.iter().map(Canon::text).collect();
        object.insert("pass_env", Canon::List(names));
    }
    object
}

fn canon_check(check: &Check) -> Canon {
    match check {
        Check::Exec {
            command,
            timeout,
            env,
        } => Canon::Object(canon_command(command, *timeout, env)),
        Check::Http {
            url,
            status,
            timeout,
        } => Canon::object([
            ("kind", Canon::text("http")),
            ("url", Canon::text(url)),
            ("status", Canon::Number((*status).into())),
            ("timeout", Canon::window(*timeout)),
        ]),
    }
}

impl Check {
    /// Identifies the check in the state across runs (its recorded result belongs to
    /// exactly this definition): `sha256:` and 16 hex digits of its canonical form.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_string(&canon_check(self)).unwrap_or_default();
        let hex: String = Sha256::digest(text.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }
}

fn canon_account(account: &AccountSpec) -> Canon {
    let AccountSpec {
        name,
        role_arn,
        external_id,
        session_name,
        duration,
    } = account;
    let text = |v: &Option<String>| Canon::option(v.clone(), Canon::Text);
    Canon::object([
        ("name", Canon::text(name)),
        ("role_arn", Canon::text(role_arn)),
        ("external_id", text(external_id)),
        ("session_name", text(session_name)),
        ("duration", Canon::option(*duration, Canon::window)),
    ])
}

fn canon_template(template: &SetTemplate) -> Canon {
    let SetTemplate {
        kind,
        windows,
        sinks,
        certificate,
        require_new_key_use,
        confirm,
    } = template;
    let [w, s, c] = canon_credentials(windows, sinks, certificate);
    let mut object = BTreeMap::from([("kind", Canon::text(kind.as_str())), w, s, c]);
    object.extend(canon_step4(*require_new_key_use, confirm));
    Canon::Object(object)
}

fn canon_format(format: &SecretFormat) -> Canon {
    Canon::text(match format {
        SecretFormat::Json => "json",
        SecretFormat::Credentials => "credentials",
        SecretFormat::Env => "env",
        SecretFormat::Pem => "pem",
    })
}

fn canon_sink(sink: &Sink) -> Canon {
    match sink {
        Sink::File { path, format } => Canon::object([
            ("kind", Canon::text("file")),
            ("path", Canon::path(path)),
            ("format", canon_format(format)),
        ]),
        Sink::Stdout { format } => Canon::object([
            ("kind", Canon::text("stdout")),
            ("format", canon_format(format)),
        ]),
        Sink::SecretsManager {
            account,
            secret_id,
            create,
            format,
        } => with_account(
            account,
            [
                ("kind", Canon::text("secrets_manager")),
                ("secret_id", Canon::text(secret_id)),
                ("create", Canon::Bool(*create)),
                ("format", canon_format(format)),
            ],
        ),
        Sink::SsmParameter {
            account,
            name,
            kms_key_id,
            format,
        } => with_account(
            account,
            [
                ("kind", Canon::text("ssm_parameter")),
                ("name", Canon::text(name)),
                ("kms_key_id", Canon::option(kms_key_id.clone(), Canon::Text)),
                ("format", canon_format(format)),
            ],
        ),
        Sink::AwsProfile { file, profile } => Canon::object([
            ("kind", Canon::text("aws_profile")),
            ("file", Canon::path(file)),
            ("profile", Canon::text(profile)),
        ]),
        Sink::Exec {
            command,
            timeout,
            format,
            env,
        } => {
            let mut object = canon_command(command, *timeout, env);
            object.insert("format", canon_format(format));
            Canon::Object(object)
        }
    }
}

/// An object with an `account` field only when one is set, so digests of configs without
/// accounts never change.
fn with_account<const N: usize>(
    account: &Option<String>,
    fields: [(&'static str, Canon); N],
) -> Canon {
    let mut object = BTreeMap::from(fields);
    if let Some(account) = account {
        object.insert("account", Canon::text(account));
    }
    Canon::Object(object)
}

fn canon_cert(source: &CertSource) -> Canon {
    match source {
        CertSource::Generate {
            algorithm,
            validity,
            subject,
        } => Canon::object([
            ("kind", Canon::text("generate")),
            (
                "algorithm",
                Canon::text(match algorithm {
                    KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
                    KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
                    KeyAlgorithm::Rsa2048 => "rsa-2048",
                    KeyAlgorithm::Rsa3072 => "rsa-3072",
                }),
            ),
            ("validity", Canon::window(*validity)),
            (
                "subject",
                Canon::List(
                    subject
                        .iter()
                        .map(|(k, v)| Canon::List(vec![Canon::text(k), Canon::text(v)]))
                        .collect(),
                ),
            ),
        ]),
        CertSource::Files {
            certificate_file,
            private_key_file,
        } => Canon::object([
            ("kind", Canon::text("files")),
            ("certificate_file", Canon::path(certificate_file)),
            ("private_key_file", Canon::path(private_key_file)),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use crate::core::config::{parse, Config, Source};

    fn config(text: &str) -> Config {
        parse(&[Source {
            name: "keyrot.hcl".into(),
            text: text.into(),
        }])
        .unwrap()
    }

    /// Touches every part the digest covers: aws settings, the password policy, windows
    /// from defaults and per set, every sink kind, and both certificate sources.
    const FULL: &str = r#"
aws {
  region         = "eu-west-1"
  profile        = "ops"
  endpoint_url   = "http://localhost:5000"
  max_attempts   = 4
  timeout        = "30s"
  retry_mode     = "adaptive"
  verify_timeout = "2m"
}
password_policy {
  minimum_password_length = 14
  require_symbols         = true
  max_password_age        = 90
}
defaults { overlap = "2d" }
user "ci" {
  access_key {
    max_age = "30d"
    deliver "file" {
      path   = "secrets/ci.env"
      format = "env"
    }
    deliver "secrets_manager" {
      secret_id = "ci/deployer"
      create    = true
    }
    deliver "ssm_parameter" {
      name       = "/ci/key"
      kms_key_id = "alias/ci"
    }
    deliver "aws_profile" {
      file    = "creds"
      profile = "ci"
    }
    deliver "exec" {
      command = ["./reload.sh", "--now"]
      timeout = "10s"
    }
    deliver "stdout" { format = "credentials" }
  }
  signing_certificate {
    generate {
      algorithm = "rsa-2048"
      validity  = "100d"
      subject   = "CN=ci,O=Example"
    }
    deliver "file" { path = "ci.pem" }
  }
}
user "legacy" {
  signing_certificate {
    certificate_file = "legacy.crt"
    private_key_file = "legacy.key"
    deliver "stdout" {}
  }
}
"#;

    /// Saved plans carry the digest: a change here makes every saved plan "config changed".
    /// If that is meant, bump DIGEST_VERSION and pin the new values.
    #[test]
    fn canonical_document_is_pinned() {
        let canonical = config(FULL).canonical();
        assert_eq!(
            canonical,
            concat!(
                r#"{"aws":{"endpoint_url":"http://localhost:5000","max_attempts":4,"profile":"ops","region":"eu-west-1","retry_mode":"adaptive","timeout":30,"verify_timeout":120},"#,
                r#""digest_version":1,"#,
                r#""password_policy":{"allow_users_to_change_password":null,"delete":false,"hard_expiry":null,"max_password_age":90,"minimum_password_length":14,"password_reuse_prevention":null,"require_lowercase_characters":null,"require_numbers":null,"require_symbols":true,"require_uppercase_characters":null},"#,
                r#""sets":[{"address":"user.ci.access_key","certificate":null,"sinks":["#,
                r#"{"format":"env","kind":"file","path":"secrets/ci.env"},"#,
                r#"{"create":true,"format":"json","kind":"secrets_manager","secret_id":"ci/deployer"},"#,
                r#"{"format":"json","kind":"ssm_parameter","kms_key_id":"alias/ci","name":"/ci/key"},"#,
                r#"{"file":"creds","kind":"aws_profile","profile":"ci"},"#,
                r#"{"command":["./reload.sh","--now"],"format":"json","kind":"exec","timeout":10},"#,
                r#"{"format":"credentials","kind":"stdout"}],"#,
                r#""windows":{"inactive_for":604800,"max_age":2592000,"overlap":172800,"unused_for":259200}},"#,
                r#"{"address":"user.ci.signing_certificate","certificate":{"algorithm":"rsa-2048","kind":"generate","subject":[["CN","ci"],["O","Example"]],"validity":8640000},"#,
                r#""sinks":[{"format":"pem","kind":"file","path":"ci.pem"}],"#,
                r#""windows":{"inactive_for":604800,"max_age":7776000,"overlap":172800,"unused_for":0}},"#,
                r#"{"address":"user.legacy.signing_certificate","certificate":{"certificate_file":"legacy.crt","kind":"files","private_key_file":"legacy.key"},"#,
                r#""sinks":[{"format":"pem","kind":"stdout"}],"#,
                r#""windows":{"inactive_for":604800,"max_age":7776000,"overlap":172800,"unused_for":0}}]}"#,
            )
        );
    }

    #[test]
    fn digest_is_pinned() {
        assert_eq!(
            config(FULL).digest(),
            "sha256:543d3d7ab634a39a19e59a5ea63c297ebbc6cebf5597b9a2f949f99e56077026"
        );
    }

    /// Who hears about a run changes no step: a notify block leaves saved plans valid.
    #[test]
    fn notify_blocks_are_not_in_the_digest() {
        let with_notify = format!(
            "{FULL}\nnotify \"webhook\" {{ url = \"https://hooks.example.com/T/B/X\" }}\nnotify \"sns\" {{ topic_arn = \"arn:aws:sns:eu-west-1:123456789012:keyrot\" }}\n"
        );
        let parsed = config(&with_notify);
        assert_eq!(parsed.notify.len(), 2);
        assert_eq!(parsed.digest(), config(FULL).digest());
    }

    #[test]
    fn the_display_block_is_not_part_of_the_digest() {
        let shown = format!("{FULL}\ndisplay {{ key_ids = \"full\" }}\n");
        let with_display = config(&shown);
        assert_eq!(
            with_display.display.key_ids,
            crate::core::model::KeyIds::Full
        );
        assert_eq!(with_display.digest(), config(FULL).digest());
    }

    #[test]
    fn block_order_does_not_matter_but_every_field_does() {
        let base = config(FULL).digest();
        let (head, tail) = FULL.split_at(FULL.find("user \"legacy\"").unwrap());
        let (middle, users) = head.split_at(head.find("user \"ci\"").unwrap());
        let reordered = format!("{middle}{tail}\n{users}");
        assert_eq!(config(&reordered).digest(), base, "blocks reordered");
        for (from, to) in [
            ("\"eu-west-1\"", "\"eu-west-2\""),
            ("max_attempts   = 4", "max_attempts   = 5"),
            ("\"adaptive\"", "\"standard\""),
            ("\"2m\"", "\"3m\""),
            (
                "require_symbols         = true",
                "require_symbols         = false",
            ),
            ("overlap = \"2d\"", "overlap = \"3d\""),
            ("\"env\"", "\"json\""),
            ("create    = true", "create    = false"),
            ("\"alias/ci\"", "\"alias/other\""),
            ("profile = \"ci\"", "profile = \"cd\""),
            ("\"--now\"", "\"--later\""),
            ("timeout = \"10s\"", "timeout = \"11s\""),
            ("\"credentials\"", "\"json\""),
            ("\"rsa-2048\"", "\"rsa-3072\""),
            ("\"100d\"", "\"101d\""),
            ("O=Example", "O=Other"),
            ("\"legacy.key\"", "\"other.key\""),
        ] {
            assert_eq!(FULL.matches(from).count(), 1, "{from}");
            let changed = config(&FULL.replace(from, to)).digest();
            assert_ne!(changed, base, "{from} -> {to} must change the digest");
        }
    }
}
