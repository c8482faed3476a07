//! `deliver "ssm_parameter"`: a SecureString parameter (optionally under a KMS key), read
//! back and compared by hash.

use super::{digest, Credential, Undo};
use crate::adapters::remote::{ParameterMeta, Remote};
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
    let meta = match before {
        Some(_) => remote
            .parameter_meta(name)
            .await
            .map_err(|e| (e, Undo::Nothing))?
            .unwrap_or_default(),
        None => ParameterMeta::default(),
    };
    // An overwrite without a KeyId re-encrypts under `alias/aws/ssm`: keep the parameter's
    // own key unless the block names one.
    let key_id = kms_key_id.or(meta.key_id.as_deref());
    let undo = match before {
        Some(old) => Undo::Parameter(name.to_string(), old, Box::new(meta.clone())),
        None => Undo::CreatedParameter(name.to_string()),
    };
    let text = super::format::render(format, cred);
    if let Err(e) = remote.parameter_put(name, &text, key_id).await {
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
