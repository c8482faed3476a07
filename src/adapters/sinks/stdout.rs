//! `deliver "stdout"`: the credential printed for the user, who chose it; cannot be undone.

use super::{Credential, Undo};
use crate::core::config::SecretFormat;
use std::io::Write;

pub fn deliver(
    stdout: &mut (dyn Write + Send),
    format: SecretFormat,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let text = super::format::render(format, cred);
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map(|()| Undo::Impossible)
        .map_err(|e| (e.to_string(), Undo::Impossible))
}
