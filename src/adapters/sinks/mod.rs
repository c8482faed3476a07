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

use crate::adapters::accounts::Accounts;
pub use crate::adapters::remote::{NoRemote, ParameterMeta, Remote};
use crate::core::config::Sink;
use crate::core::model::{KeyId, Time};
use futures::future::LocalBoxFuture;
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

/// What runs before sink `i` is written, and is waited for (the journal records delivery
/// progress durably first).
pub type BeforeSink<'a> = dyn FnMut(usize) -> LocalBoxFuture<'a, Result<(), String>> + 'a;

/// Writes the credential to every sink; all must succeed. On failure, sinks already
/// written get their previous content back where they can.
pub async fn deliver<R: Remote>(
    remotes: &Accounts<R>,
    sinks: &[Sink],
    cred: &Credential<'_>,
    stdout: &mut (dyn Write + Send),
    before_sink: &mut BeforeSink<'_>,
) -> Result<Vec<String>, SinkError> {
    let mut undo: Vec<(&Sink, Undo)> = Vec::new();
    let mut delivered = Vec::new();
    for (i, sink) in sinks.iter().enumerate() {
        let result = match before_sink(i).await {
            Ok(()) => deliver_one(remotes, sink, cred, stdout).await,
            Err(e) => Err((e, Undo::Nothing)),
        };
        match result {
            Ok(u) => {
                undo.push((sink, u));
                delivered.push(sink.describe());
            }
            Err((message, partial)) => {
                undo.push((sink, partial));
                return Err(SinkError {
                    sink: sink.describe(),
                    message: redact(&message, cred),
                    still_holding: restore(remotes, undo).await,
                });
            }
        }
    }
    Ok(delivered)
}

/// The one place `sink` writes, named so that two sinks writing it get the same name (a
/// file by its path, a secret or parameter by account and name). Every command is one
/// place: keyrot cannot see what a command writes, and one written for a single set at a
/// time (a deploy, a config push) must never run twice at once.
pub fn place(sink: &Sink) -> String {
    match sink {
        Sink::File { path, .. } => file_place(path),
        Sink::AwsProfile { file, .. } => file_place(&profile::expand_home(file)),
        Sink::Stdout { .. } => "stdout".into(),
        Sink::SecretsManager {
            account, secret_id, ..
        } => format!("secret:{}:{secret_id}", account.as_deref().unwrap_or("")),
        Sink::SsmParameter { account, name, .. } => {
            format!("parameter:{}:{name}", account.as_deref().unwrap_or(""))
        }
        Sink::Exec { .. } => place_of_commands(),
    }
}

/// The one place every command is (`exec` sinks and `exec` confirm checks alike).
pub fn place_of_commands() -> String {
    "exec".into()
}

/// A file's place: its path with links resolved (the file's own too, as writes go through
/// to a link's target), so two spellings of one file are one place.
fn file_place(path: &std::path::Path) -> String {
    let resolved = std::fs::canonicalize(path).ok().or_else(|| {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
    });
    format!("file:{}", resolved.as_deref().unwrap_or(path).display())
}

/// The Secrets Manager / SSM client of the account a sink writes in.
fn remote_of<'r, R>(remotes: &'r Accounts<R>, sink: &Sink) -> Result<&'r R, String> {
    remotes.get(sink.account()).map_err(|e| e.to_string())
}

/// Writes one sink and reads it back. On error, also says how to undo what it did.
async fn deliver_one<R: Remote>(
    remotes: &Accounts<R>,
    sink: &Sink,
    cred: &Credential<'_>,
    out: &mut (dyn Write + Send),
) -> Result<Undo, (String, Undo)> {
    let remote = || remote_of(remotes, sink).map_err(|e| (e, Undo::Nothing));
    match sink {
        Sink::File { path, format } => file::deliver(path, *format, cred).await,
        Sink::AwsProfile { file, profile } => profile::deliver(file, profile, cred).await,
        Sink::SecretsManager {
            secret_id,
            create,
            format,
            ..
        } => secrets_manager::deliver(remote()?, secret_id, *create, *format, cred).await,
        Sink::SsmParameter {
            name,
            kms_key_id,
            format,
            ..
        } => ssm::deliver(remote()?, name, kms_key_id.as_deref(), *format, cred).await,
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
async fn restore<R: Remote>(remotes: &Accounts<R>, undo: Vec<(&Sink, Undo)>) -> Vec<String> {
    let mut failed = Vec::new();
    for (sink, u) in undo.into_iter().rev() {
        let remote = match remote_of(remotes, sink) {
            Ok(remote) => remote,
            Err(_) => {
                if !matches!(u, Undo::File(..) | Undo::Nothing) {
                    failed.push(sink.describe());
                }
                continue;
            }
        };
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
            failed.push(sink.describe());
        }
    }
    failed
}

/// Whether `sink` now holds `key`: `None` where it cannot be read back (exec, stdout).
/// Used after an interruption to tell a delivered key from an undelivered one.
pub async fn holds<R: Remote>(remotes: &Accounts<R>, sink: &Sink, key: &KeyId) -> Option<bool> {
    // An account that cannot be reached cannot say: treated as "may hold".
    let remote = remote_of(remotes, sink);
    let remote = || remote.as_ref().ok().copied();
    match sink {
        Sink::File { path, .. } => Some(file::holds(path, key)),
        Sink::AwsProfile { file, profile } => Some(profile::holds(file, profile, key)),
        Sink::SecretsManager { secret_id, .. } => {
            secrets_manager::holds(remote()?, secret_id, key).await
        }
        Sink::SsmParameter { name, .. } => ssm::holds(remote()?, name, key).await,
        Sink::Exec { .. } | Sink::Stdout { .. } => None,
    }
}

/// After a rollback, what each sink of the set can do about the new key it holds.
pub async fn restore_previous<R: Remote>(
    remotes: &Accounts<R>,
    sinks: &[Sink],
    old_key: &KeyId,
) -> Vec<String> {
    let mut said = Vec::new();
    for sink in sinks {
        let line = match (sink, remote_of(remotes, sink)) {
            (Sink::SecretsManager { secret_id, .. }, Ok(remote)) => {
                secrets_manager::restore_previous(remote, secret_id, old_key).await
            }
            (Sink::SecretsManager { .. }, Err(e)) => format!(
                "{}: still holds the new key, which stays Active; {e}",
                sink.describe()
            ),
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
mod tests;
