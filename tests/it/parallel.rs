//! Apply runs sets side by side: each set's steps in order, one journal intent per set in
//! flight. Killed with several sets mid-step, the next run settles every one; output comes
//! in the plan's order whatever order sets finish in; sets writing one file take turns.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use keyrot::adapters::crash::POINTS;

const FLEET: usize = 4;

fn fleet_config(users: &[String]) -> String {
    users
        .iter()
        .map(|u| {
            format!(
                "user \"{u}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{u}.json\"\n    }}\n  }}\n}}\n"
            )
        })
        .collect()
}

struct Fleet {
    iam: aws_sdk_iam::Client,
    users: Vec<String>,
    seeded: Vec<SeededKey>,
    project: Project,
}

impl Fleet {
    fn new(moto: &Moto, prefix: &str) -> Fleet {
        let iam = admin(&moto.endpoint);
        let users: Vec<String> = (0..FLEET).map(|_| unique_user(prefix)).collect();
        let seeded = users.iter().map(|u| seed_user(&iam, u)).collect();
        let project = Project::new(&moto.endpoint, &fleet_config(&users));
        Fleet {
            iam,
            users,
            seeded,
            project,
        }
    }

    /// The key id the user's file sink holds.
    fn sink_key(&self, user: &str) -> Option<String> {
        let path = self.project.path(&format!("secrets/{user}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(v["AccessKeyId"].as_str()?.to_string())
    }

    /// How many intents the journal holds (a killed run's sets in flight).
    fn journal_intents(&self) -> usize {
        let path = self.project.path("state/keyrot.json.journal");
        let Ok(text) = std::fs::read_to_string(path) else {
            return 0;
        };
        let v: serde_json::Value = serde_json::from_str(&text).expect("journal parses");
        v["intents"].as_array().map_or(0, Vec::len)
    }

    /// After a settled run: every live key is tracked, and what a sink holds is Active.
    fn check(&self, case: &str) {
        let state = self.project.state_json();
        assert_matches_schema("state.schema.json", &state);
        for user in &self.users {
            let set = &state["credential_sets"][format!("user.{user}.access_key")];
            let tracked: Vec<&str> = ["current", "previous"]
                .iter()
                .filter_map(|r| set[r]["id"].as_str())
                .collect();
            let live = live_keys(&self.iam, user);
            for (id, _) in &live {
                assert!(
                    tracked.contains(&id.as_str()),
                    "{case}: orphan {id} of {user}: {set}"
                );
            }
            if let Some(id) = self.sink_key(user) {
                assert!(
                    live.iter().any(|(k, s)| *k == id && s == "Active"),
                    "{case}: {user}'s sink holds {id}, not Active: {live:?}"
                );
            }
        }
    }
}

/// A fleet's rotation over three applies at `--apply-parallelism 4`, the apply of `phase` killed
/// at `point:nth`. Returns how many intents the killed run left in the journal, or `None`
/// when it never reached the point.
fn fleet_rotation_with_crash(moto: &Moto, phase: usize, point: &str, nth: u32) -> Option<usize> {
    let fleet = Fleet::new(moto, "par");
    let case = format!("{point}:{nth} in phase {phase}");
    let day0 = Utc::now() + Duration::days(100);
    let days: [DateTime<Utc>; 3] = [day0, day0 + Duration::days(8), day0 + Duration::days(16)];
    let mut in_flight = None;
    for (i, now) in days.iter().enumerate() {
        let args = ["apply", "--auto-approve", "--apply-parallelism", "4"];
        if i == phase {
            let out = fleet.project.run_env(
                &args,
                Some(*now),
                &[("KEYROT_CRASH_AT", &format!("{point}:{nth}"))],
            );
            if out.code != -1 {
                assert_eq!(out.code, 0, "{case}: {}", out.stderr);
                return None;
            }
            in_flight = Some(fleet.journal_intents());
        }
        let run = fleet.project.ok(&args, Some(*now), 0);
        fleet.check(&format!("{case}, day {i}: {}", run.stdout));
    }
    let state = fleet.project.state_json();
    let events = fleet.project.events();
    for (user, seeded) in fleet.users.iter().zip(&fleet.seeded) {
        let live = live_keys(&fleet.iam, user);
        let held = fleet.sink_key(user).expect("a key delivered");
        assert_eq!(live, vec![(held.clone(), "Active".to_string())], "{case}");
        assert_ne!(held, seeded.id, "{case}: rotated");
        let set = &state["credential_sets"][format!("user.{user}.access_key")];
        assert_eq!(set["phase"], "steady", "{case}: {set}");
        for (action, key) in [
            ("create", &held),
            ("deactivate", &seeded.id),
            ("delete", &seeded.id),
        ] {
            let done = events.iter().filter(|e| {
                let ok = e["outcome"] == "succeeded" || e["outcome"] == "recovered";
                e["action"] == action && e["key_id"] == key.as_str() && ok
            });
            assert_eq!(
                done.count(),
                1,
                "{case}: {action} of {user}'s {key}: {events:#?}"
            );
        }
        fleet
            .project
            .assert_secret_nowhere(&seeded.secret, &[&format!("secrets/{user}.json")]);
    }
    assert!(
        !fleet.project.path("state/keyrot.json.journal").exists(),
        "{case}: journal settled"
    );
    in_flight
}

fn crash_matrix(phase: usize, nth: u32) -> Vec<usize> {
    let moto = Moto::shared();
    POINTS
        .iter()
        .filter_map(|point| fleet_rotation_with_crash(moto, phase, point, nth))
        .collect()
}

/// Killed at every crash point while creating keys for four users at once (the third time
/// the point is passed, so other sets are mid-step), the next run settles every intent and
/// the rotation converges as if nothing happened.
#[test]
fn a_fleet_killed_with_sets_in_flight_converges() {
    let creates = crash_matrix(0, 3);
    let deletes = crash_matrix(2, 2);
    println!("crashes with intents in flight: creates {creates:?}, deletes {deletes:?}");
    assert!(
        creates.len() >= 8,
        "the create apply passes at least 8 crash points"
    );
    assert!(deletes.len() >= 4);
    assert!(
        creates.iter().chain(&deletes).any(|&n| n >= 2),
        "some kill left several sets' intents to settle: {creates:?} {deletes:?}"
    );
}

/// Six sets whose exec sinks take longest for the first user, applied with
/// `--apply-parallelism`: the lines each set printed (in order), the plan's order of the
/// sets, and the most commands running at once.
fn apply_six(moto: &Moto, parallelism: &str) -> (Vec<String>, Vec<String>, i32) {
    let iam = admin(&moto.endpoint);
    let users: Vec<String> = (0..6).map(|_| unique_user("order")).collect();
    let config: String = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let pause = 6 - i;
            seed_user(&iam, u);
            format!(
                "user \"{u}\" {{\n  access_key {{\n    deliver \"exec\" {{\n      command = [\"sh\", \"-c\", \"echo start >> sinks.log; sleep 0.{pause}; cat > /dev/null; echo end >> sinks.log\"]\n    }}\n  }}\n}}\n"
            )
        })
        .collect();
    let project = Project::new(&moto.endpoint, &config);
    let args = [
        "apply",
        "--auto-approve",
        "--apply-parallelism",
        parallelism,
    ];
    let run = project.ok(&args, Some(days_from_now(100)), 0);
    let created: Vec<String> = run
        .stdout
        .lines()
        .filter(|l| l.contains("created key"))
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect();
    let log = std::fs::read_to_string(project.path("sinks.log")).unwrap();
    let mut running = 0i32;
    let peak = log.lines().fold(0, |peak, l| {
        running += if l == "start" { 1 } else { -1 };
        peak.max(running)
    });
    let mut want: Vec<String> = users
        .iter()
        .map(|u| format!("user.{u}.access_key"))
        .collect();
    want.sort(); // the plan's order: by address
    (created, want, peak)
}

