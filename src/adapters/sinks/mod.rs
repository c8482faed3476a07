//! Delivery of a new secret to where applications read it: files, a shared-credentials
//! profile, Secrets Manager, SSM, a command, stdout. All sinks must take it, each read back
//! where it can be; on a failure the sinks already written are put back as they were.
//!
//! Besides the IAM client, the only code that holds a secret in plain text, and only in
//! zeroized buffers.

use crate::adapters::fsutil::write_atomic;
pub use crate::adapters::remote::{NoRemote, Remote};
use crate::core::config::{SecretFormat, Sink};
use crate::core::model::{KeyId, Time};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
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

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCertificate<'a> {
    certificate_id: &'a str,
    certificate_body: &'a str,
    private_key: &'a str,
    user_name: &'a str,
    upload_date: String,
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

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredential<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    user_name: &'a str,
    create_date: String,
}

/// Renders the credential in one format. The buffer is wiped when dropped.
pub fn render(format: SecretFormat, cred: &Credential) -> Zeroizing<String> {
    let id = &cred.key_id.0;
    let created = cred
        .created
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let json = |value: &dyn erased::Json| {
        let mut text = value.to_pretty();
        text.push('\n');
        text
    };
    Zeroizing::new(match (&cred.material, format) {
        (Material::AccessKey { secret }, SecretFormat::Credentials) => format!(
            "[default]\naws_access_key_id = {id}\naws_secret_access_key = {}\n",
            secret.expose_secret()
        ),
        (Material::AccessKey { secret }, SecretFormat::Env) => format!(
            "AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={}\n",
            secret.expose_secret()
        ),
        // Shaped for `credential_process` as well as for reading by hand.
        (Material::AccessKey { secret }, _) => json(&JsonCredential {
            version: 1,
            access_key_id: id,
            secret_access_key: secret.expose_secret(),
            user_name: cred.user,
            create_date: created,
        }),
        (
            Material::Certificate {
                certificate_pem,
                private_key_pem,
            },
            SecretFormat::Json,
        ) => json(&JsonCertificate {
            certificate_id: id,
            certificate_body: certificate_pem,
            private_key: private_key_pem.expose_secret(),
            user_name: cred.user,
            upload_date: created,
        }),
        // PEM allows text outside its blocks: the id line lets recovery recognise it.
        (
            Material::Certificate {
                certificate_pem,
                private_key_pem,
            },
            _,
        ) => format!(
            "keyrot signing certificate {id} of user {}\n{}\n{}",
            cred.user,
            certificate_pem.trim_end(),
            private_key_pem.expose_secret()
        ),
    })
}

