//! Hostile input: none panics; each gets a clear error saying what is wrong and where;
//! state and IAM are left untouched.
//!
//! 1. Fuzz (property) tests of the three parsers — config HCL, the state file and saved
//!    plans — over random strings, token soups and structured mutations of valid inputs.
//!    Cases per parser: `KEYROT_FUZZ_CASES` (default [`fuzz::DEFAULT_FUZZ_CASES`]); run
//!    with `--nocapture` to see how many ran. `fuzz` holds the harness, the properties and
//!    the tests; `seeds` the valid inputs mutations start from; `strategies` the inputs.
//! 2. The real binary against moto: after a first apply, each hostile config, state file or
//!    saved plan makes `plan` and `apply` exit 1 without a panic, with a message naming the
//!    file and what is wrong, and leaves the state file's bytes and the live keys as they were.
//!    One module per kind of file (`config`, `state_file`, `saved_plans`); this file holds
//!    the fixture they share: a project after a real first apply.

use crate::common::*;
use chrono::{Duration, Utc};
use serde_json::Value;

// 1. Fuzzing the parsers
mod fuzz;
mod seeds;
mod strategies;

// 2. The real binary against moto
mod config;
mod saved_plans;
mod state_file;

const STATE: &str = "state/keyrot.json";

/// Line 3 is `  overlap      = "7d"`; lines 11-12 are the sink's `path` and `format`.
fn config(user: &str) -> String {
    format!(
        r#"defaults {{
  max_age      = "90d"
  overlap      = "7d"
  unused_for   = "3d"
  inactive_for = "7d"
}}

user "{user}" {{
  access_key {{
    deliver "file" {{
      path   = "secrets/{user}.json"
      format = "json"
    }}
  }}
}}
"#
    )
}

/// A project after a real first apply: a state file and two Active keys in IAM. At
/// `self.later()` the next apply would deactivate the old key, so "nothing changed" means
/// something.
struct Applied {
    iam: aws_sdk_iam::Client,
    user: String,
    project: Project,
    day0: chrono::DateTime<Utc>,
}

fn applied(prefix: &str) -> Applied {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user(prefix);
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    assert_eq!(live_keys(&iam, &user).len(), 2, "first apply rotated");
    Applied {
        iam,
        user,
        project,
        day0,
    }
}

impl Applied {
    fn later(&self) -> chrono::DateTime<Utc> {
        self.day0 + Duration::days(8)
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.project.path(rel), bytes).expect("write");
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.project.path(rel)).unwrap_or_default()
    }

    fn snapshot(&self) -> (Vec<u8>, Vec<(String, String)>) {
        (self.read(STATE), live_keys(&self.iam, &self.user))
    }

    /// Runs keyrot with `args`; wants exit 1, no panic, every `want` in stderr, and the
    /// state file, live keys, lock and journal as they were.
    fn refused(&self, case: &str, args: &[&str], want: &[&str]) -> Run {
        self.refused_with(case, args, want, 1)
    }

    /// As `refused`, with the exit code the refusal must carry.
    fn refused_with(&self, case: &str, args: &[&str], want: &[&str], code: i32) -> Run {
        let before = self.snapshot();
        let run = self.project.run(args, Some(self.later()));
        let shown = format!(
            "{case}: keyrot {args:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            run.code,
            run.stdout,
            run.stderr.chars().take(4000).collect::<String>()
        );
        assert_eq!(run.code, code, "{shown}");
        assert!(!run.stderr.contains("panicked"), "{shown}");
        assert!(
            run.stderr.lines().any(|l| l.starts_with("Error: ")),
            "{shown}"
        );
        for w in want {
            assert!(run.stderr.contains(w), "want {w:?} in stderr\n{shown}");
        }
        assert_eq!(
            self.snapshot(),
            before,
            "{case}: keyrot {args:?} changed the state file or IAM"
        );
        for leftover in [".lock", ".journal"] {
            assert!(
                !self.project.path(&format!("{STATE}{leftover}")).exists(),
                "{case}: keyrot {args:?} left {STATE}{leftover}"
            );
        }
        run
    }

    /// `validate` (where given), `plan` and `apply --auto-approve` all refuse.
    fn all_refuse(&self, case: &str, with_validate: bool, want: &[&str]) {
        if with_validate {
            self.refused(case, &["validate"], want);
        }
        self.refused(case, &["plan"], want);
        self.refused(case, &["apply", "--auto-approve"], want);
    }
}

fn edit_json(text: &[u8], f: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_json::from_slice(text).expect("state is JSON");
    f(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap()
}
