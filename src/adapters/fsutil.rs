//! Durable file replacement: temp file in the same directory → fsync → rename → fsync dir.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Who owns a file, to keep when replacing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileOwner {
    pub uid: u32,
    pub gid: u32,
}

/// Replaces `path` with `bytes` so a reader sees the old or the new file, never a mix.
/// The file is created with `mode` (e.g. 0o600) before any byte is written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_as(path, bytes, mode, None)
}

/// As [`write_atomic`], the new file also given `owner` (a consumer's file stays theirs).
pub fn write_atomic_as(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<FileOwner>,
) -> io::Result<()> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
        .to_string_lossy()
        .into_owned();
    remove_stale_temps(dir, &name);
    // Unpredictable and created exclusively: a planted file or symlink cannot catch it.
    let tmp = dir.join(format!(
        ".{name}{TEMP_MARK}{}",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // Owner first, then the exact mode (the umask narrowed it at create; a chown can
        // clear set-id bits).
        if let Some(o) = owner {
            std::os::unix::fs::fchown(&file, Some(o.uid), Some(o.gid))?;
        }
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Overwrites the file at `path` in place (truncate, write, fsync): for a file that cannot
/// be renamed over, such as a bind mount. Not atomic; kept for that case only.
pub fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Replaces the file consumers read at `path` with `bytes`, atomically: symlinks are
/// followed (the link stays, its target is replaced in its own directory), an existing
/// file keeps its owner, group and mode, a new one gets `new_file_mode`, and a file that
/// cannot be renamed over (a bind mount) is written in place.
pub fn write_through(path: &Path, bytes: &[u8], new_file_mode: u32) -> io::Result<()> {
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let (mode, owner) = match fs::metadata(&target) {
        Ok(m) => (
            m.mode() & 0o7777,
            Some(FileOwner {
                uid: m.uid(),
                gid: m.gid(),
            }),
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (new_file_mode, None),
        Err(e) => return Err(e),
    };
    match write_atomic_as(&target, bytes, mode, owner) {
        // A mount point (a bind-mounted file) cannot be renamed over: write it in place.
        Err(e) if matches!(e.raw_os_error(), Some(EBUSY | EXDEV)) => write_in_place(&target, bytes),
        other => other,
    }
}

/// Linux errno values: a busy mount point, a rename across file systems.
const EBUSY: i32 = 16;
const EXDEV: i32 = 18;

/// Marks keyrot's temp files: `.NAME.tmp-<uuid>`.
const TEMP_MARK: &str = ".tmp-";

/// A temp file of ours that a killed run left beside `name` (it may hold a secret).
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}{TEMP_MARK}");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let stale = file_name.to_str().is_some_and(|n| {
            n.strip_prefix(&prefix)
                .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
    }

    #[test]
    fn a_temp_file_left_by_a_killed_run_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        let stale = dir.path().join(format!(
            ".secret.json.tmp-{}",
            uuid::Uuid::new_v4().simple()
        ));
        fs::write(&stale, "a secret a crash left behind").unwrap();
        let unrelated = dir.path().join(".secret.json.tmp-notours");
        fs::write(&unrelated, "x").unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert!(!stale.exists(), "stale temp removed");
        assert!(
            unrelated.exists(),
            "only keyrot's own temp names are removed"
        );
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }
}
