//! The audit trail through the real binary on moto: `keyrot log` shows the three steps of
//! a rotation and who ran each (local file and S3 backend); failed steps, steps settled
//! after a crash, rollback, resume and `state rm` are events too; a torn last line is
//! reported, not fatal; the log never holds a secret.

use crate::common::*;
use crate::s3_backend::{backend, bucket, object, s3};
use chrono::{DateTime, Duration, Utc};

const CI_RUN: &str = "https://github.example/acme/infra/actions/runs/4242";

fn config(users: &[&str]) -> String {
    let mut out = String::from(
        "defaults {\n  max_age = \"90d\"\n  overlap = \"7d\"\n  unused_for = \"3d\"\n  inactive_for = \"7d\"\n}\n",
    );
    for u in users {
        out.push_str(&format!(
            "user \"{u}\" {{\n  access_key {{\n    deliver \"file\" {{\n      path = \"secrets/{u}.json\"\n    }}\n  }}\n}}\n"
        ));
    }
    out
}

/// A project whose runs name a user and a GitHub Actions run.
fn project(endpoint: &str, config: &str) -> Project {
    let project = Project::new(endpoint, config);
    project.env.borrow_mut().extend(
        [
            ("USER", "auditor-alice"),
            ("GITHUB_SERVER_URL", "https://github.example"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_RUN_ID", "4242"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    project
}

fn delivered(project: &Project, user: &str) -> (String, String) {
    let text = std::fs::read_to_string(project.path(&format!("secrets/{user}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        v["AccessKeyId"].as_str().unwrap().to_string(),
        v["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

/// Import + create, deactivate, delete: the three applies of a rotation. Returns the new
/// key and secret, and who keyrot acted as.
fn rotate(project: &Project, user: &str, day0: DateTime<Utc>) -> (String, String, String) {
    let first = project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let arn = first
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Acting as "))
        .expect("apply says who it acts as")
        .trim()
        .to_string();
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(8)),
        0,
    );
    project.ok(
        &["apply", "--auto-approve"],
        Some(day0 + Duration::days(16)),
        0,
    );
    let (id, secret) = delivered(project, user);
    (id, secret, arn)
}

/// `keyrot log --json ADDRESS` as parsed lines, each checked against the schema.
fn log_json(project: &Project, address: &str) -> Vec<serde_json::Value> {
    let out = project.ok(&["log", "--json", address], None, 0);
    out.stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            assert_matches_schema("event.schema.json", &v);
            assert_eq!(v["format_version"], "1");
            v
        })
        .collect()
}

/// (action, key id, outcome) of each event.
fn steps(events: &[serde_json::Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["key_id"].as_str().unwrap_or_default().to_string(),
                e["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn step(action: &str, key: &str, outcome: &str) -> (String, String, String) {
    (action.into(), key.into(), outcome.into())
}

/// `log --json` has the rotation's four steps, in order; returns its events.
fn rotation_logged(
    project: &Project,
    address: &str,
    old: &str,
    new: &str,
) -> Vec<serde_json::Value> {
    let events = log_json(project, address);
    let want = [
        ("import", old),
        ("create", new),
        ("deactivate", old),
        ("delete", old),
    ]
    .map(|(action, key)| step(action, key, "succeeded"));
    assert_eq!(steps(&events), want, "{events:#?}");
    events
}

/// The text log shows the rotation's steps in order, each with who ran it, ids masked.
fn assert_text_log(project: &Project, address: &str, old: &str, new: &str, arn: &str) {
    let text = project.ok(&["log", address], None, 0).stdout;
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        ["import", "create", "deactivate", "delete"],
        "{text}"
    );
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    for line in &lines {
        assert!(
            line.contains(address) && line.contains("succeeded"),
            "{line}"
        );
        let who = format!("auditor-alice@{host} as {arn}, {CI_RUN} (apply)");
        assert!(line.contains(&who), "{line}\nwant: {who}");
        // The tests move keyrot's clock: the line says so beside the real time.
        assert!(
            line.ends_with(')') && line.contains("(keyrot's clock: "),
            "{line}"
        );
    }
    assert!(
        !text.contains(old) && !text.contains(new),
        "ids are masked:\n{text}"
    );
    assert!(lines[1].contains(&new[new.len() - 4..]), "{text}");
    assert!(lines[3].contains(&old[old.len() - 4..]), "{text}");
    let full = project
        .ok(&["log", address, "--show-key-ids"], None, 0)
        .stdout;
    assert!(full.contains(old) && full.contains(new), "{full}");
}

#[test]
fn log_shows_a_rotation_and_who_ran_each_step_local() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("evlog");
    let other = unique_user("evother");
    let old = seed_user(&iam, &user);
    seed_user(&iam, &other);
    let project = project(&moto.endpoint, &config(&[&user, &other]));
    let (new, secret, arn) = rotate(&project, &user, days_from_now(100));
    let address = format!("user.{user}.access_key");

    let events = rotation_logged(&project, &address, &old.id, &new);
    for e in &events {
        assert_eq!(e["who"]["user"], "auditor-alice");
        assert_eq!(e["who"]["aws_identity"], arn.as_str());
        assert_eq!(e["who"]["ci_run"], CI_RUN);
        assert_eq!(e["command"], "apply");
    }
    let runs: std::collections::BTreeSet<&str> =
        events.iter().filter_map(|e| e["run_id"].as_str()).collect();
    assert_eq!(runs.len(), 3, "one run id per apply: {events:#?}");
    assert!(
        events[2]["clock"].is_string(),
        "a moved clock is recorded beside the real time"
    );
    assert_text_log(&project, &address, &old.id, &new, &arn);

    // Filtered by address; without one, every set.
    let all = project.ok(&["log", "--json"], None, 0).stdout;
    assert!(all.contains(&format!("user.{other}.access_key")), "{all}");
    assert!(!project
        .ok(&["log", &address], None, 0)
        .stdout
        .contains(&other));
    assert!(project.path("state/keyrot.json.events.jsonl").exists());
    project.assert_secret_nowhere(&secret, &[&format!("secrets/{user}.json")]);
}

#[test]
fn log_shows_a_rotation_and_who_ran_each_step_s3() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("evs3");
    let old = seed_user(&iam, &user);
    let bucket = bucket(&moto.endpoint);
    let config = format!(
        "{}{}",
        backend(&bucket, &moto.endpoint, "30s"),
        config(&[&user])
    );
    let project = project(&moto.endpoint, &config);
    let (new, secret, arn) = rotate(&project, &user, days_from_now(100));
    let address = format!("user.{user}.access_key");

    rotation_logged(&project, &address, &old.id, &new);
    assert_text_log(&project, &address, &old.id, &new, &arn);
    // Kept in S3 as one object per event, beside the state; nothing locally.
    let keys = list(&moto.endpoint, &bucket, "prod/keyrot.json.events/");
    assert_eq!(keys.len(), 4, "{keys:?}");
    for key in &keys {
        let text = object(&moto.endpoint, &bucket, key).expect("event object");
        assert!(
            !text.contains(&secret),
            "secret leaked into s3://{bucket}/{key}"
        );
        let json = serde_json::from_str(&text).expect("an event object is JSON");
        assert_matches_schema("event.schema.json", &json);
    }
    assert!(!project.path("state/keyrot.json.events.jsonl").exists());
    project.assert_secret_nowhere(&secret, &[&format!("secrets/{user}.json")]);
}

fn list(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let client = s3(endpoint);
    rt().block_on(async {
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .expect("list");
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    })
}

/// A failed step is an event, with the error (and never the secret a failing consumer
/// echoed), and the key the create made before it was deleted again.
#[test]
fn a_failed_step_is_logged_with_its_error_and_no_secret() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("evfail");
    seed_user(&iam, &user);
    let config = format!(
        "user \"{user}\" {{\n  access_key {{\n    deliver \"exec\" {{\n      command = [\"sh\", \"-c\", \"tee caught.json >&2; exit 3\"]\n    }}\n  }}\n}}\n"
    );
    let project = project(&moto.endpoint, &config);
    let run = project.ok(&["apply", "--auto-approve"], Some(days_from_now(100)), 1);
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
    let caught = std::fs::read_to_string(project.path("caught.json")).expect("the consumer ran");
    let secret = serde_json::from_str::<serde_json::Value>(&caught).unwrap()["SecretAccessKey"]
        .as_str()
        .unwrap()
        .to_string();
    let events = log_json(&project, &format!("user.{user}.access_key"));
    let failed = events
        .iter()
        .find(|e| e["action"] == "create")
        .expect("a create event");
    assert_eq!(failed["outcome"], "failed");
    let message = failed["message"].as_str().unwrap();
    assert!(message.contains("exit"), "{message}");
    let made = failed["key_id"].as_str().expect("names the key it made");
    assert!(
        live_keys(&iam, &user).iter().all(|(k, _)| k != made),
        "that key was deleted again"
    );
    let text = project.ok(&["log"], None, 0).stdout;
    assert!(text.contains(message), "the message is shown:\n{text}");
    project.assert_events_match_schema();
    project.assert_secret_nowhere(&secret, &["caught.json"]);
}

/// An apply killed at `point` in the deactivate apply; the next apply settles the step.
/// Returns the deactivate events of the old key.
fn deactivate_killed_at(point: &str) -> Vec<serde_json::Value> {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("evcrash");
    let old = seed_user(&iam, &user);
    let project = project(&moto.endpoint, &config(&[&user]));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let day8 = day0 + Duration::days(8);
    let mut killed = project.command(&["apply", "--auto-approve"], Some(day8));
    let out = killed
        .env("KEYROT_CRASH_AT", point)
        .output()
        .expect("run keyrot");
    assert_eq!(out.status.code(), None, "killed at {point}");
    let next = project.ok(&["apply", "--auto-approve"], Some(day8), 0);
    assert!(
        next.stdout.contains("Recovered an interrupted"),
        "{}",
        next.stdout
    );
    let status: Vec<_> = live_keys(&iam, &user);
    assert!(
        status.contains(&(old.id.clone(), "Inactive".into())),
        "{status:?}"
    );
    log_json(&project, &format!("user.{user}.access_key"))
        .into_iter()
        .filter(|e| e["action"] == "deactivate" && e["key_id"] == old.id.as_str())
        .collect()
}

/// Killed after IAM deactivated the key, before its event: the next run's recovery logs
/// the step, as recovered, with what it found.
#[test]
fn a_step_cut_off_before_its_event_is_logged_by_recovery() {
    let events = deactivate_killed_at("after-iam-update");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["outcome"], "recovered");
    let message = events[0]["message"].as_str().unwrap();
    assert!(message.contains("did set key"), "{message}");
    assert!(events[0]["step"].is_string());
}

/// Killed after the step's event, before the state recorded it: recovery records the step
/// in state and finds its event, so the log has it once.
#[test]
fn a_step_cut_off_after_its_event_is_logged_once() {
    let events = deactivate_killed_at("after-event-write");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["outcome"], "succeeded");
}

