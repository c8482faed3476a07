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
