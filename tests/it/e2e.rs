//! The real keyrot binary against moto's IAM server; outcomes checked through the SDK.

use crate::common::*;
use chrono::Duration;
use std::os::unix::fs::PermissionsExt;

fn config(user: &str, windows: &str) -> String {
    format!(
        r#"defaults {{
  max_age      = "90d"
  overlap      = "7d"
  unused_for   = "3d"
  inactive_for = "7d"
}}

user "{user}" {{
  access_key {{
{windows}
    deliver "file" {{
      path   = "secrets/{user}.json"
      format = "json"
    }}
  }}
}}
"#
    )
}

fn delivered(project: &Project, user: &str) -> (String, String, u32) {
    let path = project.path(&format!("secrets/{user}.json"));
    let text = std::fs::read_to_string(&path).expect("delivered secret file");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let json: serde_json::Value = serde_json::from_str(&text).expect("json sink");
    (
        json["AccessKeyId"].as_str().unwrap().to_string(),
        json["SecretAccessKey"].as_str().unwrap().to_string(),
        mode,
    )
}

#[test]
fn full_rotation_over_three_applies() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("full");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let day0 = days_from_now(100);

    // Day 0: the seeded key is 100 days old on keyrot's clock → import + create.
    let plan = project.ok(&["plan", "--detailed-exitcode"], Some(day0), 2);
    assert!(
        plan.stdout
            .contains("Plan: 1 to import, 1 to create, 0 to deactivate, 0 to delete, 0 waiting."),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains(&old.id),
        "key ids are masked in plans"
    );
    assert!(plan.stdout.contains(&old.id[old.id.len() - 4..]));
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let (new_id, new_secret, mode) = delivered(&project, &user);
    assert_eq!(mode, 0o600);
    assert_eq!(
        live_keys(&iam, &user),
        sorted(vec![
            (old.id.clone(), "Active".into()),
            (new_id.clone(), "Active".into())
        ])
    );
    assert_eq!(
        whoami(&moto.endpoint, &new_id, &new_secret).as_deref(),
        Ok(user.as_str()),
        "delivered key signs as its user"
    );
    assert_eq!(
        project.state_json()["credential_sets"][format!("user.{user}.access_key")]["phase"],
        "overlap"
    );

    // Day 3: still inside the overlap window → only a wait.
    let wait = project.ok(
        &["plan", "--detailed-exitcode"],
        Some(day0 + Duration::days(3)),
        3,
    );
    assert!(
        wait.stdout.contains("waiting: deactivate"),
        "{}",
        wait.stdout
    );

    // Day 8: overlap passed, old key never used → deactivate, and stop at the checkpoint.
    let apply = project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    assert!(apply.stdout.contains("Checkpoint"), "{}", apply.stdout);
    assert!(apply
        .stdout
        .contains(&format!("keyrot rollback user.{user}.access_key")));
    assert_eq!(
        live_keys(&iam, &user),
        sorted(vec![
            (old.id.clone(), "Inactive".into()),
            (new_id.clone(), "Active".into())
        ])
    );
    // The delete never runs in the same apply as the deactivation.
    project.ok(
        &["plan", "--detailed-exitcode"],
        Some(day0 + Duration::days(8)),
        3,
    );

    // Day 16: Inactive for 8 days ≥ inactive_for → delete.
    let apply = project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(16)),
        0,
    );
    assert!(
        apply
            .stdout
            .contains("Plan: 0 to import, 0 to create, 0 to deactivate, 1 to delete"),
        "{}",
        apply.stdout
    );
    assert_eq!(
        live_keys(&iam, &user),
        vec![(new_id.clone(), "Active".into())]
    );

    // Converged: plan at the same instant has nothing to do, only the next rotation's wait.
    let json = project.ok(
        &["plan", "--json", "--detailed-exitcode"],
        Some(day0 + Duration::days(16)),
        3,
    );
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &plan);
    assert_matches_schema("state.schema.json", &project.state_json());
    assert_eq!(plan["format_version"], "1");
    assert_eq!(
        plan["credential_sets"][0]["actions"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(plan["credential_sets"][0]["waits"][0]["step"], "rotate");
    let status = project.ok(&["status"], Some(day0 + Duration::days(16)), 0);
    assert!(status.stdout.contains("phase: steady"), "{}", status.stdout);

    let state = std::fs::read_to_string(project.path("state/keyrot.json")).unwrap();
    assert!(state.contains(&new_id) && !state.contains(&old.id));
    project.assert_secret_nowhere(&new_secret, &[&format!("secrets/{user}.json")]);
    project.assert_secret_nowhere(&old.secret, &[]);
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[test]
fn unused_for_gate_holds_while_the_old_key_is_used() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("gate");
    let old = seed_user(&iam, &user);
    // A rotation must be able to finish before the next falls due (max_age > the rest).
    let windows = "    max_age = \"3d\"\n    overlap = \"10m\"\n    unused_for = \"1d\"\n    inactive_for = \"1h\"\n";
    let project = Project::new(&moto.endpoint, &config(&user, windows));
    // Rotated early, so keyrot's clock stays within unused_for of the real use below.
    let t0 = chrono::Utc::now() + Duration::hours(1);
    let address = format!("user.{user}.access_key");
    project.ok(
        &["apply", "--auto-approve", "--force-rotate", &address],
        Some(t0),
        0,
    );

    // Someone still signs with the old key: its last use is "now".
    assert_eq!(
        whoami(&moto.endpoint, &old.id, &old.secret).as_deref(),
        Ok(user.as_str())
    );
    let run = project.ok(
        &["plan", "--json", "--detailed-exitcode"],
        Some(t0 + Duration::minutes(30)),
        3,
    );
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_matches_schema("plan.schema.json", &plan);
    let wait = &plan["credential_sets"][0]["waits"][0];
    assert_eq!(wait["step"], "deactivate");
    assert_eq!(wait["reason_code"], "recently_used", "{wait}");

    // A day and more without use: the gate opens.
    let run = project.ok(
        &["apply", "--auto-approve"],
        Some(t0 + Duration::days(2)),
        0,
    );
    assert!(run.stdout.contains("is now Inactive"), "{}", run.stdout);
    assert!(live_keys(&iam, &user).contains(&(old.id.clone(), "Inactive".into())));
}

#[test]
fn rollback_between_deactivate_and_delete_keeps_the_old_key_active() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("rollback");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let address = format!("user.{user}.access_key");
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    assert!(live_keys(&iam, &user).contains(&(old.id.clone(), "Inactive".into())));

    let run = project.ok(&["rollback", &address], Some(day0 + Duration::days(9)), 0);
    assert!(run.stdout.contains("held"), "{}", run.stdout);
    assert!(live_keys(&iam, &user).contains(&(old.id.clone(), "Active".into())));

    // Held: long past every window, still nothing to do, and the old key stays Active.
    let later = day0 + Duration::days(60);
    let plan = project.ok(&["plan", "--detailed-exitcode"], Some(later), 3);
    assert!(plan.stdout.contains("waiting: resume"), "{}", plan.stdout);
    project.ok(&["apply", "--auto-approve"], Some(later), 0);
    assert!(live_keys(&iam, &user).contains(&(old.id.clone(), "Active".into())));
    // A second rollback is refused with a hint.
    let again = project.ok(&["rollback", &address], Some(later), 1);
    assert!(again.stderr.contains("keyrot resume"), "{}", again.stderr);

    project.ok(&["resume", &address], Some(later), 0);
    let run = project.ok(&["apply", "--auto-approve"], Some(later), 0);
    assert!(run.stdout.contains("is now Inactive"), "{}", run.stdout);
}

