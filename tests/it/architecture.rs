//! The floors of ARCHITECTURE.md, checked on the source text: an arrow never points up,
//! the core does no I/O, only `adapters/aws` names an AWS SDK, and nothing below the CLI
//! talks to the terminal.

use std::path::{Path, PathBuf};

fn repo(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

fn sources(root: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    assert!(!out.is_empty(), "no sources under {}", root.display());
    out
}

/// Lines of code, without comments (doc comments may name anything).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("")))
}

/// Every `(file:line, offending text)` where a file under `dir` contains one of `banned`.
fn violations(root: &Path, banned: &[&str], allowed_files: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources(root) {
        let rel = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&path);
        if allowed_files.iter().any(|a| rel.ends_with(a)) {
            continue;
        }
        for (n, line) in code_lines(&text) {
            for b in banned {
                if line.contains(b) {
                    found.push(format!("{}:{n}: `{b}` in: {}", rel.display(), line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn core_imports_nothing_outside_core_and_does_no_io() {
    let banned = [
        "crate::adapters",
        "crate::ops",
        "crate::cli",
        "std::fs",
        "std::env",
        "std::net",
        "std::process",
        "std::io::stdin",
        "std::io::stdout",
        "tokio",
        "async ",
        ".await",
        "Utc::now",
        "SystemTime",
        "Instant::now",
        "println!",
        "eprintln!",
        "tracing",
    ];
    let found = violations(&repo("src/core"), &banned, &[]);
    assert!(
        found.is_empty(),
        "core must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn adapters_and_ops_never_point_up() {
    let adapters = violations(&repo("src/adapters"), &["crate::ops", "crate::cli"], &[]);
    let ops = violations(&repo("src/ops"), &["crate::cli"], &[]);
    let found: Vec<_> = adapters.into_iter().chain(ops).collect();
    assert!(
        found.is_empty(),
        "an arrow points up:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_adapters_aws_names_an_aws_sdk() {
    let sdks = [
        "aws_sdk_",
        "aws_config",
        "aws_smithy",
        "aws_types",
        "aws_credential_types",
    ];
    let mut found = Vec::new();
    for dir in ["src/core", "src/ops", "src/cli", "src/main.rs"] {
        if dir.ends_with(".rs") {
            let text =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).unwrap();
            for (n, line) in code_lines(&text) {
                for s in sdks {
                    if line.contains(s) {
                        found.push(format!("{dir}:{n}: {}", line.trim()));
                    }
                }
            }
        } else {
            found.extend(violations(&repo(dir), &sdks, &[]));
        }
    }
    // Within adapters, only the aws folder.
    for (path, text) in sources(&repo("src/adapters")) {
        if path.components().any(|c| c.as_os_str() == "aws") {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if sdks.iter().any(|s| line.contains(s)) {
                found.push(format!("{}:{n}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "an AWS SDK named outside adapters/aws:\n{}",
        found.join("\n")
    );
}

#[test]
fn nothing_below_the_cli_talks_to_the_terminal() {
    let banned = [
        "println!",
        "print!(",
        "eprintln!",
        "eprint!(",
        "indicatif",
        "std::io::stdin",
        "std::io::stdout",
        "IsTerminal",
    ];
    // A crash point says it aborts, in debug builds only (tests read it).
    let mut found = violations(&repo("src/ops"), &banned, &[]);
    found.extend(violations(
        &repo("src/adapters"),
        &banned,
        &["src/adapters/crash.rs"],
    ));
    found.extend(violations(&repo("src/core"), &banned, &[]));
    assert!(
        found.is_empty(),
        "terminal output below the CLI:\n{}",
        found.join("\n")
    );
}

/// Logs are events below the CLI; only the CLI decides whether and where they are written.
#[test]
fn only_the_cli_installs_a_log_subscriber() {
    let mut found = Vec::new();
    for dir in ["src/core", "src/ops", "src/adapters"] {
        found.extend(violations(&repo(dir), &["tracing_subscriber"], &[]));
    }
    assert!(
        found.is_empty(),
        "a log subscriber below the CLI:\n{}",
        found.join("\n")
    );
}

/// The checks above must be able to fail: a planted file with an upward import, an SDK
/// name and a print is reported; the same words in a comment are not.
#[test]
fn the_checks_can_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("core")).unwrap();
    std::fs::write(
        dir.path().join("core/bad.rs"),
        "use crate::adapters::iam::Iam; // why\nfn f() { println!(\"x\"); let _ = aws_sdk_iam::Client::new; }\n// crate::ops in a comment\n",
    )
    .unwrap();
    let found = violations(
        &dir.path().join("core"),
        &["crate::adapters", "crate::ops", "println!", "aws_sdk_"],
        &[],
    );
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().all(|f| f.contains("bad.rs:")), "{found:#?}");
}
