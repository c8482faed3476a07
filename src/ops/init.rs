//! `init`: a commented starter config that keyrot itself accepts, never overwriting one.

use crate::core::config::{self, Source};
use crate::ops::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes the starter config for `user` at `path`.
pub fn init(path: &Path, user: &str) -> Result<()> {
    let text = STARTER.replace("USER", user);
    // Only write what keyrot itself accepts.
    let source = Source {
        name: path.display().to_string(),
        text: text.clone(),
    };
    config::parse(&[source]).map_err(Error::Config)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            Error::Invalid(format!(
                "cannot create {}: {e}\n  hint: keyrot init never overwrites a config; edit the existing one",
                path.display()
            ))
        })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", path.display())))
}

/// `keyrot init`'s config; `USER` is replaced by the user name.
const STARTER: &str = r#"# keyrot configuration: which IAM credentials keyrot rotates, and how often.
# `keyrot plan` shows what is due; `keyrot apply` does it, one safe step per run.
# More examples: examples/ in keyrot's source tree.

# aws {
#   region       = "us-east-1"
#   profile      = "ops"          # the credentials keyrot signs its IAM calls with
#   endpoint_url = "http://127.0.0.1:5000"
# }

defaults {
  max_age      = "90d" # rotate when the current key is older than this
  overlap      = "7d"  # both keys stay Active at least this long
  unused_for   = "3d"  # the old key must show no use this long before it is deactivated
  inactive_for = "7d"  # the old key stays Inactive this long before it is deleted
}

user "USER" {
  access_key {
    # The old key is switched off only once IAM shows the new key used since delivery.
    require_new_key_use = true

    # Written atomically; a new file is mode 0600. Formats: json | credentials | env.
    deliver "file" {
      path   = "secrets/USER.json"
      format = "json"
    }

    # Checks run after the deactivation and on every apply until the delete; if one
    # fails, keyrot reactivates the old key and holds the rotation ("hold": holds only).
    # confirm "exec" {
    #   command = ["./scripts/smoke-test"]   # no shell; a non-zero exit fails
    #   timeout = "2m"
    # }
    # confirm "http" {
    #   url    = "https://app.internal/health"
    #   status = 200
    # }
    # on_confirm_failure = "rollback"
  }
}
"#;
