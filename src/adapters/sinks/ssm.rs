//! `deliver "ssm_parameter"`: a SecureString parameter (optionally under a KMS key), read
//! back and compared by hash.

use super::{digest, Credential, Undo};
use crate::adapters::remote::Remote;
use crate::core::config::SecretFormat;
use crate::core::model::KeyId;

pub async fn deliver<R: Remote>(
    remote: &R,
    name: &str,
    kms_key_id: Option<&str>,
    format: SecretFormat,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let before = remote
        .parameter_get(name)
        .await
        .map_err(|e| (e, Undo::Nothing))?;
    let undo = Undo::Parameter(name.to_string(), before);
    let text = super::format::render(format, cred);
    if let Err(e) = remote.parameter_put(name, &text, kms_key_id).await {
        return Err((e, undo));
    }
    match remote.parameter_get(name).await {
        Ok(Some(back)) if digest(back.as_bytes()) == digest(text.as_bytes()) => Ok(undo),
        Ok(_) => Err(("read-back does not match what was written".into(), undo)),
        Err(e) => Err((format!("read-back failed: {e}"), undo)),
    }
}

/// Whether the parameter names `key`; `None` when it cannot be read.
pub async fn holds<R: Remote>(remote: &R, name: &str, key: &KeyId) -> Option<bool> {
    let value = remote.parameter_get(name).await.ok()?;
    Some(value.is_some_and(|v| v.contains(&key.0)))
}
