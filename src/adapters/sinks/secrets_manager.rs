//! `deliver "secrets_manager"`: a new secret version that becomes AWSCURRENT (the old one
//! stays as AWSPREVIOUS), read back and compared by hash.

use super::{digest, Credential, Undo};
use crate::adapters::remote::Remote;
use crate::core::config::SecretFormat;
use crate::core::model::KeyId;

pub async fn deliver<R: Remote>(
    remote: &R,
    secret_id: &str,
    create: bool,
    format: SecretFormat,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let before = remote
        .secret_get(secret_id, false)
        .await
        .map_err(|e| (e, Undo::Nothing))?;
    // No value is not no secret: one made empty (by Terraform, say) is filled, never
    // deleted if a later sink fails.
    let exists = match &before {
        Some(_) => true,
        None => remote
            .secret_exists(secret_id)
            .await
            .map_err(|e| (e, Undo::Nothing))?,
    };
    if !exists && !create {
        return Err((
            format!("secret {secret_id} does not exist; add `create = true` to create it"),
            Undo::Nothing,
        ));
    }
    let undo = match before {
        Some(old) => Undo::Secret(secret_id.to_string(), old),
        None if !exists => Undo::CreatedSecret(secret_id.to_string()),
        // An empty secret cannot be emptied again: it holds the new key until refilled.
        None => Undo::Impossible,
    };
    let text = super::format::render(format, cred);
    if let Err(e) = remote.secret_put(secret_id, &text, create).await {
        return Err((e, undo));
    }
    match remote.secret_get(secret_id, false).await {
        Ok(Some(back)) if digest(back.as_bytes()) == digest(text.as_bytes()) => Ok(undo),
        Ok(_) => Err(("read-back does not match what was written".into(), undo)),
        Err(e) => Err((format!("read-back failed: {e}"), undo)),
    }
}

/// Whether AWSCURRENT names `key`; `None` when the secret cannot be read.
pub async fn holds<R: Remote>(remote: &R, secret_id: &str, key: &KeyId) -> Option<bool> {
    let current = remote.secret_get(secret_id, false).await.ok()?;
    Some(current.is_some_and(|s| s.contains(&key.0)))
}

/// After a rollback: make AWSPREVIOUS, which holds the old key, current again. Run again
/// (recovery after an interrupted revert), it finds the old key current and does nothing.
pub async fn restore_previous<R: Remote>(remote: &R, secret_id: &str, old_key: &KeyId) -> String {
    let sink = format!("secrets_manager {secret_id}");
    if holds(remote, secret_id, old_key).await == Some(true) {
        return format!("{sink}: holds the previous key");
    }
    match remote.secret_get(secret_id, true).await {
        Ok(Some(prev)) if prev.contains(&old_key.0) => {
            match remote.secret_put(secret_id, &prev, false).await {
                Ok(()) => format!("{sink}: restored the previous key (from AWSPREVIOUS)"),
                Err(e) => {
                    format!("{sink}: could not restore AWSPREVIOUS ({e}): restore it by hand")
                }
            }
        }
        _ => format!("{sink}: AWSPREVIOUS does not hold the previous key: restore it by hand"),
    }
}
