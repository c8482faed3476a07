//! Delivery of a new secret to where applications read it: one module per sink (files,
//! a shared-credentials profile, Secrets Manager, SSM, a command, stdout). All sinks must
//! take it, each read back where it can be; on a failure the sinks already written are put
//! back as they were. A new sink is one new module plus its arm in the three dispatches
//! below (deliver, holds, restore_previous).
//!
//! Besides the IAM client, the only code that holds a secret in plain text, and only in
//! zeroized buffers.

mod exec;
mod file;
mod format;
mod profile;
mod secrets_manager;
mod ssm;
mod stdout;

pub use crate::adapters::remote::{NoRemote, ParameterMeta, Remote};
use crate::core::config::Sink;
use crate::core::model::{KeyId, Time};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use zeroize::Zeroizing;

pub struct Credential<'a> {
    pub user: &'a str,
    /// The access key id, or the signing certificate id.
    pub key_id: &'a KeyId,
    pub material: Material<'a>,
    pub created: Time,
}

/// What is delivered besides the id.
pub enum Material<'a> {
    /// The secret access key.
    AccessKey { secret: &'a SecretString },
    /// The certificate (public) and its private key (secret), both PEM.
    Certificate {
        certificate_pem: &'a str,
        private_key_pem: &'a SecretString,
    },
}

impl Credential<'_> {
    /// The part that must never leak.
    fn secret(&self) -> &str {
        match &self.material {
            Material::AccessKey { secret } => secret.expose_secret(),
            Material::Certificate {
                private_key_pem, ..
            } => private_key_pem.expose_secret(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("delivery to {sink} failed: {message}{}", holding(still_holding))]
pub struct SinkError {
    pub sink: String,
    pub message: String,
    /// Sinks written before the failure that could not be put back: they hold the new key.
    pub still_holding: Vec<String>,
}

fn holding(sinks: &[String]) -> String {
    if sinks.is_empty() {
        String::new()
    } else {
        format!(
            " (could not be put back, may still hold the deleted key: {})",
            sinks.join(", ")
        )
    }
}

/// Never echo the secret, whatever a command or service said: masks it in every form a
/// command or service might echo it — whole, JSON-escaped, URL-encoded, base64 (standard
/// and URL-safe, at any alignment inside a longer encoded text) and, for a PEM key, line by
/// line. A blocklist can only cover the forms it knows: command output is also cut short.
fn redact(message: &str, cred: &Credential) -> String {
    let mut out = message.to_string();
    for form in secret_forms(cred.secret()) {
        out = out.replace(form.as_str(), "[REDACTED]");
    }
    out
}

/// The encodings of `secret` worth masking, longest first (so a longer form is masked
/// before a shorter one inside it could break it up).
fn secret_forms(secret: &str) -> Vec<Zeroizing<String>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use base64::Engine;
    let mut forms = vec![Zeroizing::new(secret.to_string())];
    let escaped = Zeroizing::new(serde_json::to_string(secret).unwrap_or_default());
    forms.push(Zeroizing::new(escaped.trim_matches('"').to_string()));
    forms.push(percent_encoded(secret, false));
    forms.push(percent_encoded(secret, true));
    for engine in [&STANDARD, &URL_SAFE] {
        // Inside a longer encoded text the secret starts at one of three byte offsets;
        // drop the characters that depend on the bytes around it.
        for offset in 0..3usize {
            let mut bytes = Zeroizing::new(vec![0u8; offset]);
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = Zeroizing::new(engine.encode(&*bytes));
            let lead = (offset * 4).div_ceil(3);
            let usable = (bytes.len() / 3) * 4;
            if usable > lead {
                forms.push(Zeroizing::new(encoded[lead..usable].to_string()));
            }
        }
    }
    forms.extend(
        secret
            .lines()
            .map(str::trim)
            .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
            .map(|l| Zeroizing::new(l.to_string())),
    );
    forms.retain(|f| f.len() >= 8);
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encoded(text: &str, lower: bool) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() * 3));
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn digest(text: &[u8]) -> Vec<u8> {
    Sha256::digest(text).to_vec()
}

