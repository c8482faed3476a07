//! The commands that fit keyrot into a shell and a system: completions, man pages and
//! `--version`, run as the real binary in an empty directory (no config, no state: these
//! commands read neither).

use std::process::{Command, Output};

fn keyrot(dir: &std::path::Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_keyrot"))
        .current_dir(dir)
        .args(args)
        .env_remove("KEYROT_NOW")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "keyrot {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn completions_for_every_shell_name_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = keyrot(dir.path(), &["completions", shell]);
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        assert!(
            script.contains("rollback"),
            "{shell}: no `rollback` in the script"
        );
        assert!(out.stderr.is_empty(), "{shell}: stderr not empty");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn man_writes_a_page_per_command_into_the_current_directory_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyrot(dir.path(), &["man"]);
    let said = String::from_utf8(out.stdout).unwrap();
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for name in [
        "keyrot.1",
        "keyrot-plan.1",
        "keyrot-state.1",
        "keyrot-state-pull.1",
    ] {
        assert!(pages.iter().any(|p| p == name), "no {name} in {pages:?}");
    }
    for page in &pages {
        assert!(
            said.contains(page.as_str()),
            "{page} written but not said:\n{said}"
        );
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".SH NAME"), "{page}: not a man page");
    }

    let out = keyrot(dir.path(), &["man", "share/man/man1"]);
    let nested = std::fs::read_dir(dir.path().join("share/man/man1"))
        .unwrap()
        .count();
    assert_eq!(nested, pages.len());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("keyrot-state-push.1"));
}

#[test]
fn version_names_the_release_and_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyrot(dir.path(), &["--version"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.trim();
    let want = format!("keyrot {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&want), "{line}");
    let commit = line[want.len()..].trim_end_matches(')');
    let hex = commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit());
    assert!(hex || commit == "unknown", "not a commit: {commit:?}");
}
