//! Every shipped example config validates with the real binary.

#[test]
fn every_example_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let config = entry.unwrap().path().join("keyrot.hcl");
        if !config.exists() {
            continue;
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyrot"))
            .args(["validate", "-c"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} examples found");
}

#[test]
fn init_writes_a_valid_starter_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let keyrot = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_keyrot"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = keyrot(&["init", "--user", "alice"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("keyrot.hcl")).unwrap();
    assert!(text.contains("user \"alice\"") && text.contains("secrets/alice.json"));
    // The starter asks for the new key to be seen in use before the old one goes.
    assert!(
        text.contains("\n    require_new_key_use = true\n"),
        "{text}"
    );
    assert!(keyrot(&["validate"]).status.success());
    std::fs::write(dir.path().join("keyrot.hcl"), "# mine\n").unwrap();
    let again = keyrot(&["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keyrot.hcl")).unwrap(),
        "# mine\n"
    );
    let bad = keyrot(&["init", "--user", "bad name", "-c", "other.hcl"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(!dir.path().join("other.hcl").exists());
}

#[test]
fn the_github_workflow_shares_state_through_s3_with_no_state_scripts() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/github-actions/keyrot.yml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("backend \"s3\""), "documents the S3 backend");
    assert!(
        text.contains("\nconcurrency:\n  group:"),
        "one run at a time"
    );
    for script in ["restore-keyrot-state", "save-keyrot-state", "actions/cache"] {
        assert!(
            !text.contains(script),
            "no state script of its own: {script}"
        );
    }
}