#[test]
fn a_second_concurrent_apply_is_refused_at_once() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("lock");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let day0 = days_from_now(100);
    // The first apply holds the lock while it waits at the confirmation prompt, on a terminal.
    let mut first = under_a_terminal(&project.command(&["apply"], Some(day0)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = project.path("state/keyrot.json.lock");
    let start = std::time::Instant::now();
    while !lock.exists() {
        assert!(
            start.elapsed().as_secs() < 30,
            "first apply never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Exit 4: locked by another run, distinct from a general error.
    let second = project.ok(&["apply", "--auto-approve"], Some(day0), 4);
    assert!(
        second.stderr.contains("state is locked"),
        "{}",
        second.stderr
    );
    // Ctrl-C at the prompt: the first apply dies there, having changed nothing…
    std::thread::sleep(std::time::Duration::from_millis(300));
    use std::io::Write;
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    let out = first.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "interrupted");
    assert_eq!(live_keys(&iam, &user).len(), 1);
    // …and left no lock behind: the next run goes on at once.
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    assert_eq!(live_keys(&iam, &user).len(), 2);
}

/// With stdin not a terminal, apply never prompts (a pipe left open would hang a job
/// forever): it refuses at once, names --auto-approve, and changes nothing.
#[test]
fn apply_without_a_terminal_refuses_instead_of_prompting() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("notty");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let mut cmd = project.command(&["apply"], Some(days_from_now(100)));
    // An open pipe that never says anything.
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let out = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, child.wait_with_output().unwrap());
        }
        assert!(started.elapsed().as_secs() < 30, "apply blocked on a pipe");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(out.0.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.1.stderr);
    assert!(stderr.contains("--auto-approve"), "{stderr}");
    assert_eq!(live_keys(&iam, &user).len(), 1, "nothing changed");
    assert!(!project.path("state/keyrot.json").exists());
}

