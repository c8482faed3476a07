//! Kill the real binary at every crash point of a full rotation, re-run, and prove:
//! the rotation still converges to one Active key that is the delivered one, no key is
//! orphaned, the sink never points at a deleted key, the state always parses, and no
//! secret reaches any file but its sink.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};

use keyrot::adapters::crash::POINTS;

fn config(user: &str) -> String {
    format!(
        "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/key.json\"\n    }}\n  }}\n}}\n"
    )
}

struct Scenario<'a> {
    moto: &'a Moto,
    iam: aws_sdk_iam::Client,
    user: String,
    project: Project,
    secrets: Vec<String>,
}

impl Scenario<'_> {
    fn sink_key(&self) -> Option<(String, String)> {
        let text = std::fs::read_to_string(self.project.path("secrets/key.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            v["AccessKeyId"].as_str()?.to_string(),
            v["SecretAccessKey"].as_str()?.to_string(),
        ))
    }

    /// An apply that must succeed, then the invariants every settled run keeps.
    fn apply(&mut self, now: DateTime<Utc>) {
        self.project.ok(&["apply", "--auto-approve"], Some(now), 0);
        self.check();
    }

    fn check(&mut self) {
        let text =
            std::fs::read_to_string(self.project.path("state/keyrot.json")).expect("state exists");
        let state: serde_json::Value = serde_json::from_str(&text).expect("state parses");
        assert_matches_schema("state.schema.json", &state);
        let set = &state["credential_sets"][format!("user.{}.access_key", self.user)];
        let live = live_keys(&self.iam, &self.user);
        let tracked: Vec<&str> = ["current", "previous"]
            .iter()
            .filter_map(|r| set[r]["id"].as_str())
            .collect();
        for (id, _) in &live {
            assert!(
                tracked.contains(&id.as_str()),
                "orphaned key {id}: live {live:?}, state {set}"
            );
        }
        if let Some((id, secret)) = self.sink_key() {
            assert!(
                live.iter().any(|(k, s)| *k == id && s == "Active"),
                "sink holds key {id} not Active in IAM: {live:?}"
            );
            if !self.secrets.contains(&secret) {
                self.secrets.push(secret);
            }
        }
    }
}

/// Runs the three applies of a rotation, crashing the given phase's apply at `point:nth`.
/// Returns false when that apply never reached the point (nothing to test).
fn rotate_with_crash(moto: &Moto, phase: usize, point: &str, nth: u32) -> bool {
    let iam = admin(&moto.endpoint);
    let user = unique_user("crash");
    let seeded = seed_user(&iam, &user);
    let mut s = Scenario {
        moto,
        iam,
        user: user.clone(),
        project: Project::new(&moto.endpoint, &config(&user)),
        secrets: vec![seeded.secret.clone()],
    };
    let day0 = Utc::now() + Duration::days(100);
    let days = [day0, day0 + Duration::days(8), day0 + Duration::days(16)];
    let mut crashed = false;
    for (i, now) in days.iter().enumerate() {
        if i == phase {
            let mut cmd = s.project.command(&["apply", "--auto-approve"], Some(*now));
            cmd.env("KEYROT_CRASH_AT", format!("{point}:{nth}"));
            let out = cmd.output().expect("run keyrot");
            s.project
                .transcript
                .borrow_mut()
                .extend_from_slice(&out.stdout);
            s.project
                .transcript
                .borrow_mut()
                .extend_from_slice(&out.stderr);
            crashed = out.status.code().is_none();
            if !crashed {
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return false;
            }
            // status names an unfinished step when the crash left one in the journal.
            if s.project.path("state/keyrot.json.journal").exists() {
                let status = s.project.ok(&["status"], Some(*now), 0);
                assert!(status.stdout.contains("Unfinished:"), "{}", status.stdout);
            }
            // The OS released the killed run's lock: the next run goes on at once, with
            // no command from a person (s.apply below asserts it succeeds).
        }
        s.apply(*now);
    }
    // Converged exactly like an uninterrupted rotation: one Active key, the delivered one.
    let live = live_keys(&s.iam, &user);
    let (sink_id, _) = s.sink_key().unwrap_or_else(|| {
        panic!(
            "no key delivered after {point}:{nth} in phase {phase}: {live:?}\n{}",
            String::from_utf8_lossy(&s.project.transcript.borrow())
        )
    });
    assert_eq!(
        live,
        vec![(sink_id.clone(), "Active".to_string())],
        "{point}:{nth} in phase {phase}"
    );
    assert_ne!(sink_id, seeded.id);
    let state = s.project.state_json();
    let set = &state["credential_sets"][format!("user.{user}.access_key")];
    assert_eq!(set["phase"], "steady");
    assert_eq!(set["current"]["id"], sink_id.as_str());
    assert!(
        !s.project.path("state/keyrot.json.journal").exists(),
        "journal settled"
    );
    for secret in &s.secrets {
        s.project
            .assert_secret_nowhere(secret, &["secrets/key.json"]);
    }
    assert_logged_once(
        &s.project,
        &seeded.id,
        &sink_id,
        &format!("{point}:{nth} in phase {phase}"),
    );
    let _ = s.moto;
    crashed
}

