//! `deliver "file"`: an atomic 0600 file, read back and compared by hash.

use super::{digest, Credential, Undo};
use crate::adapters::fsutil::write_atomic;
use crate::core::config::SecretFormat;
use crate::core::model::KeyId;
use std::path::Path;
use zeroize::Zeroizing;

pub async fn deliver(
    path: &Path,
    format: SecretFormat,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let text = super::format::render(format, cred);
    write_file(path, text.as_bytes()).await
}

/// Atomic 0600 write, then read back and compared by hash.
pub async fn write_file(path: &Path, bytes: &[u8]) -> Result<Undo, (String, Undo)> {
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

/// Whether the file at `path` names `key`.
pub fn holds(path: &Path, key: &KeyId) -> bool {
    std::fs::read(path)
        .ok()
        .map(Zeroizing::new)
        .is_some_and(|t| String::from_utf8_lossy(&t).contains(&key.0))
}

/// Puts the file back as it was: its old bytes, or no file.
pub fn restore(path: &Path, before: Option<&[u8]>) -> bool {
    match before {
        Some(bytes) => write_atomic(path, bytes, 0o600).is_ok(),
        None => std::fs::remove_file(path).is_ok() || !path.exists(),
    }
}
