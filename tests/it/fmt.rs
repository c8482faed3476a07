//! `keyrot fmt` through the real binary: files rewritten in place (comments kept, mode and
//! symlinks kept), `--check` changing nothing and exiting 3, `--diff`, files that are not
//! HCL left alone, and every shipped example already formatted. fmt reads no state and
//! talks to no AWS: these run in a scratch directory without moto.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn keyrot(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_keyrot"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KEYROT_NOW")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const MESSY: &str = "# who rotates what
aws {
region=\"us-east-1\"   # the account's home
    max_attempts = 8
}
user \"ci\" {
  access_key {
      max_age = \"30d\"
      overlap=\"2d\"
      # a deliver block
      deliver \"file\" {
        path = \"secrets/ci.json\"   \t
        format=\"json\"
      }
  }
}
";

const FORMATTED: &str = "# who rotates what
aws {
  region       = \"us-east-1\" # the account's home
  max_attempts = 8
}

user \"ci\" {
  access_key {
    max_age = \"30d\"
    overlap = \"2d\"

    # a deliver block
    deliver \"file\" {
      path   = \"secrets/ci.json\"
      format = \"json\"
    }
  }
}
";

#[test]
fn fmt_rewrites_the_config_in_place_keeping_comments_mode_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.hcl");
    std::fs::write(&real, MESSY).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("real.hcl", dir.path().join("keyrot.hcl")).unwrap();

    let run = keyrot(dir.path(), &["fmt"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "keyrot.hcl\n", "names the file it changed");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), FORMATTED);
    assert!(std::fs::symlink_metadata(dir.path().join("keyrot.hcl"))
        .unwrap()
        .is_symlink());
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the file keeps its mode");
    for comment in [
        "# who rotates what",
        "# the account's home",
        "# a deliver block",
    ] {
        assert!(FORMATTED.contains(comment), "lost {comment}");
    }
    assert!(keyrot(dir.path(), &["validate"]).code == 0);

    // Idempotent: a second run changes and names nothing.
    let again = keyrot(dir.path(), &["fmt"]);
    assert_eq!((again.code, again.stdout.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(&real).unwrap(), FORMATTED);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temp file left: {leftovers:?}");
}

#[test]
fn fmt_check_lists_unformatted_files_changes_nothing_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("a.hcl"), MESSY).unwrap();
    std::fs::write(conf.join("b.hcl"), "defaults {\n  max_age = \"90d\"\n}\n").unwrap();
    std::fs::write(conf.join("notes.txt"), "not   = \"hcl\"\n").unwrap();

    let run = keyrot(dir.path(), &["fmt", "--check", "-c", "conf"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "conf/a.hcl\n");
    assert!(
        run.stderr.contains("1 file(s) are not formatted"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(conf.join("a.hcl")).unwrap(), MESSY);

    // A formatted file passes; so does a directory given as an argument once it is fixed.
    assert_eq!(
        keyrot(dir.path(), &["fmt", "--check", "conf/b.hcl"]).code,
        0
    );
    assert_eq!(keyrot(dir.path(), &["fmt", "conf"]).stdout, "conf/a.hcl\n");
    let clean = keyrot(dir.path(), &["fmt", "--check", "conf"]);
    assert_eq!((clean.code, clean.stdout.as_str()), (0, ""));
    assert_eq!(
        std::fs::read_to_string(conf.join("a.hcl")).unwrap(),
        FORMATTED
    );
    assert_eq!(
        std::fs::read_to_string(conf.join("notes.txt")).unwrap(),
        "not   = \"hcl\"\n",
        "only *.hcl files are formatted"
    );
}

#[test]
fn fmt_diff_prints_a_unified_diff() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keyrot.hcl"), MESSY).unwrap();

    let run = keyrot(dir.path(), &["fmt", "--check", "--diff"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains("\n@@ -1,"), "{}", run.stdout);
    for line in [
        "keyrot.hcl",
        "--- keyrot.hcl",
        "+++ keyrot.hcl",
        "-region=\"us-east-1\"   # the account's home",
        "+  region       = \"us-east-1\" # the account's home",
        " # who rotates what",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{}",
            run.stdout
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keyrot.hcl")).unwrap(),
        MESSY,
        "--check --diff changes nothing"
    );

    // Without --check the diff is shown and the file written.
    let run = keyrot(dir.path(), &["fmt", "--diff"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("+    overlap = \"2d\""),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keyrot.hcl")).unwrap(),
        FORMATTED
    );
}

#[test]
fn a_file_that_is_not_hcl_is_reported_where_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "user \"ci\" {\n  access_key {\n    max_age = \n  }\n}\n";
    std::fs::write(dir.path().join("a.hcl"), broken).unwrap();
    std::fs::write(dir.path().join("b.hcl"), MESSY).unwrap();

    let run = keyrot(dir.path(), &["fmt", "-c", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("./a.hcl:3:15: HCL syntax error"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("left as they were"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.hcl")).unwrap(),
        broken
    );
    assert_eq!(run.stdout, "./b.hcl\n", "the other file is still formatted");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("b.hcl")).unwrap(),
        FORMATTED
    );

    let missing = keyrot(dir.path(), &["fmt", "nowhere.hcl"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("cannot read config nowhere.hcl"),
        "{}",
        missing.stderr
    );
}

#[test]
fn every_example_and_the_init_starter_are_formatted() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let config = entry.unwrap().path().join("keyrot.hcl");
        if !config.exists() {
            continue;
        }
        let run = keyrot(
            &examples,
            &["fmt", "--check", "--diff", config.to_str().unwrap()],
        );
        assert_eq!(
            run.code,
            0,
            "{}:\n{}{}",
            config.display(),
            run.stdout,
            run.stderr
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} examples found");

    let dir = tempfile::tempdir().unwrap();
    assert_eq!(keyrot(dir.path(), &["init", "--user", "alice"]).code, 0);
    let run = keyrot(dir.path(), &["fmt", "--check", "--diff"]);
    assert_eq!(
        run.code, 0,
        "init writes a formatted config:\n{}",
        run.stdout
    );
}