/// A crash mid-append leaves a torn last line: `keyrot log` reports it and shows the
/// rest; the next append starts a line of its own.
#[test]
fn a_torn_last_line_is_reported_and_the_log_goes_on() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("evtorn");
    seed_user(&iam, &user);
    let project = project(&moto.endpoint, &config(&[&user]));
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let path = project.path("state/keyrot.json.events.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let whole = text.lines().count();
    let first = text.lines().next().unwrap();
    let mut torn = text.clone();
    torn.push_str(&first[..first.len() / 2]);
    std::fs::write(&path, torn).unwrap();

    let log = project.ok(&["log"], None, 0);
    assert_eq!(log.stdout.lines().count(), whole, "{}", log.stdout);
    assert!(
        log.stderr
            .contains(&format!("keyrot.json.events.jsonl:{}", whole + 1))
            && log.stderr.contains("incomplete"),
        "{}",
        log.stderr
    );
    // Not `ok`: it checks every whole line against the schema, and the torn fragment is
    // now a whole (unreadable) line.
    let next = project.run(&["apply", "--auto-approve"], Some(day0 + Duration::days(8)));
    assert_eq!(next.code, 0, "{}", next.stderr);
    let log = project.run(&["log", "--json"], None);
    assert_eq!(log.code, 0, "{}", log.stderr);
    assert_eq!(log.stdout.lines().count(), whole + 1, "{}", log.stdout);
    assert!(log.stdout.contains("\"deactivate\""), "{}", log.stdout);
    assert!(log.stderr.contains("unreadable entry"), "{}", log.stderr);
}