/// How to put a sink back as it was before delivery.
pub(crate) enum Undo {
    File(PathBuf, Option<Zeroizing<Vec<u8>>>),
    /// A secret's previous value.
    Secret(String, Zeroizing<String>),
    /// A secret this delivery created: deleted with a recovery window, never forced.
    CreatedSecret(String),
    /// A parameter's previous value, with its KMS key, tier and description.
    Parameter(String, Zeroizing<String>, Box<ParameterMeta>),
    /// A parameter this delivery created.
    CreatedParameter(String),
    /// The sink failed before writing anything: nothing to put back.
    Nothing,
    /// Nothing can take the value back (a command ran, stdout was written).
    Impossible,
}

/// Writes the credential to every sink; all must succeed. On failure, sinks already
/// written get their previous content back where they can.
///
/// `before_sink(i)` runs before sink `i` is written (the journal records delivery progress).
pub async fn deliver<R: Remote>(
    remote: &R,
    sinks: &[Sink],
    cred: &Credential<'_>,
    stdout: &mut (dyn Write + Send),
    before_sink: &mut (dyn FnMut(usize) -> Result<(), String> + Send),
) -> Result<Vec<String>, SinkError> {
    let mut undo: Vec<(String, Undo)> = Vec::new();
    let mut delivered = Vec::new();
    for (i, sink) in sinks.iter().enumerate() {
        let result = match before_sink(i) {
            Ok(()) => deliver_one(remote, sink, cred, stdout).await,
            Err(e) => Err((e, Undo::Nothing)),
        };
        match result {
            Ok(u) => {
                undo.push((sink.describe(), u));
                delivered.push(sink.describe());
            }
            Err((message, partial)) => {
                undo.push((sink.describe(), partial));
                return Err(SinkError {
                    sink: sink.describe(),
                    message: redact(&message, cred),
                    still_holding: restore(remote, undo).await,
                });
            }
        }
    }
    Ok(delivered)
}

/// Writes one sink and reads it back. On error, also says how to undo what it did.
async fn deliver_one<R: Remote>(
    remote: &R,
    sink: &Sink,
    cred: &Credential<'_>,
    out: &mut (dyn Write + Send),
) -> Result<Undo, (String, Undo)> {
    match sink {
        Sink::File { path, format } => file::deliver(path, *format, cred).await,
        Sink::AwsProfile { file, profile } => profile::deliver(file, profile, cred).await,
        Sink::SecretsManager {
            secret_id,
            create,
            format,
        } => secrets_manager::deliver(remote, secret_id, *create, *format, cred).await,
        Sink::SsmParameter {
            name,
            kms_key_id,
            format,
        } => ssm::deliver(remote, name, kms_key_id.as_deref(), *format, cred).await,
        Sink::Exec {
            command,
            timeout,
            format,
            env,
        } => exec::deliver(command, *timeout, *format, env, cred).await,
        Sink::Stdout { format } => stdout::deliver(out, *format, cred),
    }
}

/// Puts sinks back in reverse order; returns those that could not be.
async fn restore<R: Remote>(remote: &R, undo: Vec<(String, Undo)>) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, u) in undo.into_iter().rev() {
        let ok = match &u {
            Undo::File(path, before) => file::restore(path, before.as_deref().map(|b| &b[..])),
            Undo::Secret(id, old) => remote.secret_put(id, old, false).await.is_ok(),
            Undo::CreatedSecret(id) => remote.secret_delete(id).await.is_ok(),
            Undo::Parameter(name, old, meta) => {
                remote.parameter_restore(name, old, meta).await.is_ok()
            }
            Undo::CreatedParameter(name) => remote.parameter_delete(name).await.is_ok(),
            Undo::Nothing => true,
            Undo::Impossible => false,
        };
        if !ok {
            failed.push(name);
        }
    }
    failed
}

/// Whether `sink` now holds `key`: `None` where it cannot be read back (exec, stdout).
/// Used after an interruption to tell a delivered key from an undelivered one.
pub async fn holds<R: Remote>(remote: &R, sink: &Sink, key: &KeyId) -> Option<bool> {
    match sink {
        Sink::File { path, .. } => Some(file::holds(path, key)),
        Sink::AwsProfile { file, profile } => Some(profile::holds(file, profile, key)),
        Sink::SecretsManager { secret_id, .. } => {
            secrets_manager::holds(remote, secret_id, key).await
        }
        Sink::SsmParameter { name, .. } => ssm::holds(remote, name, key).await,
        Sink::Exec { .. } | Sink::Stdout { .. } => None,
    }
}