/// Serializes either JSON shape without a second, unzeroized copy of the secret.
mod erased {
    pub trait Json {
        fn to_pretty(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_pretty(&self) -> String {
            serde_json::to_string_pretty(self).unwrap_or_default()
        }
    }
}

/// Sets one profile's key lines in a shared credentials file, keeping every other line,
/// comment and profile where it was. A missing profile is appended.
pub fn update_profile(text: &str, profile: &str, cred: &Credential) -> Zeroizing<String> {
    let header = format!("[{profile}]");
    let lines = [
        Zeroizing::new(format!("aws_access_key_id = {}", cred.key_id.0)),
        Zeroizing::new(format!("aws_secret_access_key = {}", cred.secret())),
    ];
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 128));
    let mut in_profile = false;
    let mut found = false;
    let key_of = |line: &str| {
        line.split('=')
            .next()
            .map(|k| k.trim().to_ascii_lowercase())
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_profile = trimmed == header;
            out.push_str(line);
            out.push('\n');
            if in_profile {
                found = true;
                for l in &lines {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            continue;
        }
        let replaced = in_profile
            && matches!(
                key_of(trimmed).as_deref(),
                Some("aws_access_key_id" | "aws_secret_access_key" | "aws_session_token")
            );
        if !replaced {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !found {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(&header);
        out.push('\n');
        for l in &lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// `~/` is the user's home, as in the AWS CLI's own paths.
fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

fn digest(text: &[u8]) -> Vec<u8> {
    Sha256::digest(text).to_vec()
}

/// How to put a sink back as it was before delivery.
enum Undo {
    File(PathBuf, Option<Zeroizing<Vec<u8>>>),
    Secret(String, Option<Zeroizing<String>>),
    Parameter(String, Option<Zeroizing<String>>),
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
            Err(e) => Err((e, Undo::Impossible)),
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

/// Never echo the secret, whatever a command or service said.
/// Masks the secret in every form a command or service might echo it: whole, JSON-escaped,
/// and (for a PEM key) line by line.
fn redact(message: &str, cred: &Credential) -> String {
    let secret = cred.secret();
    let mut out = message.replace(secret, "[REDACTED]");
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped.trim_matches('"');
    if !escaped.is_empty() {
        out = out.replace(escaped, "[REDACTED]");
    }
    for line in secret
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
    {
        out = out.replace(line, "[REDACTED]");
    }
    out
}

/// Writes one sink and reads it back. On error, also says how to undo what it did.
async fn deliver_one<R: Remote>(
    remote: &R,
    sink: &Sink,
    cred: &Credential<'_>,
    stdout: &mut (dyn Write + Send),
) -> Result<Undo, (String, Undo)> {
    match sink {
        Sink::File { path, format } => {
            let text = render(*format, cred);
            write_file(path, text.as_bytes()).await
        }
        Sink::AwsProfile { file, profile } => {
            let path = expand_home(file);
            let before = std::fs::read(&path).ok().map(Zeroizing::new);
            let old = before
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .map(Zeroizing::new);
            let text = update_profile(old.as_deref().map_or("", |s| s.as_str()), profile, cred);
            write_file(&path, text.as_bytes()).await
        }
        Sink::SecretsManager {
            secret_id,
            create,
            format,
        } => {
            let before = remote
                .secret_get(secret_id, false)
                .await
                .map_err(|e| (e, Undo::Impossible))?;
            if before.is_none() && !create {
                return Err((
                    format!("secret {secret_id} does not exist; add `create = true` to create it"),
                    Undo::Impossible,
                ));
            }
            let undo = Undo::Secret(secret_id.clone(), before);
            let text = render(*format, cred);
            if let Err(e) = remote.secret_put(secret_id, &text, *create).await {
                return Err((e, undo));
            }
            match remote.secret_get(secret_id, false).await {
                Ok(Some(back)) if digest(back.as_bytes()) == digest(text.as_bytes()) => Ok(undo),
                Ok(_) => Err(("read-back does not match what was written".into(), undo)),
                Err(e) => Err((format!("read-back failed: {e}"), undo)),
            }
        }
        Sink::SsmParameter {
            name,
            kms_key_id,
            format,
        } => {
            let before = remote
                .parameter_get(name)
                .await
                .map_err(|e| (e, Undo::Impossible))?;
            let undo = Undo::Parameter(name.clone(), before);
            let text = render(*format, cred);
            if let Err(e) = remote
                .parameter_put(name, &text, kms_key_id.as_deref())
                .await
            {
                return Err((e, undo));
            }
            match remote.parameter_get(name).await {
                Ok(Some(back)) if digest(back.as_bytes()) == digest(text.as_bytes()) => Ok(undo),
                Ok(_) => Err(("read-back does not match what was written".into(), undo)),
                Err(e) => Err((format!("read-back failed: {e}"), undo)),
            }
        }
        Sink::Exec {
            command,
            timeout,
            format,
        } => {
            let text = render(*format, cred);
            run_exec(
                cred,
                command,
                std::time::Duration::from_secs(timeout.as_secs()),
                &text,
            )
            .await
            .map(|()| Undo::Impossible)
            .map_err(|e| (e, Undo::Impossible))
        }
        Sink::Stdout { format } => {
            let text = render(*format, cred);
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map(|()| Undo::Impossible)
                .map_err(|e| (e.to_string(), Undo::Impossible))
        }
    }
}

/// Atomic 0600 write, then read back and compared by hash.
async fn write_file(path: &Path, bytes: &[u8]) -> Result<Undo, (String, Undo)> {
    let before = std::fs::read(path).ok().map(Zeroizing::new);
    let undo = Undo::File(path.to_path_buf(), before);
    if let Err(e) = write_atomic(path, bytes, 0o600) {
        return Err((e.to_string(), undo));
    }
    match std::fs::read(path).map(Zeroizing::new) {
        Ok(back) if digest(&back) == digest(bytes) => Ok(undo),
        Ok(_) => Err(("read-back does not match what was written".into(), undo)),
        Err(e) => Err((format!("read-back failed: {e}"), undo)),
    }
}

/// Runs the command with the credential on stdin; a non-zero exit or the timeout fails.
async fn run_exec(
    cred: &Credential<'_>,
    command: &[String],
    timeout: std::time::Duration,
    input: &str,
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let (program, args) = command.split_first().ok_or("empty command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that exits without reading gives a broken pipe: its exit status says more.
        let _ = stdin.write_all(input.as_bytes()).await;
    }
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.map_err(|e| format!("`{program}` failed: {e}"))?,
        Err(_) => {
            return Err(format!(
                "`{program}` did not finish within {}s",
                timeout.as_secs()
            ))
        }
    };
    if output.status.success() {
        return Ok(());
    }
    // Masked before it is cut, so no part of a secret survives at the cut.
    let stderr = redact(&String::from_utf8_lossy(&output.stderr), cred);
    let tail: String = stderr
        .chars()
        .rev()
        .take(2000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!(
        "`{program}` exited with {}: {}",
        output.status,
        tail.trim()
    ))
}

/// Puts sinks back in reverse order; returns those that could not be.
async fn restore<R: Remote>(remote: &R, undo: Vec<(String, Undo)>) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, u) in undo.into_iter().rev() {
        let ok = match &u {
            Undo::File(path, Some(bytes)) => write_atomic(path, bytes, 0o600).is_ok(),
            Undo::File(path, None) => std::fs::remove_file(path).is_ok() || !path.exists(),
            Undo::Secret(id, Some(old)) => remote.secret_put(id, old, false).await.is_ok(),
            Undo::Secret(id, None) => remote.secret_delete(id).await.is_ok(),
            Undo::Parameter(name, Some(old)) => remote.parameter_put(name, old, None).await.is_ok(),
            Undo::Parameter(name, None) => remote.parameter_delete(name).await.is_ok(),
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
    let text = match sink {
        Sink::File { path, .. } => std::fs::read(path).ok().map(Zeroizing::new),
        Sink::AwsProfile { file, .. } => std::fs::read(expand_home(file)).ok().map(Zeroizing::new),
        Sink::SecretsManager { secret_id, .. } => remote
            .secret_get(secret_id, false)
            .await
            .ok()?
            .map(|s| Zeroizing::new(s.as_bytes().to_vec())),
        Sink::SsmParameter { name, .. } => remote
            .parameter_get(name)
            .await
            .ok()?
            .map(|s| Zeroizing::new(s.as_bytes().to_vec())),
        Sink::Exec { .. } | Sink::Stdout { .. } => return None,
    };
    Some(text.is_some_and(|t| String::from_utf8_lossy(&t).contains(&key.0)))
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
            Sink::SecretsManager { secret_id, .. } => match remote.secret_get(secret_id, true).await {
                Ok(Some(prev)) if prev.contains(&old_key.0) => {
                    match remote.secret_put(secret_id, &prev, false).await {
                        Ok(()) => format!("{}: restored the previous key (from AWSPREVIOUS)", sink.describe()),
                        Err(e) => format!("{}: could not restore AWSPREVIOUS ({e}): restore it by hand", sink.describe()),
                    }
                }
                _ => format!("{}: AWSPREVIOUS does not hold the previous key: restore it by hand", sink.describe()),
            },
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
            serde_json::from_str(&render(SecretFormat::Json, &cred(&id, &secret))).unwrap();
        assert_eq!(json["SecretAccessKey"], SECRET);
        assert_eq!(json["Version"], 1);
        assert_eq!(json["AccessKeyId"], "AKIATEST");
        let ini = render(SecretFormat::Credentials, &cred(&id, &secret));
        assert!(ini.contains("aws_access_key_id = AKIATEST\n"));
        let env = render(SecretFormat::Env, &cred(&id, &secret));
        assert!(env.contains(&format!("AWS_SECRET_ACCESS_KEY={SECRET}")));
    }

    #[test]
    fn profile_update_keeps_everything_else() {
        let id = KeyId("AKIANEW".into());
        let secret = SecretString::from(SECRET.to_string());
        let before = "# team creds\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n\n[ci]\n# rotated by keyrot\nregion = eu-west-1\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\naws_session_token = stale\n\n[other]\naws_access_key_id = AKIAOTH\n";
        let after = update_profile(before, "ci", &cred(&id, &secret));
        let expected = format!("# team creds\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = d\n\n[ci]\naws_access_key_id = AKIANEW\naws_secret_access_key = {SECRET}\n# rotated by keyrot\nregion = eu-west-1\n\n[other]\naws_access_key_id = AKIAOTH\n");
        assert_eq!(*after, expected);
        let appended = update_profile("[default]\nx = 1\n", "ci", &cred(&id, &secret));
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
}
