//! Names the git commit keyrot is built from, for `keyrot --version`: sets
//! KEYROT_GIT_COMMIT to `git rev-parse --short HEAD`, or to "unknown" where there is no
//! git or no repository (a crates.io package, a source tarball). Never fails the build.
//! A packager may set KEYROT_GIT_COMMIT in the environment to name the commit itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KEYROT_GIT_COMMIT");
    let commit = match std::env::var("KEYROT_GIT_COMMIT") {
        Ok(given) if !given.trim().is_empty() => given.trim().to_string(),
        _ => from_git().unwrap_or_else(|| "unknown".into()),
    };
    println!("cargo:rustc-env=KEYROT_GIT_COMMIT={commit}");
}

/// The short commit of HEAD, and re-run triggers on HEAD and the branch it points to, so
/// a new commit or checkout rebuilds the version while an edit does not.
fn from_git() -> Option<String> {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // Only this package's own repository: an unpacked crate inside some other repository
    // (a home directory under git) must not take that repository's commit.
    if !root.join(".git").exists() {
        return None;
    }
    // `.git` is a directory, or a file pointing elsewhere in a linked worktree: ask git.
    let git_dir = root.join(git(&root, &["rev-parse", "--git-dir"])?);
    let common_dir = root.join(git(&root, &["rev-parse", "--git-common-dir"])?);
    watch(&git_dir.join("HEAD"));
    if let Some(reference) = git(&root, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&common_dir.join(reference));
    }
    // A branch whose ref was packed (git gc) moves in packed-refs.
    watch(&common_dir.join("packed-refs"));
    git(&root, &["rev-parse", "--short", "HEAD"])
}

/// Git's answer, trimmed, or None when git is missing or refuses.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// A trigger on a file that exists (cargo re-runs on every build for a missing one).
fn watch(file: &Path) {
    if file.exists() {
        println!("cargo:rerun-if-changed={}", file.display());
    }
}
