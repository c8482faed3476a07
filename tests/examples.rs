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
