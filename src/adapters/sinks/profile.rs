//! `deliver "aws_profile"`: one profile of a shared credentials file updated in place,
//! every other line, comment and profile kept where it was.

use super::{Credential, Undo};
use crate::core::model::KeyId;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub async fn deliver(
    file: &Path,
    profile: &str,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let path = expand_home(file);
    // Only a missing file is empty: one that cannot be read is never replaced.
    let before = super::file::read_existing(&path).map_err(|e| (e, Undo::Nothing))?;
    let old = before
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .map(Zeroizing::new);
    let text = update_profile(old.as_deref().map_or("", |s| s.as_str()), profile, cred);
    super::file::write_file(&path, text.as_bytes()).await
}

/// Whether the credentials file names `key`.
pub fn holds(file: &Path, key: &KeyId) -> bool {
    super::file::holds(&expand_home(file), key)
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