#[test]
fn bad_hcl_reports_file_line_column_and_touches_nothing() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("badhcl");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let state_before = std::fs::read(project.path("state/keyrot.json")).unwrap();
    let keys_before = live_keys(&iam, &user);

    let broken = config(&user, "    max_age = \"30x\"\n    colour = \"red\"\n");
    std::fs::write(project.path("keyrot.hcl"), broken).unwrap();
    for cmd in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
        let run = project.ok(cmd, Some(day0 + Duration::days(30)), 1);
        assert!(
            run.stderr
                .contains("keyrot.hcl:10:15: bad duration for `max_age`"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("keyrot.hcl:11:5: unknown attribute `colour`"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    }
    std::fs::write(project.path("keyrot.hcl"), "user \"x\" {\n  access_key {\n").unwrap();
    let run = project.ok(&["validate"], None, 1);
    assert!(
        run.stderr.contains("keyrot.hcl:2:15: HCL syntax error"),
        "{}",
        run.stderr
    );

    assert_eq!(
        std::fs::read(project.path("state/keyrot.json")).unwrap(),
        state_before
    );
    assert_eq!(live_keys(&iam, &user), keys_before);
}

#[test]
fn failed_delivery_deletes_the_new_key_again() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("sinkfail");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    // `secrets` is a file, so the sink cannot create secrets/<user>.json.
    std::fs::write(project.path("secrets"), "not a directory").unwrap();
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(
        run.stderr.contains("delivery to file secrets/"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("was deleted again"), "{}", run.stderr);
    assert_eq!(
        live_keys(&iam, &user),
        vec![(old.id.clone(), "Active".into())],
        "no orphaned key"
    );
    // The import before the failed create is kept; the set stays steady on the old key.
    let state = project.state_json();
    let set = &state["credential_sets"][format!("user.{user}.access_key")];
    assert_eq!(set["phase"], "steady");
    assert_eq!(set["current"]["id"], old.id.as_str());
}

#[test]
fn out_of_band_deactivation_is_drift_and_not_fought() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("drift");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let now = days_from_now(10);
    project.ok(&["apply", "--auto-approve"], Some(now), 0);
    // Incident response disables the key by hand.
    set_status(&iam, &user, &old.id, "Inactive");
    let plan = project.ok(&["plan"], Some(now), 0);
    assert!(
        plan.stdout.contains("Changes made outside keyrot (drift)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("Active -> Inactive"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("waiting: blocked"), "{}", plan.stdout);
    assert!(plan.stdout.contains("1 blocked"), "{}", plan.stdout);
    // Exit 7: the set is blocked until a person acts (after recording the drift).
    let run = project.ok(&["apply", "--auto-approve"], Some(now), 7);
    assert!(
        run.stderr.contains("cannot go on until a person acts"),
        "{}",
        run.stderr
    );
    project.ok(
        &["apply", "--auto-approve"],
        Some(now + Duration::days(200)),
        7,
    );
    assert_eq!(
        live_keys(&iam, &user),
        vec![(old.id.clone(), "Inactive".into())],
        "not re-enabled, no new key"
    );
    // Once recorded, the drift is not reported again; the set stays blocked (exit 7).
    let plan = project.ok(&["plan", "--detailed-exitcode"], Some(now), 7);
    assert!(
        !plan.stdout.contains("outside keyrot (drift)"),
        "{}",
        plan.stdout
    );
}

#[test]
fn interactive_apply_needs_yes() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("prompt");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let day0 = days_from_now(100);
    let no = with_stdin(
        under_a_terminal(&project.command(&["apply"], Some(day0))),
        "no\n",
    );
    assert_eq!(no.code, 1, "{}", no.stdout);
    assert!(no.stdout.contains("Apply cancelled"), "{}", no.stdout);
    assert_eq!(live_keys(&iam, &user).len(), 1);
    let yes = with_stdin(
        under_a_terminal(&project.command(&["apply"], Some(day0))),
        "yes\n",
    );
    assert_eq!(yes.code, 0, "{}{}", yes.stdout, yes.stderr);
    assert_eq!(live_keys(&iam, &user).len(), 2);
}

#[test]
fn a_config_directory_is_read_as_one_config() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let (a, b) = (unique_user("dir-a"), unique_user("dir-b"));
    seed_user(&iam, &a);
    seed_user(&iam, &b);
    let project = Project::new(&moto.endpoint, "");
    std::fs::create_dir_all(project.path("conf")).unwrap();
    std::fs::write(
        project.path("conf/00-defaults.hcl"),
        "defaults {\n  max_age = \"30d\"\n}\n",
    )
    .unwrap();
    std::fs::write(project.path("conf/a.hcl"), config(&a, "").replace("defaults {\n  max_age      = \"90d\"\n  overlap      = \"7d\"\n  unused_for   = \"3d\"\n  inactive_for = \"7d\"\n}\n", "")).unwrap();
    std::fs::write(project.path("conf/b.hcl"), config(&b, "").replace("defaults {\n  max_age      = \"90d\"\n  overlap      = \"7d\"\n  unused_for   = \"3d\"\n  inactive_for = \"7d\"\n}\n", "")).unwrap();
    let run = project.ok(&["validate", "-c", "conf"], None, 0);
    assert!(run.stdout.contains("2 credential set(s)"), "{}", run.stdout);
    // The shared defaults apply to both files: 40-day-old keys are due under max_age 30d.
    let plan = project.ok(
        &["plan", "-c", "conf", "--detailed-exitcode"],
        Some(days_from_now(40)),
        2,
    );
    assert!(plan.stdout.contains("2 to create"), "{}", plan.stdout);
    // The same user in two files is one error naming both places.
    std::fs::write(project.path("conf/c.hcl"), config(&a, "").replace("defaults {\n  max_age      = \"90d\"\n  overlap      = \"7d\"\n  unused_for   = \"3d\"\n  inactive_for = \"7d\"\n}\n", "")).unwrap();
    let run = project.ok(&["validate", "-c", "conf"], None, 1);
    assert!(
        run.stderr.contains("conf/c.hcl:2:1: duplicate user"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("conf/a.hcl:2:1"), "{}", run.stderr);
}

#[test]
fn a_key_reactivated_while_apply_waits_at_the_prompt_is_not_deleted() {
    use std::io::{Read, Write};
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("prompt-race");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    // On a terminal (stderr comes through the same terminal, so it is read from stdout).
    let mut child = under_a_terminal(&project.command(&["apply"], Some(day0 + Duration::days(16))))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("Enter a value") {
        assert_eq!(
            stdout.read(&mut byte).unwrap(),
            1,
            "apply ended before its prompt"
        );
        seen.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("1 to delete"));
    // While the plan waits for approval, someone turns the old key back on.
    set_status(&iam, &user, &old.id, "Active");
    child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let mut stderr = String::new();
    stdout.read_to_string(&mut stderr).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert!(stderr.contains("is Active again"), "{stderr}");
    assert!(
        live_keys(&iam, &user).contains(&(old.id.clone(), "Active".into())),
        "not deleted"
    );
    assert!(!project.path("state/keyrot.json.journal").exists());
}

/// One set's broken consumer does not hold up the others: their due steps happen, the
/// broken set is left exactly as it was, and the run exits non-zero naming it.
#[test]
fn one_failing_set_does_not_stop_the_others() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let broken = unique_user("isolate-broken");
    let healthy: Vec<String> = (0..3)
        .map(|i| unique_user(&format!("isolate-ok{i}")))
        .collect();
    let mut config = String::from("defaults {\n  max_age = \"90d\"\n}\n");
    config.push_str(&format!(
        "user \"{broken}\" {{\n  access_key {{\n    deliver \"exec\" {{\n      command = [\"sh\", \"-c\", \"exit 1\"]\n    }}\n  }}\n}}\n"
    ));
    let mut seeded = Vec::new();
    for user in &healthy {
        config.push_str(&format!(
            "user \"{user}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{user}.json\"\n    }}\n  }}\n}}\n"
        ));
        seeded.push(seed_user(&iam, user));
    }
    let broken_key = seed_user(&iam, &broken);
    let project = Project::new(&moto.endpoint, &config);
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);

    // The three healthy sets rotated: old key plus the delivered new one.
    for (user, old) in healthy.iter().zip(&seeded) {
        let live = live_keys(&iam, user);
        assert_eq!(live.len(), 2, "{user}: {live:?}\n{}", run.stderr);
        let (new_id, _, _) = delivered(&project, user);
        assert!(live.iter().any(|(id, s)| id == &new_id && s == "Active"));
        assert!(live.iter().any(|(id, _)| id == &old.id));
    }
    // The broken one: exactly its original key in IAM, and state tracks only that key.
    assert_eq!(
        live_keys(&iam, &broken),
        vec![(broken_key.id.clone(), "Active".to_string())]
    );
    let state = project.state_json();
    let text = serde_json::to_string(&state).unwrap();
    let set = &state["credential_sets"][format!("user.{broken}.access_key")];
    assert!(set.is_object(), "{text}");
    assert_eq!(set["phase"], "steady", "{set}");
    assert!(
        run.stderr
            .contains(&format!("user.{broken}.access_key: create failed")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 credential set(s) failed"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("Apply incomplete:"), "{}", run.stdout);
}

/// A stray KEYROT_NOW must not drive a writing command: without --allow-clock-override a
/// moved clock is refused before anything happens; with it, the state records both clocks.
#[test]
fn a_moved_clock_needs_allow_clock_override_and_is_recorded() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("clock");
    let old = seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let later = days_from_now(100);
    let mut stray = project.command(&["apply", "--auto-approve"], None);
    stray.env("KEYROT_NOW", rfc3339(later));
    let run = with_stdin(stray, "");
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("--allow-clock-override"),
        "{}",
        run.stderr
    );
    assert_eq!(live_keys(&iam, &user), vec![(old.id, "Active".to_string())]);
    assert!(
        !project.path("state/keyrot.json").exists(),
        "nothing recorded"
    );
    // Plans take --now freely.
    let mut plan = project.command(&["plan"], None);
    plan.env("KEYROT_NOW", rfc3339(later));
    assert_eq!(with_stdin(plan, "").code, 0);
    // Allowed (Project passes the flag with a clock): the step records both clocks.
    project.ok(&["apply", "--auto-approve"], Some(later), 0);
    let state = project.state_json();
    let set = &state["credential_sets"][format!("user.{user}.access_key")];
    assert_eq!(set["clock_override"]["used"], rfc3339(later), "{set}");
    assert!(set["clock_override"]["real"].as_str().is_some(), "{set}");
}