/// rollback, resume and `state rm` are events, each naming its command.
#[test]
fn rollback_resume_and_state_rm_are_logged() {
    let moto = Moto::shared();
    let iam = admin(&moto.endpoint);
    let user = unique_user("evmanual");
    let old = seed_user(&iam, &user);
    let project = project(&moto.endpoint, &config(&[&user]));
    let address = format!("user.{user}.access_key");
    let day0 = days_from_now(100);
    project.ok(&["apply", "--auto-approve"], Some(day0), 0);
    let day8 = day0 + Duration::days(8);
    project.ok(&["apply", "--auto-approve"], Some(day8), 0);
    project.ok(&["rollback", &address], Some(day8), 0);
    project.ok(&["resume", &address], Some(day8), 0);
    project.ok(&["state", "rm", &address], None, 0);
    let events = log_json(&project, &address);
    let tail: Vec<(String, String)> = events[3..]
        .iter()
        .map(|e| {
            (
                e["command"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("rollback", "reactivate"),
        ("resume", "resume"),
        ("state rm", "forget"),
        ("state rm", "forget"),
    ]
    .map(|(c, a)| (c.to_string(), a.to_string()));
    assert_eq!(tail, want, "{events:#?}");
    assert_eq!(events[3]["key_id"], old.id.as_str());
    assert!(
        events[5]["who"].get("aws_identity").is_none(),
        "state rm asks AWS nothing"
    );
}
