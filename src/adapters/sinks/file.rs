//! `deliver "file"`: written through to the file consumers read — symlinks followed (a
//! `~/.aws/credentials` link, Kubernetes `..data` links), owner, group and mode kept,
//! replaced atomically in its own directory (in place where it cannot be renamed over, as
//! a bind-mounted file), then read back through the consumer's path.

use super::{digest, Credential, Undo};
use crate::adapters::blocking;
use crate::adapters::fsutil;
use crate::core::config::SecretFormat;
use crate::core::model::KeyId;
use std::io;
use std::path::Path;
use zeroize::Zeroizing;

/// A new file's mode: only its owner may read a secret.
const NEW_FILE_MODE: u32 = 0o600;

pub async fn deliver(
    path: &Path,
    format: SecretFormat,
    cred: &Credential<'_>,
) -> Result<Undo, (String, Undo)> {
    let text = super::format::render(format, cred);
    write_file(path, text.as_bytes()).await
}

/// What is at `path` now: its bytes, or `None` when there is no file. Any other error
/// (permissions, a directory, I/O) is a failure, never "absent": treating it so would
/// replace a file keyrot could not read.
pub fn read_existing(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `bytes` through to the file at `path`, then reads it back through `path`: on a
/// blocking thread, so that while this file syncs to disk other sets' steps go on.
pub async fn write_file(path: &Path, bytes: &[u8]) -> Result<Undo, (String, Undo)> {
    let (path, bytes) = (path.to_path_buf(), Zeroizing::new(bytes.to_vec()));
    blocking::write(move || write_file_now(&path, &bytes))
        .await
        .unwrap_or_else(|e| Err((e, Undo::Nothing)))
}

fn write_file_now(path: &Path, bytes: &[u8]) -> Result<Undo, (String, Undo)> {
    let before = read_existing(path).map_err(|e| (e, Undo::Nothing))?;
    let undo = Undo::File(path.to_path_buf(), before);
    if let Err(e) = write_through(path, bytes) {
        return Err((format!("cannot write {}: {e}", path.display()), undo));
    }
    match std::fs::read(path).map(Zeroizing::new) {
        Ok(back) if digest(&back) == digest(bytes) => Ok(undo),
        Ok(_) => Err(("read-back does not match what was written".into(), undo)),
        Err(e) => Err((format!("read-back failed: {e}"), undo)),
    }
}

fn write_through(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fsutil::write_through(path, bytes, NEW_FILE_MODE)
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
        Some(bytes) => write_through(path, bytes).is_ok(),
        None => std::fs::remove_file(path).is_ok() || !path.exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_symlinked_sink_stays_a_link_and_its_target_gets_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        let real = shared.join("creds");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("credentials");
        symlink(&real, &link).unwrap();
        block_on(write_file(&link, b"new"))
            .map_err(|(e, _)| e)
            .unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(&shared).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left beside the target");
    }

    #[test]
    fn owner_group_and_mode_of_an_existing_file_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let me = std::fs::metadata(&path).unwrap();
        // As root (CI), hand the file to another user as a consumer would own it.
        let (uid, gid) = if me.uid() == 0 {
            (4321, 4321)
        } else {
            (me.uid(), me.gid())
        };
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        block_on(write_file(&path, b"new"))
            .map_err(|(e, _)| e)
            .unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.mode() & 0o777, 0o640);
        assert_eq!((after.uid(), after.gid()), (uid, gid));
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn a_new_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.json");
        block_on(write_file(&path, b"s"))
            .map_err(|(e, _)| e)
            .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn an_unreadable_sink_is_an_error_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading fails with something other than
        // "not found" (root reads everything, so permissions cannot show it here).
        let path = dir.path().join("credentials");
        std::fs::create_dir(&path).unwrap();
        let err = read_existing(&path).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
        let Err((message, _)) = block_on(write_file(&path, b"new")) else {
            panic!("a sink that cannot be read must fail");
        };
        assert!(message.contains("cannot read"), "{message}");
        assert!(path.is_dir(), "left as it was");
    }
}
