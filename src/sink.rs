//! Delivery of a new secret to where applications read it. The only code that ever
//! holds a secret in plain text besides the IAM client, and only in zeroized buffers.

use crate::config::{SecretFormat, Sink};
use crate::fsutil::write_atomic;
use crate::model::{KeyId, Time};
use secrecy::{ExposeSecret, SecretString};
use std::io::{self, Write};
use std::path::PathBuf;
use zeroize::Zeroizing;

pub struct Credential<'a> {
    pub user: &'a str,
    pub key_id: &'a KeyId,
    pub secret: &'a SecretString,
    pub created: Time,
}

#[derive(Debug, thiserror::Error)]
#[error("delivery to {sink} failed: {source}")]
pub struct SinkError {
    pub sink: String,
    pub source: io::Error,
    /// Sinks written before the failure whose old content could not be put back.
    pub still_holding: Vec<String>,
}

/// Renders the credential in one format. The buffer is wiped when dropped.
pub fn render(format: SecretFormat, cred: &Credential) -> Zeroizing<String> {
    let secret = cred.secret.expose_secret();
    let id = &cred.key_id.0;
    Zeroizing::new(match format {
        SecretFormat::Json => {
            // Shaped for `credential_process` as well as for reading by hand.
            let value = serde_json::json!({
                "Version": 1,
                "AccessKeyId": id,
                "SecretAccessKey": secret,
                "UserName": cred.user,
                "CreateDate": cred.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
            let mut text = Zeroizing::new(serde_json::to_string_pretty(&value).unwrap_or_default());
            text.push('\n');
            std::mem::take(&mut *text)
        }
        SecretFormat::Credentials => {
            format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n")
        }
        SecretFormat::Env => {
            format!("AWS_ACCESS_KEY_ID={id}\nAWS_SECRET_ACCESS_KEY={secret}\n")
        }
    })
}

/// What a file held before delivery, to put back if a later sink fails.
struct Previous {
    path: PathBuf,
    bytes: Option<Zeroizing<Vec<u8>>>,
}

/// Writes the credential to every sink; all must succeed. On failure, files already
/// written get their previous content back, so no sink is left holding a key about to be
/// deleted.
///
/// `before_sink(i)` runs before sink `i` is written (the journal records delivery progress).
pub fn deliver(
    sinks: &[Sink],
    cred: &Credential,
    stdout: &mut dyn Write,
    before_sink: &mut dyn FnMut(usize) -> io::Result<()>,
) -> Result<Vec<String>, SinkError> {
    let mut written: Vec<Previous> = Vec::new();
    let mut delivered = Vec::new();
    for (i, sink) in sinks.iter().enumerate() {
        if let Err(source) = before_sink(i) {
            let still_holding = restore(written);
            return Err(SinkError {
                sink: sink.describe(),
                source,
                still_holding,
            });
        }
        let result = match sink {
            Sink::File { path, format } => {
                let before = std::fs::read(path).ok().map(Zeroizing::new);
                let text = render(*format, cred);
                write_atomic(path, text.as_bytes(), 0o600).map(|()| {
                    written.push(Previous {
                        path: path.clone(),
                        bytes: before,
                    })
                })
            }
            Sink::Stdout { format } => {
                let text = render(*format, cred);
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
            }
        };
        if let Err(source) = result {
            let still_holding = restore(written);
            return Err(SinkError {
                sink: sink.describe(),
                source,
                still_holding,
            });
        }
        delivered.push(sink.describe());
    }
    Ok(delivered)
}

/// Whether `sink` now holds `key`: `None` where it cannot be read back (stdout).
/// Used after an interruption to tell a delivered key from an undelivered one.
pub fn holds(sink: &Sink, key: &KeyId) -> Option<bool> {
    match sink {
        Sink::File { path, .. } => Some(
            std::fs::read(path)
                .map(Zeroizing::new)
                .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(&key.0)),
        ),
        Sink::Stdout { .. } => None,
    }
}

/// Puts files back as they were; returns those that could not be.
fn restore(written: Vec<Previous>) -> Vec<String> {
    let mut failed = Vec::new();
    for prev in written.into_iter().rev() {
        let ok = match &prev.bytes {
            Some(bytes) => write_atomic(&prev.path, bytes, 0o600).is_ok(),
            None => std::fs::remove_file(&prev.path).is_ok(),
        };
        if !ok {
            failed.push(format!("file {}", prev.path.display()));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn cred<'a>(id: &'a KeyId, secret: &'a SecretString) -> Credential<'a> {
        Credential {
            user: "ci",
            key_id: id,
            secret,
            created: "2026-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn formats_hold_id_and_secret() {
        let id = KeyId("AKIATEST".into());
        let secret = SecretString::from(SECRET.to_string());
        let json: serde_json::Value =
            serde_json::from_str(&render(SecretFormat::Json, &cred(&id, &secret))).unwrap();
        assert_eq!(json["SecretAccessKey"], SECRET);
        assert_eq!(json["Version"], 1);
        let ini = render(SecretFormat::Credentials, &cred(&id, &secret));
        assert!(ini.contains("aws_access_key_id = AKIATEST\n"));
        let env = render(SecretFormat::Env, &cred(&id, &secret));
        assert!(env.contains(&format!("AWS_SECRET_ACCESS_KEY={SECRET}")));
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
        let err = deliver(
            &sinks,
            &cred(&id, &secret),
            &mut Vec::new(),
            &mut |_| Ok(()),
        )
        .unwrap_err();
        assert!(err.sink.contains("not-a-dir"));
        assert!(err.still_holding.is_empty());
        assert_eq!(std::fs::read_to_string(&good).unwrap(), "old");
        assert!(!err.to_string().contains(SECRET));
    }
}