/// The event log has the rotation's create, deactivate and delete, each once, whatever
/// step the crash cut off (the step's own event, or recovery's).
fn assert_logged_once(project: &Project, old: &str, new: &str, case: &str) {
    project.assert_events_match_schema();
    let events = project.events();
    for (action, key) in [("create", new), ("deactivate", old), ("delete", old)] {
        let done: Vec<_> = events
            .iter()
            .filter(|e| {
                let done = e["outcome"] == "succeeded" || e["outcome"] == "recovered";
                e["action"] == action && e["key_id"] == key && done
            })
            .collect();
        assert_eq!(done.len(), 1, "{case}: {action} of {key}: {events:#?}");
    }
}

fn matrix(phase: usize) -> usize {
    let moto = Moto::shared();
    let mut crashes = 0;
    for point in POINTS {
        for nth in 1..=6 {
            if !rotate_with_crash(moto, phase, point, nth) {
                break;
            }
            crashes += 1;
        }
    }
    println!("phase {phase}: {crashes} crash scenarios converged");
    crashes
}

#[test]
fn crash_anywhere_in_the_create_apply() {
    assert!(
        matrix(0) >= 8,
        "the create apply passes at least 8 crash points"
    );
}

#[test]
fn crash_anywhere_in_the_deactivate_apply() {
    assert!(matrix(1) >= 4);
}

#[test]
fn crash_anywhere_in_the_delete_apply() {
    assert!(matrix(2) >= 4);
}

/// An exec check that passes while `healthy` exists in the project directory.
const CHECKED: &str = r#"    confirm "exec" {
      command = ["sh", "-c", "test -e healthy || { echo 'health check failed'; exit 1; }"]
    }"#;

/// Where the automatic revert can die: recording the failed check (its event, then
/// state), then the journaled reactivate step (intent, IAM call, Secrets Manager put back,
/// event, state).
const REVERT_POINTS: &[&str] = &[
    "before-state-write",
    "after-state-write",
    "before-revert",
    "before-journal-write",
    "after-journal-write",
    "before-iam-update",
    "after-iam-update",
    "before-event-write",
    "after-event-write",
];