/// A misspelt user never rotates: a cron job must not stay silent. The set is blocked, the
/// summary counts it apart from waiting, and plan --detailed-exitcode and apply exit 7.
#[test]
fn a_missing_user_is_an_error_level_outcome() {
    let moto = Moto::shared();
    let user = unique_user("nosuchuser");
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let plan = project.ok(&["plan", "--detailed-exitcode"], None, 7);
    assert!(
        plan.stdout.contains("0 waiting, 1 blocked"),
        "{}",
        plan.stdout
    );
    let apply = project.ok(&["apply", "--auto-approve"], None, 7);
    assert!(
        apply.stdout.contains("Nothing to apply"),
        "{}",
        apply.stdout
    );
    assert!(apply.stderr.contains("does not exist"), "{}", apply.stderr);
    // A plain plan is still a successful read (Terraform's convention).
    project.ok(&["plan"], None, 0);
}

/// With no credentials anywhere, one short message says what to do: no SDK debug dump,
/// and it costs one call (the identity check), not one per user.
#[test]
fn no_credentials_is_one_short_message_naming_the_fix() {
    let moto = Moto::shared();
    let user = unique_user("nocreds");
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let mut cmd = project.command(&["plan"], None);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let run = with_stdin(cmd, "");
    assert_eq!(run.code, 6, "{}", run.stderr);
    for fix in [
        "--profile",
        "AWS_PROFILE",
        "aws sso login",
        "AWS_ACCESS_KEY_ID",
    ] {
        assert!(run.stderr.contains(fix), "names {fix}: {}", run.stderr);
    }
    assert!(
        run.stderr.contains("GetCallerIdentity"),
        "failed fast: {}",
        run.stderr
    );
    for dump in ["DispatchFailure", "ConnectorError", "Attempted:"] {
        assert!(!run.stderr.contains(dump), "{dump} in: {}", run.stderr);
    }
    assert!(
        run.stderr.len() < 600,
        "short: {} chars\n{}",
        run.stderr.len(),
        run.stderr
    );
}

