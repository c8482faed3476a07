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

/// Whether the managed `profile` of the credentials file uses `key` (another profile
/// holding the same id is not this sink's consumer).
pub fn holds(file: &Path, profile: &str, key: &KeyId) -> bool {
    let Ok(Some(bytes)) = super::file::read_existing(&expand_home(file)) else {
        return false;
    };
    let text = String::from_utf8_lossy(&bytes);
    profile_key_id(&text, profile).is_some_and(|id| id == key.0)
}

/// The `aws_access_key_id` of one profile in a shared credentials file.
fn profile_key_id<'t>(text: &'t str, profile: &str) -> Option<&'t str> {
    let header = format!("[{profile}]");
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if inside && name.trim().eq_ignore_ascii_case("aws_access_key_id") {
            return Some(value.trim());
        }
    }
    None
}

/// Sets one profile's key lines in a shared credentials file, keeping every other line,
/// comment and profile where it was. A missing profile is appended.
pub fn update_profile(text: &str, profile: &str, cred: &Credential) -> Zeroizing<String> {
    let header = format!("[{profile}]");
    let lines = [
        super::format::exact(&["aws_access_key_id = ", &cred.key_id.0]),
        super::format::exact(&["aws_secret_access_key = ", cred.secret()]),
    ];
    // One allocation that fits the result (every line gets its newline, the profile may be
    // appended): growing would leave the secret in freed buffers.
    let added: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 3 + header.len() + added));
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
pub(super) fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_managed_profile_counts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        let text = "[ci]\naws_access_key_id = AKIANEW\n\n[backup]\naws_access_key_id = AKIAOLD\n";
        std::fs::write(&file, text).unwrap();
        assert!(holds(&file, "ci", &KeyId("AKIANEW".into())));
        assert!(
            !holds(&file, "ci", &KeyId("AKIAOLD".into())),
            "another profile holding the old key is not the managed consumer"
        );
        assert!(!holds(&file, "missing", &KeyId("AKIANEW".into())));
    }
}