/// After a rollback, what each sink of the set can do about the new key it holds.
pub async fn restore_previous<R: Remote>(
    remote: &R,
    sinks: &[Sink],
    old_key: &KeyId,
) -> Vec<String> {
    let mut said = Vec::new();
    for sink in sinks {
        let line = match sink {
            Sink::SecretsManager { secret_id, .. } => {
                secrets_manager::restore_previous(remote, secret_id, old_key).await
            }
            _ => format!(
                "{}: still holds the new key, which stays Active; restore the previous key there by hand if consumers need it",
                sink.describe()
            ),
        };
        said.push(line);
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::SecretFormat;
    use std::future::Future;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn cred<'a>(id: &'a KeyId, secret: &'a SecretString) -> Credential<'a> {
        Credential {
            user: "ci",
            key_id: id,
            material: Material::AccessKey { secret },
            created: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn formats_hold_id_and_secret() {
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let json: serde_json::Value =
            serde_json::from_str(&format::render(SecretFormat::Json, &cred(&id, &secret))).unwrap();
        assert_eq!(json["SecretAccessKey"], SECRET);
        assert_eq!(json["Version"], 1);
        assert_eq!(json["AccessKeyId"], "AKIATEST");
        let ini = format::render(SecretFormat::Credentials, &cred(&id, &secret));
        assert!(ini.contains("aws_access_key_id = AKIATEST\n"));
        let env = format::render(SecretFormat::Env, &cred(&id, &secret));
        assert!(env.contains(&format!("AWS_SECRET_ACCESS_KEY={SECRET}")));
    }

    #[test]
    fn profile_update_keeps_everything_else() {
        let id = KeyId("AKIANEW".into());
        let secret = SecretString::from(SECRET.to_string());
        let before = "# team creds\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n\n[ci]\n# rotated by keyrot\nregion = eu-west-1\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\naws_session_token = stale\n\n[other]\naws_access_key_id = AKIAOTH\n";
        let after = profile::update_profile(before, "ci", &cred(&id, &secret));
        let expected = format!("# team creds\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n\n[ci]\naws_access_key_id = AKIANEW\naws_secret_access_key = {SECRET}\n# rotated by keyrot\nregion = eu-west-1\n\n[other]\naws_access_key_id = AKIAOTH\n");
        assert_eq!(*after, expected);
        let appended = profile::update_profile("[default]\nx = 1\n", "ci", &cred(&id, &secret));
        assert!(
            appended.ends_with(&format!(
                "\n\n[ci]\naws_access_key_id = AKIANEW\naws_secret_access_key = {SECRET}\n"
            )),
            "{}",
            *appended
        );
    }

    #[test]
    fn failed_sink_puts_earlier_files_back() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, "old").unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "x").unwrap();
        let sinks = vec![
            Sink::File {
                path: good.clone(),
                format: SecretFormat::Json,
            },
            Sink::File {
                path: blocker.join("f.json"),
                format: SecretFormat::Json,
            },
        ];
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let c = cred(&id, &secret);
        let err = block_on(deliver(&NoRemote, &sinks, &c, &mut Vec::new(), &mut |_| {
            Ok(())
        }))
        .unwrap_err();
        assert!(err.sink.contains("not-a-dir"));
        assert!(err.still_holding.is_empty());
        assert_eq!(std::fs::read_to_string(&good).unwrap(), "old");
        assert!(!err.to_string().contains(SECRET));
    }

    #[test]
    fn a_private_key_echoed_as_json_is_masked() {
        let key = SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij\n-----END PRIVATE KEY-----\n".to_string(),
        );
        let id = KeyId("CERTID".into());
        let c = Credential {
            user: "ci",
            key_id: &id,
            material: Material::Certificate {
                certificate_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                private_key_pem: &key,
            },
            created: "2026-01-01T00:00:00Z".parse().unwrap(),
        };
        let sink = Sink::Exec {
            command: vec!["sh".into(), "-c".into(), "cat >&2; exit 1".into()],
            timeout: crate::core::duration::Window::from_secs(10),
            format: SecretFormat::Json,
            env: Default::default(),
        };
        let err = block_on(deliver(
            &NoRemote,
            &[sink],
            &c,
            &mut Vec::new(),
            &mut |_| Ok(()),
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(
            !text.contains("MIGHAgEAMBMG") && !text.contains("AbCdEfGhIjKl"),
            "{text}"
        );
        assert!(text.contains("[REDACTED]"), "{text}");
    }

    #[test]
    fn exec_gets_json_on_stdin_and_failures_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got.json");
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let c = cred(&id, &secret);
        let ok = Sink::Exec {
            command: vec!["sh".into(), "-c".into(), format!("cat > {}", out.display())],
            timeout: crate::core::duration::Window::from_secs(10),
            format: SecretFormat::Json,
            env: Default::default(),
        };
        block_on(deliver(&NoRemote, &[ok], &c, &mut Vec::new(), &mut |_| {
            Ok(())
        }))
        .unwrap();
        let got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(got["SecretAccessKey"], SECRET);
        let loud = Sink::Exec {
            command: vec!["sh".into(), "-c".into(), "cat >&2; exit 3".into()],
            timeout: crate::core::duration::Window::from_secs(10),
            format: SecretFormat::Json,
            env: Default::default(),
        };
        let err = block_on(deliver(
            &NoRemote,
            &[loud],
            &c,
            &mut Vec::new(),
            &mut |_| Ok(()),
        ))
        .unwrap_err();
        assert!(err.message.contains("exit status: 3"), "{err}");
        assert!(
            err.message.contains("[REDACTED]") && !err.to_string().contains(SECRET),
            "{err}"
        );
        assert_eq!(err.still_holding, vec!["exec sh".to_string()]);
        let slow = Sink::Exec {
            command: vec!["sleep".into(), "5".into()],
            timeout: crate::core::duration::Window::from_secs(1),
            format: SecretFormat::Json,
            env: Default::default(),
        };
        let err = block_on(deliver(
            &NoRemote,
            &[slow],
            &c,
            &mut Vec::new(),
            &mut |_| Ok(()),
        ))
        .unwrap_err();
        assert!(err.message.contains("did not finish within 1s"), "{err}");
    }

    #[test]
    fn an_unreadable_credentials_file_fails_its_sink_and_is_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        // Not a readable file (root reads through permissions, so a directory stands in
        // for EACCES/EIO): never treated as an empty file to be replaced.
        let creds = dir.path().join("credentials");
        std::fs::create_dir(&creds).unwrap();
        std::fs::write(creds.join("keep"), "x").unwrap();
        let sinks = vec![Sink::AwsProfile {
            file: creds.clone(),
            profile: "ci".into(),
        }];
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let c = cred(&id, &secret);
        let err = block_on(deliver(&NoRemote, &sinks, &c, &mut Vec::new(), &mut |_| {
            Ok(())
        }))
        .unwrap_err();
        assert!(err.message.contains("cannot read"), "{err}");
        assert!(creds.join("keep").exists(), "left as it was");
    }

    #[test]
    fn exec_gets_a_clean_environment_plus_what_the_block_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env.txt");
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let c = cred(&id, &secret);
        let sink = Sink::Exec {
            command: vec!["sh".into(), "-c".into(), format!("env > {}", out.display())],
            timeout: crate::core::duration::Window::from_secs(10),
            format: SecretFormat::Json,
            env: crate::core::config::ExecEnv {
                set: [("RELOAD_TARGET".to_string(), "web".to_string())].into(),
                // Cargo sets it for every test process.
                pass: vec!["CARGO_PKG_NAME".into()],
            },
        };
        block_on(deliver(
            &NoRemote,
            &[sink],
            &c,
            &mut Vec::new(),
            &mut |_| Ok(()),
        ))
        .unwrap();
        let env = std::fs::read_to_string(&out).unwrap();
        let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
        assert!(env.contains("RELOAD_TARGET=web\n"), "{env}");
        assert!(env.contains("CARGO_PKG_NAME=keyrot\n"), "{env}");
        assert!(names.contains(&"PATH"), "{env}");
        // Nothing else of keyrot's: cargo's own variables, AWS settings, keyrot's.
        let leaked: Vec<_> = names
            .iter()
            .filter(|n| {
                (n.starts_with("CARGO") && **n != "CARGO_PKG_NAME")
                    || n.starts_with("AWS_")
                    || n.starts_with("KEYROT_")
                    || n.starts_with("RUST")
            })
            .collect();
        assert!(leaked.is_empty(), "{leaked:?}");
    }

    #[test]
    fn the_secret_is_masked_in_its_encoded_forms() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        use base64::Engine;
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let c = cred(&id, &secret);
        let url = percent_encoded(SECRET, false);
        let json = serde_json::json!({"SecretAccessKey": SECRET}).to_string();
        let mut echoed = vec![url.to_string(), percent_encoded(SECRET, true).to_string()];
        for engine in [&STANDARD, &URL_SAFE] {
            for prefix in ["", "x", "xy", "{\"a\":1,"] {
                echoed.push(engine.encode(format!("{prefix}{json}")));
            }
        }
        for text in &echoed {
            let shown = redact(&format!("hook said: {text}"), &c);
            assert!(shown.contains("[REDACTED]"), "not masked: {shown}");
            // Nothing of the secret's encodings survives the masking.
            for form in secret_forms(SECRET) {
                assert!(!shown.contains(form.as_str()), "{shown}");
            }
        }
    }

    /// Remembers SSM parameters with their settings and every put and restore.
    #[derive(Default)]
    struct SsmRecorder {
        params: std::sync::Mutex<std::collections::BTreeMap<String, (String, ParameterMeta)>>,
        puts: std::sync::Mutex<Vec<Option<String>>>,
        restores: std::sync::Mutex<Vec<ParameterMeta>>,
    }

    impl Remote for SsmRecorder {
        async fn secret_get(&self, _: &str, _: bool) -> Result<Option<Zeroizing<String>>, String> {
            Ok(None)
        }
        async fn secret_put(&self, _: &str, _: &str, _: bool) -> Result<(), String> {
            Err("unused".into())
        }
        async fn secret_delete(&self, _: &str) -> Result<(), String> {
            Err("unused".into())
        }
        async fn parameter_get(&self, name: &str) -> Result<Option<Zeroizing<String>>, String> {
            let params = self.params.lock().unwrap();
            Ok(params.get(name).map(|(v, _)| Zeroizing::new(v.clone())))
        }
        async fn parameter_meta(&self, name: &str) -> Result<Option<ParameterMeta>, String> {
            Ok(self
                .params
                .lock()
                .unwrap()
                .get(name)
                .map(|(_, m)| m.clone()))
        }
        async fn parameter_put(
            &self,
            name: &str,
            value: &str,
            key: Option<&str>,
        ) -> Result<(), String> {
            self.puts.lock().unwrap().push(key.map(str::to_string));
            let mut params = self.params.lock().unwrap();
            let meta = ParameterMeta {
                key_id: key.map(str::to_string),
                ..Default::default()
            };
            params.insert(name.to_string(), (value.to_string(), meta));
            Ok(())
        }
        async fn parameter_restore(
            &self,
            name: &str,
            value: &str,
            meta: &ParameterMeta,
        ) -> Result<(), String> {
            self.restores.lock().unwrap().push(meta.clone());
            let mut params = self.params.lock().unwrap();
            params.insert(name.to_string(), (value.to_string(), meta.clone()));
            Ok(())
        }
        async fn parameter_delete(&self, _: &str) -> Result<(), String> {
            Err("unused".into())
        }
        async fn caller_arn(&self, _: &str, _: &SecretString) -> Result<String, String> {
            Err("unused".into())
        }
    }

    #[test]
    fn an_ssm_parameter_keeps_its_kms_key_tier_and_description_through_delivery_and_restore() {
        let protected = ParameterMeta {
            key_id: Some("alias/team-cmk".into()),
            tier: Some("Advanced".into()),
            description: Some("read by the deploy role only".into()),
        };
        let remote = SsmRecorder::default();
        remote
            .params
            .lock()
            .unwrap()
            .insert("/ci/key".into(), ("the old key".into(), protected.clone()));
        let sinks = vec![
            Sink::SsmParameter {
                name: "/ci/key".into(),
                kms_key_id: None,
                format: SecretFormat::Json,
            },
            Sink::Exec {
                command: vec!["sh".into(), "-c".into(), "exit 1".into()],
                timeout: crate::core::duration::Window::from_secs(10),
                format: SecretFormat::Json,
                env: Default::default(),
            },
        ];
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let c = cred(&id, &secret);
        let err = block_on(deliver(&remote, &sinks, &c, &mut Vec::new(), &mut |_| {
            Ok(())
        }))
        .unwrap_err();
        assert!(err.sink.starts_with("exec"), "{err}");
        // The new key went in under the parameter's own key, not alias/aws/ssm…
        assert_eq!(
            *remote.puts.lock().unwrap(),
            vec![Some("alias/team-cmk".to_string())]
        );
        // …and the old value came back with every setting it had.
        assert_eq!(*remote.restores.lock().unwrap(), vec![protected.clone()]);
        let params = remote.params.lock().unwrap();
        assert_eq!(params["/ci/key"], ("the old key".to_string(), protected));
    }
}