/// A rotation whose confirm check passes after the deactivation and fails on the next
/// apply, which is killed at `point:nth` during the revert. Returns false when that apply
/// never reached the point. The next run must converge where an uninterrupted revert
/// lands: both keys Active, the set held, Secrets Manager back on the old key, nothing
/// deleted, the journal settled.
fn revert_with_crash(moto: &Moto, point: &str, nth: u32) -> bool {
    let iam = admin(&moto.endpoint);
    let user = unique_user("crashrevert");
    let seeded = seed_user(&iam, &user);
    let secret_id = format!("keyrot/{user}");
    crate::sinks::put_key_secret(&moto.endpoint, &secret_id, &seeded);
    let text = config(&user).replace(
        "  }\n}\n",
        &format!("    deliver \"secrets_manager\" {{\n      secret_id = \"{secret_id}\"\n    }}\n{CHECKED}\n  }}\n}}\n"),
    );
    let project = Project::new(&moto.endpoint, &text);
    std::fs::write(project.path("healthy"), "").unwrap();
    let day0 = Utc::now() + Duration::days(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    std::fs::remove_file(project.path("healthy")).unwrap();

    let day9 = day0 + Duration::days(9);
    let mut cmd = project.command(&["apply", "--auto-approve"], Some(day9));
    cmd.env("KEYROT_CRASH_AT", format!("{point}:{nth}"));
    let out = cmd.output().expect("run keyrot");
    project
        .transcript
        .borrow_mut()
        .extend_from_slice(&out.stdout);
    project
        .transcript
        .borrow_mut()
        .extend_from_slice(&out.stderr);
    if out.status.code().is_some() {
        assert_eq!(
            out.status.code(),
            Some(8),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return false;
    }
    // Re-run: a revert the crash cut short before IAM reactivated the key is made again
    // (the check still fails: exit 8); one that did reactivate it is recorded by recovery,
    // and the held set waits for a person (exit 7).
    let rerun = project.run(&["apply", "--auto-approve"], Some(day9));
    assert!(
        matches!(rerun.code, 7 | 8),
        "{point}:{nth}: exit {}\n{}\n{}",
        rerun.code,
        rerun.stdout,
        rerun.stderr
    );
    let live = live_keys(&iam, &user);
    assert_eq!(live.len(), 2, "{point}:{nth}: nothing deleted: {live:?}");
    assert!(
        live.iter().all(|(_, status)| status == "Active"),
        "{point}:{nth}: the old key is Active again: {live:?}"
    );
    let state = project.state_json();
    assert_matches_schema("state.schema.json", &state);
    let set = &state["credential_sets"][format!("user.{user}.access_key")];
    assert_eq!(set["phase"], "held", "{point}:{nth}: {set}");
    assert_eq!(set["previous"]["id"], seeded.id.as_str(), "{set}");
    assert_eq!(set["confirm"][0]["passed"], false, "{set}");
    assert!(
        !project.path("state/keyrot.json.journal").exists(),
        "journal settled"
    );
    // The revert is an applied step like any other: its reactivation is logged once (its
    // own event, or recovery's), after the failed check's.
    project.assert_events_match_schema();
    let events = project.events();
    let reactivated: Vec<_> = events
        .iter()
        .filter(|e| {
            let done = e["outcome"] == "succeeded" || e["outcome"] == "recovered";
            e["action"] == "reactivate" && e["key_id"] == seeded.id.as_str() && done
        })
        .collect();
    assert_eq!(reactivated.len(), 1, "{point}:{nth}: {events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "confirm" && e["outcome"] == "failed"),
        "{point}:{nth}: the failed check is logged: {events:#?}"
    );
    let current = crate::sinks::secret_value(&moto.endpoint, &secret_id, "AWSCURRENT").unwrap();
    assert!(
        current.contains(&seeded.id),
        "{point}:{nth}: Secrets Manager is back on the old key"
    );
    // Still held on the run after: nothing moves until a person resumes.
    project.ok(
        &["apply", "--auto-approve"],
        Some(day9 + Duration::days(30)),
        7,
    );
    assert_eq!(live_keys(&iam, &user).len(), 2);
    let new_secret = std::fs::read_to_string(project.path("secrets/key.json")).unwrap();
    let new_secret: serde_json::Value = serde_json::from_str(&new_secret).unwrap();
    project.assert_secret_nowhere(
        new_secret["SecretAccessKey"].as_str().unwrap(),
        &["secrets/key.json"],
    );
    true
}

#[test]
fn crash_anywhere_in_the_automatic_revert() {
    let moto = Moto::shared();
    let mut crashes = 0;
    for point in REVERT_POINTS {
        for nth in 1..=3 {
            if !revert_with_crash(moto, point, nth) {
                break;
            }
            crashes += 1;
        }
    }
    println!("revert: {crashes} crash scenarios converged");
    // Two state writes (the check's record, the reactivation) and one crash at each of
    // the other points.
    assert!(
        crashes >= 9,
        "the revert passes at least 9 crash points: {crashes}"
    );
}