/// With `--apply-parallelism 8` the sets' IAM steps run side by side (several in flight at a
/// kill: `a_fleet_killed_with_sets_in_flight_converges`), yet their `exec` commands take
/// turns — keyrot cannot see what a command writes, and one written for a single set at a
/// time must not run twice at once — and the lines come in the plan's order, as with 1.
#[test]
fn sets_say_so_in_the_plans_order_and_their_commands_take_turns() {
    let moto = Moto::shared();
    let (one_at_a_time, want, peak) = apply_six(moto, "1");
    assert_eq!(one_at_a_time, want);
    assert_eq!(peak, 1, "--apply-parallelism 1 runs one set at a time");
    let (side_by_side, want, peak) = apply_six(moto, "8");
    assert_eq!(
        side_by_side, want,
        "the plan's order, whatever finished first"
    );
    assert_eq!(peak, 1, "commands of different sets never run at once");
}

/// Two sets deliver to one shared credentials file; the first one's delivery fails after
/// its profile was written and puts the file back. Run side by side, the other set's
/// profile must survive that put-back: sets writing one file take turns.
#[test]
fn sets_writing_one_file_take_turns() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let (failing, other) = (unique_user("turnsa"), unique_user("turnsb"));
    for u in [&failing, &other] {
        seed_user(&iam, u);
    }
    let profile = |u: &str, extra: &str| {
        format!(
            "user \"{u}\" {{\n  access_key {{\n    deliver \"aws_profile\" {{\n      file    = \"credentials\"\n      profile = \"{u}\"\n    }}\n{extra}  }}\n}}\n"
        )
    };
    let failing_exec =
        "    deliver \"exec\" {\n      command = [\"sh\", \"-c\", \"sleep 1; exit 3\"]\n    }\n";
    let config = profile(&failing, failing_exec) + &profile(&other, "");
    let project = Project::new(&moto.endpoint, &config);
    let run = project.run(
        &["apply", "--auto-approve", "--apply-parallelism", "8"],
        Some(days_from_now(100)),
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&failing), "{}", run.stderr);
    let text = std::fs::read_to_string(project.path("credentials")).unwrap();
    assert!(!text.contains(&format!("[{failing}]")), "put back: {text}");
    let live = live_keys(&iam, &other);
    let new = live
        .iter()
        .find(|(id, s)| s == "Active" && text.contains(id.as_str()))
        .unwrap_or_else(|| panic!("{other}'s new key kept in the file: {text}\n{live:?}"));
    assert_eq!(live.len(), 2, "{other} rotated: {live:?}");
    let state = project.state_json();
    let set = &state["credential_sets"][format!("user.{other}.access_key")];
    assert_eq!(set["current"]["id"], new.0.as_str(), "{set}");
}