/// An endpoint that does not answer is named, in keyrot's words.
#[test]
fn an_unreachable_endpoint_is_named_in_one_short_message() {
    // A loopback port nothing listens on: refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let user = unique_user("unreachable");
    let project = Project::new(&endpoint, &config(&user, ""));
    let run = project.ok(&["plan"], None, 1);
    assert!(
        run.stderr.contains(&format!("cannot reach {endpoint}")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--endpoint-url"), "{}", run.stderr);
    assert!(!run.stderr.contains("DispatchFailure"), "{}", run.stderr);
    assert!(run.stderr.len() < 600, "short: {}", run.stderr);
}

/// `state list` and `show` read the tracked sets; `state rm` drops one from management
/// (serial bumped, backup kept) and never touches IAM or its sink.
#[test]
fn state_rm_stops_managing_a_set_and_leaves_iam_alone() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("staterm");
    seed_user(&iam, &user);
    let project = Project::new(&moto.endpoint, &config(&user, ""));
    let address = format!("user.{user}.access_key");
    project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 0);
    let keys = live_keys(&iam, &user);
    let delivered = std::fs::read(project.path(&format!("secrets/{user}.json"))).unwrap();
    let serial = project.state_json()["serial"].as_u64().unwrap();

    let list = project.ok(&["state", "list"], None, 0);
    assert!(
        list.stdout.contains(&format!("{address}  overlap")),
        "{}",
        list.stdout
    );
    let show = project.ok(&["state", "show", &address], None, 0);
    assert!(
        show.stdout.contains("current key") && show.stdout.contains("previous key"),
        "{}",
        show.stdout
    );

    let rm = project.ok(&["state", "rm", &address], None, 0);
    assert!(
        rm.stdout.contains("IAM and its sinks are untouched"),
        "{}",
        rm.stdout
    );
    let state = project.state_json();
    assert!(state["credential_sets"].get(&address).is_none(), "{state}");
    assert_eq!(state["serial"].as_u64().unwrap(), serial + 1);
    assert!(project.path("state/keyrot.json.backup").exists());
    assert_eq!(live_keys(&iam, &user), keys, "IAM untouched");
    assert_eq!(
        std::fs::read(project.path(&format!("secrets/{user}.json"))).unwrap(),
        delivered,
        "sink untouched"
    );
    // The config still declares it: the next plan shows its keys to import again.
    let plan = project.ok(&["plan"], Some(days_from_now(100)), 0);
    assert!(plan.stdout.contains("import key"), "{}", plan.stdout);
    project.ok(&["state", "rm", &address], None, 1);
}