/// Confirm checks' commands take turns with each other as `exec` sinks do: four sets
/// deactivated side by side run their checks one at a time. Each check marks that it runs
/// with a directory (`mkdir` fails while another holds it) and notes any overlap.
#[test]
fn confirm_check_commands_of_different_sets_take_turns() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let users: Vec<String> = (0..FLEET).map(|_| unique_user("checkturn")).collect();
    for u in &users {
        seed_user(&iam, u);
    }
    let check = "mkdir running 2>/dev/null || echo overlap >> overlaps; sleep 0.3; rmdir running 2>/dev/null; true";
    let config: String = users
        .iter()
        .map(|u| {
            format!(
                "user \"{u}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{u}.json\"\n    }}\n    confirm \"exec\" {{\n      command = [\"sh\", \"-c\", \"{check}\"]\n    }}\n  }}\n}}\n"
            )
        })
        .collect();
    let project = Project::new(&moto.endpoint, &config);
    let args = ["apply", "--auto-approve", "--apply-parallelism", "8"];
    let day0 = days_from_now(100);
    project.ok(&args, Some(day0), 0);
    // Past the overlap, the old keys unused: deactivated, then checked, in one apply.
    let run = project.ok(&args, Some(day0 + Duration::days(8)), 0);
    assert_eq!(
        run.stdout.matches("is now Inactive").count(),
        FLEET,
        "{}",
        run.stdout
    );
    let state = project.state_json();
    for u in &users {
        let set = &state["credential_sets"][format!("user.{u}.access_key")];
        assert_eq!(set["confirm"][0]["passed"], true, "{u} checked: {set}");
    }
    let overlaps = std::fs::read_to_string(project.path("overlaps")).unwrap_or_default();
    assert!(
        overlaps.is_empty(),
        "check commands ran at once: {overlaps}"
    );
}
